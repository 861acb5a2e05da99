"""The wav2vec 2.0 family (wav2vec 2.0, HuBERT, WavLM, data2vec-audio) for speech emotion recognition.

:class:`SerForAudioClassification` wraps any ``transformers`` speech encoder built by
``AutoModel`` from a nested encoder config, and puts a composable head on top::

    waveform -> encoder -> [softmax-weighted sum of all hidden states | last hidden state]
             -> pooling over real frames (attention, multi-head, attentive statistics, or mean)
             -> MLP -> logits

It is a regular ``PreTrainedModel``/``PretrainedConfig`` pair (``model_type="sertune-ser"``):
``save_pretrained`` writes safetensors plus this file and its sibling modules (``heads.py``,
``pooling.py``) with an ``auto_map``, so a saved folder loads with
``pipeline("audio-classification", model=folder)`` after ``import sertune``, or without sertune
through ``trust_remote_code=True``. For that reason this file imports only the standard library,
``torch``, ``transformers`` and relative siblings: never ``sertune`` itself.

Padding: the head only ever looks at real frames, and an utterance gets the same logits alone
and batched with longer ones (to float precision) when the encoder is padding-invariant too. That
holds for wav2vec 2.0, HuBERT and WavLM whose convolutional feature encoder normalises per frame
(``feat_extract_norm="layer"``: wav2vec2-large-lv60, HuBERT-large, WavLM-large). Two caveats:

* ``feat_extract_norm="group"`` checkpoints (wav2vec2-base, HuBERT-base, WavLM-base) normalise
  each channel over the whole waveform, padding included. Their feature extractor returns no
  attention mask and transformers advises zero-padding without one; the feature extractor sertune
  saves beside such a model sets ``return_attention_mask`` the same way, and the model never passes a mask to such an
  encoder. Its pooling still skips padded frames when a mask is given (the training loop always
  gives one), but the group statistics see the padding, so batched logits differ slightly from
  one-at-a-time ones (the pipeline's way).
* data2vec-audio stacks several positional convolutions; the encoder zeroes padded frames only
  before the first, so frames near the end of a padded utterance shift slightly (about 1e-4 on
  the logits of the tiny test model).

LayerDrop: transformers 5 records hidden states with hooks on the encoder layers, so a layer
skipped by LayerDrop leaves no hidden state and the layer mixing weights no longer line up.
:class:`SerConfig` therefore sets the encoder's ``layerdrop`` to 0 when
``use_weighted_layer_sum`` is on, with a warning.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping

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

from .heads import (
    ClassificationHead,
    WeightedLayerSum,
    check_class_weights,
    check_loss_options,
    classify,
    complete_label_maps,
    decay_groups,
    label_kwargs,
)
from .pooling import POOLING_KINDS, build_pooling

logger = logging.getLogger(__name__)

#: Sampling rate every encoder of the family was pretrained at.
SAMPLING_RATE = 16_000


def feature_encoder_is_padding_safe(encoder_config: PreTrainedConfig) -> bool:
    """Whether padding leaves the encoder's features of the real samples unchanged.

    True for per-frame layer norm in the convolutional feature encoder (``feat_extract_norm=
    "layer"``, and data2vec-audio, which has no other kind); false for ``"group"``.

    Args:
        encoder_config: The encoder's config.
    """
    return getattr(encoder_config, "feat_extract_norm", "layer") == "layer"


class SerConfig(PreTrainedConfig):
    """Configuration of :class:`SerForAudioClassification`: an encoder config plus head options.

    Args:
        encoder_config: Config of the speech encoder, a ``PretrainedConfig`` or its dict (which must
            hold ``model_type``; it is rebuilt with ``AutoConfig.for_model``). ``None`` gives a
            default ``Wav2Vec2Config``.
        use_weighted_layer_sum: Mix all the encoder's hidden states (embedding output and every
            layer) with learnable softmax weights; otherwise use the last hidden state.
        pooling: ``"attention"`` (self-attentive pooling) or ``"mean"``.
        pooling_heads: Attention heads of the attention pooling; their outputs are concatenated.
        pooling_statistics: Append the (attention-weighted) standard deviation over frames to the
            pooled mean; with attention pooling this is attentive statistics pooling.
        pooling_attention_size: Width of the attention scoring MLP; ``None`` means the encoder's
            hidden size.
        head_hidden_size: Width of the MLP layer between pooling and classifier; ``None`` or 0 puts
            the classifier straight on the pooled vector.
        head_activation: Activation of that layer, a name in ``transformers.activations.ACT2FN``.
        head_dropout: Dropout on the pooled vector and on the MLP layer.
        freeze_feature_encoder: Keep the convolutional feature encoder frozen.
        freeze_encoder_steps: Train only the head for this many optimiser steps: the training loop
            (:func:`sertune.training.train`) keeps the encoder's learning rate at 0 until then,
            which, unlike toggling ``requires_grad``, is safe under DDP.
        class_weights: Per-class weights of the cross-entropy loss, in label-id order.
        label_smoothing: Label smoothing of the cross-entropy loss.
        initializer_range: Standard deviation of the normal initialisation of the head.
        kwargs: Standard ``PretrainedConfig`` arguments (``id2label``, ``label2id``,
            ``num_labels``, ...).
    """

    model_type = "sertune-ser"
    # Declared so that an explicit `attn_implementation` (and `dtype`) reaches the encoder.
    sub_configs = {"encoder_config": AutoConfig}

    def __init__(
        self,
        encoder_config: PreTrainedConfig | Mapping | None = None,
        use_weighted_layer_sum: bool = True,
        pooling: str = "attention",
        pooling_heads: int = 1,
        pooling_statistics: bool = False,
        pooling_attention_size: int | None = None,
        head_hidden_size: int | None = 256,
        head_activation: str = "relu",
        head_dropout: float = 0.1,
        freeze_feature_encoder: bool = True,
        freeze_encoder_steps: int = 0,
        class_weights: list[float] | None = None,
        label_smoothing: float = 0.0,
        initializer_range: float = 0.02,
        **kwargs,
    ):
        if encoder_config is None:
            logger.info("no encoder_config given: using a default Wav2Vec2Config")
            encoder_config = AutoConfig.for_model("wav2vec2")
        elif isinstance(encoder_config, Mapping):
            encoder_config = dict(encoder_config)
            if "model_type" not in encoder_config:
                raise ValueError("encoder_config as a dict must contain 'model_type'")
            encoder_config = AutoConfig.for_model(
                encoder_config.pop("model_type"), **encoder_config
            )
        elif not isinstance(encoder_config, PreTrainedConfig):
            raise TypeError(
                f"encoder_config must be a PretrainedConfig, a dict or None, got {type(encoder_config)}"
            )
        if getattr(encoder_config, "add_adapter", False):
            raise ValueError("encoders with an adapter (add_adapter=True) are not supported")
        if pooling not in POOLING_KINDS:
            raise ValueError(f"unknown pooling {pooling!r}; expected one of {list(POOLING_KINDS)}")
        if pooling == "mean" and pooling_heads != 1:
            raise ValueError(f"mean pooling has no heads; got pooling_heads={pooling_heads}")
        if pooling_heads < 1:
            raise ValueError(f"pooling_heads must be at least 1, got {pooling_heads}")
        class_weights = check_loss_options(class_weights, label_smoothing, freeze_encoder_steps)
        if use_weighted_layer_sum and getattr(encoder_config, "layerdrop", 0.0):
            logger.warning(
                "setting the encoder's layerdrop from %s to 0.0: with use_weighted_layer_sum every "
                "layer's hidden state is needed, and transformers 5 records none for a dropped layer",
                encoder_config.layerdrop,
            )
            encoder_config.layerdrop = 0.0

        self.encoder_config = encoder_config
        self.use_weighted_layer_sum = use_weighted_layer_sum
        self.pooling = pooling
        self.pooling_heads = pooling_heads
        self.pooling_statistics = pooling_statistics
        self.pooling_attention_size = pooling_attention_size
        self.head_hidden_size = head_hidden_size
        self.head_activation = head_activation
        self.head_dropout = head_dropout
        self.freeze_feature_encoder = freeze_feature_encoder
        self.freeze_encoder_steps = freeze_encoder_steps
        self.class_weights = class_weights
        self.label_smoothing = label_smoothing
        self.initializer_range = initializer_range
        complete_label_maps(kwargs)
        super().__init__(**kwargs)
        check_class_weights(self)


class SerForAudioClassification(PreTrainedModel):
    """A speech encoder with a pooling head for utterance-level emotion classification.

    Build it with :meth:`from_encoder_pretrained` (pretrained encoder, fresh head), from a config
    (random weights), or load a fine-tuned one with ``from_pretrained``.

    Args:
        config: The model configuration.
        encoder: An already built encoder (e.g. with pretrained weights) to use instead of building
            a random one from ``config.encoder_config``; its config must be that object.
        loss_fn: ``loss_fn(logits, labels) -> scalar`` used instead of the cross-entropy built from
            the config (``class_weights``, ``label_smoothing`` are then not applied). A function or
            a module without parameters or buffers: it is not saved with the model.
    """

    config_class = SerConfig
    base_model_prefix = "encoder"
    main_input_name = "input_values"
    input_modalities = "audio"
    supports_gradient_checkpointing = True
    # The head has no attention of its own; the encoder checks the implementation it is given.
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True

    def __init__(
        self,
        config: SerConfig,
        encoder: PreTrainedModel | None = None,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    ):
        if getattr(config, "sertune_peft", None) is not None:
            # A folder saved mid-run by an adapter (LoRA) run names peft's modules: this class
            # would load it with the adapters missing and the base weights random.
            raise ValueError(
                "this config belongs to a model with peft adapters (sertune_peft); load it "
                "with sertune.models.peft_utils.PeftSerForAudioClassification.from_pretrained, "
                "or use the merged model the recipe saves"
            )
        super().__init__(config)
        if encoder is None:
            encoder = AutoModel.from_config(config.encoder_config)
        elif encoder.config is not config.encoder_config:
            raise ValueError("encoder.config must be the very object config.encoder_config")
        self.encoder = encoder
        encoder_config = config.encoder_config
        hidden_size = encoder_config.hidden_size
        self.layer_sum = (
            WeightedLayerSum(encoder_config.num_hidden_layers + 1)
            if config.use_weighted_layer_sum
            else None
        )
        self.pooling = build_pooling(
            config.pooling,
            hidden_size,
            num_heads=config.pooling_heads,
            attention_size=config.pooling_attention_size,
            statistics=config.pooling_statistics,
        )
        self.head = ClassificationHead(
            self.pooling.output_size,
            config.num_labels,
            hidden_size=config.head_hidden_size,
            activation=config.head_activation,
            dropout=config.head_dropout,
        )
        self.loss_fn = loss_fn
        self._encoder_trainable = True
        self._encoder_takes_mask = feature_encoder_is_padding_safe(config.encoder_config)
        self.post_init()
        if config.freeze_feature_encoder:
            self.freeze_feature_encoder()

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, WeightedLayerSum):
            init.zeros_(module.layer_weights)

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """``PreTrainedModel.from_pretrained``, then the config's feature encoder freezing.

        Loading replaces every parameter with a new one that requires grad, which undoes the
        freezing done in ``__init__``.
        """
        loaded = super().from_pretrained(*args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded
        if model.config.freeze_feature_encoder:
            model.freeze_feature_encoder()
        return loaded

    @classmethod
    def from_encoder_pretrained(
        cls,
        encoder_name_or_path: str,
        *,
        id2label: Mapping[int, str] | None = None,
        num_labels: int | None = None,
        encoder_kwargs: Mapping | None = None,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        **head_options,
    ) -> SerForAudioClassification:
        """A pretrained encoder (hub id or local folder) with a freshly initialised head.

        Args:
            encoder_name_or_path: Anything ``AutoModel.from_pretrained`` accepts, e.g.
                ``"facebook/wav2vec2-base"``.
            id2label: Class names by id; gives ``num_labels`` and ``label2id``.
            num_labels: Number of classes when there are no names.
            encoder_kwargs: Passed to ``AutoModel.from_pretrained`` (``revision``, config overrides
                such as ``mask_time_prob``, ...). ``dtype`` defaults to float32 so that the encoder
                and the head agree.
            loss_fn: See :class:`SerForAudioClassification`.
            head_options: Any other :class:`SerConfig` argument.
        """
        encoder_kwargs = dict(encoder_kwargs or {})
        encoder_kwargs.setdefault("dtype", torch.float32)
        encoder = AutoModel.from_pretrained(encoder_name_or_path, **encoder_kwargs)
        # Named again here: SerConfig's sub-config handling would otherwise reset the loaded
        # encoder's choice (sdpa by default) to None, and the encoder would fall back to eager.
        head_options.setdefault("attn_implementation", encoder.config._attn_implementation)
        config = SerConfig(
            encoder_config=encoder.config, **label_kwargs(id2label, num_labels), **head_options
        )
        # Keep post_init from re-initialising the pretrained weights (from_pretrained marks them
        # already in transformers 5.23; marking them here does not depend on that).
        for module in encoder.modules():
            module._is_hf_initialized = True
        return cls(config, encoder=encoder, loss_fn=loss_fn)

    # ----------------------------------------------------------------------------------------
    # Freezing and optimiser groups

    def _feature_encoder(self) -> nn.Module:
        feature_encoder = getattr(self.encoder, "feature_extractor", None)
        if not isinstance(feature_encoder, nn.Module):
            raise ValueError(
                f"{type(self.encoder).__name__} has no convolutional feature encoder "
                "(`feature_extractor`); set freeze_feature_encoder=False"
            )
        return feature_encoder

    def _set_feature_encoder_trainable(self, trainable: bool) -> None:
        feature_encoder = self._feature_encoder()
        for param in feature_encoder.parameters():
            param.requires_grad = trainable
        # The wav2vec2 feature encoders make their input require grad (for gradient checkpointing)
        # unless told they are frozen, which would backpropagate into the waveform for nothing.
        if hasattr(feature_encoder, "_requires_grad"):
            feature_encoder._requires_grad = trainable

    def freeze_feature_encoder(self) -> None:
        """Freeze the convolutional feature encoder for good (recorded in the config)."""
        self.config.freeze_feature_encoder = True
        self._set_feature_encoder_trainable(False)

    def set_encoder_trainable(self, trainable: bool) -> None:
        """Freeze or unfreeze the whole encoder; the head always trains.

        Unfreezing keeps the feature encoder frozen when ``config.freeze_feature_encoder`` is set.

        Args:
            trainable: Whether the encoder's parameters receive gradients.
        """
        for param in self.encoder.parameters():
            param.requires_grad = trainable
        if self.config.freeze_feature_encoder or not trainable:
            self._set_feature_encoder_trainable(False)
        elif hasattr(self.encoder, "feature_extractor"):
            self._set_feature_encoder_trainable(True)
        self._encoder_trainable = trainable

    @property
    def encoder_trainable(self) -> bool:
        """Whether the encoder was last set trainable by :meth:`set_encoder_trainable`."""
        return self._encoder_trainable

    def parameter_groups(
        self,
        head_lr: float,
        encoder_lr: float,
        weight_decay: float = 0.0,
        layer_decay: float = 1.0,
    ) -> list[dict]:
        """AdamW parameter groups: head vs encoder learning rates, layer-wise decay, no decay on 1-D.

        Encoder layer ``i`` (0-based) gets ``encoder_lr * layer_decay ** (L - 1 - i)`` for ``L``
        layers; encoder parameters outside the numbered layers (feature encoder, projection,
        positional convolution, encoder layer norm) get ``encoder_lr * layer_decay ** L``. Biases,
        norms and other 1-D parameters (including the layer mixing weights) get no weight decay.
        Encoder parameters frozen only for the first steps are included, so they train once
        unfrozen; a feature encoder frozen for good is left out.

        Args:
            head_lr: Learning rate of everything outside the encoder.
            encoder_lr: Learning rate of the top encoder layer.
            weight_decay: Weight decay of the parameters with at least two dimensions.
            layer_decay: Factor applied per layer going down the encoder (1.0: one rate).

        Returns:
            A list of ``{"params", "lr", "weight_decay", "name"}`` dicts for ``torch.optim.AdamW``.
        """
        num_layers = self.config.encoder_config.num_hidden_layers
        frozen_for_good: set[int] = set()
        if self.config.freeze_feature_encoder:
            frozen_for_good = {id(p) for p in self._feature_encoder().parameters()}
        layer_pattern = re.compile(r"\.layers\.(\d+)\.")

        def lr_and_group(name: str) -> tuple[str, float]:
            if not name.startswith("encoder."):
                return "head", head_lr
            match = layer_pattern.search(name)
            depth = int(match.group(1)) + 1 if match else 0
            return f"encoder.{depth}", encoder_lr * layer_decay ** (num_layers - depth)

        named = (
            (name, param)
            for name, param in self.named_parameters()
            if id(param) not in frozen_for_good
        )
        return decay_groups(named, lr_and_group, weight_decay)

    # ----------------------------------------------------------------------------------------
    # Forward

    def frame_mask(
        self, num_frames: int, attention_mask: torch.Tensor | None
    ) -> torch.Tensor | None:
        """Boolean ``[batch, num_frames]`` mask of real frames from a sample-level attention mask.

        Args:
            num_frames: Number of frames the encoder produced.
            attention_mask: ``[batch, samples]``, 1 on real samples; ``None`` means no padding.
        """
        if attention_mask is None:
            return None
        if not hasattr(self.encoder, "_get_feature_vector_attention_mask"):
            if attention_mask.shape[1] == num_frames:
                return attention_mask.bool()
            raise ValueError(
                f"{type(self.encoder).__name__} cannot map a sample-level attention mask to frames"
            )
        frame_lengths = self.encoder._get_feat_extract_output_lengths(attention_mask.sum(-1))
        if bool((frame_lengths < 1).any()):
            raise ValueError(
                "an utterance in the batch is shorter than the encoder's receptive field "
                f"(frame lengths {frame_lengths.tolist()})"
            )
        return self.encoder._get_feature_vector_attention_mask(num_frames, attention_mask).bool()

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
    ) -> SequenceClassifierOutput | tuple:
        """Classify a batch of waveforms.

        Args:
            input_values: Waveforms, ``[batch, samples]``, as produced by the feature extractor.
            attention_mask: ``[batch, samples]``, 1 on real samples and 0 on padding. Pooling
                always uses it; encoders with ``feat_extract_norm="group"`` do not receive it
                (see the module docstring).
            labels: ``[batch]`` class ids; when given the loss is returned too.
            output_hidden_states: Return the encoder's hidden states.
            output_attentions: Return the encoder's attentions (needs ``attn_implementation="eager"``).
            return_dict: Return a ``SequenceClassifierOutput`` rather than a tuple.
        """
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        if output_attentions is None:
            output_attentions = self.config.output_attentions
        if return_dict is None:
            return_dict = self.config.return_dict

        # Group-norm feature encoders (wav2vec2-base) are trained on zero-padded input without
        # a mask, as transformers recommends; the mask still tells the pooling which frames
        # are real.
        encoder_mask = attention_mask if self._encoder_takes_mask else None
        encoder_outputs = self.encoder(
            input_values,
            attention_mask=encoder_mask,
            output_hidden_states=bool(output_hidden_states) or self.layer_sum is not None,
            output_attentions=bool(output_attentions),
            return_dict=True,
        )
        if self.layer_sum is not None:
            # In transformers 5 the last recorded hidden state precedes the encoder's final
            # layer norm (stable-layer-norm encoders); use the normed output in its place so
            # that every parameter takes part (DDP requires it) and the top layer is the one
            # the encoder was pretrained to produce.
            hidden_states = (
                *encoder_outputs.hidden_states[:-1],
                encoder_outputs.last_hidden_state,
            )
            features = self.layer_sum(hidden_states)
        else:
            features = encoder_outputs.last_hidden_state
        mask = self.frame_mask(features.shape[1], attention_mask)
        return classify(
            self.head,
            self.pooling(features, mask),
            labels,
            self.config,
            self.loss_fn,
            return_dict=return_dict,
            hidden_states=encoder_outputs.hidden_states if output_hidden_states else None,
            attentions=encoder_outputs.attentions if output_attentions else None,
        )


# `save_pretrained` copies this file and its relative imports next to the weights and writes an
# `auto_map`, so the folder also loads without sertune via `trust_remote_code=True`.
SerConfig.register_for_auto_class()
SerForAudioClassification.register_for_auto_class("AutoModelForAudioClassification")
