"""MSP-Podcast: natural emotional speech retrieved from podcast recordings.

Origin:
    Built at the University of Texas at Dallas (Multimodal Signal Processing lab) from
    Creative Commons podcasts: speaking turns of one speaker (2.75 to 11 s) are segmented,
    pre-selected by emotion-retrieval models to balance the emotional content, and annotated on
    Amazon Mechanical Turk with a primary category and with arousal (activation), valence and
    dominance, by five or more workers per segment. Released in versions (1.0 ... 1.11, 1.12),
    growing from about 15k to over 150k segments; the loader reads any version with the layout
    below.
Citation:
    R. Lotfian, C. Busso, "Building naturalistic emotionally balanced speech corpus by
    retrieving emotional speech from existing podcast recordings", IEEE Transactions on
    Affective Computing 10(4), pp. 471-483, 2019.
License:
    UT Dallas academic license agreement (research only, no redistribution; a commercial
    license is offered separately). Request it from
    https://ecs.utdallas.edu/research/researchlabs/msp-lab/MSP-Podcast.html; ``download=True``
    is not possible.
Speakers:
    Over a thousand identified podcast speakers in recent releases, with numeric ids
    (``SpkrID``) and ``Gender`` (Female, Male, or Unknown). Many segments have ``SpkrID`` "Unknown": putting them all under one id would
    merge unrelated people into one pseudo-speaker (and make that "speaker" cross every
    partition), so each such row gets its own id ``unknown-<file stem>`` here, e.g.
    ``unknown-MSP-PODCAST_1234_0056``, with gender "unknown" unless the CSV gives one.
Audio:
    16 kHz, 16-bit mono WAV.
Layout as distributed::

    <data_dir>/Audios/MSP-PODCAST_0001_0008.wav ...     (``Audio/`` in some releases)
    <data_dir>/Labels/labels_consensus.csv              read here
    <data_dir>/Labels/labels_detailed.csv, *.json, Transcripts/, ForceAligned/ ...  not read

File-name grammar ``MSP-PODCAST_<pppp>_<ssss>[_<kkkk>].wav`` (:func:`parse_filename`):
    ``pppp`` the podcast (4 digits, kept as the ``podcast`` column), ``ssss`` the segment within
    it, and in newer releases an optional ``kkkk`` when a segment was split further
    (``MSP-PODCAST_0700_0150_0001.wav``).
``labels_consensus.csv`` (:func:`read_labels`):
    Columns ``FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set`` (all required; a
    missing column is an error naming the file and the column). ``EmoAct``, ``EmoVal``,
    ``EmoDom``: mean ratings on a 1-7 scale. ``Gender``: Female, Male or Unknown (an empty
    value counts as Unknown). Every row whose audio is missing is listed in a warning and not
    loaded; audio files without a row are listed in a warning and not used.
Native labels and the common taxonomy (:data:`NATIVE_TO_COMMON`):
    A (anger) -> angry, S (sadness) -> sad, H (happiness) -> happy, U (surprise) -> surprise,
    F (fear) -> fear, D (disgust) -> disgust, N (neutral) -> neutral. C (contempt) has no common
    label, O (other) and X (no agreement among the annotators) are no emotion class: those rows
    are dropped, with one log line counting them per native label (rows with an empty
    ``EmoClass`` are counted there too, as ``(empty)``). The ``native_label`` column keeps the
    letter of every row kept.
Official partitions (``partition`` column, lower-case ``Split_Set``):
    ``train`` (training), ``development`` (validation: model selection, early stopping),
    ``test1`` (the main test set: segments of speakers not in train/development), ``test2``
    (segments drawn at random, without emotion retrieval, from podcasts used nowhere else) and,
    from v1.11, ``test3`` (a smaller set balanced over the primary emotions, used as the test
    set of the Odyssey 2024 challenge; where a copy's Test3 rows carry no ``EmoClass`` they
    are dropped and counted as ``(empty)``). Use them as given: train on ``train``, select on
    ``development``, report ``test1`` (and ``test2``/``test3`` separately, never pooled with
    ``test1``), and state the release version, since partitions grow between versions. The
    partitions are meant to be speaker-independent for known speakers. ``loso`` over thousands
    of speakers is impractical here; ``speaker_kfold`` is the alternative when the official
    split is not wanted.
Download:
    Not possible (license agreement, manual download only; see above).

Columns beyond the common schema: ``partition``, ``activation``, ``valence``, ``dominance``
(1-7), ``podcast`` (the 4-digit podcast id) and ``native_label``.
"""

from __future__ import annotations

import csv
import logging
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, Value

from sertune.data.corpora._template import CorpusTemplate, shown
from sertune.errors import CorpusFileError

logger = logging.getLogger(__name__)

NAME = "msp_podcast"
HOMEPAGE = "https://ecs.utdallas.edu/research/researchlabs/msp-lab/MSP-Podcast.html"

#: MSP-Podcast's ``EmoClass`` letters mapped to the common taxonomy.
NATIVE_TO_COMMON: dict[str, str] = {
    "A": "angry",
    "S": "sad",
    "H": "happy",
    "U": "surprise",
    "F": "fear",
    "D": "disgust",
    "N": "neutral",
}

#: Every ``EmoClass`` letter, with its meaning; C, O and X have no common label and are dropped.
NATIVE_LABELS: dict[str, str] = {
    "A": "anger",
    "S": "sadness",
    "H": "happiness",
    "U": "surprise",
    "F": "fear",
    "D": "disgust",
    "C": "contempt",
    "N": "neutral",
    "O": "other",
    "X": "no agreement",
}

#: ``Split_Set`` values -> the ``partition`` column.
PARTITIONS: dict[str, str] = {
    "Train": "train",
    "Development": "development",
    "Test1": "test1",
    "Test2": "test2",
    "Test3": "test3",
}

#: ``Gender`` values -> the common ``gender`` column.
GENDERS: dict[str, str] = {"Female": "female", "Male": "male", "Unknown": "unknown"}

#: The ``SpkrID`` of segments whose speaker is not identified.
UNKNOWN_SPEAKER = "Unknown"

LABELS_FILE = Path("Labels") / "labels_consensus.csv"
AUDIO_FOLDERS: tuple[str, ...] = ("Audios", "Audio")
REQUIRED_COLUMNS: tuple[str, ...] = (
    "FileName",
    "EmoClass",
    "EmoAct",
    "EmoVal",
    "EmoDom",
    "SpkrID",
    "Gender",
    "Split_Set",
)

_FILE_NAME = re.compile(
    r"^MSP-PODCAST_(?P<podcast>\d{4})_(?P<segment>\d{4})(?:_(?P<part>\d{4}))?\.wav$",
    re.IGNORECASE,
)
_EMPTY_LABEL = "(empty)"

CORPUS = CorpusTemplate(
    name=NAME,
    title="MSP-Podcast",
    native_to_common=NATIVE_TO_COMMON,
    extra_features={
        "partition": Value("string"),
        "activation": Value("float32"),
        "valence": Value("float32"),
        "dominance": Value("float32"),
        "podcast": Value("string"),
        "native_label": Value("string"),
    },
    expected_layout=(
        "expected the official MSP-Podcast layout: <data_dir>/Audios/MSP-PODCAST_0001_0008.wav "
        "... (or Audio/) and <data_dir>/Labels/labels_consensus.csv. MSP-Podcast cannot be "
        f"downloaded automatically: request it from {HOMEPAGE} (academic license agreement)"
    ),
    description="MSP-Podcast: natural English podcast speech, 100k+ segments, 8 emotions",
    homepage=HOMEPAGE,
    license="UT Dallas MSP-Podcast academic license agreement (no redistribution)",
)


@dataclass(frozen=True)
class MspPodcastName:
    """The fields of an MSP-Podcast file name such as ``MSP-PODCAST_0001_0008.wav``."""

    podcast: str
    segment: str
    #: The sub-segment number of newer releases' three-part names, else None.
    part: str | None


@dataclass(frozen=True)
class MspPodcastLabel:
    """One row of ``labels_consensus.csv``."""

    file_name: str
    name: MspPodcastName
    #: ``EmoClass``; empty when the row has none.
    native_label: str
    activation: float | None
    valence: float | None
    dominance: float | None
    #: ``SpkrID`` as written, e.g. ``"127"`` or ``"Unknown"``.
    speaker_id: str
    gender: str
    partition: str

    @property
    def stem(self) -> str:
        return Path(self.file_name).stem

    @property
    def speaker(self) -> str:
        """The speaker id used in the dataset: ``unknown-<stem>`` for unidentified speakers."""
        if self.speaker_id == UNKNOWN_SPEAKER:
            return f"unknown-{self.stem}"
        return self.speaker_id


def parse_filename(file_name: str) -> MspPodcastName:
    """Parse an MSP-Podcast file name such as ``MSP-PODCAST_0001_0008.wav``.

    Args:
        file_name: The base name (a path is accepted; only its last part is read).

    Raises:
        CorpusFileError: The name does not follow ``MSP-PODCAST_<pppp>_<ssss>[_<kkkk>].wav``;
            the message names the file.
    """
    match = _FILE_NAME.match(Path(file_name).name)
    if match is None:
        raise CorpusFileError(
            f"{file_name}: not an MSP-Podcast file name; expected "
            "MSP-PODCAST_<podcast>_<segment>[_<part>].wav with 4-digit numbers, e.g. "
            "MSP-PODCAST_0001_0008.wav"
        )
    return MspPodcastName(podcast=match["podcast"], segment=match["segment"], part=match["part"])


def _rating(value: str, column: str, where: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise CorpusFileError(f"{where}: {column} is not a number: {value!r}") from None


def read_labels(path: str | Path) -> list[MspPodcastLabel]:
    """Read ``labels_consensus.csv``, one :class:`MspPodcastLabel` per row.

    Args:
        path: The CSV file (UTF-8, a byte-order mark is accepted).

    Raises:
        CorpusFileError: A required column is missing (the message names the file and the
            column), or a row has an unparsable file name, an unknown ``EmoClass``,
            ``Split_Set`` or ``Gender``, a non-numeric rating, or repeats a file name (the
            message gives the file and line number).
    """
    path = Path(path)
    labels: list[MspPodcastLabel] = []
    seen: dict[str, int] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = [name.strip() for name in reader.fieldnames or []]
        for column in REQUIRED_COLUMNS:
            if column not in columns:
                raise CorpusFileError(
                    f"{path}: missing column {column!r}; found {columns}, expected "
                    f"{list(REQUIRED_COLUMNS)}"
                )
        reader.fieldnames = columns
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if any(row.get(column) is None for column in REQUIRED_COLUMNS):
                raise CorpusFileError(f"{where}: the row has fewer fields than the header")
            file_name = row["FileName"].strip()
            try:
                name = parse_filename(file_name)
            except CorpusFileError as error:
                raise CorpusFileError(f"{where}: {error}") from None
            if file_name in seen:
                raise CorpusFileError(f"{where}: {file_name} is also on line {seen[file_name]}")
            seen[file_name] = reader.line_num
            native_label = row["EmoClass"].strip()
            if native_label and native_label not in NATIVE_LABELS:
                raise CorpusFileError(
                    f"{where}: unknown EmoClass {native_label!r} for {file_name}; "
                    f"known: {list(NATIVE_LABELS)}"
                )
            split = row["Split_Set"].strip()
            if split not in PARTITIONS:
                raise CorpusFileError(
                    f"{where}: unknown Split_Set {split!r} for {file_name}; "
                    f"known: {list(PARTITIONS)}"
                )
            # An empty Gender says no more than "Unknown" does.
            gender = row["Gender"].strip().capitalize() or "Unknown"
            if gender not in GENDERS:
                raise CorpusFileError(
                    f"{where}: unknown Gender {row['Gender']!r} for {file_name}; "
                    f"known: {list(GENDERS)}"
                )
            speaker_id = row["SpkrID"].strip()
            if not speaker_id or speaker_id.lower() == UNKNOWN_SPEAKER.lower():
                speaker_id = UNKNOWN_SPEAKER
            labels.append(
                MspPodcastLabel(
                    file_name=file_name,
                    name=name,
                    native_label=native_label,
                    activation=_rating(row["EmoAct"], "EmoAct", where),
                    valence=_rating(row["EmoVal"], "EmoVal", where),
                    dominance=_rating(row["EmoDom"], "EmoDom", where),
                    speaker_id=speaker_id,
                    gender=GENDERS[gender],
                    partition=PARTITIONS[split],
                )
            )
    return labels


def check_layout(root: Path) -> tuple[Path, Path]:
    """Check that ``root`` is an MSP-Podcast folder; return its audio folder and label file.

    Raises:
        CorpusLayoutError: The folder, its ``Audios/`` (or ``Audio/``) folder or
            ``Labels/labels_consensus.csv`` is missing, or both audio folders exist; the
            message says which layout was expected.
    """
    CORPUS.require_folder(root)
    audio_dirs = [root / name for name in AUDIO_FOLDERS if (root / name).is_dir()]
    if not audio_dirs:
        hint = ""
        if root.name in AUDIO_FOLDERS or root.name == LABELS_FILE.parent.name:
            hint = f" (it looks like you gave the {root.name}/ folder itself; pass {root.parent})"
        raise CORPUS.layout_error(root, f"no Audios/ folder{hint}")
    if len(audio_dirs) > 1:
        raise CORPUS.layout_error(
            root, "both Audios/ and Audio/ exist; keep the one that holds the release's files"
        )
    labels_path = root / LABELS_FILE
    if not labels_path.is_file():
        raise CORPUS.layout_error(root, f"no {LABELS_FILE.as_posix()}")
    return audio_dirs[0], labels_path


def _warn_unmatched(
    labels: list[MspPodcastLabel],
    audio_by_stem: dict[str, Path],
    labels_path: Path,
    audio_dir: Path,
) -> None:
    """Warn about label rows without audio and audio files without a label row."""
    listed = {label.stem for label in labels}
    without_audio = [label.file_name for label in labels if label.stem not in audio_by_stem]
    if without_audio:
        logger.warning(
            "%s: %d rows of %s have no audio file in %s (not loaded): %s",
            NAME,
            len(without_audio),
            labels_path,
            audio_dir,
            shown(without_audio),
        )
    unlisted = [path.name for stem, path in audio_by_stem.items() if stem not in listed]
    if unlisted:
        logger.warning(
            "%s: %d audio files in %s have no row in %s (not used): %s",
            NAME,
            len(unlisted),
            audio_dir,
            labels_path,
            shown(unlisted),
        )


@CORPUS.register
def load_msp_podcast(data_dir: Path, *, download: bool = False) -> Dataset:
    """Load MSP-Podcast from its official layout (see the module docstring).

    Args:
        data_dir: The release folder holding ``Audios/`` and ``Labels/``.
        download: Not supported (license agreement); raises when set.

    Raises:
        ValueError: ``download=True``.
        CorpusLayoutError: ``data_dir`` is not an MSP-Podcast folder.
        CorpusFileError: ``labels_consensus.csv`` misses a column or has a bad row.
    """
    if download:
        raise ValueError(CORPUS.download_refusal())
    audio_dir, labels_path = check_layout(Path(data_dir))
    audio_files = CORPUS.scan(audio_dir, recursive=False)
    if not audio_files:
        raise CORPUS.layout_error(audio_dir, "no .wav files found")
    audio_by_stem: dict[str, Path] = {}
    for path in audio_files:
        if path.stem in audio_by_stem:
            raise CorpusFileError(f"{path}: {path.stem} is also {audio_by_stem[path.stem]}")
        audio_by_stem[path.stem] = path
    labels = read_labels(labels_path)

    _warn_unmatched(labels, audio_by_stem, labels_path, audio_dir)

    rows = []
    dropped: Counter[str] = Counter()
    for label in labels:
        path = audio_by_stem.get(label.stem)
        if path is None:
            continue
        common = NATIVE_TO_COMMON.get(label.native_label)
        if common is None:
            dropped[label.native_label or _EMPTY_LABEL] += 1
            continue
        rows.append(
            {
                "id": label.stem,
                "path": path,
                "label": common,
                "speaker": label.speaker,
                "gender": label.gender,
                "partition": label.partition,
                "activation": label.activation,
                "valence": label.valence,
                "dominance": label.dominance,
                "podcast": label.name.podcast,
                "native_label": label.native_label,
            }
        )
    if dropped:
        logger.info(
            "%s: dropped %d of %d rows whose EmoClass has no common label "
            "(C contempt, O other, X no agreement): %s",
            NAME,
            sum(dropped.values()),
            sum(dropped.values()) + len(rows),
            dict(sorted(dropped.items())),
        )
    return CORPUS.dataset(rows, None)
