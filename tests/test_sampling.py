"""Class-balanced and duration-bucketed sampling, padding share, durations from file headers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from datasets import Audio, Dataset
from torch.utils.data import DataLoader

from sertune.errors import AudioDecodeError
from sertune.training.data import EpochShuffleSampler
from sertune.training.sampling import (
    ClassBalancedSampler,
    DurationBucketBatchSampler,
    durations_from_dataset,
    padding_share,
    padding_share_of_batches,
)

# 100 rows: 5 of class 0, 20 of class 1, 75 of class 2, interleaved.
IMBALANCED = [0] * 5 + [1] * 20 + [2] * 75
IMBALANCED = [IMBALANCED[(7 * i) % 100] for i in range(100)]


def lognormal_durations(num_rows: int = 500, seed: int = 0) -> list[float]:
    # Utterance lengths of emotion corpora are roughly log-normal (median ~3 s, long tail).
    return np.random.default_rng(seed).lognormal(mean=1.0, sigma=0.6, size=num_rows).tolist()


def epoch_of(sampler, epoch: int) -> list:
    sampler.set_epoch(epoch)
    return list(sampler)


# --- ClassBalancedSampler ---------------------------------------------------------------


def test_balanced_sampler_draws_classes_equally_often():
    sampler = ClassBalancedSampler(IMBALANCED, seed=3)
    counts = Counter()
    for epoch in range(20):
        keys = epoch_of(sampler, epoch)
        assert len(keys) == len(sampler) == 100
        counts.update(IMBALANCED[key % 100] for key in keys)
    total = sum(counts.values())
    for label in (0, 1, 2):
        assert counts[label] / total == pytest.approx(1 / 3, abs=0.03)


def test_balanced_sampler_draws_every_row_of_a_rare_class():
    sampler = ClassBalancedSampler(IMBALANCED, seed=0, num_samples=600)
    rows = {key % 100 for key in epoch_of(sampler, 0)}
    rare = {row for row, label in enumerate(IMBALANCED) if label == 0}
    assert rare <= rows


def test_balanced_sampler_is_deterministic_per_seed_and_epoch():
    first, second = (
        ClassBalancedSampler(IMBALANCED, seed=1),
        ClassBalancedSampler(IMBALANCED, seed=1),
    )
    assert epoch_of(first, 4) == epoch_of(second, 4)
    assert epoch_of(first, 0) != epoch_of(first, 1)
    assert epoch_of(first, 2) != epoch_of(ClassBalancedSampler(IMBALANCED, seed=2), 2)


def test_balanced_sampler_encodes_the_epoch_with_the_dataset_length():
    sampler = ClassBalancedSampler(IMBALANCED, seed=0, num_samples=30)
    assert len(sampler) == 30
    keys = epoch_of(sampler, 3)
    assert len(keys) == 30
    # num_rows of the encoding is len(labels), not num_samples.
    assert all(300 <= key < 400 for key in keys)
    assert [key % 100 for key in epoch_of(sampler, 3)] == [key % 100 for key in keys]


def test_balanced_sampler_rejects_bad_arguments():
    with pytest.raises(ValueError, match="labels is empty"):
        ClassBalancedSampler([])
    with pytest.raises(ValueError, match="num_samples must be at least 1"):
        ClassBalancedSampler([0, 1], num_samples=0)


# --- DurationBucketBatchSampler ---------------------------------------------------------


def test_bucket_sampler_yields_every_row_once_per_epoch():
    durations = lognormal_durations(503)
    sampler = DurationBucketBatchSampler(durations, 8, seed=0, bucket_size_multiplier=10)
    batches = epoch_of(sampler, 2)
    assert len(batches) == len(sampler) == 63  # ceil(503 / 8)
    keys = [key for batch in batches for key in batch]
    assert sorted(keys) == list(range(2 * 503, 3 * 503))
    assert [len(batch) for batch in batches] == [8] * 62 + [7]  # the short batch comes last


def test_bucket_sampler_drop_last_leaves_out_the_short_batch():
    sampler = DurationBucketBatchSampler(lognormal_durations(503), 8, drop_last=True)
    batches = epoch_of(sampler, 0)
    assert len(batches) == len(sampler) == 62
    assert {len(batch) for batch in batches} == {8}
    assert len({key for batch in batches for key in batch}) == 496


def test_bucketing_cuts_padding():
    durations = lognormal_durations(500)
    random_order = epoch_of(EpochShuffleSampler(500, seed=0), 0)
    random_batches = [random_order[i : i + 8] for i in range(0, 500, 8)]
    bucketed = DurationBucketBatchSampler(durations, 8, seed=0, bucket_size_multiplier=50)
    random_share = padding_share_of_batches(durations, random_batches)
    bucketed_share = padding_share_of_batches(durations, bucketed)
    assert random_share > 0.3
    assert bucketed_share < 0.5 * random_share


def test_bucket_sampler_is_deterministic_per_seed_and_epoch():
    durations = lognormal_durations(200)
    first = DurationBucketBatchSampler(durations, 4, seed=5, bucket_size_multiplier=5)
    second = DurationBucketBatchSampler(durations, 4, seed=5, bucket_size_multiplier=5)
    assert epoch_of(first, 1) == epoch_of(second, 1)
    # The same rows in another order, not just the same order shifted by the epoch offset.
    rows_epoch_0 = [[key % 200 for key in batch] for batch in epoch_of(first, 0)]
    rows_epoch_1 = [[key % 200 for key in batch] for batch in epoch_of(first, 1)]
    assert rows_epoch_0 != rows_epoch_1
    other_seed = DurationBucketBatchSampler(durations, 4, seed=6, bucket_size_multiplier=5)
    assert epoch_of(first, 0) != epoch_of(other_seed, 0)


def test_bucket_sampler_without_shuffle_sorts_longest_first():
    durations = [2.0, 5.0, 1.0, 4.0, 3.0]
    sampler = DurationBucketBatchSampler(durations, 2, shuffle=False)
    assert epoch_of(sampler, 0) == [[1, 3], [4, 0], [2]]
    assert epoch_of(sampler, 1) == [[6, 8], [9, 5], [7]]


def test_bucket_sampler_rejects_bad_arguments():
    with pytest.raises(ValueError, match="durations is empty"):
        DurationBucketBatchSampler([], 4)
    with pytest.raises(ValueError, match=r"bad rows: \[1\]"):
        DurationBucketBatchSampler([1.0, float("nan")], 4)
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        DurationBucketBatchSampler([1.0], 0)
    with pytest.raises(ValueError, match="leaves no batch"):
        DurationBucketBatchSampler([1.0, 2.0], 4, drop_last=True)


class EpochRowDataset(torch.utils.data.Dataset):
    """Decodes ``epoch * n + row`` as the training dataset does."""

    def __init__(self, num_rows: int):
        self.num_rows = num_rows

    def __len__(self) -> int:
        return self.num_rows

    def __getitem__(self, key: int) -> tuple[int, int]:
        return divmod(int(key), self.num_rows)


def test_bucket_sampler_as_a_dataloader_batch_sampler():
    durations = lognormal_durations(50)
    sampler = DurationBucketBatchSampler(durations, 4, seed=0, bucket_size_multiplier=3)
    loader = DataLoader(EpochRowDataset(50), batch_sampler=sampler)
    assert len(loader) == 13
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        batches = list(loader)
        epochs = torch.cat([batch_epochs for batch_epochs, _ in batches])
        rows = torch.cat([batch_rows for _, batch_rows in batches])
        assert set(epochs.tolist()) == {epoch}
        assert sorted(rows.tolist()) == list(range(50))
        assert [len(rows) for _, rows in batches] == [4] * 12 + [2]


# --- padding share ----------------------------------------------------------------------


def test_padding_share_hand_computed():
    # Batch [2, 4]: 2 * 4 = 8 samples, 6 real. Batch [3, 3, 1]: 3 * 3 = 9, 7 real.
    # Padding (2 + 2) out of 17.
    assert padding_share([[2, 4], [3, 3, 1]]) == pytest.approx(4 / 17)
    assert padding_share([[5, 5]]) == 0.0
    # The epoch part of the keys is stripped.
    assert padding_share_of_batches([2, 4, 3, 3, 1], [[5, 6], [7, 8, 9]]) == pytest.approx(4 / 17)
    with pytest.raises(ValueError, match="padding share is undefined"):
        padding_share([])


# --- durations_from_dataset -------------------------------------------------------------


def write_wav(path: Path, seconds: float, rate: int, channels: int = 1) -> Path:
    frames = int(round(seconds * rate))
    sf.write(path, np.zeros((frames, channels), dtype=np.float32), rate, subtype="PCM_16")
    return path


@pytest.fixture
def wav_files(tmp_path) -> list[Path]:
    return [
        write_wav(tmp_path / "a.wav", 1.5, 16_000),
        write_wav(tmp_path / "b.wav", 0.25, 8_000),
        write_wav(tmp_path / "c.wav", 2.0, 44_100, channels=2),
    ]


def audio_rows(paths) -> list[dict]:
    return [{"path": str(path), "bytes": None} for path in paths]


def test_durations_from_file_headers(wav_files):
    dataset = Dataset.from_dict({"audio": audio_rows(wav_files), "label": [0, 1, 2]})
    assert durations_from_dataset(dataset) == pytest.approx([1.5, 0.25, 2.0])
    # Row selection is honoured, and a decoding Audio column is not decoded.
    decoding = dataset.cast_column("audio", Audio(decode=True)).select([2, 0])
    assert durations_from_dataset(decoding) == pytest.approx([2.0, 1.5])


def test_durations_from_bytes(wav_files):
    rows = [{"path": "b.wav", "bytes": wav_files[1].read_bytes()}, *audio_rows(wav_files[:1])]
    dataset = Dataset.from_dict({"audio": rows})
    assert durations_from_dataset(dataset) == pytest.approx([0.25, 1.5])
    broken = Dataset.from_dict({"audio": [{"path": "x.wav", "bytes": b"not audio"}]})
    with pytest.raises(AudioDecodeError, match=r"^x\.wav: row 0: audio bytes are not"):
        durations_from_dataset(broken)


def test_durations_name_the_missing_file(wav_files, tmp_path):
    missing = tmp_path / "missing.wav"
    dataset = Dataset.from_dict({"audio": audio_rows([wav_files[0], missing])})
    with pytest.raises(AudioDecodeError, match="missing.wav: file does not exist") as caught:
        durations_from_dataset(dataset)
    assert caught.value.path == str(missing)
    with pytest.raises(ValueError, match="no 'speech' column"):
        durations_from_dataset(dataset, audio_column="speech")
