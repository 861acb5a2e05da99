"""Listen to and look at an augmentation set-up before training with it.

:func:`preview_augmentations` (``sertune augment preview FILE [FILE ...] --output_dir DIR
[--config aug.yaml] [--speed_prob 1 ...]``) writes, for each input file, the original and ``num_examples`` augmented versions as 16-bit WAV
files and one PNG of their log-mel spectrograms stacked (plus, when SpecAugment is on, the
normalised log-mel of the first augmented version with its masks), using exactly the
:class:`~sertune.training.augment.WaveformAugmenter` and
:class:`~sertune.training.augment.SpecAugment` that training builds from the same options.

Files written for ``speech.wav``: ``speech_original.wav``, ``speech_aug1.wav`` ...
``speech_augN.wav`` and ``speech.png``. Input files sharing a name get ``_2``, ``_3`` ... after
their stem.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sertune.audio import load_audio
from sertune.models.logmel import mel_filterbank
from sertune.training.augment import AugmentationArguments, SpecAugment, WaveformAugmenter

logger = logging.getLogger(__name__)

__all__ = ["preview_augmentations"]

#: Peak the WAV files are scaled to when an augmented version would clip in 16-bit PCM.
_WAV_PEAK = 0.99

# Spectrogram of the figure: 25 ms windows, 10 ms hop at 16 kHz, as the CNN family's features.
_N_FFT = 512
_N_MELS = 64
_DYNAMIC_RANGE_DB = 80.0


def preview_augmentations(
    audio_paths: Sequence[str | os.PathLike],
    output_dir: str | os.PathLike,
    args: AugmentationArguments,
    *,
    sampling_rate: int = 16_000,
    num_examples: int = 4,
    seed: int = 0,
) -> list[Path]:
    """Write each file's original and augmented versions (WAV) and their spectrograms (PNG).

    Version ``k`` of the ``i``-th file is drawn with ``numpy.random.default_rng((seed, i, k))``,
    so a preview is reproducible. All files are decoded before anything is written, so a bad
    file stops the preview without leaving half of it behind. When a version peaks above full
    scale, all versions of that file are scaled down together (their relative levels, which is
    what a gain augmentation changes, are kept) and a warning says so.

    Args:
        audio_paths: Audio files (anything :func:`sertune.audio.load_audio` reads).
        output_dir: Folder to write to; created if missing.
        args: The augmentation options, as a recipe would get them.
        sampling_rate: Rate the files are resampled to before augmenting.
        num_examples: Augmented versions per file.
        seed: Seed of the draws.

    Returns:
        The paths written, per input file: the original WAV, the augmented WAVs, the PNG.

    Raises:
        AudioDecodeError: An input file (message starts with its path) cannot be decoded.
        FileNotFoundError, ValueError: ``noise_dir`` or ``rir_dir`` is missing or empty.
    """
    if not audio_paths:
        raise ValueError("give at least one audio file to preview")
    if num_examples < 0:
        raise ValueError(f"num_examples must be >= 0, got {num_examples}")
    augmenter = WaveformAugmenter(args, sampling_rate)
    spec_augment = SpecAugment.from_arguments(args)
    if not augmenter.enabled and not spec_augment.enabled:
        logger.warning("no augmentation is enabled: every probability is 0")
    for line in augmenter.describe() + spec_augment.describe():
        logger.info("augmentation: %s", line)
    waveforms = [load_audio(path, sampling_rate) for path in audio_paths]

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    mel = _MelSpectrogram(sampling_rate)
    written: list[Path] = []
    for index, (stem, waveform) in enumerate(
        zip(_unique_stems(audio_paths), waveforms, strict=True)
    ):
        versions = [("original", waveform)]
        for k in range(num_examples):
            rng = np.random.default_rng((seed, index, k))
            versions.append((f"aug{k + 1}", augmenter(waveform, rng)))
        written += _write_wavs(output_dir, stem, versions, sampling_rate, str(audio_paths[index]))
        masked = None
        if spec_augment.enabled:
            name, samples = versions[min(1, len(versions) - 1)]
            features = _normalised_log_mel(mel, samples)
            rng = np.random.default_rng((seed, index, 0, 1))
            masked = (name, spec_augment(features[None], rng)[0].numpy())
        png = output_dir / f"{stem}.png"
        _plot_spectrograms(png, mel, versions, masked, sampling_rate, title=str(audio_paths[index]))
        written.append(png)
    return written


def _write_wavs(
    output_dir: Path,
    stem: str,
    versions: list[tuple[str, np.ndarray]],
    sampling_rate: int,
    source: str,
) -> list[Path]:
    """Write a file's versions as 16-bit WAV, scaled down together when one would clip."""
    peak = max(float(np.max(np.abs(samples))) for _, samples in versions)
    scale = 1.0
    if peak > 1.0:
        scale = _WAV_PEAK / peak
        logger.warning(
            "%s: augmented audio peaks at %.2f (above full scale); the WAV files of this "
            "input are scaled by %.3f together so that 16-bit PCM does not clip",
            source,
            peak,
            scale,
        )
    written = []
    for name, samples in versions:
        path = output_dir / f"{stem}_{name}.wav"
        sf.write(path, samples * scale, sampling_rate, subtype="PCM_16")
        written.append(path)
    return written


class _MelSpectrogram:
    """Power mel spectrogram ``[n_mels, frames]`` of the figure: centred 25 ms Hann windows."""

    def __init__(self, sampling_rate: int):
        self.win_length = int(0.025 * sampling_rate)
        self.hop_length = int(0.010 * sampling_rate)
        self.filterbank = mel_filterbank(_N_FFT, _N_MELS, 0.0, None, sampling_rate).float()

    def __call__(self, samples: torch.Tensor) -> torch.Tensor:
        spectrum = torch.stft(
            samples,
            n_fft=_N_FFT,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=torch.hann_window(self.win_length),
            return_complex=True,
        )
        return self.filterbank.T @ spectrum.abs().square()


def _unique_stems(paths: Sequence[str | os.PathLike]) -> list[str]:
    seen: dict[str, int] = {}
    stems = []
    for path in paths:
        stem = Path(path).stem
        seen[stem] = seen.get(stem, 0) + 1
        stems.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
    return stems


def _log_mel_db(mel: _MelSpectrogram, samples: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        power = mel(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)))
    return (10.0 * torch.log10(power.clamp(min=1e-10))).numpy()


def _normalised_log_mel(mel: _MelSpectrogram, samples: np.ndarray) -> torch.Tensor:
    # Zero mean and unit variance per mel bin, as the CNN family's extractor normalises, so the
    # masks (value 0) show what the model would see.
    log_mel = torch.from_numpy(_log_mel_db(mel, samples))
    mean = log_mel.mean(dim=-1, keepdim=True)
    std = log_mel.std(dim=-1, keepdim=True).clamp(min=1e-5)
    return (log_mel - mean) / std


def _plot_spectrograms(
    path: Path,
    mel: _MelSpectrogram,
    versions: list[tuple[str, np.ndarray]],
    masked: tuple[str, np.ndarray] | None,
    sampling_rate: int,
    *,
    title: str,
) -> None:
    rows = len(versions) + (masked is not None)
    figure = Figure(figsize=(10, 2.0 * rows + 0.6), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, 1, squeeze=False)[:, 0]
    spectrograms = [(name, _log_mel_db(mel, samples), len(samples)) for name, samples in versions]
    top = max(float(s.max()) for _, s, _ in spectrograms)
    longest = max(length for _, _, length in spectrograms) / sampling_rate
    for axis, (name, spectrogram, length) in zip(axes, spectrograms, strict=False):
        image = axis.imshow(
            spectrogram,
            origin="lower",
            aspect="auto",
            extent=(0, length / sampling_rate, 0, spectrogram.shape[0]),
            vmin=top - _DYNAMIC_RANGE_DB,
            vmax=top,
            cmap="magma",
        )
        axis.set_title(f"{name} ({length / sampling_rate:.2f} s)", fontsize=9)
        axis.set_ylabel("mel bin")
        axis.set_xlim(0, longest)
    figure.colorbar(image, ax=list(axes[: len(spectrograms)]), label="dB", shrink=0.8)
    if masked is not None:
        name, features = masked
        axis = axes[-1]
        duration = features.shape[-1] * mel.hop_length / sampling_rate
        image = axis.imshow(
            features,
            origin="lower",
            aspect="auto",
            extent=(0, duration, 0, features.shape[0]),
            cmap="viridis",
        )
        axis.set_title(f"{name} with SpecAugment masks (normalised log-mel; masks = 0)", fontsize=9)
        axis.set_ylabel("mel bin")
        axis.set_xlim(0, longest)
        figure.colorbar(image, ax=axis, label="normalised", shrink=0.8)
    axes[-1].set_xlabel("time (s)")
    figure.suptitle(title, fontsize=10)
    figure.savefig(path, dpi=100)
