"""The data path of training and evaluation: decode in workers, crop, pad per batch.

Rows come from a corpus dataset (an ``Audio(decode=False)`` column holding file paths). Each
DataLoader worker decodes and resamples its own files with :func:`sertune.audio.load_audio`;
the collator pads the batch with the model's feature extractor, so training sees exactly the
preprocessing that inference in ``pipeline("audio-classification")`` applies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from datasets import Dataset as HFDataset
from torch.utils.data import Dataset, Sampler
from transformers import Wav2Vec2FeatureExtractor

from sertune.audio import load_audio, load_audio_window
from sertune.audio_cache import DecodedAudioCache

logger = logging.getLogger(__name__)

#: Batch entry with ``[real samples, samples after padding]`` of the batch's waveforms; the
#: loop pops it before calling the model and logs the padded share per epoch.
PADDING_COUNTS_KEY = "padding_counts"


class AudioClassificationDataset(Dataset):
    """Decoded, resampled and (in training) randomly cropped utterances of a corpus dataset.

    Crops are drawn from a generator seeded by ``(seed, epoch, row)``, so they do not depend
    on worker count, worker order or the global random state: a resumed run sees the crops an
    uninterrupted one would. The epoch travels with the index (``epoch * len(self) + row``,
    as :class:`EpochShuffleSampler` yields it), because persistent DataLoader workers hold
    their own copy of this object and never see a ``set_epoch`` made in the main process.

    Args:
        dataset: Corpus dataset with ``audio_column`` and ``label_column``.
        sampling_rate: Rate the model expects.
        max_seconds: Longer utterances are cut to this length (``None``: never). In training
            the window is placed at random; in evaluation nothing is cut unless ``crop`` is
            set, since evaluation runs on full utterances.
        crop: Whether to cut long utterances (training) or keep them whole (evaluation).
        seed: Seed of the crop positions and of the augmentation.
        augment: Waveform augmentation applied after the crop (training only), with a
            generator seeded by ``(seed, epoch, row)`` like the crop.
        min_samples: Utterances shorter than this (after augmentation) are padded with zeros at
            the end up to it, with one warning per file and process, because a speech encoder
            cannot read input shorter than its receptive field (see :func:`min_input_samples`).
            ``None`` leaves short utterances as they are.
        audio_cache: Read decoded, resampled audio from (and store it in) this on-disk cache;
            its rate must be ``sampling_rate``.
    """

    def __init__(
        self,
        dataset: HFDataset,
        *,
        sampling_rate: int,
        max_seconds: float | None = None,
        crop: bool = False,
        seed: int = 0,
        augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
        min_samples: int | None = None,
        audio_cache: DecodedAudioCache | None = None,
        audio_column: str = "audio",
        label_column: str = "label",
    ):
        for column in (audio_column, label_column):
            if column not in dataset.column_names:
                raise ValueError(
                    f"dataset has no {column!r} column; columns: {dataset.column_names}"
                )
        if max_seconds is not None and max_seconds <= 0:
            raise ValueError(f"max_seconds must be positive, got {max_seconds}")
        self.audio = _audio_sources(dataset, audio_column)
        self.labels = [int(label) for label in dataset[label_column]]
        self.sampling_rate = sampling_rate
        self.max_samples = None if max_seconds is None else int(max_seconds * sampling_rate)
        if min_samples is not None and min_samples < 1:
            raise ValueError(f"min_samples must be at least 1, got {min_samples}")
        if None not in (min_samples, self.max_samples) and min_samples > self.max_samples:
            raise ValueError(
                f"min_samples ({min_samples}) is longer than max_seconds ({max_seconds} s = "
                f"{self.max_samples} samples)"
            )
        self.min_samples = min_samples
        self._padded_rows: set[int] = set()
        self.crop = crop
        self.seed = seed
        self.augment = augment
        if audio_cache is not None and audio_cache.sampling_rate != sampling_rate:
            raise ValueError(
                f"the audio cache holds audio at {audio_cache.sampling_rate} Hz, the dataset "
                f"needs {sampling_rate} Hz"
            )
        self.audio_cache = audio_cache

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, key: int) -> dict[str, Any]:
        epoch, index = divmod(int(key), len(self.labels))

        def crop_start(length: int) -> int:
            rng = np.random.default_rng((self.seed, epoch, index))
            return int(rng.integers(0, length - self.max_samples + 1))

        start = 0
        if self.audio_cache is not None:
            waveform = self.audio_cache.load(self.audio[index])
        elif self.crop and self.max_samples is not None:
            # Decodes and resamples only the window of a long file (the same samples, to
            # float rounding).
            waveform, start = load_audio_window(
                self.audio[index], self.sampling_rate, self.max_samples, crop_start
            )
        else:
            waveform = load_audio(self.audio[index], self.sampling_rate)
        if self.crop and self.max_samples is not None and len(waveform) > self.max_samples:
            start = crop_start(len(waveform))
            waveform = waveform[start : start + self.max_samples]
        if self.augment is not None:
            # A stream of its own, so that switching augmentation on leaves the crops as they were.
            waveform = self.augment(waveform, np.random.default_rng((self.seed, epoch, index, 1)))
        if self.min_samples is not None and len(waveform) < self.min_samples:
            if index not in self._padded_rows:
                self._padded_rows.add(index)
                logger.warning(
                    "%s: %d samples at %d Hz is shorter than the model's minimum of %d; padded "
                    "with zeros",
                    _describe_source(self.audio[index]),
                    len(waveform),
                    self.sampling_rate,
                    self.min_samples,
                )
            waveform = np.pad(waveform, (0, self.min_samples - len(waveform)))
        return {
            "input_values": waveform,
            "labels": self.labels[index],
            "key": int(key),
            # Which utterance and which window of it: the same pair means the same input when
            # nothing is augmented (the teacher-output cache of distillation keys on it).
            "row": index,
            "offset": start,
        }


def _audio_sources(dataset: HFDataset, column: str) -> Sequence[Any]:
    """The audio column as a plain list of paths when it holds only paths, else as it is.

    ``dataset[column]`` is a lazy column in datasets 5: each row read goes through Arrow (a
    quarter of a millisecond, as long as decoding a short file). Paths are small, so they
    become a list once; columns holding the audio bytes stay lazy, to keep them out of memory.
    """
    values = dataset.with_format("arrow")[column]
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        return values.to_pylist()
    only_paths = (
        pa.types.is_struct(values.type)
        and {"path", "bytes"} <= {f.name for f in values.type}
        and values.field("bytes").null_count == len(values)
        and values.field("path").null_count == 0
    )
    return values.field("path").to_pylist() if only_paths else dataset[column]


def fit_feature_normalization(
    feature_extractor: Any,
    dataset: HFDataset,
    *,
    audio_cache_dir: str | None = None,
    audio_column: str = "audio",
) -> Any:
    """Fit a feature extractor's ``normalization="global"`` statistics on ``dataset``'s audio.

    Pass the training rows only (``corpus.select(fold.train)``): the statistics are saved with
    the extractor and applied unchanged to validation, test and inference audio.

    Args:
        feature_extractor: A log-mel extractor with ``normalization="global"``.
        dataset: Corpus rows whose audio sets the statistics.
        audio_cache_dir: Read (and fill) the decoded-audio cache of ``--audio_cache_dir``.
        audio_column: Column holding the audio.

    Returns:
        ``feature_extractor``, with ``feature_mean`` / ``feature_std`` set.
    """
    rate = feature_extractor.sampling_rate
    cache = DecodedAudioCache(audio_cache_dir, rate) if audio_cache_dir else None
    sources = _audio_sources(dataset, audio_column)
    waveforms = (
        cache.load(source) if cache is not None else load_audio(source, rate) for source in sources
    )
    logger.info("fitting global feature normalisation on %d utterances", len(dataset))
    return feature_extractor.fit_normalization(waveforms, sampling_rate=rate)


def _describe_source(source: Any) -> str:
    if isinstance(source, dict):
        return str(source.get("path") or "<in-memory audio>")
    return "<in-memory audio>" if isinstance(source, bytes | bytearray) else str(source)


def min_input_samples(config: Any, *, training: bool = False) -> int:
    """The fewest input samples a model can read: its receptive field, more when it masks.

    For the wav2vec 2.0 family one output frame needs the receptive field of the convolutional
    feature encoder, ``1 + sum((kernel_i - 1) * stride_0 * ... * stride_{i-1})``: 400 samples
    (25 ms at 16 kHz) for the released models, whose encoders fail on shorter input. In
    training with time masking (``mask_time_prob > 0``), a batch needs at least
    ``mask_time_length`` frames, or transformers raises "`mask_length` has to be smaller than
    `sequence_length`"; each further frame costs the product of the strides (320 samples).
    Models without such an encoder (the log-mel CNNs, whose feature extractor pads to one
    window) need 1.

    Args:
        config: A model config: one with ``conv_kernel`` and ``conv_stride`` (e.g.
            ``Wav2Vec2Config``), or one holding such a config as ``encoder_config`` (sertune's
            ``SerConfig``).
        training: Count the frames that time masking needs.
    """
    encoder = getattr(config, "encoder_config", None) or config
    kernels = getattr(encoder, "conv_kernel", None)
    strides = getattr(encoder, "conv_stride", None)
    if not kernels or not strides:
        return 1
    if len(kernels) != len(strides):
        raise ValueError(
            f"conv_kernel {list(kernels)} and conv_stride {list(strides)} differ in length"
        )
    field, jump = 1, 1
    for kernel, stride in zip(kernels, strides, strict=True):
        field += (kernel - 1) * jump
        jump *= stride
    frames = 1
    apply_masks = getattr(encoder, "apply_spec_augment", True)
    if training and apply_masks and (getattr(encoder, "mask_time_prob", 0.0) or 0.0) > 0:
        frames = max(1, int(getattr(encoder, "mask_time_length", 1)))
    return field + (frames - 1) * jump


class EpochShuffleSampler(Sampler[int]):
    """A random permutation per epoch from ``(seed, epoch)``, the same on every process.

    It yields ``epoch * num_rows + row`` so that the dataset knows the epoch of each item
    (see :class:`AudioClassificationDataset`).

    Args:
        num_rows: Dataset length.
        seed: Base seed.
        shuffle: ``False`` gives the rows in order (evaluation).
    """

    def __init__(self, num_rows: int, *, seed: int = 0, shuffle: bool = True):
        self.num_rows = num_rows
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_rows

    def __iter__(self) -> Iterator[int]:
        offset = self.epoch * self.num_rows
        if not self.shuffle:
            return iter(range(offset, offset + self.num_rows))
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.num_rows, generator=generator).tolist()
        return iter(offset + row for row in order)


class PaddingCollator:
    """Pads a list of examples into a batch with the model's feature extractor.

    Args:
        feature_extractor: A ``SequenceFeatureExtractor`` (e.g. ``Wav2Vec2FeatureExtractor``);
            it normalises each utterance if configured to and returns the attention mask.
        feature_augment: Applied to the batch's ``input_values`` (e.g. SpecAugment on log-mel
            segments) with a generator seeded by ``seed`` and the batch's item keys, so a
            batch is masked the same way whichever worker builds it.
        seed: Seed of ``feature_augment``.
    """

    def __init__(
        self,
        feature_extractor,
        *,
        feature_augment: Callable[[torch.Tensor, np.random.Generator], torch.Tensor] | None = None,
        seed: int = 0,
    ):
        self.feature_extractor = feature_extractor
        self.feature_augment = feature_augment
        self.seed = seed

    def __call__(self, examples: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        waveforms = [example["input_values"] for example in examples]
        if _pads_waveforms_itself(self.feature_extractor):
            batch = pad_waveforms(
                waveforms,
                padding_value=self.feature_extractor.padding_value,
                normalize=self.feature_extractor.do_normalize,
            )
        else:
            batch = self.feature_extractor(
                waveforms,
                sampling_rate=self.feature_extractor.sampling_rate,
                padding=True,
                return_attention_mask=True,
                return_tensors="pt",
            )
        batch["labels"] = torch.tensor([example["labels"] for example in examples])
        if self.feature_augment is not None:
            keys = [example.get("key", i) for i, example in enumerate(examples)]
            rng = np.random.default_rng([self.seed, *keys])
            name = self.feature_extractor.model_input_names[0]
            batch[name] = self.feature_augment(batch[name], rng)
        lengths = [len(example["input_values"]) for example in examples]
        batch[PADDING_COUNTS_KEY] = torch.tensor(
            [sum(lengths), len(lengths) * max(lengths)], dtype=torch.long
        )
        return dict(batch)


def _pads_waveforms_itself(feature_extractor) -> bool:
    """Whether :func:`pad_waveforms` gives exactly what this feature extractor would."""
    return (
        type(feature_extractor) is Wav2Vec2FeatureExtractor
        and feature_extractor.feature_size == 1
        and feature_extractor.padding_side == "right"
    )


def pad_waveforms(
    waveforms: Sequence[np.ndarray], *, padding_value: float = 0.0, normalize: bool = True
) -> dict[str, torch.Tensor]:
    """``Wav2Vec2FeatureExtractor(waveforms, padding=True, return_attention_mask=True)``, faster.

    The same result, bit for bit (tested against the feature extractor), without its generic
    padding machinery, which cost a fifth of the training data path: each utterance normalised
    to zero mean and unit variance over its own samples (``normalize``), right-padded with
    ``padding_value``, and the attention mask.

    Args:
        waveforms: 1-D float arrays.
        padding_value: Value of the padded samples.
        normalize: Zero-mean, unit-variance normalise each utterance (``do_normalize``).

    Returns:
        ``{"input_values": float32 [batch, longest], "attention_mask": int32 [batch, longest]}``.
    """
    lengths = np.fromiter((len(w) for w in waveforms), dtype=np.int64, count=len(waveforms))
    values = np.full((len(waveforms), int(lengths.max())), padding_value, dtype=np.float32)
    for row, waveform in enumerate(waveforms):
        samples = np.asarray(waveform, dtype=np.float32)
        if normalize:
            # The feature extractor's own arithmetic, so the result is bit-identical.
            samples = (samples - samples.mean()) / np.sqrt(samples.var() + 1e-7)
        values[row, : len(samples)] = samples
    mask = (np.arange(values.shape[1]) < lengths[:, None]).astype(np.int32)
    return {"input_values": torch.from_numpy(values), "attention_mask": torch.from_numpy(mask)}
