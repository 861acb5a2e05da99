"""Write a small SAVEE copy in the ``AudioData/`` layout of ``AudioData.zip`` (or flat)."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf

from corpus_fixtures import tone

SAVEE_PITCH_HZ = {
    "a": 310.0,
    "d": 170.0,
    "f": 260.0,
    "h": 230.0,
    "n": 150.0,
    "sa": 130.0,
    "su": 290.0,
}


def savee_names(speakers=("DC", "JE", "JK", "KL")) -> list[str]:
    """``<speaker>/<emotion><nn>.wav`` names: per speaker, each emotion's first and last
    sentence (``a01``, ``a15``, ..., ``n01``, ``n30``)."""
    return [
        f"{speaker}/{prefix}{number:02d}.wav"
        for speaker in speakers
        for prefix in SAVEE_PITCH_HZ
        for number in (1, 30 if prefix == "n" else 15)
    ]


def write_savee(
    root: Path,
    names: list[str] | None = None,
    *,
    layout: str = "AudioData",
    seconds: float = 0.3,
    sampling_rate: int = 44_100,
    with_quirks: bool = True,
) -> Path:
    """Write SAVEE files under ``root`` and return ``root``.

    Args:
        root: Corpus root.
        names: ``<speaker>/<emotion><nn>.wav`` names (default: :func:`savee_names`).
        layout: ``"AudioData"``: ``root/AudioData/DC/a01.wav``; ``"ALL"``: the flat copy,
            ``root/ALL/DC_a01.wav``.
        seconds: Duration of each file.
        sampling_rate: SAVEE is 44.1 kHz.
        with_quirks: Write the first file as stereo, another at 48 kHz, and leave a stray
            ``Info.txt`` next to the speaker folders.
    """
    names = names or savee_names()
    base = root / layout
    for index, name in enumerate(names):
        speaker, file_name = name.split("/")
        prefix = file_name[:-6]
        path = (
            base / speaker / file_name if layout == "AudioData" else base / f"{speaker}_{file_name}"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        rate = 48_000 if with_quirks and index == 1 else sampling_rate
        audio = tone(
            seconds,
            rate,
            SAVEE_PITCH_HZ[prefix],
            seed=index,
            amplitude=0.5 if prefix in ("a", "h") else 0.25,
            channels=2 if with_quirks and index == 0 else 1,
        )
        sf.write(path, audio, rate, subtype="PCM_16")
    if with_quirks:
        (base / "Info.txt").write_text("SAVEE audio data\n")
    return root
