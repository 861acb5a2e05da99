"""The library's training loop, data path and run reports, shared by every recipe."""

from sertune.training.config import TrainingConfig, make_accelerator, resolve_mixed_precision
from sertune.training.data import AudioClassificationDataset, EpochShuffleSampler, PaddingCollator
from sertune.training.evaluate import evaluate_model
from sertune.training.loop import LoopState, TrainingResult, train
from sertune.training.objectives import (
    ClassificationObjective,
    DistillationObjective,
    TrainingObjective,
)
from sertune.training.report import write_run_config, write_run_report
from sertune.training.run import fit_and_report, start_run
from sertune.training.run_folder import (
    OutputDirInUseError,
    RunFolder,
    latest_checkpoint,
    lock_output_dir,
    open_run_folder,
    prepare_output_dir,
)

__all__ = [
    "AudioClassificationDataset",
    "ClassificationObjective",
    "DistillationObjective",
    "EpochShuffleSampler",
    "LoopState",
    "OutputDirInUseError",
    "PaddingCollator",
    "RunFolder",
    "TrainingConfig",
    "TrainingObjective",
    "TrainingResult",
    "evaluate_model",
    "fit_and_report",
    "latest_checkpoint",
    "lock_output_dir",
    "make_accelerator",
    "open_run_folder",
    "prepare_output_dir",
    "resolve_mixed_precision",
    "start_run",
    "train",
    "write_run_config",
    "write_run_report",
]
