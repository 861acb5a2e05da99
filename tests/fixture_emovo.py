"""Write a small EMOVO copy in its real layout: ``<speaker>/EEE-SS-TT.wav`` at 48 kHz."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf

from corpus_fixtures import tone

EMOVO_EMOTIONS = ("dis", "gio", "neu", "pau", "rab", "sor", "tri")
EMOVO_PITCH_HZ = {
    "dis": 170.0,
    "gio": 240.0,
    "neu": 150.0,
    "pau": 260.0,
    "rab": 300.0,
    "sor": 280.0,
    "tri": 120.0,
}


def write_emovo(
    root: Path,
    *,
    speakers=("f1", "f3", "m2"),
    emotions=EMOVO_EMOTIONS,
    sentences=("b1", "d2"),
    quirks: bool = True,
) -> Path:
    """Write ``speakers x emotions x sentences`` files and return ``root``.

    With ``quirks``: one stereo file, one 16 kHz file, one upper-case ``.WAV`` name, a stray
    ``.DS_Store`` and a ``documents/`` folder beside the speaker folders.
    """
    index = 0
    for speaker in speakers:
        folder = root / speaker
        folder.mkdir(parents=True, exist_ok=True)
        for emotion in emotions:
            for sentence in sentences:
                rate, channels, suffix = 48_000, 1, ".wav"
                if quirks and index == 1:
                    channels = 2
                elif quirks and index == 2:
                    rate = 16_000
                elif quirks and index == 3:
                    suffix = ".WAV"
                audio = tone(0.2, rate, EMOVO_PITCH_HZ[emotion], seed=index, channels=channels)
                name = f"{emotion}-{speaker}-{sentence}{suffix}"
                sf.write(folder / name, audio, rate, subtype="PCM_16")
                index += 1
    if quirks:
        (root / speakers[0] / ".DS_Store").write_bytes(b"\0")
        (root / "documents").mkdir(exist_ok=True)
        (root / "documents" / "frasi.txt").write_text("b1 ...\n")
    return root
