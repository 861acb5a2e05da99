"""An on-disk cache of probe features, so that every fold, classifier and rerun extracts once.

Keyed like :class:`sertune.audio_cache.DecodedAudioCache`: an entry is named by the SHA-256 of
the feature source's fingerprint (feature set and package version, or the weights), the
sampling rate, and the audio file's resolved path, size and modification time (in-memory bytes
by their SHA-256), so an edited file or other weights get a new entry and a stale one is never
read. Entries are float32 ``.npy`` files written to a temporary file and renamed, so concurrent
runs can share a folder; an unreadable entry is extracted again with a warning.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from sertune.audio import load_audio
from sertune.audio_cache import save_float32_npy
from sertune.errors import AudioDecodeError
from sertune.probe.features import FeatureSource, ProbeError

logger = logging.getLogger(__name__)

#: Changes whenever stored features would differ for the same key.
FEATURE_CACHE_VERSION = 1


class FeatureCache:
    """Features of one source, one ``.npy`` file per utterance under ``folder``.

    Sources share a folder: their fingerprints are part of every key.

    Args:
        folder: Cache root (created when missing).
        source: The feature source whose features it holds.
    """

    def __init__(self, folder: str | os.PathLike, source: FeatureSource):
        self.folder = Path(folder).expanduser()
        self.source = source
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ProbeError(f"--cache_dir {self.folder}: cannot create it ({error})") from None
        if not os.access(self.folder, os.W_OK):
            raise ProbeError(f"--cache_dir {self.folder}: not writable; choose another folder")
        self.hits = 0
        self.misses = 0

    def key(self, audio: Any) -> str:
        """The entry name of an audio source (a path, or a ``{"path", "bytes"}`` row value)."""
        path, data = _path_and_bytes(audio)
        if data is not None:
            identity = f"bytes:{hashlib.sha256(data).hexdigest()}"
        else:
            resolved = Path(path).resolve()
            try:
                stat = resolved.stat()
            except OSError as error:
                raise AudioDecodeError(path, f"cannot read the file ({error.strerror})") from None
            identity = f"file:{resolved}:{stat.st_size}:{stat.st_mtime_ns}"
        text = (
            f"v{FEATURE_CACHE_VERSION}|{self.source.fingerprint}|"
            f"{self.source.sampling_rate}|{identity}"
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def features(self, audio: Any) -> np.ndarray:
        """The source's features of ``audio``, from the cache when it holds them."""
        key = self.key(audio)
        entry = self.folder / key[:2] / f"{key}.npy"
        try:
            features = np.load(entry, allow_pickle=False)
            self.hits += 1
            return features
        except FileNotFoundError:
            pass
        except (OSError, ValueError, EOFError) as error:
            logger.warning("%s is unreadable (%s); extracting again", entry, error)
        self.misses += 1
        waveform = load_audio(audio, self.source.sampling_rate)
        features = self.source(waveform)
        if not np.isfinite(features).all():
            raise ProbeError(
                f"{_describe(audio)}: {self.source.name} gave non-finite features "
                "(silent or too short audio?); fix or leave out the file"
            )
        save_float32_npy(entry, features)
        return features


def extract_features(audio: Sequence[Any], cache: FeatureCache) -> np.ndarray:
    """Features of every utterance, stacked: ``[num_utterances, ...]``.

    Args:
        audio: The corpus's ``audio`` column (paths or ``{"path", "bytes"}`` dicts).
        cache: The cache of the feature source.

    Raises:
        AudioDecodeError: A file cannot be decoded.
        ProbeError: The source cannot take an utterance (the file is named).
    """
    rows = []
    for item in tqdm(audio, desc=f"features {cache.source.name}", unit="file", leave=False):
        try:
            rows.append(cache.features(item))
        except (RuntimeError, ValueError) as error:
            if isinstance(error, ProbeError | AudioDecodeError):
                raise
            raise ProbeError(f"{_describe(item)}: {cache.source.name} failed: {error}") from None
    logger.info(
        "%s: %d utterances, %d from the cache %s",
        cache.source.name,
        len(rows),
        cache.hits,
        cache.folder,
    )
    return np.stack(rows)


def _path_and_bytes(audio: Any) -> tuple[str | None, bytes | None]:
    if isinstance(audio, dict):
        if audio.get("bytes") is not None:
            return audio.get("path"), audio["bytes"]
        return audio.get("path"), None
    if isinstance(audio, bytes | bytearray):
        return None, bytes(audio)
    return os.fspath(audio), None


def _describe(audio: Any) -> str:
    path, data = _path_and_bytes(audio)
    return str(path) if path is not None else f"<{len(data)} bytes in memory>"


__all__ = ["FEATURE_CACHE_VERSION", "FeatureCache", "extract_features"]
