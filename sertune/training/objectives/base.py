"""The interface between the training loop and what it trains for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch
from accelerate import Accelerator
from torch import nn


class TrainingObjective(Protocol):
    """What the loop asks of a training objective, in the order it asks.

    The loop builds the data with :meth:`min_input_samples` and :meth:`training_collator`,
    adds :meth:`parameter_groups` to the model's in the optimiser, calls :meth:`prepare` once
    after the model is prepared (before a resume restores the state, so that prepared extras
    are restored too), and :meth:`loss` on every training batch. Evaluation is not the
    objective's: validation and test always run the model alone.
    """

    def min_input_samples(self) -> int:
        """The shortest training waveform, in samples, that the objective's own models read.

        The loop pads shorter utterances to this or the model's receptive field, whichever is
        longer; 0 when the objective runs no model of its own.
        """
        ...

    def training_collator(self, collator: Callable, *, augmented: bool) -> Callable:
        """The training collator: ``collator`` (the model's padded batch), perhaps extended.

        Args:
            collator: The model's training collator.
            augmented: Whether the training inputs are augmented (they differ every epoch).
        """
        ...

    def parameter_groups(self, learning_rate: float, weight_decay: float) -> list[dict[str, Any]]:
        """AdamW groups of the objective's own trainable parameters (none: ``[]``)."""
        ...

    def prepare(self, accelerator: Accelerator) -> list[nn.Parameter]:
        """Put the objective's modules on the device; return its trainable parameters.

        The returned parameters are clipped together with the model's.
        """
        ...

    def loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss of a training batch (with ``labels``) and its terms for the training log.

        Args:
            model: The prepared model, in training mode.
            batch: The collated batch; entries the model does not take are popped from it.

        Returns:
            The scalar loss to back-propagate, and named scalar terms (detached by the loop)
            whose means since the last log line are logged next to the loss.
        """
        ...
