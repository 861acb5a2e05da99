"""The loop's parts: its state, the run folder taken once, the objectives."""

from __future__ import annotations

import json

import pytest
import torch
from accelerate import Accelerator, PartialState
from helpers_interrupted_run import SETTINGS, run_training, tiny_model

import sertune.training.run_folder as run_folder_module
from sertune.data import load_corpus
from sertune.training import (
    ClassificationObjective,
    LoopState,
    TrainingConfig,
    open_run_folder,
)
from sertune.training.losses import make_criterion
from sertune.training.run_folder import LOG_FILE, STATE_FILE, latest_checkpoint

LABELS = [0, 0, 0, 1, 2, 2]


@pytest.fixture(scope="module")
def corpus(emodb_fixture):
    return load_corpus("emodb", emodb_fixture)


@pytest.fixture(autouse=True)
def _accelerate_state():
    PartialState(cpu=True)  # the loop's modules log through accelerate, which needs its state


def _model(corpus, **options):
    from sertune.models import build_cnn_model

    id2label = dict(enumerate(corpus.features["label"].names))
    return build_cnn_model("tiny-random-cnn-lstm", id2label=id2label, seed=0, **options)


def test_loop_state_round_trips_through_a_checkpoint():
    state = LoopState(global_step=7, epoch=2, batch_in_epoch=3, best_uar=0.5, best_step=6)
    state.history.append({"step": 7, "loss": 1.0})
    state.stop_early = True
    saved = json.loads(json.dumps(state.checkpoint(end_of_epoch=False)))
    assert "stop_early" not in saved and "running" not in saved
    restored = LoopState.from_checkpoint(saved)
    assert (restored.global_step, restored.epoch, restored.batch_in_epoch) == (7, 2, 3)
    assert (restored.best_uar, restored.best_step, restored.history) == (0.5, 6, state.history)
    assert not restored.stop_early
    # At the end of an epoch the checkpoint points at the next one's first batch.
    assert state.checkpoint(end_of_epoch=True)["epoch"] == 3
    assert state.checkpoint(end_of_epoch=True)["batch_in_epoch"] == 0
    # Checkpoints written before early stopping existed lack its counter.
    older = {k: v for k, v in saved.items() if k != "evals_without_improvement"}
    assert LoopState.from_checkpoint(older).evals_without_improvement == 0


def test_a_checkpoint_holds_the_loop_state(tmp_path, emodb_fixture):
    output_dir = tmp_path / "run"
    run_training(emodb_fixture, output_dir, max_steps=4)
    state = json.loads((latest_checkpoint(output_dir) / STATE_FILE).read_text())
    assert set(state) == {
        "global_step",
        "epoch",
        "batch_in_epoch",
        "best_uar",
        "best_step",
        "evals_without_improvement",
        "history",
    }
    assert state["global_step"] == 2 and state["history"][0]["step"] == 1


def test_the_run_folder_is_opened_once(tmp_path, emodb_fixture, monkeypatch):
    """A caller that opened the folder hands it to train(), which neither locks nor prepares."""
    from sertune.training import train

    calls = []
    prepare = run_folder_module.prepare_output_dir
    monkeypatch.setattr(
        run_folder_module,
        "prepare_output_dir",
        lambda *args, **kwargs: calls.append(args) or prepare(*args, **kwargs),
    )
    corpus = load_corpus("emodb", emodb_fixture)
    config = TrainingConfig(output_dir=str(tmp_path / "run"), **{**SETTINGS, "max_steps": 1})
    accelerator = Accelerator(cpu=True)
    with open_run_folder(config, accelerator) as folder:
        assert len(calls) == 1
        locked = set(run_folder_module._held_locks)
        result = train(
            tiny_model(corpus),
            _log_mel(),
            train_dataset=corpus,
            eval_dataset=None,
            test_dataset=None,
            config=config,
            accelerator=accelerator,
            run_folder=folder,
        )
        assert len(calls) == 1, "train() prepared the folder again"
        assert set(run_folder_module._held_locks) == locked
    assert result.global_step == 1
    assert (tmp_path / "run" / LOG_FILE).is_file()
    assert not run_folder_module._held_locks


def _log_mel():
    from sertune.models.logmel import LogMelFeatureExtractor

    return LogMelFeatureExtractor(n_mels=32, segment_frames=32, segment_hop_frames=32)


def test_classification_objective_is_the_criterion_on_the_logits(corpus):
    import numpy as np

    from sertune.training.data import PADDING_COUNTS_KEY, PaddingCollator

    model = _model(corpus).eval()
    criterion = make_criterion("cross_entropy", label_smoothing=0.1)
    objective = ClassificationObjective(criterion)
    rng = np.random.default_rng(0)
    examples = [
        {"input_values": rng.standard_normal(12000).astype(np.float32), "labels": i}
        for i in range(3)
    ]
    batch = PaddingCollator(_log_mel())(examples)
    batch.pop(PADDING_COUNTS_KEY)
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    with torch.no_grad():
        loss, terms = objective.loss(model, batch)
        expected = criterion(model(**inputs).logits, torch.tensor([0, 1, 2]))
    assert "labels" not in batch and terms == {}
    assert loss.item() == pytest.approx(expected.item())
    assert objective.min_input_samples() == 0 and objective.parameter_groups(1e-3, 0.0) == []
