"""Corpus reports: what a corpus folder holds, and which of its files cannot be used."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from datasets import Dataset

from sertune.audio import audio_info
from sertune.errors import AudioDecodeError


def corpus_report(dataset: Dataset) -> dict[str, Any]:
    """Summarise a corpus dataset, reading every file's header (not its samples).

    Args:
        dataset: Rows in the common schema (``id, audio, label, speaker, gender, corpus``).

    Returns:
        A JSON-ready dict: utterances, speakers (total and by gender), label counts, duration
        statistics in seconds (total, min, mean, median, max), the sample rates, channel counts
        and encodings found (with how many files have each), the files with more than one
        channel (``multichannel``: path and channel count), and the unreadable files with their
        reasons. ``corpus`` is the corpus name (several joined with ``, ``).
    """
    label_names = dataset.features["label"].names
    speakers = dataset["speaker"]
    genders = dataset["gender"]
    gender_of_speaker: dict[str, set[str]] = {}
    for speaker, gender in zip(speakers, genders, strict=True):
        gender_of_speaker.setdefault(speaker, set()).add(gender)
    speakers_by_gender = Counter(
        next(iter(g)) if len(g) == 1 else "mixed" for g in gender_of_speaker.values()
    )

    durations: list[float] = []
    rates: Counter = Counter()
    channels: Counter = Counter()
    encodings: Counter = Counter()
    unreadable: list[dict[str, str]] = []
    multichannel: list[dict[str, Any]] = []
    for audio in dataset["audio"]:
        path = audio["path"]
        try:
            info = audio_info(path)
            if info.frames == 0:
                raise AudioDecodeError(path, "audio has zero length (no samples)")
        except AudioDecodeError as error:
            unreadable.append({"path": str(path), "reason": error.problem})
            continue
        durations.append(info.duration)
        rates[info.sampling_rate] += 1
        channels[info.channels] += 1
        if info.channels > 1:
            multichannel.append({"path": str(path), "channels": info.channels})
        encodings[f"{info.format}/{info.subtype}"] += 1

    return {
        "corpus": ", ".join(sorted(set(dataset["corpus"]))),
        "utterances": len(dataset),
        "speakers": len(gender_of_speaker),
        "speakers_by_gender": dict(sorted(speakers_by_gender.items())),
        "utterances_by_gender": dict(sorted(Counter(genders).items())),
        "labels": {
            name: count
            for name, count in sorted(
                Counter(label_names[i] for i in dataset["label"]).items(),
                key=lambda item: (-item[1], item[0]),
            )
        },
        "duration_seconds": _duration_statistics(durations),
        "sampling_rates": {str(k): v for k, v in sorted(rates.items())},
        "channels": {str(k): v for k, v in sorted(channels.items())},
        "encodings": dict(sorted(encodings.items())),
        "multichannel": multichannel,
        "unreadable": unreadable,
    }


def format_report(report: dict[str, Any]) -> str:
    """The report as aligned plain text for a terminal."""
    duration = report["duration_seconds"]
    lines = [
        f"corpus:      {report['corpus']}",
        f"utterances:  {report['utterances']}",
        f"speakers:    {report['speakers']} ("
        + ", ".join(f"{n} {g}" for g, n in report["speakers_by_gender"].items())
        + ")",
        "labels:      " + ", ".join(f"{k} {v}" for k, v in report["labels"].items()),
    ]
    if duration["files"]:
        lines.append(
            f"duration:    total {duration['total'] / 3600:.2f} h; per utterance min "
            f"{duration['min']:.2f} s, mean {duration['mean']:.2f} s, median "
            f"{duration['median']:.2f} s, max {duration['max']:.2f} s"
        )
    lines += [
        "rates:       " + ", ".join(f"{k} Hz x{v}" for k, v in report["sampling_rates"].items()),
        "channels:    " + ", ".join(f"{k} x{v}" for k, v in report["channels"].items()),
        "encodings:   " + ", ".join(f"{k} x{v}" for k, v in report["encodings"].items()),
        f"multichannel: {len(report['multichannel'])} (averaged to mono when loaded)",
    ]
    lines += [f"  {item['path']}: {item['channels']} channels" for item in report["multichannel"]]
    lines += [
        f"unreadable:  {len(report['unreadable'])}",
    ]
    lines += [f"  {item['path']}: {item['reason']}" for item in report["unreadable"]]
    return "\n".join(lines)


def _duration_statistics(durations: list[float]) -> dict[str, float | int]:
    if not durations:
        return {"files": 0, "total": 0.0, "min": 0.0, "mean": 0.0, "median": 0.0, "max": 0.0}
    return {
        "files": len(durations),
        "total": float(sum(durations)),
        "min": float(min(durations)),
        "mean": float(statistics.fmean(durations)),
        "median": float(statistics.median(durations)),
        "max": float(max(durations)),
    }
