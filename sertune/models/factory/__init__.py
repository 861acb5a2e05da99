"""The model factory: names, presets and builders, none of which ship with a saved model.

* :mod:`~sertune.models.factory.spec`: the model-name mini-language (``tiny-random*``,
  ``tiny-random-cnn-*``, ``cnn-lstm``, ``random:<hub id>``, ``timm:<name>``, Hub ids and folders)
  parsed once into a typed :class:`ModelSpec`, which the recipes and the Hub model card read.
* :mod:`~sertune.models.factory.presets`: tiny test configs and the architectures of the
  supported ImageNet checkpoints.
* :mod:`~sertune.models.factory.builders`: :func:`build_ser_model`, :func:`build_cnn_model` and
  the feature extractors that go with them.

The modelling files (``wav2vec2_ser.py``, ``cnn_ser.py`` and their siblings), which
``save_pretrained`` copies next to the weights, hold configs and models only.
"""

from __future__ import annotations

from .builders import (
    build_cnn_model,
    build_feature_extractor,
    build_ser_model,
    build_tiny_random_cnn_lstm_model,
    build_tiny_random_cnn_model,
    build_tiny_random_model,
    load_feature_extractor,
    tiny_random_cnn_family,
    tiny_random_family,
)
from .presets import (
    HUB_ARCHITECTURES,
    TINY_CNN_LSTM_CHANNELS,
    TINY_SEGMENT_SHAPE,
    random_init_backbone_config,
    tiny_random_backbone_config,
    tiny_random_cnn_config,
    tiny_random_cnn_lstm_config,
    tiny_random_config,
    tiny_random_encoder_config,
)
from .spec import (
    CNN_LSTM_FAMILY,
    CNN_LSTM_NAME,
    ENCODER_FAMILIES,
    RANDOM_INIT_PREFIX,
    TINY_RANDOM_CNN_PREFIX,
    TINY_RANDOM_PREFIX,
    ModelSpec,
    parse_model_name,
)

__all__ = [
    "CNN_LSTM_FAMILY",
    "CNN_LSTM_NAME",
    "ENCODER_FAMILIES",
    "HUB_ARCHITECTURES",
    "RANDOM_INIT_PREFIX",
    "TINY_CNN_LSTM_CHANNELS",
    "TINY_RANDOM_CNN_PREFIX",
    "TINY_RANDOM_PREFIX",
    "TINY_SEGMENT_SHAPE",
    "ModelSpec",
    "build_cnn_model",
    "build_feature_extractor",
    "build_ser_model",
    "build_tiny_random_cnn_lstm_model",
    "build_tiny_random_cnn_model",
    "build_tiny_random_model",
    "load_feature_extractor",
    "parse_model_name",
    "random_init_backbone_config",
    "tiny_random_backbone_config",
    "tiny_random_cnn_config",
    "tiny_random_cnn_family",
    "tiny_random_cnn_lstm_config",
    "tiny_random_config",
    "tiny_random_encoder_config",
    "tiny_random_family",
]
