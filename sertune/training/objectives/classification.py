"""Plain supervised classification: the run's criterion on the model's logits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from accelerate import Accelerator
from torch import nn

from sertune.training.losses import Criterion


class ClassificationObjective:
    """Train the model's logits against the labels with the run's criterion.

    Args:
        criterion: ``criterion(logits, labels) -> loss``, as
            :func:`sertune.training.losses.run_criterion` decides it.
    """

    def __init__(self, criterion: Criterion):
        self.criterion = criterion

    def min_input_samples(self) -> int:
        return 0

    def training_collator(self, collator: Callable, *, augmented: bool) -> Callable:
        return collator

    def parameter_groups(self, learning_rate: float, weight_decay: float) -> list[dict[str, Any]]:
        return []

    def prepare(self, accelerator: Accelerator) -> list[nn.Parameter]:
        return []

    def loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        labels = batch.pop("labels")
        return self.criterion(model(**batch).logits, labels), {}
