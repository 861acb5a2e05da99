"""ImageNet CNN backbones that turn one spectrogram image into one embedding.

The CNN family (``cnn_ser.py``) runs an image classification network, without its classifier,
on each fixed-length log-mel segment. This module holds what that needs and nothing
model-specific:

* :func:`backbone_embedding_size` and :func:`pooled_embedding`: the width and the value of the
  embedding of a ``transformers`` vision model, whatever the family calls its outputs;
* :func:`create_timm_backbone`: the optional ``timm`` path (``timm`` is imported only there);
* :class:`ChannelNormalization`: the fixed ImageNet per-channel affine and an optional learnable
  one;
* :func:`use_torch_batch_norm_momentum`: undoes a TensorFlow convention that some ported
  checkpoints keep;
* :func:`backbone_depths`: the stage/block depth of each backbone parameter, for layer-wise
  learning-rate decay.

It imports only the standard library, ``torch`` and ``transformers`` (and ``timm`` lazily): it is
copied next to saved models as part of their custom code.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence

import torch
from torch import nn
from transformers import PreTrainedConfig

logger = logging.getLogger(__name__)

#: Per-channel mean and standard deviation of ImageNet pixels in [0, 1] (torchvision's values).
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

#: ``transformers`` backbone families this module is tested with, by model type.
CNN_BACKBONE_FAMILIES: tuple[str, ...] = ("resnet", "mobilenet_v2", "efficientnet", "convnext")

#: Prefix of a backbone name that means a ``timm`` model, e.g. ``"timm:resnet18"``.
TIMM_PREFIX = "timm:"


def backbone_embedding_size(config: PreTrainedConfig) -> int:
    """Width of the pooled embedding of the ``transformers`` vision model built from ``config``.

    Args:
        config: The backbone's config (ResNet, MobileNetV2, EfficientNet, ConvNeXt, or another
            family with ``hidden_sizes`` or ``hidden_size``).

    Raises:
        ValueError: When the width cannot be told from the config.
    """
    model_type = config.model_type
    if model_type == "efficientnet":
        # The top convolution has round_filters(1280) channels and its batch norm `hidden_dim`:
        # transformers only builds when they agree, and the pooler keeps that width.
        return int(config.hidden_dim)
    if model_type == "mobilenet_v2":
        if config.finegrained_output and config.depth_multiplier < 1.0:
            return 1280
        return _make_divisible(
            int(round(1280 * config.depth_multiplier)), config.depth_divisible_by, config.min_depth
        )
    if getattr(config, "hidden_sizes", None):
        return int(config.hidden_sizes[-1])  # resnet, convnext, convnextv2, regnet, ...
    if getattr(config, "hidden_size", None):
        return int(config.hidden_size)  # vision transformers
    raise ValueError(
        f"cannot tell the embedding width of a {model_type!r} backbone from its config; "
        f"tested families: {list(CNN_BACKBONE_FAMILIES)}"
    )


def _make_divisible(value: int, divisor: int, min_value: int) -> int:
    """MobileNet's channel rounding (as in ``transformers``' MobileNet models)."""
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < 0.9 * value:
        new_value += divisor
    return int(new_value)


#: Backbone families whose width :func:`scale_backbone_width` can change.
WIDTH_SCALABLE_FAMILIES: tuple[str, ...] = ("mobilenet_v2", "resnet", "convnext")


def scale_backbone_width(config: PreTrainedConfig, multiplier: float) -> PreTrainedConfig:
    """A copy of a vision backbone config with every stage's channel count times ``multiplier``.

    MobileNetV2 takes it as its own ``depth_multiplier`` (channels rounded to multiples of 8,
    as in the paper), with ``finegrained_output`` off below 1 so that the last layer shrinks too
    (the ImageNet models keep 1280 channels there). ResNet and ConvNeXt scale ``hidden_sizes``
    (and ResNet's stem ``embedding_size``), rounded to multiples of 8. Depths are unchanged.

    Args:
        config: A ``transformers`` vision config of a family in :data:`WIDTH_SCALABLE_FAMILIES`.
        multiplier: Width factor, e.g. 0.35 or 0.5 for a small student.

    Raises:
        ValueError: For a non-positive multiplier or another family.
    """
    if multiplier <= 0:
        raise ValueError(f"width multiplier must be positive, got {multiplier}")
    if multiplier == 1.0:
        return config.__class__.from_dict(config.to_dict())
    model_type = config.model_type
    if model_type not in WIDTH_SCALABLE_FAMILIES:
        raise ValueError(
            f"cannot scale the width of a {model_type!r} backbone; supported families: "
            f"{list(WIDTH_SCALABLE_FAMILIES)}"
        )
    scaled = config.__class__.from_dict(config.to_dict())
    if model_type == "mobilenet_v2":
        scaled.depth_multiplier = config.depth_multiplier * multiplier
        if scaled.depth_multiplier < 1.0:
            scaled.finegrained_output = False
        return scaled
    scaled.hidden_sizes = [_make_divisible(size * multiplier, 8, 8) for size in config.hidden_sizes]
    if model_type == "resnet":
        scaled.embedding_size = _make_divisible(config.embedding_size * multiplier, 8, 8)
    return scaled


def pooled_embedding(outputs) -> torch.Tensor:
    """One vector per image, ``[images, width]``, from a ``transformers`` vision model's output.

    The model's own pooled output when it has one (global average pooling for ResNet,
    MobileNetV2 and EfficientNet, followed by the final layer norm for ConvNeXt: exactly what
    the ImageNet classifier saw), else the global average of the last hidden state (a feature
    map ``[images, channels, height, width]`` or a token sequence ``[images, tokens, width]``).

    Args:
        outputs: The model's output with ``return_dict=True``.
    """
    pooled = getattr(outputs, "pooler_output", None)
    if pooled is not None:
        return pooled.flatten(1)
    hidden = outputs.last_hidden_state
    if hidden.dim() == 4:
        return hidden.mean(dim=(2, 3))
    if hidden.dim() == 3:
        return hidden.mean(dim=1)
    raise ValueError(f"cannot pool a last hidden state of shape {tuple(hidden.shape)}")


def create_timm_backbone(name: str, pretrained: bool = False) -> nn.Module:
    """A ``timm`` image model without its classifier: ``forward`` gives ``[images, num_features]``.

    Args:
        name: A ``timm`` model name such as ``"resnet18"`` (without the ``timm:`` prefix).
        pretrained: Load its ImageNet weights (downloads them).

    Raises:
        ImportError: When ``timm`` is not installed.
    """
    try:
        import timm
    except ImportError as error:
        raise ImportError(
            f"the timm backbone {name!r} needs the `timm` package, which is not installed; "
            "install it with `pip install timm`, or use a transformers backbone "
            f"(e.g. one of {list(CNN_BACKBONE_FAMILIES)})"
        ) from error
    # num_classes=0 drops the classifier and keeps timm's global pooling.
    return timm.create_model(name, pretrained=pretrained, num_classes=0, in_chans=3)


class ChannelNormalization(nn.Module):
    """Per-channel affine on ``[images, channels, height, width]``: fixed, then learnable.

    The fixed part is an image processor's normalisation, ``(x - mean[c]) / std[c]``. The
    learnable part, ``x * scale[c] + shift[c]``, starts as the identity.

    Args:
        num_channels: Number of image channels.
        mean: Per-channel means of the fixed part; ``None`` leaves it out.
        std: Per-channel standard deviations of the fixed part (with ``mean``).
        learnable: Add the learnable per-channel scale and shift.
    """

    def __init__(
        self,
        num_channels: int,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        learnable: bool = False,
    ):
        super().__init__()
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither")
        if mean is not None:
            if len(mean) != num_channels or len(std) != num_channels:
                raise ValueError(
                    f"mean and std need {num_channels} values each, got {len(mean)} and {len(std)}"
                )
            if min(std) <= 0:
                raise ValueError(f"std must be positive, got {list(std)}")
        # Plain floats rather than buffers: they come from the config, so they are not saved.
        self.mean = None if mean is None else tuple(float(m) for m in mean)
        self.std = None if std is None else tuple(float(s) for s in std)
        self.num_channels = num_channels
        self.learnable = learnable
        if learnable:
            self.scale = nn.Parameter(torch.ones(num_channels))
            self.shift = nn.Parameter(torch.zeros(num_channels))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Normalise ``images`` channel by channel.

        Args:
            images: ``[images, channels, height, width]``.
        """
        if self.mean is not None:
            mean = images.new_tensor(self.mean).view(1, -1, 1, 1)
            std = images.new_tensor(self.std).view(1, -1, 1, 1)
            images = (images - mean) / std
        if self.learnable:
            images = images * self.scale.view(1, -1, 1, 1) + self.shift.view(1, -1, 1, 1)
        return images


def use_torch_batch_norm_momentum(module: nn.Module) -> int:
    """Convert TensorFlow-style batch-norm momentum to PyTorch's, in place; return how many.

    TensorFlow keeps ``momentum`` of the old running statistics, PyTorch takes ``momentum`` of
    the new batch. ``transformers``' MobileNetV2 (0.997, hard-coded) and EfficientNet
    (``batch_norm_momentum=0.99``) pass the TensorFlow value to ``nn.BatchNorm2d``, so in training
    mode their running statistics are almost replaced by every batch's, and evaluation after
    fine-tuning uses the statistics of the last few batches. Any momentum above 0.5 is taken to
    be such a value and replaced by ``1 - momentum``.

    Args:
        module: The backbone; every batch norm inside it is checked.
    """
    converted = 0
    for submodule in module.modules():
        if isinstance(submodule, nn.modules.batchnorm._BatchNorm):
            momentum = submodule.momentum
            if momentum is not None and momentum > 0.5:
                submodule.momentum = 1.0 - momentum
                converted += 1
    if converted:
        logger.info("converted %d TensorFlow-style batch-norm momenta to PyTorch's", converted)
    return converted


# A numbered stage or block: `stages.2.` (ResNet, ConvNeXt, timm), `blocks.7.` (EfficientNet,
# timm), `layer.5.` (MobileNetV2), `layer3.` (timm ResNet), `layers.1.`.
_UNIT_PATTERN = re.compile(r"(?:^|\.)(stages|blocks|layers|layer)\.?(\d+)\.")


def backbone_depths(parameter_names: Iterable[str]) -> tuple[dict[str, int], int]:
    """The depth of each backbone parameter for layer-wise learning-rate decay.

    The outermost numbered units (stages, or blocks when there are no stages) are numbered 1, 2,
    ... in the order their parameters are registered, which for these backbones is the order of
    the forward pass. Parameters before the first unit (the stem) get depth 0; any other
    parameter outside a unit (a final convolution or norm) gets the depth of the unit before it.

    Args:
        parameter_names: The backbone's parameter names, in registration order.

    Returns:
        ``(depth by name, deepest depth)``.
    """
    names = list(parameter_names)
    units: dict[tuple[str, str, str], int] = {}
    depths: dict[str, int] = {}
    depth = 0
    for name in names:
        match = _UNIT_PATTERN.search(name)
        if match is not None:
            key = (name[: match.start()], match.group(1), match.group(2))
            depth = units.setdefault(key, len(units) + 1)
        depths[name] = depth
    return depths, len(units)
