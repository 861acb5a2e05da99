"""The loaders of a training run: training (cropped, augmented, sampled), validation and test.

:func:`build_loaders` builds them as :func:`sertune.training.loop.train` uses them; the loop
prepares them with its `Accelerator`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from accelerate.logging import get_logger
from datasets import Dataset as HFDataset
from torch.utils.data import DataLoader

from sertune.audio_cache import DecodedAudioCache
from sertune.training.augment import AugmentationArguments, SpecAugment, WaveformAugmenter
from sertune.training.config import TrainingConfig
from sertune.training.data import (
    AudioClassificationDataset,
    EpochShuffleSampler,
    PaddingCollator,
    min_input_samples,
)
from sertune.training.objectives import TrainingObjective
from sertune.training.sampling import (
    ClassBalancedSampler,
    DurationBucketBatchSampler,
    durations_from_dataset,
)

logger = get_logger(__name__)


@dataclass
class RunLoaders:
    """A run's loaders, and the training sampler whose ``set_epoch`` the loop calls."""

    train_set: AudioClassificationDataset
    sampler: Any
    train: DataLoader
    validation: DataLoader | None
    test: DataLoader | None


def build_loaders(
    model_config,
    feature_extractor,
    *,
    train_dataset: HFDataset,
    eval_dataset: HFDataset | None,
    test_dataset: HFDataset | None,
    config: TrainingConfig,
    augmentation: AugmentationArguments | None,
    objective: TrainingObjective,
) -> RunLoaders:
    """Build the run's datasets and loaders (not yet prepared).

    Training utterances are cropped to ``config.max_train_seconds``, augmented, padded to the
    receptive field of the model (and of the objective's own models), and batched by
    ``config.sampler`` through the objective's collator. Validation and test utterances are
    whole; an empty or missing split has no loader.
    """
    sampling_rate = feature_extractor.sampling_rate
    waveform_augmenter, spec_augment = _augmenters(augmentation, feature_extractor)
    audio_cache = (
        DecodedAudioCache(config.audio_cache_dir, sampling_rate) if config.audio_cache_dir else None
    )
    train_set = AudioClassificationDataset(
        train_dataset,
        sampling_rate=sampling_rate,
        max_seconds=config.max_train_seconds,
        crop=True,
        seed=config.seed,
        augment=waveform_augmenter,
        # Shorter than the encoder's receptive field (or its time masks) cannot run: padded.
        min_samples=max(
            min_input_samples(model_config, training=True), objective.min_input_samples()
        ),
        audio_cache=audio_cache,
    )
    loader_options = {
        "collate_fn": PaddingCollator(feature_extractor),
        "num_workers": config.dataloader_num_workers,
        "pin_memory": torch.cuda.is_available(),
        "persistent_workers": config.dataloader_num_workers > 0,
        # Its own generator keeps worker seeding off the global RNG (dropout), so a resumed
        # run draws the same dropout masks as an uninterrupted one.
        "generator": torch.Generator().manual_seed(config.seed),
    }
    train_collator = objective.training_collator(
        PaddingCollator(feature_extractor, feature_augment=spec_augment, seed=config.seed),
        augmented=waveform_augmenter is not None or spec_augment is not None,
    )
    sampler, train_loader = _train_loader(
        train_set, train_dataset, config, {**loader_options, "collate_fn": train_collator}
    )
    eval_min_samples = min_input_samples(model_config)
    evaluation = [
        _eval_loader(dataset, sampling_rate, config, loader_options, eval_min_samples, audio_cache)
        for dataset in (eval_dataset, test_dataset)
    ]
    return RunLoaders(train_set, sampler, train_loader, *evaluation)


def _augmenters(
    augmentation: AugmentationArguments | None, feature_extractor
) -> tuple[WaveformAugmenter | None, SpecAugment | None]:
    if augmentation is None:
        return None, None
    waveform = WaveformAugmenter(augmentation, feature_extractor.sampling_rate)
    spec = SpecAugment.from_arguments(augmentation)
    if spec.enabled and getattr(feature_extractor, "n_mels", None) is None:
        raise ValueError(
            "SpecAugment masks spectrogram features (the CNN family's log-mel input); "
            f"{type(feature_extractor).__name__} gives waveforms: set the spec_* "
            "probabilities to 0 (wav2vec2-family models mask inside the model: mask_time_prob)"
        )
    for name in waveform.describe() + ([f"SpecAugment {spec}"] if spec.enabled else []):
        logger.info("augmentation: %s", name, main_process_only=True)
    return (waveform if waveform.enabled else None), (spec if spec.enabled else None)


def _train_loader(train_set, train_dataset, config: TrainingConfig, options):
    """The training sampler (for ``set_epoch``) and loader that ``config.sampler`` names."""
    batch_size = config.per_device_train_batch_size
    if config.sampler == "bucket":
        durations = durations_from_dataset(train_dataset)
        if config.max_train_seconds is not None:
            durations = [min(d, config.max_train_seconds) for d in durations]
        sampler = DurationBucketBatchSampler(
            durations,
            batch_size,
            seed=config.seed,
            bucket_size_multiplier=config.bucket_size_multiplier,
        )
        return sampler, DataLoader(train_set, batch_sampler=sampler, **options)
    if config.sampler == "balanced":
        sampler = ClassBalancedSampler(train_set.labels, seed=config.seed)
    else:
        sampler = EpochShuffleSampler(len(train_set), seed=config.seed)
    return sampler, DataLoader(train_set, batch_size=batch_size, sampler=sampler, **options)


def _eval_loader(
    dataset, sampling_rate, config, loader_options, min_samples: int, audio_cache=None
) -> DataLoader | None:
    if dataset is None or len(dataset) == 0:
        return None
    eval_set = AudioClassificationDataset(
        dataset,
        sampling_rate=sampling_rate,
        crop=False,
        min_samples=min_samples,
        audio_cache=audio_cache,
    )
    return DataLoader(
        eval_set, batch_size=config.per_device_eval_batch_size, shuffle=False, **loader_options
    )


__all__ = ["RunLoaders", "build_loaders"]
