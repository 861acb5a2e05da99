"""One fine-tuning run on one fold, from a built model to the report: what every recipe ends with."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import torch
from accelerate import Accelerator, PartialState
from accelerate.utils import set_seed
from datasets import Dataset

from sertune.data.protocols import Fold
from sertune.training.augment import AugmentationArguments
from sertune.training.config import TrainingConfig
from sertune.training.distill import Distiller
from sertune.training.loop import train
from sertune.training.report import check_resumed_options, write_run_config, write_run_report
from sertune.training.run_folder import open_run_folder

logger = logging.getLogger(__name__)


def start_run(config: TrainingConfig) -> None:
    """What every recipe does first: log INFO on the main process only, and seed everything.

    The seed is set before the model is built, so that a pretrained encoder's fresh head is
    reproducible too. A resumed run's training options are checked against those it started
    with (:func:`~sertune.training.report.check_resumed_options`), before any data is read.
    """
    if config.resume_from_checkpoint:
        check_resumed_options(config.output_dir, {"training": dataclasses.asdict(config)})
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        level=logging.INFO if PartialState(cpu=config.use_cpu).is_main_process else logging.WARNING,
    )
    set_seed(config.seed)


def fit_and_report(
    model: torch.nn.Module,
    feature_extractor,
    *,
    corpus: Dataset,
    fold: Fold,
    corpus_name: str,
    config: TrainingConfig,
    run_config: dict[str, Any],
    accelerator: Accelerator,
    augmentation: AugmentationArguments | None = None,
    distillation: Distiller | None = None,
) -> dict[str, Any]:
    """Train on the fold's training speakers, select on its validation speakers, test once.

    ``augmentation`` applies to the training speakers only. With ``distillation`` the model is
    trained as the student of the distiller's teacher (see :func:`sertune.training.loop.train`).

    Opens the output folder once (:func:`~sertune.training.run_folder.open_run_folder`): its
    lock is held throughout (a second run on the folder fails at once), and a folder that
    holds an earlier run is refused unless resuming or overwriting. Writes ``run_config.json``
    first, then the model, ``metrics.json`` and the confusion matrix.

    Returns:
        The contents of ``metrics.json`` on the main process; ``{}`` on the others.
    """
    # The lock spans the run config, training and report: no second run may touch them.
    with open_run_folder(config, accelerator) as run_folder:
        if config.resume_from_checkpoint:
            check_resumed_options(config.output_dir, run_config)
        if accelerator.is_main_process:
            write_run_config(config.output_dir, run_config)
        started = time.perf_counter()
        result = train(
            model,
            feature_extractor,
            train_dataset=corpus.select(fold.train),
            eval_dataset=corpus.select(fold.validation) if fold.validation else None,
            test_dataset=corpus.select(fold.test),
            config=config,
            accelerator=accelerator,
            augmentation=augmentation,
            distillation=distillation,
            run_folder=run_folder,
        )
        report: dict[str, Any] = {}
        if accelerator.is_main_process:
            report = write_run_report(
                config.output_dir,
                test_metrics=result.test_metrics,
                label_names=corpus.features["label"].names,
                fold=fold,
                corpus=corpus_name,
                best_validation_uar=result.best_validation_uar,
                best_step=result.best_step,
                global_step=result.global_step,
                num_processes=accelerator.num_processes,
                train_seconds=time.perf_counter() - started,
            )
            logger.info(
                "test UAR %.4f, WA %.4f, macro-F1 %.4f (speakers %s)",
                report["uar"],
                report["wa"],
                report["macro_f1"],
                ", ".join(fold.test_speakers),
            )
    accelerator.end_training()
    return report
