"""Peak memory and step time of a training step on long utterances, with and without gradient
checkpointing (``--gradient_checkpointing``), on CPU.

    .venv/bin/python benchmarks/gradient_checkpointing.py [--seconds 20] [--batch 2] [--threads 2]

The model is a randomly initialised wav2vec2 encoder (``--layers`` transformer layers of width
``--hidden``, a 7-layer 256-channel convolutional front end, trainable) with sertune's pooling
head. Each mode runs in its own process, so that its peak resident memory (``ru_maxrss``) is its
own; the figure reported is the peak minus the resident memory just before the first step.
Step time is the median of ``--steps`` steps after one warm-up step. The two modes alternate
over ``--rounds`` rounds; medians are reported.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def one_mode(args: argparse.Namespace) -> dict:
    import torch

    from sertune.models import build_tiny_random_model

    torch.set_num_threads(args.threads)
    model = build_tiny_random_model(
        num_labels=7,
        encoder_overrides={
            "hidden_size": args.hidden,
            "num_hidden_layers": args.layers,
            "num_attention_heads": 4,
            "intermediate_size": 4 * args.hidden,
            "conv_dim": [256] * 7,
            "conv_stride": [5, 2, 2, 2, 2, 2, 2],
            "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
            "num_conv_pos_embeddings": 64,
            "num_conv_pos_embedding_groups": 16,
        },
        freeze_feature_encoder=False,
        head_hidden_size=256,
    )
    if args.checkpointing:
        model.activation_checkpointing_enable(
            activation_checkpointing_kwargs={"use_reentrant": False}
        )
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    waveform = torch.randn(args.batch, int(args.seconds * 16_000)) * 0.1
    labels = torch.arange(args.batch) % 7
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for step in range(1 + args.steps):
        started = time.perf_counter()
        loss = model(waveform, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step:
            times.append(time.perf_counter() - started)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"step_s": statistics.median(times), "peak_growth_mb": (peak - before) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--checkpointing", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_mode(args)))
        return

    results: dict[bool, list[dict]] = {False: [], True: []}
    for _ in range(args.rounds):
        for checkpointing in (False, True):
            command = [sys.executable, __file__, "--child", *sys.argv[1:]]
            if checkpointing:
                command.append("--checkpointing")
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            results[checkpointing].append(json.loads(output.strip().splitlines()[-1]))
    print(
        f"{args.batch} x {args.seconds:g} s, {args.layers} layers of {args.hidden}, "
        f"{args.threads} threads, {args.rounds} rounds (medians)"
    )
    print("| gradient checkpointing | peak memory growth | step time |")
    print("|---|---|---|")
    for checkpointing, runs in results.items():
        growth = statistics.median(r["peak_growth_mb"] for r in runs)
        step = statistics.median(r["step_s"] for r in runs)
        print(f"| {'on' if checkpointing else 'off'} | {growth:.0f} MB | {step:.2f} s |")


if __name__ == "__main__":
    main()
