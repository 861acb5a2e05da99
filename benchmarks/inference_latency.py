"""Batch-1 CPU latency and real-time factor of ``EmotionPredictor``, 1 and 2 threads.

    .venv/bin/python benchmarks/inference_latency.py --seconds 3 10 --threads 1 2 --repeats 5

Random weights (latency does not depend on them). Models, all wav2vec2 under sertune's head:
``tiny-wav2vec2`` and ``wav2vec2-base`` are built as in ``onnx_latency.py`` (whose builders and
timing this script reuses; that script compares PyTorch with ONNX Runtime); ``small-wav2vec2``
is the encoder of ``train_throughput.py`` (4 layers, 256 wide, the tiny convolutional front
end). A call is ``EmotionPredictor.predict([waveform])`` with ``batch_size=1``: feature
extraction (normalisation), the forward pass under ``torch.inference_mode`` and the softmax.
Each figure is the median of ``--repeats`` calls after one warm-up; thread counts alternate
within each of ``--rounds`` rounds (``torch.set_num_threads``), and the table gives the median
over rounds. RTF is latency divided by the audio's duration.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch
from onnx_latency import EMOTIONS, median_seconds, tiny_wav2vec2, wav2vec2_base
from train_throughput import ENCODER_OVERRIDES

from sertune.inference import EmotionPredictor
from sertune.models import build_feature_extractor, build_tiny_random_model

SAMPLING_RATE = 16_000


def small_wav2vec2():
    model = build_tiny_random_model(
        "wav2vec2", id2label=EMOTIONS, encoder_overrides=ENCODER_OVERRIDES, head_hidden_size=256
    )
    return model, build_feature_extractor(model.config)


MODELS = {
    "tiny-wav2vec2": tiny_wav2vec2,
    "small-wav2vec2": small_wav2vec2,
    "wav2vec2-base": wav2vec2_base,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--seconds", nargs="+", type=float, default=[3.0, 10.0])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5, help="Timed calls after a warm-up.")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    waves = {
        seconds: (0.1 * rng.standard_normal(round(seconds * SAMPLING_RATE))).astype(np.float32)
        for seconds in args.seconds
    }
    predictors = {}
    for name in args.models:
        model, feature_extractor = MODELS[name]()
        predictors[name] = EmotionPredictor(model, feature_extractor, batch_size=1)
    latencies: dict[tuple, list[float]] = {}
    for round_index in range(args.rounds):
        threads_order = args.threads if round_index % 2 == 0 else args.threads[::-1]
        for threads in threads_order:
            torch.set_num_threads(threads)
            for name, predictor in predictors.items():
                for seconds, wave in waves.items():
                    latency = median_seconds(
                        lambda p=predictor, w=wave: p.predict([w]), args.repeats
                    )
                    latencies.setdefault((name, seconds, threads), []).append(latency)
    print(
        f"# CPU, batch 1, median of {args.repeats} calls after a warm-up, median of "
        f"{args.rounds} rounds; torch {torch.__version__}"
    )
    print()
    header = " | ".join(f"{t} thread{'s' if t > 1 else ''}: ms (RTF)" for t in args.threads)
    print(f"| model | parameters | audio | {header} |")
    print("|---|---|---|" + "---|" * len(args.threads))
    for name, predictor in predictors.items():
        parameters = sum(p.numel() for p in predictor.model.parameters())
        for seconds in args.seconds:
            cells = []
            for threads in args.threads:
                latency = statistics.median(latencies[(name, seconds, threads)])
                cells.append(f"{latency * 1e3:.1f} ({latency / seconds:.4f})")
            print(f"| {name} | {parameters / 1e6:.2f} M | {seconds:g} s | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
