"""What a finished run leaves in its output folder besides the model."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sertune.data.protocols import Fold
from sertune.errors import OptionError
from sertune.metrics.plot import plot_confusion_matrix

METRICS_FILE = "metrics.json"
CONFUSION_MATRIX_FILE = "confusion_matrix.png"
CONFIG_FILE = "run_config.json"


def write_run_report(
    output_dir: str | Path,
    *,
    test_metrics: dict[str, Any],
    label_names: list[str],
    fold: Fold | None,
    corpus: str,
    best_validation_uar: float | None,
    best_step: int | None,
    global_step: int,
    num_processes: int = 1,
    train_seconds: float | None = None,
) -> dict[str, Any]:
    """Write ``metrics.json`` and the row-normalised confusion-matrix PNG of the test set.

    Args:
        output_dir: The run's output folder.
        test_metrics: :func:`sertune.metrics.compute_ser_metrics` results on the test speakers.
        label_names: Class names in id order.
        fold: The speaker split the run used (its speakers are recorded; across corpora also
            its ``train_corpora`` and ``test_corpora``, repeated at the top level).
        corpus: Corpus name(s), for the record.
        best_validation_uar: Validation UAR of the kept model.
        best_step: Optimiser step at which it was reached.
        global_step: Steps trained.
        num_processes: Training processes (GPUs or CPU workers under DDP).
        train_seconds: Wall time of training and testing (of the last part, if resumed).

    Returns:
        The dictionary written to ``metrics.json``.
    """
    output_dir = Path(output_dir)
    report = {
        "corpus": corpus,
        **_fold_corpora(fold),
        "test": test_metrics,
        "uar": test_metrics["uar"],
        "wa": test_metrics["wa"],
        "macro_f1": test_metrics["macro_f1"],
        "label_names": label_names,
        "fold": None if fold is None else fold.to_dict(),
        "best_validation_uar": best_validation_uar,
        "best_step": best_step,
        "global_step": global_step,
        "num_processes": num_processes,
        "train_seconds": train_seconds,
    }
    text = json.dumps(_strict_json(report), indent=2, allow_nan=False)
    (output_dir / METRICS_FILE).write_text(text + "\n", encoding="utf-8")
    plot_confusion_matrix(
        test_metrics["confusion_matrix"],
        label_names,
        output_dir / CONFUSION_MATRIX_FILE,
        title=_confusion_title(corpus, fold),
    )
    return report


def _confusion_title(corpus: str, fold: Fold | None) -> str:
    if fold is not None and fold.test_corpora:
        return f"test corpus {', '.join(fold.test_corpora)} ({corpus})"
    return f"{corpus} test speakers {', '.join(fold.test_speakers) if fold else ''}".strip()


def _fold_corpora(fold: Fold | None) -> dict[str, list[str]]:
    """A cross-corpus fold's training and test corpora; nothing for a one-corpus fold."""
    if fold is None or not fold.test_corpora:
        return {}
    return {"train_corpora": list(fold.train_corpora), "test_corpora": list(fold.test_corpora)}


def run_config_sections(**sections: Any) -> dict[str, dict[str, Any]]:
    """The resolved configuration of a run, one section per options dataclass.

    Example: ``run_config_sections(model=model_args, data=data_args, training=training_args,
    augmentation=augmentation_args)``. The Hub model card reads the ``model``, ``data``,
    ``training`` and ``augmentation`` sections by name and shows any other as model options.

    Args:
        sections: Section name to a dataclass instance (or a dict of options).

    Returns:
        ``{section: {option: value}}``, JSON-serialisable (paths become strings).
    """
    resolved = {}
    for name, options in sections.items():
        values = dataclasses.asdict(options) if dataclasses.is_dataclass(options) else options
        resolved[name] = {
            key: os.fspath(value) if isinstance(value, os.PathLike) else value
            for key, value in dict(values).items()
        }
    return resolved


def write_run_config(output_dir: str | Path, config: dict[str, Any]) -> Path:
    """Write the resolved configuration of a run as ``run_config.json``.

    Args:
        output_dir: The run's output folder.
        config: Its sections (see :func:`run_config_sections`); each section keeps the order
            of its dataclass's fields.
    """
    path = Path(output_dir) / CONFIG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return path


#: Options a resumed run may change: where and how it runs, not what it trains.
RESUMABLE_OPTIONS = frozenset(
    {
        "resume_from_checkpoint",
        "overwrite_output_dir",
        "dataloader_num_workers",
        "audio_cache_dir",
        "report_to",
        "logging_steps",
        "per_device_eval_batch_size",
        "data_dir",
        "download",
        "exclude_unreadable",
    }
)


def check_resumed_options(output_dir: str | Path, config: dict[str, Any]) -> None:
    """Refuse to resume a run with options that differ from those it was started with.

    Args:
        output_dir: The run's folder (its ``run_config.json`` records the first options).
        config: The resumed run's options: sections (:func:`run_config_sections`) or flat.

    Raises:
        OptionError: Naming each changed option with both values; nothing is said when the
            folder has no ``run_config.json`` yet.
    """
    path = Path(output_dir) / CONFIG_FILE
    if not path.is_file():
        return
    try:
        before = flat_run_config(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, AttributeError) as error:
        raise OptionError(
            f"{path}: cannot read the options of the run to resume ({error})"
        ) from None
    now = flat_run_config(json.loads(json.dumps(config)))
    changed = [
        f"--{key} {now[key]!r} (the run used {before[key]!r})"
        for key in sorted(set(before) & set(now))
        if key not in RESUMABLE_OPTIONS and not key.startswith("hub_") and before[key] != now[key]
    ]
    if changed:
        raise OptionError(
            f"{output_dir}: resuming with other options than the run was started with: "
            f"{'; '.join(changed)}. Resume with the same options, or start afresh with "
            "--overwrite_output_dir (or another output_dir)"
        )


def flat_run_config(config: dict[str, Any]) -> dict[str, Any]:
    """Every option of a run by name, from the sections of ``run_config.json``.

    A flat file (written before the sections) is returned as it is.

    Args:
        config: The JSON object of ``run_config.json``.
    """
    if not all(isinstance(options, dict) for options in config.values()):
        return dict(config)
    return {key: value for options in config.values() for key, value in options.items()}


def plot_training_curves(history: list[dict[str, Any]], path: str | Path) -> Path | None:
    """Draw the training loss, validation loss and validation UAR/WA against the step as a PNG.

    Args:
        history: The run's log records (``training_log.jsonl``): ``loss`` rows from training,
            ``eval_*`` rows from the validation evaluations.
        path: Where to write the PNG.

    Returns:
        The path, or ``None`` when the history has no loss to draw (nothing is written).
    """
    train = [(r["step"], r["loss"]) for r in history if "loss" in r]
    evals = [r for r in history if "eval_uar" in r]
    if not train and not evals:
        return None
    figure = Figure(figsize=(10, 4), constrained_layout=True)
    FigureCanvasAgg(figure)
    loss_axes, score_axes = figure.subplots(1, 2)
    if train:
        loss_axes.plot(*zip(*train, strict=True), label="training loss")
    if evals:
        steps = [r["step"] for r in evals]
        loss_axes.plot(steps, [r["eval_loss"] for r in evals], marker="o", label="validation loss")
        score_axes.plot(steps, [r["eval_uar"] for r in evals], marker="o", label="validation UAR")
        score_axes.plot(steps, [r["eval_wa"] for r in evals], marker=".", label="validation WA")
        score_axes.set_ylim(0.0, 1.0)
        score_axes.legend()
    loss_axes.set_xlabel("optimiser step")
    loss_axes.set_ylabel("loss")
    loss_axes.legend()
    score_axes.set_xlabel("optimiser step")
    score_axes.set_ylabel("score")
    path = Path(path)
    figure.savefig(path, dpi=100)
    return path


def _strict_json(value: Any) -> Any:
    """NaN (a class absent from the test speakers has no recall) becomes null: strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _strict_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_strict_json(item) for item in value]
    return value
