"""Temporal aggregators: a sequence of segment (or frame) vectors -> one utterance vector.

Every aggregator takes ``sequence`` ``[batch, steps, input_size]`` and a boolean ``mask``
``[batch, steps]`` (``True`` on real steps) and returns ``[batch, output_size]``. The real steps
must come first in each row (padding at the end), as the feature extractors produce them.

* :class:`LstmAggregator`: an (optionally bidirectional) LSTM run on packed sequences, so that
  padding is never read, then attention pooling, mean pooling or the last step's state.
  ``"blstm_attention"`` (Zhang et al. 2021) is a bidirectional one with attention pooling.
* ``"attention"`` and ``"mean"`` are the pooling modules of ``pooling.py`` used directly.

This file imports only ``torch`` and the sibling ``pooling.py``: it is copied next to saved
models as part of their custom code.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .pooling import AttentionPooling, MeanPooling, build_pooling

#: Segment aggregators of the CNN family, accepted by :func:`build_segment_aggregator`.
AGGREGATOR_KINDS: tuple[str, ...] = ("blstm_attention", "attention", "mean")

#: What :class:`LstmAggregator` does with the LSTM's outputs.
LSTM_POOLING_KINDS: tuple[str, ...] = ("attention", "mean", "last")


def sequence_lengths(mask: torch.Tensor) -> torch.Tensor:
    """The number of real steps per row of a boolean ``[batch, steps]`` mask, checked.

    Args:
        mask: ``True`` on real steps, which must form a non-empty prefix of each row.

    Raises:
        ValueError: When a row has no real step, or padding before a real step.
    """
    mask = mask.bool()
    lengths = mask.sum(dim=1)
    if bool((lengths < 1).any()):
        raise ValueError(f"every row needs at least one real step, got lengths {lengths.tolist()}")
    steps = torch.arange(mask.shape[1], device=mask.device)
    if not torch.equal(mask, steps.unsqueeze(0) < lengths.unsqueeze(1)):
        raise ValueError("the mask must mark a prefix of each row (padding only at the end)")
    return lengths


def run_packed_lstm(
    lstm: nn.LSTM, sequence: torch.Tensor, mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a ``batch_first`` LSTM over the real steps only.

    Args:
        lstm: The LSTM (``batch_first=True``).
        sequence: ``[batch, steps, input_size]``.
        mask: ``True`` on real steps, ``[batch, steps]``; ``None`` means no padding.

    Returns:
        ``(outputs, final)``: the outputs ``[batch, steps, directions * hidden]`` with zeros on
        padding, and the last layer's final state ``[batch, directions * hidden]`` (for a
        bidirectional LSTM, the forward state after the last real step and the backward state
        after the first).
    """
    if mask is None:
        outputs, (final, _) = lstm(sequence)
    else:
        lengths = sequence_lengths(mask)
        packed = pack_padded_sequence(
            sequence, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        packed_outputs, (final, _) = lstm(packed)
        outputs, _ = pad_packed_sequence(
            packed_outputs, batch_first=True, total_length=sequence.shape[1]
        )
    directions = 2 if lstm.bidirectional else 1
    # `final` is [layers * directions, batch, hidden], in the batch's own order.
    final = final[-directions:].transpose(0, 1).reshape(sequence.shape[0], -1)
    return outputs, final


class LstmAggregator(nn.Module):
    """An LSTM over the sequence, then pooling of its outputs over the real steps.

    Args:
        input_size: Width of each step's vector.
        hidden_size: LSTM units per direction.
        num_layers: Stacked LSTM layers.
        bidirectional: Run a second LSTM backwards and concatenate.
        dropout: Dropout between stacked LSTM layers.
        pooling: ``"attention"`` (attention pooling of the outputs), ``"mean"`` (their mean) or
            ``"last"`` (the final state, see :func:`run_packed_lstm`).
        attention_size: Width of the attention scoring MLP; defaults to the output width.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.0,
        pooling: str = "attention",
        attention_size: int | None = None,
    ):
        super().__init__()
        if pooling not in LSTM_POOLING_KINDS:
            raise ValueError(
                f"unknown LSTM pooling {pooling!r}; expected one of {list(LSTM_POOLING_KINDS)}"
            )
        self.lstm = nn.LSTM(
            input_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        lstm_output_size = hidden_size * (2 if bidirectional else 1)
        self.pooling_kind = pooling
        self.pooling = (
            None
            if pooling == "last"
            else build_pooling(pooling, lstm_output_size, attention_size=attention_size)
        )
        self.output_size = lstm_output_size

    def forward(self, sequence: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Aggregate ``sequence`` to ``[batch, output_size]``.

        Args:
            sequence: ``[batch, steps, input_size]``.
            mask: ``True`` on real steps, ``[batch, steps]``; ``None`` means no padding.
        """
        outputs, final = run_packed_lstm(self.lstm, sequence, mask)
        if self.pooling is None:
            return final
        return self.pooling(outputs, mask)


def build_segment_aggregator(
    kind: str,
    input_size: int,
    lstm_hidden_size: int = 256,
    lstm_layers: int = 1,
    lstm_dropout: float = 0.0,
    attention_size: int | None = None,
) -> LstmAggregator | AttentionPooling | MeanPooling:
    """Build a segment aggregator by name; its ``output_size`` is the utterance vector's width.

    Args:
        kind: ``"blstm_attention"`` (bidirectional LSTM, then attention pooling),
            ``"attention"`` (attention pooling of the segment vectors) or ``"mean"``.
        input_size: Width of each segment vector.
        lstm_hidden_size: LSTM units per direction (``"blstm_attention"`` only).
        lstm_layers: Stacked LSTM layers (``"blstm_attention"`` only).
        lstm_dropout: Dropout between stacked LSTM layers (``"blstm_attention"`` only).
        attention_size: Width of the attention scoring MLP.
    """
    if kind == "blstm_attention":
        return LstmAggregator(
            input_size,
            lstm_hidden_size,
            num_layers=lstm_layers,
            bidirectional=True,
            dropout=lstm_dropout,
            pooling="attention",
            attention_size=attention_size,
        )
    if kind == "attention":
        return AttentionPooling(input_size, attention_size=attention_size)
    if kind == "mean":
        return MeanPooling(input_size)
    raise ValueError(f"unknown aggregator {kind!r}; expected one of {list(AGGREGATOR_KINDS)}")


# --------------------------------------------------------------------------------------------
# Segments of the CNN family


def segment_mask(input_features: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """The boolean ``[batch, segments]`` mask of real segments, checked against the interface.

    Args:
        input_features: ``[batch, segments, channels, height, width]``.
        attention_mask: ``[batch, segments]``, 1 on real segments (a non-empty prefix of each
            row); ``None`` means every segment is real.
    """
    if input_features.dim() != 5:
        raise ValueError(
            "expected input_features of shape [batch, segments, channels, n_mels, frames], got "
            f"{tuple(input_features.shape)}"
        )
    batch, segments = input_features.shape[:2]
    if attention_mask is None:
        return torch.ones(batch, segments, dtype=torch.bool, device=input_features.device)
    if tuple(attention_mask.shape) != (batch, segments):
        raise ValueError(
            f"attention_mask must be [batch, segments] = {(batch, segments)}, "
            f"got {tuple(attention_mask.shape)}"
        )
    mask = attention_mask.to(device=input_features.device, dtype=torch.bool)
    sequence_lengths(mask)
    return mask


def scatter_segments(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Put per-real-segment ``values`` ``[real, ...]`` back at ``[batch, segments, ...]``, zeros elsewhere."""
    padded = values.new_zeros((*mask.shape, *values.shape[1:]))
    return padded.index_put((mask,), values)
