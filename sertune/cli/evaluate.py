"""``sertune evaluate``: test any trained model on a corpus, its classes matched by name.

``sertune evaluate MODEL --corpus NAME --data_dir DIR --output_dir OUT [--labels ...]
[--protocol P --fold K] [--batch_size 8] [--device cpu|cuda|auto]``

``MODEL`` is a folder with an audio-classification model and its feature extractor: a run folder
of any sertune recipe, or a transformers checkpoint such as a SUPERB ER ``Wav2Vec2ForSequence
Classification``. Without ``--protocol`` every utterance of the corpus is tested; with it, the
test speakers of fold ``--fold``. The model's class names are mapped onto the corpus's by their
common-taxonomy names (``ang`` -> angry); utterances of a class the model does not know are left
out and reported, never counted as another class (see :mod:`sertune.training.corpus_eval`).
``OUT`` receives ``metrics.json`` and ``confusion_matrix.png`` as a run writes them; the
``test`` section of ``metrics.json`` also holds ``classes_unknown_to_model`` (name -> utterances
left out), ``model_classes_not_in_corpus`` and ``utterances_left_out``. ``fold`` is ``null`` when
every speaker was tested.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from sertune.cli._parsing import parse_command
from sertune.data.arguments import DataArguments, load_data, make_folds
from sertune.errors import OptionError
from sertune.inference import DEVICES, EmotionPredictor
from sertune.training.corpus_eval import predict_logits, score_on_corpus
from sertune.training.report import write_run_report

logger = logging.getLogger(__name__)

__all__ = ["EvaluateArguments", "EvaluateDataArguments", "run"]


@dataclass
class EvaluateArguments:
    """Which model, where the report goes, and how the model runs."""

    model: str = field(
        metadata={"help": "Model folder: a sertune run or an audio-classification checkpoint."}
    )
    output_dir: str = field(
        metadata={"help": "Folder for metrics.json and confusion_matrix.png (created)."}
    )
    batch_size: int = field(default=8, metadata={"help": "Utterances per forward pass."})
    device: str = field(
        default="cpu", metadata={"help": "cpu, cuda, cuda:<index> or auto (CUDA if available)."}
    )

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"--batch_size must be at least 1, got {self.batch_size}")
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ValueError(
                f"--device must be one of {list(DEVICES)} or cuda:<index>, got {self.device!r}"
            )


@dataclass
class EvaluateDataArguments(DataArguments):
    """The recipes' data options, except that without ``--protocol`` all speakers are tested."""

    protocol: str | None = field(
        default=None,
        metadata={
            "help": "Test only the test speakers of --fold of this protocol (holdout, loso, "
            "speaker_kfold, session, official); default: every utterance of the corpus."
        },
    )

    def _check_protocol(self) -> None:
        if self.test_corpus is not None:
            raise OptionError(
                f"--test_corpus {self.test_corpus}: sertune evaluate tests on the corpora of "
                "--corpus (every speaker, or a fold's test speakers with --protocol); give "
                f"--corpus {self.test_corpus}"
            )
        if self.protocol is not None:  # None: every speaker is tested
            super()._check_protocol()


def run(argv: list[str]) -> int:
    """Evaluate the model and write the report.

    Args:
        argv: ``MODEL [options]`` (see the module docstring).

    Returns:
        0.

    Raises:
        UsageError: A bad or missing option.
        OSError, ValueError: The model or the corpus cannot be used, or no class is shared.
    """
    args, data_args = parse_command(
        (EvaluateArguments, EvaluateDataArguments),
        argv,
        command="evaluate",
        usage="sertune evaluate MODEL --corpus NAME --data_dir DIR --output_dir OUT [options]",
        description="Test a model on a corpus (all of it, or the test speakers of a fold), its "
        "classes matched to the corpus's by name; write metrics.json and the confusion matrix.",
        positionals=("model",),
    )
    predictor = EmotionPredictor.from_pretrained(args.model, device=args.device)
    corpus, _ = load_data(data_args)
    fold = None
    if data_args.protocol is not None:
        folds = make_folds(corpus, data_args)
        if not 0 <= data_args.fold < len(folds):
            raise ValueError(
                f"--fold {data_args.fold}: {data_args.protocol} has {len(folds)} folds"
            )
        fold = folds[data_args.fold]
        corpus = corpus.select(fold.test)
    corpus_labels = list(corpus.features["label"].names)
    logits = predict_logits(
        predictor.model,
        predictor.feature_extractor,
        corpus,
        batch_size=args.batch_size,
        device=predictor.device,
    )
    metrics = score_on_corpus(
        logits, corpus["label"], predictor.model.config.id2label, corpus_labels
    )
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    report = write_run_report(
        output_dir,
        test_metrics=metrics,
        label_names=metrics["label_names"],
        fold=fold,
        corpus=data_args.corpus_name,
        best_validation_uar=None,
        best_step=None,
        global_step=0,
    )
    logger.info(
        "%s on %s (%s): UAR %.4f, WA %.4f, macro F1 %.4f; report in %s",
        args.model,
        data_args.corpus_name,
        "all speakers" if fold is None else f"test speakers of fold {fold.name}",
        report["uar"],
        report["wa"],
        report["macro_f1"],
        output_dir,
    )
    return 0
