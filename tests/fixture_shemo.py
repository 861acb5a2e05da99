"""Write a small ShEMO copy in its real layout: ``female/F01A01.wav``, ``male/M01A01.wav``."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf

from corpus_fixtures import tone

SHEMO_PITCH_HZ = {"A": 300.0, "H": 240.0, "N": 150.0, "S": 120.0, "W": 280.0, "F": 260.0}

#: Names in ShEMO's grammar: every emotion letter, both genders, a three-digit running number.
SHEMO_NAMES = (
    "F01A01.wav",
    "F01N02.wav",
    "F03H01.wav",
    "F12S04.wav",
    "F31W01.wav",
    "F05F01.wav",
    "M01A01.wav",
    "M02N10.wav",
    "M10S01.wav",
    "M22H03.wav",
    "M56W02.wav",
    "M07A104.wav",
)


def write_shemo(root: Path, names=SHEMO_NAMES, *, quirks: bool = True) -> Path:
    """Write ``names`` into ``female/`` or ``male/`` (by their first letter); return ``root``.

    With ``quirks``: one stereo file, one 16 kHz file (the corpus is 44.1 kHz), a stray
    ``desktop.ini`` and ``transcript/`` plus ``shemo.json`` beside the audio folders.
    """
    for index, name in enumerate(names):
        folder = root / ("female" if name[0] == "F" else "male")
        folder.mkdir(parents=True, exist_ok=True)
        rate = 16_000 if quirks and index == 2 else 44_100
        channels = 2 if quirks and index == 1 else 1
        audio = tone(0.2, rate, SHEMO_PITCH_HZ[name[3]], seed=index, channels=channels)
        sf.write(folder / name, audio, rate, subtype="PCM_16")
    if quirks:
        (root / "male" / "desktop.ini").write_text("[.ShellClassInfo]\n")
        (root / "transcript").mkdir(exist_ok=True)
        (root / "transcript" / "F01A01.ort").write_text("...\n")
        (root / "shemo.json").write_text("{}\n")
    return root
