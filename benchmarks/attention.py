"""Training-step time of a wav2vec2 encoder with eager attention against sdpa, on CPU.

    .venv/bin/python benchmarks/attention.py [--seconds 2 10] [--batch 8] [--rounds 3]

Before commit 6e47e6d, a model built from a pretrained encoder folder (``build_ser_model(path)``,
the recipes' normal path) lost the encoder's attention implementation and ran eager attention;
a model built from a config (the tiny and random models) always had sdpa. This measures what
that cost: the same randomly initialised encoder (``--layers`` layers of width ``--hidden``,
the tiny two-convolution front end, frozen, as in ``benchmarks/train_throughput.py``) and head,
forward and backward plus AdamW, with ``attn_implementation`` eager and sdpa, alternating, one
torch thread. Median step time over ``--steps`` steps after 2 warm-up steps, median over
``--rounds``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from sertune.models import build_tiny_random_model


def step_seconds(attention: str, seconds: float, args) -> float:
    model = build_tiny_random_model(
        num_labels=7,
        encoder_overrides={
            "hidden_size": args.hidden,
            "num_hidden_layers": args.layers,
            "num_attention_heads": 4,
            "intermediate_size": 4 * args.hidden,
        },
        head_hidden_size=256,
    )
    model.set_attn_implementation(attention)
    assert model.encoder.config._attn_implementation == attention
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, fused=True)
    generator = torch.Generator().manual_seed(0)
    waveform = torch.randn(args.batch, int(seconds * 16_000), generator=generator) * 0.1
    labels = torch.arange(args.batch) % 7
    times = []
    for step in range(2 + args.steps):
        started = time.perf_counter()
        model(waveform, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step >= 2:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, nargs="+", default=[2.0, 10.0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"{args.layers} layers of {args.hidden}, batch {args.batch}, {args.threads} thread(s), "
        f"median of {args.steps} steps and {args.rounds} rounds"
    )
    print("| audio | eager (s/step) | sdpa (s/step) | eager / sdpa |")
    print("|---|---|---|---|")
    for seconds in args.seconds:
        runs = {"eager": [], "sdpa": []}
        for round_index in range(args.rounds):
            order = ["eager", "sdpa"] if round_index % 2 == 0 else ["sdpa", "eager"]
            for attention in order:
                runs[attention].append(step_seconds(attention, seconds, args))
        eager, sdpa = statistics.median(runs["eager"]), statistics.median(runs["sdpa"])
        print(f"| {seconds:g} s | {eager:.3f} | {sdpa:.3f} | {eager / sdpa:.2f}x |")


if __name__ == "__main__":
    main()
