"""Pooling modules that turn frame-level features into one utterance-level vector.

Every module here takes ``hidden`` of shape ``[batch, frames, hidden_size]`` and an optional
boolean ``mask`` of shape ``[batch, frames]`` (``True`` on real frames, ``False`` on padding) and
returns ``[batch, output_size]``. Padded frames never contribute: they get exactly zero weight, so
an utterance pools to the same vector alone or batched with longer ones.

The modules know nothing about the encoder that produced the frames, so any model family (the
wav2vec 2.0 family, CNNs over spectrograms) can reuse them. This file imports only ``torch``:
it is copied next to saved models as part of their custom code (see ``wav2vec2_ser.py``).
"""

from __future__ import annotations

import torch
from torch import nn

#: Variances are clamped to this before the square root, so the standard deviation has a
#: finite gradient on constant inputs.
STD_EPS = 1e-6


def _check_inputs(hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Return a boolean ``[batch, frames]`` mask, all ``True`` when ``mask`` is ``None``."""
    if hidden.dim() != 3:
        raise ValueError(
            f"expected hidden states of shape [batch, frames, hidden], got {tuple(hidden.shape)}"
        )
    if mask is None:
        return torch.ones(hidden.shape[:2], dtype=torch.bool, device=hidden.device)
    if mask.shape != hidden.shape[:2]:
        raise ValueError(
            f"mask shape {tuple(mask.shape)} does not match hidden states {tuple(hidden.shape[:2])}"
        )
    return mask.to(device=hidden.device, dtype=torch.bool)


def weighted_mean_std(
    hidden: torch.Tensor, weights: torch.Tensor, eps: float = STD_EPS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted mean and standard deviation over frames, one pair per weighting.

    Args:
        hidden: Frame features, ``[batch, frames, hidden_size]``.
        weights: Non-negative frame weights that sum to one over frames,
            ``[batch, frames, num_weightings]``.
        eps: Lower bound on the variance before the square root.

    Returns:
        ``(mean, std)``, each ``[batch, num_weightings, hidden_size]``.
    """
    mean = torch.einsum("btk,bth->bkh", weights, hidden)
    centred = hidden.unsqueeze(2) - mean.unsqueeze(1)  # [batch, frames, weightings, hidden]
    variance = torch.einsum("btk,btkh->bkh", weights, centred.square())
    return mean, variance.clamp(min=eps).sqrt()


class MeanPooling(nn.Module):
    """Average over the real frames, optionally followed by their standard deviation.

    With ``statistics=True`` this is the classic statistics pooling of x-vectors: the mean and
    the (population) standard deviation over frames, concatenated.

    Args:
        hidden_size: Size of each frame feature.
        statistics: Whether to append the standard deviation to the mean.
    """

    def __init__(self, hidden_size: int, statistics: bool = False):
        super().__init__()
        self.hidden_size = hidden_size
        self.statistics = statistics
        self.output_size = hidden_size * (2 if statistics else 1)

    def frame_weights(self, hidden: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Uniform weights over the real frames, ``[batch, frames, 1]``.

        Args:
            hidden: Frame features, ``[batch, frames, hidden_size]``.
            mask: ``True`` on real frames, ``[batch, frames]``; ``None`` means no padding.
        """
        mask = _check_inputs(hidden, mask)
        counts = mask.sum(dim=1, keepdim=True).clamp(min=1)
        return (mask.to(hidden.dtype) / counts.to(hidden.dtype)).unsqueeze(-1)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Pool ``hidden`` to ``[batch, output_size]``.

        Args:
            hidden: Frame features, ``[batch, frames, hidden_size]``.
            mask: ``True`` on real frames, ``[batch, frames]``; ``None`` means no padding.
        """
        mask = _check_inputs(hidden, mask)
        hidden = hidden.masked_fill(~mask.unsqueeze(-1), 0.0)
        weights = self.frame_weights(hidden, mask)
        if not self.statistics:
            return torch.einsum("btk,bth->bh", weights, hidden)
        mean, std = weighted_mean_std(hidden, weights)
        return torch.cat([mean.flatten(1), std.flatten(1)], dim=-1)


class AttentionPooling(nn.Module):
    """Self-attentive pooling with one or more heads, optionally with attentive statistics.

    Each head scores every frame with a small MLP (``Linear -> tanh -> Linear``), turns the scores
    into weights with a softmax over the real frames, and takes the weighted mean of the frames.
    With several heads the per-head means are concatenated. With ``statistics=True`` each head
    also contributes its attention-weighted standard deviation (attentive statistics pooling,
    Okabe et al. 2018), appended after all the means.

    Args:
        hidden_size: Size of each frame feature.
        num_heads: Number of independent attention distributions over frames.
        attention_size: Width of the scoring MLP; defaults to ``hidden_size``.
        statistics: Whether to append the attention-weighted standard deviation.
    """

    def __init__(
        self,
        hidden_size: int,
        num_heads: int = 1,
        attention_size: int | None = None,
        statistics: bool = False,
    ):
        super().__init__()
        if num_heads < 1:
            raise ValueError(f"num_heads must be at least 1, got {num_heads}")
        attention_size = attention_size or hidden_size
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.statistics = statistics
        self.output_size = hidden_size * num_heads * (2 if statistics else 1)
        self.score = nn.Sequential(
            nn.Linear(hidden_size, attention_size),
            nn.Tanh(),
            nn.Linear(attention_size, num_heads),
        )

    def frame_weights(self, hidden: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attention weights over frames, ``[batch, frames, num_heads]``; zero on padding.

        Args:
            hidden: Frame features, ``[batch, frames, hidden_size]``.
            mask: ``True`` on real frames, ``[batch, frames]``; ``None`` means no padding.
        """
        mask = _check_inputs(hidden, mask)
        scores = self.score(hidden)
        # The dtype minimum rather than -inf, so that a row without real frames gives zeros, not NaN.
        scores = scores.masked_fill(~mask.unsqueeze(-1), torch.finfo(scores.dtype).min)
        weights = scores.softmax(dim=1)
        # exp(min - max) already underflows to zero; the product makes that exact in any dtype.
        return weights * mask.unsqueeze(-1).to(weights.dtype)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Pool ``hidden`` to ``[batch, output_size]``.

        Args:
            hidden: Frame features, ``[batch, frames, hidden_size]``.
            mask: ``True`` on real frames, ``[batch, frames]``; ``None`` means no padding.
        """
        mask = _check_inputs(hidden, mask)
        hidden = hidden.masked_fill(~mask.unsqueeze(-1), 0.0)
        weights = self.frame_weights(hidden, mask)
        if not self.statistics:
            return torch.einsum("btk,bth->bkh", weights, hidden).flatten(1)
        mean, std = weighted_mean_std(hidden, weights)
        return torch.cat([mean.flatten(1), std.flatten(1)], dim=-1)


#: Pooling kinds accepted by :func:`build_pooling`.
POOLING_KINDS: tuple[str, ...] = ("attention", "mean")


def build_pooling(
    kind: str,
    hidden_size: int,
    num_heads: int = 1,
    attention_size: int | None = None,
    statistics: bool = False,
) -> MeanPooling | AttentionPooling:
    """Build a pooling module by name.

    Args:
        kind: ``"attention"`` for :class:`AttentionPooling`, ``"mean"`` for :class:`MeanPooling`.
        hidden_size: Size of each frame feature.
        num_heads: Attention heads (``"attention"`` only).
        attention_size: Width of the attention scoring MLP (``"attention"`` only).
        statistics: Whether to append the (weighted) standard deviation to the mean.
    """
    if kind == "attention":
        return AttentionPooling(
            hidden_size, num_heads=num_heads, attention_size=attention_size, statistics=statistics
        )
    if kind == "mean":
        if num_heads != 1:
            raise ValueError(f"mean pooling has no heads; got num_heads={num_heads}")
        return MeanPooling(hidden_size, statistics=statistics)
    raise ValueError(f"unknown pooling {kind!r}; expected one of {list(POOLING_KINDS)}")
