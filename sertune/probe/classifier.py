"""The linear classifier of a probe, its standardisation, and how its C is chosen.

Two standardisations, never using a test label:

- ``global``: a ``StandardScaler`` inside the classifier's pipeline, fitted on the training
  speakers of the fold only (and again inside each inner fold when C is chosen).
- ``per-speaker``: every speaker's features are standardised with that speaker's own mean and
  standard deviation over all of its utterances, without labels (the usual practice in
  speaker-independent SER); a test speaker's statistics come from its own unlabeled audio. It
  replaces the global scaler.

C is either fixed (one value) or chosen among several by an inner cross-validation on the
training speakers only (``GroupKFold`` grouped by speaker, scored by UAR, i.e. balanced
accuracy), then the classifier is refitted on all training speakers with the chosen C. Classes
are weighted inversely to their frequency in the training data (``class_weight="balanced"``).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

logger = logging.getLogger(__name__)

CLASSIFIERS = ("logreg", "linear_svm")
#: Standard deviations below this are treated as 1 (a constant feature stays 0).
_MIN_STD = 1e-8


def build_classifier(name: str, C: float, seed: int = 0) -> Pipeline:
    """A class-weighted linear classifier, behind a global scaler (``scale``) step.

    Args:
        name: ``logreg`` (multinomial logistic regression) or ``linear_svm`` (one-vs-rest).
        C: Inverse regularisation strength.
        seed: Random state of the solver.

    Raises:
        ValueError: Unknown ``name``.
    """
    if name == "logreg":
        model = LogisticRegression(C=C, class_weight="balanced", max_iter=5000, random_state=seed)
    elif name == "linear_svm":
        model = LinearSVC(C=C, class_weight="balanced", max_iter=20000, random_state=seed)
    else:
        raise ValueError(f"--classifier {name!r}: expected one of {', '.join(CLASSIFIERS)}")
    return Pipeline([("scale", StandardScaler()), ("classifier", model)])


def standardise_per_speaker(features: np.ndarray, speakers: Sequence[str]) -> np.ndarray:
    """Each speaker's rows standardised by that speaker's own mean and standard deviation.

    Uses no labels: only the features and which speaker each row belongs to.

    Args:
        features: ``[rows, ...]`` features.
        speakers: Speaker of each row.

    Returns:
        A new float32 array of the same shape.
    """
    speakers = np.asarray(speakers)
    if len(speakers) != len(features):
        raise ValueError(f"{len(speakers)} speakers for {len(features)} feature rows")
    standardised = np.empty_like(features, dtype=np.float32)
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        mean = features[rows].mean(axis=0)
        std = features[rows].std(axis=0)
        standardised[rows] = (features[rows] - mean) / np.where(std < _MIN_STD, 1.0, std)
    return standardised


@dataclass
class FittedProbe:
    """A fitted probe and how its C was chosen.

    Args:
        model: The fitted pipeline.
        C: The C it was fitted with.
        selection: ``{"method": ...}`` plus, with inner cross-validation, each C's mean
            inner UAR.
    """

    model: Pipeline
    C: float
    selection: dict[str, Any] = field(default_factory=dict)


def fit_probe(
    features: np.ndarray,
    labels: np.ndarray,
    speakers: Sequence[str],
    *,
    classifier: str = "logreg",
    Cs: Sequence[float] = (1.0,),
    global_scaling: bool = True,
    inner_folds: int = 5,
    seed: int = 0,
) -> FittedProbe:
    """Fit a probe on training speakers; with several ``Cs``, choose C on them alone.

    Args:
        features: ``[rows, dim]`` training features.
        labels: Class id of each row.
        speakers: Speaker of each row (the inner folds' groups).
        classifier: ``logreg`` or ``linear_svm``.
        Cs: One C (fixed) or several (inner ``GroupKFold`` by speaker, scored by UAR).
        global_scaling: Standardise with training statistics (off when the features are
            already standardised per speaker).
        inner_folds: Inner folds (at most the number of training speakers).
        seed: Solver random state.

    Raises:
        ValueError: Several Cs but fewer than two training speakers.
    """
    pipeline = build_classifier(classifier, float(Cs[0]), seed)
    if not global_scaling:
        pipeline.set_params(scale="passthrough")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        if len(Cs) == 1:
            pipeline.fit(features, labels)
            fitted = FittedProbe(pipeline, float(Cs[0]), {"method": "fixed"})
        else:
            fitted = _fit_with_inner_cv(pipeline, features, labels, speakers, Cs, inner_folds)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        logger.warning("%s did not converge (C=%g); the scores may be lower", classifier, fitted.C)
    return fitted


def _fit_with_inner_cv(pipeline, features, labels, speakers, Cs, inner_folds) -> FittedProbe:
    num_speakers = len(set(speakers))
    if num_speakers < 2:
        raise ValueError("choosing C by inner cross-validation needs two training speakers")
    splits = min(inner_folds, num_speakers)
    search = GridSearchCV(
        pipeline,
        {"classifier__C": [float(c) for c in Cs]},
        scoring="balanced_accuracy",
        cv=GroupKFold(n_splits=splits),
        refit=True,
    )
    search.fit(features, labels, groups=np.asarray(speakers))
    best = float(search.best_params_["classifier__C"])
    inner = {
        f"{float(c):g}": float(score)
        for c, score in zip(Cs, search.cv_results_["mean_test_score"], strict=True)
    }
    selection = {"method": f"inner {splits}-fold GroupKFold by speaker, UAR", "inner_uar": inner}
    return FittedProbe(search.best_estimator_, best, selection)


__all__ = [
    "CLASSIFIERS",
    "FittedProbe",
    "build_classifier",
    "fit_probe",
    "standardise_per_speaker",
]
