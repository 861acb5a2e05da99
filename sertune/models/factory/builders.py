"""Models and feature extractors from a model name (see :mod:`sertune.models.factory.spec`)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    PreTrainedConfig,
    Wav2Vec2FeatureExtractor,
)

from ..backbones import scale_backbone_width
from ..cnn_lstm import CnnLstmConfig, CnnLstmForAudioClassification
from ..cnn_ser import CnnSerConfig, CnnSerForAudioClassification
from ..heads import label_kwargs
from ..wav2vec2_ser import (
    SAMPLING_RATE,
    SerConfig,
    SerForAudioClassification,
    feature_encoder_is_padding_safe,
)
from .presets import (
    HE_INIT_FAMILIES,
    TINY_CNN_LSTM_CHANNELS,
    he_initialise,
    random_init_backbone_config,
    tiny_random_backbone_config,
    tiny_random_cnn_config,
    tiny_random_cnn_lstm_config,
    tiny_random_config,
)
from .spec import (
    ENCODER_FAMILIES,
    RANDOM_INIT_PREFIX,
    TINY_RANDOM_CNN_PREFIX,
    ModelSpec,
    parse_model_name,
)
from .transfer import start_from_checkpoint


def _seeded(model_class: type[nn.Module], config, seed: int, he_init: bool = False) -> nn.Module:
    """``model_class(config)`` initialised under ``seed``, leaving the global random state alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(config)
        if he_init:
            he_initialise(model.backbone)
    return model


# --------------------------------------------------------------------------------------------
# The wav2vec 2.0 family


def build_tiny_random_model(
    family: str = "wav2vec2",
    *,
    id2label: Mapping[int, str] | None = None,
    num_labels: int | None = None,
    seed: int = 0,
    encoder_overrides: Mapping | None = None,
    **head_options,
) -> SerForAudioClassification:
    """A tiny randomly initialised model, the same for the same seed, built without any download.

    The global random state is left untouched.

    Args:
        family: One of :data:`~sertune.models.factory.ENCODER_FAMILIES`.
        id2label: Class names by id.
        num_labels: Number of classes when there are no names.
        seed: Seed of the initialisation.
        encoder_overrides: Encoder config fields to change.
        head_options: Any other :class:`SerConfig` argument.
    """
    config = tiny_random_config(
        family,
        id2label=id2label,
        num_labels=num_labels,
        encoder_overrides=encoder_overrides,
        **head_options,
    )
    return _seeded(SerForAudioClassification, config, seed)


def tiny_random_family(model_name_or_path: str) -> str | None:
    """The encoder family named by ``tiny-random`` / ``tiny-random-<family>``, else ``None``.

    Args:
        model_name_or_path: A model name as given on the command line.
    """
    spec = parse_model_name(model_name_or_path)
    return spec.family if spec.kind == "tiny_random" and spec.architecture == "ser" else None


def build_ser_model(
    model_name_or_path: str | ModelSpec,
    *,
    id2label: Mapping[int, str] | None = None,
    num_labels: int | None = None,
    seed: int = 0,
    encoder_kwargs: Mapping | None = None,
    reinit_head: bool = False,
    **head_options,
) -> SerForAudioClassification:
    """A model from a command-line name: ``tiny-random[-<family>]``, an encoder or a trained model.

    Args:
        model_name_or_path: ``tiny-random``, ``tiny-random-<family>``, a hub id such as
            ``facebook/wav2vec2-base`` or a local folder with a pretrained encoder, a sertune
            run folder of this family or an ``AutoModelForAudioClassification`` checkpoint of
            the wav2vec 2.0 family (see :mod:`~sertune.models.factory.transfer`), or its
            :class:`ModelSpec`.
        id2label: Class names by id.
        num_labels: Number of classes when there are no names.
        seed: Seed of a tiny random model's initialisation (the head of a pretrained encoder
            follows the global seed).
        encoder_kwargs: Passed to ``AutoModel.from_pretrained`` for a pretrained encoder.
        reinit_head: Starting from a trained model, make the whole head fresh (shaped by
            ``head_options``) instead of keeping it and its rows of the shared classes.
        head_options: Any other :class:`SerConfig` argument.
    """
    spec = parse_model_name(model_name_or_path)
    if spec.kind == "random_init":
        config = SerConfig(
            encoder_config=random_init_encoder_config(spec),
            **label_kwargs(id2label, num_labels),
            **head_options,
        )
        return _seeded(SerForAudioClassification, config, seed)
    if spec.architecture not in (None, "ser"):
        raise ValueError(f"{spec.name!r} is a CNN-family model: build it with build_cnn_model")
    if spec.kind == "tiny_random":
        if encoder_kwargs:
            raise ValueError("encoder_kwargs apply to pretrained encoders, not tiny random ones")
        return build_tiny_random_model(
            spec.family, id2label=id2label, num_labels=num_labels, seed=seed, **head_options
        )
    if not encoder_kwargs:
        trained = start_from_checkpoint(
            spec.checkpoint,
            "ser",
            id2label=id2label,
            num_labels=num_labels,
            seed=seed,
            reinit_head=reinit_head,
            options=head_options,
        )
        if trained is not None:
            return trained
    return SerForAudioClassification.from_encoder_pretrained(
        spec.checkpoint,
        id2label=id2label,
        num_labels=num_labels,
        encoder_kwargs=encoder_kwargs,
        **head_options,
    )


def random_init_encoder_config(spec: ModelSpec) -> PreTrainedConfig:
    """The encoder config of ``random:<hub id or folder>`` when it is of the wav2vec 2.0 family.

    The checkpoint may be an encoder, an ``AutoModelForAudioClassification`` checkpoint or a
    sertune run folder; only its architecture is used.

    Raises:
        ValueError: The config is not of the wav2vec 2.0 family, naming the checkpoint.
    """
    config = AutoConfig.from_pretrained(spec.checkpoint)
    if isinstance(config, SerConfig):
        config = config.encoder_config
    if config.model_type not in ENCODER_FAMILIES:
        raise ValueError(
            f"{spec.name!r}: {spec.checkpoint} holds a {config.model_type!r} config, not one "
            f"of the wav2vec 2.0 family ({', '.join(ENCODER_FAMILIES)}); image backbones "
            "are built by the CNN recipes"
        )
    return config


def build_feature_extractor(
    config: PreTrainedConfig,
    sampling_rate: int = SAMPLING_RATE,
    do_normalize: bool = True,
) -> Wav2Vec2FeatureExtractor:
    """The feature extractor to save beside a model of the wav2vec 2.0 family.

    ``return_attention_mask`` follows the encoder's normalisation, as in transformers' own
    checkpoints: on for ``feat_extract_norm="layer"``, off for ``"group"``.

    Args:
        config: A :class:`SerConfig` or an encoder config.
        sampling_rate: Sampling rate the encoder expects.
        do_normalize: Zero-mean, unit-variance normalise each utterance (over its real samples).
            Match the pretrained checkpoint's own feature extractor.
    """
    encoder_config = config.encoder_config if isinstance(config, SerConfig) else config
    return Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=sampling_rate,
        padding_value=0.0,
        do_normalize=do_normalize,
        return_attention_mask=feature_encoder_is_padding_safe(encoder_config),
    )


def load_feature_extractor(
    model_name_or_path: str | ModelSpec, config: PreTrainedConfig
) -> Wav2Vec2FeatureExtractor:
    """The feature extractor of the model that :func:`build_ser_model` built from this name.

    A tiny random or ``random:`` model gets :func:`build_feature_extractor` for its config; a
    pretrained
    encoder gets the checkpoint's own (its normalisation and attention-mask choices).

    Args:
        model_name_or_path: The name (or spec) given to :func:`build_ser_model`.
        config: The built model's config.
    """
    spec = parse_model_name(model_name_or_path)
    if spec.kind in ("tiny_random", "random_init") and isinstance(config, SerConfig):
        return build_feature_extractor(config)
    if spec.architecture not in (None, "ser"):
        raise ValueError(f"{spec.name!r} is a CNN-family model: it uses a log-mel extractor")
    return AutoFeatureExtractor.from_pretrained(spec.checkpoint)


# --------------------------------------------------------------------------------------------
# The CNN family


def build_tiny_random_cnn_model(
    backbone: str = "resnet",
    *,
    id2label: Mapping[int, str] | None = None,
    num_labels: int | None = None,
    seed: int = 0,
    backbone_overrides: Mapping | None = None,
    **options,
) -> CnnSerForAudioClassification:
    """A tiny randomly initialised :class:`CnnSerForAudioClassification`, the same for the same seed.

    It takes segments of :data:`~sertune.models.factory.TINY_SEGMENT_SHAPE` (any size works;
    32 x 32 is fast). The global random state is left untouched.

    Args:
        backbone: One of :data:`~sertune.models.backbones.CNN_BACKBONE_FAMILIES`.
        id2label: Class names by id.
        num_labels: Number of classes when there are no names.
        seed: Seed of the initialisation.
        backbone_overrides: Backbone config fields to change.
        options: Any other :class:`CnnSerConfig` argument.
    """
    config = tiny_random_cnn_config(
        backbone,
        id2label=id2label,
        num_labels=num_labels,
        backbone_overrides=backbone_overrides,
        **options,
    )
    return _seeded(CnnSerForAudioClassification, config, seed, backbone in HE_INIT_FAMILIES)


def build_tiny_random_cnn_lstm_model(
    *,
    id2label: Mapping[int, str] | None = None,
    num_labels: int | None = None,
    seed: int = 0,
    **options,
) -> CnnLstmForAudioClassification:
    """A tiny randomly initialised :class:`CnnLstmForAudioClassification`, the same for the same seed.

    Args:
        id2label: Class names by id.
        num_labels: Number of classes when there are no names.
        seed: Seed of the initialisation.
        options: Any other :class:`CnnLstmConfig` argument.
    """
    config = tiny_random_cnn_lstm_config(id2label=id2label, num_labels=num_labels, **options)
    return _seeded(CnnLstmForAudioClassification, config, seed)


def tiny_random_cnn_family(model_name_or_path: str) -> str | None:
    """The family named by ``tiny-random-cnn-<family>``, else ``None``.

    ``<family>`` is a backbone family (:data:`~sertune.models.backbones.CNN_BACKBONE_FAMILIES`)
    or ``"lstm"`` for the CNN-LSTM baseline.

    Args:
        model_name_or_path: A model name as given on the command line.
    """
    spec = parse_model_name(model_name_or_path)
    is_cnn = spec.architecture in ("cnn", "cnn_lstm")
    return spec.family if spec.kind == "tiny_random" and is_cnn else None


def _random_cnn_lstm(
    spec: ModelSpec, labels: dict, seed: int, width_multiplier: float, options: dict
) -> CnnLstmForAudioClassification:
    """``tiny-random-cnn-lstm`` or ``cnn-lstm``, its filters scaled by ``width_multiplier``."""
    tiny = spec.kind == "tiny_random"
    if width_multiplier != 1.0:
        channels = options.get("conv_channels") or (
            TINY_CNN_LSTM_CHANNELS if tiny else CnnLstmConfig().conv_channels
        )
        options["conv_channels"] = [max(1, round(c * width_multiplier)) for c in channels]
    if tiny:
        return build_tiny_random_cnn_lstm_model(**labels, seed=seed, **options)
    config = CnnLstmConfig(**label_kwargs(**labels), **options)
    return _seeded(CnnLstmForAudioClassification, config, seed)


def _tiny_random_cnn(
    family: str, labels: dict, seed: int, width_multiplier: float, options: dict
) -> CnnSerForAudioClassification:
    """``tiny-random-cnn-<family>``, its backbone's stages scaled by ``width_multiplier``."""
    if width_multiplier != 1.0:
        overrides = dict(options.get("backbone_overrides") or {})
        scaled = scale_backbone_width(
            tiny_random_backbone_config(family, **overrides), width_multiplier
        )
        for name in ("depth_multiplier", "finegrained_output", "hidden_sizes", "embedding_size"):
            if hasattr(scaled, name):
                overrides[name] = getattr(scaled, name)
        options["backbone_overrides"] = overrides
    return build_tiny_random_cnn_model(family, **labels, seed=seed, **options)


def _random_init_cnn(
    hub_id: str, labels: dict, seed: int, width_multiplier: float, options: dict
) -> CnnSerForAudioClassification:
    """``random:<hub id>``: that checkpoint's architecture, randomly initialised."""
    backbone_config = scale_backbone_width(random_init_backbone_config(hub_id), width_multiplier)
    config = CnnSerConfig(backbone_config=backbone_config, **label_kwargs(**labels), **options)
    he_init = backbone_config.model_type in HE_INIT_FAMILIES
    return _seeded(CnnSerForAudioClassification, config, seed, he_init)


def build_cnn_model(
    model_name_or_path: str | ModelSpec,
    *,
    id2label: Mapping[int, str] | None = None,
    num_labels: int | None = None,
    seed: int = 0,
    backbone_kwargs: Mapping | None = None,
    width_multiplier: float = 1.0,
    reinit_head: bool = False,
    **options,
) -> CnnSerForAudioClassification | CnnLstmForAudioClassification:
    """A CNN-family model from a command-line name.

    Args:
        model_name_or_path: ``tiny-random-cnn-<family>`` (a tiny random model),
            ``cnn-lstm`` (a full-size CNN-LSTM, randomly initialised: it has no pretrained
            weights; give ``n_mels`` to match the feature extractor), ``random:<hub id>`` (that
            checkpoint's architecture, randomly initialised), ``timm:<name>``, a hub id
            such as ``microsoft/resnet-18`` or a local folder with a pretrained backbone, or a
            sertune CNN or CNN-LSTM run folder (see :mod:`~sertune.models.factory.transfer`), or
            its :class:`ModelSpec`.
        id2label: Class names by id.
        num_labels: Number of classes when there are no names.
        seed: Seed of a random model's initialisation (the head of a pretrained backbone
            follows the global seed).
        backbone_kwargs: Passed to ``AutoModel.from_pretrained`` for a pretrained backbone.
        width_multiplier: Channel factor of a randomly initialised model (a small
            distillation student): the backbone's stages (see
            :func:`~sertune.models.backbones.scale_backbone_width`) or the CNN-LSTM's
            convolution filters. A pretrained backbone keeps its width.
        reinit_head: Starting from a sertune run folder, make the whole head fresh.
        options: Any other config argument of the model built.
    """
    spec = parse_model_name(model_name_or_path)
    if spec.architecture == "ser":
        raise ValueError(f"{spec.name!r} is a wav2vec 2.0-family model: use build_ser_model")
    if width_multiplier != 1.0 and not spec.is_random:
        raise ValueError(
            f"width_multiplier {width_multiplier} applies to randomly initialised models "
            f"(cnn-lstm, {RANDOM_INIT_PREFIX}<hub id>, {TINY_RANDOM_CNN_PREFIX}*); "
            f"{spec.name!r} has pretrained weights of a fixed width"
        )
    if spec.is_random and backbone_kwargs:
        raise ValueError("backbone_kwargs apply to pretrained backbones, not random models")
    labels = {"id2label": id2label, "num_labels": num_labels}
    if spec.architecture == "cnn_lstm":
        return _random_cnn_lstm(spec, labels, seed, width_multiplier, options)
    if spec.kind == "tiny_random":
        return _tiny_random_cnn(spec.family, labels, seed, width_multiplier, options)
    if spec.kind == "random_init":
        return _random_init_cnn(spec.checkpoint, labels, seed, width_multiplier, options)
    if spec.kind == "timm":
        if backbone_kwargs:
            raise ValueError("backbone_kwargs apply to transformers backbones, not timm ones")
        return CnnSerForAudioClassification.from_timm_pretrained(
            spec.checkpoint, **label_kwargs(**labels), **options
        )
    if not backbone_kwargs:
        trained = start_from_checkpoint(
            spec.checkpoint, "cnn", **labels, seed=seed, reinit_head=reinit_head, options=options
        )
        if trained is not None:
            return trained
    return CnnSerForAudioClassification.from_backbone_pretrained(
        spec.checkpoint, backbone_kwargs=backbone_kwargs, **label_kwargs(**labels), **options
    )
