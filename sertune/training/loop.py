"""The one training loop every recipe calls, built on Hugging Face Accelerate.

Mixed precision when the hardware has it, gradient accumulation and clipping, AdamW with a
linear or cosine schedule and warm-up, evaluation on the validation speakers every epoch (or
every N steps), the best checkpoint by validation UAR, a final test evaluation, and
``accelerator.save_state`` checkpoints that a run resumes from. Nothing here assumes one
device: multi-GPU (DDP) comes from ``accelerate launch``.

Interrupted and concurrent runs: a run holds an exclusive lock on its output folder
(:func:`lock_output_dir`), so a second run on the same folder fails at once. Checkpoints and
saved models are written into a temporary sibling (``.tmp-*``), synced to disk, then renamed
into place, so a run killed mid-save leaves the previous checkpoint and model intact; the next
run in the folder removes the leftovers. Running out of memory in a training step or an
evaluation ends the run with the step, the batch shape and the options that lower memory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fcntl
import json
import logging
import math
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import set_seed
from datasets import Dataset as HFDataset
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_scheduler

from sertune.audio_cache import DecodedAudioCache
from sertune.metrics import compute_ser_metrics
from sertune.training.augment import AugmentationArguments, SpecAugment, WaveformAugmenter
from sertune.training.config import TrainingConfig, make_accelerator, resolve_mixed_precision
from sertune.training.data import (
    PADDING_COUNTS_KEY,
    AudioClassificationDataset,
    EpochShuffleSampler,
    PaddingCollator,
    min_input_samples,
)
from sertune.training.distill import Distiller
from sertune.training.losses import (
    class_counts,
    class_weights_from_counts,
    make_criterion,
)
from sertune.training.report import plot_training_curves
from sertune.training.sampling import (
    ClassBalancedSampler,
    DurationBucketBatchSampler,
    durations_from_dataset,
)

logger = get_logger(__name__)

CHECKPOINT_DIR = "checkpoints"
BEST_MODEL_DIR = "best_model"
STATE_FILE = "loop_state.json"
LOG_FILE = "training_log.jsonl"
CURVES_FILE = "training_curves.png"
TRACKER_RUN_NAME = "tensorboard"
LOCK_FILE = ".sertune.lock"
# Names of folders a save is still writing (or that a killed save left behind); nothing reads
# them, and the next run in the output folder removes them.
TEMP_PREFIX = ".tmp-"
FINAL_STAGING_DIR = f"{TEMP_PREFIX}final_model"


@dataclass
class TrainingResult:
    """What :func:`train` returns: the test metrics, the best validation UAR and where."""

    test_metrics: dict[str, Any] | None
    best_validation_uar: float | None
    best_step: int | None
    global_step: int
    history: list[dict[str, Any]]


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
) -> TrainingResult:
    """Fine-tune ``model`` on ``train_dataset``; keep the best by validation UAR; test it.

    The model must take ``input_values``, ``attention_mask`` and ``labels`` and return an
    output with ``loss`` and ``logits``; it must offer ``parameter_groups(head_lr, encoder_lr,
    weight_decay)`` returning AdamW groups whose ``"name"`` starts with ``"head"`` or
    ``"encoder"`` (sertune models do). The model config's ``freeze_encoder_steps`` keeps the
    encoder groups at learning rate 0 for that many optimiser steps. The final (best) model and the feature extractor are saved in
    ``config.output_dir``.

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
            distiller's (soft targets, the hard-label criterion below and feature matching),
            on batches that carry the teacher's inputs too. Validation and test evaluate the
            student alone.

    Raises:
        OutputDirInUseError: Another live run holds ``config.output_dir``.
        FileExistsError: ``config.output_dir`` holds an earlier run (see
            :func:`prepare_output_dir`).
        RuntimeError: A training step or an evaluation ran out of memory; the message names
            the step, the batch shape and the options that lower memory.
    """
    if accelerator is None:
        accelerator = make_accelerator(config)
    with lock_output_dir(config.output_dir, accelerator):
        return _train_holding_lock(
            model,
            feature_extractor,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            test_dataset=test_dataset,
            config=config,
            accelerator=accelerator,
            augmentation=augmentation,
            distillation=distillation,
        )


def _train_holding_lock(
    model: torch.nn.Module,
    feature_extractor,
    *,
    train_dataset: HFDataset,
    eval_dataset: HFDataset | None,
    test_dataset: HFDataset | None,
    config: TrainingConfig,
    accelerator: Accelerator,
    augmentation: AugmentationArguments | None,
    distillation: Distiller | None,
) -> TrainingResult:
    output_dir = Path(config.output_dir)
    set_seed(config.seed)
    if accelerator.is_main_process:
        prepare_output_dir(output_dir, config)
    accelerator.wait_for_everyone()
    _attach_file_log(output_dir, accelerator, append=bool(config.resume_from_checkpoint))
    if accelerator.log_with:
        accelerator.init_trackers(TRACKER_RUN_NAME, config=_tracker_config(config, augmentation))

    if config.gradient_checkpointing:
        _enable_gradient_checkpointing(accelerator.unwrap_model(model))
    sampling_rate = feature_extractor.sampling_rate
    waveform_augmenter, spec_augment = _augmenters(augmentation, feature_extractor)
    model_config = accelerator.unwrap_model(model).config
    audio_cache = (
        DecodedAudioCache(config.audio_cache_dir, sampling_rate) if config.audio_cache_dir else None
    )
    train_set = AudioClassificationDataset(
        train_dataset,
        sampling_rate=sampling_rate,
        max_seconds=config.max_train_seconds,
        crop=True,
        seed=config.seed,
        augment=waveform_augmenter,
        # Shorter than the encoder's receptive field (or its time masks) cannot run: padded.
        # A teacher reads the same waveforms, so its receptive field counts too.
        min_samples=max(
            min_input_samples(model_config, training=True),
            0 if distillation is None else min_input_samples(distillation.teacher.config),
        ),
        audio_cache=audio_cache,
    )
    loader_options = {
        "collate_fn": PaddingCollator(feature_extractor),
        "num_workers": config.dataloader_num_workers,
        "pin_memory": torch.cuda.is_available(),
        "persistent_workers": config.dataloader_num_workers > 0,
        # Its own generator keeps worker seeding off the global RNG (dropout), so a resumed
        # run draws the same dropout masks as an uninterrupted one.
        "generator": torch.Generator().manual_seed(config.seed),
    }
    train_collator = PaddingCollator(
        feature_extractor, feature_augment=spec_augment, seed=config.seed
    )
    if distillation is not None:
        distillation.check_augmentation(waveform_augmenter is not None or spec_augment is not None)
        train_collator = distillation.collator(train_collator)
    sampler, train_loader = _train_loader(
        train_set, train_dataset, config, {**loader_options, "collate_fn": train_collator}
    )
    label_names = [model_config.id2label[i] for i in range(model_config.num_labels)]
    criterion = _criterion(config, train_set.labels, label_names)
    eval_min_samples = min_input_samples(model_config)
    eval_loader = _eval_loader(
        eval_dataset, sampling_rate, config, loader_options, eval_min_samples, audio_cache
    )
    test_loader = _eval_loader(
        test_dataset, sampling_rate, config, loader_options, eval_min_samples, audio_cache
    )

    # Loaders first: with several processes each sees its shard, and the step counts below
    # must be those of one process.
    train_loader = accelerator.prepare(train_loader)
    if eval_loader is not None:
        eval_loader = accelerator.prepare(eval_loader)
    if test_loader is not None:
        test_loader = accelerator.prepare(test_loader)
    steps_per_epoch = math.ceil(len(train_loader) / config.gradient_accumulation_steps)
    if config.max_steps > 0:
        total_steps = config.max_steps
    else:
        total_steps = math.ceil(config.num_train_epochs * steps_per_epoch)
    num_epochs = math.ceil(total_steps / steps_per_epoch)

    encoder_lr = (
        config.learning_rate
        if config.encoder_learning_rate is None
        else config.encoder_learning_rate
    )
    groups = model.parameter_groups(
        config.learning_rate, encoder_lr, config.weight_decay, layer_decay=config.layer_decay
    )
    if distillation is not None:
        groups += distillation.parameter_groups(config.learning_rate, config.weight_decay)
    optimizer = torch.optim.AdamW(
        groups,
        lr=config.learning_rate,
        betas=(config.adam_beta1, config.adam_beta2),
        eps=config.adam_epsilon,
        # One fused kernel for all parameters (CPU and CUDA): the optimiser step took 17 ms
        # of a 297 ms CPU step in the single-tensor path, 7 ms fused (docs/benchmarks.md).
        fused=all(p.is_floating_point() for group in groups for p in group["params"]),
    )
    # A prepared scheduler advances once per process at each optimiser step.
    freeze_encoder_steps = getattr(model.config, "freeze_encoder_steps", 0)
    scheduler = _scheduler(
        optimizer, config, total_steps, accelerator.num_processes, freeze_encoder_steps
    )
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    if distillation is not None:
        # Before a resume's load_state: the projections are restored with the checkpoint.
        distillation.prepare(accelerator)
    clipped_parameters = list(model.parameters()) + (
        distillation.trainable_parameters() if distillation is not None else []
    )

    state = {
        "global_step": 0,
        "epoch": 0,
        "batch_in_epoch": 0,
        "best_uar": None,
        "best_step": None,
        "evals_without_improvement": 0,
    }
    history: list[dict[str, Any]] = []
    if config.resume_from_checkpoint:
        checkpoint = _resolve_checkpoint(config.resume_from_checkpoint, output_dir)
        accelerator.load_state(str(checkpoint))
        state = json.loads((checkpoint / STATE_FILE).read_text())
        state.setdefault("evals_without_improvement", 0)
        history = state.pop("history", [])
        if accelerator.is_main_process:
            _restore_from_checkpoint(checkpoint, output_dir, state, history)
        accelerator.wait_for_everyone()
        logger.info(
            "resumed from %s at step %d", checkpoint, state["global_step"], main_process_only=True
        )

    logger.info(
        "training on %d utterances for %d steps (%d epochs, %d steps each), %d validation, %d test",
        len(train_set),
        total_steps,
        num_epochs,
        steps_per_epoch,
        0 if eval_dataset is None else len(eval_dataset),
        0 if test_dataset is None else len(test_dataset),
        main_process_only=True,
    )
    progress = tqdm(
        total=total_steps,
        initial=state["global_step"],
        disable=not accelerator.is_local_main_process,
        desc="train",
    )
    running_loss, running_count, started = 0.0, 0, time.perf_counter()
    global_step = state["global_step"]
    stop_early = False
    for epoch in range(state["epoch"], num_epochs):
        if global_step >= total_steps or stop_early:
            break
        sampler.set_epoch(epoch)
        if hasattr(train_loader, "set_epoch"):
            train_loader.set_epoch(epoch)
        model.train()
        batches = train_loader
        skip = state["batch_in_epoch"] if epoch == state["epoch"] else 0
        if skip:
            batches = accelerator.skip_first_batches(train_loader, skip)
        batch_in_epoch = skip
        # Summed where the batches are, so the hot loop adds no device-to-host copy.
        padding_counts = torch.zeros(2, dtype=torch.long, device=accelerator.device)
        for batch in batches:
            padding_counts += batch.pop(PADDING_COUNTS_KEY).to(padding_counts.device)
            labels = batch.pop("labels")
            try:
                with accelerator.accumulate(model):
                    if distillation is None:
                        loss = criterion(model(**batch).logits, labels)
                    else:
                        loss = distillation.loss(model, batch, labels, hard_loss=criterion)
                    accelerator.backward(loss)
                    if accelerator.sync_gradients and config.max_grad_norm > 0:
                        accelerator.clip_grad_norm_(clipped_parameters, config.max_grad_norm)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad()
            except (RuntimeError, MemoryError) as error:
                if not _is_out_of_memory(error):
                    raise
                raise _training_out_of_memory(global_step + 1, batch, config) from error
            batch_in_epoch += 1
            running_loss += loss.detach().float().item()
            running_count += 1
            if not accelerator.sync_gradients:
                continue
            global_step += 1
            progress.update(1)
            if global_step % config.logging_steps == 0 or global_step == total_steps:
                record = {
                    "step": global_step,
                    "epoch": epoch + batch_in_epoch / len(train_loader),
                    "loss": running_loss / running_count,
                    "learning_rate": _head_learning_rate(optimizer),
                    "seconds": time.perf_counter() - started,
                }
                if distillation is not None:
                    record.update(distillation.running_components())
                running_loss, running_count = 0.0, 0
                _log(record, history, output_dir, accelerator)
                progress.set_postfix(loss=f"{record['loss']:.4f}")
            end_of_epoch = batch_in_epoch == len(train_loader)
            if end_of_epoch:
                _log_padding(padding_counts, global_step, epoch, history, output_dir, accelerator)
            evaluate_now = (
                config.eval_strategy == "steps" and global_step % config.eval_steps == 0
            ) or (config.eval_strategy == "epoch" and end_of_epoch)
            if global_step == total_steps:
                evaluate_now = True
            if evaluate_now and eval_loader is not None:
                metrics = evaluate_model(
                    model, eval_loader, accelerator, stage=f"validation at step {global_step}"
                )
                uar = metrics["uar"]
                record = {"step": global_step, "epoch": epoch + 1 if end_of_epoch else None}
                record.update({f"eval_{k}": metrics[k] for k in ("uar", "wa", "macro_f1", "loss")})
                _log(record, history, output_dir, accelerator)
                if (
                    state["best_uar"] is None
                    or uar > state["best_uar"] + config.early_stopping_threshold
                ):
                    state["evals_without_improvement"] = 0
                else:
                    state["evals_without_improvement"] += 1
                if state["best_uar"] is None or uar > state["best_uar"]:
                    state["best_uar"], state["best_step"] = uar, global_step
                    _save_model(model, feature_extractor, output_dir / BEST_MODEL_DIR, accelerator)
                patience = config.early_stopping_patience
                if patience and state["evals_without_improvement"] >= patience:
                    stop_early = True
                    _log(
                        {"step": global_step, "early_stopping": 1, "best_step": state["best_step"]},
                        history,
                        output_dir,
                        accelerator,
                    )
                model.train()
            save_now = (config.save_steps > 0 and global_step % config.save_steps == 0) or (
                config.save_steps <= 0 and evaluate_now
            )
            if save_now and global_step < total_steps and not stop_early:
                next_epoch, next_batch = (epoch + 1, 0) if end_of_epoch else (epoch, batch_in_epoch)
                state.update(global_step=global_step, epoch=next_epoch, batch_in_epoch=next_batch)
                _save_checkpoint(accelerator, output_dir, state, history, config.save_total_limit)
            if global_step >= total_steps or stop_early:
                break
    progress.close()

    # The model to keep: the best on validation, else the last.
    final_dir = output_dir
    unwrapped = accelerator.unwrap_model(model)
    best_dir = output_dir / BEST_MODEL_DIR
    accelerator.wait_for_everyone()
    if eval_loader is not None and best_dir.is_dir():
        best = type(unwrapped).from_pretrained(best_dir, use_safetensors=True)
        unwrapped.load_state_dict(best.state_dict())
    _save_final_model(model, feature_extractor, final_dir, accelerator)
    if accelerator.is_main_process and best_dir.is_dir():
        # The output folder now holds the same weights; a second copy only costs disk.
        shutil.rmtree(best_dir)

    test_metrics = None
    if test_loader is not None:
        label_names = [unwrapped.config.id2label[i] for i in range(unwrapped.config.num_labels)]
        test_metrics = evaluate_model(
            model,
            test_loader,
            accelerator,
            label_names=label_names,
            stage=f"the test evaluation after step {global_step}",
        )
        _log(
            {
                "step": global_step,
                **{f"test_{k}": test_metrics[k] for k in ("uar", "wa", "macro_f1", "loss")},
            },
            history,
            output_dir,
            accelerator,
        )
    if accelerator.is_main_process:
        plot_training_curves(history, output_dir / CURVES_FILE)
    accelerator.wait_for_everyone()
    return TrainingResult(
        test_metrics=test_metrics,
        best_validation_uar=state["best_uar"],
        best_step=state["best_step"],
        global_step=global_step,
        history=history,
    )


@torch.no_grad()
def evaluate_model(
    model: torch.nn.Module,
    loader: DataLoader,
    accelerator: Accelerator,
    *,
    label_names: list[str] | None = None,
    stage: str = "evaluation",
) -> dict[str, Any]:
    """Run the model over a prepared loader and compute the SER metrics (plus mean loss).

    Args:
        model: The (prepared) model.
        loader: A prepared evaluation loader.
        accelerator: The run's `Accelerator` (gathers predictions across processes).
        label_names: Class names for the per-class metrics.
        stage: What this evaluation is (e.g. ``"validation at step 200"``), named in the
            error if a batch runs out of memory.

    Raises:
        RuntimeError: A batch ran out of memory; the message names ``stage``, the batch shape
            and ``--per_device_eval_batch_size``.
    """
    model.eval()
    predictions, references, losses = [], [], []
    for batch in loader:
        batch.pop(PADDING_COUNTS_KEY, None)
        try:
            outputs = model(**batch)
        except (RuntimeError, MemoryError) as error:
            if not _is_out_of_memory(error):
                raise
            raise RuntimeError(
                f"out of memory in {stage} on a batch of {_describe_batch(batch)}: evaluation "
                "does not crop long utterances, so lower --per_device_eval_batch_size "
                "(1 fits the longest utterance alone)"
            ) from error
        logits, labels = accelerator.gather_for_metrics((outputs.logits, batch["labels"]))
        # Per utterance, so that the mean is over utterances whatever the batching.
        losses.append(
            torch.nn.functional.cross_entropy(logits.float(), labels, reduction="none")
            .cpu()
            .numpy()
        )
        predictions.append(logits.argmax(-1).cpu().numpy())
        references.append(labels.cpu().numpy())
    num_labels = accelerator.unwrap_model(model).config.num_labels
    metrics = compute_ser_metrics(
        np.concatenate(predictions),
        np.concatenate(references),
        label_names=label_names,
        num_labels=num_labels,
    )
    metrics["loss"] = float(np.concatenate(losses).mean())
    return metrics


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


def _resolve_checkpoint(requested: str, output_dir: Path) -> Path:
    if requested == "latest":
        checkpoint = latest_checkpoint(output_dir)
        if checkpoint is None:
            raise FileNotFoundError(f"{output_dir / CHECKPOINT_DIR}: no checkpoint to resume from")
        return checkpoint
    checkpoint = Path(requested)
    if checkpoint.name.startswith(TEMP_PREFIX):
        raise FileNotFoundError(
            f"{checkpoint}: an unfinished checkpoint save (a run was stopped while writing it); "
            "resume from a step-N folder or 'latest'"
        )
    if not (checkpoint / STATE_FILE).is_file():
        raise FileNotFoundError(f"{checkpoint}: not a sertune checkpoint (no {STATE_FILE})")
    return checkpoint


def _enable_gradient_checkpointing(model: torch.nn.Module) -> None:
    if not getattr(model, "supports_gradient_checkpointing", False):
        raise ValueError(
            f"{type(model).__name__} does not support gradient checkpointing; "
            "drop --gradient_checkpointing (it serves the wav2vec2 family's long sequences)"
        )
    # Non-reentrant checkpointing works with frozen inputs and unused outputs (DDP, LayerDrop).
    model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    logger.info("gradient checkpointing on", main_process_only=True)


def _augmenters(
    augmentation: AugmentationArguments | None, feature_extractor
) -> tuple[WaveformAugmenter | None, SpecAugment | None]:
    if augmentation is None:
        return None, None
    waveform = WaveformAugmenter(augmentation, feature_extractor.sampling_rate)
    spec = SpecAugment.from_arguments(augmentation)
    if spec.enabled and getattr(feature_extractor, "n_mels", None) is None:
        raise ValueError(
            "SpecAugment masks spectrogram features (the CNN family's log-mel input); "
            f"{type(feature_extractor).__name__} gives waveforms: set the spec_* "
            "probabilities to 0 (wav2vec2-family models mask inside the model: mask_time_prob)"
        )
    for name in waveform.describe() + ([f"SpecAugment {spec}"] if spec.enabled else []):
        logger.info("augmentation: %s", name, main_process_only=True)
    return (waveform if waveform.enabled else None), (spec if spec.enabled else None)


def _train_loader(train_set, train_dataset, config: TrainingConfig, options):
    """The training sampler (for ``set_epoch``) and loader that ``config.sampler`` names."""
    batch_size = config.per_device_train_batch_size
    if config.sampler == "bucket":
        durations = durations_from_dataset(train_dataset)
        if config.max_train_seconds is not None:
            durations = [min(d, config.max_train_seconds) for d in durations]
        sampler = DurationBucketBatchSampler(
            durations,
            batch_size,
            seed=config.seed,
            bucket_size_multiplier=config.bucket_size_multiplier,
        )
        return sampler, DataLoader(train_set, batch_sampler=sampler, **options)
    if config.sampler == "balanced":
        sampler = ClassBalancedSampler(train_set.labels, seed=config.seed)
    else:
        sampler = EpochShuffleSampler(len(train_set), seed=config.seed)
    return sampler, DataLoader(train_set, batch_size=batch_size, sampler=sampler, **options)


def _criterion(config: TrainingConfig, labels: list[int], label_names: list[str]):
    weights = None
    if config.class_weighting != "none":
        counts = class_counts(labels, len(label_names))
        weights = class_weights_from_counts(
            counts, scheme=config.class_weighting, label_names=label_names
        )
        logger.info(
            "class weights (%s) from training counts %s: %s",
            config.class_weighting,
            counts.tolist(),
            [round(w, 4) for w in weights.tolist()],
            main_process_only=True,
        )
    return make_criterion(
        config.loss,
        class_weights=weights,
        label_smoothing=config.label_smoothing,
        focal_gamma=config.focal_gamma,
    )


def _log_padding(counts, global_step, epoch, history, output_dir, accelerator) -> None:
    """Log the share of padded samples in this epoch's training batches (all processes)."""
    counts = accelerator.reduce(counts, reduction="sum")
    real, padded_total = counts.tolist()
    if padded_total > 0:
        record = {"step": global_step, "epoch": epoch + 1, "padding_share": 1 - real / padded_total}
        _log(record, history, output_dir, accelerator)


def _tracker_config(config: TrainingConfig, augmentation) -> dict[str, Any]:
    """Scalars only: TensorBoard's hyperparameter table takes numbers, strings and booleans."""
    values = dataclasses.asdict(config)
    if augmentation is not None:
        values.update(dataclasses.asdict(augmentation))
    return {
        key: value if isinstance(value, int | float | str | bool) else str(value)
        for key, value in values.items()
    }


def _eval_loader(
    dataset, sampling_rate, config, loader_options, min_samples: int, audio_cache=None
) -> DataLoader | None:
    if dataset is None or len(dataset) == 0:
        return None
    eval_set = AudioClassificationDataset(
        dataset,
        sampling_rate=sampling_rate,
        crop=False,
        min_samples=min_samples,
        audio_cache=audio_cache,
    )
    return DataLoader(
        eval_set, batch_size=config.per_device_eval_batch_size, shuffle=False, **loader_options
    )


def _scheduler(
    optimizer,
    config: TrainingConfig,
    total_steps: int,
    num_processes: int,
    freeze_encoder_steps: int,
):
    base = get_scheduler(
        config.lr_scheduler_type,
        optimizer=optimizer,
        num_warmup_steps=int(config.warmup_ratio * total_steps) * num_processes,
        num_training_steps=total_steps * num_processes,
    )
    if freeze_encoder_steps <= 0:
        return base
    # Freezing by a zero learning rate, not requires_grad: DDP fixes the set of trained
    # parameters when it wraps the model, so toggling requires_grad later would desynchronise
    # the processes. AdamW with lr 0 leaves a weight exactly unchanged.
    frozen_steps = freeze_encoder_steps * num_processes

    def gated(schedule, is_encoder):
        if not is_encoder:
            return schedule
        return lambda step: 0.0 if step < frozen_steps else schedule(step)

    lambdas = [
        gated(schedule, str(group.get("name", "")).startswith("encoder"))
        for schedule, group in zip(base.lr_lambdas, optimizer.param_groups, strict=True)
    ]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas)


def _save_model(model, feature_extractor, folder: Path, accelerator: Accelerator) -> None:
    """Save the model into ``folder`` (the best model) whole or not at all.

    The main process writes a temporary sibling and renames it into place: a run killed
    mid-save keeps the previous best model, never half of a new one.
    """
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        staging = folder.parent / f"{TEMP_PREFIX}{folder.name}"
        _write_model(model, feature_extractor, staging, accelerator)
        _replace_folder(staging, folder)
    # No process may read the folder before it is complete.
    accelerator.wait_for_everyone()


def _save_final_model(model, feature_extractor, output_dir: Path, accelerator) -> None:
    """Save the final model's files into the output folder itself, each whole or not at all.

    The folder cannot be swapped as a whole (it holds the logs and checkpoints), so each file
    is renamed into place from a synced staging folder, the weights last: whatever a kill
    leaves, no weights file is ever half-written.
    """
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        staging = output_dir / FINAL_STAGING_DIR
        _write_model(model, feature_extractor, staging, accelerator)
        files = sorted(staging.iterdir(), key=lambda path: (path.suffix == ".safetensors", path))
        for path in files:
            os.replace(path, output_dir / path.name)
        _fsync_directory(output_dir)
        staging.rmdir()
    accelerator.wait_for_everyone()


def _write_model(model, feature_extractor, staging: Path, accelerator: Accelerator) -> None:
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    accelerator.unwrap_model(model).save_pretrained(staging, safe_serialization=True)
    feature_extractor.save_pretrained(staging)
    _fsync_tree(staging)


def _save_checkpoint(accelerator, output_dir: Path, state, history, keep: int) -> None:
    """Write ``checkpoints/step-N`` atomically: into ``.tmp-step-N``, synced, then renamed."""
    checkpoints = output_dir / CHECKPOINT_DIR
    folder = checkpoints / f"step-{state['global_step']}"
    # Every process writes its RNG state into the staging folder, so its name must be the same
    # on all of them: it comes from the step (the output-folder lock rules out a second run).
    staging = checkpoints / f"{TEMP_PREFIX}{folder.name}"
    if accelerator.is_main_process:
        shutil.rmtree(staging, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(staging))
    # Every process's files must be on disk before the folder is named a checkpoint.
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        # The best model so far belongs to the checkpoint: a run resumed from it must keep
        # selecting against those weights, wherever it resumes.
        best = output_dir / BEST_MODEL_DIR
        if best.is_dir():
            shutil.copytree(best, staging / BEST_MODEL_DIR, dirs_exist_ok=True)
        (staging / STATE_FILE).write_text(json.dumps({**state, "history": history}, indent=1))
        _fsync_tree(staging)
        _replace_folder(staging, folder)
        checkpoints_found = sorted(
            (int(p.name.split("-")[1]), p)
            for p in checkpoints.iterdir()
            if re.fullmatch(r"step-\d+", p.name)
        )
        for _, old in checkpoints_found[: max(0, len(checkpoints_found) - keep)]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()


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


class OutputDirInUseError(RuntimeError):
    """Another live run holds the output folder's lock."""


# Locks this process holds: resolved folder -> [descriptor, nesting depth]. A recipe's
# fit_and_report holds the lock around train(), which takes it again.
_held_locks: dict[Path, list[int]] = {}


def _forget_locks_in_forked_child() -> None:
    # A forked child (a DataLoader worker) shares the lock's open file description; closing its
    # copy (never unlocking: that would release the parent's lock) lets the lock go as soon as
    # the parent dies, not when the last worker does.
    for descriptor, _ in _held_locks.values():
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
    taking the lock again in the same process nests.

    Args:
        output_dir: The run's output folder (created if missing).
        accelerator: The run's `Accelerator`; the other processes of a multi-process run do
            nothing. ``None``: this process locks.

    Raises:
        OutputDirInUseError: Another live run holds the lock (also with
            ``overwrite_output_dir``: overwriting a live run's results is never right).
    """
    if accelerator is not None and not accelerator.is_main_process:
        yield
        return
    folder = Path(output_dir).resolve()
    held = _held_locks.get(folder)
    if held is not None:
        held[1] += 1
        try:
            yield
        finally:
            held[1] -= 1
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
        _held_locks[folder] = [descriptor, 1]
        yield
    finally:
        _held_locks.pop(folder, None)
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)


def _is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, torch.OutOfMemoryError | MemoryError):
        return True
    # CPU allocation failures are plain RuntimeErrors; so are some backends' OOMs.
    message = str(error)
    return "can't allocate memory" in message or "out of memory" in message.lower()


def _describe_batch(batch: dict[str, Any]) -> str:
    """``"4 utterances (input_values 4 x 96000)"``: waveform models' input is in samples."""
    for name in ("input_values", "input_features"):
        values = batch.get(name)
        if isinstance(values, torch.Tensor):
            shape = " x ".join(str(size) for size in values.shape)
            return f"{values.shape[0]} utterances ({name} {shape})"
    return "unknown shape"


def _training_out_of_memory(step: int, batch: dict[str, Any], config: TrainingConfig):
    crop = (
        f"lower --max_train_seconds (now {config.max_train_seconds:g}; longer utterances are "
        "cropped to it)"
        if config.max_train_seconds is not None
        else "set --max_train_seconds (training utterances are not cropped now)"
    )
    effective = config.per_device_train_batch_size * config.gradient_accumulation_steps
    return RuntimeError(
        f"out of memory at training step {step} on a batch of {_describe_batch(batch)}: {crop}, "
        f"or lower --per_device_train_batch_size (now {config.per_device_train_batch_size}) and "
        "raise --gradient_accumulation_steps to keep the effective batch size "
        f"(now {effective} per process)"
    )


def prepare_output_dir(output_dir: str | os.PathLike, config: TrainingConfig) -> None:
    """Refuse to mix two runs' results in one folder unless resuming or told to overwrite.

    Call it on the main process, holding :func:`lock_output_dir`, before writing anything into
    the folder; :func:`train` calls it too. It first cleans up after saves a killed run left
    unfinished (``.tmp-*`` folders). ``run_config.json`` and ``train.log`` alone do not count
    as an earlier run: a recipe writes the first before :func:`train` checks the folder, and
    they are all a run killed before its first logged step leaves (a new run rewrites both).

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


def _restore_from_checkpoint(checkpoint: Path, output_dir: Path, state, history) -> None:
    """Put the checkpoint's best model and log in place; drop anything from after it."""
    best = output_dir / BEST_MODEL_DIR
    saved_best = checkpoint / BEST_MODEL_DIR
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
    # The log is rewritten from the checkpoint's history, so steps a killed run logged after
    # the checkpoint do not appear twice.
    with open(output_dir / LOG_FILE, "w", encoding="utf-8") as log:
        log.writelines(json.dumps(record) + "\n" for record in history)


def _head_learning_rate(optimizer) -> float:
    for group in optimizer.param_groups:
        if str(group.get("name", "")).startswith("head"):
            return group["lr"]
    return optimizer.param_groups[0]["lr"]


def _log(record, history, output_dir: Path, accelerator: Accelerator) -> None:
    record = {k: v for k, v in record.items() if v is not None}
    history.append(record)
    if accelerator.is_main_process:
        with open(output_dir / LOG_FILE, "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")
        logger.info(
            " ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()
            )
        )
    accelerator.log({k: v for k, v in record.items() if k != "step"}, step=record["step"])


def _attach_file_log(output_dir: Path, accelerator: Accelerator, append: bool) -> None:
    if not accelerator.is_main_process:
        return
    # A resumed run continues its log; a new one (perhaps overwriting) starts it afresh.
    handler = logging.FileHandler(
        output_dir / "train.log", mode="a" if append else "w", encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("sertune")
    root.handlers = [h for h in root.handlers if not getattr(h, "_sertune_run_log", False)]
    handler._sertune_run_log = True
    root.addHandler(handler)
    root.setLevel(logging.INFO)


__all__ = [
    "CURVES_FILE",
    "resolve_mixed_precision",
    "OutputDirInUseError",
    "TrainingConfig",
    "TrainingResult",
    "evaluate_model",
    "latest_checkpoint",
    "lock_output_dir",
    "make_accelerator",
    "prepare_output_dir",
    "train",
]
