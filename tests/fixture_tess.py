"""Write a small TESS copy, flat (as on Borealis) or in the usual folder-per-emotion layout."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf

from corpus_fixtures import tone

#: Folder names of the widely used copy, casing quirks included.
TESS_FOLDERS = {
    ("OAF", "angry"): "OAF_angry",
    ("OAF", "disgust"): "OAF_disgust",
    ("OAF", "fear"): "OAF_Fear",
    ("OAF", "happy"): "OAF_happy",
    ("OAF", "neutral"): "OAF_neutral",
    ("OAF", "ps"): "OAF_Pleasant_surprise",
    ("OAF", "sad"): "OAF_Sad",
    ("YAF", "angry"): "YAF_angry",
    ("YAF", "disgust"): "YAF_disgust",
    ("YAF", "fear"): "YAF_fear",
    ("YAF", "happy"): "YAF_happy",
    ("YAF", "neutral"): "YAF_neutral",
    ("YAF", "ps"): "YAF_pleasant_surprised",
    ("YAF", "sad"): "YAF_sad",
}
TESS_PITCH_HZ = {
    "angry": 310.0,
    "disgust": 170.0,
    "fear": 260.0,
    "happy": 230.0,
    "neutral": 150.0,
    "ps": 290.0,
    "sad": 130.0,
}
#: The wrapper folder of the widely used copy.
TESS_WRAPPER = "TESS Toronto emotional speech set data"


def tess_names(words=("back", "chalk", "youth"), speakers=("OAF", "YAF")) -> list[str]:
    """Real TESS names: every speaker x word x emotion, pleasant surprise spelled ``ps``."""
    return [
        f"{speaker}_{word}_{emotion}.wav"
        for speaker in speakers
        for word in words
        for emotion in TESS_PITCH_HZ
    ]


def write_tess(
    root: Path,
    names: list[str] | None = None,
    *,
    layout: str = "folders",
    seconds: float = 0.3,
    sampling_rate: int = 24_414,
    with_quirks: bool = True,
) -> Path:
    """Write TESS files under ``root`` and return ``root``.

    Args:
        root: Corpus root.
        names: File names (default: :func:`tess_names`).
        layout: ``"folders"``: ``root/TESS Toronto emotional speech set data/OAF_Fear/...``;
            ``"flat"``: every file directly in ``root``, as the Borealis release lists them.
        seconds: Duration of each file.
        sampling_rate: TESS is 24,414 Hz.
        with_quirks: Spell one pleasant surprise ``_pleasant_surprise``, give one file an
            upper-case ``.WAV``, write one file in stereo, and leave a ``Thumbs.db``.
    """
    names = list(names or tess_names())
    if with_quirks:
        names = [
            name.replace("OAF_youth_ps", "OAF_youth_pleasant_surprise").replace(
                "YAF_chalk_happy.wav", "YAF_chalk_happy.WAV"
            )
            for name in names
        ]
    for index, name in enumerate(names):
        speaker, _, emotion = name[:-4].split("_", 2)
        emotion = "ps" if emotion == "pleasant_surprise" else emotion
        folder = root
        if layout == "folders":
            folder = root / TESS_WRAPPER / TESS_FOLDERS[(speaker, emotion)]
        folder.mkdir(parents=True, exist_ok=True)
        audio = tone(
            seconds,
            sampling_rate,
            TESS_PITCH_HZ[emotion] * (1.0 if speaker == "OAF" else 1.3),
            seed=index,
            amplitude=0.5 if emotion in ("angry", "happy") else 0.25,
            channels=2 if with_quirks and index == 0 else 1,
        )
        sf.write(folder / name, audio, sampling_rate, subtype="PCM_16")
    if with_quirks:
        (root / "Thumbs.db").write_bytes(b"\0")
    return root
