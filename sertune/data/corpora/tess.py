"""TESS: the Toronto Emotional Speech Set.

Origin:
    Recorded at the University of Toronto (Psychology Department), modelled on the Northwestern
    University Auditory Test No. 6 (NU-6): two actresses from the Toronto area say the carrier
    phrase "Say the word ___" with each of 200 target words, in seven emotions: 2 x 200 x 7 =
    2800 files. Both are native English speakers, university educated, with musical training
    and audiometric thresholds in the normal range.
Citation:
    K. Dupuis, M. K. Pichora-Fuller, "Toronto emotional speech set (TESS)", University of
    Toronto, Psychology Department, 2010. doi:10.5683/SP2/E8H2MF.
License:
    CC BY-NC-ND 4.0 (non-commercial, no derivatives).
Speakers (id: gender, age):
    OAF (older adult female) female 64, YAF (younger adult female) female 26.
    ONLY TWO SPEAKERS, both female: a speaker-independent test is leave-one-speaker-out with no
    validation speaker, ``speaker_independent_folds(ds, "loso", num_validation_speakers=0)``
    (two folds: train on one actress, test on the other); the default ``loso`` (one validation
    speaker) needs three speakers and raises. Results on TESS say little about generalisation
    to new voices; it is best used as extra training data or as a cross-corpus test set.
Audio:
    24,414 Hz, 16-bit mono WAV, about 1.5 to 2.5 s.
Layout:
    The Borealis (Scholars Portal Dataverse) release is a flat list of 2800 files; widely used
    copies put them in one folder per speaker and emotion::

        <data_dir>/OAF_angry/OAF_back_angry.wav
        <data_dir>/OAF_Fear/OAF_back_fear.wav            (folder casing varies: OAF_Fear,
        <data_dir>/OAF_Pleasant_surprise/OAF_back_ps.wav  OAF_Sad, YAF_fear, YAF_sad, ...)
        <data_dir>/YAF_pleasant_surprised/YAF_back_ps.wav
        ...

    Files are found recursively, so both (and a folder such as ``TESS Toronto emotional speech
    set data/`` around them) work. A file met twice (some copies hold the tree twice, nested) is
    read once with a warning; two different files for one recording are an error. When a file
    lies in a ``<speaker>_<emotion>`` folder, the folder must agree with the file name.
File-name grammar ``SSS_word_emotion.wav``:
    ``SSS`` speaker (``OAF``/``YAF``), the target word (lower case), the emotion: ``angry``,
    ``disgust``, ``fear``, ``happy``, ``neutral``, ``sad``, or pleasant surprise spelled
    ``ps`` (the usual spelling), ``pleasant_surprise`` or ``pleasant_surprised``.
Native labels and the common taxonomy (:data:`NATIVE_TO_COMMON`):
    angry -> angry, disgust -> disgust, fear -> fear, happy -> happy, neutral -> neutral,
    pleasant_surprise -> surprise, sad -> sad. 400 files per emotion.
Official partitions:
    None (see Speakers).
Download:
    Not supported: the release is 2800 separate files on Borealis, not one archive. Get it from
    https://doi.org/10.5683/SP2/E8H2MF ("Access Dataset" downloads a zip) and unzip it into
    ``data_dir`` in any of the layouts above.

Columns beyond the common schema: ``word`` (the target word), ``age`` and ``native_label``
(``pleasant_surprise`` whatever the spelling in the file name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, Value

from sertune.data.corpora._template import CorpusTemplate, ParsedName, drop_repeated_copies
from sertune.errors import CorpusFileError

NAME = "tess"
HOMEPAGE = "https://doi.org/10.5683/SP2/E8H2MF"
NUM_FILES = 2800

#: TESS's emotions mapped to the common taxonomy.
NATIVE_TO_COMMON: dict[str, str] = {
    "angry": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happy",
    "neutral": "neutral",
    "pleasant_surprise": "surprise",
    "sad": "sad",
}

#: How copies spell each emotion in file and folder names (lower-cased) -> the native label.
EMOTION_SPELLINGS: dict[str, str] = {
    **{native: native for native in NATIVE_TO_COMMON},
    "ps": "pleasant_surprise",
    "pleasant_surprised": "pleasant_surprise",
}

#: Speaker id -> (gender, age in years).
SPEAKERS: dict[str, tuple[str, int]] = {
    "OAF": ("female", 64),
    "YAF": ("female", 26),
}

_FILE_NAME = re.compile(
    r"^(?P<speaker>[A-Za-z]{3})_(?P<word>[A-Za-z]+)_(?P<emotion>[A-Za-z_]+)(?i:\.wav)$"
)
_FOLDER = re.compile(r"^(?P<speaker>OAF|YAF)_(?P<emotion>[A-Za-z_ -]+)$", re.IGNORECASE)

CORPUS = CorpusTemplate(
    name=NAME,
    title="TESS",
    native_to_common=NATIVE_TO_COMMON,
    extra_features={
        "word": Value("string"),
        "age": Value("int32"),
        "native_label": Value("string"),
    },
    expected_layout=(
        "expected TESS files named SSS_word_emotion.wav (e.g. OAF_back_angry.wav, "
        "YAF_back_ps.wav) anywhere under data_dir, e.g. <data_dir>/OAF_angry/OAF_back_angry.wav. "
        f"TESS cannot be downloaded automatically: get it from {HOMEPAGE} and unzip it into "
        "data_dir"
    ),
    description="Toronto Emotional Speech Set: 2 actresses (26, 64), 200 words, 7 emotions, "
    "2800 files",
    homepage=HOMEPAGE,
    license="CC-BY-NC-ND-4.0",
)


@dataclass(frozen=True)
class TessName(ParsedName):
    """The fields of a TESS file name."""

    native_to_common = NATIVE_TO_COMMON

    speaker: str
    word: str
    native_label: str

    @property
    def recording_id(self) -> str:
        """The recording's id, with pleasant surprise spelled ``ps`` whatever the file says."""
        emotion = "ps" if self.native_label == "pleasant_surprise" else self.native_label
        return f"{self.speaker}_{self.word}_{emotion}"


def _emotion(spelling: str) -> str | None:
    return EMOTION_SPELLINGS.get(spelling.lower().replace("-", "_").replace(" ", "_"))


def parse_filename(file_name: str) -> TessName:
    """Parse a TESS file name such as ``OAF_back_angry.wav`` or ``YAF_back_ps.wav``.

    Args:
        file_name: The base name (a path is accepted; only its last part is read).

    Raises:
        CorpusFileError: The name does not follow ``SSS_word_emotion.wav`` or names an unknown
            speaker or emotion; the message names the file.
    """
    base = Path(file_name).name
    match = _FILE_NAME.match(base)
    if match is None:
        raise CorpusFileError(
            f"{file_name}: not a TESS file name; expected SSS_word_emotion.wav, e.g. "
            "OAF_back_angry.wav or YAF_back_ps.wav (speaker, target word, emotion)"
        )
    speaker = match["speaker"].upper()
    if speaker not in SPEAKERS:
        raise CorpusFileError(
            f"{file_name}: unknown TESS speaker {match['speaker']!r}; known: {sorted(SPEAKERS)}"
        )
    native = _emotion(match["emotion"])
    if native is None:
        raise CorpusFileError(
            f"{file_name}: unknown TESS emotion {match['emotion']!r}; known spellings: "
            f"{sorted(EMOTION_SPELLINGS)}"
        )
    return TessName(speaker=speaker, word=match["word"].lower(), native_label=native)


def _check_folder(path: Path, name: TessName) -> None:
    """A ``<speaker>_<emotion>`` folder must agree with the file name it holds."""
    folder = _FOLDER.match(path.parent.name)
    if folder is None:
        return
    native = _emotion(folder["emotion"])
    if native is None:
        return
    if (folder["speaker"].upper(), native) != (name.speaker, name.native_label):
        raise CorpusFileError(
            f"{path}: the file name says {name.speaker} {name.native_label} but its folder "
            f"{path.parent.name}/ says {folder['speaker'].upper()} {native}; there is no telling "
            "which is right"
        )


def check_layout(root: Path) -> None:
    """Check that ``root`` exists and is a folder.

    Raises:
        CorpusLayoutError: It is not; the message says which layout was expected.
    """
    CORPUS.require_folder(root)


@CORPUS.register
def load_tess(data_dir: Path, *, download: bool = False) -> Dataset:
    """Load TESS from any folder holding its files (see the module docstring).

    Args:
        data_dir: A folder holding the TESS ``.wav`` files, at any depth.
        download: Not supported; a missing corpus raises an error saying how to get it.

    Raises:
        CorpusLayoutError: ``data_dir`` does not exist or holds no ``.wav`` file.
        CorpusFileError: A ``.wav`` name does not parse, disagrees with its folder, or two
            different files hold one recording.
    """
    data_dir = Path(data_dir)
    check_layout(data_dir)
    parsed = []
    for path in CORPUS.scan(data_dir, recursive=True):
        name = parse_filename(str(path))
        _check_folder(path, name)
        parsed.append((path, name))
    unique = drop_repeated_copies(
        parsed,
        path_of=lambda item: item[0],
        key_of=lambda item: item[1].recording_id,
        root=data_dir,
        corpus=NAME,
        what="recording",
        same="recording",
    )
    rows = []
    for path, name in unique:
        gender, age = SPEAKERS[name.speaker]
        rows.append(
            {
                "id": name.recording_id,
                "path": path,
                "label": name.label,
                "speaker": name.speaker,
                "gender": gender,
                "word": name.word,
                "age": age,
                "native_label": name.native_label,
            }
        )
    return CORPUS.dataset(rows, data_dir)
