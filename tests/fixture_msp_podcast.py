"""Write a small MSP-Podcast copy in the release layout (``Audios/`` and ``Labels/``).

Rows cover every ``EmoClass`` letter, every ``Split_Set`` (Test3 included), "Unknown" speakers
and genders, and a three-part file name of the newer releases.
"""

from __future__ import annotations

import csv
from pathlib import Path

import soundfile as sf

from corpus_fixtures import tone

MSP_PODCAST_HEADER = ("FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender",
                      "Split_Set")  # fmt: skip

#: Rows of ``labels_consensus.csv``, as the real file writes them.
MSP_PODCAST_ROWS: list[tuple[str, ...]] = [
    ("MSP-PODCAST_0001_0008.wav", "N", "2.2", "4.0", "2.6", "30", "Male", "Test1"),
    ("MSP-PODCAST_0001_0009.wav", "H", "3.777778", "5.555556", "3.777778", "39", "Male", "Test1"),
    ("MSP-PODCAST_0002_0033.wav", "A", "5.8", "2.0", "5.4", "127", "Female", "Train"),
    ("MSP-PODCAST_0002_0034.wav", "S", "2.0", "2.333333", "2.5", "127", "Female", "Train"),
    ("MSP-PODCAST_0002_0035.wav", "C", "4.2", "3.0", "4.6", "127", "Female", "Train"),
    ("MSP-PODCAST_0003_0101.wav", "U", "5.0", "4.8", "4.0", "581", "Male", "Train"),
    ("MSP-PODCAST_0003_0102.wav", "O", "4.0", "4.0", "4.0", "581", "Male", "Train"),
    ("MSP-PODCAST_0004_0012.wav", "F", "4.5", "2.5", "3.0", "902", "Female", "Development"),
    ("MSP-PODCAST_0004_0013.wav", "X", "3.5", "4.0", "3.5", "902", "Female", "Development"),
    ("MSP-PODCAST_0700_0150_0001.wav", "D", "4.4", "2.2", "4.6", "1088", "Male", "Train"),
    ("MSP-PODCAST_1111_0042.wav", "N", "3.6", "4.2", "3.8", "Unknown", "Unknown", "Test2"),
    ("MSP-PODCAST_1111_0043.wav", "A", "6.0", "1.8", "5.6", "Unknown", "Female", "Test2"),
    ("MSP-PODCAST_3006_0007.wav", "H", "4.8", "6.2", "4.4", "Unknown", "Unknown", "Test3"),
]


def write_msp_podcast(
    root: Path,
    rows: list[tuple[str, ...]] | None = None,
    *,
    audio_folder: str = "Audios",
    sampling_rate: int = 16_000,
    quirks: bool = True,
) -> Path:
    """Write ``root/Audios`` (or ``Audio``) and ``root/Labels/labels_consensus.csv``.

    Args:
        root: The release folder to write.
        rows: CSV rows (default :data:`MSP_PODCAST_ROWS`); one audio file is written per row.
        audio_folder: ``Audios`` (most releases) or ``Audio``.
        sampling_rate: Rate of the 16-bit files.
        quirks: Also write what real copies show: one stereo file, one 24-bit file at 44.1 kHz,
            one ``.WAV`` extension, and the label and transcript files that are not read.
    """
    rows = MSP_PODCAST_ROWS if rows is None else rows
    audio_dir = root / audio_folder
    labels_dir = root / "Labels"
    audio_dir.mkdir(parents=True, exist_ok=True)
    labels_dir.mkdir(parents=True, exist_ok=True)
    with (labels_dir / "labels_consensus.csv").open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(MSP_PODCAST_HEADER)
        writer.writerows(rows)
    for index, row in enumerate(rows):
        name, rate, channels, subtype = row[0], sampling_rate, 1, "PCM_16"
        if quirks and index == 0:
            channels = 2
        if quirks and index == 2:
            rate, subtype = 44_100, "PCM_24"
        if quirks and index == 3:
            name = name[: -len(".wav")] + ".WAV"
        pitch = 120.0 + 20.0 * ("NHASCUOFXD".find(row[1]) % 10)
        audio = tone(0.2 + 0.05 * (index % 4), rate, pitch, seed=index, channels=channels)
        sf.write(audio_dir / name, audio, rate, subtype=subtype, format="WAV")
    if quirks:
        (labels_dir / "labels_detailed.csv").write_text("FileName,Worker,EmoClass\n")
        (labels_dir / "labels_consensus.json").write_text("{}\n")
        (root / "Transcripts").mkdir(exist_ok=True)
        (root / "Transcripts" / "MSP-PODCAST_0001_0008.txt").write_text("so what happened\n")
    return root
