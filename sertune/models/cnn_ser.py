"""The CNN family: spectrogram images through ImageNet CNNs (the CNN-LSTM baseline is ``cnn_lstm.py``).

Both CNN-family models read the output of the log-mel feature extractor: ``input_features``
``[batch, segments, 3, n_mels, segment_frames]`` (channels: static log-mel, delta, delta-delta;
``[..., 3, image_size, image_size]`` when the extractor resizes) and ``attention_mask``
``[batch, segments]`` marking the real segments, which come first in each row.

:class:`CnnSerForAudioClassification` (``model_type="sertune-cnn-ser"``) follows Zhang et al.
2021, "Pre-trained deep convolution neural network model with attention for speech emotion
recognition" (Front. Physiol.)::

    segments -> [ImageNet normalisation] -> pretrained CNN (ResNet, MobileNetV2, EfficientNet,
             ConvNeXt, or timm) -> one embedding per segment
             -> BLSTM over segments + attention pooling | attention pooling | mean
             -> MLP -> logits

Only real segments reach the CNNs: they are gathered into one batch of images (padding costs
no compute), and the embeddings are scattered back with zeros on padding, which the aggregators
never read (the LSTMs run on packed sequences). In evaluation mode an utterance therefore gets the
same logits alone and batched with longer ones, to float precision. In training mode batch
normalisation uses the statistics of the batch's real segments, as any CNN does.

Input normalisation (``imagenet_normalize``). A checkpoint's first layer expects each channel as
``(pixel - mean[c]) / std[c]`` with ``pixel`` in [0, 1]: roughly zero mean and unit variance per
channel. Log-mel channels standardised by the feature extractor (zero mean, unit variance) are
already on that scale, so the default is *no* fixed affine: applying ``(x - mean) / std`` to a
standardised channel would shift it by about -2 and stretch it 4.4 times. Turn
``imagenet_normalize`` on when the extractor scales each channel to [0, 1] like an image (the
paper's saved RGB spectrograms); ``image_mean``/``image_std`` then default to ImageNet's, and
:meth:`CnnSerForAudioClassification.from_backbone_pretrained` reads the checkpoint's own
(MobileNetV2 uses 0.5/0.5). ``learnable_input_norm`` adds a per-channel scale and shift (identity
at the start, trained with the head, also while the backbone's learning rate is held at 0),
which lets the model recalibrate the three channels, whose scales differ after the deltas, for
the frozen first layer.

The model is a regular ``PreTrainedModel``/``PretrainedConfig`` pair: ``save_pretrained``
writes safetensors plus this file and its siblings (``backbones.py``, ``aggregators.py``,
``heads.py``, ``pooling.py``) with an ``auto_map``, so a saved folder loads without sertune
through ``trust_remote_code=True``. This file imports only the standard library, ``torch``,
``transformers`` and relative siblings: never ``sertune`` itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    PreTrainedConfig,
    PreTrainedModel,
)
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.utils import cached_file

from .aggregators import (
    AGGREGATOR_KINDS,
    build_segment_aggregator,
    scatter_segments,
    segment_mask,
)
from .backbones import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    TIMM_PREFIX,
    ChannelNormalization,
    backbone_depths,
    backbone_embedding_size,
    create_timm_backbone,
    pooled_embedding,
    use_torch_batch_norm_momentum,
)
from .heads import (
    ClassificationHead,
    check_class_weights,
    check_loss_options,
    classify,
    complete_label_maps,
    decay_groups,
)

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Pretrained CNN + segment aggregator


def _resolve_backbone(
    backbone_config: PreTrainedConfig | Mapping | None, timm_backbone: str | None
) -> tuple[PreTrainedConfig | None, str | None]:
    """``(backbone_config, timm_backbone)`` of a :class:`CnnSerConfig`, checked and normalised."""
    if timm_backbone is not None:
        if backbone_config is not None:
            raise ValueError("give backbone_config or timm_backbone, not both")
        timm_backbone = timm_backbone.removeprefix(TIMM_PREFIX)
    elif backbone_config is None:
        logger.info("no backbone_config given: using a default ResNetConfig (ResNet-50)")
        backbone_config = AutoConfig.for_model("resnet")
    elif isinstance(backbone_config, Mapping):
        backbone_config = dict(backbone_config)
        if "model_type" not in backbone_config:
            raise ValueError("backbone_config as a dict must contain 'model_type'")
        backbone_config = AutoConfig.for_model(backbone_config.pop("model_type"), **backbone_config)
    elif not isinstance(backbone_config, PreTrainedConfig):
        raise TypeError(
            "backbone_config must be a PretrainedConfig, a dict or None, "
            f"got {type(backbone_config)}"
        )
    if backbone_config is not None and getattr(backbone_config, "num_channels", 3) != 3:
        raise ValueError(
            "the backbone must take 3 channels (log-mel, delta, delta-delta), got "
            f"num_channels={backbone_config.num_channels}"
        )
    return backbone_config, timm_backbone


class CnnSerConfig(PreTrainedConfig):
    """Configuration of :class:`CnnSerForAudioClassification`: an image backbone plus the head.

    Args:
        backbone_config: Config of a ``transformers`` vision model (ResNet, MobileNetV2,
            EfficientNet, ConvNeXt, ...), a ``PretrainedConfig`` or its dict (with
            ``model_type``). ``None`` without ``timm_backbone`` gives a default ``ResNetConfig``
            (ResNet-50).
        timm_backbone: Name of a ``timm`` model (``"resnet18"`` or ``"timm:resnet18"``) to use
            instead of ``backbone_config``; needs ``timm``.
        imagenet_normalize: Apply ``(x - image_mean[c]) / image_std[c]`` to each input channel;
            for inputs scaled to [0, 1] (see the module docstring for log-mel input).
        image_mean: Per-channel means of that normalisation; ``None`` means ImageNet's.
        image_std: Per-channel standard deviations; ``None`` means ImageNet's.
        learnable_input_norm: Add a learnable per-channel scale and shift (identity at the start)
            before the backbone, trained with the head.
        fix_batch_norm_momentum: Convert the TensorFlow-style batch-norm momentum that
            ``transformers``' MobileNetV2 and EfficientNet keep to PyTorch's (see
            ``backbones.use_torch_batch_norm_momentum``).
        aggregator: How segment embeddings become one vector: ``"blstm_attention"``
            (bidirectional LSTM over segments, then attention pooling; the paper),
            ``"attention"`` (attention pooling) or ``"mean"``.
        lstm_hidden_size: LSTM units per direction (``"blstm_attention"``).
        lstm_layers: Stacked LSTM layers (``"blstm_attention"``).
        lstm_dropout: Dropout between stacked LSTM layers.
        pooling_attention_size: Width of the attention scoring MLP; ``None`` means the width of
            the vectors it scores.
        head_hidden_size: Width of the MLP layer before the classifier; ``None`` or 0 puts the
            classifier straight on the aggregated vector.
        head_activation: Activation of that layer, a name in ``transformers.activations.ACT2FN``.
        head_dropout: Dropout on the aggregated vector and on the MLP layer.
        freeze_backbone: Keep the backbone frozen for good (linear probing), batch-norm
            statistics included; see :meth:`CnnSerForAudioClassification.freeze_backbone`.
        freeze_encoder_steps: Train only the head for this many optimiser steps: the training loop
            keeps the backbone's learning rate at 0 until then. Batch-norm running statistics
            still adapt to the spectrograms meanwhile (the model is in training mode).
        class_weights: Per-class weights of the cross-entropy loss, in label-id order.
        label_smoothing: Label smoothing of the cross-entropy loss.
        initializer_range: Standard deviation of the normal initialisation of the head.
        kwargs: Standard ``PretrainedConfig`` arguments (``id2label`` -- ``label2id`` is derived
            from it when missing --, ``num_labels``, ...).
    """

    model_type = "sertune-cnn-ser"
    sub_configs = {"backbone_config": AutoConfig}

    def __init__(
        self,
        backbone_config: PreTrainedConfig | Mapping | None = None,
        timm_backbone: str | None = None,
        imagenet_normalize: bool = False,
        image_mean: Sequence[float] | None = None,
        image_std: Sequence[float] | None = None,
        learnable_input_norm: bool = False,
        fix_batch_norm_momentum: bool = True,
        aggregator: str = "blstm_attention",
        lstm_hidden_size: int = 256,
        lstm_layers: int = 1,
        lstm_dropout: float = 0.0,
        pooling_attention_size: int | None = None,
        head_hidden_size: int | None = 256,
        head_activation: str = "relu",
        head_dropout: float = 0.2,
        freeze_backbone: bool = False,
        freeze_encoder_steps: int = 0,
        class_weights: list[float] | None = None,
        label_smoothing: float = 0.0,
        initializer_range: float = 0.02,
        **kwargs,
    ):
        backbone_config, timm_backbone = _resolve_backbone(backbone_config, timm_backbone)
        if aggregator not in AGGREGATOR_KINDS:
            raise ValueError(
                f"unknown aggregator {aggregator!r}; expected one of {list(AGGREGATOR_KINDS)}"
            )
        if lstm_hidden_size < 1 or lstm_layers < 1:
            raise ValueError("lstm_hidden_size and lstm_layers must be at least 1")
        image_mean = list(IMAGENET_MEAN if image_mean is None else map(float, image_mean))
        image_std = list(IMAGENET_STD if image_std is None else map(float, image_std))
        if len(image_mean) != 3 or len(image_std) != 3 or min(image_std) <= 0:
            raise ValueError(
                f"image_mean and image_std need 3 values (std > 0), got {image_mean}, {image_std}"
            )
        class_weights = check_loss_options(class_weights, label_smoothing, freeze_encoder_steps)
        complete_label_maps(kwargs)

        self.backbone_config = backbone_config
        self.timm_backbone = timm_backbone
        self.imagenet_normalize = imagenet_normalize
        self.image_mean = image_mean
        self.image_std = image_std
        self.learnable_input_norm = learnable_input_norm
        self.fix_batch_norm_momentum = fix_batch_norm_momentum
        self.aggregator = aggregator
        self.lstm_hidden_size = lstm_hidden_size
        self.lstm_layers = lstm_layers
        self.lstm_dropout = lstm_dropout
        self.pooling_attention_size = pooling_attention_size
        self.head_hidden_size = head_hidden_size
        self.head_activation = head_activation
        self.head_dropout = head_dropout
        self.freeze_backbone = freeze_backbone
        self.freeze_encoder_steps = freeze_encoder_steps
        self.class_weights = class_weights
        self.label_smoothing = label_smoothing
        self.initializer_range = initializer_range
        super().__init__(**kwargs)
        check_class_weights(self)


class CnnSerForAudioClassification(PreTrainedModel):
    """An ImageNet CNN over spectrogram segments, a segment aggregator and an MLP head.

    Build it with :meth:`from_backbone_pretrained` (ImageNet weights, fresh head), from a config
    (random weights), or load a fine-tuned one with ``from_pretrained``.

    Args:
        config: The model configuration.
        backbone: An already built backbone (e.g. with pretrained weights) to use instead of a
            random one: a ``transformers`` model whose config is the very object
            ``config.backbone_config``, or a ``timm`` model for ``config.timm_backbone``.
        loss_fn: ``loss_fn(logits, labels) -> scalar`` used instead of the cross-entropy built from
            the config. A function or a module without parameters: it is not saved.
    """

    config_class = CnnSerConfig
    base_model_prefix = "backbone"
    main_input_name = "input_features"
    input_modalities = "audio"

    def __init__(
        self,
        config: CnnSerConfig,
        backbone: nn.Module | None = None,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    ):
        super().__init__(config)
        if config.timm_backbone is not None:
            if backbone is None:
                backbone = create_timm_backbone(config.timm_backbone, pretrained=False)
            # timm initialised its modules; keep post_init from re-initialising them.
            for module in backbone.modules():
                module._is_hf_initialized = True
            embedding_size = int(backbone.num_features)
        else:
            if backbone is None:
                backbone = AutoModel.from_config(config.backbone_config)
            elif getattr(backbone, "config", None) is not config.backbone_config:
                raise ValueError("backbone.config must be the very object config.backbone_config")
            embedding_size = backbone_embedding_size(config.backbone_config)
        if config.fix_batch_norm_momentum:
            use_torch_batch_norm_momentum(backbone)
        self.backbone = backbone
        self.embedding_size = embedding_size
        self.input_norm = (
            ChannelNormalization(
                3,
                mean=config.image_mean if config.imagenet_normalize else None,
                std=config.image_std if config.imagenet_normalize else None,
                learnable=config.learnable_input_norm,
            )
            if config.imagenet_normalize or config.learnable_input_norm
            else None
        )
        self.aggregator = build_segment_aggregator(
            config.aggregator,
            embedding_size,
            lstm_hidden_size=config.lstm_hidden_size,
            lstm_layers=config.lstm_layers,
            lstm_dropout=config.lstm_dropout,
            attention_size=config.pooling_attention_size,
        )
        self.head = ClassificationHead(
            self.aggregator.output_size,
            config.num_labels,
            hidden_size=config.head_hidden_size,
            activation=config.head_activation,
            dropout=config.head_dropout,
        )
        self.loss_fn = loss_fn
        self.post_init()
        if config.freeze_backbone:
            self.freeze_backbone()

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, ChannelNormalization) and module.learnable:
            init.ones_(module.scale)
            init.zeros_(module.shift)

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """``PreTrainedModel.from_pretrained``, then the config's backbone freezing.

        Loading replaces every parameter with a new one that requires grad, which undoes the
        freezing done in ``__init__``.
        """
        loaded = super().from_pretrained(*args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded
        if model.config.freeze_backbone:
            model.freeze_backbone()
        return loaded

    @classmethod
    def from_backbone_pretrained(
        cls,
        backbone_name_or_path: str,
        *,
        backbone_kwargs: Mapping | None = None,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        **options,
    ) -> CnnSerForAudioClassification:
        """An ImageNet-pretrained backbone with a freshly initialised aggregator and head.

        ``image_mean``/``image_std`` default to the checkpoint's own normalisation (its
        ``preprocessor_config.json``), else ImageNet's.

        Args:
            backbone_name_or_path: A hub id such as ``"microsoft/resnet-18"``,
                ``"microsoft/resnet-50"``, ``"google/mobilenet_v2_1.0_224"``,
                ``"google/efficientnet-b0"``, ``"facebook/convnext-tiny-224"``, or a local folder.
            backbone_kwargs: Passed to ``AutoModel.from_pretrained`` (``revision``, ``cache_dir``,
                ...); ``dtype`` defaults to float32.
            loss_fn: See :class:`CnnSerForAudioClassification`.
            options: :class:`CnnSerConfig` arguments, including ``id2label`` or ``num_labels``.
        """
        backbone_kwargs = dict(backbone_kwargs or {})
        backbone_kwargs.setdefault("dtype", torch.float32)
        backbone = AutoModel.from_pretrained(backbone_name_or_path, **backbone_kwargs)
        mean, std = checkpoint_image_statistics(backbone_name_or_path, backbone_kwargs)
        options.setdefault("image_mean", mean)
        options.setdefault("image_std", std)
        config = CnnSerConfig(backbone_config=backbone.config, **options)
        # Keep post_init from re-initialising the pretrained weights.
        for module in backbone.modules():
            module._is_hf_initialized = True
        return cls(config, backbone=backbone, loss_fn=loss_fn)

    @classmethod
    def from_timm_pretrained(
        cls,
        timm_name: str,
        *,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        **options,
    ) -> CnnSerForAudioClassification:
        """A pretrained ``timm`` backbone with a freshly initialised aggregator and head (needs timm).

        ``image_mean``/``image_std`` default to the model's ``pretrained_cfg``, else ImageNet's.

        Args:
            timm_name: A timm model name such as ``"resnet18"``.
            loss_fn: See :class:`CnnSerForAudioClassification`.
            options: :class:`CnnSerConfig` arguments, including ``id2label`` or ``num_labels``.
        """
        backbone = create_timm_backbone(timm_name, pretrained=True)
        pretrained_cfg = getattr(backbone, "pretrained_cfg", None) or {}
        options.setdefault("image_mean", pretrained_cfg.get("mean"))
        options.setdefault("image_std", pretrained_cfg.get("std"))
        config = CnnSerConfig(timm_backbone=timm_name, **options)
        return cls(config, backbone=backbone, loss_fn=loss_fn)

    # ----------------------------------------------------------------------------------------
    # Freezing and optimiser groups

    def freeze_backbone(self) -> None:
        """Freeze the backbone for good (linear probing), recorded in the config.

        Its parameters stop requiring grad and its batch norms stay in evaluation mode (running
        statistics frozen) even when the model is put in training mode.
        """
        self.config.freeze_backbone = True
        for param in self.backbone.parameters():
            param.requires_grad = False
        self.backbone.eval()

    def unfreeze_backbone(self) -> None:
        """Undo :meth:`freeze_backbone`; the backbone follows the model's training mode again."""
        self.config.freeze_backbone = False
        for param in self.backbone.parameters():
            param.requires_grad = True
        self.backbone.train(self.training)

    def train(self, mode: bool = True) -> CnnSerForAudioClassification:
        """``nn.Module.train``, keeping a frozen backbone in evaluation mode."""
        super().train(mode)
        if self.config.freeze_backbone:
            self.backbone.eval()
        return self

    def parameter_groups(
        self,
        head_lr: float,
        encoder_lr: float,
        weight_decay: float = 0.0,
        layer_decay: float = 1.0,
    ) -> list[dict]:
        """AdamW parameter groups: head vs backbone learning rates, stage-wise decay, no decay on 1-D.

        The backbone is the "encoder" of the training loop. Its stages are numbered ``1..L``
        from the input (``backbones.backbone_depths``); depth ``d`` gets
        ``encoder_lr * layer_decay ** (L - d)``, the stem (depth 0) the smallest rate. ResNet and
        ConvNeXt have 4 stages, but MobileNetV2 and EfficientNet-B0 count 16 blocks, so keep
        ``layer_decay`` near 1 for them (0.9 ** 16 = 0.19). Groups are named ``encoder.<depth>`` and ``head`` (aggregator, head, learnable input
        normalisation), with a ``.no_decay`` twin for biases, norms and other 1-D parameters.
        A backbone frozen for good (``config.freeze_backbone``) is left out.

        Args:
            head_lr: Learning rate of everything outside the backbone.
            encoder_lr: Learning rate of the backbone's last stage.
            weight_decay: Weight decay of the parameters with at least two dimensions.
            layer_decay: Factor applied per stage going down the backbone (1.0: one rate).

        Returns:
            A list of ``{"params", "lr", "weight_decay", "name"}`` dicts for ``torch.optim.AdamW``.
        """
        prefix = "backbone."
        backbone_names = [prefix + name for name, _ in self.backbone.named_parameters()]
        depths, deepest = backbone_depths(name[len(prefix) :] for name in backbone_names)

        def lr_and_group(name: str) -> tuple[str, float]:
            if name.startswith(prefix):
                depth = depths[name[len(prefix) :]]
                return f"encoder.{depth}", encoder_lr * layer_decay ** (deepest - depth)
            return "head", head_lr

        named = (
            (name, param)
            for name, param in self.named_parameters()
            if not (self.config.freeze_backbone and name.startswith(prefix))
        )
        return decay_groups(named, lr_and_group, weight_decay)

    # ----------------------------------------------------------------------------------------
    # Forward

    def segment_embeddings(
        self, input_features: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One backbone embedding per segment, ``[batch, segments, embedding_size]``, zeros on padding.

        Args:
            input_features: ``[batch, segments, 3, height, width]``.
            mask: ``True`` on real segments, ``[batch, segments]``; ``None`` means all real.
        """
        return self._embed_segments(input_features, segment_mask(input_features, mask))

    def _embed_segments(self, input_features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if input_features.shape[2] != 3:
            raise ValueError(
                f"expected 3 channels (log-mel, delta, delta-delta), got {input_features.shape[2]}"
            )
        images = input_features[mask]  # only the real segments: [real, 3, height, width]
        if self.input_norm is not None:
            images = self.input_norm(images)
        if self.config.timm_backbone is not None:
            embeddings = self.backbone(images)
        else:
            embeddings = pooled_embedding(self.backbone(pixel_values=images, return_dict=True))
        if embeddings.shape[-1] != self.embedding_size:
            raise RuntimeError(
                f"the backbone gave {embeddings.shape[-1]}-wide embeddings, "
                f"expected {self.embedding_size}"
            )
        return scatter_segments(embeddings, mask)

    def forward(
        self,
        input_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> SequenceClassifierOutput | tuple:
        """Classify a batch of segmented spectrograms.

        Args:
            input_features: ``[batch, segments, 3, n_mels, segment_frames]`` (or a resized
                ``[..., 3, image_size, image_size]``) from the log-mel feature extractor.
            attention_mask: ``[batch, segments]``, 1 on real segments (first in each row).
            labels: ``[batch]`` class ids; when given the loss is returned too.
            output_hidden_states: Return ``(segment_embeddings,)``, the backbone embeddings
                ``[batch, segments, embedding_size]`` (zeros on padding), as hidden states.
            return_dict: Return a ``SequenceClassifierOutput`` rather than a tuple.
        """
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        if return_dict is None:
            return_dict = self.config.return_dict

        mask = segment_mask(input_features, attention_mask)
        embeddings = self._embed_segments(input_features, mask)
        return classify(
            self.head,
            self.aggregator(embeddings, mask),
            labels,
            self.config,
            self.loss_fn,
            return_dict=return_dict,
            hidden_states=(embeddings,) if output_hidden_states else None,
        )


def checkpoint_image_statistics(
    name_or_path: str, hub_kwargs: Mapping | None = None
) -> tuple[list[float] | None, list[float] | None]:
    """``(image_mean, image_std)`` from a checkpoint's ``preprocessor_config.json``, if it has one.

    Args:
        name_or_path: A hub id or a local folder.
        hub_kwargs: ``revision``, ``cache_dir``, ``token``, ``local_files_only`` or ``subfolder``
            are passed on to the file lookup; other keys are ignored.
    """
    lookup = {
        key: value
        for key, value in dict(hub_kwargs or {}).items()
        if key in ("revision", "cache_dir", "token", "local_files_only", "subfolder")
    }
    path = cached_file(
        name_or_path,
        "preprocessor_config.json",
        _raise_exceptions_for_missing_entries=False,
        _raise_exceptions_for_connection_errors=False,
        **lookup,
    )
    if path is None:
        logger.info("%s has no preprocessor_config.json: using ImageNet statistics", name_or_path)
        return None, None
    with open(path, encoding="utf-8") as file:
        processor = json.load(file)
    return processor.get("image_mean"), processor.get("image_std")


# `save_pretrained` copies this file and its relative imports next to the weights and writes an
# `auto_map`, so the folder also loads without sertune via `trust_remote_code=True`.
CnnSerConfig.register_for_auto_class()
CnnSerForAudioClassification.register_for_auto_class("AutoModelForAudioClassification")
