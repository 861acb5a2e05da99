"""ShEMO: the Sharif Emotional Speech Database (Persian).

Origin:
    3,000 semi-natural utterances (3 h 25 min) cut from Persian radio plays, from 87 native
    speakers, labelled by twelve annotators (majority vote; kappa 0.64) with five emotions plus
    neutral.
Citation:
    O. Mohamad Nezami, P. Jamshid Lou, M. Karami, "ShEMO: a large-scale validated database for
    Persian speech emotion detection", Language Resources and Evaluation 53(1), pp. 1-16, 2019.
License:
    "Available for academic purposes free of charge" (the authors' README); no license file.
    The audio is published as ``female.zip`` and ``male.zip`` through links in
    https://github.com/pariajm/sharif-emotional-speech-dataset that have moved more than once
    (the zips in the older repository mansourehk/ShEMO are reported broken), so
    ``download=True`` is not offered: fetch the two zips and unpack them side by side.
Speakers:
    87: 31 female (``F01``-``F31``) and 56 male (``M01``-``M56``), as the paper reports; the
    numbers are checked against those counts. Speaker ids are the three-character codes, the
    gender from their letter.
Audio:
    44.1 kHz, 16-bit mono WAV.
Layout as distributed (``female.zip`` and ``male.zip`` unpacked side by side)::

    <data_dir>/female/F01A01.wav ...
    <data_dir>/male/M01A01.wav ...

    A ``transcript/`` folder or ``shemo.json`` (transcripts and labels) may sit beside them;
    they are not read.

File-name grammar ``GSSENN.wav``:
    ``G`` gender (``F``/``M``, which must match the folder), ``SS`` speaker number, ``E`` emotion
    letter, ``NN`` the speaker's running number for that emotion (two or three digits).
Native labels and the common taxonomy (:data:`NATIVE_TO_COMMON`):
    A (anger) -> angry, H (happiness) -> happy, N (neutral) -> neutral, S (sadness) -> sad,
    W (surprise) -> surprise, F (fear) -> fear. Counts in the paper: anger 1059, neutral 1028,
    sadness 449, surprise 225, happiness 201, fear 38. The fear class is tiny; many papers
    leave it out (``labels=["angry", "happy", "neutral", "sad", "surprise"]``).
Official partitions:
    None. Use ``speaker_kfold`` (87 speakers with very uneven utterance counts).

Columns beyond the common schema: ``native_label`` (the emotion letter).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, Value

from sertune.data.corpora._template import CorpusTemplate, ParsedName
from sertune.data.files import warn_stray_entries
from sertune.errors import CorpusFileError, CorpusLayoutError

logger = logging.getLogger(__name__)

NAME = "shemo"
HOMEPAGE = "https://github.com/pariajm/sharif-emotional-speech-dataset"
NUM_UTTERANCES = 3000

#: ShEMO's emotion letters mapped to the common taxonomy.
NATIVE_TO_COMMON: dict[str, str] = {
    "A": "angry",  # anger
    "H": "happy",  # happiness
    "N": "neutral",
    "S": "sad",  # sadness
    "W": "surprise",
    "F": "fear",
}

#: Gender letter -> (gender, also the folder name; number of speakers, from the paper).
GENDERS: dict[str, tuple[str, int]] = {"F": ("female", 31), "M": ("male", 56)}

_FILE_NAME = re.compile(
    r"^(?P<gender>[A-Z])(?P<speaker>\d{2})(?P<emotion>[A-Z])(?P<sequence>\d{2,3})\.wav$",
    re.IGNORECASE,
)
_KNOWN_EXTRAS = {"transcript", "transcripts", "shemo.json", "readme.md", "readme.txt"}

CORPUS = CorpusTemplate(
    name=NAME,
    title="ShEMO",
    native_to_common=NATIVE_TO_COMMON,
    extra_features={"native_label": Value("string")},
    expected_layout=(
        "expected the ShEMO layout <data_dir>/female/F01A01.wav and <data_dir>/male/M01A01.wav "
        "(female.zip and male.zip unpacked side by side). ShEMO cannot be downloaded "
        f"automatically: fetch the two zips from the links at {HOMEPAGE}"
    ),
    description="ShEMO: 3,000 semi-natural Persian utterances from radio plays, 87 speakers, "
    "6 classes",
    homepage=HOMEPAGE,
    license="free for academic use (authors' README); no license file",
    full_size=NUM_UTTERANCES,
)


@dataclass(frozen=True)
class ShemoName(ParsedName):
    """The fields of a ShEMO file name."""

    native_to_common = NATIVE_TO_COMMON

    speaker: str
    gender: str
    native_label: str
    sequence: int


def parse_filename(file_name: str | Path) -> ShemoName:
    """Parse a ShEMO file name such as ``F01A01.wav``.

    Args:
        file_name: The base name (a path is accepted; only its last part is read).

    Raises:
        CorpusFileError: The name is not ``GSSENN.wav`` or names an unknown gender, speaker or
            emotion; the message names the file.
    """
    base = Path(file_name).name
    match = _FILE_NAME.match(base)
    if match is None:
        raise CorpusFileError(
            f"{file_name}: not a ShEMO file name; expected GSSENN.wav, e.g. F01A01.wav "
            "(gender, speaker, emotion letter, running number)"
        )
    letter, number = match["gender"].upper(), int(match["speaker"])
    emotion = match["emotion"].upper()
    if letter not in GENDERS:
        raise CorpusFileError(f"{file_name}: unknown ShEMO gender letter {letter!r}; known: F, M")
    gender, count = GENDERS[letter]
    if not 1 <= number <= count:
        raise CorpusFileError(
            f"{file_name}: unknown ShEMO speaker {letter}{number:02d}; {gender} speakers are "
            f"numbered 01-{count:02d}"
        )
    if emotion not in NATIVE_TO_COMMON:
        raise CorpusFileError(
            f"{file_name}: unknown ShEMO emotion letter {emotion!r}; "
            f"known: {sorted(NATIVE_TO_COMMON)}"
        )
    return ShemoName(
        speaker=f"{letter}{number:02d}",
        gender=gender,
        native_label=emotion,
        sequence=int(match["sequence"]),
    )


def _gender_folders(folder: Path) -> list[Path]:
    return [folder / name for name, _ in GENDERS.values() if (folder / name).is_dir()]


def check_layout(root: Path) -> Path:
    """Return the folder holding ``female/`` and ``male/``: ``root`` or its only sub-folder.

    Raises:
        CorpusLayoutError: Neither folder is found; the message says which layout was expected.
    """
    folder = CORPUS.find_root(root, lambda folder: bool(_gender_folders(folder)))
    if folder is None:
        hint = ""
        if root.name in ("female", "male"):
            hint = f" (it looks like you gave the {root.name}/ folder; pass {root.parent})"
        raise CORPUS.layout_error(root, f"no female/ or male/ folder found{hint}")
    return folder


@CORPUS.register
def load_shemo(data_dir: Path, *, download: bool = False) -> Dataset:
    """Load ShEMO from ``<data_dir>/{female,male}/*.wav`` (see the module docstring).

    Args:
        data_dir: The folder holding ``female/`` and ``male/``.
        download: Not supported (no stable address); must be ``False``.

    Raises:
        CorpusLayoutError: ``data_dir`` is not a ShEMO folder, or ``download=True``.
        CorpusFileError: A file name does not parse or its gender letter is not its folder's.
    """
    if download:
        raise CorpusLayoutError(CORPUS.download_refusal())
    root = check_layout(Path(data_dir))
    gender_dirs = _gender_folders(root)
    stray = [
        p
        for p in sorted(root.iterdir())
        if p not in gender_dirs and p.name.lower() not in _KNOWN_EXTRAS
    ]
    warn_stray_entries(root, stray, corpus=NAME, expected="female/ or male/")
    if len(gender_dirs) == 1:
        logger.warning("%s: %s holds only %s/: a partial copy", NAME, root, gender_dirs[0].name)

    rows = []
    for gender_dir in gender_dirs:
        for path in CORPUS.scan(gender_dir, recursive=False):
            name = parse_filename(path)
            if name.gender != gender_dir.name:
                raise CorpusFileError(f"{path}: a {name.gender} speaker in the {gender_dir.name}/")
            rows.append(
                {
                    "id": path.stem.upper(),
                    "path": path,
                    "label": name.label,
                    "speaker": name.speaker,
                    "gender": name.gender,
                    "native_label": name.native_label,
                }
            )
    return CORPUS.dataset(rows, root)
