"""The from-scratch CNN-LSTM baseline of the CNN family.

:class:`CnnLstmForAudioClassification` (``model_type="sertune-cnn-lstm"``) is the from-scratch
baseline of MATLAB's speech emotion recognition example on EMO-DB::

    segments -> 4 x [conv 3x3 -> batch norm -> ReLU -> max-pool 2x2] -> frequency folded into
             features -> the segments' time steps concatenated -> LSTM (256 units)
             -> last state | attention pooling over time -> [MLP] -> logits

It reads the log-mel feature extractor's ``input_features`` ``[batch, segments, 3, n_mels,
segment_frames]`` and ``attention_mask`` ``[batch, segments]``, as the pretrained-CNN model of
``cnn_ser.py`` does. Only real segments reach the CNN; the LSTM runs on packed sequences. It
concatenates the CNN's time steps of consecutive segments rather than re-cutting the
un-overlapped frames: the model sees only segments and does not know the extractor's hop, so
with overlapping segments the overlapping frames appear twice in the sequence. A real segment's
padded tail (the end of the utterance) is part of that segment, as the extractor made it.

``save_pretrained`` writes safetensors plus this file and its siblings (``aggregators.py``,
``heads.py``, ``pooling.py``) with an ``auto_map``, so a saved folder loads without sertune
through ``trust_remote_code=True``. This file imports only the standard library, ``torch``,
``transformers`` and relative siblings: never ``sertune`` itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput

from .aggregators import LSTM_POOLING_KINDS, LstmAggregator, scatter_segments, segment_mask
from .heads import (
    ClassificationHead,
    check_class_weights,
    check_loss_options,
    classify,
    complete_label_maps,
    decay_groups,
)


class CnnLstmConfig(PreTrainedConfig):
    """Configuration of :class:`CnnLstmForAudioClassification`.

    Args:
        n_mels: Height of the input images (mel bands, or ``image_size`` when the extractor
            resizes); it sizes the LSTM input and must match the feature extractor.
        input_channels: 3 (log-mel, delta, delta-delta) or 1 (the static log-mel only).
        conv_channels: Filters of the convolution blocks, one block each.
        conv_kernel_size: Kernel size of the (square) convolutions.
        pool_time: Max-pool time as well as frequency in every block (2x2); ``False`` pools
            only frequency (2x1) and keeps the frame rate.
        lstm_hidden_size: LSTM units (per direction).
        lstm_layers: Stacked LSTM layers.
        bidirectional: Use a bidirectional LSTM.
        lstm_dropout: Dropout between stacked LSTM layers.
        aggregator: ``"last"`` (the LSTM's final state, as in the MATLAB example),
            ``"attention"`` (attention pooling over time steps) or ``"mean"``.
        pooling_attention_size: Width of the attention scoring MLP; ``None`` means the LSTM's
            output width.
        head_hidden_size: Width of an MLP layer before the classifier; ``None`` or 0 (the
            default, as in the example) puts the classifier straight on the LSTM output.
        head_activation: Activation of that layer.
        head_dropout: Dropout on the LSTM output (and the MLP layer).
        freeze_encoder_steps: Accepted for the training loop's sake and must be 0: nothing here
            is pretrained, so every parameter is in the ``head`` groups.
        class_weights: Per-class weights of the cross-entropy loss, in label-id order.
        label_smoothing: Label smoothing of the cross-entropy loss.
        initializer_range: Standard deviation of the normal initialisation of linear layers.
        kwargs: Standard ``PretrainedConfig`` arguments (``id2label``, ``num_labels``, ...).
    """

    model_type = "sertune-cnn-lstm"

    def __init__(
        self,
        n_mels: int = 64,
        input_channels: int = 3,
        conv_channels: Sequence[int] = (16, 32, 64, 128),
        conv_kernel_size: int = 3,
        pool_time: bool = True,
        lstm_hidden_size: int = 256,
        lstm_layers: int = 1,
        bidirectional: bool = False,
        lstm_dropout: float = 0.0,
        aggregator: str = "last",
        pooling_attention_size: int | None = None,
        head_hidden_size: int | None = None,
        head_activation: str = "relu",
        head_dropout: float = 0.2,
        freeze_encoder_steps: int = 0,
        class_weights: list[float] | None = None,
        label_smoothing: float = 0.0,
        initializer_range: float = 0.02,
        **kwargs,
    ):
        conv_channels = [int(c) for c in conv_channels]
        if not conv_channels or min(conv_channels) < 1:
            raise ValueError(f"conv_channels must be positive filter counts, got {conv_channels}")
        if input_channels not in (1, 3):
            raise ValueError(f"input_channels must be 1 or 3, got {input_channels}")
        if conv_kernel_size < 1 or conv_kernel_size % 2 == 0:
            raise ValueError(f"conv_kernel_size must be odd, got {conv_kernel_size}")
        if n_mels >> len(conv_channels) < 1:
            raise ValueError(
                f"n_mels={n_mels} is too small for {len(conv_channels)} blocks that each halve it"
            )
        if aggregator not in LSTM_POOLING_KINDS:
            raise ValueError(
                f"unknown aggregator {aggregator!r}; expected one of {list(LSTM_POOLING_KINDS)}"
            )
        if freeze_encoder_steps != 0:
            raise ValueError(
                "the CNN-LSTM has no pretrained encoder: freeze_encoder_steps must be 0"
            )
        class_weights = check_loss_options(class_weights, label_smoothing, freeze_encoder_steps)
        complete_label_maps(kwargs)

        self.n_mels = n_mels
        self.input_channels = input_channels
        self.conv_channels = conv_channels
        self.conv_kernel_size = conv_kernel_size
        self.pool_time = pool_time
        self.lstm_hidden_size = lstm_hidden_size
        self.lstm_layers = lstm_layers
        self.bidirectional = bidirectional
        self.lstm_dropout = lstm_dropout
        self.aggregator = aggregator
        self.pooling_attention_size = pooling_attention_size
        self.head_hidden_size = head_hidden_size
        self.head_activation = head_activation
        self.head_dropout = head_dropout
        self.freeze_encoder_steps = freeze_encoder_steps
        self.class_weights = class_weights
        self.label_smoothing = label_smoothing
        self.initializer_range = initializer_range
        super().__init__(**kwargs)
        check_class_weights(self)

    @property
    def time_reduction(self) -> int:
        """How many input frames make one LSTM step."""
        return 2 ** len(self.conv_channels) if self.pool_time else 1

    @property
    def lstm_input_size(self) -> int:
        """Width of one LSTM step: last filters x remaining frequency bins."""
        return self.conv_channels[-1] * (self.n_mels >> len(self.conv_channels))


def conv_block(
    in_channels: int, out_channels: int, kernel_size: int, pool_time: bool
) -> nn.Sequential:
    """``conv -> batch norm -> ReLU -> max-pool`` halving frequency (and time if ``pool_time``)."""
    pool = (2, 2) if pool_time else (2, 1)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(pool, stride=pool),
    )


class CnnLstmForAudioClassification(PreTrainedModel):
    """A from-scratch CNN over log-mel segments, an LSTM over time and a classifier.

    Args:
        config: The model configuration.
        loss_fn: ``loss_fn(logits, labels) -> scalar`` used instead of the cross-entropy built from
            the config. A function or a module without parameters: it is not saved.
    """

    config_class = CnnLstmConfig
    base_model_prefix = "cnn"
    main_input_name = "input_features"
    input_modalities = "audio"

    def __init__(
        self,
        config: CnnLstmConfig,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    ):
        super().__init__(config)
        channels = [config.input_channels, *config.conv_channels]
        self.cnn = nn.Sequential(
            *(
                conv_block(c_in, c_out, config.conv_kernel_size, config.pool_time)
                for c_in, c_out in zip(channels[:-1], channels[1:], strict=True)
            )
        )
        self.aggregator = LstmAggregator(
            config.lstm_input_size,
            config.lstm_hidden_size,
            num_layers=config.lstm_layers,
            bidirectional=config.bidirectional,
            dropout=config.lstm_dropout,
            pooling=config.aggregator,
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

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)
            return
        super()._init_weights(module)

    def parameter_groups(
        self,
        head_lr: float,
        encoder_lr: float,
        weight_decay: float = 0.0,
        layer_decay: float = 1.0,
    ) -> list[dict]:
        """AdamW groups ``head`` and ``head.no_decay``: everything trains from scratch at ``head_lr``.

        Args:
            head_lr: Learning rate of every parameter.
            encoder_lr: Ignored: there is no pretrained encoder.
            weight_decay: Weight decay of the parameters with at least two dimensions.
            layer_decay: Ignored.
        """
        return decay_groups(self.named_parameters(), lambda name: ("head", head_lr), weight_decay)

    def frame_sequence(
        self, input_features: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The CNN's time steps of all segments, concatenated: ``(sequence, step_mask)``.

        Args:
            input_features: ``[batch, segments, channels, n_mels, frames]``.
            mask: ``True`` on real segments, ``[batch, segments]``; ``None`` means all real.

        Returns:
            ``sequence`` ``[batch, segments * steps, lstm_input_size]`` (zeros on padding) and the
            boolean ``[batch, segments * steps]`` mask of its real steps.
        """
        config = self.config
        mask = segment_mask(input_features, mask)
        channels, height, frames = input_features.shape[2:]
        if channels < config.input_channels:
            raise ValueError(f"expected {config.input_channels} channels, got {channels}")
        if height != config.n_mels:
            raise ValueError(f"the model was built for n_mels={config.n_mels}, got {height}")
        if frames < config.time_reduction:
            raise ValueError(
                f"segments of {frames} frames are shorter than the {config.time_reduction} frames "
                "that make one LSTM step"
            )
        images = input_features[:, :, : config.input_channels][mask]  # [real, c, n_mels, frames]
        maps = self.cnn(images)  # [real, filters, bins, steps]
        real, filters, bins, steps = maps.shape
        # Fold frequency into the features: one vector per time step.
        frame_vectors = maps.permute(0, 3, 1, 2).reshape(real, steps, filters * bins)
        batch, segments = mask.shape
        sequence = scatter_segments(frame_vectors, mask).reshape(batch, segments * steps, -1)
        return sequence, mask.repeat_interleave(steps, dim=1)

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
            input_features: ``[batch, segments, 3, n_mels, segment_frames]`` from the log-mel
                feature extractor (only the first channel is used when ``input_channels=1``).
            attention_mask: ``[batch, segments]``, 1 on real segments (first in each row).
            labels: ``[batch]`` class ids; when given the loss is returned too.
            output_hidden_states: Return ``(sequence,)``, the CNN's concatenated time steps
                ``[batch, segments * steps, lstm_input_size]``, as hidden states.
            return_dict: Return a ``SequenceClassifierOutput`` rather than a tuple.
        """
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        if return_dict is None:
            return_dict = self.config.return_dict

        sequence, step_mask = self.frame_sequence(input_features, attention_mask)
        return classify(
            self.head,
            self.aggregator(sequence, step_mask),
            labels,
            self.config,
            self.loss_fn,
            return_dict=return_dict,
            hidden_states=(sequence,) if output_hidden_states else None,
        )


# `save_pretrained` copies this file and its relative imports next to the weights and writes an
# `auto_map`, so the folder also loads without sertune via `trust_remote_code=True`.
CnnLstmConfig.register_for_auto_class()
CnnLstmForAudioClassification.register_for_auto_class("AutoModelForAudioClassification")
