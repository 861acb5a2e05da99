"""Continued self-supervised pretraining of wav2vec 2.0: masked contrastive loss plus diversity.

Task- or domain-adaptive pretraining (Chen & Rudnicky 2021) trains a wav2vec 2.0 encoder further
on unlabeled audio of the target domain with the objective it was pretrained with, as
transformers' ``run_wav2vec2_pretraining_no_trainer`` does:

* the collator draws the time masks (``_compute_mask_indices``, at least two spans per
  utterance, over its real frames only) and the distractors of each masked frame
  (``_sample_negative_indices``), seeded by the batch's items, so a resumed run draws the same;
* the model (:class:`~sertune.models.pretraining.Wav2Vec2ForContinuedPretraining`) returns the
  contrastive loss summed over the masked frames plus ``diversity_loss_weight`` times the
  codebook diversity loss; the objective divides it by the number of masked frames;
* the Gumbel-softmax temperature of the quantiser follows
  ``max(max_temperature * decay ** step, min_temperature)`` over optimiser steps; its step count
  is saved in the run's checkpoints, so a resumed run continues the schedule.

The labels of the rows are ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from torch import nn
from transformers import PreTrainedConfig
from transformers.models.wav2vec2.modeling_wav2vec2 import (
    _compute_mask_indices,
    _sample_negative_indices,
)

from sertune.training.data import min_input_samples


def feature_frames(config: PreTrainedConfig, samples: torch.Tensor) -> torch.Tensor:
    """Frames the convolutional feature encoder makes of ``samples`` input samples."""
    frames = samples.clone()
    for kernel, stride in zip(config.conv_kernel, config.conv_stride, strict=True):
        frames = torch.div(frames - kernel, stride, rounding_mode="floor") + 1
    return frames


class PretrainingCollator:
    """The model's padded batch plus ``mask_time_indices`` and ``sampled_negative_indices``.

    Args:
        collator: The model's training collator.
        config: The wav2vec2 config (convolutions, ``feat_extract_norm``).
        mask_time_prob: Share of frames that start a masked span.
        mask_time_length: Frames per masked span.
        num_negatives: Distractors per masked frame.
        seed: With the batch's item keys, seeds the masks and distractors.
    """

    def __init__(
        self,
        collator: Callable,
        config: PreTrainedConfig,
        *,
        mask_time_prob: float,
        mask_time_length: int,
        num_negatives: int,
        seed: int,
    ):
        self.collator = collator
        self.config = config
        self.mask_time_prob = mask_time_prob
        self.mask_time_length = mask_time_length
        self.num_negatives = num_negatives
        self.seed = seed

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = self.collator(examples)
        values = batch["input_values"]
        mask = batch.get("attention_mask")
        samples = mask.sum(-1) if mask is not None else torch.full((len(values),), values.shape[1])
        lengths = feature_frames(self.config, samples)
        num_frames = int(feature_frames(self.config, torch.tensor(values.shape[1])))
        frame_mask = (torch.arange(num_frames)[None, :] < lengths[:, None]).long()
        keys = [int(example.get("key", i)) for i, example in enumerate(examples)]
        # transformers draws from numpy's global generator: seed it for this batch, then restore.
        state = np.random.get_state()
        try:
            np.random.seed(np.random.SeedSequence([self.seed, *keys]).generate_state(1)[0])
            masked = _compute_mask_indices(
                (len(values), num_frames),
                self.mask_time_prob,
                self.mask_time_length,
                attention_mask=frame_mask,
                min_masks=2,
            )
            negatives = _sample_negative_indices(
                (len(values), num_frames), self.num_negatives, mask_time_indices=masked
            )
        finally:
            np.random.set_state(state)
        batch["mask_time_indices"] = torch.as_tensor(masked, dtype=torch.bool)
        batch["sampled_negative_indices"] = torch.as_tensor(negatives, dtype=torch.long)
        if getattr(self.config, "feat_extract_norm", "layer") != "layer":
            # Group-norm encoders are pretrained on zero padding without a mask.
            batch.pop("attention_mask", None)
        return batch


class GumbelTemperature:
    """The quantiser's temperature by optimiser step; its state is saved with the run.

    Args:
        maximum: Temperature at step 0.
        minimum: Floor of the temperature.
        decay: Factor per optimiser step.
        gradient_accumulation_steps: Training batches per optimiser step.
    """

    def __init__(self, maximum: float, minimum: float, decay: float, gradient_accumulation_steps):
        if not 0 < minimum <= maximum or not 0 < decay <= 1:
            raise ValueError(
                f"Gumbel temperatures need 0 < minimum ({minimum}) <= maximum ({maximum}) and "
                f"0 < decay ({decay}) <= 1"
            )
        self.maximum, self.minimum, self.decay = maximum, minimum, decay
        self.accumulation = gradient_accumulation_steps
        self.batches = 0

    @property
    def value(self) -> float:
        """The temperature of the current optimiser step."""
        step = self.batches // self.accumulation
        return max(self.maximum * self.decay**step, self.minimum)

    def state_dict(self) -> dict[str, int]:
        return {"batches": self.batches}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.batches = int(state["batches"])


class Wav2Vec2PretrainingObjective:
    """The wav2vec 2.0 pretraining loss, per masked frame, for the training loop.

    Args:
        config: The model's config (a ``Wav2Vec2Config`` with the quantiser).
        mask_time_prob: Share of frames that start a masked span.
        mask_time_length: Frames per masked span.
        num_negatives: Distractors per masked frame.
        temperature: The Gumbel temperature schedule.
        seed: Seed of the masks and distractors.
    """

    def __init__(
        self,
        config: PreTrainedConfig,
        *,
        mask_time_prob: float = 0.65,
        mask_time_length: int = 10,
        num_negatives: int = 100,
        temperature: GumbelTemperature,
        seed: int = 0,
    ):
        if not 0 < mask_time_prob <= 1 or mask_time_length < 1 or num_negatives < 1:
            raise ValueError(
                "need 0 < mask_time_prob <= 1, mask_time_length >= 1 and num_negatives >= 1; got "
                f"{mask_time_prob}, {mask_time_length}, {num_negatives}"
            )
        self.config = config
        self.masking = {
            "mask_time_prob": mask_time_prob,
            "mask_time_length": mask_time_length,
            "num_negatives": num_negatives,
        }
        self.temperature = temperature
        self.seed = seed
        self.accelerator: Accelerator | None = None

    def min_input_samples(self) -> int:
        # Two masked spans (the distractors need two masked frames) need mask_time_length + 1
        # frames; each frame past the first costs the product of the strides.
        hop = int(np.prod(self.config.conv_stride))
        return min_input_samples(self.config) + self.masking["mask_time_length"] * hop

    def training_collator(self, collator: Callable, *, augmented: bool) -> Callable:
        return PretrainingCollator(collator, self.config, **self.masking, seed=self.seed)

    def parameter_groups(self, learning_rate: float, weight_decay: float) -> list[dict[str, Any]]:
        return []

    def prepare(self, accelerator: Accelerator) -> list[nn.Parameter]:
        self.accelerator = accelerator
        accelerator.register_for_checkpointing(self.temperature)
        return []

    def loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        batch.pop("labels", None)
        temperature = self.temperature.value
        self.accelerator.unwrap_model(model).set_gumbel_temperature(temperature)
        num_masked = batch["mask_time_indices"].sum().clamp(min=1)
        outputs = model(**batch)
        self.temperature.batches += 1
        terms = {
            "contrastive_loss": outputs.contrastive_loss / num_masked,
            "diversity_loss": outputs.diversity_loss / num_masked,
            "codevector_perplexity": outputs.codevector_perplexity,
            "gumbel_temperature": torch.tensor(temperature),
        }
        return outputs.loss / num_masked, terms


__all__ = [
    "GumbelTemperature",
    "PretrainingCollator",
    "Wav2Vec2PretrainingObjective",
    "feature_frames",
]
