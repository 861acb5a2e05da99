"""Training throughput on CPU: sertune's loop against the Hugging Face ``Trainer`` baseline.

    .venv/bin/python benchmarks/train_throughput.py --emodb_dir ../shared/data/emodb \
        --rounds 3 --steps 40 --warmup_steps 5 --threads 1

The same randomly initialised wav2vec2 encoder (random weights: speed and memory do not
depend on them) is trained for ``--steps`` optimiser steps, fp32, batch ``--batch_size``, by:

* ``sertune``: ``sertune.training.loop.train`` with a ``SerForAudioClassification`` built as
  ``recipes/wav2vec2_emodb.py`` builds it (weighted layer sum, attention pooling, MLP head of
  256, feature encoder frozen), its data path (``AudioClassificationDataset`` decoding with
  soundfile in ``dataloader_num_workers`` workers, ``TrainingConfig`` default unless
  ``--sertune_workers``) and ``TrainingConfig`` defaults otherwise (``use_cpu``, no trackers);
* ``baseline``: ``transformers.Trainer`` on ``Wav2Vec2ForSequenceClassification`` with the
  same encoder config (its own head: mean pooling, projector 256; feature encoder frozen, as
  run_audio_classification does), on the ``datasets`` ``Audio`` column data path of
  ``hf_baseline.py`` (Trainer default of no workers unless ``--baseline_workers``).

Each run is a fresh child process (so peak RSS is its own); the two alternate, the order
swapped each round, under the same ``torch.set_num_threads(--threads)``. A forward pre-hook
stamps the start of every step; step ``i`` lasts until step ``i + 1`` starts, so its time holds
the wait for data, forward, backward and the optimiser. The first ``--warmup_steps`` steps and
the last (no successor) are dropped. Audio seconds count the real (unpadded) samples the model
was given. ``--profile sertune`` (or ``baseline``) runs one child under cProfile instead and
prints where its time went.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import torch
from hf_baseline import (
    SAMPLING_RATE,
    baseline_dataset,
    paths_and_labels,
    sertune_dataset,
    write_generated_set,
)

ENCODER_OVERRIDES = {
    "num_hidden_layers": 4,
    "hidden_size": 256,
    "num_attention_heads": 4,
    "intermediate_size": 1024,
}


class StepClock:
    """Forward pre-hook that stamps each training step and counts the real audio it gets."""

    def __init__(self):
        self.starts: list[float] = []
        self.audio_seconds: list[float] = []

    def __call__(self, module, args, kwargs):
        if not module.training:
            return
        self.starts.append(time.perf_counter())
        mask = kwargs.get("attention_mask")
        values = kwargs.get("input_values", args[0] if args else None)
        samples = int(mask.sum()) if mask is not None else values.numel()
        self.audio_seconds.append(samples / SAMPLING_RATE)

    def summary(self, warmup: int) -> dict:
        durations = [b - a for a, b in zip(self.starts, self.starts[1:], strict=False)][warmup:]
        audio = self.audio_seconds[warmup : warmup + len(durations)]
        return {
            "steps_timed": len(durations),
            "median_step": statistics.median(durations),
            "audio_per_second": sum(audio) / sum(durations),
        }


def run_sertune(dataset, args, output_dir: str, clock: StepClock):
    from sertune.models import build_feature_extractor, build_tiny_random_model
    from sertune.training import TrainingConfig
    from sertune.training.loop import train

    id2label = dict(enumerate(dataset.features["label"].names))
    model = build_tiny_random_model(
        "wav2vec2",
        id2label=id2label,
        seed=args.seed,
        encoder_overrides=ENCODER_OVERRIDES,
        use_weighted_layer_sum=True,
        pooling="attention",
        head_hidden_size=256,
        head_dropout=0.1,
        freeze_feature_encoder=True,
    )
    feature_extractor = build_feature_extractor(model.config)
    options = {}
    if args.sertune_workers is not None:
        options["dataloader_num_workers"] = args.sertune_workers
    config = TrainingConfig(
        output_dir=output_dir,
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        mixed_precision="no",
        use_cpu=True,
        report_to="none",
        logging_steps=args.steps,
        seed=args.seed,
        **options,
    )
    model.register_forward_pre_hook(clock, with_kwargs=True)
    info = {
        "workers": config.dataloader_num_workers,
        "attention": model.config.encoder_config._attn_implementation,
        "parameters": sum(p.numel() for p in model.parameters()),
    }

    def go():
        train(
            model,
            feature_extractor,
            train_dataset=dataset,
            eval_dataset=None,
            test_dataset=None,
            config=config,
        )

    return go, info


def run_baseline(dataset, args, output_dir: str, clock: StepClock):
    from transformers import Trainer, TrainingArguments, Wav2Vec2ForSequenceClassification

    from sertune.models import build_feature_extractor, tiny_random_encoder_config

    names = dataset.features["label"].names
    encoder_config = tiny_random_encoder_config(
        "wav2vec2",
        **ENCODER_OVERRIDES,
        num_labels=len(names),
        id2label=dict(enumerate(names)),
        label2id={name: i for i, name in enumerate(names)},
        classifier_proj_size=256,
        finetuning_task="audio-classification",
    )
    feature_extractor = build_feature_extractor(encoder_config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(args.seed)
        model = Wav2Vec2ForSequenceClassification(encoder_config)
    model.freeze_feature_encoder()
    paths, labels = paths_and_labels(dataset)
    train_set = baseline_dataset(paths, labels, feature_extractor, args.max_seconds)
    training_args = TrainingArguments(
        output_dir=output_dir,
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        learning_rate=5e-5,
        warmup_steps=max(1, args.steps // 10),
        weight_decay=0.01,
        dataloader_num_workers=args.baseline_workers,
        remove_unused_columns=False,
        save_strategy="no",
        logging_steps=args.steps,
        use_cpu=True,
        report_to="none",
        seed=args.seed,
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train_set,
        processing_class=feature_extractor,
    )
    model.register_forward_pre_hook(clock, with_kwargs=True)
    info = {
        "workers": args.baseline_workers,
        "attention": model.config._attn_implementation,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    return trainer.train, info


def child(args) -> None:
    """One training run in this process; prints a JSON line with its figures."""
    torch.set_num_threads(args.threads)
    generated = []
    if args.files == "generated48k":
        generated = write_generated_set(args.generated_dir, args.generated_files)
    dataset = sertune_dataset(args.files, args.emodb_dir, generated)
    clock = StepClock()
    with tempfile.TemporaryDirectory() as scratch:
        build = run_sertune if args.child == "sertune" else run_baseline
        go, info = build(dataset, args, str(Path(scratch, "run")), clock)
        rss_before = psutil.Process().memory_info().rss
        start = time.perf_counter()
        if args.profile:
            tree = None
            profiler = cProfile.Profile()
            profiler.runcall(go)
            stream = io.StringIO()
            stats = pstats.Stats(profiler, stream=stream)
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumulative").print_stats(40)
            print(stream.getvalue(), file=sys.stderr)
        else:
            with TreeMemory() as tree:
                go()
        wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "side": args.child,
        **info,
        **clock.summary(args.warmup_steps),
        "train_call_seconds": wall,
        "rss_before_mb": rss_before / 2**20,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "tree_peak_rss_mb": None if tree is None else tree.peak / 2**20,
    }
    print("RESULT " + json.dumps(result), flush=True)


def _without_option(argv: list[str], name: str) -> list[str]:
    """``argv`` without ``name`` and its value (either ``name value`` or ``name=value``)."""
    kept, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == name:
            skip = True
        elif not item.startswith(name + "="):
            kept.append(item)
    return kept


class TreeMemory:
    """Samples the RSS of this process and its children (DataLoader workers) in a thread.

    Forked workers share pages with the parent, so the sum over-counts shared memory; the
    figure is an upper bound of the whole run's resident memory.
    """

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        process = psutil.Process()
        while not self._stop.is_set():
            total = process.memory_info().rss
            for worker in process.children(recursive=True):
                with contextlib.suppress(psutil.Error):  # a worker may exit meanwhile
                    total += worker.memory_info().rss
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--emodb_dir", default="../shared/data/emodb")
    parser.add_argument("--files", default="emodb", choices=["emodb", "generated48k"])
    parser.add_argument("--generated_dir", default="/tmp/bench48k")
    parser.add_argument("--generated_files", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup_steps", type=int, default=5)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--max_seconds", type=float, default=6.0, help="Baseline crop.")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sertune_workers", type=int, default=None)
    parser.add_argument("--baseline_workers", type=int, default=0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--profile", choices=["sertune", "baseline"], default=None)
    parser.add_argument("--child", choices=["sertune", "baseline"], default=None)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    passed = _without_option(sys.argv[1:], "--profile")
    sides = [args.profile] if args.profile else ["sertune", "baseline"]
    rounds = 1 if args.profile else args.rounds
    runs: dict[str, list[dict]] = {side: [] for side in sides}
    for round_index in range(rounds):
        order = sides if round_index % 2 == 0 else sides[::-1]
        for side in order:
            command = [sys.executable, __file__, *passed, "--child", side]
            if args.profile:
                command += ["--profile", side]
            completed = subprocess.run(command, capture_output=True, text=True)
            if args.profile:
                print(completed.stderr[-20_000:])
            lines = [x for x in completed.stdout.splitlines() if x.startswith("RESULT ")]
            if completed.returncode != 0 or not lines:
                sys.exit(f"{side} run failed:\n{completed.stderr[-5000:]}")
            result = json.loads(lines[-1][len("RESULT ") :])
            runs[side].append(result)
            print(
                f"  round {round_index + 1} {side}: {result['audio_per_second']:.1f} audio-s/s, "
                f"step {result['median_step']:.3f} s, peak RSS {result['peak_rss_mb']:.0f} MB",
                flush=True,
            )
    print()
    print(
        f"# {args.files}, batch {args.batch_size}, fp32, {args.threads} torch thread(s), "
        f"{args.steps} steps of which the first {args.warmup_steps} are not timed; median of "
        f"{rounds} alternating rounds; torch {torch.__version__}"
    )
    print()
    print(
        "| loop | workers | attention | parameters | audio-s/s | median step (s) "
        "| train() wall (s) | RSS before (MB) | peak RSS main (MB) | peak RSS with workers (MB) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    medians = {}
    for side, results in runs.items():
        medians[side] = statistics.median(r["audio_per_second"] for r in results)
        first = results[0]

        def median(key, results=results):
            return statistics.median(r[key] for r in results)

        print(
            f"| {side} | {first['workers']} | {first['attention']} | {first['parameters']:,} "
            f"| {medians[side]:.1f} | {median('median_step'):.3f} "
            f"| {median('train_call_seconds'):.1f} | {median('rss_before_mb'):.0f} "
            f"| {median('peak_rss_mb'):.0f} | {median('tree_peak_rss_mb'):.0f} |"
        )
    if len(medians) == 2:
        ratios = [
            s["audio_per_second"] / b["audio_per_second"]
            for s, b in zip(runs["sertune"], runs["baseline"], strict=True)
        ]
        print()
        print(
            f"- sertune / baseline audio-s/s: {medians['sertune'] / medians['baseline']:.2f}x "
            f"(per round: {', '.join(f'{r:.2f}' for r in ratios)}; target >= 1.3x)"
        )


if __name__ == "__main__":
    main()
