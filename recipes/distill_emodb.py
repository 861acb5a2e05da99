"""Distil a trained emotion model (the teacher) into a small, fast student on EMO-DB.

    accelerate launch recipes/distill_emodb.py --teacher runs/wav2vec2 \\
        --student random:google/mobilenet_v2_1.0_224 --width_multiplier 0.35 \\
        --data_dir /path/to/emodb --output_dir runs/student

The teacher is any sertune model folder (either family) trained on the same labels. The
student is either a CNN on 3-channel log-mel segments (``random:<hub id>`` with
``--width_multiplier``, ``cnn-lstm``, a pretrained CNN hub id, a sertune CNN-family run folder
whose head keeps its rows of the shared labels unless ``--reinit_head``, or
``tiny-random-cnn-*`` for smoke runs), or ``teacher-layers``: a shallow transformer that keeps the teacher's
convolutional front end and the layers ``--teacher_layers`` (a wav2vec2-family teacher only,
DistilHuBERT-style). It learns from the teacher's softened outputs (``--temperature``,
``--alpha`` against the hard labels), optionally matching pooled embeddings
(``--embedding_weight``) or hidden layers (``--hidden_layer_pairs``) through learned
projections. The saved student is an ordinary sertune model. Use the teacher's data options
(corpus, labels, protocol, seed) so that both are tested on the same speakers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sertune.cli import run_recipe
from sertune.config import parse_config
from sertune.data.arguments import DataArguments, load_corpus_fold
from sertune.hub import HubArguments
from sertune.models import build_cnn_model, parse_model_name
from sertune.models.arguments import LogMelArguments
from sertune.models.students import TEACHER_LAYERS_STUDENT, student_from_teacher_layers
from sertune.training import TrainingConfig, fit_and_report, make_accelerator, start_run
from sertune.training.augment import AugmentationArguments
from sertune.training.distill import (
    DistillationArguments,
    Distiller,
    check_teacher_labels,
    load_teacher,
)
from sertune.training.report import run_config_sections

#: Channel factor of a randomly initialised CNN student unless --width_multiplier says otherwise.
RANDOM_STUDENT_WIDTH = 0.35


@dataclass
class StudentArguments:
    student: str = field(
        default="random:google/mobilenet_v2_1.0_224",
        metadata={
            "help": "teacher-layers (a shallow copy of a wav2vec2-family teacher), or a CNN-family "
            "model: random:<hub id>, cnn-lstm, a pretrained CNN hub id, a sertune CNN-family run "
            "folder (its head rows of shared labels kept) or tiny-random-cnn-*."
        },
    )
    reinit_head: bool = field(
        default=False,
        metadata={"help": "Student from a sertune run folder: re-initialise its whole head."},
    )
    width_multiplier: float | None = field(
        default=None,
        metadata={
            "help": "Channel factor of a randomly initialised CNN student (1: full width; "
            f"default {RANDOM_STUDENT_WIDTH}). A pretrained or trained student keeps its width."
        },
    )
    teacher_layers: list[int] = field(
        default_factory=list,
        metadata={"help": "Teacher layers (0-based) a teacher-layers student keeps, e.g. 0 5."},
    )
    aggregator: str | None = field(
        default=None,
        metadata={"help": "CNN student's aggregation over time (default: the family's own)."},
    )
    lstm_hidden_size: int = field(default=128, metadata={"help": "CNN student's LSTM units."})
    head_dropout: float = field(default=0.2, metadata={"help": "CNN student's head dropout."})

    def student_width(self) -> float:
        """The width multiplier: as given, else the default for a random student, else 1."""
        if self.width_multiplier is not None:
            return self.width_multiplier
        return RANDOM_STUDENT_WIDTH if parse_model_name(self.student).is_random else 1.0


def main(argv: list[str] | None = None) -> dict:
    (
        student_args,
        feature_args,
        distill_args,
        data_args,
        training_args,
        augmentation_args,
        hub_args,
    ) = parse_config(
        (
            StudentArguments,
            LogMelArguments,
            DistillationArguments,
            DataArguments,
            TrainingConfig,
            AugmentationArguments,
            HubArguments,
        ),
        argv,
        description=__doc__,
    )
    start_run(training_args)

    # Data: the corpus and its speaker split, with the teacher's labels.
    corpus, fold = load_corpus_fold(data_args)
    label_names = corpus.features["label"].names
    teacher, teacher_feature_extractor = load_teacher(distill_args.teacher)
    check_teacher_labels(teacher, label_names, distill_args.teacher)

    # Student: a shallow copy of the teacher, or a (narrow) CNN on log-mel segments.
    if student_args.student == TEACHER_LAYERS_STUDENT:
        student = student_from_teacher_layers(teacher, student_args.teacher_layers)
        feature_extractor = teacher_feature_extractor
    else:
        options = {
            "lstm_hidden_size": student_args.lstm_hidden_size,
            "head_dropout": student_args.head_dropout,
        }
        if student_args.aggregator is not None:
            options["aggregator"] = student_args.aggregator
        if student_args.student.endswith("cnn-lstm"):
            options["n_mels"] = feature_args.n_mels
        student = build_cnn_model(
            student_args.student,
            id2label=dict(enumerate(label_names)),
            seed=training_args.seed,
            width_multiplier=student_args.student_width(),
            reinit_head=student_args.reinit_head,
            **options,
        )
        feature_extractor = feature_args.feature_extractor()
    distiller = Distiller(
        teacher,
        teacher_feature_extractor,
        student=student,
        student_feature_extractor=feature_extractor,
        **distill_args.distiller_options(),
    )

    report = fit_and_report(
        student,
        feature_extractor,
        corpus=corpus,
        fold=fold,
        corpus_name=data_args.corpus_name,
        config=training_args,
        run_config=run_config_sections(
            model=student_args,
            features=feature_args,
            distillation=distill_args,
            data=data_args,
            training=training_args,
            augmentation=augmentation_args,
        ),
        accelerator=make_accelerator(training_args, student),
        augmentation=augmentation_args,
        distillation=distiller,
    )
    # Model, feature extractor, code and a model card from the run, when asked to.
    hub_args.push_if_requested(training_args.output_dir)
    return report


if __name__ == "__main__":
    run_recipe(main)
