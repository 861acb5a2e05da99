"""Fine-tune a wav2vec 2.0-family encoder for speech emotion recognition on EMO-DB (or any corpus).

    accelerate launch recipes/wav2vec2_emodb.py --data_dir /path/to/emodb --output_dir runs/w2v2

Any transformers speech encoder works (wav2vec2, HuBERT, WavLM, data2vec-audio) by hub id or
local path. ``--model_name_or_path tiny-random`` (or ``tiny-random-hubert``, ...) builds a tiny
randomly initialised encoder offline, for smoke runs and tests. Values may also come from a
JSON/YAML file (``--config run.yaml``); the command line overrides it.

``--corpus`` picks another registered corpus and ``--labels`` a class subset. The split is
speaker-independent: ``--protocol holdout`` (default: fixed test and validation speakers),
``loso``, ``speaker_kfold`` or ``session`` with ``--fold``, or ``official`` partitions. The output folder holds the model and
feature extractor (loadable by ``pipeline("audio-classification")``), ``run_config.json``,
``metrics.json``, ``confusion_matrix.png`` and the training log.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sertune.cli import run_recipe
from sertune.config import parse_config
from sertune.data.arguments import DataArguments, load_corpus_fold
from sertune.hub import HubArguments
from sertune.models import build_ser_model, load_feature_extractor
from sertune.models.arguments import EncoderHeadArguments
from sertune.training import TrainingConfig, fit_and_report, make_accelerator, start_run
from sertune.training.augment import AugmentationArguments
from sertune.training.report import run_config_sections


@dataclass
class ModelArguments(EncoderHeadArguments):
    pooling_heads: int = field(default=1, metadata={"help": "Attention pooling heads."})
    pooling_statistics: bool = field(
        default=False,
        metadata={"help": "Append the weighted std to the pooled mean (attentive stats)."},
    )
    freeze_feature_encoder: bool = field(
        default=True, metadata={"help": "Keep the convolutional feature encoder fixed."}
    )
    freeze_encoder_steps: int = field(
        default=0, metadata={"help": "Train only the head for the first N optimiser steps."}
    )


def main(argv: list[str] | None = None) -> dict:
    model_args, data_args, training_args, augmentation_args, hub_args = parse_config(
        (ModelArguments, DataArguments, TrainingConfig, AugmentationArguments, HubArguments),
        argv,
        description=__doc__,
    )
    start_run(training_args)

    # Data: the corpus, split by speakers (or by its official partitions).
    corpus, fold = load_corpus_fold(data_args)
    id2label = dict(enumerate(corpus.features["label"].names))

    # Model: a pretrained encoder with a fresh pooling head, or a tiny random one.
    model = build_ser_model(
        model_args.model_name_or_path,
        id2label=id2label,
        seed=training_args.seed,
        **model_args.head_options(),
    )
    accelerator = make_accelerator(training_args, model)
    feature_extractor = load_feature_extractor(model_args.model_name_or_path, model.config)

    # Train on the training speakers, select on the validation speakers, test once.
    report = fit_and_report(
        model,
        feature_extractor,
        corpus=corpus,
        fold=fold,
        corpus_name=data_args.corpus_name,
        config=training_args,
        run_config=run_config_sections(
            model=model_args,
            data=data_args,
            training=training_args,
            augmentation=augmentation_args,
        ),
        accelerator=accelerator,
        augmentation=augmentation_args,
    )
    # Model, feature extractor, code and a model card from the run, when asked to.
    hub_args.push_if_requested(training_args.output_dir)
    return report


if __name__ == "__main__":
    run_recipe(main)
