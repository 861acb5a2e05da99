"""Audio decoding and resampling.

Files are decoded with soundfile (libsndfile: WAV, FLAC, OGG/Vorbis and more; 8/16/24/32-bit
integer and 32/64-bit float PCM), down-mixed to mono and resampled with soxr (libsoxr's
"HQ" band-limited resampler, any rate pair). Neither torchcodec nor FFmpeg is involved. Every
problem with a file is raised as :class:`~sertune.errors.AudioDecodeError`, whose message
starts with the file's path.
"""

from __future__ import annotations

import io
import math
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from sertune.errors import AudioDecodeError

#: Sample rate the speech encoders of the wav2vec 2.0 family were trained at.
DEFAULT_SAMPLING_RATE = 16_000

#: libsoxr quality preset of :func:`resample` (20-bit precision, 91 % of the band kept).
RESAMPLE_QUALITY = "HQ"

#: Input context, in seconds, read on each side of a training window before it is resampled:
#: longer than the reach of the "HQ" filter at every rate pair (measured: 10 ms suffices for
#: 8-96 kHz to 16 kHz), so the window equals the cropped whole-file resampling to float rounding.
WINDOW_CONTEXT_SECONDS = 0.05

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
        require_regular_file(path)
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
    if sampling_rate is None:
        return mono
    path, _ = _split_source(source)
    return _resample_decoded(mono, file_rate, sampling_rate, path)


def _resample_decoded(
    mono: np.ndarray, file_rate: int, sampling_rate: int, path: str | None
) -> np.ndarray:
    """:func:`resample`, refusing audio too short to leave one sample at the new rate."""
    if resampled_length(len(mono), file_rate, sampling_rate) == 0:
        raise AudioDecodeError(
            path,
            f"audio is too short to resample: {len(mono)} sample(s) at {file_rate} Hz leave "
            f"none at {sampling_rate} Hz",
        )
    return resample(mono, file_rate, sampling_rate)


def load_audio_window(
    source: AudioSource,
    sampling_rate: int,
    num_samples: int,
    choose_start: Callable[[int], int],
) -> tuple[np.ndarray, int]:
    """``load_audio(source, sampling_rate)[start : start + num_samples]``, decoding only that part.

    A training crop of a long file needs a few seconds of it: this reads the window's frames
    (plus :data:`WINDOW_CONTEXT_SECONDS` of context on each side, starting on a frame whose
    resampled position is a whole sample) and resamples only those, at a fraction of the cost.
    The result equals cropping the fully resampled audio to float rounding (tested to 1e-5):
    the resampler's arithmetic depends a little on where its input starts. Files no longer
    than the window and sources that cannot seek are loaded whole and cut. Only the frames read
    are checked for NaN and infinity; corpus validation and evaluation (which read whole files)
    check the rest.

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
    if data is None:
        require_regular_file(path)
    handle = io.BytesIO(data) if data is not None else path
    try:
        file = sf.SoundFile(handle)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, OSError):
        # load_audio says why (missing, a directory, not audio, ...), naming the file.
        return _crop(load_audio(source, sampling_rate), num_samples, choose_start)
    with file:
        file_rate, frames = int(file.samplerate), int(file.frames)
        total = resampled_length(frames, file_rate, sampling_rate)
        windowed = file.seekable() and frames > 0 and total > num_samples
        first, last, start = 0, -1, 0
        if windowed:
            start = int(choose_start(total))
            first, last = _window_frames(start, num_samples, frames, file_rate, sampling_rate)
        try:
            if windowed:
                file.seek(first)
            # Not windowed (short or unseekable): the whole file, from this already open handle.
            samples = file.read(last - first if windowed else -1, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, OSError) as error:
            problem = "cannot decode its samples" if windowed else "not a readable audio file"
            raise AudioDecodeError(path, f"{problem} ({_reason(error)})") from None
        subtype = file.subtype
    _check_samples(samples, subtype, path)
    mono = to_mono(samples)
    if not windowed:
        return _crop(
            _resample_decoded(mono, file_rate, sampling_rate, path), num_samples, choose_start
        )
    offset = start - first * sampling_rate // file_rate
    mono = resample(mono, file_rate, sampling_rate)[offset : offset + num_samples]
    if len(mono) < num_samples:
        # The header's length was off: the whole file decides.
        return _crop(load_audio(source, sampling_rate), num_samples, choose_start)
    return mono, start


def _window_frames(
    start: int, num_samples: int, frames: int, file_rate: int, sampling_rate: int
) -> tuple[int, int]:
    """File frames ``[first, last)`` to resample for output samples ``[start, start + num_samples)``.

    ``first`` is a multiple of the reduced ratio's input period, so that it lands on output
    sample ``first * sampling_rate / file_rate`` exactly, and both ends reach
    :data:`WINDOW_CONTEXT_SECONDS` past the window where the file allows.
    """
    if file_rate == sampling_rate:
        return start, start + num_samples
    period = file_rate // math.gcd(file_rate, sampling_rate)
    context = math.ceil(WINDOW_CONTEXT_SECONDS * file_rate)
    first = max(0, start * file_rate // sampling_rate - context) // period * period
    last = min(frames, -(-(start + num_samples) * file_rate // sampling_rate) + context)
    return first, last


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


def resampled_length(length: int, orig_rate: int, target_rate: int) -> int:
    """Samples :func:`resample` returns for ``length`` input samples: ``length * target / orig``
    rounded half up, as libsoxr computes it."""
    if orig_rate == target_rate:
        return length
    return (2 * length * target_rate + orig_rate) // (2 * orig_rate)


def resample(waveform: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample a 1-D float waveform with libsoxr (band-limited, any rate pair).

    The "HQ" preset (:data:`RESAMPLE_QUALITY`): a linear-phase filter with 20-bit precision
    that keeps 91 % of the lower Nyquist band. It costs the same for every rate pair, including
    those with almost no common divisor (TESS's 24,414 Hz to 16 kHz), and needs no cached
    kernel. The output has :func:`resampled_length` samples and is aligned with the input (no
    filter delay).

    Args:
        waveform: 1-D float32 samples.
        orig_rate: Its rate in Hz.
        target_rate: Wanted rate in Hz.
    """
    if orig_rate <= 0 or target_rate <= 0:
        raise ValueError(f"sampling rates must be positive, got {orig_rate} -> {target_rate}")
    if orig_rate == target_rate:
        return waveform
    samples = np.ascontiguousarray(waveform, dtype=np.float32)
    return soxr.resample(samples, orig_rate, target_rate, quality=RESAMPLE_QUALITY)


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


#: What ``stat`` calls the kinds of file that are not regular files.
_FILE_KINDS = {
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def require_regular_file(path: str | os.PathLike | None) -> str:
    """Refuse anything but a regular file before it is opened; returns the path as a string.

    Opening a named pipe blocks until something writes to it, and a device can stream forever,
    so these are reported, never opened. One ``stat`` call; the other checks of
    :func:`_check_readable` run only when it fails.

    Raises:
        AudioDecodeError: The path is missing, a directory, a pipe, socket or device.
    """
    if path is None:
        raise AudioDecodeError(None, "no path given")
    path = os.fspath(path)
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return _check_readable(path)  # says why (missing, permission, ...)
    if stat.S_ISDIR(mode):
        raise AudioDecodeError(path, "is a directory, not an audio file")
    if not stat.S_ISREG(mode):
        kind = _FILE_KINDS.get(stat.S_IFMT(mode), "not a regular file")
        raise AudioDecodeError(
            path, f"is {kind}, not a regular audio file: it is not opened (reading could block)"
        )
    return path


def _check_readable(path: str | os.PathLike | None) -> str:
    if path is None:
        raise AudioDecodeError(None, "no path given")
    path = os.fspath(path)
    file = Path(path)
    if not file.exists():
        raise AudioDecodeError(path, "file does not exist")
    if file.is_dir():
        raise AudioDecodeError(path, "is a directory, not an audio file")
    require_regular_file(path)
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
