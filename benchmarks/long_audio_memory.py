"""Memory and time of ``EmotionPredictor.predict_long`` on a long file against a short one.

    python benchmarks/long_audio_memory.py                      # 30 min and 1 min at 44.1 kHz
    python benchmarks/long_audio_memory.py --families wav2vec2 --minutes 10 --hop_seconds 2

It writes two mono 16-bit WAV files of seeded noise and tones (in 10-second chunks, so the
writer never holds the whole file) at ``--rate`` (44.1 kHz by default, so that every window is
resampled to the model's 16 kHz), saves a tiny random model of each family with its feature
extractor, and runs ``predict_long`` on each file in a fresh Python process. Each process loads
the model, warms up on a 5-second file, then measures around the call:

* RSS growth: the peak resident set size during the call (sampled every 10 ms from
  ``/proc/self/statm``, and ``ru_maxrss``) minus the RSS just before it;
* wall time and windows per second;
* with ``--tracemalloc``, a second call under ``tracemalloc``: the peak of the allocations it
  sees (Python objects and numpy buffers, not torch's tensors). It runs apart from the RSS
  measurement because tracemalloc's own bookkeeping (a traceback per live allocation) adds
  about 6 KB of RSS per window held in the result, which would swamp the figure being measured.

If reading were not in blocks, the 30-minute file alone would take ``frames x 4`` bytes as
float32 (318 MB at 44.1 kHz) before resampling; the table prints that figure for comparison.
The result dict itself (one entry per window) grows with the number of windows, about 1 KB each.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import soundfile as sf

ID2LABEL = {0: "angry", 1: "happy", 2: "neutral", 3: "sad"}
FAMILIES = ("wav2vec2", "cnn")
_CHUNK_SECONDS = 10


def write_test_file(path: Path, minutes: float, rate: int, seed: int = 0) -> int:
    """Write ``minutes`` of seeded noise plus a wandering tone, chunk by chunk; return frames."""
    rng = np.random.default_rng(seed)
    total = int(round(minutes * 60 * rate))
    chunk = _CHUNK_SECONDS * rate
    phase = 0.0
    with sf.SoundFile(path, "w", samplerate=rate, channels=1, subtype="PCM_16") as out:
        for first in range(0, total, chunk):
            n = min(chunk, total - first)
            t = (first + np.arange(n)) / rate
            frequency = 220.0 + 110.0 * np.sin(2 * np.pi * t / 37.0)
            phases = phase + 2 * np.pi * np.cumsum(frequency) / rate
            phase = float(phases[-1])
            level = 0.05 + 0.25 * np.abs(np.sin(2 * np.pi * t / 23.0))
            samples = level * (0.6 * np.sin(phases) + 0.4 * rng.standard_normal(n))
            out.write(np.clip(samples, -1.0, 1.0).astype(np.float32))
    return total


def save_model(family: str, folder: Path) -> Path:
    """Save a tiny random model of ``family`` with its feature extractor to ``folder``."""
    from sertune.models import build_cnn_model, build_feature_extractor, build_tiny_random_model
    from sertune.models.logmel import LogMelFeatureExtractor

    if family == "wav2vec2":
        model = build_tiny_random_model("wav2vec2", id2label=ID2LABEL)
        feature_extractor = build_feature_extractor(model.config)
    else:
        model = build_cnn_model("tiny-random-cnn-resnet", id2label=ID2LABEL)
        feature_extractor = LogMelFeatureExtractor(n_mels=32, segment_frames=32)
    model.save_pretrained(folder)
    feature_extractor.save_pretrained(folder)
    return folder


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(model_dir: str, audio: str, warmup: str, options: dict) -> dict:
    """Run in a fresh process: load, warm up, then measure one ``predict_long`` call."""
    traced = options.pop("tracemalloc")
    import torch

    from sertune.inference import EmotionPredictor

    torch.set_num_threads(options.pop("threads"))
    predictor = EmotionPredictor.from_pretrained(model_dir, batch_size=options.pop("batch_size"))
    predictor.predict_long(warmup, **options)

    baseline = _rss_bytes()
    baseline_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            done.wait(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    result = predictor.predict_long(audio, **options)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    measured = {
        "duration": result["duration"],
        "windows": len(result["windows"]),
        "seconds": seconds,
        "baseline_rss": baseline,
        "peak_rss": peak[0],
        "rss_growth": peak[0] - baseline,
        "maxrss_growth": max(0, maxrss - baseline_maxrss),
        "traced_peak": None,
    }
    if traced:
        del result
        tracemalloc.start()
        predictor.predict_long(audio, **options)
        measured["traced_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return measured


def _mb(value: float) -> str:
    return f"{value / 1e6:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="Length of the long file.")
    parser.add_argument("--short_minutes", type=float, default=1.0, help="The short file.")
    parser.add_argument("--rate", type=int, default=44_100, help="Sample rate of the files.")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--window_seconds", type=float, default=2.0)
    parser.add_argument("--hop_seconds", type=float, default=0.5)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="torch threads per process.")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="Also measure a traced call (twice the time)."
    )
    parser.add_argument("--workdir", default=None, help="Folder for the files (a temp folder).")
    parser.add_argument("--_child", nargs=4, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args._child is not None:
        model_dir, audio, warmup, options = args._child
        print(json.dumps(measure(model_dir, audio, warmup, json.loads(options))))
        return

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmp = Path(tmp)
        files = {}
        for name, minutes in (("warmup", 5 / 60), ("short", args.short_minutes)):
            files[name] = tmp / f"{name}.wav"
            write_test_file(files[name], minutes, args.rate, seed=1)
        files["long"] = tmp / "long.wav"
        start = time.perf_counter()
        frames = write_test_file(files["long"], args.minutes, args.rate)
        print(
            f"wrote {args.minutes:g} min at {args.rate} Hz ({files['long'].stat().st_size / 1e6:.0f}"
            f" MB) in {time.perf_counter() - start:.1f} s",
            file=sys.stderr,
        )
        options = {
            "window_seconds": args.window_seconds,
            "hop_seconds": args.hop_seconds,
            "batch_size": args.batch_size,
            "threads": args.threads,
            "tracemalloc": args.tracemalloc,
        }
        rows = []
        for family in args.families:
            model_dir = save_model(family, tmp / f"model-{family}")
            for name in ("short", "long"):
                command = [sys.executable, __file__, "--_child", str(model_dir)]
                command += [str(files[name]), str(files["warmup"]), json.dumps(options)]
                done = subprocess.run(command, check=True, capture_output=True, text=True)
                measured = json.loads(done.stdout.strip().splitlines()[-1])
                rows.append((family, measured))
                print(f"{family} {name}: {measured}", file=sys.stderr)

    print(
        f"\npredict_long, window {args.window_seconds:g} s, hop {args.hop_seconds:g} s, batch "
        f"{args.batch_size}, {args.rate} Hz mono file resampled to 16 kHz, {args.threads} torch "
        "threads\n"
    )
    traced = " tracemalloc peak (MB) |" if args.tracemalloc else ""
    print(
        "| model | audio | windows | wall (s) | windows/s | RSS before (MB) | RSS growth (MB) "
        f"| ru_maxrss growth (MB) |{traced}"
    )
    print("|---|---|---|---|---|---|---|---|" + ("---|" if traced else ""))
    for family, m in rows:
        print(
            f"| tiny {family} | {m['duration'] / 60:g} min | {m['windows']} | {m['seconds']:.1f} "
            f"| {m['windows'] / m['seconds']:.1f} | {_mb(m['baseline_rss'])} "
            f"| {_mb(m['rss_growth'])} | {_mb(m['maxrss_growth'])} |"
            + (f" {_mb(m['traced_peak'])} |" if traced else "")
        )
    print(
        f"\nFor comparison, decoding the {args.minutes:g}-minute file whole as float32 would take "
        f"{_mb(frames * 4)} MB before resampling."
    )


if __name__ == "__main__":
    main()
