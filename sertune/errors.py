"""Exception types raised by sertune.

Every error that comes from user input (an audio file, a corpus folder, a split request) has a
dedicated type so that callers can catch it, and its message names the file or field at fault.
"""

from __future__ import annotations

import os


class SertuneError(Exception):
    """Base class of every error raised on purpose by sertune."""


class AudioDecodeError(SertuneError, ValueError):
    """An audio file could not be turned into a usable waveform.

    Args:
        path: The file at fault.
        problem: What is wrong with it, in words.
    """

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        where = "<in-memory audio>" if self.path is None else self.path
        super().__init__(f"{where}: {problem}")

    def __reduce__(self):
        # Keep the two-argument form picklable, so DataLoader workers can send it back.
        return (type(self), (self.path, self.problem))


class CorpusLayoutError(SertuneError, FileNotFoundError):
    """A corpus folder does not have the layout its loader expects."""


class CorpusFileError(SertuneError, ValueError):
    """A file inside a corpus cannot be used (unparsable name, unknown label or speaker, ...)."""


class DownloadError(SertuneError, RuntimeError):
    """A corpus archive could not be downloaded, verified or safely extracted."""


class SpeakerLeakError(SertuneError, AssertionError):
    """A split puts the same speaker on both sides of a train/validation/test boundary."""


class OptionError(SertuneError, ValueError):
    """A bad option value or config-file entry: a usage error (exit status 2 on the command line)."""


class ModelLoadError(SertuneError, ValueError):
    """A model folder cannot be loaded safely (no safetensors weights, damaged or non-finite)."""


class NonFiniteError(SertuneError, ValueError):
    """A waveform, a model output or a weight holds NaN or inf."""


class SaveError(SertuneError, OSError):
    """Writing a checkpoint or a model failed (a full disk, a read-only folder); names the folder."""


def from_dataloader_worker(error: BaseException) -> SertuneError | None:
    """The sertune error a DataLoader worker raised, recovered from torch's wrapper, or None.

    torch re-raises a worker's exception as ``RuntimeError("Caught X in DataLoader worker
    process N. Original Traceback ...")`` when ``X`` cannot be rebuilt from that message (as
    :class:`AudioDecodeError`, which takes a path and a problem); the last line of the
    traceback text holds the original message, which names the file.
    """
    text = str(error)
    if not isinstance(error, RuntimeError) or "in DataLoader worker" not in text:
        return None
    lines = [line for line in text.strip().splitlines() if line.strip()]
    name, _, message = lines[-1].partition(": ")
    if name.rsplit(".", 1)[-1] == "AudioDecodeError":
        return SertuneError(
            f"{message} (in a DataLoader worker); leave unreadable files out with "
            "--exclude_unreadable, or fix or remove the file"
        )
    return SertuneError(f"a DataLoader worker failed: {lines[-1]}")
