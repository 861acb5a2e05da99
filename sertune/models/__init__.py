"""Models for speech emotion recognition, one family per module, plus shared pooling and heads.

The modelling files hold configs and models only; the model names, presets and builders
(``build_ser_model``, ``build_cnn_model``, the ``tiny-random*`` models) live in
:mod:`sertune.models.factory`, which never ships with a saved model.

Importing this package registers the model families with the transformers Auto classes
(``AutoConfig``, ``AutoModelForAudioClassification``, ``AutoFeatureExtractor``): the wav2vec 2.0
family (``model_type="sertune-ser"``, raw-waveform feature extractor) and the CNN family on
3-channel log-mel segments (``"sertune-cnn-ser"`` and the ``"sertune-cnn-lstm"`` baseline, with
:class:`LogMelFeatureExtractor`), so saved models load with ``from_pretrained`` and
``pipeline("audio-classification")``.
"""

from __future__ import annotations

from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModelForAudioClassification,
    Wav2Vec2FeatureExtractor,
)

from .aggregators import AGGREGATOR_KINDS, LstmAggregator, build_segment_aggregator
from .backbones import CNN_BACKBONE_FAMILIES, IMAGENET_MEAN, IMAGENET_STD
from .cnn_lstm import CnnLstmConfig, CnnLstmForAudioClassification
from .cnn_ser import CnnSerConfig, CnnSerForAudioClassification
from .factory import (
    CNN_LSTM_NAME,
    ENCODER_FAMILIES,
    TINY_RANDOM_CNN_PREFIX,
    TINY_RANDOM_PREFIX,
    ModelSpec,
    build_cnn_model,
    build_feature_extractor,
    build_ser_model,
    build_tiny_random_cnn_lstm_model,
    build_tiny_random_cnn_model,
    build_tiny_random_model,
    load_feature_extractor,
    parse_model_name,
    tiny_random_backbone_config,
    tiny_random_cnn_config,
    tiny_random_cnn_family,
    tiny_random_config,
    tiny_random_encoder_config,
    tiny_random_family,
)
from .heads import ClassificationHead, WeightedLayerSum, classification_loss, label_kwargs
from .logmel import LogMelFeatureExtractor, log_mel_deltas
from .pooling import POOLING_KINDS, AttentionPooling, MeanPooling, build_pooling, weighted_mean_std
from .wav2vec2_ser import (
    SAMPLING_RATE,
    SerConfig,
    SerForAudioClassification,
    feature_encoder_is_padding_safe,
)


def register_cnn_auto_classes() -> None:
    """Register both CNN models with ``AutoConfig`` / ``AutoModelForAudioClassification`` (safe to repeat)."""
    for config_class, model_class in (
        (CnnSerConfig, CnnSerForAudioClassification),
        (CnnLstmConfig, CnnLstmForAudioClassification),
    ):
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        AutoModelForAudioClassification.register(config_class, model_class, exist_ok=True)


def register_auto_classes() -> None:
    """Register the sertune model with the ``transformers`` Auto classes (safe to repeat)."""
    AutoConfig.register(SerConfig.model_type, SerConfig, exist_ok=True)
    AutoModelForAudioClassification.register(SerConfig, SerForAudioClassification, exist_ok=True)
    AutoFeatureExtractor.register(SerConfig, Wav2Vec2FeatureExtractor, exist_ok=True)
    register_cnn_auto_classes()
    AutoFeatureExtractor.register(CnnSerConfig, LogMelFeatureExtractor, exist_ok=True)
    AutoFeatureExtractor.register(CnnLstmConfig, LogMelFeatureExtractor, exist_ok=True)


register_auto_classes()

__all__ = [
    "AGGREGATOR_KINDS",
    "CNN_BACKBONE_FAMILIES",
    "CNN_LSTM_NAME",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "TINY_RANDOM_CNN_PREFIX",
    "CnnLstmConfig",
    "CnnLstmForAudioClassification",
    "CnnSerConfig",
    "CnnSerForAudioClassification",
    "LogMelFeatureExtractor",
    "LstmAggregator",
    "ModelSpec",
    "build_cnn_model",
    "build_segment_aggregator",
    "build_tiny_random_cnn_lstm_model",
    "build_tiny_random_cnn_model",
    "log_mel_deltas",
    "parse_model_name",
    "register_cnn_auto_classes",
    "tiny_random_backbone_config",
    "tiny_random_cnn_config",
    "tiny_random_cnn_family",
    "ENCODER_FAMILIES",
    "POOLING_KINDS",
    "SAMPLING_RATE",
    "TINY_RANDOM_PREFIX",
    "AttentionPooling",
    "ClassificationHead",
    "MeanPooling",
    "SerConfig",
    "SerForAudioClassification",
    "WeightedLayerSum",
    "build_feature_extractor",
    "build_pooling",
    "build_ser_model",
    "build_tiny_random_model",
    "classification_loss",
    "feature_encoder_is_padding_safe",
    "load_feature_extractor",
    "label_kwargs",
    "register_auto_classes",
    "tiny_random_config",
    "tiny_random_encoder_config",
    "tiny_random_family",
    "weighted_mean_std",
]
