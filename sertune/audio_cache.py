"""An on-disk cache of decoded, down-mixed and resampled audio, shared by folds and runs.

Decoding and resampling cost the same every epoch, fold and run; a cache folder keeps each
utterance as a float32 ``.npy`` file at the model's rate, so later reads are one file read.
Entries are keyed by the source and the rate: a file by its resolved path, size and
modification time (so an edited or replaced file gets a new entry, and the stale one is never
read), in-memory bytes by their SHA-256. A file replaced by another of the same size whose
modification time was kept (``cp -p``, ``rsync -a``) is not noticed: clear the folder then.
Entries are written to a temporary file and renamed, so DataLoader workers and concurrent runs
can share a folder; an unreadable entry is decoded again and replaced, with a warning. Delete
the folder to reclaim the space.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from sertune.audio import AudioSource, _check_readable, _split_source, load_audio

logger = logging.getLogger(__name__)

#: Changes whenever the stored arrays would differ (decoder, down-mix or resampler changes).
CACHE_FORMAT_VERSION = 1


class DecodedAudioCache:
    """Decoded audio at a fixed rate, stored under ``folder``.

    Args:
        folder: Cache folder (created when missing).
        sampling_rate: Rate of the stored audio; ``None`` keeps each file's own rate.
    """

    def __init__(self, folder: str | os.PathLike, sampling_rate: int | None):
        self.folder = Path(folder).expanduser()
        self.sampling_rate = sampling_rate
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OSError(
                f"{self.folder}: cannot create the audio cache folder ({error})"
            ) from error
        if not os.access(self.folder, os.W_OK):
            raise PermissionError(f"{self.folder}: the audio cache folder is not writable")
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"DecodedAudioCache({str(self.folder)!r}, sampling_rate={self.sampling_rate})"

    def key(self, source: AudioSource) -> str:
        """The entry name of ``source`` at this cache's rate.

        Raises:
            AudioDecodeError: A path that does not exist (named in the message).
        """
        path, data = _split_source(source)
        if data is not None:
            identity = f"bytes:{hashlib.sha256(data).hexdigest()}"
        else:
            resolved = Path(path).resolve()
            try:
                stat = resolved.stat()
            except OSError:
                _check_readable(path)  # says why, naming the file
                raise
            # Directories, empty and unreadable files fail in load_audio, which names them.
            identity = f"file:{resolved}:{stat.st_size}:{stat.st_mtime_ns}"
        text = f"v{CACHE_FORMAT_VERSION}|{self.sampling_rate}|{identity}"
        return hashlib.sha256(text.encode()).hexdigest()

    def load(self, source: AudioSource) -> np.ndarray:
        """``load_audio(source, sampling_rate)``, from the cache when it holds the entry.

        Raises:
            AudioDecodeError: The source cannot be decoded (nothing is cached then).
        """
        key = self.key(source)
        entry = self.folder / key[:2] / f"{key}.npy"
        reason = None
        try:
            waveform = np.load(entry, allow_pickle=False)
            if waveform.dtype == np.float32 and waveform.ndim == 1:
                self.hits += 1
                return waveform
            reason = f"holds a {waveform.dtype} array of shape {waveform.shape}"
        except FileNotFoundError:
            pass  # not cached yet
        except (OSError, ValueError, EOFError) as error:
            reason = f"is unreadable ({error})"
        if reason is not None:
            logger.warning("%s %s; decoding %s again", entry, reason, _describe(source))
        self.misses += 1
        waveform = load_audio(source, self.sampling_rate)
        self._store(entry, waveform)
        return waveform

    def _store(self, entry: Path, waveform: np.ndarray) -> None:
        save_float32_npy(entry, waveform)


def save_float32_npy(entry: Path, array: np.ndarray) -> None:
    """Write ``array`` as float32 ``.npy`` atomically: a reader sees the old entry or the new one.

    Args:
        entry: The file; its folder is created.
        array: What to store.
    """
    entry.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-", suffix=".npy")
    try:
        with os.fdopen(handle, "wb") as file:
            np.save(file, np.ascontiguousarray(array, dtype=np.float32))
        os.replace(temporary, entry)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _describe(source: AudioSource) -> str:
    path, data = _split_source(source)
    return str(path) if path is not None else f"<{len(data)} bytes in memory>"
