"""Weighted accuracy (WA) as a local `evaluate` module.

Load it offline with `sertune.metrics.load_metric("wa")` or `evaluate.load(<this folder>)`.
The numbers come from `sertune.metrics.scores_from_confusion_matrix`, the package's single
implementation of the SER metrics.
"""

import datasets
import evaluate

from sertune.metrics import confusion_matrix_from_labels, scores_from_confusion_matrix

_DESCRIPTION = """\
Weighted accuracy (WA): correct predictions over all predictions, i.e. plain accuracy. The SER
literature calls it "weighted" because it is the average of per-class recalls weighted by class
size. Returned as a fraction in [0, 1].
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): Predicted class ids (non-negative).
    references (`list` of `int`): True class ids, one per prediction.
    num_labels (`int`, *optional*): Number of classes; ids must be below it.

Returns:
    wa (`float`): Weighted accuracy, in [0, 1].

Examples:
    >>> wa = evaluate.load("sertune/metrics/modules/wa")
    >>> wa.compute(predictions=[0, 1, 1, 1], references=[0, 0, 1, 1])
    {'wa': 0.75}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Wa(evaluate.Metric):
    """Weighted accuracy, i.e. the fraction of correct predictions."""

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
        return {"wa": scores_from_confusion_matrix(matrix)["wa"]}
