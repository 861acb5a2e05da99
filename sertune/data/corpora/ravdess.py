"""RAVDESS: the Ryerson Audio-Visual Database of Emotional Speech and Song.

Origin:
    Recorded at Ryerson University (Toronto): 24 professional actors (12 female, 12 male)
    vocalise two lexically matched statements in a neutral North American accent, spoken and
    sung. Speech covers calm, happy, sad, angry, fearful, surprise and disgust; song covers calm,
    happy, sad, angry and fearful; each is produced at two intensities (normal, strong), plus a
    neutral expression (normal intensity only). Every trial was recorded twice (repetitions) and
    released in three modalities (audio-video, video-only, audio-only): 7356 files. This loader
    reads the audio-only files: 1440 speech and 1012 song files.
Citation:
    S. R. Livingstone, F. A. Russo, "The Ryerson Audio-Visual Database of Emotional Speech and
    Song (RAVDESS): A dynamic, multimodal set of facial and vocal expressions in North American
    English", PLoS ONE 13(5): e0196391, 2018. Data: Zenodo, doi:10.5281/zenodo.1188976.
License:
    CC BY-NC-SA 4.0 (non-commercial use, share alike).
Speakers:
    Actors 01 to 24; odd-numbered actors are male, even-numbered actors female. The ``speaker``
    column holds the two-digit actor number (``"01"`` ... ``"24"``). Actor 18 recorded no song:
    song has 23 speakers.
Audio:
    48 kHz, 16-bit WAV, about 3 to 5 s per file.
Layout as distributed (``Audio_Speech_Actors_01-24.zip``, ``Audio_Song_Actors_01-24.zip``)::

    Actor_01/03-01-01-01-01-01-01.wav ... Actor_24/...   speech: 24 actors x 60 = 1440 files
    Actor_01/03-02-01-01-01-01-01.wav ... Actor_24/...   song: 23 actors x 44 = 1012 files

    Both archives hold top-level ``Actor_NN/`` folders. ``data_dir`` may hold them directly
    (both archives unzipped into one folder, so an actor folder holds speech and song), or
    below sub-folders (e.g. ``Audio_Speech_Actors_01-24/Actor_01/...``, which is where
    ``download=True`` puts them); the ``.wav`` files are found recursively. A file name met
    twice (copies that hold a merged tree and an unzipped one side by side) is read once, with a
    warning; two different files under one name are an error.

File-name grammar ``MM-VV-EE-II-SS-RR-AA.wav`` (seven two-digit fields):
    ``MM`` modality (01 audio-video, 02 video-only, 03 audio-only: only 03 is expected here),
    ``VV`` vocal channel (01 speech, 02 song), ``EE`` emotion (see below), ``II`` intensity
    (01 normal, 02 strong; neutral has no strong), ``SS`` statement (01 "Kids are talking by
    the door", 02 "Dogs are sitting by the door"), ``RR`` repetition (01, 02), ``AA`` actor
    (01-24). Song has no disgust (07) or surprised (08). Any other value is an error naming the
    file.
Native labels and the common taxonomy (:data:`EMOTION_CODES`, :data:`NATIVE_TO_COMMON`):
    01 neutral -> neutral, 02 calm -> calm, 03 happy -> happy, 04 sad -> sad, 05 angry ->
    angry, 06 fearful -> fear, 07 disgust -> disgust, 08 surprised -> surprise.
    Counts in speech: neutral 96, each other emotion 192. In song: neutral 92, calm, happy,
    sad, angry and fearful 184 each. Calm is RAVDESS's own category (close to neutral); many
    papers merge it into neutral, which ``labels={"neutral": "neutral", "calm": "neutral",
    ...}`` does, or drop it with ``labels=[...]``.
Official partitions:
    None. Use a speaker-independent protocol (``loso`` or ``speaker_kfold`` over the actors).
Download:
    ``download=True`` fetches the audio-only archive of each vocal channel asked for from
    Zenodo (``https://zenodo.org/records/1188976/files/Audio_Speech_Actors_01-24.zip`` and
    ``.../Audio_Song_Actors_01-24.zip``, about 200 MB each) into
    ``data_dir/Audio_Speech_Actors_01-24/`` and ``data_dir/Audio_Song_Actors_01-24/``, unless
    files of that channel are already present. Zenodo publishes MD5 sums only, so the extracted
    layout is verified instead (the ``Actor_NN`` folders and 1440 speech or 1012 song files).
    Pass ``speech_url=`` / ``song_url=`` for a mirror.

Options:
    ``vocal_channel``: ``"speech"`` (default), ``"song"`` or ``"both"``. Files of a channel not
    asked for are skipped with an info log line.

Columns beyond the common schema: ``vocal_channel`` (``"speech"``/``"song"``), ``intensity``
(``"normal"``/``"strong"``), ``statement`` (``"01"``/``"02"``), ``text`` (the statement),
``repetition`` (1, 2) and ``native_label`` (the RAVDESS emotion name, e.g. ``"fearful"``).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, Value

from sertune.data.corpora._template import (
    WAV_SUFFIXES,
    CorpusTemplate,
    ParsedName,
    drop_repeated_copies,
)
from sertune.errors import CorpusFileError

logger = logging.getLogger(__name__)

NAME = "ravdess"
SPEECH_URL = "https://zenodo.org/records/1188976/files/Audio_Speech_Actors_01-24.zip"
SONG_URL = "https://zenodo.org/records/1188976/files/Audio_Song_Actors_01-24.zip"

#: Vocal-channel code in the file name -> channel name.
VOCAL_CHANNELS: dict[str, str] = {"01": "speech", "02": "song"}
#: Where ``download=True`` unpacks each channel's archive, below ``data_dir``.
ARCHIVE_FOLDERS: dict[str, str] = {
    "speech": "Audio_Speech_Actors_01-24",
    "song": "Audio_Song_Actors_01-24",
}
#: Audio-only files of a complete copy, per channel.
NUM_FILES: dict[str, int] = {"speech": 1440, "song": 1012}

#: Emotion code in the file name -> RAVDESS's name for it (the native label).
EMOTION_CODES: dict[str, str] = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgust",
    "08": "surprised",
}

#: RAVDESS emotions mapped to the common taxonomy.
NATIVE_TO_COMMON: dict[str, str] = {
    "neutral": "neutral",
    "calm": "calm",
    "happy": "happy",
    "sad": "sad",
    "angry": "angry",
    "fearful": "fear",
    "disgust": "disgust",
    "surprised": "surprise",
}

#: Emotions that song does not have.
NOT_IN_SONG: frozenset[str] = frozenset({"disgust", "surprised"})

INTENSITIES: dict[str, str] = {"01": "normal", "02": "strong"}

STATEMENTS: dict[str, str] = {
    "01": "Kids are talking by the door",
    "02": "Dogs are sitting by the door",
}

MODALITIES: dict[str, str] = {"01": "audio-video", "02": "video-only", "03": "audio-only"}

ACTORS: tuple[str, ...] = tuple(f"{number:02d}" for number in range(1, 25))

_FILE_NAME = re.compile(
    r"^(?P<modality>\d{2})-(?P<channel>\d{2})-(?P<emotion>\d{2})-(?P<intensity>\d{2})"
    r"-(?P<statement>\d{2})-(?P<repetition>\d{2})-(?P<actor>\d{2})(?i:\.wav)$"
)
_ACTOR_FOLDER = re.compile(r"^Actor_(?P<actor>\d{2})$")

CORPUS = CorpusTemplate(
    name=NAME,
    title="RAVDESS",
    native_to_common=NATIVE_TO_COMMON,
    extra_features={
        "vocal_channel": Value("string"),
        "intensity": Value("string"),
        "statement": Value("string"),
        "text": Value("string"),
        "repetition": Value("int32"),
        "native_label": Value("string"),
    },
    expected_layout=(
        "expected the RAVDESS audio-only layout: <data_dir>/Actor_01/03-01-05-01-02-01-01.wav "
        "... (Audio_Speech_Actors_01-24.zip and/or Audio_Song_Actors_01-24.zip from "
        "https://zenodo.org/records/1188976 unzipped into data_dir, directly or into "
        "sub-folders)"
    ),
    description="Ryerson Audio-Visual Database of Emotional Speech and Song: 24 actors, "
    "8 emotions, 1440 speech + 1012 song audio files",
    homepage="https://zenodo.org/records/1188976",
    license="CC-BY-NC-SA-4.0",
    downloadable=True,
)


@dataclass(frozen=True)
class RavdessName(ParsedName):
    """The fields of a RAVDESS audio-only file name."""

    native_to_common = NATIVE_TO_COMMON

    vocal_channel: str
    native_label: str
    intensity: str
    statement: str
    repetition: int
    actor: str

    @property
    def gender(self) -> str:
        """Odd-numbered actors are male, even-numbered actors female."""
        return "male" if int(self.actor) % 2 else "female"


def parse_filename(file_name: str) -> RavdessName:
    """Parse a RAVDESS audio-only file name such as ``03-01-05-01-02-01-12.wav``.

    Args:
        file_name: The base name (a path is accepted; only its last part is read).

    Raises:
        CorpusFileError: The name does not have seven two-digit fields, is not an audio-only
            file (modality 03), or holds an unknown or impossible value (song with disgust or
            surprised, neutral at strong intensity); the message names the file.
    """
    base = Path(file_name).name
    match = _FILE_NAME.match(base)
    if match is None:
        raise CorpusFileError(
            f"{file_name}: not a RAVDESS file name; expected MM-VV-EE-II-SS-RR-AA.wav, e.g. "
            "03-01-05-01-02-01-12.wav (modality, vocal channel, emotion, intensity, statement, "
            "repetition, actor)"
        )
    fields = match.groupdict()

    def check(field: str, known: Collection[str]) -> None:
        if fields[field] not in known:
            raise CorpusFileError(
                f"{file_name}: unknown RAVDESS {field} code {fields[field]!r}; "
                f"known: {sorted(known)}"
            )

    check("modality", MODALITIES)
    if fields["modality"] != "03":
        raise CorpusFileError(
            f"{file_name}: modality {fields['modality']} ({MODALITIES[fields['modality']]}) is "
            "not audio-only; only audio-only files (03-...) are read"
        )
    check("channel", VOCAL_CHANNELS)
    check("emotion", EMOTION_CODES)
    check("intensity", INTENSITIES)
    check("statement", STATEMENTS)
    check("repetition", ("01", "02"))
    check("actor", ACTORS)
    channel = VOCAL_CHANNELS[fields["channel"]]
    emotion = EMOTION_CODES[fields["emotion"]]
    intensity = INTENSITIES[fields["intensity"]]
    if channel == "song" and emotion in NOT_IN_SONG:
        raise CorpusFileError(f"{file_name}: RAVDESS song has no {emotion} ({fields['emotion']})")
    if emotion == "neutral" and intensity == "strong":
        raise CorpusFileError(f"{file_name}: RAVDESS neutral has no strong intensity (02)")
    return RavdessName(
        vocal_channel=channel,
        native_label=emotion,
        intensity=intensity,
        statement=fields["statement"],
        repetition=int(fields["repetition"]),
        actor=fields["actor"],
    )


def _vocal_channels(vocal_channel: str) -> tuple[str, ...]:
    choices = {"speech": ("speech",), "song": ("song",), "both": ("speech", "song")}
    if vocal_channel not in choices:
        raise ValueError(f"vocal_channel must be 'speech', 'song' or 'both', got {vocal_channel!r}")
    return choices[vocal_channel]


def check_layout(root: Path) -> list[Path]:
    """Check that ``root`` holds RAVDESS ``Actor_NN`` folders and return them, sorted.

    Raises:
        CorpusLayoutError: The folder does not exist, holds no ``Actor_NN`` folder, or is one
            itself; the message says which layout was expected.
    """
    CORPUS.require_folder(root)
    if _ACTOR_FOLDER.match(root.name):
        raise CORPUS.layout_error(
            root,
            "this is one actor's folder; pass the folder that holds the Actor_NN folders "
            f"({root.parent})",
        )
    folders = sorted(
        path for path in root.rglob("Actor_*") if path.is_dir() and _ACTOR_FOLDER.match(path.name)
    )
    if not folders:
        zips = sorted(p.name for p in root.glob("*.zip"))
        hint = f" (found {zips}: unzip them first)" if zips else ""
        raise CORPUS.layout_error(root, f"no Actor_NN folder{hint}")
    return folders


def _count_channel_files(root: Path, channel: str) -> int:
    code = {name: code for code, name in VOCAL_CHANNELS.items()}[channel]
    return sum(
        1
        for path in root.rglob(f"03-{code}-*")
        if path.suffix.lower() in WAV_SUFFIXES and _FILE_NAME.match(path.name)
    )


def check_archive_folder(folder: Path, channel: str) -> None:
    """Verify a freshly unpacked archive: ``Actor_NN`` folders and the full file count.

    Args:
        folder: Where the archive was unpacked.
        channel: ``"speech"`` or ``"song"``.

    Raises:
        CorpusLayoutError: No ``Actor_NN`` folder, or not exactly :data:`NUM_FILES` files of
            the channel.
    """
    folder = Path(folder)
    check_layout(folder)
    found = _count_channel_files(folder, channel)
    if found != NUM_FILES[channel]:
        raise CORPUS.layout_error(
            folder, f"found {found} {channel} .wav files, expected {NUM_FILES[channel]}"
        )


def _download(data_dir: Path, channels: tuple[str, ...], urls: dict[str, str]) -> None:
    """Fetch the archive of each channel whose files are missing from ``data_dir``."""
    for channel in channels:
        if data_dir.is_dir() and _count_channel_files(data_dir, channel):
            continue
        CORPUS.fetch(
            urls[channel],
            data_dir / ARCHIVE_FOLDERS[channel],
            verify=lambda folder, channel=channel: check_archive_folder(folder, channel),
            what=f" {channel}",
        )


def _row(path: Path, name: RavdessName) -> dict:
    return {
        "id": path.stem,
        "path": path,
        "label": name.label,
        "speaker": name.actor,
        "gender": name.gender,
        "vocal_channel": name.vocal_channel,
        "intensity": name.intensity,
        "statement": name.statement,
        "text": STATEMENTS[name.statement],
        "repetition": name.repetition,
        "native_label": name.native_label,
    }


@CORPUS.register
def load_ravdess(
    data_dir: Path,
    *,
    download: bool = False,
    vocal_channel: str = "speech",
    speech_url: str = SPEECH_URL,
    song_url: str = SONG_URL,
) -> Dataset:
    """Load RAVDESS's audio-only files (see the module docstring).

    Args:
        data_dir: The folder holding the ``Actor_NN`` folders (directly or below sub-folders).
        download: Download and unpack the Zenodo archive of each channel asked for whose files
            are missing from ``data_dir``.
        vocal_channel: ``"speech"``, ``"song"`` or ``"both"``.
        speech_url: Address of ``Audio_Speech_Actors_01-24.zip`` (override for a mirror).
        song_url: Address of ``Audio_Song_Actors_01-24.zip`` (override for a mirror).

    Raises:
        ValueError: ``vocal_channel`` is not one of the three choices.
        CorpusLayoutError: ``data_dir`` holds no RAVDESS layout or no file of the channel asked
            for.
        CorpusFileError: A ``.wav`` file's name does not parse, lies in another actor's folder,
            or two different files share a name.
    """
    channels = _vocal_channels(vocal_channel)
    data_dir = Path(data_dir)
    if download:
        _download(data_dir, channels, {"speech": speech_url, "song": song_url})
    check_layout(data_dir)

    audio_files = drop_repeated_copies(
        CORPUS.scan(data_dir, recursive=True),
        path_of=Path,
        key_of=lambda path: path.name.lower(),
        root=data_dir,
        corpus=NAME,
        what="file",
        same="name",
    )

    rows = []
    skipped: Counter = Counter()
    for path in audio_files:
        name = parse_filename(str(path))
        folder = _ACTOR_FOLDER.match(path.parent.name)
        if folder is not None and folder["actor"] != name.actor:
            raise CorpusFileError(
                f"{path}: actor {name.actor} in the file name but the file is in "
                f"{path.parent.name}/"
            )
        if name.vocal_channel not in channels:
            skipped[name.vocal_channel] += 1
            continue
        rows.append(_row(path, name))
    if skipped:
        logger.info(
            "%s: vocal_channel=%r skips %s files of the other channel",
            NAME,
            vocal_channel,
            dict(skipped),
        )
    if not rows:
        hint = ""
        if skipped:
            other = next(iter(skipped))
            hint = f" (found {skipped[other]} {other} files: pass vocal_channel={other!r})"
        raise CORPUS.layout_error(data_dir, f"no RAVDESS {' or '.join(channels)} .wav files{hint}")

    natives = [e for e in EMOTION_CODES.values() if "speech" in channels or e not in NOT_IN_SONG]
    return CORPUS.dataset(
        rows, None, label_names=sorted({NATIVE_TO_COMMON[native] for native in natives})
    )
