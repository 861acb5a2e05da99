"""The loop's parts: the run's one loss, its state, the run folder taken once, objectives."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from accelerate import Accelerator, PartialState
from helpers_interrupted_run import SETTINGS, run_training, tiny_model
from torch.utils.data import DataLoader

import sertune.training.run_folder as run_folder_module
from sertune.data import load_corpus
from sertune.training import (
    ClassificationObjective,
    LoopState,
    TrainingConfig,
    evaluate_model,
    open_run_folder,
)
from sertune.training.losses import make_criterion, run_criterion
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


def _logits_labels(corpus):
    generator = torch.Generator().manual_seed(0)
    num_labels = len(corpus.features["label"].names)
    return torch.randn(6, num_labels, generator=generator), torch.tensor([0, 1, 1, 2, 3, 3])


def test_the_runs_options_decide_the_loss_when_the_model_sets_none(tmp_path, corpus):
    model = _model(corpus)
    logits, labels = _logits_labels(corpus)
    plain = run_criterion(TrainingConfig(output_dir=str(tmp_path)), model, LABELS)
    assert plain(logits, labels).item() == pytest.approx(F.cross_entropy(logits, labels).item())
    smoothed = run_criterion(
        TrainingConfig(output_dir=str(tmp_path), loss="focal", label_smoothing=0.1), model, LABELS
    )
    expected = make_criterion("focal", label_smoothing=0.1)(logits, labels)
    assert smoothed(logits, labels).item() == pytest.approx(expected.item())


def test_the_models_own_loss_options_are_the_runs_loss(tmp_path, corpus):
    num_labels = len(corpus.features["label"].names)
    weights = [1.0 + i for i in range(num_labels)]
    model = _model(corpus, class_weights=weights, label_smoothing=0.2)
    logits, labels = _logits_labels(corpus)
    criterion = run_criterion(TrainingConfig(output_dir=str(tmp_path)), model, LABELS)
    expected = F.cross_entropy(logits, labels, weight=torch.tensor(weights), label_smoothing=0.2)
    assert criterion(logits, labels).item() == pytest.approx(expected.item())

    model = _model(corpus)
    model.loss_fn = lambda logits, target: logits.sum() * 0 + 7.0
    criterion = run_criterion(TrainingConfig(output_dir=str(tmp_path)), model, LABELS)
    assert criterion(logits, labels).item() == 7.0


@pytest.mark.parametrize(
    "option", [{"class_weighting": "balanced"}, {"label_smoothing": 0.1}, {"loss": "focal"}]
)
def test_a_loss_set_by_both_the_model_and_the_run_is_refused(tmp_path, corpus, option):
    model = _model(corpus, label_smoothing=0.1)
    config = TrainingConfig(output_dir=str(tmp_path), **option)
    with pytest.raises(ValueError, match=r"the loss is set twice.*label_smoothing.*--"):
        run_criterion(config, model, LABELS)


def test_the_models_loss_options_change_the_training_loss(tmp_path, emodb_fixture, corpus):
    # Before, train() ignored them and trained with plain cross-entropy.
    plain = run_training(emodb_fixture, tmp_path / "plain", max_steps=1)
    smoothed = run_training(
        emodb_fixture, tmp_path / "smoothed", max_steps=1, model=_model(corpus, label_smoothing=0.3)
    )
    first = lambda result: next(r["loss"] for r in result.history if "loss" in r)  # noqa: E731
    assert first(plain) != pytest.approx(first(smoothed))


class _FixedLogits(torch.nn.Module):
    """A model whose logits are the batch's ``input_values``."""

    def __init__(self, num_labels: int):
        super().__init__()
        self.config = SimpleNamespace(num_labels=num_labels)

    def forward(self, input_values, labels=None):
        return SimpleNamespace(logits=input_values)


def test_evaluation_reports_the_runs_criterion_over_the_whole_set():
    accelerator = Accelerator(cpu=True)
    generator = torch.Generator().manual_seed(1)
    logits, labels = torch.randn(7, 3, generator=generator), torch.tensor([0, 0, 0, 0, 1, 2, 2])
    rows = [{"input_values": logits[i], "labels": labels[i]} for i in range(7)]
    loader = accelerator.prepare(DataLoader(rows, batch_size=3))
    weighted = make_criterion("cross_entropy", class_weights=[0.5, 2.0, 1.0], label_smoothing=0.1)

    metrics = evaluate_model(_FixedLogits(3), loader, accelerator, criterion=weighted)
    # One weighted mean over the set, not a mean of batch means: the batching does not count.
    assert metrics["loss"] == pytest.approx(weighted(logits, labels).item(), rel=1e-6)
    plain = evaluate_model(_FixedLogits(3), loader, accelerator)
    assert plain["loss"] == pytest.approx(F.cross_entropy(logits, labels).item(), rel=1e-6)
    assert metrics["uar"] == plain["uar"]


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
