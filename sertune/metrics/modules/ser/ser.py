"""All speech emotion recognition metrics at once, as a local `evaluate` module.

Load it offline with `sertune.metrics.load_metric("ser")` or `evaluate.load(<this folder>)`.
The numbers come from `sertune.metrics.scores_from_confusion_matrix`, the package's single
implementation of the SER metrics, so they equal `sertune.metrics.compute_ser_metrics`.
"""

import datasets
import evaluate

from sertune.metrics import confusion_matrix_from_labels, scores_from_confusion_matrix

_DESCRIPTION = """\
Every metric a speech emotion recognition report needs, from one confusion matrix (rows =
reference class, columns = predicted class): unweighted average recall (UAR, balanced accuracy),
weighted accuracy (WA, plain accuracy), macro F1, and per-class precision, recall, F1 and support.
All values are fractions in [0, 1] and plain Python numbers.

Absent classes: the recall of a class absent from the references is NaN and that class is left
out of UAR; the precision of a class never predicted is 0; the F1 of a class absent from both
references and predictions is NaN and it is left out of macro F1 (so UAR = nanmean(recall) and
macro F1 = nanmean(f1)).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): Predicted class ids (non-negative).
    references (`list` of `int`): True class ids, one per prediction.
    num_labels (`int`, *optional*): Number of classes. Fixes the size of the confusion matrix
        and of the per-class lists when some classes are absent; defaults to the largest id seen
        plus one.

Returns:
    uar (`float`): Unweighted average recall.
    wa (`float`): Weighted accuracy.
    macro_f1 (`float`): Macro-averaged F1.
    precision (`list` of `float`): Per-class precision, indexed by class id.
    recall (`list` of `float`): Per-class recall (NaN for a class absent from the references).
    f1 (`list` of `float`): Per-class F1 (NaN for a class absent from both inputs).
    support (`list` of `int`): Number of reference samples of each class.
    confusion_matrix (`list` of `list` of `int`): Counts, rows = reference, columns = prediction.
    num_samples (`int`): Number of samples.

Examples:
    >>> ser = evaluate.load("sertune/metrics/modules/ser")
    >>> results = ser.compute(predictions=[0, 1, 1], references=[0, 1, 0], num_labels=3)
    >>> results["uar"], results["confusion_matrix"]
    (0.75, [[1, 1, 0], [0, 1, 0], [0, 0, 0]])
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Ser(evaluate.Metric):
    """UAR, WA, macro F1, per-class scores and the confusion matrix in one call."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, num_labels=None):
        matrix = confusion_matrix_from_labels(predictions, references, num_labels=num_labels)
        return scores_from_confusion_matrix(matrix)
