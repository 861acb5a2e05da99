"""Knowledge distillation: a :class:`~sertune.training.distill.Distiller`'s loss as the objective.

The teacher, its collator, the projections and the loss terms are the distiller's (see
:mod:`sertune.training.distill`); this module is how the loop reaches them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from accelerate import Accelerator
from torch import nn

from sertune.training.data import min_input_samples
from sertune.training.distill import Distiller
from sertune.training.losses import Criterion


class DistillationObjective:
    """Train the model as the student of ``distiller``'s teacher.

    The training batches carry the teacher's inputs too (the distiller's collator), the
    distiller's projections train with the student, and the loss is the distiller's, with
    ``criterion`` as its hard-label term.

    Args:
        distiller: The teacher and the distillation loss.
        criterion: The run's criterion (:func:`sertune.training.losses.run_criterion`).
    """

    def __init__(self, distiller: Distiller, criterion: Criterion):
        self.distiller = distiller
        self.criterion = criterion

    def min_input_samples(self) -> int:
        # The teacher reads the same waveforms as the student, so its receptive field counts.
        return min_input_samples(self.distiller.teacher.config)

    def training_collator(self, collator: Callable, *, augmented: bool) -> Callable:
        self.distiller.check_augmentation(augmented)
        return self.distiller.collator(collator)

    def parameter_groups(self, learning_rate: float, weight_decay: float) -> list[dict[str, Any]]:
        return self.distiller.parameter_groups(learning_rate, weight_decay)

    def prepare(self, accelerator: Accelerator) -> list[nn.Parameter]:
        self.distiller.prepare(accelerator)
        return self.distiller.trainable_parameters()

    def loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        labels = batch.pop("labels")
        return self.distiller.loss_and_terms(model, batch, labels, hard_loss=self.criterion)
