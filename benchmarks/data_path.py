"""Data-path throughput: sertune's training loader against the decode floor and the HF baseline.

    .venv/bin/python benchmarks/data_path.py --emodb_dir ../shared/data/emodb \
        --generated_dir /tmp/bench48k --generated_files 150 --rounds 5

Decode + resample to 16 kHz + batch, one epoch over a file set, utterances/s and audio-seconds/s
(seconds of audio as stored, before the crop). Pipelines:

* ``floor``: ``soundfile.read`` then ``soxr.resample`` (libsoxr "HQ", what sertune resamples
  with), one file at a time, no dataset, no batching: what any pipeline pays.
* ``sertune``: the loop's training loader as ``sertune.training.loop`` builds it:
  ``AudioClassificationDataset`` (crop to ``max_train_seconds``), ``EpochShuffleSampler``,
  ``PaddingCollator`` with the model's ``Wav2Vec2FeatureExtractor``, ``pin_memory`` only with
  CUDA, ``persistent_workers`` with workers. ``w0`` decodes in the main process (per-worker
  figure); ``wN`` uses the recipes' default ``dataloader_num_workers`` (``TrainingConfig``),
  timed over the second epoch (workers already started), the first epoch reported apart.
* ``baseline``: ``run_audio_classification``'s path (see ``hf_baseline.py``): ``datasets``
  ``Audio(sampling_rate=16000)`` decoding through torchcodec/FFmpeg, the crop and
  ``Wav2Vec2FeatureExtractor`` in ``set_transform``, and the DataLoader that
  ``Trainer.get_train_dataloader()`` returns (Trainer default: no workers; ``wN`` also shown,
  with the Trainer's default ``dataloader_persistent_workers=False``: workers restart each
  epoch).
* ``sertune w0, audio cache``: the same loader reading ``--audio_cache_dir`` entries
  (``sertune.audio_cache.DecodedAudioCache``) filled before the clock starts.
* ``cached floor``: ``numpy.load`` of the 16 kHz float32 samples saved as ``.npy`` beforehand,
  one file at a time: not something sertune does, the ceiling of an on-disk cache of decoded
  and resampled audio.

All in-process pipelines run with ``torch.set_num_threads(--threads)`` (default 1). The
pipelines are interleaved, their order rotated each round; the table gives the median over
``--rounds``. The generated set (48 kHz, 2-10 s, 16-bit) is written to ``--generated_dir``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch
from hf_baseline import (
    baseline_dataset,
    paths_and_labels,
    sertune_dataset,
    source_seconds,
    write_generated_set,
)
from torch.utils.data import DataLoader
from transformers import Trainer, TrainingArguments, Wav2Vec2ForSequenceClassification

from sertune.audio import RESAMPLE_QUALITY, load_audio
from sertune.audio_cache import DecodedAudioCache
from sertune.models import build_feature_extractor, tiny_random_encoder_config
from sertune.training import TrainingConfig
from sertune.training.data import (
    AudioClassificationDataset,
    EpochShuffleSampler,
    PaddingCollator,
    min_input_samples,
)

SAMPLING_RATE = 16_000


def floor_epoch(paths: list[str]) -> Callable[[], int]:
    """soundfile decode plus libsoxr resampling, file by file."""

    def run() -> int:
        samples = 0
        for path in paths:
            wave, rate = sf.read(path, dtype="float32")
            if rate != SAMPLING_RATE:
                wave = soxr.resample(wave, rate, SAMPLING_RATE, quality=RESAMPLE_QUALITY)
            samples += len(wave)
        return samples

    return run


def cached_floor_epoch(paths: list[str], folder: Path) -> Callable[[], int]:
    """Reading the 16 kHz float32 samples back from ``.npy`` files written beforehand.

    Not a pipeline sertune has: the ceiling of the optional on-disk cache of decoded and
    resampled audio that the issue proposes (from the second epoch, or run, on).
    """
    folder.mkdir(parents=True, exist_ok=True)
    cached = []
    for index, path in enumerate(paths):
        cached.append(folder / f"{index}.npy")
        np.save(cached[-1], load_audio(path, SAMPLING_RATE))

    def run() -> int:
        return sum(len(np.load(path)) for path in cached)

    return run


def sertune_loader(
    dataset, feature_extractor, encoder_config, config: TrainingConfig, workers, audio_cache=None
):
    """The training DataLoader as ``sertune.training.loaders.build_loaders`` builds it."""
    train_set = AudioClassificationDataset(
        dataset,
        sampling_rate=feature_extractor.sampling_rate,
        max_seconds=config.max_train_seconds,
        crop=True,
        seed=config.seed,
        min_samples=min_input_samples(encoder_config, training=True),
        audio_cache=audio_cache,
    )
    sampler = EpochShuffleSampler(len(train_set), seed=config.seed)
    loader = DataLoader(
        train_set,
        batch_size=config.per_device_train_batch_size,
        sampler=sampler,
        collate_fn=PaddingCollator(feature_extractor, seed=config.seed),
        num_workers=workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(config.seed),
    )
    return sampler, loader


def baseline_loader(dataset, feature_extractor, encoder_config, config, workers, scratch):
    """The DataLoader ``Trainer`` builds for run_audio_classification's training set."""
    model = Wav2Vec2ForSequenceClassification(encoder_config)
    args = TrainingArguments(
        output_dir=scratch,
        per_device_train_batch_size=config.per_device_train_batch_size,
        dataloader_num_workers=workers,
        remove_unused_columns=False,
        use_cpu=True,
        report_to="none",
        seed=config.seed,
    )
    trainer = Trainer(
        model=model, args=args, train_dataset=dataset, processing_class=feature_extractor
    )
    return trainer.get_train_dataloader()


def epoch_samples(loader, sampler=None, epoch: int = 0) -> int:
    """Iterate one epoch; return the real (unpadded) samples delivered, as a check."""
    if sampler is not None:
        sampler.set_epoch(epoch)
    samples = 0
    for batch in loader:
        mask = batch.get("attention_mask")
        values = batch["input_values"]
        samples += int(mask.sum()) if mask is not None else values.numel()
    return samples


def timed(run: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    samples = run()
    return time.perf_counter() - start, samples


def measure_file_set(name, args, generated, scratch) -> dict:
    dataset = sertune_dataset(name, args.emodb_dir, generated)
    paths, labels = paths_and_labels(dataset)
    seconds = source_seconds(paths)
    config = TrainingConfig(output_dir=scratch)
    workers = config.dataloader_num_workers
    encoder_config = tiny_random_encoder_config("wav2vec2", num_labels=len(set(labels)))
    feature_extractor = build_feature_extractor(encoder_config)
    hf_set = baseline_dataset(paths, labels, feature_extractor, config.max_train_seconds)

    def loader_epoch(build, steady: bool) -> Callable[[], tuple[float, int, float | None]]:
        def run():
            sampler, loader = build()  # not timed: building a Trainer is not data-path work
            first, samples = timed(lambda: epoch_samples(loader, sampler, 0))
            if not steady:
                return first, samples, None
            elapsed, samples = timed(lambda: epoch_samples(loader, sampler, 1))
            return elapsed, samples, first

        return run

    def sertune_build(n, audio_cache=None):
        return lambda: sertune_loader(
            dataset, feature_extractor, encoder_config, config, n, audio_cache
        )

    # --audio_cache_dir, filled before the clock starts (as by an earlier epoch, fold or run).
    audio_cache = DecodedAudioCache(Path(scratch, f"audio-cache-{name}"), 16_000)
    for path in paths:
        audio_cache.load(path)

    def baseline_build(n):
        return lambda: (
            None,
            baseline_loader(hf_set, feature_extractor, encoder_config, config, n, scratch),
        )

    floor = floor_epoch(paths)
    cached = cached_floor_epoch(paths, Path(scratch, f"cache-{name}"))
    pipelines = {
        "floor": lambda: (*timed(floor), None),
        "cached floor (.npy, 16 kHz)": lambda: (*timed(cached), None),
        "sertune w0": loader_epoch(sertune_build(0), steady=False),
        "sertune w0, audio cache": loader_epoch(sertune_build(0, audio_cache), steady=False),
        f"sertune w{workers}": loader_epoch(sertune_build(workers), steady=True),
        "baseline w0": loader_epoch(baseline_build(0), steady=False),
        f"baseline w{workers}": loader_epoch(baseline_build(workers), steady=True),
    }
    results: dict[str, list] = {key: [] for key in pipelines}
    order = list(pipelines)
    for round_index in range(args.rounds):
        shift = round_index % len(order)
        for key in order[shift:] + order[:shift]:
            elapsed, samples, first = pipelines[key]()
            results[key].append((elapsed, samples, first))
            print(f"  {name} round {round_index + 1} {key}: {elapsed:.3f} s", flush=True)
    summary = {}
    for key, runs in results.items():
        elapsed = statistics.median(run[0] for run in runs)
        firsts = [run[2] for run in runs if run[2] is not None]
        summary[key] = {
            "seconds": elapsed,
            "samples": runs[0][1],
            "first_epoch": statistics.median(firsts) if firsts else None,
            "spread": (min(run[0] for run in runs), max(run[0] for run in runs)),
        }
    return {
        "name": name,
        "files": len(paths),
        "audio_seconds": seconds,
        "rates": sorted({sf.info(path).samplerate for path in paths}),
        "workers": workers,
        "batch_size": config.per_device_train_batch_size,
        "max_seconds": config.max_train_seconds,
        "summary": summary,
    }


def print_table(result: dict) -> None:
    summary, files, seconds = result["summary"], result["files"], result["audio_seconds"]
    workers = result["workers"]
    print()
    print(
        f"### {result['name']}: {files} files, {seconds:.0f} s of audio at "
        f"{'/'.join(str(r) for r in result['rates'])} Hz; batch {result['batch_size']}, crop "
        f"{result['max_seconds']} s"
    )
    print()
    print(
        "| pipeline | epoch (s), median [min-max] | utterances/s | audio-s/s | vs floor "
        "| vs baseline w0 | real samples out |"
    )
    print("|---|---|---|---|---|---|---|")
    floor = summary["floor"]["seconds"]
    baseline = summary["baseline w0"]["seconds"]
    for key, row in summary.items():
        low, high = row["spread"]
        first = "" if row["first_epoch"] is None else f" (1st epoch {row['first_epoch']:.2f})"
        print(
            f"| {key}{first} | {row['seconds']:.3f} [{low:.3f}-{high:.3f}] "
            f"| {files / row['seconds']:.0f} | {seconds / row['seconds']:.0f} "
            f"| {floor / row['seconds']:.2f}x | {baseline / row['seconds']:.2f}x "
            f"| {row['samples']:,} |"
        )
    sertune_w0 = summary["sertune w0"]["seconds"]
    sertune_wn = summary[f"sertune w{workers}"]["seconds"]
    print()
    print(
        f"- sertune w0 / floor: {floor / sertune_w0:.2f} (target >= 0.8); "
        f"sertune w0 / baseline w0: {baseline / sertune_w0:.2f}x; "
        f"sertune w{workers} (recipe default) / baseline w0 (Trainer default): "
        f"{baseline / sertune_wn:.2f}x (target >= 10x); "
        f"sertune w{workers} / baseline w{workers}: "
        f"{summary[f'baseline w{workers}']['seconds'] / sertune_wn:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--emodb_dir", default="../shared/data/emodb")
    parser.add_argument("--generated_dir", default="/tmp/bench48k")
    parser.add_argument("--generated_files", type=int, default=150)
    parser.add_argument("--sets", nargs="+", default=["emodb", "generated48k"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads in-process.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generated = write_generated_set(args.generated_dir, args.generated_files)
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.sets:
            results.append(measure_file_set(name, args, generated, scratch))
    print()
    print(
        f"# torch {torch.__version__}, {args.threads} torch thread(s) in-process, median of "
        f"{args.rounds} interleaved rounds"
    )
    for result in results:
        print_table(result)


if __name__ == "__main__":
    main()
