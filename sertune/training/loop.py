"""The one training loop every recipe calls, built on Hugging Face Accelerate.

Mixed precision when the hardware has it, gradient accumulation and clipping, AdamW with a
linear or cosine schedule and warm-up, evaluation on the validation speakers every epoch (or
every N steps), the best checkpoint by validation UAR, a final test evaluation, and
``accelerator.save_state`` checkpoints that a run resumes from. Nothing here assumes one
device: multi-GPU (DDP) comes from ``accelerate launch``.

:func:`train` reads as the run goes: open the run folder, build the loss, the objective and the
loaders, the optimiser, resume, train epoch by epoch (each optimiser step may log, evaluate and
select, and save a checkpoint), then keep the best model and test it. Where the pieces live:

* :mod:`sertune.training.config`: the options (:class:`TrainingConfig`) and the `Accelerator`;
* :mod:`sertune.training.run_folder`: the output folder's lock, staged saves, checkpoints,
  resume and the training log;
* :mod:`sertune.training.objectives`: what a training batch's loss is (classification or
  distillation);
* :func:`sertune.training.losses.run_criterion`: the run's loss, decided once, for training
  and for the loss that evaluation reports;
* :mod:`sertune.training.loaders`, :mod:`sertune.training.optim`,
  :mod:`sertune.training.evaluate`: the loaders, optimiser and schedule, and evaluation.

Running out of memory in a training step or an evaluation ends the run with the step, the batch
shape and the options that lower memory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import set_seed
from datasets import Dataset as HFDataset
from tqdm.auto import tqdm

from sertune.training.augment import AugmentationArguments
from sertune.training.config import TrainingConfig, make_accelerator, resolve_mixed_precision
from sertune.training.data import PADDING_COUNTS_KEY
from sertune.training.distill import Distiller
from sertune.training.evaluate import evaluate_model, is_out_of_memory, training_out_of_memory
from sertune.training.loaders import RunLoaders, build_loaders
from sertune.training.losses import Criterion, run_criterion
from sertune.training.objectives import (
    ClassificationObjective,
    DistillationObjective,
    TrainingObjective,
)
from sertune.training.optim import build_optimizer, build_scheduler, head_learning_rate
from sertune.training.report import plot_training_curves
from sertune.training.run_folder import (
    CURVES_FILE,
    LOCK_FILE,
    LOG_FILE,
    TRACKER_RUN_NAME,
    OutputDirInUseError,
    RunFolder,
    latest_checkpoint,
    lock_output_dir,
    open_run_folder,
    prepare_output_dir,
)

logger = get_logger(__name__)

_METRICS_LOGGED = ("uar", "wa", "macro_f1", "loss")


@dataclass
class TrainingResult:
    """What :func:`train` returns: the test metrics, the best validation UAR and where."""

    test_metrics: dict[str, Any] | None
    best_validation_uar: float | None
    best_step: int | None
    global_step: int
    history: list[dict[str, Any]]


@dataclass
class RunningMeans:
    """The training loss and the objective's terms summed since the last log line."""

    loss: float = 0.0
    count: int = 0
    terms: dict[str, Any] = field(default_factory=dict)

    def add(self, loss: torch.Tensor, terms: dict[str, torch.Tensor]) -> None:
        self.loss += loss.detach().float().item()
        self.count += 1
        for name, value in terms.items():
            # Kept on the device: the terms add no device-to-host copy per step.
            self.terms[name] = self.terms.get(name, 0.0) + value.detach().float()

    def pop(self) -> tuple[float, dict[str, float]]:
        """The means since the last call, then start afresh."""
        means = self.loss / self.count, {k: float(v) / self.count for k, v in self.terms.items()}
        self.loss, self.count, self.terms = 0.0, 0, {}
        return means


@dataclass
class LoopState:
    """Where a run stands. The saved fields are a checkpoint's ``loop_state.json``.

    ``epoch`` and ``batch_in_epoch`` are the epoch being trained and how many of its batches
    are done; a checkpoint records the position of the next batch instead.
    """

    global_step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best_uar: float | None = None
    best_step: int | None = None
    evals_without_improvement: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    stop_early: bool = field(default=False, metadata={"saved": False})
    running: RunningMeans = field(default_factory=RunningMeans, metadata={"saved": False})

    @classmethod
    def from_checkpoint(cls, saved: dict[str, Any]) -> LoopState:
        """The state a checkpoint saved (older checkpoints lack some fields: defaults)."""
        names = {f.name for f in dataclasses.fields(cls) if f.metadata.get("saved", True)}
        return cls(**{name: value for name, value in saved.items() if name in names})

    def checkpoint(self, end_of_epoch: bool) -> dict[str, Any]:
        """The saved fields, positioned at the next batch to train."""
        saved = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.metadata.get("saved", True)
        }
        if end_of_epoch:
            saved.update(epoch=self.epoch + 1, batch_in_epoch=0)
        return saved


@dataclass
class _Run:
    """What stays fixed while a run trains, filled in by the build steps of :func:`train`."""

    config: TrainingConfig
    accelerator: Accelerator
    folder: RunFolder
    model: torch.nn.Module
    feature_extractor: Any
    criterion: Criterion
    objective: TrainingObjective
    loaders: RunLoaders | None = None
    optimizer: torch.optim.Optimizer | None = None
    scheduler: Any = None
    clipped_parameters: list[torch.nn.Parameter] = field(default_factory=list)
    steps_per_epoch: int = 0
    total_steps: int = 0
    num_epochs: int = 0
    progress: Any = None
    started: float = 0.0


def train(
    model: torch.nn.Module,
    feature_extractor,
    *,
    train_dataset: HFDataset,
    eval_dataset: HFDataset | None,
    test_dataset: HFDataset | None,
    config: TrainingConfig,
    accelerator: Accelerator | None = None,
    augmentation: AugmentationArguments | None = None,
    distillation: Distiller | None = None,
    run_folder: RunFolder | None = None,
    objective: TrainingObjective | None = None,
) -> TrainingResult:
    """Fine-tune ``model`` on ``train_dataset``; keep the best by validation UAR; test it.

    The model must take ``input_values``, ``attention_mask`` and ``labels`` and return an
    output with ``loss`` and ``logits``; it must offer ``parameter_groups(head_lr, encoder_lr,
    weight_decay)`` returning AdamW groups whose ``"name"`` starts with ``"head"`` or
    ``"encoder"`` (sertune models do). The model config's ``freeze_encoder_steps`` keeps the
    encoder groups at learning rate 0 for that many optimiser steps. The loss is decided by
    :func:`~sertune.training.losses.run_criterion` (the model's own, or the config's). The
    final (best) model and the feature extractor are saved in ``config.output_dir``.

    Args:
        model: A sertune model.
        feature_extractor: The model's feature extractor (pads batches; saved with the model).
        train_dataset: Corpus rows to train on.
        eval_dataset: Validation rows (best-model selection); ``None`` keeps the last model.
        test_dataset: Test rows, evaluated once with the best model.
        config: Loop options.
        accelerator: An existing `Accelerator`; one is made from ``config`` otherwise.
        augmentation: On-the-fly augmentation of the training utterances (waveform) and
            batches (SpecAugment, log-mel models only), seeded by ``config.seed``.
        distillation: Train ``model`` as the student of a teacher: the training loss is the
            distiller's (soft targets, the run's criterion on the hard labels and feature
            matching), on batches that carry the teacher's inputs too. Validation and test
            evaluate the student alone.
        run_folder: ``config.output_dir`` already opened with
            :func:`~sertune.training.run_folder.open_run_folder` (locked and prepared), as
            :func:`~sertune.training.run.fit_and_report` does; ``None`` opens it here.
        objective: What a training batch's loss is, in place of classification (e.g.
            :class:`~sertune.training.objectives.Wav2Vec2PretrainingObjective`); not with
            ``distillation``.

    Raises:
        OutputDirInUseError: Another live run holds ``config.output_dir``.
        FileExistsError: ``config.output_dir`` holds an earlier run (see
            :func:`prepare_output_dir`).
        ValueError: Both the model and ``config`` set the loss.
        RuntimeError: A training step or an evaluation ran out of memory; the message names
            the step, the batch shape and the options that lower memory.
    """
    if accelerator is None:
        accelerator = make_accelerator(config)
    with contextlib.ExitStack() as stack:
        folder = run_folder or stack.enter_context(open_run_folder(config, accelerator))
        set_seed(config.seed)
        _start_logs(folder, config, augmentation)
        if config.gradient_checkpointing:
            _enable_gradient_checkpointing(accelerator.unwrap_model(model))
        criterion = run_criterion(config, accelerator.unwrap_model(model), train_dataset["label"])
        objective = _objective(objective, distillation, criterion)
        run = _Run(config, accelerator, folder, model, feature_extractor, criterion, objective)
        run.loaders = _build_data(run, augmentation, (train_dataset, eval_dataset, test_dataset))
        _build_optimizer(run)
        state = _resume(run)
        _start_progress(run, state)
        for epoch in range(state.epoch, run.num_epochs):
            if state.global_step >= run.total_steps or state.stop_early:
                break
            _train_one_epoch(run, state, epoch)
        run.progress.close()
        return _finish(run, state)


def _objective(
    objective: TrainingObjective | None, distillation: Distiller | None, criterion: Criterion
) -> TrainingObjective:
    """The objective given, else distillation with a distiller, else classification."""
    if objective is not None:
        if distillation is not None:
            raise ValueError("give an objective or a distiller, not both")
        return objective
    if distillation is not None:
        return DistillationObjective(distillation, criterion)
    return ClassificationObjective(criterion)


def _build_data(
    run: _Run,
    augmentation: AugmentationArguments | None,
    datasets: tuple[HFDataset, HFDataset | None, HFDataset | None],
) -> RunLoaders:
    """The run's loaders (training, validation, test), prepared: each process sees its shard."""
    train_dataset, eval_dataset, test_dataset = datasets
    loaders = build_loaders(
        run.accelerator.unwrap_model(run.model).config,
        run.feature_extractor,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        test_dataset=test_dataset,
        config=run.config,
        augmentation=augmentation,
        objective=run.objective,
    )
    prepare = run.accelerator.prepare
    return dataclasses.replace(
        loaders,
        train=prepare(loaders.train),
        validation=None if loaders.validation is None else prepare(loaders.validation),
        test=None if loaders.test is None else prepare(loaders.test),
    )


def _build_optimizer(run: _Run) -> None:
    """Count the run's steps; build the optimiser and schedule; prepare them with the model."""
    config, accelerator, objective = run.config, run.accelerator, run.objective
    # Counted on the prepared loader: the steps of one process.
    run.steps_per_epoch = math.ceil(len(run.loaders.train) / config.gradient_accumulation_steps)
    run.total_steps = config.max_steps
    if run.total_steps <= 0:
        run.total_steps = math.ceil(config.num_train_epochs * run.steps_per_epoch)
    run.num_epochs = math.ceil(run.total_steps / run.steps_per_epoch)
    optimizer = build_optimizer(
        run.model, objective.parameter_groups(config.learning_rate, config.weight_decay), config
    )
    scheduler = build_scheduler(
        optimizer,
        config,
        run.total_steps,
        accelerator.num_processes,
        getattr(accelerator.unwrap_model(run.model).config, "freeze_encoder_steps", 0),
    )
    run.model, run.optimizer, run.scheduler = accelerator.prepare(run.model, optimizer, scheduler)
    # Before a resume's load_state: the objective's prepared modules are restored with it.
    run.clipped_parameters = list(run.model.parameters()) + objective.prepare(accelerator)


def _start_logs(
    folder: RunFolder, config: TrainingConfig, augmentation: AugmentationArguments | None
) -> None:
    folder.attach_file_log(append=bool(config.resume_from_checkpoint))
    if folder.accelerator.log_with:
        folder.accelerator.init_trackers(
            TRACKER_RUN_NAME, config=_tracker_config(config, augmentation)
        )


def _resume(run: _Run) -> LoopState:
    """A fresh state, or the checkpoint's that ``config.resume_from_checkpoint`` names."""
    if not run.config.resume_from_checkpoint:
        return LoopState()
    return LoopState.from_checkpoint(run.folder.resume(run.config.resume_from_checkpoint))


def _start_progress(run: _Run, state: LoopState) -> None:
    """Log the plan; start the progress bar and the clock of the log's ``seconds``."""
    loaders = run.loaders
    logger.info(
        "training on %d utterances for %d steps (%d epochs, %d steps each), %d validation, %d test",
        len(loaders.train_set),
        run.total_steps,
        run.num_epochs,
        run.steps_per_epoch,
        0 if loaders.validation is None else len(loaders.validation.dataset),
        0 if loaders.test is None else len(loaders.test.dataset),
        main_process_only=True,
    )
    run.progress = tqdm(
        total=run.total_steps,
        initial=state.global_step,
        disable=not run.accelerator.is_local_main_process,
        desc="train",
    )
    run.started = time.perf_counter()


def _train_one_epoch(run: _Run, state: LoopState, epoch: int) -> None:
    """Train ``epoch`` from where ``state`` stands (a resume skips the batches done)."""
    run.loaders.sampler.set_epoch(epoch)
    if hasattr(run.loaders.train, "set_epoch"):
        run.loaders.train.set_epoch(epoch)
    run.model.train()
    skip = state.batch_in_epoch if epoch == state.epoch else 0
    state.epoch, state.batch_in_epoch = epoch, skip
    batches = (
        run.accelerator.skip_first_batches(run.loaders.train, skip) if skip else run.loaders.train
    )
    # Summed where the batches are, so the hot loop adds no device-to-host copy.
    padding_counts = torch.zeros(2, dtype=torch.long, device=run.accelerator.device)
    for batch in batches:
        padding_counts += batch.pop(PADDING_COUNTS_KEY).to(padding_counts.device)
        _training_step(run, state, batch)
        if not run.accelerator.sync_gradients:
            continue
        _after_optimizer_step(run, state, padding_counts)
        if state.global_step >= run.total_steps or state.stop_early:
            break


def _training_step(run: _Run, state: LoopState, batch: dict[str, Any]) -> None:
    """Forward and backward one batch; step the optimiser when the gradients are complete."""
    accelerator, config = run.accelerator, run.config
    try:
        with accelerator.accumulate(run.model):
            loss, terms = run.objective.loss(run.model, batch)
            accelerator.backward(loss)
            if accelerator.sync_gradients and config.max_grad_norm > 0:
                accelerator.clip_grad_norm_(run.clipped_parameters, config.max_grad_norm)
            run.optimizer.step()
            run.scheduler.step()
            run.optimizer.zero_grad()
    except (RuntimeError, MemoryError) as error:
        if not is_out_of_memory(error):
            raise
        raise training_out_of_memory(state.global_step + 1, batch, config) from error
    state.batch_in_epoch += 1
    state.running.add(loss, terms)


def _after_optimizer_step(run: _Run, state: LoopState, padding_counts: torch.Tensor) -> None:
    """Log, evaluate and select, and save a checkpoint, as the options say for this step."""
    config, step = run.config, state.global_step + 1
    state.global_step = step
    run.progress.update(1)
    if step % config.logging_steps == 0 or step == run.total_steps:
        _log_training(run, state)
    end_of_epoch = state.batch_in_epoch == len(run.loaders.train)
    if end_of_epoch:
        _log_padding(run, state, padding_counts)
    evaluate_now = (
        (config.eval_strategy == "steps" and step % config.eval_steps == 0)
        or (config.eval_strategy == "epoch" and end_of_epoch)
        or step == run.total_steps
    )
    if evaluate_now and run.loaders.validation is not None:
        _evaluate_and_select(run, state, end_of_epoch)
    save_now = (config.save_steps > 0 and step % config.save_steps == 0) or (
        config.save_steps <= 0 and evaluate_now
    )
    if save_now and step < run.total_steps and not state.stop_early:
        run.folder.save_checkpoint(state.checkpoint(end_of_epoch), config.save_total_limit)


def _log_training(run: _Run, state: LoopState) -> None:
    loss, terms = state.running.pop()
    record = {
        "step": state.global_step,
        "epoch": state.epoch + state.batch_in_epoch / len(run.loaders.train),
        "loss": loss,
        "learning_rate": head_learning_rate(run.optimizer),
        "seconds": time.perf_counter() - run.started,
        **terms,
    }
    run.folder.log(record, state.history)
    run.progress.set_postfix(loss=f"{loss:.4f}")


def _log_padding(run: _Run, state: LoopState, counts: torch.Tensor) -> None:
    """Log the share of padded samples in this epoch's training batches (all processes)."""
    real, padded_total = run.accelerator.reduce(counts, reduction="sum").tolist()
    if padded_total > 0:
        record = {
            "step": state.global_step,
            "epoch": state.epoch + 1,
            "padding_share": 1 - real / padded_total,
        }
        run.folder.log(record, state.history)


def _evaluate_and_select(run: _Run, state: LoopState, end_of_epoch: bool) -> None:
    """Evaluate on the validation set; keep the model if its UAR is the best; stop early?"""
    config, step = run.config, state.global_step
    metrics = evaluate_model(
        run.model,
        run.loaders.validation,
        run.accelerator,
        criterion=run.criterion,
        stage=f"validation at step {step}",
    )
    record = {"step": step, "epoch": state.epoch + 1 if end_of_epoch else None}
    record.update({f"eval_{k}": metrics[k] for k in _METRICS_LOGGED})
    run.folder.log(record, state.history)
    uar = metrics["uar"]
    if state.best_uar is None or uar > state.best_uar + config.early_stopping_threshold:
        state.evals_without_improvement = 0
    else:
        state.evals_without_improvement += 1
    if state.best_uar is None or uar > state.best_uar:
        state.best_uar, state.best_step = uar, step
        run.folder.save_best_model(run.model, run.feature_extractor)
    patience = config.early_stopping_patience
    if patience and state.evals_without_improvement >= patience:
        state.stop_early = True
        record = {"step": step, "early_stopping": 1, "best_step": state.best_step}
        run.folder.log(record, state.history)
    run.model.train()


def _finish(run: _Run, state: LoopState) -> TrainingResult:
    """Keep the best model (else the last) in the output folder, test it, draw the curves."""
    run.folder.save_final_model(
        run.model, run.feature_extractor, best=run.loaders.validation is not None
    )
    test_metrics = None
    if run.loaders.test is not None:
        model_config = run.accelerator.unwrap_model(run.model).config
        test_metrics = evaluate_model(
            run.model,
            run.loaders.test,
            run.accelerator,
            criterion=run.criterion,
            label_names=[model_config.id2label[i] for i in range(model_config.num_labels)],
            stage=f"the test evaluation after step {state.global_step}",
        )
        record = {f"test_{k}": test_metrics[k] for k in _METRICS_LOGGED}
        run.folder.log({"step": state.global_step, **record}, state.history)
    if run.accelerator.is_main_process:
        plot_training_curves(state.history, run.folder.path / CURVES_FILE)
    run.accelerator.wait_for_everyone()
    return TrainingResult(
        test_metrics=test_metrics,
        best_validation_uar=state.best_uar,
        best_step=state.best_step,
        global_step=state.global_step,
        history=state.history,
    )


def _enable_gradient_checkpointing(model: torch.nn.Module) -> None:
    if not getattr(model, "supports_gradient_checkpointing", False):
        raise ValueError(
            f"{type(model).__name__} does not support gradient checkpointing; "
            "drop --gradient_checkpointing (it serves the wav2vec2 family's long sequences)"
        )
    # Non-reentrant checkpointing works with frozen inputs and unused outputs (DDP, LayerDrop).
    model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    logger.info("gradient checkpointing on", main_process_only=True)


def _tracker_config(config: TrainingConfig, augmentation) -> dict[str, Any]:
    """Scalars only: TensorBoard's hyperparameter table takes numbers, strings and booleans."""
    values = dataclasses.asdict(config)
    if augmentation is not None:
        values.update(dataclasses.asdict(augmentation))
    return {
        key: value if isinstance(value, int | float | str | bool) else str(value)
        for key, value in values.items()
    }


__all__ = [
    # Re-exported from their modules for code that imports them from here.
    "CURVES_FILE",
    "LOCK_FILE",
    "LOG_FILE",
    "OutputDirInUseError",
    "TrainingConfig",
    "evaluate_model",
    "latest_checkpoint",
    "lock_output_dir",
    "make_accelerator",
    "prepare_output_dir",
    "resolve_mixed_precision",
    # The loop.
    "LoopState",
    "TrainingResult",
    "train",
]
