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

import logging
import sys
from dataclasses import dataclass, field

from accelerate import Accelerator, PartialState
from accelerate.utils import DistributedDataParallelKwargs, set_seed
from transformers import AutoFeatureExtractor

from sertune.config import config_to_dict, parse_config
from sertune.data import load_corpus, official_folds, speaker_independent_folds
from sertune.models import build_feature_extractor, build_ser_model, tiny_random_family
from sertune.training import (
    TrainingConfig,
    prepare_output_dir,
    resolve_mixed_precision,
    train,
    write_run_config,
    write_run_report,
)

logger = logging.getLogger("sertune.recipes.wav2vec2_emodb")


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        default="facebook/wav2vec2-base",
        metadata={"help": "Encoder hub id or local folder, or tiny-random[-<family>] (offline)."},
    )
    use_weighted_layer_sum: bool = field(
        default=True, metadata={"help": "Learn a softmax-weighted sum of all hidden layers."}
    )
    pooling: str = field(
        default="attention", metadata={"help": "Frame pooling: attention or mean."}
    )
    pooling_heads: int = field(default=1, metadata={"help": "Attention pooling heads."})
    pooling_statistics: bool = field(
        default=False,
        metadata={"help": "Append the weighted std to the pooled mean (attentive stats)."},
    )
    head_hidden_size: int = field(default=256, metadata={"help": "Hidden size of the MLP head."})
    head_dropout: float = field(default=0.1, metadata={"help": "Dropout in the head."})
    freeze_feature_encoder: bool = field(
        default=True, metadata={"help": "Keep the convolutional feature encoder fixed."}
    )
    freeze_encoder_steps: int = field(
        default=0, metadata={"help": "Train only the head for the first N optimiser steps."}
    )


@dataclass
class DataArguments:
    corpus: str = field(default="emodb", metadata={"help": "Corpus name (sertune data list)."})
    data_dir: str | None = field(
        default=None, metadata={"help": "Corpus root, e.g. EMO-DB's (holding wav/)."}
    )
    download: bool = field(
        default=False, metadata={"help": "Download the corpus into data_dir when it is missing."}
    )
    labels: list[str] | None = field(
        default=None, metadata={"help": "Keep only these labels, e.g. neutral happy sad angry."}
    )
    protocol: str = field(
        default="holdout",
        metadata={"help": "Split: holdout, loso, speaker_kfold, session (IEMOCAP) or official."},
    )
    fold: int = field(default=0, metadata={"help": "Which fold of loso/speaker_kfold to run."})
    num_folds: int = field(default=5, metadata={"help": "Folds of speaker_kfold."})
    test_speakers: list[str] | None = field(
        default=None, metadata={"help": "holdout: explicit test speakers, e.g. 03 08."}
    )
    validation_speakers: list[str] | None = field(
        default=None, metadata={"help": "holdout: explicit validation speakers."}
    )
    num_validation_speakers: int = field(
        default=1, metadata={"help": "Validation speakers chosen among the training speakers."}
    )
    split_seed: int = field(default=0, metadata={"help": "Seed of the speaker choice."})


def main(argv: list[str] | None = None) -> dict:
    model_args, data_args, training_args = parse_config(
        (ModelArguments, DataArguments, TrainingConfig), argv, description=__doc__
    )
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        level=logging.INFO
        if PartialState(cpu=training_args.use_cpu).is_main_process
        else logging.WARNING,
    )
    # Seeded before the model is built, so a pretrained encoder's fresh head is reproducible.
    set_seed(training_args.seed)

    # Data: the corpus, split by speakers (or by its official partitions).
    corpus = load_corpus(
        data_args.corpus, data_args.data_dir, download=data_args.download, labels=data_args.labels
    )
    if data_args.protocol == "official":
        folds = official_folds(corpus)
    else:
        protocol_options = {}
        if data_args.protocol == "speaker_kfold":
            protocol_options["num_folds"] = data_args.num_folds
        if data_args.protocol == "holdout":
            protocol_options["test_speakers"] = data_args.test_speakers
            protocol_options["validation_speakers"] = data_args.validation_speakers
        folds = speaker_independent_folds(
            corpus,
            data_args.protocol,
            seed=data_args.split_seed,
            num_validation_speakers=data_args.num_validation_speakers,
            **protocol_options,
        )
    if not 0 <= data_args.fold < len(folds):
        raise ValueError(f"--fold {data_args.fold}: {data_args.protocol} has {len(folds)} folds")
    fold = folds[data_args.fold]
    logger.info(
        "fold %s: test speakers %s, validation speakers %s",
        fold.name,
        fold.test_speakers,
        fold.validation_speakers,
    )
    label_names = corpus.features["label"].names
    id2label = dict(enumerate(label_names))

    # Model: a pretrained encoder with a fresh pooling head, or a tiny random one.
    model = build_ser_model(
        model_args.model_name_or_path,
        id2label=id2label,
        seed=training_args.seed,
        use_weighted_layer_sum=model_args.use_weighted_layer_sum,
        pooling=model_args.pooling,
        pooling_heads=model_args.pooling_heads,
        pooling_statistics=model_args.pooling_statistics,
        head_hidden_size=model_args.head_hidden_size,
        head_dropout=model_args.head_dropout,
        freeze_feature_encoder=model_args.freeze_feature_encoder,
        freeze_encoder_steps=model_args.freeze_encoder_steps,
    )
    # LayerDrop skips layers at random, which DDP must be told may go unused.
    layerdrop = getattr(model.config.encoder_config, "layerdrop", 0.0) > 0
    accelerator = Accelerator(
        cpu=training_args.use_cpu,
        mixed_precision=resolve_mixed_precision(
            training_args.mixed_precision, training_args.use_cpu
        ),
        gradient_accumulation_steps=training_args.gradient_accumulation_steps,
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=layerdrop)],
    )
    if tiny_random_family(model_args.model_name_or_path) is not None:
        feature_extractor = build_feature_extractor(model.config)
    else:
        feature_extractor = AutoFeatureExtractor.from_pretrained(model_args.model_name_or_path)

    run_config = config_to_dict(model_args, data_args, training_args)
    if accelerator.is_main_process:
        prepare_output_dir(training_args.output_dir, training_args)
        write_run_config(training_args.output_dir, run_config)

    # Train on the training speakers, select on the validation speakers, test once.
    result = train(
        model,
        feature_extractor,
        train_dataset=corpus.select(fold.train),
        eval_dataset=corpus.select(fold.validation) if fold.validation else None,
        test_dataset=corpus.select(fold.test),
        config=training_args,
        accelerator=accelerator,
    )
    report = {}
    if accelerator.is_main_process:
        report = write_run_report(
            training_args.output_dir,
            test_metrics=result.test_metrics,
            label_names=label_names,
            fold=fold,
            corpus=data_args.corpus,
            best_validation_uar=result.best_validation_uar,
            best_step=result.best_step,
            global_step=result.global_step,
            num_processes=accelerator.num_processes,
        )
        logger.info(
            "test UAR %.4f, WA %.4f, macro-F1 %.4f (speakers %s)",
            report["uar"],
            report["wa"],
            report["macro_f1"],
            ", ".join(fold.test_speakers),
        )
    accelerator.end_training()
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
