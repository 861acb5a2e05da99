"""The model-name mini-language, parsed once into a :class:`ModelSpec`.

A recipe's ``--model_name_or_path`` is one of:

* ``tiny-random`` or ``tiny-random-<encoder family>`` (wav2vec2, hubert, wavlm, data2vec-audio):
  a tiny randomly initialised wav2vec 2.0-family model, built offline for tests and smoke runs;
* ``tiny-random-cnn-<backbone family>`` (resnet, mobilenet_v2, efficientnet, convnext) or
  ``tiny-random-cnn-lstm``: the same for the CNN family;
* ``cnn-lstm``: a full-size CNN-LSTM, trained from scratch (it has no pretrained weights);
* ``random:<hub id>``: the architecture of a supported ImageNet checkpoint, randomly initialised
  without reaching the Hub;
* ``timm:<name>``: a pretrained timm backbone;
* anything else: a Hub id or a local folder with a pretrained encoder or backbone.

The recipes, the Hub model card and the command line read the same :class:`ModelSpec`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..backbones import CNN_BACKBONE_FAMILIES, TIMM_PREFIX

#: Encoder families the wav2vec 2.0 family is tested with, by ``transformers`` model type.
ENCODER_FAMILIES: tuple[str, ...] = ("wav2vec2", "hubert", "wavlm", "data2vec-audio")

#: ``tiny-random`` (wav2vec2) or ``tiny-random-<encoder family>``.
TINY_RANDOM_PREFIX = "tiny-random"

#: ``tiny-random-cnn-<backbone family>`` and ``tiny-random-cnn-lstm``.
TINY_RANDOM_CNN_PREFIX = "tiny-random-cnn-"

#: The family name of the from-scratch CNN-LSTM baseline in ``tiny-random-cnn-lstm``.
CNN_LSTM_FAMILY = "lstm"

#: Model name of a full-size, randomly initialised CNN-LSTM (it has no pretrained weights).
CNN_LSTM_NAME = "cnn-lstm"

#: ``random:<hub id>``: that checkpoint's architecture, randomly initialised.
RANDOM_INIT_PREFIX = "random:"

#: ``namespace/name``: what a Hub model id looks like (a local path may too).
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

#: How a model is obtained.
SpecKind = Literal["tiny_random", "from_scratch", "random_init", "timm", "pretrained"]

#: Which model class is built: the wav2vec 2.0 family, the ImageNet CNN or the CNN-LSTM.
Architecture = Literal["ser", "cnn", "cnn_lstm"]


@dataclass(frozen=True)
class ModelSpec:
    """What a model name asks for.

    Args:
        name: The name as given.
        kind: ``tiny_random``, ``from_scratch`` (``cnn-lstm``), ``random_init``
            (``random:<hub id>``), ``timm`` or ``pretrained`` (a Hub id or a folder).
        architecture: ``ser``, ``cnn`` or ``cnn_lstm``; ``None`` for a pretrained checkpoint,
            whose architecture the builder called decides.
        family: The encoder or backbone family of a tiny random model (``"lstm"`` for the tiny
            CNN-LSTM), else ``None``.
        checkpoint: The Hub id or folder (``pretrained``), the Hub id whose architecture is
            built (``random_init``) or the timm model name (``timm``); else ``None``.
    """

    name: str
    kind: SpecKind
    architecture: Architecture | None = None
    family: str | None = None
    checkpoint: str | None = None

    @property
    def is_random(self) -> bool:
        """Whether the weights are randomly initialised (no pretrained weights at all)."""
        return self.kind in ("tiny_random", "from_scratch", "random_init")

    @property
    def hub_base_model(self) -> str | None:
        """The Hub checkpoint a pretrained model starts from; ``None`` for anything else.

        Random models, timm backbones (their Hub names differ) and local folders have none.
        """
        if self.kind != "pretrained" or not _HUB_ID.match(self.name) or Path(self.name).exists():
            return None
        return self.name


def _tiny_random_names() -> list[str]:
    return [
        TINY_RANDOM_PREFIX,
        *(f"{TINY_RANDOM_PREFIX}-{family}" for family in ENCODER_FAMILIES),
        *(TINY_RANDOM_CNN_PREFIX + family for family in (*CNN_BACKBONE_FAMILIES, CNN_LSTM_FAMILY)),
    ]


def _parse_tiny_random(name: str) -> ModelSpec:
    if name == TINY_RANDOM_PREFIX:
        return ModelSpec(name, "tiny_random", "ser", "wav2vec2")
    if name.startswith(TINY_RANDOM_CNN_PREFIX):
        family = name[len(TINY_RANDOM_CNN_PREFIX) :]
        if family == CNN_LSTM_FAMILY:
            return ModelSpec(name, "tiny_random", "cnn_lstm", family)
        if family in CNN_BACKBONE_FAMILIES:
            return ModelSpec(name, "tiny_random", "cnn", family)
    else:
        family = name[len(TINY_RANDOM_PREFIX) + 1 :]
        if family in ENCODER_FAMILIES:
            return ModelSpec(name, "tiny_random", "ser", family)
    raise ValueError(
        f"unknown tiny random model {name!r}; expected one of "
        + ", ".join(repr(known) for known in _tiny_random_names())
    )


def parse_model_name(name: str | ModelSpec) -> ModelSpec:
    """Parse a ``--model_name_or_path`` (see the module docstring); a spec is returned as is.

    Args:
        name: The model name, or an already parsed spec.

    Raises:
        ValueError: ``tiny-random-<something unknown>``, or ``random:``/``timm:`` without a name.
    """
    if isinstance(name, ModelSpec):
        return name
    if name == TINY_RANDOM_PREFIX or name.startswith(TINY_RANDOM_PREFIX + "-"):
        return _parse_tiny_random(name)
    if name == CNN_LSTM_NAME:
        return ModelSpec(name, "from_scratch", "cnn_lstm")
    for prefix, kind in ((RANDOM_INIT_PREFIX, "random_init"), (TIMM_PREFIX, "timm")):
        if name.startswith(prefix):
            checkpoint = name.removeprefix(prefix)
            if not checkpoint:
                raise ValueError(f"{name!r}: give a name after {prefix!r}")
            return ModelSpec(name, kind, "cnn", checkpoint=checkpoint)
    return ModelSpec(name, "pretrained", checkpoint=name)
