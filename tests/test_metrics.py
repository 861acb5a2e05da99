"""Tests of sertune.metrics against values worked out by hand, through both public paths.

The expected numbers below are derived in the comments from the confusion matrix
(rows = reference, columns = prediction), never from the code under test.
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sertune.metrics import (
    MODULES_DIR,
    aggregate_folds,
    compute_ser_metrics,
    confusion_matrix_from_labels,
    list_metrics,
    load_metric,
    normalize_confusion_matrix_rows,
    scores_from_confusion_matrix,
)
from sertune.metrics.plot import plot_confusion_matrix

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Three classes, class 2 is never predicted.
#   references  = [0, 0, 0, 1, 1, 2, 2, 2]
#   predictions = [0, 0, 1, 1, 0, 0, 1, 1]
# confusion matrix:      pred 0  pred 1  pred 2
#   ref 0 (0,0,1)          2       1       0     support 3
#   ref 1 (1,0)            1       1       0     support 2
#   ref 2 (0,1,1)          1       2       0     support 3
#   predicted count        4       4       0
# recall    = [2/3, 1/2, 0/3]            -> uar = (2/3 + 1/2 + 0) / 3 = (4/6 + 3/6) / 3 = 7/18
# wa        = (2 + 1 + 0) / 8 = 3/8
# precision = [2/4, 1/4, 0 (never predicted: 0/0 -> 0)]
# f1_0 = 2 * 1/2 * 2/3 / (1/2 + 2/3) = (2/3) / (7/6) = 4/7
# f1_1 = 2 * 1/4 * 1/2 / (1/4 + 1/2) = (1/4) / (3/4) = 1/3
# f1_2 = 0 (precision 0 and recall 0)
# macro_f1 = (4/7 + 1/3 + 0) / 3 = (12/21 + 7/21) / 3 = 19/63
MISSING_PREDICTION_REFERENCES = [0, 0, 0, 1, 1, 2, 2, 2]
MISSING_PREDICTION_PREDICTIONS = [0, 0, 1, 1, 0, 0, 1, 1]
MISSING_PREDICTION_EXPECTED = {
    "uar": 7 / 18,
    "wa": 3 / 8,
    "macro_f1": 19 / 63,
    "precision": [1 / 2, 1 / 4, 0.0],
    "recall": [2 / 3, 1 / 2, 0.0],
    "f1": [4 / 7, 1 / 3, 0.0],
    "support": [3, 2, 3],
    "confusion_matrix": [[2, 1, 0], [1, 1, 0], [1, 2, 0]],
    "num_samples": 8,
}

# Five classes (num_labels=5): class 3 is predicted but absent from the references, class 4 is
# absent from both.
#   references  = [0, 0, 1, 1, 2]
#   predictions = [0, 3, 1, 1, 2]
# confusion matrix rows: ref 0 -> [1, 0, 0, 1, 0], ref 1 -> [0, 2, 0, 0, 0],
#   ref 2 -> [0, 0, 1, 0, 0], ref 3 -> zeros, ref 4 -> zeros
# support = [2, 2, 1, 0, 0]; predicted count = [1, 2, 1, 1, 0]
# recall    = [1/2, 2/2, 1/1, NaN (no support), NaN]  -> uar = (1/2 + 1 + 1) / 3 = 5/6
# wa        = (1 + 2 + 1) / 5 = 4/5
# precision = [1/1, 2/2, 1/1, 0/1, 0 (never predicted)]
# f1 = [2 * 1 * 1/2 / (3/2) = 2/3, 1, 1, 0 (predicted, recall counted 0), NaN (absent from both)]
# macro_f1 over the label set {0, 1, 2, 3} = (2/3 + 1 + 1 + 0) / 4 = (8/3) / 4 = 2/3
ABSENT_REFERENCE_REFERENCES = [0, 0, 1, 1, 2]
ABSENT_REFERENCE_PREDICTIONS = [0, 3, 1, 1, 2]
ABSENT_REFERENCE_EXPECTED = {
    "uar": 5 / 6,
    "wa": 4 / 5,
    "macro_f1": 2 / 3,
    "precision": [1.0, 1.0, 1.0, 0.0, 0.0],
    "recall": [1 / 2, 1.0, 1.0, math.nan, math.nan],
    "f1": [2 / 3, 1.0, 1.0, 0.0, math.nan],
    "support": [2, 2, 1, 0, 0],
    "confusion_matrix": [
        [1, 0, 0, 1, 0],
        [0, 2, 0, 0, 0],
        [0, 0, 1, 0, 0],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0],
    ],
    "num_samples": 5,
}


def assert_results_match(actual: dict, expected: dict) -> None:
    """Compare result dicts key by key, floats approximately, NaN equal to NaN."""
    assert set(expected) <= set(actual)
    for key, expected_value in expected.items():
        if isinstance(expected_value, float) or key in ("precision", "recall", "f1"):
            assert actual[key] == pytest.approx(expected_value, nan_ok=True), key
        else:
            assert actual[key] == expected_value, key


def assert_plain_python(value) -> None:
    """Every leaf is a built-in int/float/str, so results can go to JSON and trackers as is."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str
            assert_plain_python(item)
    elif isinstance(value, list):
        for item in value:
            assert_plain_python(item)
    else:
        assert type(value) in (int, float, str), (value, type(value))


@pytest.fixture(scope="module")
def evaluate_modules() -> dict:
    """Each shipped evaluate module, loaded once from the package folder (no Hub access)."""
    return {name: load_metric(name, keep_in_memory=True) for name in list_metrics()}


# ---------------------------------------------------------------------------------------------
# Hand-computed values
# ---------------------------------------------------------------------------------------------


def test_class_absent_from_predictions_has_zero_precision():
    results = compute_ser_metrics(MISSING_PREDICTION_PREDICTIONS, MISSING_PREDICTION_REFERENCES)
    assert_results_match(results, MISSING_PREDICTION_EXPECTED)


def test_class_absent_from_references_with_num_labels():
    results = compute_ser_metrics(
        ABSENT_REFERENCE_PREDICTIONS, ABSENT_REFERENCE_REFERENCES, num_labels=5
    )
    assert_results_match(results, ABSENT_REFERENCE_EXPECTED)
    # The definitions make the averages the NaN-skipping means of the per-class lists.
    assert results["uar"] == pytest.approx(np.nanmean(results["recall"]))
    assert results["macro_f1"] == pytest.approx(np.nanmean(results["f1"]))


def test_num_labels_defaults_to_largest_id_plus_one():
    # Largest id seen is 3 (a prediction), so the matrix is 4x4 and class 4 does not appear.
    results = compute_ser_metrics(ABSENT_REFERENCE_PREDICTIONS, ABSENT_REFERENCE_REFERENCES)
    assert len(results["confusion_matrix"]) == 4
    assert results["support"] == [2, 2, 1, 0]
    # Same uar/wa/macro_f1 as with num_labels=5: class 4 is in neither average.
    assert results["uar"] == pytest.approx(5 / 6)
    assert results["macro_f1"] == pytest.approx(2 / 3)


def test_perfect_predictions():
    # Diagonal matrix [[1,0,0],[0,2,0],[0,0,1]]: every recall, precision and F1 is 1.
    results = compute_ser_metrics([0, 1, 2, 1], [0, 1, 2, 1])
    assert_results_match(
        results,
        {
            "uar": 1.0,
            "wa": 1.0,
            "macro_f1": 1.0,
            "precision": [1.0, 1.0, 1.0],
            "recall": [1.0, 1.0, 1.0],
            "f1": [1.0, 1.0, 1.0],
            "support": [1, 2, 1],
            "confusion_matrix": [[1, 0, 0], [0, 2, 0], [0, 0, 1]],
        },
    )


def test_all_wrong_predictions():
    # Matrix [[0,2],[2,0]]: no true positives, so every recall, precision and F1 is 0.
    results = compute_ser_metrics([1, 1, 0, 0], [0, 0, 1, 1])
    assert_results_match(
        results,
        {
            "uar": 0.0,
            "wa": 0.0,
            "macro_f1": 0.0,
            "precision": [0.0, 0.0],
            "recall": [0.0, 0.0],
            "f1": [0.0, 0.0],
            "support": [2, 2],
            "confusion_matrix": [[0, 2], [2, 0]],
        },
    )


def test_uar_differs_from_wa_on_imbalanced_data():
    # references: 4 x class 0, 1 x class 1; always predicting class 0:
    # wa = 4/5, recall = [4/4, 0/1] -> uar = 1/2.
    results = compute_ser_metrics([0, 0, 0, 0, 0], [0, 0, 0, 0, 1])
    assert results["wa"] == pytest.approx(4 / 5)
    assert results["uar"] == pytest.approx(1 / 2)


def test_label_names_add_per_class_and_fix_the_size():
    names = ["angry", "happy", "neutral", "sad", "bored"]
    results = compute_ser_metrics(
        ABSENT_REFERENCE_PREDICTIONS, ABSENT_REFERENCE_REFERENCES, label_names=names
    )
    # Five names fix five classes without num_labels.
    assert len(results["confusion_matrix"]) == 5
    assert results["label_names"] == names
    assert list(results["per_class"]) == names
    assert results["per_class"]["angry"] == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    )
    assert results["per_class"]["sad"]["precision"] == 0.0
    assert math.isnan(results["per_class"]["sad"]["recall"])
    assert results["per_class"]["sad"]["f1"] == 0.0
    assert math.isnan(results["per_class"]["bored"]["f1"])


def test_results_are_plain_python_and_json_serialisable():
    results = compute_ser_metrics(
        np.array(ABSENT_REFERENCE_PREDICTIONS),
        np.array(ABSENT_REFERENCE_REFERENCES, dtype=np.int32),
        label_names=["a", "b", "c", "d", "e"],
    )
    assert_plain_python(results)
    assert json.loads(json.dumps(results))["confusion_matrix"] == results["confusion_matrix"]


def test_scores_from_confusion_matrix_matches_labels_path():
    matrix = confusion_matrix_from_labels(
        MISSING_PREDICTION_PREDICTIONS, MISSING_PREDICTION_REFERENCES
    )
    assert matrix.tolist() == MISSING_PREDICTION_EXPECTED["confusion_matrix"]
    assert_results_match(scores_from_confusion_matrix(matrix), MISSING_PREDICTION_EXPECTED)


# ---------------------------------------------------------------------------------------------
# The evaluate modules: the public, loadable path
# ---------------------------------------------------------------------------------------------


def test_list_metrics_and_module_folders():
    assert list_metrics() == ["uar", "wa", "macro_f1", "ser"]
    for name in list_metrics():
        assert (MODULES_DIR / name / f"{name}.py").is_file()


def test_load_metric_rejects_unknown_name():
    with pytest.raises(ValueError, match="uar, wa, macro_f1, ser"):
        load_metric("accuracy")


def test_single_metric_modules_by_hand(evaluate_modules):
    inputs = {
        "predictions": MISSING_PREDICTION_PREDICTIONS,
        "references": MISSING_PREDICTION_REFERENCES,
    }
    assert evaluate_modules["uar"].compute(**inputs) == {"uar": pytest.approx(7 / 18)}
    assert evaluate_modules["wa"].compute(**inputs) == {"wa": pytest.approx(3 / 8)}
    assert evaluate_modules["macro_f1"].compute(**inputs) == {"macro_f1": pytest.approx(19 / 63)}


def test_ser_module_by_hand_with_num_labels(evaluate_modules):
    results = evaluate_modules["ser"].compute(
        predictions=ABSENT_REFERENCE_PREDICTIONS,
        references=ABSENT_REFERENCE_REFERENCES,
        num_labels=5,
    )
    assert_results_match(results, ABSENT_REFERENCE_EXPECTED)
    assert_plain_python(results)


@pytest.mark.parametrize(
    ("predictions", "references", "num_labels"),
    [
        (MISSING_PREDICTION_PREDICTIONS, MISSING_PREDICTION_REFERENCES, None),
        (ABSENT_REFERENCE_PREDICTIONS, ABSENT_REFERENCE_REFERENCES, 5),
        ([2, 0, 1, 1, 0, 2, 2], [2, 0, 0, 1, 1, 2, 0], 4),
    ],
)
def test_evaluate_modules_agree_with_compute_ser_metrics(
    evaluate_modules, predictions, references, num_labels
):
    direct = compute_ser_metrics(predictions, references, num_labels=num_labels)
    through_evaluate = evaluate_modules["ser"].compute(
        predictions=predictions, references=references, num_labels=num_labels
    )
    np.testing.assert_equal(through_evaluate, direct)  # NaN equals NaN here.
    for name in ("uar", "wa", "macro_f1"):
        single = evaluate_modules[name].compute(
            predictions=predictions, references=references, num_labels=num_labels
        )
        assert single == {name: direct[name]}


def test_evaluate_load_from_folder_path_and_add_batch():
    import evaluate

    uar_module = evaluate.load(str(MODULES_DIR / "uar"), keep_in_memory=True)
    # Batches accumulate: same data as MISSING_PREDICTION_*, so uar = 7/18.
    uar_module.add_batch(predictions=[0, 0, 1, 1], references=[0, 0, 0, 1])
    uar_module.add_batch(predictions=[0, 0, 1, 1], references=[1, 2, 2, 2])
    assert uar_module.compute() == {"uar": pytest.approx(7 / 18)}


@pytest.mark.parametrize(
    ("predictions", "references", "num_labels", "message"),
    [
        ([], [], None, "empty"),
        ([-1, 0], [0, 0], None, "negative"),
        ([0, 3], [0, 1], 2, "out of range"),
        ([0, 1], [0, 1, 1], None, "predictions"),
    ],
)
def test_evaluate_module_errors(evaluate_modules, predictions, references, num_labels, message):
    with pytest.raises(ValueError, match=message):
        evaluate_modules["ser"].compute(
            predictions=predictions, references=references, num_labels=num_labels
        )


# ---------------------------------------------------------------------------------------------
# Input errors of the numpy path
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("predictions", "references", "kwargs", "message"),
    [
        ([0, 1], [0, 1, 1], {}, "pair up"),
        ([], [], {}, "empty"),
        ([0, -2], [0, 1], {}, "negative"),
        ([0, 1], [0, -1], {}, "negative"),
        ([0, 2], [0, 1], {"num_labels": 2}, "out of range"),
        ([0, 1], [0, 1], {"num_labels": 0}, "at least 1"),
        ([0, 1], [0, 1], {"num_labels": 2.0}, "must be an int"),
        ([0.0, 1.0], [0, 1], {}, "integer class ids"),
        ([[0, 1]], [[0, 1]], {}, "1-D"),
        ([0, 1], [0, 1], {"label_names": ["a", "b", "c"], "num_labels": 2}, "label names"),
        ([0, 1], [0, 1], {"label_names": ["a", "a"]}, "duplicates"),
        ([0, 2], [0, 1], {"label_names": ["a", "b"]}, "out of range"),
    ],
)
def test_compute_ser_metrics_errors(predictions, references, kwargs, message):
    with pytest.raises(ValueError, match=message):
        compute_ser_metrics(predictions, references, **kwargs)


@pytest.mark.parametrize(
    "matrix",
    [[[1, 2, 3]], [[0, 0], [0, 0]], [[1, -1], [0, 1]], [[0.5, 1], [0, 1]], []],
)
def test_scores_from_confusion_matrix_errors(matrix):
    with pytest.raises(ValueError):
        scores_from_confusion_matrix(matrix)


# ---------------------------------------------------------------------------------------------
# Cross-validation aggregation
# ---------------------------------------------------------------------------------------------

# Three two-class folds, computed with num_labels=2.
# fold 1: refs [0,0,1,1], preds [0,0,1,0] -> [[2,0],[1,1]]
#   recall [2/2, 1/2] -> uar 3/4; wa 3/4; precision [2/3, 1/1];
#   f1_0 = 2 * 2/3 * 1 / (5/3) = 4/5, f1_1 = 2 * 1 * 1/2 / (3/2) = 2/3 -> macro_f1 = 11/15
# fold 2: refs [0,1,1,1], preds [1,1,1,1] -> [[0,1],[0,3]]
#   recall [0/1, 3/3] -> uar 1/2; wa 3/4; precision [0 (never predicted), 3/4];
#   f1_0 = 0, f1_1 = 2 * 3/4 * 1 / (7/4) = 6/7 -> macro_f1 = 3/7
# fold 3: refs [0,0,0,1], preds [0,0,0,1] -> [[3,0],[0,1]] -> uar = wa = macro_f1 = 1
FOLD_INPUTS = [
    ([0, 0, 1, 0], [0, 0, 1, 1]),
    ([1, 1, 1, 1], [0, 1, 1, 1]),
    ([0, 0, 0, 1], [0, 0, 0, 1]),
]


def assert_summary(summary: dict, *, mean: float, std: float, minimum: float, maximum: float):
    """Check the mean/std/min/max entries of one metric's cross-fold summary."""
    assert summary["mean"] == pytest.approx(mean)
    assert summary["std"] == pytest.approx(std)
    assert summary["min"] == pytest.approx(minimum)
    assert summary["max"] == pytest.approx(maximum)


def test_aggregate_folds_by_hand():
    folds = [
        compute_ser_metrics(predictions, references, label_names=["neg", "pos"])
        for predictions, references in FOLD_INPUTS
    ]
    aggregated = aggregate_folds(folds)
    assert aggregated["num_folds"] == 3

    # uar per fold [3/4, 1/2, 1]: mean 3/4; deviations [0, -1/4, 1/4];
    # squares sum 1/8; / (3 - 1) = 1/16; std = 1/4.
    assert_summary(aggregated["uar"], mean=0.75, std=0.25, minimum=0.5, maximum=1.0)
    assert aggregated["uar"]["per_fold"] == pytest.approx([0.75, 0.5, 1.0])
    # wa per fold [3/4, 3/4, 1]: mean 5/6; deviations [-1/12, -1/12, 1/6];
    # squares 1/144 + 1/144 + 4/144 = 1/24; / 2 = 1/48; std = sqrt(1/48).
    assert_summary(aggregated["wa"], mean=5 / 6, std=math.sqrt(1 / 48), minimum=0.75, maximum=1.0)
    assert aggregated["wa"]["per_fold"] == pytest.approx([0.75, 0.75, 1.0])
    # macro_f1 per fold [11/15, 3/7, 1]: mean (77/105 + 45/105 + 105/105) / 3 = 227/315.
    assert aggregated["macro_f1"]["mean"] == pytest.approx(227 / 315)
    assert aggregated["macro_f1"]["per_fold"] == pytest.approx([11 / 15, 3 / 7, 1.0])

    # Pooled matrix: [[2,0],[1,1]] + [[0,1],[0,3]] + [[3,0],[0,1]] = [[5,1],[1,5]].
    # pooled recall [5/6, 5/6] -> uar 5/6 (not the fold mean 3/4); wa 10/12 = 5/6;
    # precision [5/6, 5/6] -> f1 5/6 each -> macro_f1 5/6.
    pooled = aggregated["pooled"]
    assert pooled["confusion_matrix"] == [[5, 1], [1, 5]]
    assert pooled["uar"] == pytest.approx(5 / 6)
    assert pooled["wa"] == pytest.approx(5 / 6)
    assert pooled["macro_f1"] == pytest.approx(5 / 6)
    assert pooled["support"] == [6, 6]
    assert pooled["per_class"]["pos"]["recall"] == pytest.approx(5 / 6)
    assert_plain_python(aggregated)


def test_aggregate_single_fold_has_zero_std():
    # One fold: sample std (ddof=1) is undefined, defined as 0.0.
    fold = compute_ser_metrics(*FOLD_INPUTS[0])
    aggregated = aggregate_folds([fold])
    assert aggregated["num_folds"] == 1
    assert_summary(aggregated["uar"], mean=0.75, std=0.0, minimum=0.75, maximum=0.75)
    assert aggregated["uar"]["per_fold"] == [0.75]
    assert aggregated["pooled"]["confusion_matrix"] == [[2, 0], [1, 1]]


def test_aggregate_folds_errors():
    two_class_fold = compute_ser_metrics([0, 1], [0, 1])
    three_class_fold = compute_ser_metrics([0, 2], [0, 1])
    with pytest.raises(ValueError, match="non-empty"):
        aggregate_folds([])
    with pytest.raises(ValueError, match="different sizes"):
        aggregate_folds([two_class_fold, three_class_fold])
    with pytest.raises(ValueError, match="lacks"):
        aggregate_folds([{"uar": 1.0, "wa": 1.0, "macro_f1": 1.0}])
    named_fold = compute_ser_metrics([0, 1], [0, 1], label_names=["x", "y"])
    renamed_fold = compute_ser_metrics([0, 1], [0, 1], label_names=["y", "x"])
    with pytest.raises(ValueError, match="label_names"):
        aggregate_folds([named_fold, renamed_fold])


# ---------------------------------------------------------------------------------------------
# Plotting
# ---------------------------------------------------------------------------------------------


def test_normalize_confusion_matrix_rows():
    # Row 0: [2,1,1] / 4; row 1 has zero support and stays zeros; row 2: [3,0,1] / 4.
    normalized = normalize_confusion_matrix_rows([[2, 1, 1], [0, 0, 0], [3, 0, 1]])
    np.testing.assert_allclose(normalized, [[0.5, 0.25, 0.25], [0.0, 0.0, 0.0], [0.75, 0.0, 0.25]])
    assert not np.isnan(normalized).any()


def test_plot_confusion_matrix_writes_png(tmp_path):
    import matplotlib.image

    figure_numbers_before = (
        sys.modules["matplotlib.pyplot"].get_fignums() if "matplotlib.pyplot" in sys.modules else []
    )
    output = plot_confusion_matrix(
        [[5, 1, 0], [2, 7, 1], [0, 0, 0]],
        ["angry", "happy", "neutral"],
        tmp_path / "plots" / "confusion.png",
        title="fold 1",
    )
    assert output == tmp_path / "plots" / "confusion.png"
    assert output.read_bytes()[:8] == PNG_SIGNATURE
    pixels = matplotlib.image.imread(output)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    # No pyplot figure was created (the function never goes through pyplot).
    if "matplotlib.pyplot" in sys.modules:
        assert sys.modules["matplotlib.pyplot"].get_fignums() == figure_numbers_before

    counts_output = plot_confusion_matrix(
        [[1, 0], [0, 1]], ["a", "b"], tmp_path / "counts.png", normalize=False
    )
    assert counts_output.read_bytes()[:8] == PNG_SIGNATURE


@pytest.mark.parametrize(
    ("matrix", "label_names"),
    [
        ([[1, 2, 3], [4, 5, 6]], ["a", "b"]),
        ([[1, 0], [0, 1]], ["a", "b", "c"]),
        ([[1, 0], [0, 1]], "ab"),
        ([[1, -1], [0, 1]], ["a", "b"]),
    ],
)
def test_plot_confusion_matrix_rejects_bad_shapes(tmp_path, matrix, label_names):
    with pytest.raises(ValueError):
        plot_confusion_matrix(matrix, label_names, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------


@st.composite
def labelled_samples(draw):
    """(predictions, references, num_labels) with ids in range and at least one sample."""
    num_labels = draw(st.integers(min_value=1, max_value=6))
    num_samples = draw(st.integers(min_value=1, max_value=40))
    class_ids = st.integers(min_value=0, max_value=num_labels - 1)
    predictions = draw(st.lists(class_ids, min_size=num_samples, max_size=num_samples))
    references = draw(st.lists(class_ids, min_size=num_samples, max_size=num_samples))
    return predictions, references, num_labels


@settings(max_examples=50, deadline=None)
@given(labelled_samples())
def test_metric_properties(samples):
    predictions, references, num_labels = samples
    results = compute_ser_metrics(predictions, references, num_labels=num_labels)

    # UAR is the mean of the recalls of the classes present in the references, counted here
    # sample by sample without the confusion matrix.
    present_classes = sorted(set(references))
    recalls = [
        sum(p == r for p, r in zip(predictions, references, strict=True) if r == class_id)
        / references.count(class_id)
        for class_id in present_classes
    ]
    assert results["uar"] == pytest.approx(sum(recalls) / len(recalls))
    assert results["uar"] == pytest.approx(np.nanmean(results["recall"]))

    assert 0.0 <= results["wa"] <= 1.0
    assert results["wa"] == pytest.approx(
        sum(p == r for p, r in zip(predictions, references, strict=True)) / len(references)
    )
    assert 0.0 <= results["macro_f1"] <= 1.0

    matrix = np.array(results["confusion_matrix"])
    assert matrix.shape == (num_labels, num_labels)
    assert matrix.sum() == len(references)
    assert matrix.sum(axis=1).tolist() == results["support"]


def test_compute_ser_metrics_goes_through_the_local_evaluate_module(monkeypatch):
    import evaluate

    from sertune import metrics

    module = metrics._ser_module()
    assert isinstance(module, evaluate.EvaluationModule) and module.name == "ser"
    calls = []
    original = module.compute

    def counting_compute(**kwargs):
        calls.append(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(module, "compute", counting_compute)
    result = metrics.compute_ser_metrics([0, 1, 1], [0, 1, 0], label_names=["a", "b", "c"])
    assert len(calls) == 1 and calls[0]["num_labels"] == 3
    assert result["uar"] == 0.75 and result["per_class"]["a"]["recall"] == 0.5
