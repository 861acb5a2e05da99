"""Shared pieces of the issue-10 benchmarks: the file sets and the Hugging Face baseline.

Not a benchmark itself; ``data_path.py`` and ``train_throughput.py`` import it. The baseline is
what transformers' ``examples/pytorch/audio-classification/run_audio_classification.py`` does,
rebuilt here because the example script is not part of the installed package:

* a ``datasets`` column of file paths cast to ``Audio(sampling_rate=16_000)``, so ``datasets``
  decodes and resamples each file when a row is read (``datasets`` 5 decodes only through
  torchcodec and FFmpeg);
* ``set_transform(train_transforms)``: a random crop of at most ``max_length_seconds``
  (``random_subsample``) and ``Wav2Vec2FeatureExtractor`` on the batch;
* ``Trainer`` with ``remove_unused_columns=False`` (as the example's README runs it) and the
  feature extractor as ``processing_class``, so batches are padded by
  ``DataCollatorWithPadding``, the Trainer's default collator for a feature extractor.

The file sets are the EMO-DB (2.0 s copy) folder and a generated set of 48 kHz WAV files
(2-10 s) written with soundfile into a scratch folder, never into the repository.

The baseline needs the ``bench`` extra: ``.venv/bin/pip install -e ".[bench]"`` (torchcodec,
which uses the system's FFmpeg libraries).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import soundfile as sf
from datasets import Audio, Dataset

from sertune.data import build_corpus_dataset, load_corpus

SAMPLING_RATE = 16_000
GENERATED_LABELS = ("neutral", "happy", "sad", "angry")


def write_generated_set(
    folder: str | Path, count: int, *, rate: int = 48_000, seed: int = 0
) -> list[Path]:
    """Write (or reuse) ``count`` mono 16-bit WAV files of 2-10 s at ``rate`` in ``folder``.

    The signal is a few drifting tones in noise: its content does not change decoding or
    resampling speed, only its length and rate do. A manifest records the parameters, so a
    folder made with other ones is rewritten.
    """
    folder = Path(folder)
    manifest = folder / "manifest.json"
    wanted = {"count": count, "rate": rate, "seed": seed}
    paths = [folder / f"utt{index:04d}.wav" for index in range(count)]
    same = manifest.exists() and json.loads(manifest.read_text()) == wanted
    if same and all(path.exists() for path in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for path in paths:
        seconds = rng.uniform(2.0, 10.0)
        time = np.arange(round(seconds * rate)) / rate
        tones = sum(
            np.sin(2 * np.pi * rng.uniform(100, 3000) * time * (1 + 0.05 * time)) for _ in range(3)
        )
        wave = 0.2 * tones / 3 + 0.05 * rng.standard_normal(len(time))
        sf.write(path, wave.astype(np.float32), rate, subtype="PCM_16")
    manifest.write_text(json.dumps(wanted))
    return paths


def sertune_dataset(name: str, emodb_dir: str | None, generated: list[Path]) -> Dataset:
    """The corpus rows sertune trains on (``Audio(decode=False)`` column of paths)."""
    if name == "emodb":
        return load_corpus("emodb", emodb_dir)
    rows = [
        {
            "id": path.stem,
            "path": path,
            "label": GENERATED_LABELS[index % len(GENERATED_LABELS)],
            "speaker": f"s{index % 8}",
            "gender": "unknown",
        }
        for index, path in enumerate(generated)
    ]
    return build_corpus_dataset(rows, corpus="generated48k", label_names=list(GENERATED_LABELS))


def random_subsample(wav: np.ndarray, max_length: float, sample_rate: int = SAMPLING_RATE):
    """Randomly sample a chunk of ``max_length`` seconds (run_audio_classification's crop)."""
    sample_length = int(round(sample_rate * max_length))
    if len(wav) <= sample_length:
        return wav
    random_offset = random.randint(0, len(wav) - sample_length - 1)
    return wav[random_offset : random_offset + sample_length]


def baseline_dataset(paths: list[str], labels: list[int], feature_extractor, max_seconds: float):
    """The baseline's training set: an ``Audio`` column cast to 16 kHz plus the transform."""
    dataset = Dataset.from_dict({"audio": paths, "label": labels})
    dataset = dataset.cast_column("audio", Audio(sampling_rate=feature_extractor.sampling_rate))
    input_name = feature_extractor.model_input_names[0]

    def train_transforms(batch):
        wavs = [
            random_subsample(audio["array"], max_seconds, feature_extractor.sampling_rate)
            for audio in batch["audio"]
        ]
        inputs = feature_extractor(wavs, sampling_rate=feature_extractor.sampling_rate)
        return {input_name: inputs.get(input_name), "labels": list(batch["label"])}

    dataset.set_transform(train_transforms, output_all_columns=False)
    return dataset


def paths_and_labels(dataset: Dataset) -> tuple[list[str], list[int]]:
    """File paths and label ids of a sertune corpus dataset, in row order."""
    return [audio["path"] for audio in dataset["audio"]], [int(x) for x in dataset["label"]]


def source_seconds(paths: list[str]) -> float:
    """Total duration of the files as stored (before resampling), from their headers."""
    return sum(sf.info(path).duration for path in paths)
