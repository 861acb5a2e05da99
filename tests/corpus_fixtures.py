"""Write small corpora in their real on-disk layouts, with generated audio.

Each utterance is a short harmonic tone whose pitch and loudness depend on its emotion, with a
little noise, so a tiny model can learn something in a few steps. Files are 16-bit PCM WAV as
in the real corpora.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

EMODB_EMOTION_LETTERS = "WLEAFTN"
EMODB_PITCH_HZ = {
    "W": 310.0,
    "L": 110.0,
    "E": 170.0,
    "A": 260.0,
    "F": 230.0,
    "T": 130.0,
    "N": 150.0,
}


def tone(
    seconds: float,
    sampling_rate: int,
    pitch_hz: float,
    *,
    seed: int,
    amplitude: float = 0.3,
    channels: int = 1,
) -> np.ndarray:
    """A seeded harmonic tone with noise, shaped [frames] or [frames, channels]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sampling_rate))) / sampling_rate
    vibrato = 1.0 + 0.02 * np.sin(2 * np.pi * 5.0 * t)
    signal = sum(np.sin(2 * np.pi * k * pitch_hz * vibrato * t) / k for k in (1, 2, 3))
    envelope = np.minimum(1.0, 20 * t) * np.minimum(1.0, 20 * (t[-1] - t + 1e-3))
    audio = amplitude * envelope * signal / 1.8 + 0.01 * rng.standard_normal(t.shape)
    audio = audio.astype(np.float32)
    if channels > 1:
        audio = np.stack([audio] * channels, axis=1)
    return audio


def emodb_names(speakers=("03", "08", "10", "16"), texts=("a01",), version="a") -> list[str]:
    """File names in EMO-DB's grammar: every speaker x text x emotion."""
    return [
        f"{speaker}{text}{letter}{version}.wav"
        for speaker in speakers
        for text in texts
        for letter in EMODB_EMOTION_LETTERS
    ]


def write_emodb(
    root: Path,
    names: list[str] | None = None,
    *,
    seconds: float = 1.0,
    sampling_rate: int = 16_000,
    with_rates: bool = True,
) -> Path:
    """Write an EMO-DB folder (``wav/`` and ``erkennung.txt``) and return its root."""
    names = names or emodb_names()
    wav_dir = root / "wav"
    wav_dir.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(names):
        letter = name[5]
        audio = tone(
            seconds + 0.1 * (index % 3),
            sampling_rate,
            EMODB_PITCH_HZ.get(letter, 200.0),
            seed=index,
            amplitude=0.5 if letter in "WF" else 0.25,
        )
        sf.write(wav_dir / name, audio, sampling_rate, subtype="PCM_16")
    if with_rates:
        # The real file: Latin-1, tab separated, decimal comma, values padded with NBSP.
        nbsp = "\xa0"
        lines = ["Nr.\tSatz\terkannt\tnatuerlich"]
        for number, name in enumerate(names, start=1):
            recognised = f"{60 + number % 40},00"
            natural = f"{50 + number % 50},00"
            lines.append(
                f"{number}{nbsp} {nbsp} \t{name}\t{recognised}{nbsp} {nbsp} \t{natural}{nbsp} "
            )
        (root / "erkennung.txt").write_bytes(("\r\n".join(lines) + "\r\n").encode("latin-1"))
    return root
