"""Check that every audio file of a corpus can be read, once per file version.

:func:`validate_corpus` opens every file of a corpus dataset before training starts, so that a
broken file stops a run at once with its name (or is left out on request) instead of failing in
a DataLoader worker hours later. A file counts as readable when

* it exists, is a regular file (or a link to one), can be read and is not empty;
* libsndfile reads its header (format, rate, channels) and the header reports at least one frame;
* every sample decodes, block by block (:data:`BLOCK_FRAMES` frames), to as many finite samples
  as the header promises. This catches files cut short after their header was written
  (interrupted copies and downloads), a header over data in another encoding, and a NaN or inf
  anywhere in the file, which would otherwise stop training in a DataLoader worker. It costs
  one decoding pass over the corpus, paid once: the result is cached per file version.

Results for readable files are cached in a JSON file under ``cache_dir`` (default
``$SERTUNE_CACHE/validation`` or ``~/.cache/sertune/validation``), keyed by the file's resolved
absolute path, size and modification time in nanoseconds. Validating an unchanged corpus again
reads no audio at all. Unreadable files are never cached: they are checked again on every run,
so a file that was fixed (or had its permissions changed) is picked up at once.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from datasets import Dataset

from sertune.audio import AudioInfo, audio_info
from sertune.errors import AudioDecodeError

logger = logging.getLogger(__name__)

#: Environment variable naming sertune's cache folder; validation results go to ``validation/``.
CACHE_HOME_ENV = "SERTUNE_CACHE"

#: Frames decoded at the start and at the end of every file.
BLOCK_FRAMES = 65_536

#: Name of the cache file inside ``cache_dir``.
CACHE_FILE_NAME = "audio_files.json"

#: Bumped when the checks change, so that results of older checks are not trusted.
CACHE_VERSION = 2  # 2: every sample is decoded (1 read the first and last blocks)

#: Unreadable files listed in :meth:`CorpusValidation.describe` before "and N more".
MAX_LISTED = 20


@dataclass(frozen=True)
class UnreadableFile:
    """A corpus row whose audio cannot be used.

    Args:
        row: Index of the row in the validated dataset.
        path: The file, as the dataset names it.
        reason: What is wrong with it, in words.
    """

    row: int
    path: str
    reason: str


@dataclass
class CorpusValidation:
    """The outcome of :func:`validate_corpus`.

    Args:
        checked: Number of rows checked (every row of the dataset).
        unreadable: The rows whose audio cannot be used, in row order.
        cached: How many readable files were taken from the cache without reading them.
    """

    checked: int
    unreadable: list[UnreadableFile] = field(default_factory=list)
    cached: int = 0

    @property
    def ok(self) -> bool:
        """Whether every file is readable."""
        return not self.unreadable

    @property
    def bad_rows(self) -> list[int]:
        """Row indices of the unreadable files."""
        return [item.row for item in self.unreadable]

    def describe(self, limit: int = MAX_LISTED) -> str:
        """One line per unreadable file (``path: reason``), at most ``limit``, then a count.

        Args:
            limit: How many files to list before summarising the rest as "... and N more".
        """
        lines = [f"  {item.path}: {item.reason}" for item in self.unreadable[:limit]]
        hidden = len(self.unreadable) - limit
        if hidden > 0:
            lines.append(f"  ... and {hidden} more")
        return "\n".join(lines)


def default_cache_dir() -> Path:
    """``$SERTUNE_CACHE/validation``, or ``~/.cache/sertune/validation`` when it is unset."""
    home = os.environ.get(CACHE_HOME_ENV)
    base = Path(home) if home else Path.home() / ".cache" / "sertune"
    return base / "validation"


def check_audio_file(path: str | os.PathLike) -> AudioInfo:
    """Read a file's header and decode all its samples; raise if it cannot be used.

    Args:
        path: Audio file.

    Returns:
        The header information.

    Raises:
        AudioDecodeError: The file is missing, unreadable, not audio, has no frames, is shorter
            than its header says, or holds non-finite samples.
    """
    info = audio_info(path)
    if info.frames <= 0:
        raise AudioDecodeError(info.path, "audio has zero length (no samples)")
    start = 0
    try:
        with sf.SoundFile(info.path) as handle:
            # Every sample is decoded, a block at a time (memory stays flat): a NaN in the
            # middle of a file would otherwise pass here and stop training in a worker.
            for samples in handle.blocks(BLOCK_FRAMES, dtype="float32", always_2d=True):
                if not np.isfinite(samples).all():
                    bad = int((~np.isfinite(samples)).sum())
                    raise AudioDecodeError(
                        info.path,
                        f"audio has {bad} non-finite samples (NaN or inf) in frames "
                        f"{start}-{start + samples.shape[0]}",
                    )
                start += samples.shape[0]
            if start < info.frames:
                raise AudioDecodeError(
                    info.path,
                    f"truncated: the header promises {info.frames} frames but only "
                    f"{start} could be read",
                )
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        if isinstance(error, AudioDecodeError):
            raise
        raise AudioDecodeError(info.path, f"cannot decode its samples ({error})") from None
    return info


def validate_corpus(
    dataset: Dataset,
    *,
    cache_dir: str | os.PathLike | None = None,
    audio_column: str = "audio",
) -> CorpusValidation:
    """Check that every row's audio file can be read (see the module docstring for the checks).

    Args:
        dataset: A corpus dataset whose ``audio_column`` holds ``{"path", "bytes"}`` values
            (``Audio(decode=False)``, as every corpus loader makes) or bare paths.
        cache_dir: Folder of the results cache; defaults to :func:`default_cache_dir`.
        audio_column: Column holding the audio.

    Returns:
        The number of rows checked and the unreadable ones with their reasons.

    Raises:
        ValueError: The dataset has no ``audio_column``.
    """
    if audio_column not in dataset.column_names:
        raise ValueError(f"dataset has no {audio_column!r} column; columns: {dataset.column_names}")
    cache_path = Path(cache_dir if cache_dir is not None else default_cache_dir()) / CACHE_FILE_NAME
    cache = _read_cache(cache_path)
    changed = False
    result = CorpusValidation(checked=len(dataset))
    for row, value in enumerate(dataset[audio_column]):
        path = _path_of(value)
        if path is None:
            result.unreadable.append(
                UnreadableFile(row, "<in-memory audio>", "the row holds bytes, not a file path")
            )
            continue
        key, version = _file_version(path)
        if key is not None and cache.get(key) == version:
            result.cached += 1
            continue
        try:
            check_audio_file(path)
        except AudioDecodeError as error:
            result.unreadable.append(UnreadableFile(row, path, error.problem))
            continue
        if key is not None:
            cache[key] = version
            changed = True
    if changed:
        _write_cache(cache_path, cache)
    logger.info(
        "validated %d audio files (%d from the cache at %s): %d unreadable",
        result.checked,
        result.cached,
        cache_path,
        len(result.unreadable),
    )
    return result


def _path_of(value: Any) -> str | None:
    if isinstance(value, dict):
        if value.get("path") is None or value.get("bytes") is not None:
            # Bytes win over the path when decoding (as in datasets.Audio), so a row with bytes
            # is not read from its path and a file check would not vouch for it.
            return None
        return os.fspath(value["path"])
    if isinstance(value, str | os.PathLike):
        return os.fspath(value)
    return None


def _file_version(path: str) -> tuple[str | None, list[int] | None]:
    """The cache key (resolved absolute path) and version (size, mtime_ns) of a file."""
    try:
        stat = os.stat(path)
    except OSError:
        # Missing, dangling link, ...: the check reports it; nothing to cache.
        return None, None
    return os.path.realpath(path), [stat.st_size, stat.st_mtime_ns]


def _read_cache(cache_path: Path) -> dict[str, list[int]]:
    try:
        text = cache_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as error:
        logger.warning(
            "cannot read the validation cache %s (%s); checking every file", cache_path, error
        )
        return {}
    try:
        content = json.loads(text)
    except json.JSONDecodeError as error:
        logger.warning(
            "validation cache %s is not valid JSON (%s); checking every file and rewriting it",
            cache_path,
            error,
        )
        return {}
    if not isinstance(content, dict) or content.get("version") != CACHE_VERSION:
        logger.info(
            "validation cache %s is from another sertune version; rebuilding it", cache_path
        )
        return {}
    files = content.get("files")
    return dict(files) if isinstance(files, dict) else {}


def _write_cache(cache_path: Path, files: dict[str, list[int]]) -> None:
    # Written to a temporary file and renamed, so that processes validating at the same time
    # (one per GPU) never read a half-written cache; the last writer wins, which only costs a
    # re-check of the files the others added.
    temporary: Path | None = None
    try:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=cache_path.parent, suffix=".tmp", delete=False
        ) as handle:
            temporary = Path(handle.name)
            json.dump({"version": CACHE_VERSION, "files": files}, handle)
        os.replace(temporary, cache_path)
    except OSError as error:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        logger.warning(
            "cannot write the validation cache %s (%s); the next run checks every file again",
            cache_path,
            error,
        )


__all__ = [
    "BLOCK_FRAMES",
    "CACHE_HOME_ENV",
    "CorpusValidation",
    "UnreadableFile",
    "check_audio_file",
    "default_cache_dir",
    "validate_corpus",
]
