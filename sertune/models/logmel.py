"""Log-mel spectrogram segments with deltas: the feature extractor of the CNN family.

After Zhang et al. (2021, "Pre-trained deep convolution neural network model with attention for
speech emotion recognition", Front. Physiol.), each utterance becomes a sequence of 3-channel
"images" that an ImageNet CNN can read::

    waveform -> frames (25 ms window, 10 ms hop) -> |FFT|^2 -> mel filterbank -> log(max(mel, floor))
             -> [log-mel, delta, delta-delta] -> normalisation -> overlapping segments of 64 frames
             -> optional bilinear resize of every segment to image_size x image_size

:class:`LogMelFeatureExtractor` returns ``input_features`` of shape
``[batch, num_segments, 3, n_mels, segment_frames]`` (or ``[batch, num_segments, 3, image_size,
image_size]``) and ``attention_mask`` ``[batch, num_segments]`` (1 on real segments). The values
stay in log-mel units; ImageNet normalisation, if any, is the model's business.

Conventions, chosen so that an utterance gets the same features alone and in a batch with longer
ones (to float precision):

* Framing is Kaldi's ``snip_edges``: frame ``t`` covers samples ``[t * hop, t * hop + win)``, is
  zero-padded to ``n_fft`` for the FFT, and only whole frames inside the utterance are kept, so
  ``frames = 1 + (samples - win) // hop``. No centring, so no frame reads the batch's padding.
  Utterances shorter than one window are zero-padded to one window (one frame).
* The window is torch's periodic Hamming (or Hann) window of ``win_length`` samples, the power
  spectrum is ``|FFT|^2``, and the filterbank is the HTK mel scale without area normalisation
  (``transformers.audio_utils.mel_filter_bank``); the log is natural.
* Deltas follow HTK (:func:`compute_deltas`):
  ``d_t = sum_n n (c_{t+n} - c_{t-n}) / (2 sum_n n^2)`` for ``n = 1..(delta_width - 1) / 2``,
  with the first and last *real* frame of each utterance replicated past its edges. Delta-deltas
  are the deltas of the deltas, with the same edge replication.
* Normalisation uses real frames only. Frames past the end of an utterance (the tail of its last
  segment) and whole padded segments hold ``padding_value``, written after normalisation, so the
  default 0.0 is the utterance (or training-set) mean there.

This file imports only numpy, torch and transformers: ``save_pretrained`` copies it
next to ``preprocessor_config.json`` (with an ``auto_map``), so a saved folder also loads without
sertune through ``AutoFeatureExtractor.from_pretrained(folder, trust_remote_code=True)``.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from numbers import Number
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from transformers import BatchFeature, SequenceFeatureExtractor
from transformers.audio_utils import mel_filter_bank
from transformers.utils import PaddingStrategy, TensorType

logger = logging.getLogger(__name__)

#: Values of ``normalization``.
NORMALIZATIONS: tuple[str, ...] = ("utterance", "global", "none")

#: Values of ``window``.
WINDOWS: tuple[str, ...] = ("hamming", "hann")

#: Standard deviations are clamped to this, so a constant bin (silence at the log floor, the
#: deltas of a one-frame utterance) normalises to zero instead of dividing by zero.
STD_FLOOR = 1e-5

_WINDOW_FUNCTIONS = {"hamming": torch.hamming_window, "hann": torch.hann_window}


def _replicate_past_end(values: torch.Tensor, last_index: torch.Tensor) -> torch.Tensor:
    """Copy each utterance's last real frame over its padded frames (``values``: ``[B, ..., T]``)."""
    frames = torch.arange(values.shape[-1], device=values.device)
    index = torch.minimum(frames.unsqueeze(0), last_index.unsqueeze(1))  # [B, T]
    index = index.view(index.shape[0], *([1] * (values.dim() - 2)), index.shape[1])
    return values.gather(-1, index.expand_as(values))


def mel_filterbank(
    n_fft: int, n_mels: int, f_min: float, f_max: float | None, sampling_rate: int
) -> torch.Tensor:
    """The HTK mel filterbank without area normalisation, ``[n_fft // 2 + 1, n_mels]`` float64.

    Args:
        n_fft: FFT size; the filterbank covers its ``n_fft // 2 + 1`` bins.
        n_mels: Number of triangular filters.
        f_min: Lowest filter edge in Hz.
        f_max: Highest filter edge in Hz; ``None`` means ``sampling_rate / 2``.
        sampling_rate: Sampling rate in Hz.
    """
    filterbank = mel_filter_bank(
        num_frequency_bins=n_fft // 2 + 1,
        num_mel_filters=n_mels,
        min_frequency=f_min,
        max_frequency=sampling_rate / 2 if f_max is None else f_max,
        sampling_rate=sampling_rate,
        norm=None,
        mel_scale="htk",
    )
    return torch.from_numpy(filterbank)


def compute_deltas(values: torch.Tensor, width: int) -> torch.Tensor:
    """HTK regression deltas over the last axis, the first and last frame replicated past the edges.

    ``d_t = sum_n n (c_{t+n} - c_{t-n}) / (2 sum_n n^2)`` for ``n = 1..(width - 1) / 2``, as a
    ``conv1d`` with a fixed kernel, so it also exports to ONNX.

    Args:
        values: ``[..., frames]``.
        width: Regression window in frames, odd and at least 3.
    """
    half = (width - 1) // 2
    taps = torch.arange(-half, half + 1, dtype=torch.float64)
    kernel = (taps / taps.square().sum()).to(device=values.device, dtype=values.dtype)
    flat = F.pad(values.reshape(-1, 1, values.shape[-1]), (half, half), mode="replicate")
    return F.conv1d(flat, kernel.view(1, 1, -1)).view_as(values)


def _check_settings(
    window: str, n_fft: int, win_length: int, hop_length: int, delta_width: int, log_floor: float
) -> None:
    if window not in _WINDOW_FUNCTIONS:
        raise ValueError(f"unknown window {window!r}; expected one of {list(WINDOWS)}")
    if not 1 <= win_length <= n_fft:
        raise ValueError(f"win_length must be in [1, n_fft={n_fft}], got {win_length}")
    if hop_length < 1:
        raise ValueError(f"hop_length must be at least 1, got {hop_length}")
    if delta_width < 3 or delta_width % 2 == 0:
        raise ValueError(f"delta_width must be odd and at least 3, got {delta_width}")
    if log_floor <= 0:
        raise ValueError(f"log_floor must be positive, got {log_floor}")


class LogMelFrontEnd(nn.Module):
    """Waveforms to log-mel, delta and delta-delta frames: the one front end of the CNN family.

    The feature extractor computes with it, and so does the ONNX graph of an exported model
    (:class:`sertune.export.LogMelSegments`). Every stage is the same torch code in both, except
    the spectrum: ``torch.fft.rfft`` over unfolded frames when run, and while exporting to ONNX
    (where ``rfft`` does not export) a strided ``conv1d`` with a fixed windowed DFT basis, the
    same sums, since every frame is ``win_length`` samples zero-padded to ``n_fft``. That graph
    may compute a few more frames, all past every utterance's end, where the result is 0.

    Args:
        sampling_rate: Sampling rate of the waveforms in Hz.
        n_fft: FFT size; frames are zero-padded to it.
        win_length: Frame (window) length in samples, at most ``n_fft``.
        hop_length: Frame shift in samples.
        window: ``"hamming"`` or ``"hann"`` (periodic, as torch builds them).
        n_mels: Number of mel bands.
        f_min: Lowest filterbank frequency in Hz.
        f_max: Highest filterbank frequency in Hz; ``None`` means ``sampling_rate / 2``.
        log_floor: Mel energies are clamped to at least this before the log.
        delta_width: Regression window of the deltas in frames, odd and at least 3.
    """

    def __init__(
        self,
        *,
        sampling_rate: int = 16_000,
        n_fft: int = 512,
        win_length: int = 400,
        hop_length: int = 160,
        window: str = "hamming",
        n_mels: int = 64,
        f_min: float = 20.0,
        f_max: float | None = None,
        log_floor: float = 1e-6,
        delta_width: int = 9,
    ):
        super().__init__()
        _check_settings(window, n_fft, win_length, hop_length, delta_width, log_floor)
        self.n_fft, self.win_length, self.hop_length = n_fft, win_length, hop_length
        self.log_floor, self.delta_width = float(log_floor), delta_width
        window_values = _WINDOW_FUNCTIONS[window](win_length, dtype=torch.float64)
        filterbank = mel_filterbank(n_fft, n_mels, f_min, f_max, sampling_rate)
        self.register_buffer("window", window_values.float(), persistent=False)
        self.register_buffer("filterbank", filterbank.float(), persistent=False)
        # Rows cos(2 pi k n / n_fft) w[n] and -sin(...) w[n], k = 0..n_fft/2, n < win_length.
        angles = torch.outer(torch.arange(n_fft // 2 + 1), torch.arange(win_length)).double()
        angles = angles * (2 * math.pi / n_fft)
        basis = torch.cat([angles.cos() * window_values, -angles.sin() * window_values])
        self.register_buffer("dft_basis", basis.unsqueeze(1).float(), persistent=False)

    def power_spectrum(self, waveforms: torch.Tensor) -> torch.Tensor:
        """``|FFT|^2`` of every frame, ``[batch, frames, n_fft // 2 + 1]``."""
        if torch.onnx.is_in_onnx_export():
            padded = F.pad(waveforms, (0, self.win_length - 1))  # at least one frame
            spectrum = F.conv1d(padded.unsqueeze(1), self.dft_basis, stride=self.hop_length)
            bins = self.n_fft // 2 + 1
            return (spectrum[:, :bins].square() + spectrum[:, bins:].square()).transpose(1, 2)
        if waveforms.shape[1] < self.win_length:
            waveforms = F.pad(waveforms, (0, self.win_length - waveforms.shape[1]))
        # Frames of exactly `win_length` samples, zero-padded to `n_fft` by the FFT: unlike
        # torch.stft with n_fft > win_length, no frame reaches past the window into the padding.
        frames = waveforms.unfold(-1, self.win_length, self.hop_length)
        spectrum = torch.fft.rfft(frames * self.window.to(frames.dtype), n=self.n_fft)
        return spectrum.real.square() + spectrum.imag.square()

    def forward(
        self, waveforms: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(features [batch, 3, n_mels, frames], frame_lengths [batch])``, not normalised.

        Args:
            waveforms: Float waveforms, ``[batch, samples]``; samples past ``lengths`` are
                ignored.
            lengths: Real samples per utterance (long), ``[batch]``, each at least 1.
        """
        positions = torch.arange(waveforms.shape[1], device=waveforms.device)
        waveforms = waveforms.masked_fill(positions >= lengths.unsqueeze(1), 0.0)
        win, hop = self.win_length, self.hop_length
        frame_lengths = 1 + (lengths.clamp(min=win) - win).div(hop, rounding_mode="floor")
        power = self.power_spectrum(waveforms)
        mel = torch.matmul(power, self.filterbank.to(power.dtype))
        log_mel = mel.clamp(min=self.log_floor).log().transpose(1, 2)  # [B, n_mels, T]
        # compute_deltas replicates the tensor's last frame; making every padded frame a copy of
        # the utterance's last real frame moves that edge to each utterance's own end.
        last_index = frame_lengths - 1
        static = _replicate_past_end(log_mel, last_index)
        delta = _replicate_past_end(compute_deltas(static, self.delta_width), last_index)
        delta2 = compute_deltas(delta, self.delta_width)
        features = torch.stack([static, delta, delta2], dim=1)  # [B, 3, n_mels, T]
        real = torch.arange(features.shape[-1], device=features.device) < frame_lengths[:, None]
        return features.masked_fill(~real[:, None, None, :], 0.0), frame_lengths


@functools.lru_cache(maxsize=16)
def _front_end(device: torch.device, settings: tuple) -> LogMelFrontEnd:
    return LogMelFrontEnd(**dict(settings)).to(device)


def log_mel_deltas(
    waveforms: torch.Tensor,
    lengths: torch.Tensor | Sequence[int],
    **settings: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-mel spectrograms with deltas and delta-deltas of a zero-padded batch, not normalised.

    :class:`LogMelFrontEnd` with ``settings`` (its keyword arguments; built once per device and
    settings), after checking the batch. The conventions (framing, window, edge replication) are
    those of the module docstring; each utterance's features depend on its own ``lengths[b]``
    samples only.

    Args:
        waveforms: Float waveforms, ``[batch, samples]``, zero-padded after each utterance's end.
        lengths: Real samples per utterance, ``[batch]``, each at least 1.
        **settings: :class:`LogMelFrontEnd`'s options (``sampling_rate``, ``n_fft``, ...).

    Returns:
        ``(features, frame_lengths)``: ``features`` of shape ``[batch, 3, n_mels, frames]``
        (channels: log-mel, delta, delta-delta), zero at and past each utterance's
        ``frame_lengths[b]``; ``frame_lengths`` (long, ``[batch]``, on ``waveforms``' device).
    """
    if waveforms.dim() != 2:
        raise ValueError(f"waveforms must be [batch, samples], got shape {tuple(waveforms.shape)}")
    if not waveforms.is_floating_point():
        raise ValueError(f"waveforms must be floating point, got {waveforms.dtype}")
    lengths = torch.as_tensor(lengths, dtype=torch.long, device=waveforms.device)
    if lengths.shape != waveforms.shape[:1]:
        raise ValueError(
            f"lengths has shape {tuple(lengths.shape)} for {waveforms.shape[0]} waveforms"
        )
    if bool(((lengths < 1) | (lengths > waveforms.shape[1])).any()):
        raise ValueError(f"lengths must be in [1, {waveforms.shape[1]}], got {lengths.tolist()}")
    front_end = _front_end(waveforms.device, tuple(sorted(settings.items())))
    return front_end(waveforms, lengths)


class LogMelFeatureExtractor(SequenceFeatureExtractor):
    r"""Segments of log-mel spectrograms with deltas, as 3-channel images for a CNN.

    Call it on one 1-D waveform or a list of them (numpy arrays, torch tensors or lists of floats);
    the batch is padded to its longest utterance, computed at once (on ``device`` when given) and
    masked. See the module docstring for the exact conventions.

    Args:
        sampling_rate: Sampling rate the extractor expects, in Hz.
        n_fft: FFT size; each frame is zero-padded to it.
        win_length_ms: Frame (window) length in milliseconds (25 ms: 400 samples at 16 kHz).
        hop_length_ms: Frame shift in milliseconds (10 ms: 160 samples at 16 kHz).
        window: ``"hamming"`` or ``"hann"``.
        n_mels: Number of mel bands (the image height before resizing).
        f_min: Lowest filterbank frequency in Hz.
        f_max: Highest filterbank frequency in Hz; ``None`` means the Nyquist frequency.
        log_floor: Mel energies are clamped to at least this before the (natural) log.
        delta_width: Regression window of the deltas in frames (odd, at least 3; 9 means
            ``n = 1..4``).
        normalization: ``"utterance"``: zero mean and unit variance per channel and mel bin over
            each utterance's real frames; ``"global"``: the same with the training set's
            ``feature_mean`` / ``feature_std`` (see :meth:`fit_normalization`); ``"none"``.
        feature_mean: Per-channel, per-mel-bin means ``[3][n_mels]`` for ``"global"``, usually
            set by :meth:`fit_normalization` and saved with the config.
        feature_std: Per-channel, per-mel-bin standard deviations ``[3][n_mels]``, likewise.
        segment_frames: Frames per segment (64 frames at a 10 ms hop and a 25 ms window cover
            655 ms, as in Zhang et al.).
        segment_hop_frames: Frames between the starts of consecutive segments (32: half overlap).
        image_size: Resize every segment bilinearly to ``image_size x image_size`` (e.g. 224 for
            ImageNet backbones); ``None`` keeps ``n_mels x segment_frames``.
        padding_value: Value of frames past an utterance's end and of padded segments, in
            normalised units (0.0 is the mean when normalising).
        return_attention_mask: Whether ``__call__`` returns the segment mask by default.
        kwargs: Fields ``save_pretrained`` writes besides these (``feature_extractor_type``,
            ``auto_map``, ``feature_size``, ``padding_side``).
    """

    model_input_names = ["input_features", "attention_mask"]

    def __init__(
        self,
        sampling_rate: int = 16_000,
        n_fft: int = 512,
        win_length_ms: float = 25.0,
        hop_length_ms: float = 10.0,
        window: str = "hamming",
        n_mels: int = 64,
        f_min: float = 20.0,
        f_max: float | None = None,
        log_floor: float = 1e-6,
        delta_width: int = 9,
        normalization: str = "utterance",
        feature_mean: Sequence[Sequence[float]] | None = None,
        feature_std: Sequence[Sequence[float]] | None = None,
        segment_frames: int = 64,
        segment_hop_frames: int = 32,
        image_size: int | None = None,
        padding_value: float = 0.0,
        return_attention_mask: bool = True,
        **kwargs,
    ):
        # Derived from n_mels; written by save_pretrained, so it comes back on loading.
        kwargs.pop("feature_size", None)
        super().__init__(
            feature_size=n_mels,
            sampling_rate=sampling_rate,
            padding_value=padding_value,
            return_attention_mask=return_attention_mask,
            **kwargs,
        )
        self.n_fft = n_fft
        self.win_length_ms = win_length_ms
        self.hop_length_ms = hop_length_ms
        self.window = window
        self.n_mels = n_mels
        self.f_min = f_min
        self.f_max = f_max
        self.log_floor = log_floor
        self.delta_width = delta_width
        self.normalization = normalization
        self.feature_mean = None if feature_mean is None else _stats_list(feature_mean)
        self.feature_std = None if feature_std is None else _stats_list(feature_std)
        self.segment_frames = segment_frames
        self.segment_hop_frames = segment_hop_frames
        self.image_size = image_size
        self._check_config()

    def _check_config(self) -> None:
        if self.sampling_rate <= 0:
            raise ValueError(f"sampling_rate must be positive, got {self.sampling_rate}")
        if self.win_length < 1 or self.hop_length < 1:
            raise ValueError(
                f"win_length_ms={self.win_length_ms} and hop_length_ms={self.hop_length_ms} must "
                f"give at least one sample at {self.sampling_rate} Hz"
            )
        if self.win_length > self.n_fft:
            raise ValueError(
                f"the window ({self.win_length} samples) is longer than n_fft={self.n_fft}"
            )
        if self.window not in WINDOWS:
            raise ValueError(f"unknown window {self.window!r}; expected one of {list(WINDOWS)}")
        if self.n_mels < 1:
            raise ValueError(f"n_mels must be at least 1, got {self.n_mels}")
        nyquist = self.sampling_rate / 2
        f_max = nyquist if self.f_max is None else self.f_max
        if not 0 <= self.f_min < f_max <= nyquist:
            raise ValueError(
                f"need 0 <= f_min < f_max <= {nyquist} Hz, got f_min={self.f_min}, f_max={f_max}"
            )
        if self.log_floor <= 0:
            raise ValueError(f"log_floor must be positive, got {self.log_floor}")
        if self.delta_width < 3 or self.delta_width % 2 == 0:
            raise ValueError(f"delta_width must be odd and at least 3, got {self.delta_width}")
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(
                f"unknown normalization {self.normalization!r}; expected one of {list(NORMALIZATIONS)}"
            )
        for name in ("feature_mean", "feature_std"):
            stats = getattr(self, name)
            if stats is not None and np.shape(stats) != (3, self.n_mels):
                raise ValueError(
                    f"{name} must have shape (3, n_mels={self.n_mels}), got {np.shape(stats)}"
                )
        if (self.feature_mean is None) != (self.feature_std is None):
            raise ValueError("give both feature_mean and feature_std, or neither")
        if self.feature_std is not None and min(min(row) for row in self.feature_std) <= 0:
            raise ValueError("feature_std must be positive")
        if self.segment_frames < 1:
            raise ValueError(f"segment_frames must be at least 1, got {self.segment_frames}")
        if not 1 <= self.segment_hop_frames <= self.segment_frames:
            # A hop longer than a segment would silently drop the frames in between.
            raise ValueError(
                f"segment_hop_frames must be in [1, segment_frames={self.segment_frames}], "
                f"got {self.segment_hop_frames}"
            )
        if self.image_size is not None and self.image_size < 1:
            raise ValueError(f"image_size must be None or at least 1, got {self.image_size}")

    @property
    def win_length(self) -> int:
        """Frame (window) length in samples."""
        return round(self.win_length_ms * self.sampling_rate / 1000)

    @property
    def hop_length(self) -> int:
        """Frame shift in samples."""
        return round(self.hop_length_ms * self.sampling_rate / 1000)

    def to_dict(self) -> dict[str, Any]:
        """The config as saved; unlike the base class, it keeps ``window`` (a name here, not an array)."""
        output = super().to_dict()
        output["window"] = self.window
        return output

    # ----------------------------------------------------------------------------------------
    # The stages of __call__, public so that callers and tests can use each one

    def log_mel_deltas(
        self, waveforms: torch.Tensor, lengths: torch.Tensor | Sequence[int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:func:`log_mel_deltas` with this extractor's settings.

        Args:
            waveforms: Zero-padded float waveforms, ``[batch, samples]``.
            lengths: Real samples per utterance, ``[batch]``.

        Returns:
            ``(features [batch, 3, n_mels, frames], frame_lengths [batch])``, not normalised.
        """
        return log_mel_deltas(waveforms, lengths, **self.front_end_settings())

    def front_end_settings(self) -> dict[str, Any]:
        """This extractor's :class:`LogMelFrontEnd` options."""
        return {
            "sampling_rate": self.sampling_rate,
            "n_fft": self.n_fft,
            "win_length": self.win_length,
            "hop_length": self.hop_length,
            "window": self.window,
            "n_mels": self.n_mels,
            "f_min": self.f_min,
            "f_max": self.f_max,
            "log_floor": self.log_floor,
            "delta_width": self.delta_width,
        }

    def normalize(self, features: torch.Tensor, frame_lengths: torch.Tensor) -> torch.Tensor:
        """Apply the configured normalisation over real frames; frames past the end get ``padding_value``.

        Args:
            features: ``[batch, 3, n_mels, frames]`` from :meth:`log_mel_deltas`.
            frame_lengths: Real frames per utterance, ``[batch]``.
        """
        frame_lengths = frame_lengths.to(features.device)
        real = torch.arange(features.shape[-1], device=features.device) < frame_lengths[:, None]
        real = real[:, None, None, :]
        if self.normalization == "utterance":
            count = frame_lengths.to(features.dtype)[:, None, None, None]
            mean = features.masked_fill(~real, 0.0).sum(-1, keepdim=True) / count
            centred = (features - mean).masked_fill(~real, 0.0)
            std = (centred.square().sum(-1, keepdim=True) / count).sqrt().clamp(min=STD_FLOOR)
            features = centred / std
        elif self.normalization == "global":
            if self.feature_mean is None:
                raise ValueError(
                    "normalization='global' needs feature_mean and feature_std: call "
                    "fit_normalization(training_waveforms) first"
                )
            mean = torch.tensor(self.feature_mean, dtype=features.dtype, device=features.device)
            std = torch.tensor(self.feature_std, dtype=features.dtype, device=features.device)
            features = (features - mean[None, :, :, None]) / std[None, :, :, None]
        return features.masked_fill(~real, self.padding_value)

    def segment(
        self, features: torch.Tensor, frame_lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Cut normalised features into overlapping segments, padding the batch to its longest.

        An utterance of ``T`` frames gives ``1 + ceil(max(0, T - segment_frames) / hop)``
        segments; segment ``s`` holds frames ``[s * hop, s * hop + segment_frames)``, its part
        past the utterance's end is ``padding_value``, and so is every padded segment.

        Args:
            features: ``[batch, 3, n_mels, frames]`` from :meth:`normalize`.
            frame_lengths: Real frames per utterance, ``[batch]``.

        Returns:
            ``(segments [batch, num_segments, 3, n_mels, segment_frames], mask [batch,
            num_segments])``, the mask long, 1 on real segments.
        """
        size, hop = self.segment_frames, self.segment_hop_frames
        frame_lengths = frame_lengths.to(features.device)
        overhang = (frame_lengths - size).clamp(min=0)
        counts = 1 + torch.div(overhang + hop - 1, hop, rounding_mode="floor")
        num_segments = int(counts.max())
        needed = (num_segments - 1) * hop + size
        features = F.pad(features, (0, needed - features.shape[-1]), value=self.padding_value)
        segments = features.unfold(-1, size, hop).permute(0, 3, 1, 2, 4)  # [B, S, 3, M, size]
        mask = torch.arange(num_segments, device=features.device) < counts[:, None]
        # Padded segments can overlap the last real frames; blank them so they are pure padding.
        segments = segments.masked_fill(~mask[:, :, None, None, None], self.padding_value)
        return segments.contiguous(), mask.long()

    def resize_segments(self, segments: torch.Tensor) -> torch.Tensor:
        """Bilinearly resize ``[batch, segments, 3, H, W]`` to ``image_size x image_size`` (if set)."""
        if self.image_size is None:
            return segments
        batch, count = segments.shape[:2]
        resized = F.interpolate(
            segments.flatten(0, 1),
            size=(self.image_size, self.image_size),
            mode="bilinear",
            align_corners=False,
        )
        return resized.view(batch, count, *resized.shape[1:])

    # ----------------------------------------------------------------------------------------
    # Public entry points

    def __call__(
        self,
        raw_speech: np.ndarray | torch.Tensor | Sequence[float] | Sequence[Any],
        sampling_rate: int | None = None,
        padding: bool | str | PaddingStrategy = True,
        return_attention_mask: bool | None = None,
        return_tensors: str | TensorType | None = None,
        device: str | torch.device | None = None,
    ) -> BatchFeature:
        """Featurise one waveform or a batch of them.

        Args:
            raw_speech: One 1-D waveform (numpy array, torch tensor or list of floats) or a list
                of them, at :attr:`sampling_rate`.
            sampling_rate: Sampling rate of ``raw_speech``; a mismatch raises. Pass it: without
                it the rate cannot be checked (a warning says so).
            padding: ``True`` / ``"longest"`` (the batch is padded to its longest utterance's
                segment count); no other strategy is supported.
            return_attention_mask: Return the segment mask; ``None`` follows the config.
            return_tensors: ``"pt"`` for torch tensors (left on ``device``), ``"np"`` or ``None``
                for numpy arrays.
            device: Where to compute, e.g. the model's device; ``None`` means where torch inputs
                already are, else the CPU.

        Returns:
            A ``BatchFeature`` with ``input_features`` (float32, ``[batch, num_segments, 3,
            n_mels, segment_frames]`` or ``[..., 3, image_size, image_size]``) and
            ``attention_mask`` (``[batch, num_segments]``).
        """
        if sampling_rate is None:
            logger.warning(
                "no sampling_rate given to %s: pass it so that audio at another rate is caught",
                type(self).__name__,
            )
        elif sampling_rate != self.sampling_rate:
            raise ValueError(
                f"{type(self).__name__} expects audio at {self.sampling_rate} Hz, got "
                f"sampling_rate={sampling_rate}; resample it first"
            )
        if padding not in (True, "longest", PaddingStrategy.LONGEST):
            raise ValueError(
                f"{type(self).__name__} pads every batch to its longest utterance; "
                f"padding={padding!r} is not supported"
            )
        # TensorType is a str enum: "pt" == TensorType.PYTORCH.
        if return_tensors is not None and return_tensors not in (
            TensorType.PYTORCH,
            TensorType.NUMPY,
        ):
            raise ValueError(f"return_tensors must be 'pt', 'np' or None, got {return_tensors!r}")
        if return_attention_mask is None:
            return_attention_mask = self.return_attention_mask

        waveforms, lengths = self._batch(raw_speech, device)
        with torch.no_grad():
            features, frame_lengths = self.log_mel_deltas(waveforms, lengths)
            features = self.normalize(features, frame_lengths)
            segments, mask = self.segment(features, frame_lengths)
            segments = self.resize_segments(segments)

        data = {"input_features": segments}
        if return_attention_mask:
            data["attention_mask"] = mask
        if return_tensors != TensorType.PYTORCH:
            data = {key: value.cpu().numpy() for key, value in data.items()}
        return BatchFeature(data, tensor_type=return_tensors)

    def fit_normalization(
        self,
        waveforms: Iterable[np.ndarray | torch.Tensor | Sequence[float]],
        sampling_rate: int | None = None,
        batch_size: int = 16,
        device: str | torch.device | None = None,
    ) -> LogMelFeatureExtractor:
        """Set ``feature_mean`` / ``feature_std`` from training waveforms, for ``normalization="global"``.

        The statistics are per channel and mel bin over the real frames of all utterances (each
        frame counts once, so long utterances weigh more). Batches are combined with Chan et al.'s
        parallel update in float64, so no large sums of squares lose precision.

        Args:
            waveforms: 1-D training waveforms at :attr:`sampling_rate` (any iterable, read once).
            sampling_rate: Their sampling rate, checked as in ``__call__``.
            batch_size: Waveforms featurised at once.
            device: Where to compute.

        Returns:
            This extractor, with the statistics set (save it to keep them).
        """
        if self.normalization != "global":
            raise ValueError(
                "fit_normalization sets the statistics of normalization='global'; this extractor "
                f"has normalization={self.normalization!r}"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if sampling_rate is not None and sampling_rate != self.sampling_rate:
            raise ValueError(
                f"{type(self).__name__} expects audio at {self.sampling_rate} Hz, got "
                f"sampling_rate={sampling_rate}; resample it first"
            )
        count = 0
        mean = torch.zeros(3, self.n_mels, dtype=torch.float64)
        m2 = torch.zeros(3, self.n_mels, dtype=torch.float64)
        for batch in _chunks(waveforms, batch_size):
            padded, lengths = self._batch(batch, device)
            with torch.no_grad():
                features, frame_lengths = self.log_mel_deltas(padded, lengths)
            batch_count = int(frame_lengths.sum())
            # Features are zero past each utterance's end, so plain sums cover real frames only.
            batch_mean = features.sum(dim=(0, 3)) / batch_count
            real = torch.arange(features.shape[-1], device=features.device) < frame_lengths[:, None]
            centred = features - batch_mean[None, :, :, None]
            centred = centred.masked_fill(~real[:, None, None, :], 0.0)
            batch_m2 = centred.square().sum(dim=(0, 3)).cpu().double()
            difference = batch_mean.cpu().double() - mean
            total = count + batch_count
            mean = mean + difference * (batch_count / total)
            m2 = m2 + batch_m2 + difference.square() * (count * batch_count / total)
            count = total
        if count == 0:
            raise ValueError("fit_normalization got no waveforms")
        self.feature_mean = mean.tolist()
        self.feature_std = (m2 / count).sqrt().clamp(min=STD_FLOOR).tolist()
        logger.info("fitted global normalisation on %d frames", count)
        return self

    # ----------------------------------------------------------------------------------------
    # Input checking

    def _batch(
        self, raw_speech: Any, device: str | torch.device | None
    ) -> tuple[torch.Tensor, list[int]]:
        """Checked float32 waveforms, zero-padded to ``[batch, longest]``, and their lengths."""
        if isinstance(raw_speech, (np.ndarray, torch.Tensor)):
            items = [raw_speech]
        elif isinstance(raw_speech, (list, tuple)):
            if len(raw_speech) == 0:
                raise ValueError("empty input: expected a waveform or a non-empty list of them")
            is_single = all(isinstance(sample, Number) for sample in raw_speech)
            items = [raw_speech] if is_single else list(raw_speech)
        else:
            raise TypeError(
                "expected a 1-D waveform (numpy array, torch tensor, list of floats) or a list of "
                f"them, got {type(raw_speech).__name__}"
            )
        if device is None:
            first = items[0]
            device = first.device if isinstance(first, torch.Tensor) else "cpu"
        tensors = []
        for index, item in enumerate(items):
            if isinstance(item, torch.Tensor):
                tensor = item.detach()
            elif isinstance(item, (np.ndarray, list, tuple)):
                array = np.asarray(item)
                if array.dtype.kind not in "biuf":
                    raise ValueError(f"waveform {index} has dtype {array.dtype}; expected numbers")
                tensor = torch.from_numpy(array.astype(np.float32, copy=False))
            else:
                raise TypeError(
                    f"waveform {index} is a {type(item).__name__}; expected a numpy array, a "
                    "torch tensor or a list of floats"
                )
            if tensor.dim() != 1:
                raise ValueError(
                    f"waveform {index} has shape {tuple(tensor.shape)}; expected a 1-D mono "
                    "waveform (pass a batch as a list of 1-D waveforms; mix channels down first)"
                )
            if tensor.numel() == 0:
                raise ValueError(f"waveform {index} is empty")
            if tensor.is_complex():
                raise ValueError(f"waveform {index} is complex; expected real samples")
            tensors.append(tensor.to(device=device, dtype=torch.float32))
        lengths = [len(tensor) for tensor in tensors]
        waveforms = torch.nn.utils.rnn.pad_sequence(tensors, batch_first=True)
        finite = torch.isfinite(waveforms).all(dim=1)
        if not bool(finite.all()):
            bad = (~finite).nonzero().flatten().tolist()
            raise ValueError(f"waveform(s) {bad} contain non-finite samples (NaN or infinity)")
        return waveforms, lengths


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of ``size`` items (the last may be shorter) from any iterable."""
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _stats_list(values: Sequence[Sequence[float]]) -> list[list[float]]:
    """Normalisation statistics as nested float lists, so they are saved as JSON."""
    return np.asarray(values, dtype=np.float64).tolist()


# `save_pretrained` copies this file next to preprocessor_config.json and writes an `auto_map`,
# so the folder also loads without sertune via `trust_remote_code=True`.
LogMelFeatureExtractor.register_for_auto_class()
