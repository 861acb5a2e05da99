"""CREMA-D: the Crowd-sourced Emotional Multimodal Actors Dataset.

Origin:
    Recorded for the University of Pennsylvania's emotion research (Gur lab): 91 actors (48 male,
    43 female, aged 20 to 74, of several races and ethnicities) speak 12 sentences in six
    emotions; one sentence (IEO) was also spoken at three intensity levels. 7442 clips, rated
    by 2443 crowd-sourced raters in audio-only, video-only and audio-visual conditions.
Citation:
    H. Cao, D. G. Cooper, M. K. Keutmann, R. C. Gur, A. Nenkova, R. Verma, "CREMA-D:
    Crowd-sourced Emotional Multimodal Actors Dataset", IEEE Transactions on Affective
    Computing 5(4), pp. 377-390, 2014.
License:
    Open Database License (ODbL 1.0) for the database; the individual contents under the
    Database Contents License (DbCL 1.0).
Speakers:
    Actor ids 1001 to 1091 (the ``speaker`` column, as a string). Gender, age, race and
    ethnicity come from ``VideoDemographics.csv`` (columns ``ActorID, Age, Sex, Race,
    Ethnicity``; Sex is ``Male``/``Female``, Race ``African American``, ``Asian``,
    ``Caucasian`` or ``Unknown``, Ethnicity ``Hispanic``/``Not Hispanic``). Without that file
    gender is ``"unknown"`` (one warning says so) and there are no age/race/ethnicity columns.
Audio:
    ``AudioWAV/``: 16 kHz, 16-bit mono WAV, 1 to 5 s (``AudioMP3/`` and the video folders are
    not read).
Layout as distributed (the git repository ``CheyneyComputerScience/CREMA-D``)::

    <data_dir>/AudioWAV/1001_DFA_ANG_XX.wav ...   7442 clips
    <data_dir>/VideoDemographics.csv              actor demographics (optional here)
    <data_dir>/AudioMP3/ VideoFlash/ processedResults/ finished*.csv ...   not read

File-name grammar ``AAAA_SSS_EEE_II.wav``:
    ``AAAA`` actor id (1001-1091), ``SSS`` sentence (:data:`SENTENCES`), ``EEE`` emotion,
    ``II`` intensity (``LO`` low, ``MD`` medium, ``HI`` high, ``XX`` unspecified; only IEO
    was recorded at LO/MD/HI). Copies made before October 2022 hold ``1040_ITH_SAD_X.wav``
    (one X; renamed upstream to ``..._XX``): a lone ``X`` is read as ``XX`` and the row id
    spelled with ``XX``.
Native labels and the common taxonomy (:data:`NATIVE_TO_COMMON`):
    ANG -> angry, DIS -> disgust, FEA -> fear, HAP (happy/joy) -> happy, NEU -> neutral,
    SAD -> sad. Counts in the 7442 clips: 1271 each for ANG, DIS, FEA, HAP and SAD, 1087 NEU.
    Labels are the emotion the actor was asked to portray; the crowd ratings
    (``processedResults/``) are not read.
Official partitions:
    None. Use a speaker-independent protocol (``speaker_kfold`` over the 91 actors is the
    usual one; ``loso`` gives 91 folds).
Download:
    Not possible: the audio is stored with git-lfs and there is no archive of it (the
    repository's zip download holds text stubs instead of audio). Clone it with git-lfs
    installed, e.g. ``git lfs install; git clone
    https://github.com/CheyneyComputerScience/CREMA-D.git`` (about 7.5 GB with the videos;
    ``GIT_LFS_SKIP_SMUDGE=1 git clone ...`` then ``git lfs pull --include "AudioWAV/*"``
    fetches the audio only), or use the GitLab mirror
    https://gitlab.com/cs-cooper-lab/crema-d-mirror. Pass the clone as ``data_dir``. Stubs
    left by a clone without git-lfs are detected and reported.

Columns beyond the common schema: ``sentence`` (the code, e.g. ``"DFA"``), ``text`` (the
sentence), ``intensity`` (``"low"``, ``"medium"``, ``"high"``, ``"unspecified"``),
``native_label``, and, when ``VideoDemographics.csv`` is present, ``age``, ``race`` and
``ethnicity``.
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, Value

from sertune.data.corpora._template import CorpusTemplate, ParsedName
from sertune.errors import CorpusFileError, CorpusLayoutError

logger = logging.getLogger(__name__)

NAME = "cremad"
REPOSITORY_URL = "https://github.com/CheyneyComputerScience/CREMA-D"
MIRROR_URL = "https://gitlab.com/cs-cooper-lab/crema-d-mirror"
NUM_CLIPS = 7442
DEMOGRAPHICS_FILE = "VideoDemographics.csv"

#: CREMA-D's emotion codes mapped to the common taxonomy.
NATIVE_TO_COMMON: dict[str, str] = {
    "ANG": "angry",
    "DIS": "disgust",
    "FEA": "fear",
    "HAP": "happy",
    "NEU": "neutral",
    "SAD": "sad",
}

#: Sentence code -> the sentence spoken.
SENTENCES: dict[str, str] = {
    "IEO": "It's eleven o'clock",
    "TIE": "That is exactly what happened",
    "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about",
    "TAI": "The airplane is almost full",
    "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock",
    "ITH": "I think I have a doctor's appointment",
    "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before",
    "TSI": "The surface is slick",
    "WSI": "We'll stop in a couple of minutes",
}

#: Intensity code -> its name.
INTENSITIES: dict[str, str] = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}

#: Old spellings of intensity codes: ``1040_ITH_SAD_X.wav`` in copies made before Oct. 2022.
LEGACY_INTENSITIES: dict[str, str] = {"X": "XX"}

ACTOR_IDS: range = range(1001, 1092)

#: Columns present when ``VideoDemographics.csv`` is.
DEMOGRAPHIC_FEATURES = {
    "age": Value("int32"),
    "race": Value("string"),
    "ethnicity": Value("string"),
}

_FILE_NAME = re.compile(
    r"^(?P<actor>\d{4})_(?P<sentence>[A-Z]{3})_(?P<emotion>[A-Z]{3})_(?P<intensity>[A-Z]{1,2})"
    r"(?i:\.wav)$"
)
_DEMOGRAPHIC_COLUMNS = ("ActorID", "Age", "Sex", "Race", "Ethnicity")
_SEXES = {"Male": "male", "Female": "female"}
_LFS_POINTER_PREFIX = b"version https://git-lfs"

CORPUS = CorpusTemplate(
    name=NAME,
    title="CREMA-D",
    native_to_common=NATIVE_TO_COMMON,
    extra_features={
        "sentence": Value("string"),
        "text": Value("string"),
        "intensity": Value("string"),
        "native_label": Value("string"),
    },
    expected_layout=(
        "expected the CREMA-D repository layout: <data_dir>/AudioWAV/AAAA_SSS_EEE_II.wav "
        "(e.g. AudioWAV/1001_DFA_ANG_XX.wav), optionally with <data_dir>/VideoDemographics.csv. "
        "CREMA-D cannot be downloaded automatically (its audio is stored with git-lfs): run "
        f"'git lfs install' then 'git clone {REPOSITORY_URL}.git' (or the mirror {MIRROR_URL}) "
        "and pass the clone as data_dir"
    ),
    description="Crowd-sourced Emotional Multimodal Actors Dataset: 91 actors, 6 emotions, "
    "7442 clips",
    homepage=REPOSITORY_URL,
    license="ODbL-1.0 (database), DbCL-1.0 (contents)",
)


@dataclass(frozen=True)
class CremadName(ParsedName):
    """The fields of a CREMA-D file name."""

    native_to_common = NATIVE_TO_COMMON

    actor: str
    sentence: str
    native_label: str
    intensity: str

    @property
    def clip_id(self) -> str:
        """The clip's name without suffix, with the intensity code as it is spelled today."""
        return f"{self.actor}_{self.sentence}_{self.native_label}_{self.intensity}"


@dataclass(frozen=True)
class CremadActor:
    """One row of ``VideoDemographics.csv``."""

    gender: str
    age: int
    race: str
    ethnicity: str


def parse_filename(file_name: str) -> CremadName:
    """Parse a CREMA-D file name such as ``1001_DFA_ANG_XX.wav``.

    Args:
        file_name: The base name (a path is accepted; only its last part is read).

    Raises:
        CorpusFileError: The name does not follow ``AAAA_SSS_EEE_II.wav`` or names an unknown
            actor, sentence, emotion or intensity; the message names the file.
    """
    base = Path(file_name).name
    match = _FILE_NAME.match(base)
    if match is None:
        raise CorpusFileError(
            f"{file_name}: not a CREMA-D file name; expected AAAA_SSS_EEE_II.wav, e.g. "
            "1001_DFA_ANG_XX.wav (actor, sentence, emotion, intensity)"
        )
    actor, sentence = match["actor"], match["sentence"]
    emotion = match["emotion"]
    intensity = LEGACY_INTENSITIES.get(match["intensity"], match["intensity"])
    if int(actor) not in ACTOR_IDS:
        raise CorpusFileError(
            f"{file_name}: unknown CREMA-D actor {actor!r}; actors are "
            f"{ACTOR_IDS.start}-{ACTOR_IDS.stop - 1}"
        )
    if sentence not in SENTENCES:
        raise CorpusFileError(
            f"{file_name}: unknown CREMA-D sentence {sentence!r}; known: {sorted(SENTENCES)}"
        )
    if emotion not in NATIVE_TO_COMMON:
        raise CorpusFileError(
            f"{file_name}: unknown CREMA-D emotion {emotion!r}; known: {sorted(NATIVE_TO_COMMON)}"
        )
    if intensity not in INTENSITIES:
        raise CorpusFileError(
            f"{file_name}: unknown CREMA-D intensity {match['intensity']!r}; "
            f"known: {sorted(INTENSITIES)}"
        )
    return CremadName(actor=actor, sentence=sentence, native_label=emotion, intensity=intensity)


def read_demographics(path: str | Path) -> dict[str, CremadActor]:
    """Read ``VideoDemographics.csv``: actor id -> gender, age, race, ethnicity.

    Raises:
        CorpusFileError: A column is missing, or a row has a bad actor id, age or sex (the
            message gives the line number).
    """
    path = Path(path)
    actors: dict[str, CremadActor] = {}
    with open(path, newline="", encoding="utf-8-sig") as file:
        reader = csv.DictReader(file)
        missing = [c for c in _DEMOGRAPHIC_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise CorpusFileError(
                f"{path}: missing columns {missing}; expected {list(_DEMOGRAPHIC_COLUMNS)}, "
                f"found {reader.fieldnames}"
            )
        for row in reader:
            line = reader.line_num
            actor, sex = row["ActorID"].strip(), row["Sex"].strip()
            if not actor.isdigit() or int(actor) not in ACTOR_IDS:
                raise CorpusFileError(f"{path}:{line}: bad ActorID {row['ActorID']!r}")
            if sex not in _SEXES:
                raise CorpusFileError(
                    f"{path}:{line}: Sex is {row['Sex']!r}, expected one of {sorted(_SEXES)}"
                )
            try:
                age = int(row["Age"])
            except ValueError:
                raise CorpusFileError(
                    f"{path}:{line}: Age {row['Age']!r} is not a number"
                ) from None
            actors[actor] = CremadActor(
                gender=_SEXES[sex],
                age=age,
                race=row["Race"].strip(),
                ethnicity=row["Ethnicity"].strip(),
            )
    return actors


def check_layout(root: Path) -> Path:
    """Check that ``root`` is a CREMA-D folder and return its ``AudioWAV/`` folder.

    Raises:
        CorpusLayoutError: The folder or its ``AudioWAV/`` subfolder is missing; the message
            says which layout was expected and how to obtain the corpus.
    """
    CORPUS.require_folder(root)
    wav_dir = root / "AudioWAV"
    if not wav_dir.is_dir():
        hint = ""
        if root.name == "AudioWAV" or any(_FILE_NAME.match(p.name) for p in root.iterdir()):
            hint = f" (it looks like you gave the AudioWAV/ folder itself; pass {root.parent})"
        elif (root / "data" / "AudioWAV").is_dir():
            hint = f" (found data/AudioWAV/: pass {root / 'data'})"
        raise CORPUS.layout_error(root, f"no AudioWAV/ folder{hint}")
    return wav_dir


def _check_not_lfs_pointers(files: list[Path], wav_dir: Path) -> None:
    """Refuse git-lfs pointer stubs (a clone made without git-lfs, or GitHub's zip download)."""
    stubs = []
    for path in files:
        if path.stat().st_size < 1024:
            with open(path, "rb") as file:
                if file.read(len(_LFS_POINTER_PREFIX)) == _LFS_POINTER_PREFIX:
                    stubs.append(path.name)
    if stubs:
        raise CorpusLayoutError(
            f"{wav_dir}: {len(stubs)} of {len(files)} .wav files are git-lfs pointer stubs, not "
            f"audio (e.g. {stubs[0]}); the repository was fetched without git-lfs. Inside the "
            'clone run: git lfs install && git lfs pull --include "AudioWAV/*"'
        )


def _row(path: Path, name: CremadName, actor: CremadActor | None) -> dict:
    row = {
        "id": name.clip_id,
        "path": path,
        "label": name.label,
        "speaker": name.actor,
        "gender": "unknown",
        "sentence": name.sentence,
        "text": SENTENCES[name.sentence],
        "intensity": INTENSITIES[name.intensity],
        "native_label": name.native_label,
    }
    if actor is not None:
        row.update(gender=actor.gender, age=actor.age, race=actor.race, ethnicity=actor.ethnicity)
    return row


@CORPUS.register
def load_cremad(data_dir: Path, *, download: bool = False) -> Dataset:
    """Load CREMA-D from its repository layout (see the module docstring).

    Args:
        data_dir: The repository clone, holding ``AudioWAV/`` and ``VideoDemographics.csv``.
        download: Not supported; a missing corpus raises an error saying how to get it.

    Raises:
        CorpusLayoutError: ``data_dir`` is not a CREMA-D folder, or holds git-lfs stubs.
        CorpusFileError: A ``.wav`` name does not parse, its actor is missing from
            ``VideoDemographics.csv``, or that file is malformed.
    """
    data_dir = Path(data_dir)
    wav_dir = check_layout(data_dir)
    audio_files = CORPUS.scan(wav_dir, recursive=False)
    _check_not_lfs_pointers(audio_files, wav_dir)

    demographics_file = data_dir / DEMOGRAPHICS_FILE
    demographics = read_demographics(demographics_file) if demographics_file.is_file() else None
    if demographics is None:
        logger.warning(
            "%s: %s not found: gender is 'unknown' for every clip and there are no age, race "
            "or ethnicity columns",
            NAME,
            demographics_file,
        )

    rows = []
    seen: dict[str, Path] = {}
    for path in audio_files:
        name = parse_filename(str(path))
        actor = None if demographics is None else demographics.get(name.actor)
        if demographics is not None and actor is None:
            raise CorpusFileError(
                f"{path}: actor {name.actor} is not listed in {demographics_file}"
            )
        if name.clip_id in seen:
            raise CorpusFileError(
                f"{path}: the same clip as {seen[name.clip_id]} (an old and a new spelling of "
                "one name); remove one of them"
            )
        seen[name.clip_id] = path
        rows.append(_row(path, name, actor))
    more_features = None if demographics is None else DEMOGRAPHIC_FEATURES
    return CORPUS.dataset(rows, wav_dir, more_features=more_features)
