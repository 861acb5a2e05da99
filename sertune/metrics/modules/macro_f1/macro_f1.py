"""Macro-averaged F1 as a local `evaluate` module.

Load it offline with `sertune.metrics.load_metric("macro_f1")` or `evaluate.load(<this folder>)`.
The numbers come from `sertune.metrics.scores_from_confusion_matrix`, the package's single
implementation of the SER metrics.
"""

import datasets
import evaluate

from sertune.metrics import confusion_matrix_from_labels, scores_from_confusion_matrix

_DESCRIPTION = """\
Macro F1: the F1 score of each class, averaged over the classes that occur in the references or
in the predictions (scikit-learn's default label set). A class that is never predicted has
precision 0 (zero division counts as 0), so its F1 is 0. Returned as a fraction in [0, 1].
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): Predicted class ids (non-negative).
    references (`list` of `int`): True class ids, one per prediction.
    num_labels (`int`, *optional*): Number of classes; ids must be below it. It does not change
        the value, since classes absent from both inputs are left out of the average.

Returns:
    macro_f1 (`float`): Macro-averaged F1, in [0, 1].

Examples:
    >>> macro_f1 = evaluate.load("sertune/metrics/modules/macro_f1")
    >>> macro_f1.compute(predictions=[0, 0, 0, 1], references=[0, 0, 1, 1])
    {'macro_f1': 0.7333333333333334}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MacroF1(evaluate.Metric):
    """Macro-averaged F1 over the classes present in the references or the predictions."""

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
        return {"macro_f1": scores_from_confusion_matrix(matrix)["macro_f1"]}
