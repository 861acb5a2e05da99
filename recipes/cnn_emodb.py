"""Fine-tune an ImageNet CNN on 3-channel log-mel segments for emotion recognition on EMO-DB.

    accelerate launch recipes/cnn_emodb.py --data_dir /path/to/emodb --output_dir runs/cnn

After Zhang et al. 2021 ("Pre-trained deep convolution neural network model with attention for
speech emotion recognition"): log-mel spectrograms with their deltas and delta-deltas form a
3-channel image, cut into overlapping segments; the CNN embeds each segment, a BLSTM runs over
the segment sequence, attention pooling and a small DNN give the emotion.

``--model_name_or_path`` is a transformers ImageNet backbone (``microsoft/resnet-18``,
``microsoft/resnet-50``, ``google/mobilenet_v2_1.0_224``, ``google/efficientnet-b0``,
``facebook/convnext-tiny-224``), ``timm:<name>`` with timm installed, or
``tiny-random-cnn-<resnet|mobilenet_v2|efficientnet|convnext>`` for an offline smoke run. The
data, split and training options are those of every recipe (see ``--help``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sertune.cli import run_recipe
from sertune.config import parse_config
from sertune.data.arguments import DataArguments, load_corpus_fold
from sertune.hub import HubArguments
from sertune.models import build_cnn_model
from sertune.models.arguments import LogMelArguments
from sertune.training import TrainingConfig, fit_and_report, make_accelerator, start_run
from sertune.training.augment import AugmentationArguments
from sertune.training.data import fit_feature_normalization
from sertune.training.report import run_config_sections


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        default="microsoft/resnet-18",
        metadata={
            "help": "ImageNet backbone hub id or folder, timm:<name>, tiny-random-cnn-*, or a "
            "sertune CNN run folder to start from."
        },
    )
    reinit_head: bool = field(
        default=False,
        metadata={"help": "From a sertune run folder: re-initialise the whole head."},
    )
    aggregator: str = field(
        default="blstm_attention",
        metadata={"help": "Over segments: blstm_attention (the paper), attention or mean."},
    )
    lstm_hidden_size: int = field(default=256, metadata={"help": "BLSTM units per direction."})
    head_hidden_size: int = field(default=256, metadata={"help": "Hidden size of the DNN head."})
    head_dropout: float = field(default=0.2, metadata={"help": "Dropout in the head."})
    freeze_encoder_steps: int = field(
        default=0, metadata={"help": "Train only the head for the first N optimiser steps."}
    )


def main(argv: list[str] | None = None) -> dict:
    model_args, feature_args, data_args, training_args, augmentation_args, hub_args = parse_config(
        (
            ModelArguments,
            LogMelArguments,
            DataArguments,
            TrainingConfig,
            AugmentationArguments,
            HubArguments,
        ),
        argv,
        description=__doc__,
    )
    start_run(training_args)

    # Data: the corpus and its speaker split; features are computed per batch in the workers.
    corpus, fold = load_corpus_fold(data_args)
    feature_extractor = feature_args.feature_extractor()
    if feature_extractor.normalization == "global":
        # Statistics of the training speakers only; validation and test audio never set them.
        fit_feature_normalization(
            feature_extractor,
            corpus.select(fold.train),
            audio_cache_dir=training_args.audio_cache_dir,
        )

    # Model: the ImageNet backbone with the segment aggregator and head.
    model = build_cnn_model(
        model_args.model_name_or_path,
        id2label=dict(enumerate(corpus.features["label"].names)),
        seed=training_args.seed,
        aggregator=model_args.aggregator,
        lstm_hidden_size=model_args.lstm_hidden_size,
        head_hidden_size=model_args.head_hidden_size,
        head_dropout=model_args.head_dropout,
        freeze_encoder_steps=model_args.freeze_encoder_steps,
        reinit_head=model_args.reinit_head,
    )

    report = fit_and_report(
        model,
        feature_extractor,
        corpus=corpus,
        fold=fold,
        corpus_name=data_args.corpus_name,
        config=training_args,
        run_config=run_config_sections(
            model=model_args,
            features=feature_args,
            data=data_args,
            training=training_args,
            augmentation=augmentation_args,
        ),
        accelerator=make_accelerator(training_args, model),
        augmentation=augmentation_args,
    )
    # Model, feature extractor, code and a model card from the run, when asked to.
    hub_args.push_if_requested(training_args.output_dir)
    return report


if __name__ == "__main__":
    run_recipe(main)
