"""Unweighted average recall (UAR) as a local `evaluate` module.

Load it offline with `sertune.metrics.load_metric("uar")` or `evaluate.load(<this folder>)`.
The numbers come from `sertune.metrics.scores_from_confusion_matrix`, the package's single
implementation of the SER metrics.
"""

import datasets
import evaluate

from sertune.metrics import confusion_matrix_from_labels, scores_from_confusion_matrix

_CITATION = """\
@inproceedings{schuller2009interspeech,
  title={The INTERSPEECH 2009 Emotion Challenge},
  author={Schuller, Bj{\\"o}rn and Steidl, Stefan and Batliner, Anton},
  booktitle={Proc. Interspeech},
  pages={312--315},
  year={2009}
}
"""

_DESCRIPTION = """\
Unweighted average recall (UAR): the recall of each class, averaged over the classes that occur
in the references, every class weighing the same whatever its size. It equals balanced accuracy
and is the headline metric of speech emotion recognition, where corpora are imbalanced.
Returned as a fraction in [0, 1].
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): Predicted class ids (non-negative).
    references (`list` of `int`): True class ids, one per prediction.
    num_labels (`int`, *optional*): Number of classes; ids must be below it. It does not change
        the value, since classes absent from the references are left out of the average.

Returns:
    uar (`float`): Unweighted average recall, in [0, 1].

Examples:
    >>> uar = evaluate.load("sertune/metrics/modules/uar")
    >>> uar.compute(predictions=[0, 1, 1, 1], references=[0, 0, 1, 1])
    {'uar': 0.75}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Uar(evaluate.Metric):
    """Unweighted average recall over the classes present in the references."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, num_labels=None):
        matrix = confusion_matrix_from_labels(predictions, references, num_labels=num_labels)
        return {"uar": scores_from_confusion_matrix(matrix)["uar"]}
