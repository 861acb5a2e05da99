"""Write a small CASIA copy in its real layout: ``<speaker>/<emotion>/NNN.wav``."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf

from corpus_fixtures import tone

CASIA_SPEAKERS = ("liuchanhg", "wangzhe", "zhaoquanyin", "ZhaoZuoxiang")
CASIA_EMOTIONS = ("angry", "fear", "happy", "neutral", "sad", "surprise")
CASIA_PITCH_HZ = {
    "angry": 300.0,
    "fear": 260.0,
    "happy": 240.0,
    "neutral": 150.0,
    "sad": 120.0,
    "surprise": 280.0,
}


def write_casia(
    root: Path,
    *,
    speakers=CASIA_SPEAKERS,
    emotions=CASIA_EMOTIONS,
    sentences=(201, 250),
    quirks: bool = True,
) -> Path:
    """Write ``speakers x emotions x sentences`` files and return ``root``.

    With ``quirks``, the copy has what real copies have: one stereo file, one 44.1 kHz file, one
    24-bit file, one upper-case ``.WAV`` name, and stray ``.DS_Store`` / ``Thumbs.db`` files.
    """
    index = 0
    for speaker in speakers:
        for emotion in emotions:
            folder = root / speaker / emotion
            folder.mkdir(parents=True, exist_ok=True)
            for sentence in sentences:
                rate, channels, subtype, suffix = 16_000, 1, "PCM_16", ".wav"
                if quirks and index == 1:
                    channels = 2
                elif quirks and index == 2:
                    rate = 44_100
                elif quirks and index == 3:
                    subtype = "PCM_24"
                elif quirks and index == 4:
                    suffix = ".WAV"
                audio = tone(
                    0.2 + 0.05 * (index % 3),
                    rate,
                    CASIA_PITCH_HZ[emotion],
                    seed=index,
                    channels=channels,
                )
                sf.write(folder / f"{sentence:03d}{suffix}", audio, rate, subtype=subtype)
                index += 1
    if quirks:
        (root / speakers[0] / emotions[0] / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
        (root / speakers[0] / "Thumbs.db").write_bytes(b"\0")
    return root
