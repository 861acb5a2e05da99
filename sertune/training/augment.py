"""On-the-fly, seeded data augmentation for training: waveform effects and SpecAugment.

Two composable pieces, both configured by :class:`AugmentationArguments` and both off by default
(every probability is 0.0), so a recipe that adds the arguments trains exactly as before until an
option is set:

* :class:`WaveformAugmenter` changes a 1-D waveform, in a DataLoader worker, before feature
  extraction. The effects, each applied with its own probability, run in this order:

  1. speed perturbation (resampling: tempo *and* pitch change, the length becomes
     ``round(n / factor)`` samples, give or take one),
  2. pitch shift (phase-vocoder time stretch, then resampling; the length is kept),
  3. reverberation (convolution with a room impulse response from ``rir_dir``),
  4. additive noise at a random SNR (excerpts of files from ``noise_dir``, or generated
     white / pink / brown noise),
  5. gain in dB,
  6. time shift (zeros in on one side, samples out on the other; the length is kept).

  Noise is added after reverberation because recorded noise is not in the speaker's room, and
  gain comes after noise so that it scales speech and noise alike (the SNR stays as drawn).

* :class:`SpecAugment` masks random time and frequency bands of log-mel features (the CNN
  family's ``[batch, segments, 3, n_mels, frames]`` input) in the collator.

All randomness comes from the ``numpy.random.Generator`` the caller passes, so the caller decides
the seeding (e.g. ``default_rng((seed, epoch, row, 1))`` in a dataset) and a run is reproducible
whatever the worker count. The smaller functions (:func:`speed_perturb`, :func:`pitch_shift`,
:func:`reverberate`, :func:`add_noise_at_snr`, :func:`coloured_noise`, :func:`apply_gain_db`,
:func:`time_shift`) are deterministic given their arguments and usable on their own.
"""

from __future__ import annotations

import logging
import math
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sertune.audio import load_audio, resample
from sertune.data.files import AUDIO_SUFFIXES

logger = logging.getLogger(__name__)

__all__ = [
    "NOISE_COLORS",
    "AugmentationArguments",
    "SpecAugment",
    "WaveformAugmenter",
    "add_noise_at_snr",
    "apply_gain_db",
    "coloured_noise",
    "phase_vocoder",
    "pitch_shift",
    "reverberate",
    "speed_perturb",
    "time_shift",
]

#: Values of ``noise_color``: a fixed colour, or ``"random"`` to draw one per utterance.
NOISE_COLORS: tuple[str, ...] = ("white", "pink", "brown", "random")

#: Spectral power exponent of each colour: power density proportional to ``1 / f**exponent``.
_COLOR_EXPONENTS: dict[str, float] = {"white": 0.0, "pink": 1.0, "brown": 2.0}

#: Decoded noise and RIR files each worker keeps, in samples (128 MB of float32): enough for a
#: typical RIR set, while a large noise collection (MUSAN) cycles through the cache instead of
#: filling the memory of every worker.
CACHE_MAX_SAMPLES = 32_000_000

# Phase-vocoder STFT of the pitch shift: 32 ms windows, 75 % overlap at 16 kHz.
_PITCH_N_FFT = 512
_PITCH_HOP = 128

_PROBABILITY_FIELDS = (
    "speed_prob",
    "noise_prob",
    "gain_prob",
    "shift_prob",
    "pitch_prob",
    "reverb_prob",
    "spec_time_mask_prob",
    "spec_freq_mask_prob",
)


@dataclass
class AugmentationArguments:
    """Options of the training-time augmentation; every probability defaults to 0.0 (off).

    Waveform effects run in the order speed, pitch, reverb, noise, gain, shift (see the module
    docstring); the ``spec_*`` options configure :class:`SpecAugment` on log-mel features.
    """

    speed_prob: float = field(
        default=0.0,
        metadata={"help": "Probability of speed perturbation (tempo and pitch; length / factor)."},
    )
    speed_factors: list[float] = field(
        default_factory=lambda: [0.9, 1.0, 1.1],
        metadata={"help": "Speed factors to draw from (1.1: 10 %% faster and shorter)."},
    )
    pitch_prob: float = field(
        default=0.0, metadata={"help": "Probability of a pitch shift (length kept)."}
    )
    pitch_semitones_max: float = field(
        default=2.0,
        metadata={"help": "Pitch shifts are drawn uniformly from [-max, max] semitones."},
    )
    reverb_prob: float = field(
        default=0.0,
        metadata={
            "help": "Probability of convolving with a room impulse response (needs rir_dir)."
        },
    )
    rir_dir: str | None = field(
        default=None,
        metadata={
            "help": "Folder of room impulse responses (.wav/.flac/.ogg, searched recursively)."
        },
    )
    noise_prob: float = field(
        default=0.0, metadata={"help": "Probability of adding noise at a random SNR."}
    )
    noise_snr_min: float = field(default=5.0, metadata={"help": "Lowest noise SNR in dB."})
    noise_snr_max: float = field(default=20.0, metadata={"help": "Highest noise SNR in dB."})
    noise_dir: str | None = field(
        default=None,
        metadata={
            "help": "Folder of noise recordings (.wav/.flac/.ogg, searched recursively); "
            "without it, noise of noise_color is generated."
        },
    )
    noise_color: str = field(
        default="white",
        metadata={
            "help": "Generated noise colour: white, pink, brown, or random (drawn each time)."
        },
    )
    gain_prob: float = field(default=0.0, metadata={"help": "Probability of a random gain."})
    gain_db_min: float = field(default=-6.0, metadata={"help": "Lowest gain in dB."})
    gain_db_max: float = field(default=6.0, metadata={"help": "Highest gain in dB."})
    shift_prob: float = field(
        default=0.0, metadata={"help": "Probability of a time shift (zero-padded, length kept)."}
    )
    max_shift_seconds: float = field(
        default=0.2, metadata={"help": "Largest time shift, either way, in seconds."}
    )
    spec_time_mask_prob: float = field(
        default=0.0, metadata={"help": "SpecAugment: probability per example of time masks."}
    )
    spec_time_masks: int = field(
        default=2, metadata={"help": "SpecAugment: time masks per segment."}
    )
    spec_time_mask_frames: int = field(
        default=20, metadata={"help": "SpecAugment: largest time mask, in frames."}
    )
    spec_freq_mask_prob: float = field(
        default=0.0, metadata={"help": "SpecAugment: probability per example of frequency masks."}
    )
    spec_freq_masks: int = field(
        default=2, metadata={"help": "SpecAugment: frequency masks per segment."}
    )
    spec_freq_mask_bins: int = field(
        default=8, metadata={"help": "SpecAugment: largest frequency mask, in mel bins."}
    )

    def __post_init__(self) -> None:
        for name in _PROBABILITY_FIELDS:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
        self.speed_factors = [float(factor) for factor in self.speed_factors]
        if not self.speed_factors:
            raise ValueError("speed_factors must name at least one factor")
        if any(not math.isfinite(f) or f <= 0 for f in self.speed_factors):
            raise ValueError(f"speed_factors must be positive, got {self.speed_factors}")
        if not 0.0 <= self.pitch_semitones_max <= 12.0:
            raise ValueError(
                f"pitch_semitones_max must be in [0, 12], got {self.pitch_semitones_max}"
            )
        if self.reverb_prob > 0 and not self.rir_dir:
            raise ValueError(
                f"reverb_prob is {self.reverb_prob} but no rir_dir is set: reverberation needs "
                "a folder of room impulse responses"
            )
        _check_range("noise_snr_min", self.noise_snr_min, "noise_snr_max", self.noise_snr_max)
        if self.noise_color not in NOISE_COLORS:
            raise ValueError(
                f"unknown noise_color {self.noise_color!r}; expected one of {list(NOISE_COLORS)}"
            )
        _check_range("gain_db_min", self.gain_db_min, "gain_db_max", self.gain_db_max)
        if self.max_shift_seconds < 0:
            raise ValueError(f"max_shift_seconds must be >= 0, got {self.max_shift_seconds}")
        for name in (
            "spec_time_masks",
            "spec_time_mask_frames",
            "spec_freq_masks",
            "spec_freq_mask_bins",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def waveform_enabled(self) -> bool:
        """Whether any waveform effect has a non-zero probability."""
        return any(
            getattr(self, name) > 0
            for name in (
                "speed_prob",
                "pitch_prob",
                "reverb_prob",
                "noise_prob",
                "gain_prob",
                "shift_prob",
            )
        )


def _check_range(low_name: str, low: float, high_name: str, high: float) -> None:
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{low_name} and {high_name} must be finite, got {low} and {high}")
    if low > high:
        raise ValueError(f"{low_name} ({low}) must not exceed {high_name} ({high})")


# --------------------------------------------------------------------------------------------
# The effects, one deterministic function each.
# --------------------------------------------------------------------------------------------


def speed_perturb(waveform: np.ndarray, sampling_rate: int, factor: float) -> np.ndarray:
    """Play a waveform ``factor`` times faster: tempo and pitch rise together, as on tape.

    The signal is treated as if recorded at ``sampling_rate * factor`` (rounded to whole Hz) and
    resampled to ``sampling_rate``, so the result has ``round(n / factor)`` samples, give or take
    one (Ko et al., 2015, "Audio augmentation for speech recognition").

    Args:
        waveform: 1-D float samples.
        sampling_rate: Their rate in Hz.
        factor: Speed factor, > 0 (1.1: 10 % faster, about 9 % shorter).
    """
    if factor <= 0:
        raise ValueError(f"speed factor must be positive, got {factor}")
    apparent_rate = int(round(sampling_rate * factor))
    out = resample(np.asarray(waveform, dtype=np.float32), apparent_rate, sampling_rate)
    return np.asarray(out, dtype=np.float32)


def pitch_shift(waveform: np.ndarray, sampling_rate: int, semitones: float) -> np.ndarray:
    """Shift the pitch by ``semitones`` and keep the duration (and the length, exactly).

    A phase vocoder stretches the signal by ``r = 2 ** (semitones / 12)`` (pitch unchanged),
    then resampling from ``sampling_rate * r`` to ``sampling_rate`` shortens it back and raises
    every frequency by ``r``; libsoxr resamples any such ratio at the same cost. The last sample
    or two may be cut or zero-padded to keep the input's length.

    Args:
        waveform: 1-D float samples.
        sampling_rate: Their rate in Hz.
        semitones: Shift; positive raises the pitch, any real value.
    """
    samples = np.asarray(waveform, dtype=np.float32)
    length = len(samples)
    if semitones == 0 or length == 0:
        return samples.copy()
    ratio = 2.0 ** (semitones / 12.0)
    # Utterances shorter than one STFT window are padded, then cut back below.
    padded = samples if length >= _PITCH_N_FFT else np.pad(samples, (0, _PITCH_N_FFT - length))
    window = torch.hann_window(_PITCH_N_FFT)
    with torch.inference_mode():
        spectrum = torch.stft(
            torch.from_numpy(np.ascontiguousarray(padded)),
            n_fft=_PITCH_N_FFT,
            hop_length=_PITCH_HOP,
            window=window,
            return_complex=True,
        )
        stretched = phase_vocoder(spectrum, 1.0 / ratio, _PITCH_HOP)
        slow = torch.istft(
            stretched,
            n_fft=_PITCH_N_FFT,
            hop_length=_PITCH_HOP,
            window=window,
            length=int(round(len(padded) * ratio)),
        ).numpy()
    shifted = resample(slow, int(round(sampling_rate * ratio)), sampling_rate)
    return _fit_length(np.asarray(shifted, dtype=np.float32), length)


def phase_vocoder(spectrum: torch.Tensor, rate: float, hop_length: int) -> torch.Tensor:
    """Time-stretch a complex STFT ``[freq, frames]`` by ``rate`` without changing its pitch.

    The classic phase vocoder (Laroche & Dolson, 1999): frames are read at steps of ``rate``,
    magnitudes interpolated linearly between neighbours, and each bin's phase advanced by its
    measured instantaneous frequency, so partials stay continuous. ``rate > 1`` shortens.

    Args:
        spectrum: Complex STFT of one signal, ``[n_fft // 2 + 1, frames]``.
        rate: Speed-up factor; the result has ``ceil(frames / rate)`` frames.
        hop_length: The STFT's hop in samples (sets each bin's expected phase advance).
    """
    bins, frames = spectrum.shape
    expected_advance = torch.linspace(0, math.pi * hop_length, bins, dtype=torch.float64)[:, None]
    steps = torch.arange(0, frames, rate, dtype=torch.float64)
    padded = torch.nn.functional.pad(spectrum.to(torch.complex128), (0, 2))
    before = padded.index_select(-1, steps.long())
    after = padded.index_select(-1, steps.long() + 1)
    advance = after.angle() - before.angle() - expected_advance
    advance = advance - 2 * math.pi * torch.round(advance / (2 * math.pi)) + expected_advance
    phase = torch.cat([spectrum[:, :1].angle().double(), advance[:, :-1]], dim=-1).cumsum(-1)
    fraction = steps % 1.0
    magnitude = fraction * after.abs() + (1 - fraction) * before.abs()
    return torch.polar(magnitude, phase).to(spectrum.dtype)


def reverberate(waveform: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve with a room impulse response; same length and RMS as the input.

    The RIR is cut to start at its direct-path peak (its largest absolute sample), so the speech
    is not delayed, and scaled to unit energy. The convolution runs by FFT; its tail past the
    input's end is dropped and the result is scaled back to the input's RMS, so reverberation
    changes the timbre, not the level.

    Args:
        waveform: 1-D float samples.
        rir: 1-D impulse response at the waveform's rate, not all zeros.
    """
    samples = np.asarray(waveform, dtype=np.float64)
    response = _prepare_rir(np.asarray(rir, dtype=np.float64))
    length = len(samples)
    if length == 0:
        return samples.astype(np.float32)
    size = length + len(response) - 1
    n_fft = 1 << (size - 1).bit_length()
    wet = np.fft.irfft(np.fft.rfft(samples, n_fft) * np.fft.rfft(response, n_fft), n_fft)[:length]
    dry_rms = _rms(samples)
    wet_rms = _rms(wet)
    if wet_rms > 0:
        wet *= dry_rms / wet_rms
    return wet.astype(np.float32)


def _prepare_rir(rir: np.ndarray) -> np.ndarray:
    if rir.ndim != 1 or len(rir) == 0:
        raise ValueError(f"a room impulse response must be 1-D and non-empty, got {rir.shape}")
    peak = int(np.argmax(np.abs(rir)))
    aligned = rir[peak:]
    energy = math.sqrt(float(np.dot(aligned, aligned)))
    if energy == 0:
        raise ValueError("room impulse response is all zeros")
    return aligned / energy


def coloured_noise(length: int, color: str, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise whose power spectrum falls as ``1 / f`` (pink) or ``1 / f**2`` (brown).

    White noise is drawn and its spectrum's amplitudes are scaled by ``f ** (-exponent / 2)``
    (the DC bin set to zero); the result has unit RMS.

    Args:
        length: Samples.
        color: ``"white"``, ``"pink"`` or ``"brown"``.
        rng: Source of the white noise.
    """
    if color not in _COLOR_EXPONENTS:
        raise ValueError(
            f"unknown noise colour {color!r}; expected one of {list(_COLOR_EXPONENTS)}"
        )
    white = rng.standard_normal(length)
    exponent = _COLOR_EXPONENTS[color]
    if exponent == 0 or length < 2:
        noise = white
    else:
        spectrum = np.fft.rfft(white)
        frequencies = np.arange(len(spectrum), dtype=np.float64)
        scale = np.zeros_like(frequencies)
        scale[1:] = frequencies[1:] ** (-exponent / 2)
        noise = np.fft.irfft(spectrum * scale, n=length)
    rms = _rms(noise)
    return (noise / rms if rms > 0 else noise).astype(np.float32)


def add_noise_at_snr(waveform: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Add ``noise`` scaled so that the signal-to-noise ratio is ``snr_db``.

    The SNR is ``10 * log10(P_signal / P_noise)`` with powers averaged over the whole utterance
    (silence included). A silent waveform or silent noise is returned unchanged: no scale gives
    the asked SNR.

    Args:
        waveform: 1-D float samples.
        noise: Noise of the same length.
        snr_db: Wanted SNR in dB.
    """
    samples = np.asarray(waveform, dtype=np.float64)
    noise = np.asarray(noise, dtype=np.float64)
    if noise.shape != samples.shape:
        raise ValueError(f"noise has shape {noise.shape}, the waveform {samples.shape}")
    signal_power = float(np.mean(samples**2)) if len(samples) else 0.0
    noise_power = float(np.mean(noise**2)) if len(noise) else 0.0
    if signal_power == 0 or noise_power == 0:
        return samples.astype(np.float32)
    scale = math.sqrt(signal_power / (noise_power * 10.0 ** (snr_db / 10.0)))
    return (samples + scale * noise).astype(np.float32)


def apply_gain_db(waveform: np.ndarray, gain_db: float) -> np.ndarray:
    """Scale by ``gain_db`` decibels (amplitude ``10 ** (gain_db / 20)``), without clipping."""
    return (np.asarray(waveform, dtype=np.float32) * np.float32(10.0 ** (gain_db / 20.0))).astype(
        np.float32
    )


def time_shift(waveform: np.ndarray, shift: int) -> np.ndarray:
    """Delay (``shift > 0``) or advance (``shift < 0``) by ``|shift|`` samples; length kept.

    Zeros come in on one side and samples fall off the other; nothing wraps around.
    """
    samples = np.asarray(waveform, dtype=np.float32)
    out = np.zeros_like(samples)
    length = len(samples)
    if abs(shift) >= length:
        return out
    if shift >= 0:
        out[shift:] = samples[: length - shift]
    else:
        out[:shift] = samples[-shift:]
    return out


def _rms(samples: np.ndarray) -> float:
    return math.sqrt(float(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0


def _fit_length(samples: np.ndarray, length: int) -> np.ndarray:
    if len(samples) >= length:
        return samples[:length]
    return np.pad(samples, (0, length - len(samples)))


def _audio_files(folder: str, option: str) -> list[Path]:
    """The audio files under ``folder`` (sorted, searched recursively), or a clear error."""
    path = Path(folder)
    if not path.exists():
        raise FileNotFoundError(f"{option}: {folder}: folder does not exist")
    if not path.is_dir():
        raise NotADirectoryError(f"{option}: {folder}: not a folder")
    files = sorted(
        file
        for file in path.rglob("*")
        if file.is_file()
        and file.suffix.lower() in AUDIO_SUFFIXES
        # macOS AppleDouble files carry an audio suffix but hold metadata.
        and not file.name.startswith("._")
    )
    if not files:
        raise ValueError(
            f"{option}: {folder}: no audio files ({'/'.join(sorted(AUDIO_SUFFIXES))}) in this "
            "folder or its sub-folders"
        )
    return files


# --------------------------------------------------------------------------------------------
# The augmenters.
# --------------------------------------------------------------------------------------------


class WaveformAugmenter:
    """Random waveform effects, each with its own probability, drawn from the caller's generator.

    The effects run in the order speed, pitch, reverb, noise, gain, shift; every one but speed
    keeps the length. Noise and RIR folders are listed when the augmenter is built (an empty or
    missing folder is an error then); the files are decoded on first use, in the process that
    uses them, and kept in a per-process cache of at most :data:`CACHE_MAX_SAMPLES` samples.
    Pickling drops the cache, so DataLoader workers start empty and no file handle is held.

    Args:
        args: The options; probabilities of 0 switch an effect off.
        sampling_rate: Rate of the waveforms it will get; noise and RIRs are resampled to it.

    Raises:
        FileNotFoundError: ``noise_dir`` or ``rir_dir`` does not exist (when its effect is on).
        ValueError: That folder holds no audio files.
    """

    def __init__(self, args: AugmentationArguments, sampling_rate: int):
        if sampling_rate <= 0:
            raise ValueError(f"sampling_rate must be positive, got {sampling_rate}")
        self.args = args
        self.sampling_rate = int(sampling_rate)
        self.noise_files: list[Path] = []
        self.rir_files: list[Path] = []
        if args.noise_prob > 0 and args.noise_dir:
            self.noise_files = _audio_files(args.noise_dir, "noise_dir")
        if args.reverb_prob > 0:
            self.rir_files = _audio_files(os.fspath(args.rir_dir), "rir_dir")
        self._cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._cached_samples = 0

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()
        state["_cached_samples"] = 0
        return state

    @property
    def enabled(self) -> bool:
        """Whether any effect can happen (some probability is above 0)."""
        return self.args.waveform_enabled

    def describe(self) -> list[str]:
        """One line per enabled effect, in the order they are applied (for the run log)."""
        a = self.args
        lines = []
        if a.speed_prob > 0:
            lines.append(f"speed perturbation: p={a.speed_prob}, factors {a.speed_factors}")
        if a.pitch_prob > 0:
            lines.append(
                f"pitch shift: p={a.pitch_prob}, uniform in "
                f"[-{a.pitch_semitones_max}, {a.pitch_semitones_max}] semitones"
            )
        if a.reverb_prob > 0:
            lines.append(
                f"reverberation: p={a.reverb_prob}, {len(self.rir_files)} RIRs from {a.rir_dir}"
            )
        if a.noise_prob > 0:
            source = (
                f"{len(self.noise_files)} files from {a.noise_dir}"
                if self.noise_files
                else f"generated {a.noise_color} noise"
            )
            lines.append(
                f"additive noise: p={a.noise_prob}, SNR uniform in "
                f"[{a.noise_snr_min}, {a.noise_snr_max}] dB, {source}"
            )
        if a.gain_prob > 0:
            lines.append(f"gain: p={a.gain_prob}, uniform in [{a.gain_db_min}, {a.gain_db_max}] dB")
        if a.shift_prob > 0:
            lines.append(f"time shift: p={a.shift_prob}, up to {a.max_shift_seconds} s either way")
        return lines

    def __call__(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Augment one utterance.

        Args:
            waveform: 1-D float samples at ``sampling_rate``.
            rng: The only source of randomness; seed it per example for reproducible runs.

        Returns:
            1-D float32 samples: the input itself (as float32) when no effect fires.
        """
        samples = np.asarray(waveform, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"expected a 1-D waveform, got shape {samples.shape}")
        if len(samples) == 0:
            return samples
        a = self.args
        rate = self.sampling_rate
        if _fires(rng, a.speed_prob):
            factor = float(a.speed_factors[int(rng.integers(len(a.speed_factors)))])
            samples = speed_perturb(samples, rate, factor)
        if _fires(rng, a.pitch_prob):
            semitones = float(rng.uniform(-a.pitch_semitones_max, a.pitch_semitones_max))
            samples = pitch_shift(samples, rate, semitones)
        if _fires(rng, a.reverb_prob):
            path = self.rir_files[int(rng.integers(len(self.rir_files)))]
            samples = reverberate(samples, self._load(path, "rir"))
        if _fires(rng, a.noise_prob):
            snr_db = float(rng.uniform(a.noise_snr_min, a.noise_snr_max))
            samples = add_noise_at_snr(samples, self._noise(len(samples), rng), snr_db)
        if _fires(rng, a.gain_prob):
            samples = apply_gain_db(samples, float(rng.uniform(a.gain_db_min, a.gain_db_max)))
        if _fires(rng, a.shift_prob):
            max_shift = int(round(a.max_shift_seconds * rate))
            samples = time_shift(samples, int(rng.integers(-max_shift, max_shift + 1)))
        return np.asarray(samples, dtype=np.float32)

    def _noise(self, length: int, rng: np.random.Generator) -> np.ndarray:
        if not self.noise_files:
            color = self.args.noise_color
            if color == "random":
                color = ("white", "pink", "brown")[int(rng.integers(3))]
            return coloured_noise(length, color, rng)
        path = self.noise_files[int(rng.integers(len(self.noise_files)))]
        noise = self._load(path, "noise")
        # A random excerpt; a file shorter than the utterance is looped from a random start.
        if len(noise) >= length:
            start = int(rng.integers(len(noise) - length + 1))
            return noise[start : start + length]
        start = int(rng.integers(len(noise)))
        return np.take(noise, np.arange(start, start + length), mode="wrap")

    def _load(self, path: Path, kind: str) -> np.ndarray:
        key = (kind, os.fspath(path))
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        samples = load_audio(path, self.sampling_rate)
        if not np.any(samples):
            raise ValueError(f"{path}: {kind} file is silent (all samples are zero)")
        if kind == "rir":
            samples = _prepare_rir(samples.astype(np.float64))
        self._cache[key] = samples
        self._cached_samples += len(samples)
        while self._cached_samples > CACHE_MAX_SAMPLES and len(self._cache) > 1:
            _, evicted = self._cache.popitem(last=False)
            self._cached_samples -= len(evicted)
        return samples


def _fires(rng: np.random.Generator, probability: float) -> bool:
    # No draw for an effect that is off, so switching one on leaves the others' draws in
    # configurations that never used it unchanged.
    if probability <= 0:
        return False
    return probability >= 1 or bool(rng.random() < probability)


class SpecAugment:
    """Time and frequency masks on log-mel features (Park et al., 2019), drawn per segment.

    Layouts: ``[batch, n_mels, frames]``, ``[batch, channels, n_mels, frames]`` or the CNN
    family's ``[batch, segments, channels, n_mels, frames]``. With 4 or more dimensions the
    third-last is channels (log-mel, delta, delta-delta), which share their image's masks: a band
    hidden in the log-mel but left in its deltas would still be seen. Whether an example gets
    time (frequency) masks is drawn once per example; when it does, each of its segments gets
    its own ``time_masks`` masks of a width drawn uniformly from ``[0, time_mask_frames]`` at a
    uniform position (likewise in frequency). Masks may overlap.

    The mask value is 0.0 by default: :class:`~sertune.models.logmel.LogMelFeatureExtractor`
    normalises each mel bin to zero mean (``normalization="utterance"`` or ``"global"``) and
    pads with 0.0, so a masked band reads as "average energy, no information". With
    ``normalization="none"`` pass the extractor's log floor or the utterance mean instead.

    Args:
        time_mask_prob: Probability per example of time masks.
        time_masks: Time masks per segment.
        time_mask_frames: Largest time-mask width in frames (cut to the frame count).
        freq_mask_prob: Probability per example of frequency masks.
        freq_masks: Frequency masks per segment.
        freq_mask_bins: Largest frequency-mask width in mel bins (cut to the bin count).
        mask_value: Value written in the masked cells.
    """

    def __init__(
        self,
        *,
        time_mask_prob: float = 0.0,
        time_masks: int = 2,
        time_mask_frames: int = 20,
        freq_mask_prob: float = 0.0,
        freq_masks: int = 2,
        freq_mask_bins: int = 8,
        mask_value: float = 0.0,
    ):
        for name, value in (("time_mask_prob", time_mask_prob), ("freq_mask_prob", freq_mask_prob)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
        for name, value in (
            ("time_masks", time_masks),
            ("time_mask_frames", time_mask_frames),
            ("freq_masks", freq_masks),
            ("freq_mask_bins", freq_mask_bins),
        ):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        self.time_mask_prob = float(time_mask_prob)
        self.time_masks = int(time_masks)
        self.time_mask_frames = int(time_mask_frames)
        self.freq_mask_prob = float(freq_mask_prob)
        self.freq_masks = int(freq_masks)
        self.freq_mask_bins = int(freq_mask_bins)
        self.mask_value = float(mask_value)

    @classmethod
    def from_arguments(cls, args: AugmentationArguments, *, mask_value: float = 0.0) -> SpecAugment:
        """SpecAugment configured by the ``spec_*`` options."""
        return cls(
            time_mask_prob=args.spec_time_mask_prob,
            time_masks=args.spec_time_masks,
            time_mask_frames=args.spec_time_mask_frames,
            freq_mask_prob=args.spec_freq_mask_prob,
            freq_masks=args.spec_freq_masks,
            freq_mask_bins=args.spec_freq_mask_bins,
            mask_value=mask_value,
        )

    @property
    def enabled(self) -> bool:
        """Whether any mask can be drawn."""
        time_on = self.time_mask_prob > 0 and self.time_masks > 0 and self.time_mask_frames > 0
        freq_on = self.freq_mask_prob > 0 and self.freq_masks > 0 and self.freq_mask_bins > 0
        return time_on or freq_on

    def describe(self) -> list[str]:
        """One line per enabled mask type (for the run log)."""
        lines = []
        if self.time_mask_prob > 0 and self.time_masks > 0 and self.time_mask_frames > 0:
            lines.append(
                f"SpecAugment time masks: p={self.time_mask_prob}, {self.time_masks} per "
                f"segment, up to {self.time_mask_frames} frames"
            )
        if self.freq_mask_prob > 0 and self.freq_masks > 0 and self.freq_mask_bins > 0:
            lines.append(
                f"SpecAugment frequency masks: p={self.freq_mask_prob}, {self.freq_masks} per "
                f"segment, up to {self.freq_mask_bins} mel bins"
            )
        return lines

    def __repr__(self) -> str:
        return (
            f"SpecAugment(time_mask_prob={self.time_mask_prob}, time_masks={self.time_masks}, "
            f"time_mask_frames={self.time_mask_frames}, freq_mask_prob={self.freq_mask_prob}, "
            f"freq_masks={self.freq_masks}, freq_mask_bins={self.freq_mask_bins}, "
            f"mask_value={self.mask_value})"
        )

    def __call__(self, features: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Mask a batch of features; the input is left untouched.

        Args:
            features: ``[batch, (segments,) (channels,) n_mels, frames]`` (see the class
                docstring).
            rng: The only source of randomness.

        Returns:
            A new tensor of the same shape, dtype and device.
        """
        if features.dim() < 3:
            raise ValueError(
                "SpecAugment expects [batch, n_mels, frames] or [batch, (segments,) channels, "
                f"n_mels, frames] features, got shape {tuple(features.shape)}"
            )
        if not self.enabled:
            return features.clone()
        n_mels, frames = features.shape[-2:]
        batch = features.shape[0]
        # Images: every index of the dimensions between batch and channels (the segments).
        image_shape = features.shape[1:-3] if features.dim() >= 4 else ()
        images_per_example = math.prod(image_shape)
        mask = np.zeros((batch, images_per_example, n_mels, frames), dtype=bool)
        for example in range(batch):
            if _fires(rng, self.time_mask_prob):
                time_mask = _band_masks(
                    rng, images_per_example, frames, self.time_masks, self.time_mask_frames
                )
                mask[example] |= time_mask[:, None, :]
            if _fires(rng, self.freq_mask_prob):
                freq_mask = _band_masks(
                    rng, images_per_example, n_mels, self.freq_masks, self.freq_mask_bins
                )
                mask[example] |= freq_mask[:, :, None]
        if features.dim() >= 4:
            # Broadcast over the channel dimension.
            mask = mask.reshape(batch, *image_shape, 1, n_mels, frames)
        else:
            mask = mask.reshape(batch, n_mels, frames)
        mask_tensor = torch.from_numpy(mask).to(features.device)
        return features.masked_fill(mask_tensor, self.mask_value)


def _band_masks(
    rng: np.random.Generator, images: int, size: int, count: int, max_width: int
) -> np.ndarray:
    """``[images, size]`` booleans: ``count`` bands per row, widths uniform in ``[0, max_width]``."""
    mask = np.zeros((images, size), dtype=bool)
    max_width = min(max_width, size)
    if count == 0 or max_width == 0:
        return mask
    widths = rng.integers(0, max_width + 1, size=(images, count))
    starts = rng.integers(0, size - widths + 1)
    positions = np.arange(size)
    for band in range(count):
        start = starts[:, band : band + 1]
        mask |= (positions >= start) & (positions < start + widths[:, band : band + 1])
    return mask
