"""Training losses for imbalanced emotion classes: class weights, focal loss, one factory.

Emotion corpora are rarely balanced (IEMOCAP has about four neutral utterances for each happy
one), so a plain cross-entropy learns the majority classes first and the unweighted average
recall (UAR) that SER reports suffers. Two remedies live here, to be combined or not:

* :func:`class_weights_from_counts` turns the training split's class counts into per-class
  loss weights;
* :class:`FocalLoss` (Lin et al., 2017, "Focal Loss for Dense Object Detection") down-weights
  examples the model already gets right, so the gradient comes from the hard ones.

:func:`make_criterion` builds either loss as a ``criterion(logits, labels) -> loss`` callable,
the ``loss_fn`` that sertune models accept. :func:`run_criterion` decides a training run's loss,
in one place, from the model's loss options or the run's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from accelerate.logging import get_logger
from torch import nn

from sertune.models.heads import classification_loss

if TYPE_CHECKING:
    from sertune.training.config import TrainingConfig

logger = get_logger(__name__)

#: Names accepted by :func:`class_weights_from_counts`.
CLASS_WEIGHT_SCHEMES = ("balanced", "inverse_sqrt")

#: Names accepted by :func:`make_criterion`.
LOSSES = ("cross_entropy", "focal")

_REDUCTIONS = ("mean", "sum", "none")

Criterion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def class_counts(labels: Sequence[int] | np.ndarray, num_labels: int) -> np.ndarray:
    """How many examples of each class ``labels`` holds.

    Args:
        labels: Class ids, each in ``0..num_labels-1``.
        num_labels: Number of classes; classes without examples get a count of 0.

    Returns:
        An int64 array of length ``num_labels``.

    Raises:
        ValueError: A label is outside ``0..num_labels-1``.
    """
    if num_labels < 1:
        raise ValueError(f"num_labels must be at least 1, got {num_labels}")
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    outside = labels[(labels < 0) | (labels >= num_labels)]
    if outside.size:
        raise ValueError(
            f"labels must be in 0..{num_labels - 1}, found {sorted(set(outside.tolist()))}"
        )
    return np.bincount(labels, minlength=num_labels).astype(np.int64)


def class_weights_from_counts(
    counts: Sequence[int] | np.ndarray,
    scheme: str = "balanced",
    *,
    label_names: Sequence[str] | None = None,
) -> torch.Tensor:
    """Per-class loss weights from the training split's class counts.

    With ``n`` training examples, ``K`` classes and ``n_c`` examples of class ``c``:

    * ``balanced``: ``w_c = n / (K * n_c)``, scikit-learn's ``class_weight="balanced"``. Every
      class then carries the same total weight, as if the split were balanced.
    * ``inverse_sqrt``: ``w_c = n / (sqrt(n_c) * sum_j sqrt(n_j))``, a milder correction
      (weights proportional to ``1 / sqrt(n_c)``) for when fully balancing over-fits the few
      examples of a rare class.

    Both are scaled so that ``sum_c n_c * w_c = n``: the mean weight over the training
    examples is 1, so the loss keeps the scale of the unweighted one and the learning rate
    needs no retuning.

    Args:
        counts: Examples per class, in label-id order (see :func:`class_counts`).
        scheme: ``balanced`` or ``inverse_sqrt``.
        label_names: Class names by id, used in error messages.

    Returns:
        A float32 tensor of length ``K``.

    Raises:
        ValueError: Unknown scheme, negative counts, or a class with no examples (it cannot be
            weighted: leave it out of the label set).
    """
    if scheme not in CLASS_WEIGHT_SCHEMES:
        raise ValueError(
            f"unknown class weight scheme {scheme!r}; choose one of {', '.join(CLASS_WEIGHT_SCHEMES)}"
        )
    counts = np.asarray(counts, dtype=np.float64).reshape(-1)
    if counts.size == 0:
        raise ValueError("counts is empty: there are no classes to weight")
    if label_names is not None and len(label_names) != counts.size:
        raise ValueError(f"{len(label_names)} label_names for {counts.size} class counts")
    if (counts < 0).any():
        raise ValueError(f"class counts must not be negative, got {counts.astype(int).tolist()}")
    empty = np.flatnonzero(counts == 0).tolist()
    if empty:
        named = ", ".join(
            str(c) if label_names is None else f"{c} ({label_names[c]!r})" for c in empty
        )
        raise ValueError(
            f"class(es) {named} have no training examples, so no class weight can be computed "
            "for them; drop them from the label set with --labels (or pick a split whose "
            "training speakers have them)"
        )
    total = counts.sum()
    if scheme == "balanced":
        weights = total / (counts.size * counts)
    else:
        roots = np.sqrt(counts)
        weights = total / (roots * roots.sum())
    return torch.tensor(weights, dtype=torch.float32)


class FocalLoss(nn.Module):
    """Multi-class focal loss (Lin et al., 2017) with optional class weights and smoothing.

    For softmax probabilities ``p`` and a target class ``y``, the loss of one example is

        ``-alpha_y * (1 - p_y) ** gamma * log(p_y)``,

    cross-entropy scaled down by ``(1 - p_y) ** gamma`` where the model is already right. With
    label smoothing ``eps`` the target is the distribution
    ``q_c = (1 - eps) * [c == y] + eps / K``, as in ``F.cross_entropy``, and each class term is
    modulated by its own probability:

        ``-sum_c alpha_c * q_c * (1 - p_c) ** gamma * log(p_c)``,

    which is the form above when ``eps = 0``. With ``gamma = 0`` the loss equals
    ``F.cross_entropy(logits, labels, weight=alpha, label_smoothing=eps)`` for every reduction.

    The ``"mean"`` reduction divides the summed loss by ``sum_i alpha_{y_i}`` (by the batch
    size when ``alpha`` is ``None``), as ``F.cross_entropy`` does with ``weight``, so that the
    class weights change the balance between classes, not the loss scale of each batch.

    The loss is computed in float32 from ``log_softmax`` of the logits whatever their dtype,
    since half-precision probabilities near 1 would make ``1 - p`` zero.

    Args:
        gamma: Focusing parameter, at least 0; 2 is the paper's choice.
        alpha: Per-class weights in label-id order (e.g. from
            :func:`class_weights_from_counts`), or ``None`` for none. A single number is
            refused: the paper's scalar alpha weighs foreground against background in binary
            detection and has no multi-class meaning.
        label_smoothing: ``eps`` in ``[0, 1)``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (one loss per example).
    """

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: Sequence[float] | torch.Tensor | np.ndarray | None = None,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
    ):
        super().__init__()
        if not gamma >= 0:
            raise ValueError(f"gamma must be at least 0, got {gamma}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"reduction must be one of {', '.join(_REDUCTIONS)}, got {reduction!r}"
            )
        self.gamma = float(gamma)
        self.label_smoothing = float(label_smoothing)
        self.reduction = reduction
        # Not persistent: a model that holds this loss as its loss_fn must not grow extra
        # keys in its saved weights.
        self.register_buffer("alpha", _as_class_weights(alpha, "alpha"), persistent=False)

    def extra_repr(self) -> str:
        return (
            f"gamma={self.gamma}, label_smoothing={self.label_smoothing}, "
            f"reduction={self.reduction!r}, weighted={self.alpha is not None}"
        )

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss of a batch.

        Args:
            logits: ``[batch, num_classes]`` unnormalised scores, any float dtype.
            labels: ``[batch]`` class ids.
        """
        if logits.ndim != 2:
            raise ValueError(
                f"logits must be [batch, num_classes], got shape {tuple(logits.shape)}"
            )
        num_classes = logits.shape[1]
        labels = labels.to(logits.device).view(-1).long()
        if labels.shape[0] != logits.shape[0]:
            raise ValueError(f"{logits.shape[0]} rows of logits but {labels.shape[0]} labels")
        log_probs = F.log_softmax(logits.float(), dim=-1)
        target = F.one_hot(labels, num_classes).to(log_probs.dtype)
        if self.label_smoothing > 0:
            target = target * (1.0 - self.label_smoothing) + self.label_smoothing / num_classes
        terms = -target * log_probs
        if self.gamma > 0:
            # -expm1(log p) is 1 - p without the cancellation of 1 - exp(log p) when p is
            # near 1; the floor keeps the gradient of (1 - p) ** gamma finite for gamma < 1
            # where the probability saturates at exactly 1.
            one_minus_p = (-torch.expm1(log_probs)).clamp(min=torch.finfo(log_probs.dtype).tiny)
            terms = terms * one_minus_p.pow(self.gamma)
        alpha = None
        if self.alpha is not None:
            if self.alpha.numel() != num_classes:
                raise ValueError(
                    f"alpha has {self.alpha.numel()} class weights but logits have "
                    f"{num_classes} classes"
                )
            alpha = self.alpha.to(device=logits.device, dtype=log_probs.dtype)
            terms = terms * alpha
        losses = terms.sum(dim=-1)
        if self.reduction == "none":
            return losses
        if self.reduction == "sum":
            return losses.sum()
        if alpha is None:
            return losses.mean()
        return losses.sum() / alpha[labels].sum()


def make_criterion(
    loss: str = "cross_entropy",
    *,
    class_weights: Sequence[float] | torch.Tensor | np.ndarray | None = None,
    label_smoothing: float = 0.0,
    focal_gamma: float = 2.0,
) -> Criterion:
    """The training loss as a ``criterion(logits, labels) -> scalar`` callable.

    The result can be passed as ``loss_fn`` to a sertune model. It computes in float32 (logits
    from a bf16/fp16 forward are cast) and moves the class weights to the logits' device.

    Args:
        loss: ``cross_entropy`` (``F.cross_entropy``) or ``focal`` (:class:`FocalLoss`).
        class_weights: Per-class weights in label-id order (see
            :func:`class_weights_from_counts`); the focal loss uses them as its ``alpha``.
        label_smoothing: Label smoothing ``eps`` in ``[0, 1)``.
        focal_gamma: ``gamma`` of the focal loss (ignored by cross-entropy).

    Raises:
        ValueError: Unknown loss name or invalid option.
    """
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    if loss == "focal":
        return FocalLoss(gamma=focal_gamma, alpha=class_weights, label_smoothing=label_smoothing)
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    return _CrossEntropy(_as_class_weights(class_weights, "class_weights"), label_smoothing)


def run_criterion(
    config: TrainingConfig, model: nn.Module, train_labels: Sequence[int]
) -> Criterion:
    """The one loss of a training run, decided here and nowhere else.

    The loop trains with it (as the hard-label term too, when distilling) and reports it as the
    validation and test ``loss``, so the training and validation curves measure the same thing.
    It comes from one of two places, never both:

    * the model, when it sets a loss of its own: a ``loss_fn``, or ``class_weights`` or
      ``label_smoothing`` in its config. The criterion is then the model's own
      :func:`~sertune.models.heads.classification_loss`, what it computes when called with
      ``labels``;
    * else the run's options: ``config.loss``, ``config.class_weighting`` (weights from the
      class counts of ``train_labels``), ``config.label_smoothing`` and ``config.focal_gamma``.
      With none of them set this is plain cross-entropy, as the model's own loss would be.

    Args:
        config: The run's options.
        model: The (unwrapped) model to train.
        train_labels: Class ids of the training utterances.

    Raises:
        ValueError: Both the model and the run's options set the loss.
    """
    model_config = model.config
    from_model = [
        name
        for name, is_set in (
            ("loss_fn", getattr(model, "loss_fn", None) is not None),
            ("class_weights", getattr(model_config, "class_weights", None) is not None),
            ("label_smoothing", getattr(model_config, "label_smoothing", 0.0) > 0),
        )
        if is_set
    ]
    from_run = [
        f"--{name} {getattr(config, name)}"
        for name, default in (("loss", "cross_entropy"), ("class_weighting", "none"))
        if getattr(config, name) != default
    ] + ([f"--label_smoothing {config.label_smoothing}"] if config.label_smoothing > 0 else [])
    if from_model and from_run:
        raise ValueError(
            f"the loss is set twice: by the model ({', '.join(from_model)}) and by the training "
            f"options ({', '.join(from_run)}); set it in one place"
        )
    if from_model:
        logger.info(
            "training loss: the model's own (%s)", ", ".join(from_model), main_process_only=True
        )
        return functools.partial(
            classification_loss, config=model_config, loss_fn=getattr(model, "loss_fn", None)
        )
    label_names = [model_config.id2label[i] for i in range(model_config.num_labels)]
    weights = None
    if config.class_weighting != "none":
        counts = class_counts(train_labels, len(label_names))
        weights = class_weights_from_counts(
            counts, scheme=config.class_weighting, label_names=label_names
        )
        logger.info(
            "class weights (%s) from training counts %s: %s",
            config.class_weighting,
            counts.tolist(),
            [round(w, 4) for w in weights.tolist()],
            main_process_only=True,
        )
    return make_criterion(
        config.loss,
        class_weights=weights,
        label_smoothing=config.label_smoothing,
        focal_gamma=config.focal_gamma,
    )


class _CrossEntropy:
    """``F.cross_entropy`` in float32 with fixed class weights kept on the logits' device."""

    def __init__(self, weight: torch.Tensor | None, label_smoothing: float):
        self.weight = weight
        self.label_smoothing = label_smoothing

    def __repr__(self) -> str:
        return (
            f"CrossEntropy(label_smoothing={self.label_smoothing}, "
            f"weighted={self.weight is not None})"
        )

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        weight = self.weight
        if weight is not None:
            if weight.numel() != logits.shape[-1]:
                raise ValueError(
                    f"class_weights has {weight.numel()} entries but logits have "
                    f"{logits.shape[-1]} classes"
                )
            if weight.device != logits.device:
                # Kept for the next call: the logits stay on one device for a whole run.
                weight = self.weight = weight.to(logits.device)
        return F.cross_entropy(
            logits.float(),
            labels.to(logits.device).view(-1).long(),
            weight=weight,
            label_smoothing=self.label_smoothing,
        )


def _as_class_weights(
    weights: Sequence[float] | torch.Tensor | np.ndarray | None, name: str
) -> torch.Tensor | None:
    if weights is None:
        return None
    tensor = torch.as_tensor(weights, dtype=torch.float32).detach()
    if tensor.ndim != 1:
        raise TypeError(
            f"{name} must be one weight per class (a 1-D sequence or tensor), got {weights!r}"
        )
    weights = tensor.clone()
    if weights.numel() == 0:
        raise ValueError(f"{name} is empty")
    if not torch.isfinite(weights).all() or (weights < 0).any() or not (weights > 0).any():
        raise ValueError(
            f"{name} must be finite, non-negative and not all zero, got {weights.tolist()}"
        )
    return weights


__all__ = [
    "CLASS_WEIGHT_SCHEMES",
    "LOSSES",
    "FocalLoss",
    "class_counts",
    "class_weights_from_counts",
    "make_criterion",
    "run_criterion",
]
