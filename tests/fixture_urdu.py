"""Write a small URDU copy in its real layout: ``<Emotion>/S<G><n>_F<k>_<E>0<m>.wav``."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf

from corpus_fixtures import tone

URDU_FOLDERS = {"A": "Angry", "H": "Happy", "N": "Neutral", "S": "Sad"}
URDU_PITCH_HZ = {"A": 300.0, "H": 240.0, "N": 150.0, "S": 120.0}

#: Real file names from the published copy: four per emotion, both genders where it has them.
URDU_NAMES = (
    "SM1_F1_A01.wav",
    "SM1_F10_A010.wav",
    "SM2_F1_A023.wav",
    "SM4_F48_A0100.wav",
    "SF1_F1_H01.wav",
    "SF6_F14_H038.wav",
    "SM3_F1_H053.wav",
    "SM7_F28_H0100.wav",
    "SF9_F1_N01.wav",
    "SM20_F10_N014.wav",
    "SM3_F1_N021.wav",
    "SM5_F72_N0100.wav",
    "SF10_F1_S01.wav",
    "SF11_F4_S06.wav",
    "SM24_F38_S050.wav",
    "SM6_F4_S0100.wav",
)


def urdu_full_names() -> list[str]:
    """400 names in URDU's grammar, 100 per emotion (for a complete-looking copy)."""
    return [
        f"{'SM1' if index <= 50 else 'SF2'}_F{index}_{initial}0{index}.wav"
        for initial in URDU_FOLDERS
        for index in range(1, 101)
    ]


def write_urdu(
    root: Path,
    names=URDU_NAMES,
    *,
    seconds: float = 0.2,
    quirks: bool = True,
) -> Path:
    """Write the files ``names`` into their emotion folders and return ``root``.

    With ``quirks``: the repository's ``README.md``, one stereo file, one 44.1 kHz file, one
    file in a per-speaker sub-folder, and a stray ``.DS_Store``.
    """
    for index, name in enumerate(names):
        initial = name.split("_")[2][0]
        folder = root / URDU_FOLDERS[initial]
        if quirks and index == 3:
            folder = folder / name.split("_")[0]
        folder.mkdir(parents=True, exist_ok=True)
        rate = 44_100 if quirks and index == 2 else 16_000
        channels = 2 if quirks and index == 1 else 1
        audio = tone(seconds, rate, URDU_PITCH_HZ[initial], seed=index, channels=channels)
        sf.write(folder / name, audio, rate, subtype="PCM_16")
    if quirks:
        (root / "README.md").write_text("# URDU-Dataset\n")
        (root / "Happy" / ".DS_Store").write_bytes(b"\0")
    return root
