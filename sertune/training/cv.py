"""Cross-validation: one recipe over every fold of a protocol (and several seeds), then the summary.

    sertune cv recipes/cnn_lstm_emodb.py --output_dir runs/cv -- --data_dir data/emodb --protocol loso

Each (fold, seed) run is the recipe itself, started as its own process with ``--fold``,
``--seed`` and ``--output_dir`` set, so it writes what a single run writes into
``fold-<k>/`` (``fold-<k>/seed-<s>/`` with several seeds). A run is finished when its
``metrics.json`` exists; started again, the runner skips finished runs, resumes an interrupted
run from its latest checkpoint, and restarts one that has none. At the end it reads every
run's ``metrics.json`` and writes the aggregate: ``cv_results.json`` (everything),
``cv_summary.md`` (the per-fold table and mean +- standard deviation) and the pooled
``confusion_matrix.png``.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sertune.config import parse_known_config
from sertune.data.arguments import DataArguments, load_data, make_folds
from sertune.metrics import aggregate_folds
from sertune.metrics.plot import plot_confusion_matrix
from sertune.training.report import METRICS_FILE, _strict_json
from sertune.training.run_folder import latest_checkpoint

logger = logging.getLogger(__name__)

CV_CONFIG_FILE = "cv_config.json"
CV_RESULTS_FILE = "cv_results.json"
CV_SUMMARY_FILE = "cv_summary.md"
CV_CONFUSION_FILE = "confusion_matrix.png"
CV_LOG_FILE = "cv.log"
# The runner sets these for each run; the recipe arguments must not.
RESERVED_OPTIONS = ("--fold", "--seed", "--output_dir", "--resume_from_checkpoint")

#: Extra columns of the per-run table in ``cv_summary.md``: ``(header, row -> text)``.
RunColumns = Sequence[tuple[str, Callable[[dict[str, Any]], str]]]


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


CV_RUN_COLUMNS: RunColumns = (
    ("best val. uar", lambda row: _number(row["best_validation_uar"], 4)),
    ("steps", lambda row: str(row["global_step"])),
    ("seconds", lambda row: _number(row["train_seconds"], 0)),
)


@dataclass(frozen=True)
class CvRun:
    """One (fold, seed) run of the cross-validation."""

    fold: int
    fold_name: str
    test_speakers: tuple[str, ...]
    seed: int
    output_dir: Path
    train_corpora: tuple[str, ...] = ()
    test_corpora: tuple[str, ...] = ()

    @property
    def finished(self) -> bool:
        return (self.output_dir / METRICS_FILE).is_file()


def plan_runs(
    recipe_args: list[str],
    output_dir: str | os.PathLike,
    *,
    seeds: list[int] | None = None,
    folds: list[int] | None = None,
) -> list[CvRun]:
    """The runs of a cross-validation: every fold of the recipe's protocol times every seed.

    The folds come from the data options in ``recipe_args`` (and its ``--config`` file), read
    exactly as the recipe reads them; the corpus is loaded once to count the folds.

    Args:
        recipe_args: The recipe's own options (not ``--fold``, ``--seed``, ``--output_dir``).
        output_dir: The cross-validation's folder.
        seeds: Seeds per fold; ``None`` runs once with the recipe's seed (42 unless set).
        folds: Fold indices to run; ``None`` runs them all.

    Raises:
        ValueError: ``recipe_args`` sets an option the runner sets, or names a fold the
            protocol does not have.
    """
    for option in RESERVED_OPTIONS:
        if any(arg == option or arg.startswith(option + "=") for arg in recipe_args):
            raise ValueError(
                f"recipe arguments set {option}; the cross-validation runner sets it for each "
                "run (use its --folds, --seeds and --output_dir)"
            )
    data_args = parse_known_config(DataArguments, recipe_args)
    # As the recipe will: fail before launching any run, and count the folds it will see.
    corpus, _ = load_data(data_args)
    protocol_folds = make_folds(corpus, data_args)
    indices = list(range(len(protocol_folds))) if folds is None else list(folds)
    bad = [k for k in indices if not 0 <= k < len(protocol_folds)]
    if bad:
        raise ValueError(f"folds {bad}: protocol {data_args.protocol} has {len(protocol_folds)}")
    seed_list = [None] if not seeds else list(seeds)
    if len(set(seed_list)) != len(seed_list):
        raise ValueError(f"seeds repeat: {seeds}")
    root = Path(output_dir)
    runs = []
    for k in indices:
        fold = protocol_folds[k]
        for seed in seed_list:
            folder = root / f"fold-{k:02d}"
            if seed is not None and seeds and len(seeds) > 1:
                folder = folder / f"seed-{seed}"
            runs.append(
                CvRun(
                    fold=k,
                    fold_name=fold.name,
                    test_speakers=tuple(fold.test_speakers),
                    seed=42 if seed is None else seed,
                    output_dir=folder,
                    train_corpora=fold.train_corpora,
                    test_corpora=fold.test_corpora,
                )
            )
    return runs


def run_command(run: CvRun, recipe: str, recipe_args: list[str], launcher: list[str]) -> list[str]:
    """The command line of one run: resume it if it has a checkpoint, else start it afresh."""
    command = [*launcher, recipe, *recipe_args]
    command += ["--fold", str(run.fold), "--seed", str(run.seed)]
    command += ["--output_dir", str(run.output_dir)]
    if latest_checkpoint(run.output_dir) is not None:
        command += ["--resume_from_checkpoint", "latest"]
    elif run.output_dir.exists() and any(run.output_dir.iterdir()):
        # Killed before its first checkpoint: nothing in it is worth keeping.
        command += ["--overwrite_output_dir"]
    return command


def cross_validate(
    recipe: str,
    recipe_args: list[str],
    output_dir: str | os.PathLike,
    *,
    seeds: list[int] | None = None,
    folds: list[int] | None = None,
    launcher: list[str] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run ``recipe`` over the folds (and seeds), skipping finished runs; then aggregate.

    Args:
        recipe: Path of the recipe script.
        recipe_args: Its options, shared by every run.
        output_dir: The cross-validation's folder (one sub-folder per run).
        seeds: Seeds per fold (``None``: one run per fold with the recipe's seed).
        folds: Fold indices (``None``: all).
        launcher: Command that starts a run before the recipe path; defaults to this
            Python (``[sys.executable]``); e.g. ``["accelerate", "launch"]``.
        overwrite: Allow a folder whose earlier cross-validation had other options; its runs
            are discarded.

    Returns:
        The aggregate written to ``cv_results.json``.

    Raises:
        FileExistsError: ``output_dir`` holds a cross-validation of another recipe or other
            options and ``overwrite`` is not set.
        RuntimeError: A run failed; its command and log folder are named.
    """
    root = Path(output_dir)
    launcher = [sys.executable] if launcher is None else list(launcher)
    settings = {"recipe": recipe, "recipe_args": list(recipe_args), "seeds": seeds}
    _claim_folder(root, settings, overwrite)
    runs = plan_runs(recipe_args, root, seeds=seeds, folds=folds)
    for index, run in enumerate(runs, 1):
        label = f"[{index}/{len(runs)}] fold {run.fold} ({run.fold_name}) seed {run.seed}"
        if run.finished:
            logger.info("%s: finished earlier, skipped", label)
            continue
        command = run_command(run, recipe, recipe_args, launcher)
        logger.info("%s: %s", label, shlex.join(command))
        started = time.perf_counter()
        completed = subprocess.run(command, check=False)
        seconds = time.perf_counter() - started
        _append_log(
            root,
            {
                "fold": run.fold,
                "seed": run.seed,
                "rc": completed.returncode,
                "seconds": seconds,
                "command": command,
            },
        )
        if completed.returncode != 0 or not run.finished:
            raise RuntimeError(
                f"{label} failed (exit status {completed.returncode}); its output is in "
                f"{run.output_dir}; run the same sertune cv command again to resume. "
                f"Command: {shlex.join(command)}"
            )
    return aggregate_cv(root, runs)


def aggregate_cv(output_dir: str | os.PathLike, runs: list[CvRun]) -> dict[str, Any]:
    """Read every run's ``metrics.json`` and write the cross-validation's summary files.

    Fold scores are the mean over the fold's seeds; ``uar``/``wa``/``macro_f1`` give the
    mean and sample standard deviation over folds. With several seeds, ``seed_spread`` gives
    each seed's fold-averaged scores and their standard deviation. The pooled confusion matrix
    is the sum of all runs' test matrices.

    Raises:
        FileNotFoundError: A run has no ``metrics.json``.
        ValueError: Runs disagree on the label set.
    """
    root = Path(output_dir)
    per_run = []
    for run in runs:
        path = run.output_dir / METRICS_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path}: run not finished (fold {run.fold}, seed {run.seed})")
        metrics = json.loads(path.read_text(encoding="utf-8"))
        per_run.append((run, metrics))
    label_sets = {tuple(m["label_names"]) for _, m in per_run}
    if len(label_sets) != 1:
        raise ValueError(f"{root}: runs disagree on the labels: {sorted(label_sets)}")
    label_names = list(label_sets.pop())

    fold_ids = sorted({run.fold for run in runs})
    seeds = sorted({run.seed for run in runs})
    names = ("uar", "wa", "macro_f1")
    fold_results = []
    table = []
    for k in fold_ids:
        members = [(run, m) for run, m in per_run if run.fold == k]
        matrix = np.sum([np.asarray(m["test"]["confusion_matrix"]) for _, m in members], axis=0)
        scores = {name: float(np.mean([m[name] for _, m in members])) for name in names}
        fold_results.append({**scores, "confusion_matrix": matrix})
        for run, m in members:
            table.append(
                {
                    "fold": k,
                    "fold_name": run.fold_name,
                    "test_speakers": list(run.test_speakers),
                    "seed": run.seed,
                    "output_dir": os.path.relpath(run.output_dir, root),
                    **{name: m[name] for name in names},
                    "best_validation_uar": m.get("best_validation_uar"),
                    "best_step": m.get("best_step"),
                    "global_step": m.get("global_step"),
                    "train_seconds": m.get("train_seconds"),
                    **_run_corpora(run),
                }
            )
    extra: dict[str, Any] = {"train_seconds_total": _total_seconds(table), **_corpora_notes(runs)}
    if len(seeds) > 1:
        extra["seed_spread"] = _seed_spread(table, seeds, fold_ids)
    return write_cv_outputs(root, fold_results, table, label_names, seeds=seeds, extra=extra)


def write_cv_outputs(
    output_dir: str | os.PathLike,
    fold_results: list[dict[str, Any]],
    table: list[dict[str, Any]],
    label_names: list[str],
    *,
    seeds: list[int],
    extra: dict[str, Any] | None = None,
    run_columns: RunColumns | None = None,
) -> dict[str, Any]:
    """Aggregate per-fold scores; write ``cv_results.json``, ``cv_summary.md`` and the PNG.

    The one writer of a cross-validation's outputs, shared by ``sertune cv`` and the
    frozen-feature probes (``sertune probe``).

    Args:
        output_dir: The cross-validation's folder.
        fold_results: Per fold (in fold order), ``uar``, ``wa``, ``macro_f1`` and the test
            ``confusion_matrix``.
        table: One row per run for the per-run table (``fold``, ``test_speakers``, the scores
            and whatever ``run_columns`` reads).
        label_names: Class names in id order.
        seeds: The seeds of the runs.
        extra: More entries for ``cv_results.json``; ``title`` and ``notes`` (a list of
            lines) also head ``cv_summary.md``.
        run_columns: Columns of the per-run table after the scores (default: those of a
            ``sertune cv`` run: best validation UAR, steps, seconds).

    Returns:
        The aggregate written to ``cv_results.json``.
    """
    root = Path(output_dir)
    names = ("uar", "wa", "macro_f1")
    summary = aggregate_folds(fold_results)
    summary["pooled"]["label_names"] = label_names
    results: dict[str, Any] = {
        "num_folds": len(fold_results),
        "seeds": seeds,
        **{name: summary[name] for name in names},
        "pooled": summary["pooled"],
        "runs": table,
        "label_names": label_names,
        **(extra or {}),
    }
    text = json.dumps(_strict_json(_to_lists(results)), indent=2, allow_nan=False)
    (root / CV_RESULTS_FILE).write_text(text + "\n", encoding="utf-8")
    (root / CV_SUMMARY_FILE).write_text(
        format_cv_summary(results, run_columns=run_columns), encoding="utf-8"
    )
    plot_confusion_matrix(
        np.asarray(summary["pooled"]["confusion_matrix"]),
        label_names,
        root / CV_CONFUSION_FILE,
        title=f"pooled over {len(fold_results)} folds"
        + (f", {len(seeds)} seeds" if len(seeds) > 1 else ""),
    )
    return results


def format_cv_summary(results: dict[str, Any], run_columns: RunColumns | None = None) -> str:
    """Markdown: mean +- standard deviation, the per-run table, the pooled scores.

    Args:
        results: What :func:`write_cv_outputs` returns (``title`` and ``notes`` are optional).
        run_columns: ``(header, row -> text)`` pairs of the per-run table after the scores;
            ``None`` gives a ``sertune cv`` run's (best validation UAR, steps, seconds).
    """
    names = ("uar", "wa", "macro_f1")
    title = results.get("title") or "Cross-validation"
    lines = [f"# {title}: {results['num_folds']} folds, seeds {results['seeds']}", ""]
    if results.get("notes"):
        lines += [f"- {note}" for note in results["notes"]] + [""]
    lines += ["| metric | mean | std | min | max | pooled |", "|---|---|---|---|---|---|"]
    for name in names:
        s = results[name]
        lines.append(
            f"| {name} | {s['mean']:.4f} | {s['std']:.4f} | {s['min']:.4f} | {s['max']:.4f} "
            f"| {results['pooled'][name]:.4f} |"
        )
    if "seed_spread" in results:
        lines += ["", "| seed | uar | wa | macro_f1 |", "|---|---|---|---|"]
        for seed, scores in results["seed_spread"]["per_seed"].items():
            lines.append(f"| {seed} | " + " | ".join(f"{scores[n]:.4f}" for n in names) + " |")
        std = results["seed_spread"]["std"]
        lines.append("| std over seeds | " + " | ".join(f"{std[n]:.4f}" for n in names) + " |")
    columns = CV_RUN_COLUMNS if run_columns is None else run_columns
    headers = ["fold", "test speakers", "seed", *names, *(header for header, _ in columns)]
    lines += ["", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in results["runs"]:
        cells = [str(row["fold"]), _tested(row), str(row["seed"])]
        cells += [f"{row[name]:.4f}" for name in names]
        cells += [cell(row) for _, cell in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _run_corpora(run: CvRun) -> dict[str, list[str]]:
    if not run.test_corpora:
        return {}
    return {"train_corpora": list(run.train_corpora), "test_corpora": list(run.test_corpora)}


def _tested(row: dict[str, Any]) -> str:
    """The per-run table's test cell: the speakers, or across corpora the corpora first."""
    speakers = row["test_speakers"]
    if not row.get("test_corpora"):
        return " ".join(speakers)
    listed = " ".join(speakers) if len(speakers) <= 4 else f"{len(speakers)} speakers"
    return f"{', '.join(row['test_corpora'])}: {listed}"


def _corpora_notes(runs: list[CvRun]) -> dict[str, Any]:
    """Across corpora: every corpus (sorted), and one summary line per fold naming its corpora."""
    if not any(run.test_corpora for run in runs):
        return {}
    corpora = sorted({n for run in runs for n in (*run.train_corpora, *run.test_corpora)})
    folds = {run.fold: run for run in runs}
    notes = [
        f"fold {k}: trained on {', '.join(run.train_corpora)}; tested on "
        f"{', '.join(run.test_corpora)} ({len(run.test_speakers)} speakers)"
        for k, run in sorted(folds.items())
    ]
    return {"corpora": corpora, "notes": notes}


def _seed_spread(table, seeds, fold_ids) -> dict[str, Any]:
    names = ("uar", "wa", "macro_f1")
    per_seed = {}
    for seed in seeds:
        rows = [row for row in table if row["seed"] == seed]
        if {row["fold"] for row in rows} != set(fold_ids):
            continue
        per_seed[str(seed)] = {n: float(np.mean([row[n] for row in rows])) for n in names}
    values = {n: [scores[n] for scores in per_seed.values()] for n in names}
    return {
        "per_seed": per_seed,
        "std": {n: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for n, v in values.items()},
    }


def _total_seconds(table) -> float | None:
    seconds = [row["train_seconds"] for row in table]
    return None if any(s is None for s in seconds) else float(sum(seconds))


def _to_lists(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {key: _to_lists(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_to_lists(item) for item in value]
    return value


def _claim_folder(root: Path, settings: dict[str, Any], overwrite: bool) -> None:
    """Record the options; refuse to mix runs made with other options into one aggregate."""
    path = root / CV_CONFIG_FILE
    if path.is_file():
        earlier = json.loads(path.read_text(encoding="utf-8"))
        if earlier != settings:
            if not overwrite:
                raise FileExistsError(
                    f"{root} holds a cross-validation with other options ({path}: {earlier}); "
                    "choose another --output_dir, or pass --overwrite to discard its runs"
                )
            _discard_runs(root)
    elif overwrite:
        _discard_runs(root)
    root.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")


def _discard_runs(root: Path) -> None:
    if not root.is_dir():
        return
    for child in root.iterdir():
        if child.is_dir() and child.name.startswith("fold-"):
            shutil.rmtree(child)
        elif child.name in {CV_RESULTS_FILE, CV_SUMMARY_FILE, CV_CONFUSION_FILE, CV_LOG_FILE}:
            child.unlink()
    logger.info("discarded the earlier cross-validation runs in %s", root)


def _append_log(root: Path, record: dict[str, Any]) -> None:
    with open(root / CV_LOG_FILE, "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")


__all__ = [
    "CvRun",
    "aggregate_cv",
    "cross_validate",
    "format_cv_summary",
    "plan_runs",
    "run_command",
    "write_cv_outputs",
]
