"""Small pieces that sit between an encoder and the class logits.

* :class:`WeightedLayerSum` mixes all hidden states of an encoder (the embedding output and the
  output of every layer) with learnable softmax weights (SUPERB, Yang et al. 2021).
* :class:`ClassificationHead` maps a pooled utterance vector to logits through a small MLP.
* :func:`classification_loss` and :func:`label_kwargs`: the loss and the label set every model
  family uses.
* :func:`classify`: the forward tail every model family shares, from a pooled vector through the
  head to logits, the loss and a ``SequenceClassifierOutput``.
* :func:`check_loss_options`, :func:`check_class_weights` and :func:`decay_groups`: the
  configs' checks of the loss options and the AdamW parameter groups, shared by the families.

Pooling over frames lives in ``pooling.py``. This file imports only ``torch`` and
``transformers``: it is copied next to saved models as part of their custom code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedConfig
from transformers.activations import ACT2FN
from transformers.modeling_outputs import SequenceClassifierOutput


class WeightedLayerSum(nn.Module):
    """Softmax-weighted sum of a stack of hidden states.

    The weights start equal (zero logits) and are learnt with the rest of the head.

    Args:
        num_layers: How many hidden states are mixed (encoder layers + 1 for the embeddings).
    """

    def __init__(self, num_layers: int):
        super().__init__()
        self.num_layers = num_layers
        self.layer_weights = nn.Parameter(torch.zeros(num_layers))

    def normalized_weights(self) -> torch.Tensor:
        """The mixing weights after the softmax, ``[num_layers]``."""
        return self.layer_weights.softmax(dim=-1)

    def forward(self, hidden_states: Sequence[torch.Tensor]) -> torch.Tensor:
        """Mix ``hidden_states`` (each ``[batch, frames, hidden]``) into one ``[batch, frames, hidden]``.

        Args:
            hidden_states: One tensor per layer, embedding output first.
        """
        if len(hidden_states) != self.num_layers:
            raise RuntimeError(
                f"expected {self.num_layers} hidden states (embedding output + each layer), got "
                f"{len(hidden_states)}. In transformers 5 hidden states are recorded by hooks on the "
                "encoder layers, so a layer skipped by LayerDrop leaves no entry: set the encoder's "
                "layerdrop to 0.0 when mixing layers."
            )
        weights = self.normalized_weights().to(hidden_states[0].dtype)
        stacked = torch.stack(tuple(hidden_states), dim=0)
        return torch.einsum("l,lbth->bth", weights, stacked)


class ClassificationHead(nn.Module):
    """``dropout -> [Linear -> activation -> dropout] -> Linear`` from a pooled vector to logits.

    Args:
        input_size: Size of the pooled vector.
        num_labels: Number of classes.
        hidden_size: Width of the hidden layer; ``None`` or 0 puts the classifier straight on the
            pooled vector.
        activation: Name of the activation in ``transformers.activations.ACT2FN``.
        dropout: Dropout probability, applied to the pooled vector and to the hidden layer.
    """

    def __init__(
        self,
        input_size: int,
        num_labels: int,
        hidden_size: int | None = 256,
        activation: str = "relu",
        dropout: float = 0.1,
    ):
        super().__init__()
        if activation not in ACT2FN:
            raise ValueError(f"unknown activation {activation!r}; expected one of {sorted(ACT2FN)}")
        self.dropout = nn.Dropout(dropout)
        if hidden_size:
            self.dense = nn.Linear(input_size, hidden_size)
            self.activation = ACT2FN[activation]
            self.hidden_dropout = nn.Dropout(dropout)
            classifier_input = hidden_size
        else:
            self.dense = None
            classifier_input = input_size
        self.classifier = nn.Linear(classifier_input, num_labels)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        """Logits ``[batch, num_labels]`` for a pooled batch ``[batch, input_size]``.

        Args:
            pooled: Utterance-level vectors.
        """
        hidden = self.dropout(pooled)
        if self.dense is not None:
            hidden = self.hidden_dropout(self.activation(self.dense(hidden)))
        return self.classifier(hidden)


def complete_label_maps(kwargs: dict) -> None:
    """Validate a config's ``id2label``/``label2id`` in place and derive ``label2id`` if missing.

    Args:
        kwargs: ``PretrainedConfig`` keyword arguments (as given to a config's ``__init__``,
            or read from ``config.json``, whose keys are strings).

    Raises:
        ValueError: Naming the field: ``id2label`` ids are not ``0..n-1`` or its names repeat,
            ``label2id`` disagrees with ``id2label``, or ``num_labels`` differs from their size.
    """
    id2label = kwargs.get("id2label")
    if id2label is None:
        return
    try:
        id2label = {int(i): str(name) for i, name in dict(id2label).items()}
    except (TypeError, ValueError):
        raise ValueError(
            f"id2label: expected a mapping of integer ids to names, got {id2label!r}"
        ) from None
    if sorted(id2label) != list(range(len(id2label))):
        raise ValueError(f"id2label: ids must be 0..{len(id2label) - 1}, got {sorted(id2label)}")
    expected = {name: i for i, name in id2label.items()}
    if len(expected) != len(id2label):
        raise ValueError(f"id2label: duplicate names in {sorted(id2label.values())}")
    label2id = kwargs.get("label2id")
    if label2id is not None:
        try:
            label2id = {str(name): int(i) for name, i in dict(label2id).items()}
        except (TypeError, ValueError):
            raise ValueError(
                f"label2id: expected a mapping of names to ids, got {label2id!r}"
            ) from None
        if label2id != expected:
            raise ValueError(f"label2id {label2id} disagrees with id2label {id2label}")
    num_labels = kwargs.get("num_labels")
    if num_labels is not None and int(num_labels) != len(id2label):
        raise ValueError(f"num_labels={num_labels} but id2label has {len(id2label)} entries")
    kwargs["id2label"] = id2label
    kwargs["label2id"] = expected


def label_kwargs(id2label: Mapping[int, str] | None, num_labels: int | None) -> dict:
    """Config keyword arguments for the label set, from names or from a count.

    Args:
        id2label: Class names by id (ids ``0..n-1``).
        num_labels: Number of classes, checked against ``id2label`` when both are given.
    """
    if id2label is None:
        if num_labels is None:
            raise ValueError("give id2label or num_labels")
        return {"num_labels": int(num_labels)}
    id2label = {int(i): str(name) for i, name in id2label.items()}
    if sorted(id2label) != list(range(len(id2label))):
        raise ValueError(f"id2label ids must be 0..{len(id2label) - 1}, got {sorted(id2label)}")
    if num_labels is not None and num_labels != len(id2label):
        raise ValueError(f"num_labels={num_labels} but id2label has {len(id2label)} entries")
    label2id = {name: i for i, name in id2label.items()}
    if len(label2id) != len(id2label):
        raise ValueError(f"id2label has duplicate names: {sorted(id2label.values())}")
    return {"id2label": id2label, "label2id": label2id}


def classification_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    config: PreTrainedConfig,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """``loss_fn`` if given, else cross-entropy with the config's class weights and smoothing.

    This is the model's own loss. sertune's training loop trains with
    it, and reports it at evaluation, when the model sets any of these; the run's loss options
    are then refused (see ``sertune.training.losses.run_criterion``, where the loss of a run
    is decided).

    Args:
        logits: ``[batch, num_labels]``.
        labels: ``[batch]`` class ids.
        config: A config with ``num_labels``, ``class_weights`` and ``label_smoothing``.
        loss_fn: ``loss_fn(logits, labels) -> scalar`` replacing the cross-entropy.
    """
    labels = labels.to(logits.device).view(-1)
    if loss_fn is not None:
        return loss_fn(logits, labels)
    weight = None
    if config.class_weights is not None:
        weight = torch.tensor(config.class_weights, dtype=torch.float32, device=logits.device)
    return F.cross_entropy(
        logits.float().view(-1, config.num_labels),
        labels,
        weight=weight,
        label_smoothing=config.label_smoothing,
    )


def classify(
    head: nn.Module,
    pooled: torch.Tensor,
    labels: torch.Tensor | None,
    config: PreTrainedConfig,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    *,
    return_dict: bool = True,
    hidden_states: tuple[torch.Tensor, ...] | None = None,
    attentions: tuple[torch.Tensor, ...] | None = None,
) -> SequenceClassifierOutput | tuple:
    """The forward tail of every model family: pooled vector -> head -> logits (-> loss).

    Args:
        head: Maps ``pooled`` to logits ``[batch, num_labels]``.
        pooled: Utterance-level vectors ``[batch, features]``.
        labels: ``[batch]`` class ids; when given the loss is computed by
            :func:`classification_loss`.
        config: The model's config (``num_labels``, ``class_weights``, ``label_smoothing``).
        loss_fn: See :func:`classification_loss`.
        return_dict: Return a ``SequenceClassifierOutput`` rather than a tuple.
        hidden_states: Returned as the output's ``hidden_states``.
        attentions: Returned as the output's ``attentions``.
    """
    logits = head(pooled)
    loss = None if labels is None else classification_loss(logits, labels, config, loss_fn)
    output = SequenceClassifierOutput(
        loss=loss, logits=logits, hidden_states=hidden_states, attentions=attentions
    )
    return output if return_dict else output.to_tuple()


def check_loss_options(
    class_weights: Sequence[float] | None, label_smoothing: float, freeze_encoder_steps: int
) -> list[float] | None:
    """Check a config's loss and freezing options; returns ``class_weights`` as floats.

    Args:
        class_weights: Per-class weights of the cross-entropy loss, or ``None``.
        label_smoothing: In ``[0, 1)``.
        freeze_encoder_steps: At least 0.
    """
    if freeze_encoder_steps < 0:
        raise ValueError(f"freeze_encoder_steps must be >= 0, got {freeze_encoder_steps}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    return None if class_weights is None else [float(w) for w in class_weights]


def check_class_weights(config: PreTrainedConfig) -> None:
    """Raise when ``config.class_weights`` does not have one weight per label.

    Args:
        config: A config after ``PretrainedConfig.__init__`` (``num_labels`` is known).
    """
    if config.class_weights is not None and len(config.class_weights) != config.num_labels:
        raise ValueError(
            f"class_weights has {len(config.class_weights)} entries for {config.num_labels} labels"
        )


def decay_groups(
    named_parameters: Iterable[tuple[str, nn.Parameter]],
    lr_and_group: Callable[[str], tuple[str, float]],
    weight_decay: float,
) -> list[dict]:
    """AdamW groups keyed by group name, with no weight decay on 1-D parameters.

    Args:
        named_parameters: ``(name, parameter)`` pairs to put in groups.
        lr_and_group: Maps a parameter name to its group name and learning rate.
        weight_decay: Weight decay of the parameters with at least two dimensions.

    Returns:
        ``{"params", "lr", "weight_decay", "name"}`` dicts; the 1-D parameters of group ``g``
        are in ``g.no_decay``.
    """
    groups: dict[str, dict] = {}
    for name, param in named_parameters:
        group_name, lr = lr_and_group(name)
        decay = param.ndim >= 2
        key = group_name if decay else f"{group_name}.no_decay"
        group = groups.setdefault(
            key,
            {"params": [], "lr": lr, "weight_decay": weight_decay if decay else 0.0, "name": key},
        )
        group["params"].append(param)
    return list(groups.values())
