"""A run's output folder: its lock, staged saves, resumable checkpoints and the training log.

A run holds an exclusive lock on its output folder (:func:`lock_output_dir`), so a second run
on the same folder fails at once; :func:`open_run_folder` takes it once for the whole run (a
recipe's :func:`~sertune.training.run.fit_and_report` opens the folder and hands it to
:func:`~sertune.training.loop.train`). Checkpoints and saved models are written into a
temporary sibling (``.tmp-*``), synced to disk, then renamed into place, so a run killed
mid-save leaves the previous checkpoint and model intact; the next run in the folder removes
the leftovers (:func:`prepare_output_dir`).

Layout of a run folder::

    .sertune.lock            who holds the folder (pid, host, start time)
    training_log.jsonl       one JSON record per logged step, evaluation and epoch
    train.log                the run's log messages
    best_model/              the best model so far (removed once the final model is saved)
    checkpoints/step-N/      resumable state: accelerate's save_state, loop_state.json and
                             the best model at that step
    model.safetensors, ...   the final model and its feature extractor
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import logging
import os
import re
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger

from sertune.errors import SaveError

if TYPE_CHECKING:
    from sertune.training.config import TrainingConfig

logger = get_logger(__name__)

CHECKPOINT_DIR = "checkpoints"
BEST_MODEL_DIR = "best_model"
STATE_FILE = "loop_state.json"
LOG_FILE = "training_log.jsonl"
RUN_LOG_FILE = "train.log"
CURVES_FILE = "training_curves.png"
TRACKER_RUN_NAME = "tensorboard"
LOCK_FILE = ".sertune.lock"
# Names of folders a save is still writing (or that a killed save left behind); nothing reads
# them, and the next run in the output folder removes them.
TEMP_PREFIX = ".tmp-"
FINAL_STAGING_DIR = f"{TEMP_PREFIX}final_model"


class OutputDirInUseError(RuntimeError):
    """Another live run holds the output folder's lock."""


# Lock descriptors this process holds, by resolved folder: a caller that holds the lock around
# train() (which opens the run folder) nests instead of locking itself out.
_held_locks: dict[Path, int] = {}


def _forget_locks_in_forked_child() -> None:
    # A forked child (a DataLoader worker) shares the lock's open file description; closing its
    # copy (never unlocking: that would release the parent's lock) lets the lock go as soon as
    # the parent dies, not when the last worker does.
    for descriptor in _held_locks.values():
        with contextlib.suppress(OSError):
            os.close(descriptor)
    _held_locks.clear()


os.register_at_fork(after_in_child=_forget_locks_in_forked_child)


@contextlib.contextmanager
def lock_output_dir(
    output_dir: str | os.PathLike, accelerator: Accelerator | None = None
) -> Iterator[None]:
    """Hold an exclusive lock on ``output_dir`` for the block, so no second run can use it.

    The lock is ``fcntl.flock`` on ``output_dir/.sertune.lock``, which records the holder's
    process id, host and start time. The operating system releases it when the process ends
    however it ends, so a killed run never leaves a stale lock. Only the main process locks;
    taking the lock again in the same process nests (the outer block releases it).

    Args:
        output_dir: The run's output folder (created if missing).
        accelerator: The run's `Accelerator`; the other processes of a multi-process run do
            nothing. ``None``: this process locks.

    Raises:
        OutputDirInUseError: Another live run holds the lock (also with
            ``overwrite_output_dir``: overwriting a live run's results is never right).
    """
    folder = Path(output_dir).resolve()
    if (accelerator is not None and not accelerator.is_main_process) or folder in _held_locks:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(descriptor, 1024, 0).decode("utf-8", "replace").strip()
        os.close(descriptor)
        raise OutputDirInUseError(
            f"{folder} is in use by another run ({holder or 'holder not recorded'}); wait for "
            "it to end or choose another output_dir (--overwrite_output_dir does not apply to "
            "a live run)"
        ) from None
    try:
        started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        os.ftruncate(descriptor, 0)
        os.pwrite(
            descriptor, f"pid {os.getpid()} on {socket.gethostname()} since {started}\n".encode(), 0
        )
        _held_locks[folder] = descriptor
        yield
    finally:
        _held_locks.pop(folder, None)
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)


def prepare_output_dir(output_dir: str | os.PathLike, config: TrainingConfig) -> None:
    """Refuse to mix two runs' results in one folder unless resuming or told to overwrite.

    Call it on the main process, holding :func:`lock_output_dir`, before writing anything into
    the folder; :func:`open_run_folder` does both. It first cleans up after saves a killed run
    left unfinished (``.tmp-*`` folders). ``run_config.json`` and ``train.log`` alone do not
    count as an earlier run: a recipe writes the first once the folder is prepared, and they
    are all a run killed before its first logged step leaves (a new run rewrites both).

    Raises:
        FileExistsError: ``output_dir`` holds an earlier run's model, log or checkpoints, and
            the config neither resumes nor overwrites.
    """
    output_dir = Path(output_dir)
    _finish_interrupted_saves(output_dir)
    earlier = [
        name
        for name in (CHECKPOINT_DIR, BEST_MODEL_DIR, LOG_FILE, "model.safetensors", "metrics.json")
        if (output_dir / name).exists()
    ]
    if earlier and not config.resume_from_checkpoint:
        if not config.overwrite_output_dir:
            raise FileExistsError(
                f"{output_dir} holds an earlier run ({', '.join(earlier)}); resume it with "
                "--resume_from_checkpoint latest, pass --overwrite_output_dir to start afresh, "
                "or choose another output_dir"
            )
        for name in earlier:
            path = output_dir / name
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        logger.info("overwrote the earlier run in %s: %s", output_dir, earlier)
    output_dir.mkdir(parents=True, exist_ok=True)


def latest_checkpoint(output_dir: str | os.PathLike) -> Path | None:
    """The newest complete resumable checkpoint in ``output_dir``, or ``None``.

    Only ``checkpoints/step-N`` folders holding the state file count: a save in progress, or
    one a killed run left behind, is in a ``.tmp-*`` folder and never returned.
    """
    folder = Path(output_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return None
    found = []
    for path in folder.iterdir():
        match = re.fullmatch(r"step-(\d+)", path.name)
        if match and (path / STATE_FILE).is_file():
            found.append((int(match.group(1)), path))
    return max(found)[1] if found else None


@contextlib.contextmanager
def open_run_folder(config: TrainingConfig, accelerator: Accelerator) -> Iterator[RunFolder]:
    """Lock and prepare ``config.output_dir`` for one run, once; yield it as a :class:`RunFolder`.

    Raises:
        OutputDirInUseError: Another live run holds the folder.
        FileExistsError: The folder holds an earlier run (see :func:`prepare_output_dir`).
    """
    with lock_output_dir(config.output_dir, accelerator):
        if accelerator.is_main_process:
            prepare_output_dir(config.output_dir, config)
        accelerator.wait_for_everyone()
        yield RunFolder(Path(config.output_dir), accelerator)


@dataclass
class RunFolder:
    """A locked, prepared output folder (from :func:`open_run_folder`) and what a run writes.

    Every method is called on all processes: the main process writes, the others wait.
    """

    path: Path
    accelerator: Accelerator

    @property
    def best_model_dir(self) -> Path:
        return self.path / BEST_MODEL_DIR

    def attach_file_log(self, append: bool) -> None:
        """Copy the ``sertune`` loggers' messages into ``train.log`` (main process)."""
        if not self.accelerator.is_main_process:
            return
        # A resumed run continues its log; a new one (perhaps overwriting) starts it afresh.
        handler = logging.FileHandler(
            self.path / RUN_LOG_FILE, mode="a" if append else "w", encoding="utf-8"
        )
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger("sertune")
        root.handlers = [h for h in root.handlers if not getattr(h, "_sertune_run_log", False)]
        handler._sertune_run_log = True
        root.addHandler(handler)
        root.setLevel(logging.INFO)

    def log(self, record: dict[str, Any], history: list[dict[str, Any]]) -> None:
        """Append ``record`` (``None`` values dropped) to ``history``, the log and the trackers."""
        record = {k: v for k, v in record.items() if v is not None}
        history.append(record)
        if self.accelerator.is_main_process:
            with open(self.path / LOG_FILE, "a", encoding="utf-8") as log:
                log.write(json.dumps(record) + "\n")
            logger.info(
                " ".join(
                    f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in record.items()
                )
            )
        self.accelerator.log({k: v for k, v in record.items() if k != "step"}, step=record["step"])

    def save_best_model(self, model: torch.nn.Module, feature_extractor) -> None:
        """Save the model as ``best_model/``, whole or not at all.

        The main process writes a temporary sibling and renames it into place: a run killed
        mid-save keeps the previous best model, never half of a new one.
        """
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            staging = self.path / f"{TEMP_PREFIX}{BEST_MODEL_DIR}"
            self._write_model(model, feature_extractor, staging)
            _replace_folder(staging, self.best_model_dir)
        # No process may read the folder before it is complete.
        self.accelerator.wait_for_everyone()

    def save_final_model(self, model: torch.nn.Module, feature_extractor, *, best: bool) -> None:
        """Save the model to keep into the folder itself; with ``best``, the best one saved.

        With ``best`` and a saved best model, its weights are loaded into ``model`` first. The
        folder cannot be swapped as a whole (it holds the logs and checkpoints), so each file
        is renamed into place from a synced staging folder, the weights last: whatever a kill
        leaves, no weights file is ever half-written. ``best_model/`` is removed afterwards:
        the folder now holds the same weights.
        """
        unwrapped = self.accelerator.unwrap_model(model)
        self.accelerator.wait_for_everyone()
        if best and self.best_model_dir.is_dir():
            saved = type(unwrapped).from_pretrained(self.best_model_dir, use_safetensors=True)
            unwrapped.load_state_dict(saved.state_dict())
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            staging = self.path / FINAL_STAGING_DIR
            self._write_model(model, feature_extractor, staging)
            files = sorted(staging.iterdir(), key=lambda p: (p.suffix == ".safetensors", p))
            for path in files:
                os.replace(path, self.path / path.name)
            _fsync_directory(self.path)
            staging.rmdir()
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process and self.best_model_dir.is_dir():
            shutil.rmtree(self.best_model_dir)

    def save_checkpoint(self, state: dict[str, Any], keep: int) -> None:
        """Write ``checkpoints/step-N`` atomically: into ``.tmp-step-N``, synced, then renamed.

        Args:
            state: The loop's state (with ``global_step`` and ``history``), written as
                ``loop_state.json`` next to accelerate's state and the best model so far.
            keep: How many checkpoints to keep; older ones are removed.
        """
        accelerator = self.accelerator
        checkpoints = self.path / CHECKPOINT_DIR
        folder = checkpoints / f"step-{state['global_step']}"
        # Every process writes its RNG state into the staging folder, so its name must be the
        # same on all of them: it comes from the step (the lock rules out a second run).
        staging = checkpoints / f"{TEMP_PREFIX}{folder.name}"
        if accelerator.is_main_process:
            shutil.rmtree(staging, ignore_errors=True)
        accelerator.wait_for_everyone()
        with explain_save_errors(staging, "the checkpoint"):
            accelerator.save_state(str(staging))
        # Every process's files must be on disk before the folder is named a checkpoint.
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            # The best model so far belongs to the checkpoint: a run resumed from it must keep
            # selecting against those weights, wherever it resumes.
            if self.best_model_dir.is_dir():
                shutil.copytree(self.best_model_dir, staging / BEST_MODEL_DIR, dirs_exist_ok=True)
            with explain_save_errors(staging, "the checkpoint"):
                (staging / STATE_FILE).write_text(json.dumps(state, indent=1))
                _fsync_tree(staging)
            _replace_folder(staging, folder)
            _remove_old_checkpoints(checkpoints, keep)
        accelerator.wait_for_everyone()

    def resume(self, requested: str) -> dict[str, Any]:
        """Load the checkpoint ``requested`` names (a folder or ``latest``); return its state.

        Accelerate's state (model, optimiser, scheduler, RNGs, prepared extras) is loaded; the
        checkpoint's best model and log are put in place, dropping anything a killed run wrote
        after it.

        Raises:
            FileNotFoundError: No such checkpoint, an unfinished save, or a checkpoint that
                records a best model but holds none.
        """
        checkpoint = self._resolve_checkpoint(requested)
        self.accelerator.load_state(str(checkpoint))
        state = json.loads((checkpoint / STATE_FILE).read_text())
        if self.accelerator.is_main_process:
            self._restore_best_model_and_log(checkpoint, state)
        self.accelerator.wait_for_everyone()
        logger.info(
            "resumed from %s at step %d", checkpoint, state["global_step"], main_process_only=True
        )
        return state

    def _resolve_checkpoint(self, requested: str) -> Path:
        if requested == "latest":
            checkpoint = latest_checkpoint(self.path)
            if checkpoint is None:
                raise FileNotFoundError(
                    f"{self.path / CHECKPOINT_DIR}: no checkpoint to resume from"
                )
            return checkpoint
        checkpoint = Path(requested)
        if checkpoint.name.startswith(TEMP_PREFIX):
            raise FileNotFoundError(
                f"{checkpoint}: an unfinished checkpoint save (a run was stopped while writing "
                "it); resume from a step-N folder or 'latest'"
            )
        if not (checkpoint / STATE_FILE).is_file():
            raise FileNotFoundError(f"{checkpoint}: not a sertune checkpoint (no {STATE_FILE})")
        return checkpoint

    def _restore_best_model_and_log(self, checkpoint: Path, state: dict[str, Any]) -> None:
        best, saved_best = self.best_model_dir, checkpoint / BEST_MODEL_DIR
        if saved_best.is_dir():
            if best.resolve() != saved_best.resolve():
                shutil.rmtree(best, ignore_errors=True)
                shutil.copytree(saved_best, best)
        elif state.get("best_step") is not None:
            raise FileNotFoundError(
                f"{checkpoint}: records a best model at step {state['best_step']} but holds none"
            )
        else:
            shutil.rmtree(best, ignore_errors=True)
        # The log is rewritten from the checkpoint's history, so steps a killed run logged
        # after the checkpoint do not appear twice.
        with open(self.path / LOG_FILE, "w", encoding="utf-8") as log:
            log.writelines(json.dumps(record) + "\n" for record in state.get("history", []))

    def _write_model(self, model: torch.nn.Module, feature_extractor, staging: Path) -> None:
        shutil.rmtree(staging, ignore_errors=True)
        with explain_save_errors(staging, "the model"):
            staging.mkdir(parents=True)
            self.accelerator.unwrap_model(model).save_pretrained(staging, safe_serialization=True)
            feature_extractor.save_pretrained(staging)
            _readable_like_other_outputs(staging)
            _fsync_tree(staging)


@contextlib.contextmanager
def explain_save_errors(staging: Path, what: str) -> Iterator[None]:
    """Turn a failed write (``OSError``, or torch's C++ stream ``RuntimeError``) into one
    :class:`~sertune.errors.SaveError` naming the folder, the likely cause and the remedy.

    The half-written staging folder is removed (it holds the space a full disk needs); the
    previous checkpoint or model, saved elsewhere, is untouched.
    """
    try:
        yield
    except (OSError, RuntimeError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        text = str(error)
        full = getattr(error, "errno", None) == errno.ENOSPC or any(
            hint in text for hint in ("No space left", "file write failed", "PytorchStreamWriter")
        )
        reason = "no space left on device" if full else getattr(error, "strerror", None) or text
        reason = " ".join(str(reason).split())[:300]
        raise SaveError(
            f"{staging}: saving {what} failed ({reason}); the previous checkpoint and model are "
            "kept. Free space on that device (or choose another --output_dir) and resume with "
            "--resume_from_checkpoint latest"
        ) from error


def _readable_like_other_outputs(folder: Path) -> None:
    """Give saved files the permissions the umask gives any new file (safetensors writes 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    for path in folder.iterdir():
        if path.is_file():
            os.chmod(path, 0o666 & ~umask)


def _remove_old_checkpoints(checkpoints: Path, keep: int) -> None:
    found = sorted(
        (int(path.name.split("-")[1]), path)
        for path in checkpoints.iterdir()
        if re.fullmatch(r"step-\d+", path.name)
    )
    for _, old in found[: max(0, len(found) - keep)]:
        shutil.rmtree(old)


def _replace_folder(staging: Path, folder: Path) -> None:
    """Rename the complete ``staging`` folder to ``folder``, replacing any earlier one.

    A directory cannot be renamed over a non-empty one, so an earlier ``folder`` is first moved
    aside to ``.tmp-old-<name>``; if a kill falls between the two renames,
    :func:`_finish_interrupted_saves` moves it back.
    """
    aside = folder.parent / f"{TEMP_PREFIX}old-{folder.name}"
    if folder.exists():
        shutil.rmtree(aside, ignore_errors=True)
        os.replace(folder, aside)
    os.replace(staging, folder)
    _fsync_directory(folder.parent)
    shutil.rmtree(aside, ignore_errors=True)


def _fsync_tree(folder: Path) -> None:
    """Flush every file under ``folder`` to disk, so a rename never names lost data."""
    for root, _, files in os.walk(folder):
        for name in files:
            descriptor = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        _fsync_directory(Path(root))


def _fsync_directory(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _finish_interrupted_saves(output_dir: Path) -> None:
    """Clean up after saves a killed run left unfinished in ``output_dir``.

    Staging folders (``.tmp-*``) are removed. A folder moved aside for replacement
    (``.tmp-old-<name>``) is moved back when the rename that would have replaced it never
    happened, and removed otherwise.
    """
    for parent in (output_dir, output_dir / CHECKPOINT_DIR):
        if not parent.is_dir():
            continue
        for path in sorted(parent.iterdir()):
            if not path.name.startswith(TEMP_PREFIX):
                continue
            original = parent / path.name.removeprefix(f"{TEMP_PREFIX}old-")
            if path.name.startswith(f"{TEMP_PREFIX}old-") and not original.exists():
                os.replace(path, original)
                logger.warning(
                    "restored %s, which an interrupted save had moved aside",
                    original,
                    main_process_only=True,
                )
                continue
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            logger.warning(
                "removed %s, left by a run stopped while saving", path, main_process_only=True
            )


__all__ = [
    "BEST_MODEL_DIR",
    "CHECKPOINT_DIR",
    "CURVES_FILE",
    "LOCK_FILE",
    "LOG_FILE",
    "STATE_FILE",
    "OutputDirInUseError",
    "RunFolder",
    "latest_checkpoint",
    "lock_output_dir",
    "open_run_folder",
    "prepare_output_dir",
]
