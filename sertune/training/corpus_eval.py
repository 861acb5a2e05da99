"""Test any trained model on a corpus, its classes matched to the corpus's by name.

A model's class names (``config.id2label``) are mapped onto the common taxonomy
(:func:`sertune.data.taxonomy.common_label_name`: a SUPERB checkpoint's ``ang`` is ``angry``) and
matched with the corpus's labels. Then:

* utterances of a corpus class the model does not know are left out of the scores and reported
  (``classes_unknown_to_model`` with their counts): no other class stands in for them;
* the model's classes the corpus lacks are reported (``model_classes_not_in_corpus``), and the
  model chooses among the classes it shares with the corpus (the argmax of their logits).

The scores (:func:`sertune.metrics.compute_ser_metrics`) are over the shared classes, in the
corpus's order, and :func:`sertune.training.report.write_run_report` writes them as a run's
``metrics.json`` and confusion matrix.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from datasets import Dataset as HFDataset
from torch.utils.data import DataLoader

from sertune.data.taxonomy import common_label_name
from sertune.metrics import compute_ser_metrics
from sertune.training.data import (
    PADDING_COUNTS_KEY,
    AudioClassificationDataset,
    PaddingCollator,
    min_input_samples,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelCorrespondence:
    """How a model's classes meet a corpus's.

    Args:
        shared: ``(corpus id, model id)`` of each class both know, in corpus order.
        corpus_only: Corpus class names the model does not know.
        model_only: Model class names the corpus does not have.
    """

    shared: tuple[tuple[int, int], ...]
    corpus_only: tuple[str, ...]
    model_only: tuple[str, ...]


def match_labels(
    model_id2label: Mapping[int, str], corpus_labels: Sequence[str]
) -> LabelCorrespondence:
    """Match a model's classes with a corpus's by their common-taxonomy names.

    Args:
        model_id2label: The model's class names by id.
        corpus_labels: The corpus's class names (common labels), in id order.

    Raises:
        ValueError: No class is shared.
    """

    def key(name: str) -> str:
        return common_label_name(name) or str(name)

    model_by_key: dict[str, int] = {}
    for model_id, name in sorted((int(i), n) for i, n in model_id2label.items()):
        model_by_key.setdefault(key(name), model_id)
    shared = tuple(
        (corpus_id, model_by_key[key(name)])
        for corpus_id, name in enumerate(corpus_labels)
        if key(name) in model_by_key
    )
    corpus_keys = {key(name) for name in corpus_labels}
    correspondence = LabelCorrespondence(
        shared=shared,
        corpus_only=tuple(name for name in corpus_labels if key(name) not in model_by_key),
        model_only=tuple(
            name for _, name in sorted(model_id2label.items()) if key(name) not in corpus_keys
        ),
    )
    if not shared:
        raise ValueError(
            f"the model's classes {sorted(model_id2label.values())} share no name with the "
            f"corpus's {list(corpus_labels)} (after mapping onto the common taxonomy)"
        )
    return correspondence


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module,
    feature_extractor,
    dataset: HFDataset,
    *,
    batch_size: int = 8,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """The model's logits ``[rows, num_labels]`` for every row of a corpus dataset, in order.

    Utterances are whole (not cropped), padded per batch by the feature extractor as in a run.

    Args:
        model: An audio-classification model.
        feature_extractor: Its feature extractor.
        dataset: Rows with ``audio`` and ``label`` columns.
        batch_size: Utterances per forward pass.
        device: Where the model runs.
    """
    rows = AudioClassificationDataset(
        dataset,
        sampling_rate=int(feature_extractor.sampling_rate),
        crop=False,
        min_samples=min_input_samples(model.config),
    )
    loader = DataLoader(rows, batch_size=batch_size, collate_fn=PaddingCollator(feature_extractor))
    model = model.to(device).eval()
    outputs = []
    for batch in loader:
        batch.pop(PADDING_COUNTS_KEY, None)
        batch.pop("labels")
        batch = {name: value.to(device) for name, value in batch.items()}
        outputs.append(model(**batch).logits.float().cpu())
    return torch.cat(outputs).numpy()


def score_on_corpus(
    logits: np.ndarray,
    corpus_label_ids: Sequence[int],
    model_id2label: Mapping[int, str],
    corpus_labels: Sequence[str],
) -> dict[str, Any]:
    """The SER metrics of a model's logits on corpus rows, over the classes both know.

    Args:
        logits: ``[rows, model classes]``.
        corpus_label_ids: The rows' corpus class ids.
        model_id2label: The model's class names by id.
        corpus_labels: The corpus's class names in id order.

    Returns:
        :func:`~sertune.metrics.compute_ser_metrics` over the shared classes, plus
        ``classes_unknown_to_model`` (name -> utterances left out), ``model_classes_not_in_corpus``
        and ``utterances_left_out``.
    """
    match = match_labels(model_id2label, corpus_labels)
    corpus_ids = [corpus_id for corpus_id, _ in match.shared]
    model_ids = [model_id for _, model_id in match.shared]
    references = np.asarray(corpus_label_ids)
    kept = np.isin(references, corpus_ids)
    position = {corpus_id: i for i, corpus_id in enumerate(corpus_ids)}
    predictions = logits[kept][:, model_ids].argmax(-1)
    left_out = Counter(corpus_labels[i] for i in references[~kept].tolist())
    if left_out:
        logger.warning(
            "left out of the scores, as the model does not know their class: %s",
            ", ".join(f"{count} {name}" for name, count in sorted(left_out.items())),
        )
    if match.model_only:
        logger.warning(
            "the model's classes %s are not in the corpus: it chooses among %s",
            list(match.model_only),
            [corpus_labels[i] for i in corpus_ids],
        )
    metrics = compute_ser_metrics(
        predictions,
        np.asarray([position[i] for i in references[kept].tolist()], dtype=np.int64),
        label_names=[corpus_labels[i] for i in corpus_ids],
    )
    metrics["classes_unknown_to_model"] = {
        name: left_out.get(name, 0) for name in match.corpus_only
    }
    metrics["model_classes_not_in_corpus"] = list(match.model_only)
    metrics["utterances_left_out"] = int((~kept).sum())
    return metrics


__all__ = ["LabelCorrespondence", "match_labels", "predict_logits", "score_on_corpus"]
