"""Audio decoding and resampling.

Files are decoded with soundfile (libsndfile: WAV, FLAC, OGG/Vorbis and more; 8/16/24/32-bit
integer and 32/64-bit float PCM), down-mixed to mono and resampled with torchaudio. Neither
torchcodec nor FFmpeg is involved. Every problem with a file is raised as
:class:`~sertune.errors.AudioDecodeError`, whose message starts with the file's path.
"""

from __future__ import annotations

import functools
import io
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

from sertune.errors import AudioDecodeError

#: Sample rate the speech encoders of the wav2vec 2.0 family were trained at.
DEFAULT_SAMPLING_RATE = 16_000

#: Rate pairs whose reduced ratio needs more filter phases than this are resampled by FFT.
MAX_SINC_PHASES = 1_000

AudioSource = str | os.PathLike | bytes | dict

#: libsndfile sample encodings that cannot hold NaN or infinity.
_INTEGER_SUBTYPES = frozenset({"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "ULAW", "ALAW"})


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says, read without decoding the samples.

    Args:
        path: The file.
        sampling_rate: Samples per second and channel.
        channels: Number of channels.
        frames: Samples per channel.
        format: Container, e.g. ``"WAV"``.
        subtype: Sample encoding, e.g. ``"PCM_16"``.
    """

    path: str
    sampling_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.sampling_rate


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Read a file's header (rate, channels, length, encoding) without decoding it.

    Args:
        path: Audio file.

    Raises:
        AudioDecodeError: The file is missing, unreadable or not audio soundfile can read.
    """
    path = _check_readable(path)
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioDecodeError(path, f"not a readable audio file ({_reason(error)})") from None
    return AudioInfo(
        path=path,
        sampling_rate=int(info.samplerate),
        channels=int(info.channels),
        frames=int(info.frames),
        format=str(info.format),
        subtype=str(info.subtype),
    )


def decode_audio(source: AudioSource) -> tuple[np.ndarray, int]:
    """Decode a file (or its bytes) to float32 samples in [-1, 1], all channels kept.

    Args:
        source: A path, the file's bytes, or a datasets-style ``{"path": ..., "bytes": ...}``
            dict (bytes win when both are set, as in ``datasets.Audio``).

    Returns:
        ``(samples, sampling_rate)`` with samples shaped ``[frames, channels]``.

    Raises:
        AudioDecodeError: Missing, unreadable, empty or non-finite audio.
    """
    path, data = _split_source(source)
    if data is None:
        if path is None:
            raise AudioDecodeError(None, "no path given")
        handle: str | io.BytesIO = path
    else:
        handle = io.BytesIO(data)
    try:
        with sf.SoundFile(handle) as file:
            sampling_rate, subtype = file.samplerate, file.subtype
            samples = file.read(dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, OSError) as error:
        # The checks cost file-system calls on every read: made only once reading has failed,
        # to say why (missing, a directory, unreadable, empty).
        if data is None:
            _check_readable(path)
        raise AudioDecodeError(path, f"not a readable audio file ({_reason(error)})") from None
    _check_samples(samples, subtype, path)
    return samples, int(sampling_rate)


def _check_samples(samples: np.ndarray, subtype: str, path: str | None) -> None:
    """Refuse decoded samples that are empty or, for float encodings, not finite."""
    if samples.shape[0] == 0:
        raise AudioDecodeError(path, "audio has zero length (no samples)")
    # Integer PCM decodes to finite values by construction; float data may hold NaN or inf.
    if subtype not in _INTEGER_SUBTYPES and not np.isfinite(samples).all():
        bad = int((~np.isfinite(samples)).sum())
        raise AudioDecodeError(path, f"audio has {bad} non-finite samples (NaN or inf)")


def load_audio(
    source: AudioSource,
    sampling_rate: int | None = DEFAULT_SAMPLING_RATE,
) -> np.ndarray:
    """Decode audio, down-mix it to mono and resample it.

    Args:
        source: A path, bytes or ``{"path", "bytes"}`` dict (see :func:`decode_audio`).
        sampling_rate: Target rate in Hz; ``None`` keeps the file's own rate.

    Returns:
        A 1-D float32 array.

    Raises:
        AudioDecodeError: The file cannot be decoded or holds no usable audio.
    """
    samples, file_rate = decode_audio(source)
    mono = to_mono(samples)
    if sampling_rate is None or sampling_rate == file_rate:
        return mono
    return resample(mono, file_rate, sampling_rate)


def load_audio_window(
    source: AudioSource,
    sampling_rate: int,
    num_samples: int,
    choose_start: Callable[[int], int],
) -> tuple[np.ndarray, int]:
    """``load_audio(source, sampling_rate)[start : start + num_samples]``, decoding only that part.

    A training crop of a long file needs a few seconds of it: this reads the window's frames
    (plus the resampling filter's reach on each side, aligned to the filter's phase period) and
    resamples only those, at a fraction of the cost. The result equals cropping the fully
    resampled audio to float rounding: the convolution's arithmetic depends a little on the
    input's length, so samples may differ by about 1e-7 (tested to 1e-6). Files no longer than
    the window, sources that cannot seek, and rate pairs resampled by FFT are loaded whole and
    cut. Only the frames read are checked for NaN and infinity; corpus validation and
    evaluation (which read whole files) check the rest.

    Args:
        source: A path, bytes or ``{"path", "bytes"}`` dict (see :func:`decode_audio`).
        sampling_rate: Target rate in Hz.
        num_samples: Window length at ``sampling_rate``.
        choose_start: Given the length of the whole resampled audio (longer than the window),
            returns the window's first sample.

    Returns:
        ``(window, start)``; the whole audio and 0 when it is not longer than the window.

    Raises:
        AudioDecodeError: The file cannot be decoded or holds no usable audio.
    """
    path, data = _split_source(source)
    handle = io.BytesIO(data) if data is not None else path
    try:
        file = sf.SoundFile(handle)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, OSError):
        # load_audio says why (missing, a directory, not audio, ...), naming the file.
        return _crop(load_audio(source, sampling_rate), num_samples, choose_start)
    with file:
        file_rate, frames = int(file.samplerate), int(file.frames)
        common = math.gcd(file_rate, int(sampling_rate))
        orig, new = file_rate // common, int(sampling_rate) // common
        sinc = file_rate == sampling_rate or max(orig, new) <= MAX_SINC_PHASES
        windowed = file.seekable() and frames > 0 and sinc
        if windowed:
            if file_rate == sampling_rate:
                total = frames
            else:
                # torchaudio's own output length (computed the same way, in float32).
                total = int(torch.ceil(torch.as_tensor(new * frames / orig)))
            windowed = total > num_samples
        first, last = 0, -1
        if windowed:
            start = int(choose_start(total))
            if file_rate == sampling_rate:
                first, last = start, start + num_samples
            else:
                # Output j * new + p comes from the input around j * orig: read whole filter
                # periods with `margin` periods of context on each side, as the full
                # resampling sees them.
                margin = -(-_resampler(file_rate, int(sampling_rate)).width // orig) + 1
                first_block = max(0, start // new - margin)
                last_block = (start + num_samples - 1) // new + margin + 1
                first, last = first_block * orig, min(frames, (last_block + 1) * orig)
        try:
            if windowed:
                file.seek(first)
            # Not windowed (short, unseekable or FFT-resampled): the whole file, from this
            # already open handle.
            samples = file.read(last - first if windowed else -1, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, OSError) as error:
            problem = "cannot decode its samples" if windowed else "not a readable audio file"
            raise AudioDecodeError(path, f"{problem} ({_reason(error)})") from None
        subtype = file.subtype
    _check_samples(samples, subtype, path)
    mono = to_mono(samples)
    if not windowed:
        return _crop(resample(mono, file_rate, sampling_rate), num_samples, choose_start)
    if file_rate != sampling_rate:
        offset = start - (first // orig) * new
        mono = resample(mono, file_rate, sampling_rate)[offset : offset + num_samples]
    if len(mono) < num_samples:
        # The header's length was off (or, past 2**24 samples, the float32 length torchaudio
        # computes rounds up): the whole file decides.
        return _crop(load_audio(source, sampling_rate), num_samples, choose_start)
    return mono, start


def _crop(
    waveform: np.ndarray, num_samples: int, choose_start: Callable[[int], int]
) -> tuple[np.ndarray, int]:
    if len(waveform) <= num_samples:
        return waveform, 0
    start = int(choose_start(len(waveform)))
    return waveform[start : start + num_samples], start


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average the channels of a ``[frames, channels]`` (or 1-D) array into one float32 row."""
    if samples.ndim == 1:
        return np.ascontiguousarray(samples, dtype=np.float32)
    if samples.ndim != 2:
        raise ValueError(f"expected [frames, channels] samples, got shape {samples.shape}")
    if samples.shape[1] == 1:
        return np.ascontiguousarray(samples[:, 0], dtype=np.float32)
    return samples.mean(axis=1, dtype=np.float32)


def resample(waveform: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample a 1-D float waveform with torchaudio's band-limited sinc interpolation.

    The filter kernel for each (orig_rate, target_rate) pair is computed once per process and
    reused, so resampling a corpus costs one convolution per file. Rate pairs with almost no
    common divisor (TESS's 24,414 Hz to 16 kHz needs 8,000 filter phases) would need a kernel
    of hundreds of megabytes; those are resampled in the frequency domain instead (the
    spectrum truncated or zero-padded to the new Nyquist frequency, as ``scipy.signal.resample``
    does).

    Args:
        waveform: 1-D float32 samples.
        orig_rate: Its rate in Hz.
        target_rate: Wanted rate in Hz.
    """
    if orig_rate <= 0 or target_rate <= 0:
        raise ValueError(f"sampling rates must be positive, got {orig_rate} -> {target_rate}")
    if orig_rate == target_rate:
        return waveform
    common = math.gcd(int(orig_rate), int(target_rate))
    if max(orig_rate, target_rate) // common > MAX_SINC_PHASES:
        return _fft_resample(waveform, orig_rate, target_rate)
    resampler = _resampler(int(orig_rate), int(target_rate))
    with torch.inference_mode():
        out = resampler(torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float32)))
    return out.numpy()


def _fft_resample(waveform: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    length = len(waveform)
    # The same output length as torchaudio's resampler: ceil(length * target / orig).
    new_length = -(-length * target_rate // orig_rate)
    spectrum = np.fft.rfft(np.asarray(waveform, dtype=np.float64))
    bins = new_length // 2 + 1
    if bins <= len(spectrum):
        spectrum = spectrum[:bins]
    else:
        spectrum = np.concatenate([spectrum, np.zeros(bins - len(spectrum), spectrum.dtype)])
    out = np.fft.irfft(spectrum, n=new_length) * (new_length / length)
    return out.astype(np.float32)


@functools.lru_cache(maxsize=32)
def _resampler(orig_rate: int, target_rate: int) -> torchaudio.transforms.Resample:
    return torchaudio.transforms.Resample(orig_rate, target_rate, dtype=torch.float32)


def _split_source(source: AudioSource) -> tuple[str | None, bytes | None]:
    if isinstance(source, dict):
        unknown = set(source).difference({"path", "bytes"})
        if unknown:
            raise TypeError(f"audio dict has unexpected keys {sorted(unknown)}")
        data = source.get("bytes")
        path = source.get("path")
        if data is None and path is None:
            raise AudioDecodeError(None, "audio dict has neither 'path' nor 'bytes'")
        return (None if path is None else os.fspath(path)), data
    if isinstance(source, bytes | bytearray):
        return None, bytes(source)
    if isinstance(source, str | os.PathLike):
        return os.fspath(source), None
    raise TypeError(f"cannot read audio from {type(source).__name__}; give a path or bytes")


def _check_readable(path: str | os.PathLike | None) -> str:
    if path is None:
        raise AudioDecodeError(None, "no path given")
    path = os.fspath(path)
    file = Path(path)
    if not file.exists():
        raise AudioDecodeError(path, "file does not exist")
    if file.is_dir():
        raise AudioDecodeError(path, "is a directory, not an audio file")
    if not os.access(path, os.R_OK):
        raise AudioDecodeError(path, "permission denied (file is not readable)")
    if file.stat().st_size == 0:
        raise AudioDecodeError(path, "file is empty (0 bytes)")
    return path


def _reason(error: Exception) -> str:
    text = str(error).strip()
    # libsndfile prefixes its message with the path, which the caller already puts first.
    for prefix in ("Error opening", "Internal error"):
        if text.startswith(prefix):
            text = text.split(":", 1)[-1].strip() if ":" in text else text
    return text or type(error).__name__
