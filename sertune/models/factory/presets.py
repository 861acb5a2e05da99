"""Model presets: tiny test models, and the architectures of the supported ImageNet checkpoints.

Nothing here ships with a saved model: :func:`sertune.models.factory.build_ser_model` and
:func:`~sertune.models.factory.build_cnn_model` turn these into configs of the model classes.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from transformers import AutoConfig, PreTrainedConfig

from ..backbones import CNN_BACKBONE_FAMILIES
from ..cnn_lstm import CnnLstmConfig
from ..cnn_ser import CnnSerConfig
from ..heads import label_kwargs
from ..wav2vec2_ser import SerConfig
from .spec import ENCODER_FAMILIES, RANDOM_INIT_PREFIX

# --------------------------------------------------------------------------------------------
# Tiny wav2vec 2.0-family encoders

_TINY_ENCODER_COMMON = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    # Two convolutions with a total stride of 320 samples: 49 frames per second at 16 kHz, the
    # frame rate of the real models, over a 340-sample receptive field.
    "conv_dim": (32, 32),
    "conv_kernel": (40, 16),
    "conv_stride": (20, 16),
    "conv_bias": True,
    "num_conv_pos_embedding_groups": 4,
    "mask_time_prob": 0.05,
    "mask_time_length": 2,
    "mask_time_min_masks": 1,
    "layerdrop": 0.0,
}

_TINY_ENCODER_FAMILY = {
    "wav2vec2": {
        "num_conv_pos_embeddings": 16,
        "feat_extract_norm": "layer",
        "do_stable_layer_norm": True,
    },
    "hubert": {
        "num_conv_pos_embeddings": 16,
        "feat_extract_norm": "layer",
        "do_stable_layer_norm": False,
    },
    "wavlm": {
        "num_conv_pos_embeddings": 16,
        "feat_extract_norm": "layer",
        "do_stable_layer_norm": False,
        "num_buckets": 32,
        "max_bucket_distance": 64,
    },
    # data2vec-audio stacks `num_conv_pos_embeddings` convolutions of `conv_pos_kernel_size`.
    "data2vec-audio": {"num_conv_pos_embeddings": 2, "conv_pos_kernel_size": 5},
}


def tiny_random_encoder_config(family: str = "wav2vec2", **overrides) -> PreTrainedConfig:
    """A tiny encoder config (hidden size 32, 2 layers, 2 heads) for offline tests.

    Its feature encoder uses layer norm, so it is padding-invariant.

    Args:
        family: One of :data:`~sertune.models.factory.ENCODER_FAMILIES`.
        overrides: Encoder config fields to change.
    """
    if family not in _TINY_ENCODER_FAMILY:
        raise ValueError(
            f"unknown encoder family {family!r}; expected one of {list(ENCODER_FAMILIES)}"
        )
    fields = {**_TINY_ENCODER_COMMON, **_TINY_ENCODER_FAMILY[family], **overrides}
    return AutoConfig.for_model(family, **fields)


def tiny_random_config(
    family: str = "wav2vec2",
    *,
    id2label: Mapping[int, str] | None = None,
    num_labels: int | None = None,
    encoder_overrides: Mapping | None = None,
    **head_options,
) -> SerConfig:
    """A :class:`SerConfig` around :func:`tiny_random_encoder_config`, with a small head.

    Args:
        family: One of :data:`~sertune.models.factory.ENCODER_FAMILIES`.
        id2label: Class names by id.
        num_labels: Number of classes when there are no names.
        encoder_overrides: Encoder config fields to change.
        head_options: Any other :class:`SerConfig` argument (``head_hidden_size`` defaults to 16).
    """
    head_options.setdefault("head_hidden_size", 16)
    return SerConfig(
        encoder_config=tiny_random_encoder_config(family, **dict(encoder_overrides or {})),
        **label_kwargs(id2label, num_labels),
        **head_options,
    )


# --------------------------------------------------------------------------------------------
# Tiny CNNs and the CNN-LSTM

#: ``(channels, n_mels, segment_frames)`` of one segment for the tiny random CNN models.
TINY_SEGMENT_SHAPE: tuple[int, int, int] = (3, 32, 32)

#: Filters of the tiny CNN-LSTM's convolution blocks.
TINY_CNN_LSTM_CHANNELS: tuple[int, ...] = (4, 8, 8, 16)

# Tiny backbones for 32 x 32 segments: a few thousand to a few ten thousand parameters each.
_TINY_BACKBONES: dict[str, dict] = {
    "resnet": {
        "embedding_size": 8,
        "hidden_sizes": [8, 16],
        "depths": [1, 1],
        "layer_type": "basic",
    },
    "mobilenet_v2": {
        "depth_multiplier": 0.1,
        "finegrained_output": False,
        "image_size": 32,
    },
    # Three one-block stages instead of seven; width 0.05 makes the top convolution
    # round_filters(1280) = 64 channels, which hidden_dim must match.
    "efficientnet": {
        "width_coefficient": 0.05,
        "depth_coefficient": 1.0,
        "in_channels": [32, 16, 24],
        "out_channels": [16, 24, 40],
        "kernel_sizes": [3, 3, 5],
        "strides": [1, 2, 2],
        "num_block_repeats": [1, 1, 1],
        "expand_ratios": [1, 6, 6],
        "hidden_dim": 64,
        "image_size": 32,
    },
    "convnext": {
        "hidden_sizes": [8, 16],
        "depths": [1, 1],
        "num_stages": 2,
        "image_size": 32,
    },
}


def tiny_random_backbone_config(family: str = "resnet", **overrides) -> PreTrainedConfig:
    """A tiny ``transformers`` vision backbone config for 32 x 32 segments, for offline tests.

    Args:
        family: One of :data:`~sertune.models.backbones.CNN_BACKBONE_FAMILIES`.
        overrides: Backbone config fields to change.
    """
    if family not in _TINY_BACKBONES:
        raise ValueError(
            f"unknown backbone family {family!r}; expected one of {list(CNN_BACKBONE_FAMILIES)}"
        )
    return AutoConfig.for_model(family, **{**_TINY_BACKBONES[family], **overrides})


def tiny_random_cnn_config(
    backbone: str = "resnet",
    *,
    id2label: Mapping[int, str] | None = None,
    num_labels: int | None = None,
    backbone_overrides: Mapping | None = None,
    **options,
) -> CnnSerConfig:
    """A :class:`CnnSerConfig` around :func:`tiny_random_backbone_config`, with a small head.

    Args:
        backbone: One of :data:`~sertune.models.backbones.CNN_BACKBONE_FAMILIES`.
        id2label: Class names by id.
        num_labels: Number of classes when there are no names.
        backbone_overrides: Backbone config fields to change.
        options: Any other :class:`CnnSerConfig` argument (``lstm_hidden_size`` and
            ``head_hidden_size`` default to 16).
    """
    options.setdefault("lstm_hidden_size", 16)
    options.setdefault("head_hidden_size", 16)
    return CnnSerConfig(
        backbone_config=tiny_random_backbone_config(backbone, **dict(backbone_overrides or {})),
        **label_kwargs(id2label, num_labels),
        **options,
    )


def tiny_random_cnn_lstm_config(
    *,
    id2label: Mapping[int, str] | None = None,
    num_labels: int | None = None,
    **options,
) -> CnnLstmConfig:
    """A small :class:`CnnLstmConfig` for 32 x 32 segments: filters 4-8-8-16, 16 LSTM units.

    Args:
        id2label: Class names by id.
        num_labels: Number of classes when there are no names.
        options: Any other :class:`CnnLstmConfig` argument.
    """
    options.setdefault("n_mels", TINY_SEGMENT_SHAPE[1])
    options.setdefault("conv_channels", TINY_CNN_LSTM_CHANNELS)
    options.setdefault("lstm_hidden_size", 16)
    return CnnLstmConfig(**label_kwargs(id2label, num_labels), **options)


# --------------------------------------------------------------------------------------------
# The Hub architecture table

# The architectures of the supported ImageNet checkpoints, so that ``random:<hub id>`` builds
# them without reaching the Hub (the configs of those checkpoints, written out).
HUB_ARCHITECTURES: dict[str, tuple[str, dict]] = {
    "microsoft/resnet-18": (
        "resnet",
        {
            "embedding_size": 64,
            "hidden_sizes": [64, 128, 256, 512],
            "depths": [2, 2, 2, 2],
            "layer_type": "basic",
            "downsample_in_first_stage": False,
        },
    ),
    "microsoft/resnet-50": (
        "resnet",
        {
            "embedding_size": 64,
            "hidden_sizes": [256, 512, 1024, 2048],
            "depths": [3, 4, 6, 3],
            "layer_type": "bottleneck",
            "downsample_in_first_stage": False,
        },
    ),
    "google/mobilenet_v2_1.0_224": ("mobilenet_v2", {"depth_multiplier": 1.0, "image_size": 224}),
    "google/efficientnet-b0": (
        "efficientnet",
        {
            "width_coefficient": 1.0,
            "depth_coefficient": 1.0,
            "image_size": 224,
            "dropout_rate": 0.2,
            "hidden_dim": 1280,
        },
    ),
    "facebook/convnext-tiny-224": (
        "convnext",
        {"hidden_sizes": [96, 192, 384, 768], "depths": [3, 3, 9, 3], "image_size": 224},
    ),
}


def random_init_backbone_config(hub_id: str) -> PreTrainedConfig:
    """The architecture of a supported ImageNet checkpoint as a config, without the Hub.

    Args:
        hub_id: One of the keys of :data:`HUB_ARCHITECTURES`.
    """
    if hub_id not in HUB_ARCHITECTURES:
        raise ValueError(
            f"no built-in architecture for {hub_id!r}; {RANDOM_INIT_PREFIX} supports "
            + ", ".join(HUB_ARCHITECTURES)
        )
    family, fields = HUB_ARCHITECTURES[hub_id]
    return AutoConfig.for_model(family, **fields)


# transformers initialises these for loading pretrained weights: convolutions (and EfficientNet's
# batch-norm weights) ~ N(0, 0.02), under which a random network's activations vanish within a few
# blocks in evaluation mode. Their random presets get torchvision's initialisation instead.
HE_INIT_FAMILIES: tuple[str, ...] = ("mobilenet_v2", "efficientnet")


@torch.no_grad()
def he_initialise(backbone: nn.Module) -> None:
    """He-normal (fan-in) convolutions, unit batch-norm weights and zero biases.

    Args:
        backbone: A randomly initialised CNN, changed in place.
    """
    for module in backbone.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
