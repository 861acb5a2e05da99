"""Train the from-scratch CNN-LSTM baseline for emotion recognition on EMO-DB.

    accelerate launch recipes/cnn_lstm_emodb.py --data_dir /path/to/emodb --output_dir runs/cnn-lstm

The baseline of the MATLAB EMO-DB example: four convolution / batch-norm / ReLU / max-pool
blocks with growing filters over the log-mel image (static, delta and delta-delta channels), an
LSTM of 256 units over time, and the last output (or attention pooling) into the classifier.
Nothing is pretrained. ``--model_name_or_path tiny-random-cnn-lstm`` builds a tiny one for smoke
runs. The data, split and training options are those of every recipe (see ``--help``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sertune.cli import run_recipe
from sertune.config import parse_config
from sertune.data.arguments import DataArguments, load_corpus_fold
from sertune.hub import HubArguments
from sertune.models import CNN_LSTM_NAME, build_cnn_model
from sertune.models.arguments import LogMelArguments
from sertune.training import TrainingConfig, fit_and_report, make_accelerator, start_run
from sertune.training.augment import AugmentationArguments
from sertune.training.data import fit_feature_normalization
from sertune.training.report import run_config_sections


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        default=CNN_LSTM_NAME,
        metadata={
            "help": "cnn-lstm (full size, random init), tiny-random-cnn-lstm, or a sertune "
            "CNN-LSTM run folder to start from."
        },
    )
    reinit_head: bool = field(
        default=False,
        metadata={"help": "From a sertune run folder: re-initialise the whole head."},
    )
    conv_channels: list[int] = field(
        default_factory=lambda: [16, 32, 64, 128],
        metadata={"help": "Filters of the four convolution blocks."},
    )
    lstm_hidden_size: int = field(default=256, metadata={"help": "LSTM units."})
    aggregator: str = field(
        default="last", metadata={"help": "LSTM output used: last, attention or mean."}
    )
    head_dropout: float = field(default=0.2, metadata={"help": "Dropout before the classifier."})


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

    # Model: randomly initialised; its input height must match the feature extractor's.
    options = {
        "n_mels": feature_args.n_mels,
        "lstm_hidden_size": model_args.lstm_hidden_size,
        "aggregator": model_args.aggregator,
        "head_dropout": model_args.head_dropout,
    }
    if model_args.model_name_or_path == CNN_LSTM_NAME:
        options["conv_channels"] = model_args.conv_channels
    model = build_cnn_model(
        model_args.model_name_or_path,
        id2label=dict(enumerate(corpus.features["label"].names)),
        seed=training_args.seed,
        reinit_head=model_args.reinit_head,
        **options,
    )
    if model.config.n_mels != feature_args.n_mels:
        # A run folder started from keeps its convolutions, and so its input height.
        raise ValueError(
            f"{model_args.model_name_or_path} reads {model.config.n_mels} mel bands: "
            f"give --n_mels {model.config.n_mels}"
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
