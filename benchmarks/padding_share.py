"""Share of padded samples per epoch: random batches against duration buckets.

    python benchmarks/padding_share.py --corpus emodb --data_dir ../shared/data/emodb
    python benchmarks/padding_share.py --lognormal 535 --median_seconds 2.5 --sigma 0.45

It runs the training loop's own samplers (``EpochShuffleSampler`` cut into batches, and
``DurationBucketBatchSampler``) over the corpus's durations, read from the file headers and
cropped to ``--max_train_seconds`` as the loop crops them, and prints the share of padded
samples each epoch: the value the loop logs as ``padding_share``. ``--lognormal N`` draws N
durations from a log-normal distribution instead, for corpora that are not on this machine.
"""

from __future__ import annotations

import argparse

import numpy as np

from sertune.data import load_corpus
from sertune.training.data import EpochShuffleSampler
from sertune.training.sampling import (
    DurationBucketBatchSampler,
    durations_from_dataset,
    padding_share_of_batches,
)


def random_batches(num_rows: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    sampler = EpochShuffleSampler(num_rows, seed=seed)
    sampler.set_epoch(epoch)
    order = list(sampler)
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def bucket_batches(durations, batch_size: int, seed: int, epoch: int, multiplier: int):
    sampler = DurationBucketBatchSampler(
        durations, batch_size, seed=seed, bucket_size_multiplier=multiplier
    )
    sampler.set_epoch(epoch)
    return list(sampler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="emodb")
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--lognormal", type=int, default=0, help="Draw this many durations.")
    parser.add_argument("--median_seconds", type=float, default=2.5)
    parser.add_argument("--sigma", type=float, default=0.45)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--bucket_size_multiplier", type=int, default=50)
    parser.add_argument("--max_train_seconds", type=float, default=6.0)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    if args.lognormal:
        rng = np.random.default_rng(args.seed)
        durations = rng.lognormal(np.log(args.median_seconds), args.sigma, args.lognormal)
        source = f"{args.lognormal} log-normal durations (median {args.median_seconds} s, sigma {args.sigma})"
    else:
        durations = np.asarray(durations_from_dataset(load_corpus(args.corpus, args.data_dir)))
        source = f"{args.corpus} ({len(durations)} files in {args.data_dir})"
    cropped = np.minimum(durations, args.max_train_seconds).tolist()
    print(f"# {source}")
    print(
        f"durations: min {durations.min():.2f} s, median {np.median(durations):.2f} s, "
        f"mean {durations.mean():.2f} s, max {durations.max():.2f} s; cropped to "
        f"{args.max_train_seconds} s; batch size {args.batch_size}"
    )
    print("| epoch | random | bucket | bucket / random |")
    print("|---|---|---|---|")
    totals = {"random": [], "bucket": []}
    for epoch in range(args.epochs):
        shares = {
            "random": padding_share_of_batches(
                cropped, random_batches(len(cropped), args.batch_size, args.seed, epoch)
            ),
            "bucket": padding_share_of_batches(
                cropped,
                bucket_batches(
                    cropped, args.batch_size, args.seed, epoch, args.bucket_size_multiplier
                ),
            ),
        }
        for name, value in shares.items():
            totals[name].append(value)
        ratio = shares["bucket"] / shares["random"] if shares["random"] else float("nan")
        print(f"| {epoch} | {shares['random']:.4f} | {shares['bucket']:.4f} | {ratio:.3f} |")
    mean_random, mean_bucket = np.mean(totals["random"]), np.mean(totals["bucket"])
    ratio = mean_bucket / mean_random if mean_random else float("nan")
    print(f"| mean | {mean_random:.4f} | {mean_bucket:.4f} | {ratio:.3f} |")


if __name__ == "__main__":
    main()
