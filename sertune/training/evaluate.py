"""Evaluation of a model on a prepared loader, and the out-of-memory errors of a run.

The ``loss`` an evaluation reports is the run's criterion (the loss it trains with: class
weights, label smoothing and focal loss included; see
:func:`sertune.training.losses.run_criterion`) over the whole evaluation set at once, so the
validation loss is comparable with the training loss and does not depend on the batching.
With class weights it is the weighted mean, normalised by the weights of the utterances' true
classes as the training loss is. Without a criterion it is plain cross-entropy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch.utils.data import DataLoader

from sertune.metrics import compute_ser_metrics
from sertune.training.data import PADDING_COUNTS_KEY
from sertune.training.losses import Criterion

if TYPE_CHECKING:
    from sertune.training.config import TrainingConfig


@torch.no_grad()
def evaluate_model(
    model: torch.nn.Module,
    loader: DataLoader,
    accelerator: Accelerator,
    *,
    criterion: Criterion | None = None,
    label_names: list[str] | None = None,
    stage: str = "evaluation",
) -> dict[str, Any]:
    """Run the model over a prepared loader and compute the SER metrics (plus the loss).

    Args:
        model: The (prepared) model.
        loader: A prepared evaluation loader.
        accelerator: The run's `Accelerator` (gathers predictions across processes).
        criterion: ``criterion(logits, labels) -> loss`` of the reported ``loss``, the run's
            training criterion; ``None``: cross-entropy.
        label_names: Class names for the per-class metrics.
        stage: What this evaluation is (e.g. ``"validation at step 200"``), named in the
            error if a batch runs out of memory.

    Raises:
        RuntimeError: A batch ran out of memory; the message names ``stage``, the batch shape
            and ``--per_device_eval_batch_size``.
    """
    model.eval()
    all_logits, references = [], []
    for batch in loader:
        batch.pop(PADDING_COUNTS_KEY, None)
        try:
            outputs = model(**batch)
        except (RuntimeError, MemoryError) as error:
            if not is_out_of_memory(error):
                raise
            raise RuntimeError(
                f"out of memory in {stage} on a batch of {describe_batch(batch)}: evaluation "
                "does not crop long utterances, so lower --per_device_eval_batch_size "
                "(1 fits the longest utterance alone)"
            ) from error
        logits, labels = accelerator.gather_for_metrics((outputs.logits, batch["labels"]))
        all_logits.append(logits.float().cpu())
        references.append(labels.cpu())
    logits, labels = torch.cat(all_logits), torch.cat(references)
    num_labels = accelerator.unwrap_model(model).config.num_labels
    metrics = compute_ser_metrics(
        logits.argmax(-1).numpy(),
        labels.numpy(),
        label_names=label_names,
        num_labels=num_labels,
    )
    metrics["loss"] = float((criterion or F.cross_entropy)(logits, labels))
    return metrics


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an allocation failure (CUDA, the CPU allocator, ``MemoryError``)."""
    if isinstance(error, torch.OutOfMemoryError | MemoryError):
        return True
    # CPU allocation failures are plain RuntimeErrors; so are some backends' OOMs.
    message = str(error)
    return "can't allocate memory" in message or "out of memory" in message.lower()


def describe_batch(batch: dict[str, Any]) -> str:
    """``"4 utterances (input_values 4 x 96000)"``: waveform models' input is in samples."""
    for name in ("input_values", "input_features"):
        values = batch.get(name)
        if isinstance(values, torch.Tensor):
            shape = " x ".join(str(size) for size in values.shape)
            return f"{values.shape[0]} utterances ({name} {shape})"
    return "unknown shape"


def training_out_of_memory(step: int, batch: dict[str, Any], config: TrainingConfig):
    """The error for a training step that ran out of memory, naming the options to change."""
    crop = (
        f"lower --max_train_seconds (now {config.max_train_seconds:g}; longer utterances are "
        "cropped to it)"
        if config.max_train_seconds is not None
        else "set --max_train_seconds (training utterances are not cropped now)"
    )
    effective = config.per_device_train_batch_size * config.gradient_accumulation_steps
    return RuntimeError(
        f"out of memory at training step {step} on a batch of {describe_batch(batch)}: {crop}, "
        f"or lower --per_device_train_batch_size (now {config.per_device_train_batch_size}) and "
        "raise --gradient_accumulation_steps to keep the effective batch size "
        f"(now {effective} per process)"
    )


__all__ = ["describe_batch", "evaluate_model", "is_out_of_memory", "training_out_of_memory"]
