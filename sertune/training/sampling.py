"""Training samplers: class-balanced draws and duration-bucketed batches.

Both follow the conventions of :class:`~sertune.training.data.EpochShuffleSampler`: the order
is a pure function of ``(seed, epoch)``, so every process of a distributed run draws the same
one (Accelerate then hands each process its share) and a resumed run replays the batches an
uninterrupted one would have seen; ``set_epoch`` selects the epoch; and each index is yielded
as ``epoch * num_rows + row`` so the dataset knows the epoch of the item it decodes.

* :class:`ClassBalancedSampler` draws rows with replacement so that every class is equally
  likely, an alternative to class-weighted losses for imbalanced corpora.
* :class:`DurationBucketBatchSampler` groups utterances of similar length into a batch, so
  that little of each padded batch is padding (utterance lengths in emotion corpora span 1 to
  over 20 seconds; a random batch is padded to its longest member).
* :func:`padding_share` and :func:`durations_from_dataset` measure what bucketing saves.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Iterator, Sequence

import soundfile as sf
import torch
from datasets import Dataset as HFDataset
from torch.utils.data import Sampler

from sertune.audio import audio_info
from sertune.errors import AudioDecodeError


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    # The same seed mix as EpochShuffleSampler, so one (seed, epoch) means one stream.
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


class ClassBalancedSampler(Sampler[int]):
    """Rows drawn with replacement so that each class is equally likely, per epoch.

    Each draw picks a class uniformly among the classes present in ``labels``, then a row
    uniformly within that class; a row of class ``c`` thus has probability
    ``1 / (K * n_c)``. Rare-class utterances repeat within an epoch and majority-class ones
    are skipped, so an "epoch" is ``num_samples`` draws rather than one pass over the data.

    Args:
        labels: Class of each dataset row (any integer ids).
        seed: Base seed.
        num_samples: Draws per epoch; defaults to ``len(labels)``.
    """

    def __init__(self, labels: Sequence[int], *, seed: int = 0, num_samples: int | None = None):
        labels = torch.as_tensor([int(label) for label in labels], dtype=torch.long)
        if labels.numel() == 0:
            raise ValueError("labels is empty: there is nothing to sample")
        if num_samples is None:
            num_samples = labels.numel()
        if num_samples < 1:
            raise ValueError(f"num_samples must be at least 1, got {num_samples}")
        self.num_rows = labels.numel()
        self.num_samples = int(num_samples)
        self.seed = seed
        self.epoch = 0
        self.classes = torch.unique(labels).tolist()
        # Rows grouped by class (classes in ascending order), so a draw is an offset into
        # one flat tensor.
        order = torch.argsort(labels, stable=True)
        _, counts = torch.unique(labels, return_counts=True)
        self._rows_by_class = order
        self._class_counts = counts
        self._class_starts = torch.cumsum(counts, 0) - counts

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        generator = _epoch_generator(self.seed, self.epoch)
        drawn = torch.randint(len(self.classes), (self.num_samples,), generator=generator)
        counts = self._class_counts[drawn]
        uniform = torch.rand(self.num_samples, generator=generator, dtype=torch.float64)
        # float64 keeps floor(u * n_c) uniform over 0..n_c-1; the clamp guards u * n_c
        # rounding up to n_c.
        within = torch.minimum((uniform * counts).long(), counts - 1)
        rows = self._rows_by_class[self._class_starts[drawn] + within]
        offset = self.epoch * self.num_rows
        return iter((rows + offset).tolist())


class DurationBucketBatchSampler(Sampler[list[int]]):
    """Batches of utterances of similar duration, shuffled per epoch (a ``batch_sampler``).

    Per epoch the rows are shuffled, cut into buckets of ``batch_size *
    bucket_size_multiplier`` rows, each bucket is sorted by duration and cut into batches, and
    the batches are shuffled. Batches are thus random in content and order, but each holds
    utterances of similar length and needs little padding. A larger multiplier means less
    padding and less randomness.

    At most one batch is smaller than ``batch_size`` (``len(durations) % batch_size`` rows);
    it always comes last in the epoch, because Accelerate's batch sharding for distributed
    runs only tolerates a short batch at the end (elsewhere it drops a round of batches).

    With ``shuffle=False`` all rows are sorted by duration, longest first so that a batch too
    large for memory fails at once, and cut into batches in that order (evaluation).

    Args:
        durations: Length of each row (seconds or samples; only the order matters).
        batch_size: Rows per batch.
        seed: Base seed.
        bucket_size_multiplier: Batches per bucket.
        drop_last: Leave out the short batch.
        shuffle: ``False`` gives the deterministic, sorted order of evaluation.
    """

    def __init__(
        self,
        durations: Sequence[float],
        batch_size: int,
        *,
        seed: int = 0,
        bucket_size_multiplier: int = 50,
        drop_last: bool = False,
        shuffle: bool = True,
    ):
        durations = torch.as_tensor([float(d) for d in durations], dtype=torch.float64)
        if durations.numel() == 0:
            raise ValueError("durations is empty: there is nothing to batch")
        if not torch.isfinite(durations).all() or (durations < 0).any():
            bad = torch.nonzero(~torch.isfinite(durations) | (durations < 0)).view(-1).tolist()
            raise ValueError(f"durations must be finite and non-negative; bad rows: {bad[:10]}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if bucket_size_multiplier < 1:
            raise ValueError(
                f"bucket_size_multiplier must be at least 1, got {bucket_size_multiplier}"
            )
        if drop_last and durations.numel() < batch_size:
            raise ValueError(
                f"drop_last with {durations.numel()} rows and batch_size {batch_size} "
                "leaves no batch"
            )
        self.durations = durations
        self.num_rows = durations.numel()
        # Accelerate reads batch_size and drop_last from a batch sampler to shard it.
        self.batch_size = batch_size
        self.bucket_size_multiplier = bucket_size_multiplier
        self.drop_last = drop_last
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_rows // self.batch_size
        return math.ceil(self.num_rows / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        offset = self.epoch * self.num_rows
        for batch in self.batches():
            yield [offset + row for row in batch]

    def batches(self) -> list[list[int]]:
        """This epoch's batches as row numbers (without the epoch offset)."""
        if not self.shuffle:
            order = torch.argsort(self.durations, descending=True, stable=True)
            return self._cut(order.tolist())
        generator = _epoch_generator(self.seed, self.epoch)
        permutation = torch.randperm(self.num_rows, generator=generator)
        bucket = self.batch_size * self.bucket_size_multiplier
        full, short = [], []
        for start in range(0, self.num_rows, bucket):
            rows = permutation[start : start + bucket]
            # Stable, so equal durations keep their shuffled order.
            rows = rows[torch.argsort(self.durations[rows], stable=True)].tolist()
            for batch in self._cut(rows):
                (full if len(batch) == self.batch_size else short).append(batch)
        order = torch.randperm(len(full), generator=generator).tolist()
        return [full[i] for i in order] + short

    def _cut(self, rows: list[int]) -> list[list[int]]:
        batches = [rows[i : i + self.batch_size] for i in range(0, len(rows), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches


def padding_share(lengths_per_batch: Iterable[Sequence[float]]) -> float:
    """The share of a padded batch stream that is padding.

    Each batch is padded to its longest member, so it occupies ``len(batch) * max(batch)``
    samples of which ``sum(batch)`` are audio; the share is
    ``sum(len * max - sum) / sum(len * max)`` over all batches.

    Args:
        lengths_per_batch: The lengths (samples or seconds) of the rows of each batch.

    Raises:
        ValueError: No non-empty batch, or a negative length.
    """
    padded = audio = 0.0
    for lengths in lengths_per_batch:
        lengths = [float(length) for length in lengths]
        if not lengths:
            continue
        if min(lengths) < 0:
            raise ValueError(f"lengths must not be negative, got {lengths}")
        padded += len(lengths) * max(lengths)
        audio += sum(lengths)
    if padded == 0:
        raise ValueError("no batch with a positive length: the padding share is undefined")
    return (padded - audio) / padded


def padding_share_of_batches(durations: Sequence[float], batches: Iterable[Sequence[int]]) -> float:
    """:func:`padding_share` of batches given as dataset indices, e.g. one epoch of a sampler.

    Args:
        durations: Length of each row.
        batches: Batches of row numbers or of ``epoch * num_rows + row`` indices (the epoch
            is stripped), e.g. a :class:`DurationBucketBatchSampler` itself.
    """
    num_rows = len(durations)
    return padding_share([durations[int(key) % num_rows] for key in batch] for batch in batches)


def durations_from_dataset(dataset: HFDataset, audio_column: str = "audio") -> list[float]:
    """Each row's duration in seconds, read from the audio file headers without decoding.

    Args:
        dataset: A corpus dataset whose ``audio_column`` holds ``{"path", "bytes"}`` entries
            (an ``Audio(decode=False)`` column, or a plain struct of the two) or plain paths.
            A row with bytes is measured from the bytes, as decoding would read them.
        audio_column: The audio column.

    Raises:
        ValueError: The column is missing.
        AudioDecodeError: A file is missing or unreadable (the message starts with its path),
            or a row holds neither path nor bytes.
    """
    if audio_column not in dataset.column_names:
        raise ValueError(f"dataset has no {audio_column!r} column; columns: {dataset.column_names}")
    # The Arrow view gives the stored {"path", "bytes"} structs, honouring select() and
    # never decoding, whatever the column's decode setting.
    entries = dataset.with_format("arrow")[audio_column].to_pylist()
    return [_duration(entry, row) for row, entry in enumerate(entries)]


def _duration(entry: str | dict | None, row: int) -> float:
    if isinstance(entry, str):
        return audio_info(entry).duration
    if not isinstance(entry, dict):
        raise AudioDecodeError(None, f"row {row}: expected a path or a {{'path', 'bytes'}} dict")
    path, data = entry.get("path"), entry.get("bytes")
    if data is None:
        if path is None:
            raise AudioDecodeError(None, f"row {row}: audio has neither 'path' nor 'bytes'")
        return audio_info(path).duration
    try:
        info = sf.info(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        # libsndfile's own text, without its "Error opening <BytesIO object ...>:" prefix.
        reason = getattr(error, "error_string", None) or str(error)
        raise AudioDecodeError(
            path, f"row {row}: audio bytes are not a readable audio file ({reason})"
        ) from None
    return info.frames / info.samplerate


__all__ = [
    "ClassBalancedSampler",
    "DurationBucketBatchSampler",
    "durations_from_dataset",
    "padding_share",
    "padding_share_of_batches",
]
