"""CPU latency and real-time factor: PyTorch fp32 against ONNX fp32 and ONNX INT8, with file sizes.

    nice -n 15 python benchmarks/onnx_latency.py                       # all models, 3 s and 30 s
    python benchmarks/onnx_latency.py --models wav2vec2-base --seconds 3 --repeats 5 --threads 4

Pretrained weights are not needed: the full-size architectures are built from their configs
with random weights (latency does not depend on the values). Models:

* ``wav2vec2-base``: ``Wav2Vec2Config()`` defaults (12 layers, 768 wide, group-norm feature
  encoder) under sertune's default head (weighted layer sum, attention pooling, MLP);
* ``cnn-resnet18``: ``build_cnn_model("random:microsoft/resnet-18")`` (BLSTM + attention over
  segments) behind the default ``LogMelFeatureExtractor`` (64 mels, 64-frame segments, hop 32);
* ``tiny-wav2vec2`` and ``tiny-cnn-resnet``: the test suite's tiny random models.

Each model is saved, exported with :func:`sertune.export.export_onnx` (``int8=True``), and timed
on one utterance of each duration: the PyTorch path is the feature extractor plus the model under
``torch.inference_mode``; the ONNX paths run the exported graph (feature extraction included)
with onnxruntime's CPU provider. Every measurement is the median of ``--repeats`` runs after one
warm-up run. ``--threads`` sets both ``torch.set_num_threads`` and onnxruntime's
``intra_op_num_threads``. RTF is latency divided by the audio's duration (below 1: faster than
real time). Sizes are the safetensors weights and the ONNX files. The
random heads give logits of about 1e-3, so the INT8 differences are shown next to the logits'
scale; the tests (``tests/test_export.py``) measure agreement on heads with separated logits.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from transformers import Wav2Vec2Config

from sertune.export import export_onnx, reference_logits
from sertune.models import (
    LogMelFeatureExtractor,
    SerConfig,
    SerForAudioClassification,
    build_cnn_model,
    build_feature_extractor,
    build_tiny_random_model,
)
from sertune.onnx_runtime import OnnxEmotionClassifier

SAMPLING_RATE = 16_000
EMOTIONS = dict(enumerate(["neutral", "happy", "sad", "angry", "fear", "disgust", "surprise"]))


def wav2vec2_base():
    config = SerConfig(encoder_config=Wav2Vec2Config(), id2label=EMOTIONS)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = SerForAudioClassification(config)
    return model, build_feature_extractor(config)


def cnn_resnet18():
    model = build_cnn_model("random:microsoft/resnet-18", id2label=EMOTIONS)
    return model, LogMelFeatureExtractor()


def tiny_wav2vec2():
    model = build_tiny_random_model("wav2vec2", id2label=EMOTIONS)
    return model, build_feature_extractor(model.config)


def tiny_cnn_resnet():
    model = build_cnn_model("tiny-random-cnn-resnet", id2label=EMOTIONS)
    return model, LogMelFeatureExtractor(n_mels=32, segment_frames=32)


MODELS: dict[str, Callable] = {
    "wav2vec2-base": wav2vec2_base,
    "cnn-resnet18": cnn_resnet18,
    "tiny-wav2vec2": tiny_wav2vec2,
    "tiny-cnn-resnet": tiny_cnn_resnet,
}


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--seconds", nargs="+", type=float, default=[3.0, 30.0])
    parser.add_argument("--repeats", type=int, default=3, help="Timed runs after one warm-up.")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for both runtimes.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.models:
            model, feature_extractor = MODELS[name]()
            model.eval()
            model_dir, onnx_dir = Path(scratch, name), Path(scratch, name + "-onnx")
            model.save_pretrained(model_dir)
            feature_extractor.save_pretrained(model_dir)
            start = time.perf_counter()
            exported = export_onnx(model_dir, onnx_dir, int8=True)
            export_seconds = time.perf_counter() - start
            weights_bytes = sum(p.stat().st_size for p in model_dir.glob("*.safetensors"))
            runtimes = {
                precision: OnnxEmotionClassifier(
                    onnx_dir, int8=precision == "int8", intra_op_num_threads=args.threads
                )
                for precision in ("fp32", "int8")
            }
            for seconds in args.seconds:
                wave = (0.1 * rng.standard_normal(round(seconds * SAMPLING_RATE))).astype(
                    np.float32
                )
                latency = {
                    "pytorch": median_seconds(
                        lambda wave=wave, model=model, fe=feature_extractor: reference_logits(
                            model, fe, [wave]
                        ),
                        args.repeats,
                    )
                }
                for precision, runtime in runtimes.items():
                    latency[precision] = median_seconds(
                        lambda wave=wave, runtime=runtime: runtime.logits([wave]), args.repeats
                    )
                fp32 = runtimes["fp32"].logits([wave])
                int8 = runtimes["int8"].logits([wave])
                rows.append(
                    {
                        "model": name,
                        "seconds": seconds,
                        "latency": latency,
                        "sizes": (weights_bytes, exported["onnx_bytes"], exported["int8_bytes"]),
                        "int8_diff": float(np.abs(int8 - fp32).max()),
                        "logit_scale": float(np.abs(fp32).max()),
                        "export_seconds": export_seconds,
                        "export_diff": exported["max_abs_diff"],
                    }
                )

    print(
        f"# CPU, {args.threads} thread(s), median of {args.repeats} runs after 1 warm-up; "
        f"torch {torch.__version__}"
    )
    print()
    print(
        "| model | audio | PyTorch fp32 | ONNX fp32 | ONNX INT8 | RTF PyTorch / fp32 / INT8 "
        "| size MB: weights / ONNX / INT8 | INT8 vs fp32: max abs Δlogits (max abs logit) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        latency, seconds = row["latency"], row["seconds"]
        mb = " / ".join(f"{size / 1e6:.1f}" for size in row["sizes"])
        rtf = " / ".join(f"{latency[k] / seconds:.3f}" for k in ("pytorch", "fp32", "int8"))
        print(
            f"| {row['model']} | {seconds:g} s | {latency['pytorch'] * 1e3:.0f} ms "
            f"| {latency['fp32'] * 1e3:.0f} ms | {latency['int8'] * 1e3:.0f} ms | {rtf} | {mb} "
            f"| {row['int8_diff']:.2g} ({row['logit_scale']:.2g}) |"
        )
    print()
    for name in dict.fromkeys(row["model"] for row in rows):
        row = next(r for r in rows if r["model"] == name)
        print(
            f"- {name}: export {row['export_seconds']:.0f} s, ONNX fp32 vs PyTorch max abs "
            f"Δlogits {row['export_diff']:.2g} (export-time check)"
        )


if __name__ == "__main__":
    main()
