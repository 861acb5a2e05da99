"""Write a small AESDD copy in its real layout: ``<emotion>/xAA (B).wav``."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf

from corpus_fixtures import tone

AESDD_FOLDERS = {"a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "s": "sadness"}
AESDD_PITCH_HZ = {"a": 300.0, "d": 170.0, "f": 260.0, "h": 240.0, "s": 120.0}

#: Names in AESDD's grammar, including a second take (``f18 (5)b.wav``, from its README).
AESDD_NAMES = (
    "a01 (1).wav",
    "a20 (2).wav",
    "d03 (4).wav",
    "d11 (3).wav",
    "f18 (5).wav",
    "f18 (5)b.wav",
    "h05 (1).wav",
    "h14 (2).wav",
    "s02 (3).wav",
    "s19 (4).wav",
)


def write_aesdd(root: Path, names=AESDD_NAMES, *, quirks: bool = True) -> Path:
    """Write ``names`` into their emotion folders (by their initial); return ``root``.

    With ``quirks``: one stereo file, one 16 kHz file (copies are 44.1 kHz), one upper-case
    ``.WAV`` name and a stray ``.DS_Store``.
    """
    for index, name in enumerate(names):
        folder = root / AESDD_FOLDERS[name[0]]
        folder.mkdir(parents=True, exist_ok=True)
        rate = 16_000 if quirks and index == 2 else 44_100
        channels = 2 if quirks and index == 1 else 1
        if quirks and index == 3:
            name = name.replace(".wav", ".WAV")
        audio = tone(0.2, rate, AESDD_PITCH_HZ[name[0]], seed=index, channels=channels)
        sf.write(folder / name, audio, rate, subtype="PCM_16")
    if quirks:
        (root / "anger" / ".DS_Store").write_bytes(b"\0")
    return root
