"""Write a small RAVDESS copy in the layout of the Zenodo audio-only archives."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf

from corpus_fixtures import tone

#: Pitch per RAVDESS emotion code, so a tiny model has something to learn.
RAVDESS_PITCH_HZ = {
    "01": 150.0,
    "02": 130.0,
    "03": 230.0,
    "04": 120.0,
    "05": 310.0,
    "06": 270.0,
    "07": 170.0,
    "08": 290.0,
}
SPEECH_EMOTIONS = ("01", "02", "03", "04", "05", "06", "07", "08")
SONG_EMOTIONS = ("01", "02", "03", "04", "05", "06")


def ravdess_names(actors=("01", "02", "03", "04"), channels=("speech",)) -> list[str]:
    """Real RAVDESS audio-only names: per actor and channel, every emotion at normal intensity
    (statement 01, repetition 1), plus angry at strong intensity on statement 02, repetition 2.
    Actor 18 gets no song files, as in the real corpus."""
    names = []
    for actor in actors:
        for channel in channels:
            if channel == "song" and actor == "18":
                continue
            code = "01" if channel == "speech" else "02"
            emotions = SPEECH_EMOTIONS if channel == "speech" else SONG_EMOTIONS
            names += [f"03-{code}-{emotion}-01-01-01-{actor}.wav" for emotion in emotions]
            names.append(f"03-{code}-05-02-02-02-{actor}.wav")
    return names


def write_ravdess(
    root: Path,
    names: list[str] | None = None,
    *,
    layout: str = "merged",
    seconds: float = 0.3,
    sampling_rate: int = 48_000,
    with_quirks: bool = True,
) -> Path:
    """Write RAVDESS ``Actor_NN/`` folders under ``root`` and return ``root``.

    Args:
        root: Corpus root.
        names: File names (default: :func:`ravdess_names` for speech).
        layout: ``"merged"`` puts ``Actor_NN/`` directly under ``root`` (both archives
            unzipped into one folder); ``"archives"`` puts each channel under its archive's
            folder name (``Audio_Speech_Actors_01-24/Actor_NN/``), as ``download=True`` does.
        seconds: Duration of each file.
        sampling_rate: RAVDESS is 48 kHz.
        with_quirks: Write the first file as stereo and the second as 24-bit, and leave a
            ``.DS_Store`` and a ``readme.txt`` among the audio.
    """
    names = names or ravdess_names()
    for index, name in enumerate(names):
        fields = name[:-4].split("-")
        channel, emotion, actor = fields[1], fields[2], fields[6]
        folder = root
        if layout == "archives":
            folder = root / (
                "Audio_Speech_Actors_01-24" if channel == "01" else "Audio_Song_Actors_01-24"
            )
        folder = folder / f"Actor_{actor}"
        folder.mkdir(parents=True, exist_ok=True)
        audio = tone(
            seconds,
            sampling_rate,
            RAVDESS_PITCH_HZ[emotion] * (1.5 if channel == "02" else 1.0),
            seed=index,
            amplitude=0.5 if emotion in ("05", "03") else 0.25,
            channels=2 if with_quirks and index == 0 else 1,
        )
        subtype = "PCM_24" if with_quirks and index == 1 else "PCM_16"
        sf.write(folder / name, audio, sampling_rate, subtype=subtype)
    if with_quirks:
        first_actor = sorted(root.rglob("Actor_*"))[0]
        (first_actor / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
        (root / "readme.txt").write_text("RAVDESS audio-only files\n")
    return root
