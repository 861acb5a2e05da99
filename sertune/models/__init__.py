"""Models for speech emotion recognition, one family per module, plus shared pooling and heads.

Importing this package registers :class:`SerConfig` with ``AutoConfig``,
:class:`SerForAudioClassification` with ``AutoModelForAudioClassification`` and the
wav2vec 2.0 feature extractor with ``AutoFeatureExtractor`` for ``model_type="sertune-ser"``,
so saved models load with ``from_pretrained`` and ``pipeline("audio-classification")``.
"""

from __future__ import annotations

from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModelForAudioClassification,
    Wav2Vec2FeatureExtractor,
)

from .heads import ClassificationHead, WeightedLayerSum
from .pooling import POOLING_KINDS, AttentionPooling, MeanPooling, build_pooling, weighted_mean_std
from .wav2vec2_ser import (
    ENCODER_FAMILIES,
    SAMPLING_RATE,
    TINY_RANDOM_PREFIX,
    SerConfig,
    SerForAudioClassification,
    build_feature_extractor,
    build_ser_model,
    build_tiny_random_model,
    feature_encoder_is_padding_safe,
    label_kwargs,
    tiny_random_config,
    tiny_random_encoder_config,
    tiny_random_family,
)


def register_auto_classes() -> None:
    """Register the sertune model with the ``transformers`` Auto classes (safe to repeat)."""
    AutoConfig.register(SerConfig.model_type, SerConfig, exist_ok=True)
    AutoModelForAudioClassification.register(SerConfig, SerForAudioClassification, exist_ok=True)
    AutoFeatureExtractor.register(SerConfig, Wav2Vec2FeatureExtractor, exist_ok=True)


register_auto_classes()

__all__ = [
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
    "feature_encoder_is_padding_safe",
    "label_kwargs",
    "register_auto_classes",
    "tiny_random_config",
    "tiny_random_encoder_config",
    "tiny_random_family",
    "weighted_mean_std",
]
