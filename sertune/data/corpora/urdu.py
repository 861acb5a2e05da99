"""URDU: a spontaneous Urdu speech emotion dataset from TV talk shows.

Origin:
    400 utterances cut from Urdu talk shows on YouTube (Information Technology University,
    Lahore), labelled with four emotions, 100 each. Unlike acted corpora, emotions and speakers
    are far from balanced (see Speakers).
Citation:
    S. Latif, A. Qayyum, M. Usman, J. Qadir, "Cross lingual speech emotion recognition: Urdu vs.
    Western languages", Proc. Frontiers of Information Technology (FIT) 2018 (arXiv:1812.10411).
License:
    No license file. The repository's README says: "Anyone can use this data only for research
    purposes." The authors publish it openly at https://github.com/siddiquelatif/URDU-Dataset,
    so ``download=True`` fetches the repository archive (see Download).
Speakers:
    The README states 38 speakers (27 male, 11 female). The file names of the published copy
    carry 29 distinct speaker codes: ``SF1``-``SF11`` (female) and ``SM1``-``SM7``,
    ``SM17``-``SM27`` (male; ``SM8``-``SM16`` never occur). Speaker ids here are those codes,
    with the gender from their letter; 56 utterances are female, 344 male. Emotions and speakers
    are heavily confounded: all 100 angry utterances come from four male speakers (SM1-SM4),
    ``SM5`` alone has 72 of the 100 neutral ones, and most speakers appear in a single emotion.
    With ``loso`` most test folds hold one emotion only; prefer ``speaker_kfold`` and read any
    URDU figure with that in mind.
Audio:
    WAV, one utterance per file; the sampling rate is not documented. sertune's audio loader
    down-mixes and resamples whatever the files hold.
Layout as distributed (the repository)::

    <data_dir>/README.md
    <data_dir>/Angry/SM1_F10_A010.wav     100 files per emotion folder
    <data_dir>/{Happy,Neutral,Sad}/...

    ``data_dir`` may also hold just the unpacked archive's folder (``URDU-Dataset-master/``).
    Per-speaker sub-folders inside an emotion folder (mentioned in the README, absent from the
    published copy) are read too.

File-name grammar ``S<G><n>_F<k>_<E>0<m>.wav``:
    ``S<G><n>`` speaker: ``G`` gender (``M``/``F``) and ``n`` the speaker number (1-27 male,
    1-11 female); ``F<k>`` the speaker's k-th file in this emotion; ``<E>`` the emotion initial
    (A, H, N, S), which must agree with the folder; ``0<m>`` a running number 1-100 within the
    emotion folder, always written with a leading ``0`` (``A01``, ``A010``, ``A0100``).
Native labels and the common taxonomy (:data:`NATIVE_TO_COMMON`):
    Angry -> angry, Happy -> happy, Neutral -> neutral, Sad -> sad (100 files each).
Official partitions:
    None.
Download:
    ``download=True`` fetches the repository archive
    ``https://github.com/siddiquelatif/URDU-Dataset/archive/refs/heads/master.zip`` (a moving
    branch: no checksum can be published) and verifies the extracted layout instead: four
    emotion folders with 400 ``.wav`` files. Pass ``sha256=`` to pin a copy you trust, or
    ``url=`` for a mirror or a commit archive.

Columns beyond the common schema: ``native_label`` (the emotion folder).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, Value

from sertune.data.corpora._template import WAV_SUFFIXES, CorpusTemplate, ParsedName
from sertune.errors import CorpusFileError, CorpusLayoutError

NAME = "urdu"
HOMEPAGE = "https://github.com/siddiquelatif/URDU-Dataset"
DOWNLOAD_URL = "https://github.com/siddiquelatif/URDU-Dataset/archive/refs/heads/master.zip"
#: The archive is built from a moving branch; the extracted layout is verified instead.
DOWNLOAD_SHA256: str | None = None
NUM_UTTERANCES = 400

#: URDU's emotion folders mapped to the common taxonomy.
NATIVE_TO_COMMON: dict[str, str] = {
    "Angry": "angry",
    "Happy": "happy",
    "Neutral": "neutral",
    "Sad": "sad",
}

#: Emotion initial in file names -> emotion folder.
EMOTION_INITIALS: dict[str, str] = {"A": "Angry", "H": "Happy", "N": "Neutral", "S": "Sad"}

#: Gender letter -> (gender, highest speaker number), from the README's 27 male / 11 female.
GENDERS: dict[str, tuple[str, int]] = {"M": ("male", 27), "F": ("female", 11)}

_FILE_NAME = re.compile(
    r"^S(?P<gender>[MF])(?P<speaker>\d{1,2})_F(?P<file>\d{1,3})"
    r"_(?P<emotion>[A-Z])0(?P<index>\d{1,3})\.wav$",
    re.IGNORECASE,
)

CORPUS = CorpusTemplate(
    name=NAME,
    title="URDU",
    native_to_common=NATIVE_TO_COMMON,
    extra_features={"native_label": Value("string")},
    expected_layout=(
        "expected the URDU layout <data_dir>/<Emotion>/S<G><n>_F<k>_<E>0<m>.wav, e.g. "
        "<data_dir>/Angry/SM1_F10_A010.wav, with emotion folders Angry, Happy, Neutral, Sad "
        f"(download it with download=True, or clone {HOMEPAGE})"
    ),
    description="URDU: 400 spontaneous Urdu utterances from TV talk shows, 4 emotions",
    homepage=HOMEPAGE,
    license="research use only (repository README; no license file)",
    downloadable=True,
    full_size=NUM_UTTERANCES,
)


@dataclass(frozen=True)
class UrduName(ParsedName):
    """The fields of a URDU file name."""

    native_to_common = NATIVE_TO_COMMON

    speaker: str
    gender: str
    file_number: int
    native_label: str
    index: int


def parse_filename(file_name: str | Path) -> UrduName:
    """Parse a URDU file name such as ``SM1_F10_A010.wav``.

    Args:
        file_name: The base name (a path is accepted; only its last part is read).

    Raises:
        CorpusFileError: The name does not follow ``S<G><n>_F<k>_<E>0<m>.wav``, the speaker
            number is outside the README's counts, or the emotion initial is unknown; the
            message names the file.
    """
    base = Path(file_name).name
    match = _FILE_NAME.match(base)
    if match is None:
        raise CorpusFileError(
            f"{file_name}: not a URDU file name; expected S<G><n>_F<k>_<E>0<m>.wav, e.g. "
            "SM1_F10_A010.wav (speaker, file number, emotion initial, running number)"
        )
    letter, number = match["gender"].upper(), int(match["speaker"])
    gender, highest = GENDERS[letter]
    if not 1 <= number <= highest:
        raise CorpusFileError(
            f"{file_name}: unknown URDU speaker S{letter}{number}; {gender} speakers are "
            f"numbered 1-{highest}"
        )
    initial = match["emotion"].upper()
    if initial not in EMOTION_INITIALS:
        raise CorpusFileError(
            f"{file_name}: unknown URDU emotion initial {initial!r}; known: "
            f"{sorted(EMOTION_INITIALS)}"
        )
    return UrduName(
        speaker=f"S{letter}{number}",
        gender=gender,
        file_number=int(match["file"]),
        native_label=EMOTION_INITIALS[initial],
        index=int(match["index"]),
    )


def _emotion_folders(folder: Path) -> list[Path]:
    return [folder / name for name in NATIVE_TO_COMMON if (folder / name).is_dir()]


def check_layout(root: Path, *, expected_files: int | None = None) -> Path:
    """Return the folder holding URDU's emotion folders: ``root`` or its only sub-folder.

    Args:
        root: The corpus folder.
        expected_files: When given, the number of ``.wav`` files required (400 for a full
            copy); all four emotion folders are then required too.

    Raises:
        CorpusLayoutError: No emotion folder is found, or (with ``expected_files``) a folder is
            missing or the file count is wrong; the message says which layout was expected.
    """
    folder = CORPUS.find_root(root, lambda folder: bool(_emotion_folders(folder)))
    if folder is None:
        hint = ""
        if root.name in NATIVE_TO_COMMON:
            hint = f" (it looks like you gave an emotion folder; pass {root.parent})"
        raise CORPUS.layout_error(root, f"no URDU emotion folder found{hint}")
    if expected_files is not None:
        missing = [name for name in NATIVE_TO_COMMON if not (folder / name).is_dir()]
        if missing:
            raise CORPUS.layout_error(folder, f"emotion folders {missing} are missing")
        found = sum(
            1
            for emotion_dir in _emotion_folders(folder)
            for path in emotion_dir.rglob("*")
            if path.suffix.lower() in WAV_SUFFIXES and not path.name.startswith("._")
        )
        if found != expected_files:
            raise CORPUS.layout_error(
                folder, f"found {found} .wav files, expected {expected_files}"
            )
    return folder


def _is_present(data_dir: Path) -> bool:
    try:
        check_layout(data_dir)
    except CorpusLayoutError:
        return False
    return True


@CORPUS.register
def load_urdu(
    data_dir: Path,
    *,
    download: bool = False,
    url: str = DOWNLOAD_URL,
    sha256: str | None = DOWNLOAD_SHA256,
) -> Dataset:
    """Load URDU from ``<data_dir>/<Emotion>/*.wav`` (see the module docstring).

    Args:
        data_dir: The folder holding ``Angry/``, ``Happy/``, ``Neutral/`` and ``Sad/``.
        download: Download and extract the repository archive into ``data_dir`` when the
            corpus is not there.
        url: Archive address (override for a mirror or a pinned commit archive).
        sha256: Pin the archive's checksum; without it the extracted layout is verified.

    Raises:
        CorpusLayoutError: ``data_dir`` is not a URDU folder.
        CorpusFileError: A file name does not parse or disagrees with its emotion folder.
        DownloadError: The download, the checksum or the layout verification failed.
    """
    data_dir = Path(data_dir)
    if download and not _is_present(data_dir):
        CORPUS.fetch(
            url,
            data_dir,
            sha256=sha256,
            verify=lambda root: check_layout(root, expected_files=NUM_UTTERANCES),
        )
    root = check_layout(data_dir)

    rows = []
    for path, name in CORPUS.label_folder_files(root, parse_filename, recursive=True):
        rows.append(
            {
                "id": path.stem,
                "path": path,
                "label": name.label,
                "speaker": name.speaker,
                "gender": name.gender,
                "native_label": name.native_label,
            }
        )
    return CORPUS.dataset(rows, root)
