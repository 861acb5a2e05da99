"""LoRA / IA3 against full fine-tuning: trainable parameters, optimiser state and step time.

    python benchmarks/peft_step.py --layers 4 --hidden_size 256 --steps 8

A wav2vec2 encoder built from a config with random weights (speed and memory do not depend on
the values) under sertune's head, trained with AdamW on random 3 s batches at 16 kHz on the
CPU, one configuration after another in the same process: full fine-tuning, LoRA (r 8 on the
attention and feed-forward projections) and IA3. Reports the trainable parameters and their
share, the optimiser state after the first step (AdamW's two moments), and the median time of
a training step (forward, backward, optimiser) after one warm-up step.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from sertune.models import build_tiny_random_model
from sertune.models.peft_utils import PeftArguments, apply_peft, trainable_parameter_report


def build(layers: int, hidden_size: int, seed: int):
    overrides = {
        "num_hidden_layers": layers,
        "hidden_size": hidden_size,
        "num_attention_heads": max(1, hidden_size // 64),
        "intermediate_size": 4 * hidden_size,
    }
    return build_tiny_random_model("wav2vec2", num_labels=7, seed=seed, encoder_overrides=overrides)


def measure(model, batch_size: int, seconds: float, steps: int) -> dict:
    model.train()
    groups = model.parameter_groups(1e-4, 1e-4, 0.01)
    optimizer = torch.optim.AdamW(groups)
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(batch_size, int(seconds * 16_000), generator=generator)
    labels = torch.randint(0, 7, (batch_size,), generator=generator)
    times = []
    for step in range(steps + 1):
        started = time.perf_counter()
        loss = model(input_values=inputs, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step > 0:
            times.append(time.perf_counter() - started)
    state_bytes = sum(
        tensor.numel() * tensor.element_size()
        for state in optimizer.state.values()
        for tensor in state.values()
        if torch.is_tensor(tensor) and tensor.dim() > 0
    )
    return {"step_seconds": statistics.median(times), "optimizer_state_mb": state_bytes / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden_size", type=int, default=256)
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    print(
        f"# wav2vec2 encoder, {args.layers} layers x {args.hidden_size}, random weights; batch "
        f"{args.batch_size} x {args.seconds} s; {torch.get_num_threads()} threads; median of "
        f"{args.steps} steps"
    )
    print("| fine-tuning | trainable | total | share | optimiser state (MB) | step (s) | vs full |")
    print("|---|---|---|---|---|---|---|")
    full_step = None
    for name in ("full", "lora", "ia3"):
        model = build(args.layers, args.hidden_size, seed=0)
        if name != "full":
            model = apply_peft(model, PeftArguments(peft_method=name))
        report = trainable_parameter_report(model)
        result = measure(model, args.batch_size, args.seconds, args.steps)
        full_step = full_step or result["step_seconds"]
        print(
            f"| {name} | {report['trainable']:,} | {report['total']:,} | {report['share']:.1%} "
            f"| {result['optimizer_state_mb']:.2f} | {result['step_seconds']:.3f} "
            f"| {result['step_seconds'] / full_step:.2f}x |"
        )


if __name__ == "__main__":
    main()
