"""The library's training loop, data path and run reports, shared by every recipe."""

from sertune.training.data import AudioClassificationDataset, EpochShuffleSampler, PaddingCollator
from sertune.training.loop import (
    OutputDirInUseError,
    TrainingConfig,
    TrainingResult,
    evaluate_model,
    latest_checkpoint,
    lock_output_dir,
    make_accelerator,
    prepare_output_dir,
    resolve_mixed_precision,
    train,
)
from sertune.training.report import write_run_config, write_run_report
from sertune.training.run import fit_and_report, start_run

__all__ = [
    "OutputDirInUseError",
    "lock_output_dir",
    "AudioClassificationDataset",
    "EpochShuffleSampler",
    "PaddingCollator",
    "TrainingConfig",
    "TrainingResult",
    "evaluate_model",
    "fit_and_report",
    "latest_checkpoint",
    "make_accelerator",
    "prepare_output_dir",
    "resolve_mixed_precision",
    "start_run",
    "train",
    "write_run_config",
    "write_run_report",
]
