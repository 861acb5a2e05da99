"""Speech emotion recognition metrics: one numpy implementation, shipped as local evaluate modules.

The metrics of the SER literature are computed from a confusion matrix (rows = reference class,
columns = predicted class). This module holds the only implementation; the `evaluate` modules in
`sertune/metrics/modules/<name>/<name>.py` (`uar`, `wa`, `macro_f1`, `ser`) import it, and
`compute_ser_metrics` (what the training loop, `sertune cv` and evaluation call) computes
through the `ser` module, loaded once per process and kept in memory (about 20 ms a call). The
modules are loaded from the package folder with `load_metric(name)`, never from the Hugging
Face Hub.

Definitions (fractions in [0, 1], never percentages):

- `wa` (weighted accuracy): correct predictions / all predictions, i.e. plain accuracy.
- `uar` (unweighted average recall): mean over the classes present in the references of that
  class's recall. Equals balanced accuracy.
- `macro_f1`: mean F1 over the classes present in the references or the predictions
  (scikit-learn's default label set).
- Per-class `recall` of a class absent from the references is NaN (0 / 0); such a class is
  left out of `uar`.
- Per-class `precision` of a class that is never predicted is 0.0 (zero division -> 0, as in
  scikit-learn).
- Per-class `f1` is 2PR / (P + R), 0.0 when P + R = 0; a class that is predicted but absent
  from the references has recall counted as 0 and so F1 0.0; a class absent from both the
  references and the predictions has F1 NaN and is left out of `macro_f1`.

Hence `uar == nanmean(recall)` and `macro_f1 == nanmean(f1)`. NaN is a Python float, which
`json.dumps` writes as `NaN` (accepted by Python's and JavaScript's JSON readers, not by strict
JSON parsers).

Example:

```python
from sertune.metrics import compute_ser_metrics, load_metric

compute_ser_metrics([0, 1, 1], [0, 1, 0], label_names=["angry", "happy"])
load_metric("uar").compute(predictions=[0, 1, 1], references=[0, 1, 0])  # {"uar": 0.75}
```
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "METRIC_NAMES",
    "aggregate_folds",
    "compute_ser_metrics",
    "confusion_matrix_from_labels",
    "list_metrics",
    "load_metric",
    "normalize_confusion_matrix_rows",
    "scores_from_confusion_matrix",
]

MODULES_DIR = Path(__file__).resolve().parent / "modules"
"""Folder holding one `evaluate` module folder per metric name."""

METRIC_NAMES = ("uar", "wa", "macro_f1", "ser")
"""Names accepted by `load_metric`, one folder each under `MODULES_DIR`."""

SUMMARY_METRIC_NAMES = ("uar", "wa", "macro_f1")
"""Scalar metrics summarised across folds by `aggregate_folds`."""


def list_metrics() -> list[str]:
    """Names of the metrics shipped with sertune, as accepted by `load_metric`."""
    return list(METRIC_NAMES)


def load_metric(name: str, *, keep_in_memory: bool = False, experiment_id: str | None = None):
    """Load one of sertune's local `evaluate` modules from the package folder (no Hub access).

    Args:
        name: One of `list_metrics()`: `"uar"`, `"wa"`, `"macro_f1"` or `"ser"`.
        keep_in_memory: Keep `evaluate`'s buffered predictions in memory instead of Arrow files
            under the Hugging Face cache folder.
        experiment_id: Passed to `evaluate.load`; distinguishes concurrent runs sharing a cache.

    Returns:
        The `evaluate.EvaluationModule`; call `.compute(predictions=..., references=...)`,
        optionally with `num_labels=`. `evaluate` encodes the inputs with `datasets` int64
        features, which truncate floats (0.7 -> 0) instead of rejecting them, so pass integer
        class ids (`compute_ser_metrics` rejects float input).

    Raises:
        ValueError: `name` is not one of `list_metrics()`.
    """
    if name not in METRIC_NAMES:
        raise ValueError(f"Unknown metric {name!r}; sertune ships: {', '.join(METRIC_NAMES)}.")
    # Deferred: `import evaluate` imports datasets and transformers.pipelines (seconds), which
    # `compute_ser_metrics` does not need.
    import evaluate

    module_dir = MODULES_DIR / name
    logger.debug("Loading evaluate module %r from %s", name, module_dir)
    return evaluate.load(
        str(module_dir), keep_in_memory=keep_in_memory, experiment_id=experiment_id
    )


def _as_label_array(values: Any, argument_name: str) -> np.ndarray:
    """Turn a sequence of integer class ids into a 1-D int64 array, or say what is wrong."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(
            f"`{argument_name}` must be a 1-D sequence of class ids, got shape {array.shape}."
        )
    if array.size == 0:
        raise ValueError(f"`{argument_name}` is empty; metrics need at least one sample.")
    if array.dtype.kind not in "iu":
        raise ValueError(
            f"`{argument_name}` must hold integer class ids, got dtype {array.dtype} "
            "(take the argmax of logits before computing metrics)."
        )
    if array.min() < 0:
        raise ValueError(f"`{argument_name}` holds a negative class id ({int(array.min())}).")
    return array.astype(np.int64, copy=False)


def confusion_matrix_from_labels(
    predictions: Sequence[int] | np.ndarray,
    references: Sequence[int] | np.ndarray,
    num_labels: int | None = None,
) -> np.ndarray:
    """Count (reference, prediction) pairs into a square confusion matrix.

    Args:
        predictions: Predicted class id of each sample (non-negative integers).
        references: True class id of each sample, same length as `predictions`.
        num_labels: Number of classes, i.e. the matrix size. When `None`, the largest id seen in
            either input plus one; pass it so that classes absent from a batch or fold still get
            a row and a column.

    Returns:
        An int64 array of shape `(num_labels, num_labels)`; entry `[i, j]` counts samples of
        reference class `i` predicted as class `j`.

    Raises:
        ValueError: Lengths differ, an input is empty or not integer, an id is negative, or an id
            is `>= num_labels`.
    """
    prediction_ids = _as_label_array(predictions, "predictions")
    reference_ids = _as_label_array(references, "references")
    if prediction_ids.shape != reference_ids.shape:
        raise ValueError(
            f"`predictions` has {prediction_ids.size} entries but `references` has "
            f"{reference_ids.size}; they must pair up one to one."
        )
    largest_id = int(max(prediction_ids.max(), reference_ids.max()))
    if num_labels is None:
        num_labels = largest_id + 1
    else:
        if isinstance(num_labels, bool) or not isinstance(num_labels, (int, np.integer)):
            raise ValueError(f"`num_labels` must be an int, got {num_labels!r}.")
        num_labels = int(num_labels)
        if num_labels < 1:
            raise ValueError(f"`num_labels` must be at least 1, got {num_labels}.")
        if largest_id >= num_labels:
            raise ValueError(
                f"Class id {largest_id} is out of range for num_labels={num_labels} "
                f"(valid ids are 0..{num_labels - 1})."
            )
    flat_counts = np.bincount(
        reference_ids * num_labels + prediction_ids, minlength=num_labels * num_labels
    )
    return flat_counts.reshape(num_labels, num_labels)


def _as_confusion_matrix(matrix: Any) -> np.ndarray:
    """Check that `matrix` is a square matrix of non-negative integer counts and return it."""
    array = np.asarray(matrix)
    if array.ndim != 2 or array.shape[0] != array.shape[1] or array.shape[0] == 0:
        raise ValueError(
            f"A confusion matrix must be square and non-empty, got shape {array.shape}."
        )
    holds_integer_counts = array.dtype.kind in "iu" or (
        array.dtype.kind == "f" and bool(np.all(np.isfinite(array) & (array == np.round(array))))
    )
    if not holds_integer_counts:
        raise ValueError(f"A confusion matrix must hold integer counts, got dtype {array.dtype}.")
    if np.any(array < 0):
        raise ValueError("A confusion matrix cannot hold negative counts.")
    return array.astype(np.int64)


def normalize_confusion_matrix_rows(matrix: Any) -> np.ndarray:
    """Divide each row of a confusion matrix by its sum (the class's support).

    Args:
        matrix: Square confusion matrix of counts, rows = reference class.

    Returns:
        A float64 array of the same shape whose rows sum to 1; a row with zero support (a class
        absent from the references) stays all zeros rather than becoming NaN.

    Raises:
        ValueError: `matrix` is not a square matrix of non-negative counts.
    """
    counts = _as_confusion_matrix(matrix).astype(np.float64)
    row_sums = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, row_sums, out=np.zeros_like(counts), where=row_sums > 0)


def _nanmean_or_nan(values: np.ndarray) -> float:
    """Mean of the non-NaN entries, NaN when there are none (without numpy's warning)."""
    kept = values[~np.isnan(values)]
    return float(kept.mean()) if kept.size else math.nan


def scores_from_confusion_matrix(matrix: Any) -> dict[str, Any]:
    """Compute every SER metric from a confusion matrix (the one implementation in sertune).

    See the module docstring for the definitions and the treatment of absent classes.

    Args:
        matrix: Square confusion matrix of counts, rows = reference class, columns = predicted
            class, with at least one sample.

    Returns:
        A dict of plain Python values: `uar`, `wa`, `macro_f1` (floats), `precision`, `recall`,
        `f1` (lists of floats indexed by class id, possibly NaN as documented), `support` (list
        of ints), `confusion_matrix` (list of lists of ints) and `num_samples` (int).

    Raises:
        ValueError: `matrix` is not square, holds negative or non-integer counts, or is all zero.
    """
    counts = _as_confusion_matrix(matrix)
    num_samples = int(counts.sum())
    if num_samples == 0:
        raise ValueError("The confusion matrix holds no samples; metrics are undefined.")
    true_positives = np.diag(counts).astype(np.float64)
    support = counts.sum(axis=1)
    predicted_count = counts.sum(axis=0)

    recall = np.full(true_positives.shape, math.nan)
    np.divide(true_positives, support, out=recall, where=support > 0)
    precision = np.zeros_like(true_positives)
    np.divide(true_positives, predicted_count, out=precision, where=predicted_count > 0)

    # scikit-learn counts recall as 0 (not NaN) inside F1 for a predicted-but-absent class.
    recall_for_f1 = np.nan_to_num(recall, nan=0.0)
    precision_plus_recall = precision + recall_for_f1
    f1 = np.zeros_like(true_positives)
    np.divide(
        2.0 * precision * recall_for_f1,
        precision_plus_recall,
        out=f1,
        where=precision_plus_recall > 0,
    )
    in_label_set = (support > 0) | (predicted_count > 0)
    f1[~in_label_set] = math.nan

    return {
        "uar": _nanmean_or_nan(recall),
        "wa": float(true_positives.sum() / num_samples),
        "macro_f1": _nanmean_or_nan(f1),
        "precision": [float(value) for value in precision],
        "recall": [float(value) for value in recall],
        "f1": [float(value) for value in f1],
        "support": [int(value) for value in support],
        "confusion_matrix": counts.tolist(),
        "num_samples": num_samples,
    }


def _check_label_names(label_names: Sequence[str], num_classes: int) -> list[str]:
    """Return `label_names` as a list after checking it names each class exactly once."""
    if isinstance(label_names, str):
        raise ValueError("`label_names` must be a sequence of names, not a single string.")
    names = [str(name) for name in label_names]
    if len(names) != num_classes:
        raise ValueError(
            f"Got {len(names)} label names for {num_classes} classes; give one name per class id."
        )
    if len(set(names)) != len(names):
        raise ValueError(f"`label_names` has duplicates: {names}.")
    return names


def _with_per_class(scores: dict[str, Any], label_names: Sequence[str] | None) -> dict[str, Any]:
    """Add `label_names` and a `per_class` dict keyed by label name to `scores`."""
    if label_names is None:
        return scores
    names = _check_label_names(label_names, len(scores["support"]))
    scores["label_names"] = names
    scores["per_class"] = {
        name: {
            "precision": scores["precision"][class_id],
            "recall": scores["recall"][class_id],
            "f1": scores["f1"][class_id],
            "support": scores["support"][class_id],
        }
        for class_id, name in enumerate(names)
    }
    return scores


def compute_ser_metrics(
    predictions: Sequence[int] | np.ndarray,
    references: Sequence[int] | np.ndarray,
    label_names: Sequence[str] | None = None,
    num_labels: int | None = None,
) -> dict[str, Any]:
    """Compute all SER metrics for one evaluation pass; what the training loop calls each epoch.

    The inputs are checked here (`evaluate`'s int64 features would truncate float ids instead
    of refusing them), then computed by the local `ser` evaluate module (`load_metric("ser")`,
    loaded once per process and kept in memory).

    Args:
        predictions: Predicted class id of each sample (e.g. `logits.argmax(-1)`).
        references: True class id of each sample.
        label_names: Optional name of each class, indexed by class id. When given, the result
            also holds `label_names` and `per_class`, and the number of names fixes the number
            of classes unless `num_labels` is given too (then both must agree).
        num_labels: Number of classes; fixes the size of the confusion matrix and per-class
            lists when some classes are absent. Defaults to `len(label_names)` when names are
            given, else to the largest id seen plus one.

    Returns:
        The dict of `scores_from_confusion_matrix` (`uar`, `wa`, `macro_f1`, `precision`,
        `recall`, `f1`, `support`, `confusion_matrix`, `num_samples`), plus `label_names` and
        `per_class` (`{name: {"precision", "recall", "f1", "support"}}`) when names are given.

    Raises:
        ValueError: Invalid inputs (see `confusion_matrix_from_labels`), or `label_names` does
            not match the number of classes.
    """
    if label_names is not None and num_labels is None and not isinstance(label_names, str):
        num_labels = len(label_names)
    predictions = _as_label_array(predictions, "predictions")
    references = _as_label_array(references, "references")
    matrix = confusion_matrix_from_labels(predictions, references, num_labels=num_labels)
    scores = _ser_module().compute(
        predictions=predictions.tolist(),
        references=references.tolist(),
        num_labels=matrix.shape[0],
    )
    return _with_per_class(scores, label_names)


@functools.lru_cache(maxsize=1)
def _ser_module():
    """The `ser` evaluate module, loaded once per process, its buffers in memory."""
    return load_metric("ser", keep_in_memory=True)


def _summary(values: list[float]) -> dict[str, Any]:
    """Mean, sample standard deviation (ddof=1; 0.0 for one value), min, max and the values."""
    array = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(array.mean()),
        "std": float(array.std(ddof=1)) if array.size > 1 else 0.0,
        "min": float(array.min()),
        "max": float(array.max()),
        "per_fold": [float(value) for value in array],
    }


def aggregate_folds(fold_results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Summarise per-fold results of a cross-validation (e.g. leave-one-speaker-out) run.

    Two views are reported because the SER literature uses both: the mean and spread of the
    per-fold scores (each fold weighs the same), and pooled scores computed from the sum of the
    folds' confusion matrices (each sample weighs the same).

    Args:
        fold_results: One dict per fold as returned by `compute_ser_metrics`; each needs `uar`,
            `wa`, `macro_f1` and `confusion_matrix`, all matrices of the same size (compute each
            fold with the same `num_labels`). If every fold has the same `label_names`, the pooled
            result gets `label_names` and `per_class` too.

    Returns:
        A dict with `num_folds`; for each of `uar`, `wa`, `macro_f1` a dict with `mean`, `std`
        (sample standard deviation, ddof=1, defined as 0.0 for a single fold), `min`, `max` and
        `per_fold` (the values in fold order); and `pooled`, the `scores_from_confusion_matrix`
        result of the summed matrix (its `confusion_matrix`, `uar`, `wa`, `macro_f1`, per-class
        lists, ...).

    Raises:
        ValueError: No folds, a fold lacks a key, the matrices differ in size, or the folds'
            `label_names` differ.
    """
    if isinstance(fold_results, dict) or len(fold_results) == 0:
        raise ValueError("`fold_results` must be a non-empty list of per-fold result dicts.")
    required_keys = (*SUMMARY_METRIC_NAMES, "confusion_matrix")
    fold_matrices = []
    for fold_index, fold_result in enumerate(fold_results):
        missing_keys = [key for key in required_keys if key not in fold_result]
        if missing_keys:
            raise ValueError(
                f"Fold {fold_index} lacks {missing_keys}; pass the dicts of compute_ser_metrics."
            )
        fold_matrices.append(_as_confusion_matrix(fold_result["confusion_matrix"]))
    matrix_shapes = {matrix.shape for matrix in fold_matrices}
    if len(matrix_shapes) > 1:
        shapes_by_fold = [matrix.shape for matrix in fold_matrices]
        raise ValueError(
            f"Folds have confusion matrices of different sizes {shapes_by_fold}; compute every "
            "fold with the same num_labels (or label_names) so they can be pooled."
        )
    fold_label_names = [fold_result.get("label_names") for fold_result in fold_results]
    shared_label_names = fold_label_names[0]
    if any(names != shared_label_names for names in fold_label_names[1:]):
        raise ValueError(f"Folds disagree on label_names: {fold_label_names}.")

    aggregated: dict[str, Any] = {"num_folds": len(fold_results)}
    for metric_name in SUMMARY_METRIC_NAMES:
        aggregated[metric_name] = _summary(
            [float(fold_result[metric_name]) for fold_result in fold_results]
        )
    pooled_matrix = np.sum(fold_matrices, axis=0)
    aggregated["pooled"] = _with_per_class(
        scores_from_confusion_matrix(pooled_matrix), shared_label_names
    )
    return aggregated
