"""SAVEE: the Surrey Audio-Visual Expressed Emotion database.

Origin:
    Recorded at the University of Surrey (Centre for Vision, Speech and Signal Processing):
    four native British English male speakers, postgraduate students and researchers aged 27 to
    31, read TIMIT sentences in seven emotions, with audio and video of the face (60 markers).
    15 sentences per emotion (3 common, 2 emotion-specific and 10 generic, phonetically
    balanced), and 30 neutral ones (the 3 common and the 2 x 6 emotion-specific sentences read
    neutrally, plus 15 more): 120 utterances per speaker, 480 in all.
Citation:
    S. Haq, P. J. B. Jackson, "Speaker-dependent audio-visual emotion recognition", Proc.
    AVSP 2009, pp. 53-58; S. Haq, P. J. B. Jackson, J. Edge, "Audio-visual feature selection
    and reduction for emotion classification", Proc. AVSP 2008, pp. 185-190.
License:
    Free for research use; the download link is given after registering at
    http://kahlan.eps.surrey.ac.uk/savee/ (no open license; no redistribution).
Speakers:
    DC, JE, JK, KL, all male.
Audio:
    44.1 kHz, 16-bit mono WAV.
Layout as distributed (``AudioData.zip``, under ``Data/Zip/`` in the registered download)::

    <data_dir>/AudioData/DC/a01.wav ... <data_dir>/AudioData/KL/su15.wav   480 files

    A flat copy that also circulates, with the speaker in the file name, is read as well::

    <data_dir>/ALL/DC_a01.wav ... <data_dir>/ALL/KL_su15.wav

    When both folders are present, ``AudioData/`` is read and ``ALL/`` is ignored (a warning
    says so). The two layouts give the same row ids (``DC_a01``).
File-name grammar:
    ``<speaker>/<emotion><nn>.wav`` (``AudioData``) or ``<speaker>_<emotion><nn>.wav`` (flat):
    emotion prefix ``a`` anger, ``d`` disgust, ``f`` fear, ``h`` happiness, ``n`` neutral,
    ``sa`` sadness, ``su`` surprise; ``nn`` the sentence number within that emotion, 01-15
    (neutral 01-30). The same number under two prefixes is in general a different sentence.
Native labels and the common taxonomy (:data:`NATIVE_TO_COMMON`):
    a -> angry, d -> disgust, f -> fear, h -> happy, n -> neutral, sa -> sad, su -> surprise.
    Counts: 60 per emotion, 120 neutral.
Official partitions:
    None. The SAVEE papers are speaker-dependent; for a speaker-independent result use ``loso``
    over the four speakers (one validation speaker leaves two for training).
Download:
    Not possible (registration). Register at http://kahlan.eps.surrey.ac.uk/savee/, download
    ``AudioData.zip`` and unzip it into ``data_dir`` so that ``data_dir/AudioData/DC/a01.wav``
    exists.

Columns beyond the common schema: ``sentence_number`` (1-15, neutral 1-30) and
``native_label`` (the prefix, e.g. ``"sa"``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, Value

from sertune.data.corpora._template import CorpusTemplate, ParsedName
from sertune.errors import CorpusFileError

logger = logging.getLogger(__name__)

NAME = "savee"
HOMEPAGE = "http://kahlan.eps.surrey.ac.uk/savee/"
NUM_FILES = 480

#: SAVEE's emotion prefixes mapped to the common taxonomy.
NATIVE_TO_COMMON: dict[str, str] = {
    "a": "angry",  # anger
    "d": "disgust",
    "f": "fear",
    "h": "happy",  # happiness
    "n": "neutral",
    "sa": "sad",  # sadness
    "su": "surprise",
}

#: Sentences per emotion prefix: the numbers run from 1 to this.
SENTENCES_PER_EMOTION: dict[str, int] = {prefix: 15 for prefix in NATIVE_TO_COMMON} | {"n": 30}

SPEAKERS: dict[str, str] = {"DC": "male", "JE": "male", "JK": "male", "KL": "male"}

_EMOTION = r"(?P<emotion>sa|su|[adfhn])(?P<number>\d{2})"
_SPEAKER_NAME = re.compile(rf"^(?P<speaker>[A-Za-z]{{2}})_{_EMOTION}(?i:\.wav)$")
_NAME = re.compile(rf"^{_EMOTION}(?i:\.wav)$")

CORPUS = CorpusTemplate(
    name=NAME,
    title="SAVEE",
    native_to_common=NATIVE_TO_COMMON,
    extra_features={"sentence_number": Value("int32"), "native_label": Value("string")},
    expected_layout=(
        "expected the SAVEE layout: <data_dir>/AudioData/DC/a01.wav (AudioData.zip unzipped "
        "into data_dir), or the flat <data_dir>/ALL/DC_a01.wav. SAVEE cannot be downloaded "
        f"automatically: register at {HOMEPAGE} to get AudioData.zip"
    ),
    description="Surrey Audio-Visual Expressed Emotion: 4 male British English speakers, "
    "7 emotions, 480 files",
    homepage=HOMEPAGE,
    license="research use after registration (no open license)",
)


@dataclass(frozen=True)
class SaveeName(ParsedName):
    """The fields of a SAVEE file, from its name (and its folder in ``AudioData/``)."""

    native_to_common = NATIVE_TO_COMMON

    speaker: str
    native_label: str
    sentence_number: int

    @property
    def utterance_id(self) -> str:
        """``<speaker>_<emotion><nn>``, the flat copy's file name without suffix."""
        return f"{self.speaker}_{self.native_label}{self.sentence_number:02d}"


def parse_filename(file_name: str) -> SaveeName:
    """Parse a SAVEE file: ``DC/a01.wav`` (``AudioData`` layout) or ``DC_a01.wav`` (flat).

    Args:
        file_name: A path whose last part is ``<emotion><nn>.wav`` under a speaker folder, or
            a name ``<speaker>_<emotion><nn>.wav``.

    Raises:
        CorpusFileError: The name follows neither form, or names an unknown speaker or a
            sentence number outside the emotion's range; the message names the file.
    """
    path = Path(file_name)
    match = _SPEAKER_NAME.match(path.name)
    if match is not None:
        speaker, source = match["speaker"], "file name"
    else:
        match = _NAME.match(path.name)
        if match is None:
            raise CorpusFileError(
                f"{file_name}: not a SAVEE file name; expected <speaker>/<emotion><nn>.wav "
                "(e.g. DC/a01.wav, DC/sa15.wav, DC/n30.wav) or <speaker>_<emotion><nn>.wav "
                f"(e.g. DC_a01.wav) with emotion one of {sorted(NATIVE_TO_COMMON)}"
            )
        speaker, source = path.parent.name, "folder name"
    if speaker not in SPEAKERS:
        raise CorpusFileError(
            f"{file_name}: unknown SAVEE speaker {speaker!r} (from the {source}); "
            f"known: {sorted(SPEAKERS)}"
        )
    emotion, number = match["emotion"], int(match["number"])
    if not 1 <= number <= SENTENCES_PER_EMOTION[emotion]:
        raise CorpusFileError(
            f"{file_name}: SAVEE sentence number {number} is outside 1-"
            f"{SENTENCES_PER_EMOTION[emotion]} for emotion {emotion!r}"
        )
    return SaveeName(speaker=speaker, native_label=emotion, sentence_number=number)


def check_layout(root: Path) -> Path:
    """Check that ``root`` is a SAVEE folder and return the folder to read.

    Returns:
        ``root/AudioData`` when it exists, else ``root/ALL``.

    Raises:
        CorpusLayoutError: Neither exists; the message says which layout was expected.
    """
    CORPUS.require_folder(root)
    audio_data, flat = root / "AudioData", root / "ALL"
    if audio_data.is_dir():
        if flat.is_dir():
            logger.warning(
                "%s: %s holds both AudioData/ and ALL/; reading AudioData/ and ignoring ALL/",
                NAME,
                root,
            )
        return audio_data
    if flat.is_dir():
        return flat
    hint = ""
    if any((root / speaker).is_dir() for speaker in SPEAKERS):
        hint = f" (it looks like you gave the AudioData/ folder itself; pass {root.parent})"
    elif any(_SPEAKER_NAME.match(path.name) for path in root.iterdir()):
        hint = f" (it looks like you gave the ALL/ folder itself; pass {root.parent})"
    elif (root / "AudioData.zip").is_file():
        hint = " (found AudioData.zip: unzip it first)"
    raise CORPUS.layout_error(root, f"no AudioData/ or ALL/ folder{hint}")


@CORPUS.register
def load_savee(data_dir: Path, *, download: bool = False) -> Dataset:
    """Load SAVEE from its ``AudioData/`` layout or the flat ``ALL/`` one (see the docstring).

    Args:
        data_dir: The folder holding ``AudioData/`` (or ``ALL/``).
        download: Not supported; a missing corpus raises an error saying how to get it.

    Raises:
        CorpusLayoutError: ``data_dir`` is not a SAVEE folder or holds no ``.wav`` file.
        CorpusFileError: A ``.wav`` file's name (or speaker folder) does not parse.
    """
    data_dir = Path(data_dir)
    audio_dir = check_layout(data_dir)
    flat = audio_dir.name == "ALL"
    rows = []
    seen: dict[str, Path] = {}
    for path in CORPUS.scan(audio_dir, recursive=not flat):
        if flat and _SPEAKER_NAME.match(path.name) is None:
            raise CorpusFileError(
                f"{path}: files in ALL/ are named <speaker>_<emotion><nn>.wav, e.g. DC_a01.wav"
            )
        if not flat and len(path.relative_to(audio_dir).parts) != 2:
            raise CorpusFileError(
                f"{path}: files in AudioData/ are AudioData/<speaker>/<emotion><nn>.wav"
            )
        name = parse_filename(str(path))
        if not flat and name.speaker != path.parent.name:
            raise CorpusFileError(
                f"{path}: speaker {name.speaker} in the file name but the file is in "
                f"{path.parent.name}/"
            )
        if name.utterance_id in seen:
            raise CorpusFileError(
                f"{path}: the same utterance ({name.utterance_id}) as {seen[name.utterance_id]}"
            )
        seen[name.utterance_id] = path
        rows.append(
            {
                "id": name.utterance_id,
                "path": path,
                "label": name.label,
                "speaker": name.speaker,
                "gender": SPEAKERS[name.speaker],
                "sentence_number": name.sentence_number,
                "native_label": name.native_label,
            }
        )
    return CORPUS.dataset(rows, audio_dir)
