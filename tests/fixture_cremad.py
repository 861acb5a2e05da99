"""Write a small CREMA-D copy in the layout of its git repository."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf

from corpus_fixtures import tone

CREMAD_PITCH_HZ = {
    "ANG": 310.0,
    "DIS": 170.0,
    "FEA": 260.0,
    "HAP": 230.0,
    "NEU": 150.0,
    "SAD": 130.0,
}

#: Rows of the real VideoDemographics.csv for the actors the fixture uses (and two more).
DEMOGRAPHICS = {
    "1001": (51, "Male", "Caucasian", "Not Hispanic"),
    "1002": (21, "Female", "Caucasian", "Not Hispanic"),
    "1013": (22, "Female", "Caucasian", "Hispanic"),
    "1040": (42, "Male", "Caucasian", "Not Hispanic"),
    "1047": (22, "Female", "Unknown", "Hispanic"),
    "1091": (29, "Female", "Asian", "Not Hispanic"),
}


def cremad_names(actors=("1001", "1002", "1040", "1091")) -> list[str]:
    """Real CREMA-D names: per actor, DFA in all six emotions (intensity XX) and IEO at three
    levels. Actor 1040 gets ``1040_ITH_SAD_X.wav``, spelled as in copies made before 2022."""
    names = []
    for actor in actors:
        names += [f"{actor}_DFA_{emotion}_XX.wav" for emotion in CREMAD_PITCH_HZ]
        names += [f"{actor}_IEO_ANG_HI.wav", f"{actor}_IEO_HAP_MD.wav", f"{actor}_IEO_SAD_LO.wav"]
        if actor == "1040":
            names.append("1040_ITH_SAD_X.wav")
    return names


def write_cremad(
    root: Path,
    names: list[str] | None = None,
    *,
    seconds: float = 0.3,
    sampling_rate: int = 16_000,
    with_demographics: bool = True,
    with_quirks: bool = True,
) -> Path:
    """Write ``AudioWAV/`` and ``VideoDemographics.csv`` under ``root`` and return ``root``.

    Args:
        root: Corpus root (the repository clone).
        names: File names (default: :func:`cremad_names`).
        seconds: Duration of each clip.
        sampling_rate: CREMA-D's WAV files are 16 kHz.
        with_demographics: Write ``VideoDemographics.csv`` as the repository has it.
        with_quirks: Write the first clip as stereo, leave a ``.DS_Store`` in ``AudioWAV/``,
            and add the repository's other folders (``AudioMP3/``), which are not read.
    """
    names = names or cremad_names()
    wav_dir = root / "AudioWAV"
    wav_dir.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(names):
        emotion = name.split("_")[2]
        audio = tone(
            seconds,
            sampling_rate,
            CREMAD_PITCH_HZ[emotion],
            seed=index,
            amplitude=0.5 if emotion in ("ANG", "HAP") else 0.25,
            channels=2 if with_quirks and index == 0 else 1,
        )
        sf.write(wav_dir / name, audio, sampling_rate, subtype="PCM_16")
    if with_demographics:
        # As in the repository: every field quoted except the numbers.
        lines = ['"ActorID","Age","Sex","Race","Ethnicity"']
        for actor, (age, sex, race, ethnicity) in DEMOGRAPHICS.items():
            lines.append(f'{actor},{age},"{sex}","{race}","{ethnicity}"')
        (root / "VideoDemographics.csv").write_text("\n".join(lines) + "\n")
    if with_quirks:
        (wav_dir / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
        (root / "AudioMP3").mkdir(exist_ok=True)
        (root / "AudioMP3" / names[0].replace(".wav", ".mp3")).write_bytes(b"ID3")
    return root
