"""The options of a training run (:class:`TrainingConfig`) and the `Accelerator` they describe.

Every recipe exposes :class:`TrainingConfig` on its command line through
``transformers.HfArgumentParser``; an out-of-range value is refused when the config is made,
naming the option, before any data is read.
"""

from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, DistributedDataParallelKwargs

from sertune.errors import OptionError
from sertune.training.losses import CLASS_WEIGHT_SCHEMES, LOSSES

CLASS_WEIGHTINGS = ("none", *CLASS_WEIGHT_SCHEMES)
SAMPLERS = ("random", "balanced", "bucket")


@dataclass
class TrainingConfig:
    """Options of :func:`train` (every recipe exposes them on its command line)."""

    output_dir: str = field(metadata={"help": "Folder for the model, metrics and checkpoints."})
    num_train_epochs: float = field(default=10.0, metadata={"help": "Training epochs."})
    max_steps: int = field(
        default=-1, metadata={"help": "Optimiser steps to run; overrides num_train_epochs if > 0."}
    )
    per_device_train_batch_size: int = field(default=8, metadata={"help": "Training batch size."})
    per_device_eval_batch_size: int = field(default=8, metadata={"help": "Evaluation batch size."})
    gradient_accumulation_steps: int = field(
        default=1, metadata={"help": "Batches whose gradients are summed per optimiser step."}
    )
    learning_rate: float = field(default=5e-5, metadata={"help": "Peak learning rate (head)."})
    encoder_learning_rate: float | None = field(
        default=None,
        metadata={"help": "Peak learning rate of the encoder; defaults to learning_rate."},
    )
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    layer_decay: float = field(
        default=1.0,
        metadata={"help": "Encoder learning rate factor per layer going down (1.0: one rate)."},
    )
    adam_beta1: float = field(default=0.9, metadata={"help": "AdamW beta1."})
    adam_beta2: float = field(default=0.999, metadata={"help": "AdamW beta2."})
    adam_epsilon: float = field(default=1e-8, metadata={"help": "AdamW epsilon."})
    lr_scheduler_type: str = field(
        default="linear", metadata={"help": "Learning-rate schedule: linear or cosine."}
    )
    warmup_ratio: float = field(
        default=0.1, metadata={"help": "Share of the steps spent warming up linearly."}
    )
    max_grad_norm: float = field(
        default=1.0, metadata={"help": "Gradient clipping norm (0 or less: no clipping)."}
    )
    mixed_precision: str = field(
        default="auto",
        metadata={"help": "no, fp16, bf16, or auto (bf16/fp16 on a GPU that has it, else no)."},
    )
    eval_strategy: str = field(
        default="epoch",
        metadata={"help": "Evaluate on the validation set each 'epoch' or 'steps'."},
    )
    eval_steps: int = field(default=100, metadata={"help": "Steps between evaluations (steps)."})
    save_steps: int = field(
        default=0,
        metadata={"help": "Steps between resumable checkpoints; 0 saves at each evaluation."},
    )
    save_total_limit: int = field(
        default=2, metadata={"help": "Resumable checkpoints kept (oldest removed first)."}
    )
    logging_steps: int = field(default=10, metadata={"help": "Steps between loss log lines."})
    max_train_seconds: float | None = field(
        default=6.0,
        metadata={"help": "Training utterances longer than this are randomly cropped to it."},
    )
    gradient_checkpointing: bool = field(
        default=False,
        metadata={
            "help": "Recompute the encoder's activations in the backward pass: less memory for "
            "long utterances at the cost of another forward pass (wav2vec2 family)."
        },
    )
    audio_cache_dir: str | None = field(
        default=None,
        metadata={
            "help": "Keep decoded, resampled audio here (float32 .npy per utterance and rate), "
            "reused by later epochs, folds and runs; an edited file or another rate gets a new "
            "entry. Off by default."
        },
    )
    dataloader_num_workers: int = field(
        default=2, metadata={"help": "DataLoader worker processes decoding audio (0: in the loop)."}
    )
    use_cpu: bool = field(
        default=False,
        metadata={
            "help": "Train on the CPU even where a GPU is present; under torchrun each rank is "
            "a CPU process (gloo DDP)."
        },
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={"help": "Start afresh in an output_dir that holds an earlier run's results."},
    )
    loss: str = field(
        default="cross_entropy", metadata={"help": "Training loss: cross_entropy or focal."}
    )
    focal_gamma: float = field(default=2.0, metadata={"help": "Focusing parameter of focal."})
    class_weighting: str = field(
        default="none",
        metadata={
            "help": "Class weights of the loss from the training split's counts: none, "
            "balanced (n / (classes * count)) or inverse_sqrt."
        },
    )
    label_smoothing: float = field(default=0.0, metadata={"help": "Label smoothing of the loss."})
    sampler: str = field(
        default="random",
        metadata={
            "help": "Training batches: random (shuffled), balanced (classes drawn equally "
            "often, with replacement) or bucket (similar durations batched together)."
        },
    )
    bucket_size_multiplier: int = field(
        default=50, metadata={"help": "bucket: batches per duration-sorted chunk."}
    )
    early_stopping_patience: int = field(
        default=0,
        metadata={
            "help": "Stop after this many evaluations without a validation UAR gain (0: never)."
        },
    )
    early_stopping_threshold: float = field(
        default=0.0, metadata={"help": "Least validation UAR gain that counts as one."}
    )
    report_to: str = field(
        default="auto",
        metadata={
            "help": "Accelerate trackers: auto (tensorboard when installed), none, or names "
            "such as tensorboard,wandb."
        },
    )
    seed: int = field(default=42, metadata={"help": "Seed of weights, data order and crops."})
    resume_from_checkpoint: str | None = field(
        default=None,
        metadata={"help": "Checkpoint folder to resume from, or 'latest' in output_dir."},
    )

    def __post_init__(self):
        self._check_numbers()
        self._check_output_dir()
        if self.lr_scheduler_type not in {"linear", "cosine"}:
            raise ValueError(
                f"lr_scheduler_type must be linear or cosine, got {self.lr_scheduler_type!r}"
            )
        if self.eval_strategy not in {"epoch", "steps"}:
            raise ValueError(f"eval_strategy must be epoch or steps, got {self.eval_strategy!r}")
        if self.mixed_precision not in {"auto", "no", "fp16", "bf16"}:
            raise ValueError(
                f"mixed_precision must be auto, no, fp16 or bf16, got {self.mixed_precision!r}"
            )
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.save_total_limit < 1:
            raise ValueError(f"save_total_limit must be at least 1, got {self.save_total_limit}")
        if not 0.0 < self.layer_decay <= 1.0:
            raise ValueError(f"layer_decay must be in (0, 1], got {self.layer_decay}")
        if self.gradient_accumulation_steps < 1:
            raise ValueError("gradient_accumulation_steps must be at least 1")
        if self.max_steps <= 0 and self.num_train_epochs <= 0:
            raise ValueError("set num_train_epochs > 0 or max_steps > 0")
        choices = {
            "loss": LOSSES,
            "class_weighting": CLASS_WEIGHTINGS,
            "sampler": SAMPLERS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.early_stopping_patience < 0:
            raise ValueError("early_stopping_patience must be 0 (off) or positive")
        if self.bucket_size_multiplier < 1:
            raise ValueError("bucket_size_multiplier must be at least 1")

    def _check_output_dir(self) -> None:
        """Refuse an output_dir (or audio cache) that is a file or cannot be written, and a missing
        checkpoint to resume from."""
        path = Path(self.output_dir)
        if path.exists() and not path.is_dir():
            raise OptionError(f"--output_dir {path}: exists and is not a folder")
        existing = next((p for p in (path, *path.parents) if p.exists()), None)
        if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
            raise OptionError(f"--output_dir {path}: {existing} is not writable (read-only?)")
        cache = self.audio_cache_dir
        if cache is not None and Path(cache).exists() and not Path(cache).is_dir():
            raise OptionError(f"--audio_cache_dir {cache}: exists and is not a folder")
        checkpoint = self.resume_from_checkpoint
        if checkpoint not in (None, "latest") and not Path(checkpoint).is_dir():
            raise OptionError(
                f"--resume_from_checkpoint {checkpoint}: no such checkpoint folder "
                "(give a checkpoints/step-N folder or 'latest')"
            )

    def _check_numbers(self) -> None:
        """Refuse sizes, rates and counts outside their range (NaN included) before any data is read."""
        at_least = {
            "per_device_train_batch_size": 1,
            "per_device_eval_batch_size": 1,
            "eval_steps": 1,
            "logging_steps": 1,
            "save_steps": 0,
            "dataloader_num_workers": 0,
        }
        for name, least in at_least.items():
            if getattr(self, name) < least:
                raise OptionError(f"--{name} must be at least {least}, got {getattr(self, name)}")
        positive = ["adam_epsilon"] + [
            n for n in ("max_train_seconds",) if getattr(self, n) is not None
        ]
        for name in positive:
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise OptionError(
                    f"--{name} must be a positive finite number, got {getattr(self, name)}"
                )
        non_negative = ["learning_rate", "num_train_epochs", "weight_decay", "focal_gamma"]
        non_negative += ["early_stopping_threshold"]
        non_negative += [n for n in ("encoder_learning_rate",) if getattr(self, n) is not None]
        for name in non_negative:
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise OptionError(
                    f"--{name} must be a finite number >= 0, got {getattr(self, name)}"
                )
        for name in ("adam_beta1", "adam_beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise OptionError(f"--{name} must be in [0, 1), got {getattr(self, name)}")
        if math.isnan(self.max_grad_norm):
            raise OptionError("--max_grad_norm must be a number (0 or less: no clipping), got nan")

    def trackers(self) -> list[str]:
        """The Accelerate trackers ``report_to`` names (``auto``: TensorBoard if installed)."""
        if self.report_to == "none":
            return []
        if self.report_to == "auto":
            return ["tensorboard"] if importlib.util.find_spec("tensorboard") else []
        return [name.strip() for name in self.report_to.split(",") if name.strip()]


def resolve_mixed_precision(requested: str, use_cpu: bool = False) -> str:
    """Turn ``auto`` into what the hardware supports: bf16, then fp16 on CUDA, else no."""
    if requested != "auto":
        return requested
    if torch.cuda.is_available() and not use_cpu:
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


def make_accelerator(config: TrainingConfig, model: torch.nn.Module | None = None) -> Accelerator:
    """The run's `Accelerator`: device, mixed precision, accumulation, trackers, DDP options.

    DDP is told that parameters may go unused when the model's encoder uses LayerDrop, which
    skips layers at random. Trackers (``config.report_to``) log under ``output_dir``.
    """
    encoder_config = getattr(getattr(model, "config", None), "encoder_config", None)
    layerdrop = getattr(encoder_config, "layerdrop", 0.0) > 0
    return Accelerator(
        cpu=config.use_cpu,
        # Host-to-device copies overlap with compute when the loader pins memory (on CUDA).
        dataloader_config=DataLoaderConfiguration(non_blocking=True),
        mixed_precision=resolve_mixed_precision(config.mixed_precision, config.use_cpu),
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=layerdrop)],
        log_with=config.trackers() or None,
        project_dir=config.output_dir,
    )


__all__ = [
    "CLASS_WEIGHTINGS",
    "SAMPLERS",
    "TrainingConfig",
    "make_accelerator",
    "resolve_mixed_precision",
]
