"""Interrupted and concurrent runs: a kill mid-save, a second run on a live folder, out of memory."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from accelerate import PartialState
from helpers_interrupted_run import run_training, tiny_model
from safetensors.torch import load_file

from sertune.data import load_corpus
from sertune.training import TrainingConfig, latest_checkpoint, prepare_output_dir
from sertune.training.run_folder import LOCK_FILE, OutputDirInUseError, lock_output_dir

HELPER = Path(__file__).with_name("helpers_interrupted_run.py")


def _assert_unlocked(output_dir: Path) -> None:
    with open(output_dir / LOCK_FILE, "r+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises BlockingIOError if held


def _wait_for(marker: Path, process: subprocess.Popen, log: Path, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if process.poll() is not None:
            pytest.fail(
                f"the run ended (status {process.returncode}) before its second save:\n"
                + log.read_text()
            )
        if time.monotonic() > deadline:
            pytest.fail(f"no second checkpoint save within {timeout} s:\n" + log.read_text())
        time.sleep(0.1)


def test_kill_during_checkpoint_save_keeps_the_previous_checkpoint_and_resumes(
    tmp_path, emodb_fixture, caplog
):
    killed, marker, log = tmp_path / "killed", tmp_path / "saving", tmp_path / "killed.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            [sys.executable, str(HELPER), str(emodb_fixture), str(killed)]
            + ["--hang_in_save", "2", "--marker", str(marker)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(marker, process, log)
        # While it lives, the run's folder is refused to a second run, overwriting or not.
        holder = (
            rf"{re.escape(str(killed.resolve()))} is in use by another run \(pid {process.pid} "
        )
        with pytest.raises(OutputDirInUseError, match=holder):
            run_training(emodb_fixture, killed, overwrite_output_dir=True)
    finally:
        process.kill()
        process.wait()

    checkpoints = killed / "checkpoints"
    assert Path(marker.read_text()) == checkpoints / ".tmp-step-4", "killed inside the step-4 save"
    assert sorted(p.name for p in checkpoints.iterdir()) == [".tmp-step-4", "step-2"]
    assert latest_checkpoint(killed) == checkpoints / "step-2"
    state = json.loads((checkpoints / "step-2" / "loop_state.json").read_text())
    assert state["global_step"] == 2 and state["best_step"] == 2
    assert (checkpoints / "step-2" / "best_model" / "model.safetensors").is_file()
    assert not (killed / "model.safetensors").exists()

    with caplog.at_level(logging.WARNING, logger="sertune"):
        resumed = run_training(emodb_fixture, killed, resume_from_checkpoint="latest")
    assert resumed.global_step == 6
    assert "removed" in caplog.text and ".tmp-step-4" in caplog.text
    assert not [p for p in killed.rglob(".tmp-*")], "no staging folder is left"
    _assert_unlocked(killed)

    reference_dir = tmp_path / "uninterrupted"
    reference = run_training(emodb_fixture, reference_dir)
    assert (resumed.best_step, resumed.best_validation_uar) == (
        reference.best_step,
        reference.best_validation_uar,
    )
    expected = load_file(reference_dir / "model.safetensors")
    actual = load_file(killed / "model.safetensors")
    assert expected.keys() == actual.keys()
    for name, weight in expected.items():
        assert torch.equal(actual[name], weight), name


def test_a_locked_output_folder_is_refused_even_when_overwriting(tmp_path, emodb_fixture):
    output_dir = tmp_path / "run"
    output_dir.mkdir()
    # A second open file description conflicts with flock even in the same process, so this
    # stands in for another live run.
    with open(output_dir / LOCK_FILE, "w") as holder:
        holder.write("pid 4242 on elsewhere since 2026-01-01T00:00:00+00:00\n")
        holder.flush()
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(
            OutputDirInUseError, match=r"in use by another run \(pid 4242 on elsewhere"
        ):
            run_training(emodb_fixture, output_dir, overwrite_output_dir=True, max_steps=1)
    assert os.listdir(output_dir) == [LOCK_FILE], "the refused run wrote nothing"


def test_the_lock_nests_and_is_released_when_the_run_ends(tmp_path, emodb_fixture):
    output_dir = tmp_path / "run"
    # A caller holding the lock around train() (which opens the folder itself) nests; a
    # recipe's fit_and_report instead hands its opened folder to train().
    with lock_output_dir(output_dir):
        run_training(emodb_fixture, output_dir, max_steps=2)
        with pytest.raises(BlockingIOError):
            _assert_unlocked(output_dir)
    assert f"pid {os.getpid()} " in (output_dir / LOCK_FILE).read_text()
    _assert_unlocked(output_dir)
    run_training(emodb_fixture, output_dir, max_steps=2, overwrite_output_dir=True)
    _assert_unlocked(output_dir)


def _model_whose_forward_raises(emodb_fixture, error: BaseException, *, in_training: bool):
    model = tiny_model(load_corpus("emodb", emodb_fixture))
    forward = model.forward

    def failing_forward(*args, **kwargs):
        if model.training == in_training:
            raise error
        return forward(*args, **kwargs)

    model.forward = failing_forward
    return model


@pytest.mark.parametrize(
    "error",
    [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"),
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"
        ),
        MemoryError(),
    ],
    ids=["cuda", "cpu-allocator", "memory-error"],
)
def test_out_of_memory_in_training_names_the_step_batch_and_options(tmp_path, emodb_fixture, error):
    model = _model_whose_forward_raises(emodb_fixture, error, in_training=True)
    with pytest.raises(RuntimeError) as raised:
        run_training(emodb_fixture, tmp_path / "run", model=model)
    message = str(raised.value)
    assert re.match(
        r"out of memory at training step 1 on a batch of 4 utterances \(input_features 4 x ",
        message,
    )
    for option in (
        "--max_train_seconds",
        "--per_device_train_batch_size",
        "--gradient_accumulation_steps",
    ):
        assert option in message
    assert raised.value.__cause__ is error
    _assert_unlocked(tmp_path / "run")


def test_out_of_memory_in_evaluation_suggests_the_eval_batch_size(tmp_path, emodb_fixture):
    error = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
    model = _model_whose_forward_raises(emodb_fixture, error, in_training=False)
    with pytest.raises(
        RuntimeError,
        match=r"out of memory in validation at step 2 on a batch of \d+ "
        r"utterances.*does not crop.*--per_device_eval_batch_size",
    ):
        run_training(emodb_fixture, tmp_path / "run", model=model)


def test_other_errors_in_a_training_step_are_not_reworded(tmp_path, emodb_fixture):
    model = _model_whose_forward_raises(
        emodb_fixture, RuntimeError("mat1 and mat2 shapes cannot be multiplied"), in_training=True
    )
    with pytest.raises(RuntimeError, match="^mat1 and mat2 shapes cannot be multiplied$"):
        run_training(emodb_fixture, tmp_path / "run", model=model)


def test_a_checkpoint_moved_aside_by_a_killed_replacement_is_restored(tmp_path):
    # A kill between the two renames that replace step-4 (a resumed run saving it again) leaves
    # the earlier step-4 under .tmp-old-step-4; the next run in the folder moves it back.
    PartialState(cpu=True)  # the loop logs through accelerate, which needs its state
    checkpoints = tmp_path / "checkpoints"
    (checkpoints / ".tmp-old-step-4").mkdir(parents=True)
    (checkpoints / ".tmp-old-step-4" / "loop_state.json").write_text("{}")
    (checkpoints / ".tmp-step-4").mkdir()
    (tmp_path / ".tmp-best_model").mkdir()
    assert latest_checkpoint(tmp_path) is None
    prepare_output_dir(
        tmp_path, TrainingConfig(output_dir=str(tmp_path), resume_from_checkpoint="latest")
    )
    assert sorted(p.name for p in checkpoints.iterdir()) == ["step-4"]
    assert not (tmp_path / ".tmp-best_model").exists()
    assert latest_checkpoint(tmp_path) == checkpoints / "step-4"
