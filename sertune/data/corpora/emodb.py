"""EMO-DB: the Berlin Database of Emotional Speech.

Origin:
    Recorded at the Technical University of Berlin (Institute of Communication Science) in 1997-99:
    ten professional actors (5 female, 5 male) speak ten everyday German sentences, with no
    emotional content of their own, in seven emotions. A perception test with 20 listeners kept
    the utterances recognised by at least 80% and judged natural by more than 60%: 535 files.
Citation:
    F. Burkhardt, A. Paeschke, M. Rolfes, W. Sendlmeier, B. Weiss, "A database of German
    emotional speech", Proc. Interspeech 2005, pp. 1517-1520.
License:
    CC0-1.0, as catalogued by audEERING's audb; the original site states free use for research.
Speakers (id: gender, age at recording):
    03 m 31, 08 f 34, 09 f 21, 10 m 32, 11 m 26, 12 m 30, 13 f 32, 14 f 35, 15 m 25, 16 f 31.
Audio:
    16 kHz, 16-bit mono WAV (downsampled from the 48 kHz recordings), 1.2 to 9 s.
Layout as distributed (``download.zip``)::

    <root>/wav/03a01Fa.wav ...   535 utterances
    <root>/erkennung.txt         perception test: file, recognition %, naturalness %
    <root>/erklaerung.txt        selection criteria (German)
    <root>/lablaut/ labsilb/ silb/  phonetic and syllable labels (not used here)

File-name grammar ``SSTTTEV.wav``:
    ``SS`` speaker (two digits), ``TTT`` text code (``a01``, ``a02``, ``a04``, ``a05``, ``a07``,
    ``b01``, ``b02``, ``b03``, ``b09``, ``b10``), ``E`` emotion letter (German initial), ``V``
    version letter (``a``, ``b``, ... when a speaker recorded a sentence more than once).
Native labels and the common taxonomy (:data:`NATIVE_TO_COMMON`):
    W (Wut/Ärger, anger) -> angry, L (Langeweile, boredom) -> bored, E (Ekel, disgust) ->
    disgust, A (Angst, anxiety/fear) -> fear, F (Freude, happiness) -> happy,
    T (Trauer, sadness) -> sad, N (neutral) -> neutral.
    Counts in the 535 files: angry 127, bored 81, neutral 79, happy 71, fear 69, sad 62,
    disgust 46.
Official partitions:
    None. Use a speaker-independent protocol (``loso`` over the 10 speakers is the usual one).
Download:
    ``download=True`` fetches ``http://emodb.bilderbar.info/download/download.zip``. No checksum
    is published; the extracted layout is verified instead (a ``wav/`` folder with 535 files).
    Pass ``sha256=`` to pin a copy you trust, or ``url=`` for a mirror.

Columns beyond the common schema: ``text_id``, ``text`` (the German sentence), ``version``,
``age``, ``native_label``, and, when ``erkennung.txt`` is present, ``recognition_rate`` and
``naturalness_rate`` (percent of the 20 listeners, 0-100).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, Value

from sertune.data.corpora._template import WAV_SUFFIXES, CorpusTemplate, ParsedName
from sertune.errors import CorpusFileError

logger = logging.getLogger(__name__)

NAME = "emodb"
DOWNLOAD_URL = "http://emodb.bilderbar.info/download/download.zip"
#: No checksum is published for the archive; the extracted layout and file count are verified.
DOWNLOAD_SHA256: str | None = None
NUM_UTTERANCES = 535

#: EMO-DB's German emotion letters mapped to the common taxonomy.
NATIVE_TO_COMMON: dict[str, str] = {
    "W": "angry",  # Wut / Ärger
    "L": "bored",  # Langeweile
    "E": "disgust",  # Ekel
    "A": "fear",  # Angst
    "F": "happy",  # Freude
    "T": "sad",  # Trauer
    "N": "neutral",
}

#: Speaker id -> (gender, age in years), from the corpus documentation.
SPEAKERS: dict[str, tuple[str, int]] = {
    "03": ("male", 31),
    "08": ("female", 34),
    "09": ("female", 21),
    "10": ("male", 32),
    "11": ("male", 26),
    "12": ("male", 30),
    "13": ("female", 32),
    "14": ("female", 35),
    "15": ("male", 25),
    "16": ("female", 31),
}

#: Text code -> the German sentence spoken.
TEXTS: dict[str, str] = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}

#: Columns present when ``erkennung.txt`` is.
RATE_FEATURES = {"recognition_rate": Value("float32"), "naturalness_rate": Value("float32")}

_FILE_NAME = re.compile(
    r"^(?P<speaker>\d{2})(?P<text_id>[ab]\d{2})(?P<emotion>[A-Z])(?P<version>[a-z])\.wav$",
    re.IGNORECASE,
)

CORPUS = CorpusTemplate(
    name=NAME,
    title="EMO-DB",
    native_to_common=NATIVE_TO_COMMON,
    extra_features={
        "text_id": Value("string"),
        "text": Value("string"),
        "version": Value("string"),
        "age": Value("int32"),
        "native_label": Value("string"),
    },
    expected_layout=(
        "expected the official EMO-DB layout: <data_dir>/wav/SSTTTEV.wav "
        "(e.g. wav/03a01Fa.wav), optionally with <data_dir>/erkennung.txt"
    ),
    description="Berlin Database of Emotional Speech: 10 German actors, 7 emotions, 535 files",
    homepage="http://emodb.bilderbar.info/",
    license="CC0-1.0",
    downloadable=True,
)


@dataclass(frozen=True)
class EmodbName(ParsedName):
    """The fields of an EMO-DB file name."""

    native_to_common = NATIVE_TO_COMMON

    speaker: str
    text_id: str
    native_label: str
    version: str


def parse_filename(file_name: str) -> EmodbName:
    """Parse an EMO-DB file name such as ``03a01Fa.wav``.

    Args:
        file_name: The base name (a path is accepted; only its last part is read).

    Raises:
        CorpusFileError: The name does not follow ``SSTTTEV.wav`` or names an unknown speaker,
            text or emotion; the message names the file.
    """
    base = Path(file_name).name
    match = _FILE_NAME.match(base)
    if match is None:
        raise CorpusFileError(
            f"{file_name}: not an EMO-DB file name; expected SSTTTEV.wav, e.g. 03a01Fa.wav "
            "(speaker, text code, emotion letter, version letter)"
        )
    speaker, text_id = match["speaker"], match["text_id"].lower()
    emotion, version = match["emotion"], match["version"]
    if speaker not in SPEAKERS:
        raise CorpusFileError(
            f"{file_name}: unknown EMO-DB speaker {speaker!r}; known: {sorted(SPEAKERS)}"
        )
    if text_id not in TEXTS:
        raise CorpusFileError(f"{file_name}: unknown EMO-DB text code {text_id!r}")
    if emotion not in NATIVE_TO_COMMON:
        raise CorpusFileError(
            f"{file_name}: unknown EMO-DB emotion letter {emotion!r}; "
            f"known: {sorted(NATIVE_TO_COMMON)}"
        )
    return EmodbName(speaker=speaker, text_id=text_id, native_label=emotion, version=version)


def read_perception_rates(path: str | Path) -> dict[str, tuple[float, float]]:
    """Read ``erkennung.txt``: file stem -> (recognition %, naturalness %).

    The file is Latin-1, tab separated, with a header line, decimal commas and values padded
    with non-breaking spaces; it lists more utterances than the 535 selected ones.

    Raises:
        CorpusFileError: A data line cannot be parsed (the message gives the line number).
    """
    path = Path(path)
    rates: dict[str, tuple[float, float]] = {}
    lines = path.read_text(encoding="latin-1").splitlines()
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = [field.replace("\xa0", " ").strip() for field in line.split("\t")]
        if len(fields) < 4:
            raise CorpusFileError(f"{path}:{number}: expected 4 tab-separated fields: {line!r}")
        file_name, recognised, natural = fields[1], fields[2], fields[3]
        try:
            rates[Path(file_name).stem] = (
                float(recognised.replace(",", ".")),
                float(natural.replace(",", ".")),
            )
        except ValueError:
            raise CorpusFileError(
                f"{path}:{number}: recognition/naturalness rates are not numbers: {line!r}"
            ) from None
    return rates


def check_layout(root: Path, *, expected_files: int | None = None) -> Path:
    """Check that ``root`` is an EMO-DB folder and return its ``wav/`` folder.

    Args:
        root: The corpus root.
        expected_files: When given, the number of ``.wav`` files required (535 for a full copy).

    Raises:
        CorpusLayoutError: The folder or its ``wav/`` subfolder is missing, or holds the wrong
            number of files; the message says which layout was expected.
    """
    CORPUS.require_folder(root)
    wav_dir = root / "wav"
    if not wav_dir.is_dir():
        hint = ""
        if root.name == "wav" or any(p.suffix.lower() == ".wav" for p in root.iterdir()):
            hint = f" (it looks like you gave the wav/ folder itself; pass {root.parent})"
        raise CORPUS.layout_error(root, f"no wav/ folder{hint}")
    if expected_files is not None:
        found = sum(1 for p in wav_dir.iterdir() if p.suffix.lower() in WAV_SUFFIXES)
        if found != expected_files:
            raise CORPUS.layout_error(
                wav_dir, f"found {found} .wav files, expected {expected_files}"
            )
    return wav_dir


def _row(path: Path, rates: dict[str, tuple[float, float]] | None) -> dict:
    name = parse_filename(path.name)
    gender, age = SPEAKERS[name.speaker]
    row = {
        "id": path.stem,
        "path": path,
        "label": name.label,
        "speaker": name.speaker,
        "gender": gender,
        "text_id": name.text_id,
        "text": TEXTS[name.text_id],
        "version": name.version,
        "age": age,
        "native_label": name.native_label,
    }
    if rates is not None:
        row["recognition_rate"], row["naturalness_rate"] = rates.get(path.stem, (None, None))
    return row


@CORPUS.register
def load_emodb(
    data_dir: Path,
    *,
    download: bool = False,
    url: str = DOWNLOAD_URL,
    sha256: str | None = DOWNLOAD_SHA256,
) -> Dataset:
    """Load EMO-DB from its official layout (see the module docstring).

    Args:
        data_dir: The corpus root holding ``wav/``.
        download: Download and extract the official archive into ``data_dir`` when ``wav/``
            is missing.
        url: Archive address (override for a mirror).
        sha256: Pin the archive's checksum; without it the extracted layout is verified.

    Raises:
        CorpusLayoutError: ``data_dir`` is not an EMO-DB folder.
        CorpusFileError: A ``.wav`` file's name does not parse.
    """
    data_dir = Path(data_dir)
    if download and not (data_dir / "wav").is_dir():
        CORPUS.fetch(
            url,
            data_dir,
            sha256=sha256,
            verify=lambda root: check_layout(root, expected_files=NUM_UTTERANCES),
        )
    wav_dir = check_layout(data_dir)

    rates_file = data_dir / "erkennung.txt"
    rates = read_perception_rates(rates_file) if rates_file.is_file() else None
    rows = [_row(path, rates) for path in CORPUS.scan(wav_dir, recursive=False)]
    if rates is not None:
        missing = [row["id"] for row in rows if row["recognition_rate"] is None]
        if missing:
            logger.warning(
                "%s lists no perception rates for %d files: %s", rates_file, len(missing), missing
            )
    return CORPUS.dataset(rows, wav_dir, more_features=None if rates is None else RATE_FEATURES)
