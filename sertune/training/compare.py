"""Paired comparison of cross-validations run on the same folds.

Two cross-validations of one corpus and protocol test the same speakers fold by fold, so the
fair comparison is paired: the per-fold difference in UAR, its mean and spread, how many folds
went up or down, and an exact two-sided sign test on those counts. A mean gain made of two big
folds and eight small losses reads very differently from eight small gains, and the paired
figures say which it is.

The input is a ``cv_results.json`` (written by ``sertune cv`` and ``sertune probe``) or the
folder holding it. Folds are matched by name (``loso-03``) and test speakers; several seeds of
one fold are averaged first, as ``sertune cv`` does.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sertune.training.cv import CV_RESULTS_FILE

#: The scores of a cross-validation that a comparison reports.
METRICS: tuple[str, ...] = ("uar", "wa", "macro_f1")

#: Differences smaller than this count as ties (scores are fractions of utterances).
TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class FoldScores:
    """One cross-validation's scores per fold, in the order of its folds.

    Args:
        source: The ``cv_results.json`` read.
        folds: ``(fold name, test speakers)`` of each fold.
        scores: For each of :data:`METRICS`, one score per fold (mean over the fold's seeds).
    """

    source: Path
    folds: tuple[tuple[str, tuple[str, ...]], ...]
    scores: dict[str, np.ndarray]


@dataclass(frozen=True)
class PairedDifference:
    """A cross-validation against the baseline, fold by fold.

    Args:
        differences: ``run - baseline`` of the metric, per fold, in the baseline's fold order.
        up, down, tied: Folds where the run scored higher, lower, the same.
        sign_test_p: Exact two-sided sign test of ``up`` against ``down`` (ties left out).
    """

    differences: np.ndarray
    up: int
    down: int
    tied: int
    sign_test_p: float

    @property
    def mean(self) -> float:
        return float(np.mean(self.differences))

    @property
    def std(self) -> float:
        return _sample_std(self.differences)


def load_fold_scores(path: str | os.PathLike) -> FoldScores:
    """Read the per-fold scores of a ``cv_results.json`` or of the folder holding one.

    Raises:
        FileNotFoundError: No ``cv_results.json`` there, named with the remedy.
        ValueError: The file is not a cross-validation's results.
    """
    source = Path(path)
    if source.is_dir():
        source = source / CV_RESULTS_FILE
    if not source.is_file():
        raise FileNotFoundError(
            f"{source}: no cross-validation results (give a folder written by sertune cv or "
            "sertune probe, or its cv_results.json)"
        )
    try:
        runs = json.loads(source.read_text(encoding="utf-8"))["runs"]
        keyed = [((run["fold_name"], tuple(run["test_speakers"])), run) for run in runs]
        folds = tuple(dict.fromkeys(key for key, _ in keyed))
        scores = {
            metric: np.array(
                [np.mean([run[metric] for key, run in keyed if key == fold]) for fold in folds]
            )
            for metric in METRICS
        }
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{source}: not a cross-validation's results ({error!r})") from None
    return FoldScores(source, folds, scores)


def paired_difference(
    baseline: FoldScores, run: FoldScores, metric: str = "uar"
) -> PairedDifference:
    """``run`` against ``baseline`` on ``metric``, fold by fold.

    Raises:
        ValueError: The two were not run on the same folds, naming the folds that differ.
    """
    if set(run.folds) != set(baseline.folds):
        only_run = sorted(name for name, _ in set(run.folds) - set(baseline.folds))
        only_baseline = sorted(name for name, _ in set(baseline.folds) - set(run.folds))
        raise ValueError(
            f"{run.source} and {baseline.source} were not run on the same folds (folds only in "
            f"the first: {only_run or 'none'}; only in the second: {only_baseline or 'none'}): "
            "a paired comparison needs the same corpus, protocol and split seed"
        )
    order = [run.folds.index(fold) for fold in baseline.folds]
    differences = run.scores[metric][order] - baseline.scores[metric]
    up = int(np.sum(differences > TIE_TOLERANCE))
    down = int(np.sum(differences < -TIE_TOLERANCE))
    return PairedDifference(
        differences, up, down, len(differences) - up - down, sign_test(up, down)
    )


def sign_test(up: int, down: int) -> float:
    """Exact two-sided sign test: the chance of a split at least this uneven under p = 1/2."""
    trials = up + down
    if trials == 0:
        return 1.0
    tail = sum(math.comb(trials, k) for k in range(min(up, down) + 1)) / 2**trials
    return min(1.0, 2 * tail)


def comparison_table(
    baseline: FoldScores, runs: dict[str, FoldScores], baseline_name: str, metric: str = "uar"
) -> str:
    """A Markdown table: each run's scores (mean ± std over folds) and its paired difference.

    Args:
        baseline: The reference cross-validation.
        runs: The others, by the name to show.
        baseline_name: The reference's name in the table.
        metric: The metric of the paired difference.
    """
    header = (
        "| run | UAR | WA | macro-F1 | "
        f"Δ{metric.upper()} mean ± std | folds up / down / tied | sign test p |"
    )
    lines = [header, "|---|---|---|---|---|---|---|", _row(baseline_name, baseline, None)]
    for name, scores in runs.items():
        lines.append(_row(name, scores, paired_difference(baseline, scores, metric)))
    fold_names = " ".join(name for name, _ in baseline.folds)
    per_fold = [
        f"- {name}: "
        + " ".join(f"{d:+.3f}" for d in paired_difference(baseline, scores, metric).differences)
        for name, scores in runs.items()
    ]
    return "\n".join([*lines, "", f"Per-fold Δ{metric.upper()} ({fold_names}):", *per_fold, ""])


def _row(name: str, scores: FoldScores, paired: PairedDifference | None) -> str:
    cells = [
        f"{np.mean(scores.scores[m]):.3f} ± {_sample_std(scores.scores[m]):.3f}" for m in METRICS
    ]
    if paired is None:
        cells += ["(baseline)", "", ""]
    else:
        cells += [
            f"{paired.mean:+.3f} ± {paired.std:.3f}",
            f"{paired.up} / {paired.down} / {paired.tied}",
            f"{paired.sign_test_p:.3f}",
        ]
    return f"| {name} | " + " | ".join(cells) + " |"


def _sample_std(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
