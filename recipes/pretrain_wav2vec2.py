"""Continue the self-supervised pretraining of a wav2vec 2.0 encoder on unlabeled audio.

    accelerate launch recipes/pretrain_wav2vec2.py --model_name_or_path facebook/wav2vec2-base \
        --audio_dirs /data/calls --corpora emodb --corpus_dirs /data/emodb --output_dir runs/tapt

Task- or domain-adaptive pretraining (Chen & Rudnicky 2021): the encoder keeps training with the
wav2vec 2.0 objective (masked contrastive loss plus codebook diversity, Gumbel temperature
schedule; see :mod:`sertune.training.objectives.pretraining`) on audio of the target task or
domain, before fine-tuning. ``--audio_dirs`` are folders of audio files; ``--corpora`` are
registered corpora whose labels are ignored. ``--model_name_or_path`` is a wav2vec2 Hub id or
folder (a pretraining run folder too), ``random:<hub id or folder>`` (that architecture,
randomly initialised) or ``tiny-random`` (offline, for tests).

The run goes through the same loop, checkpoints and ``--resume_from_checkpoint`` as every
other. Its output folder is a wav2vec2 checkpoint with its feature extractor: give it as
``--model_name_or_path`` to ``recipes/wav2vec2_emodb.py`` (or to a further pretraining run).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import AutoFeatureExtractor

from sertune.cli import run_recipe
from sertune.config import parse_config
from sertune.data.unlabeled import unlabeled_audio
from sertune.models import build_feature_extractor
from sertune.models.pretraining import build_pretraining_model
from sertune.training import TrainingConfig, make_accelerator, start_run, train
from sertune.training.objectives.pretraining import (
    GumbelTemperature,
    Wav2Vec2PretrainingObjective,
)
from sertune.training.report import run_config_sections, write_run_config
from sertune.training.run_folder import open_run_folder


@dataclass
class PretrainingArguments:
    model_name_or_path: str = field(
        default="facebook/wav2vec2-base",
        metadata={"help": "wav2vec2 Hub id or folder, random:<hub id>, or tiny-random."},
    )
    audio_dirs: list[str] = field(
        default_factory=list, metadata={"help": "Folders of unlabeled audio (searched deeply)."}
    )
    corpora: list[str] = field(
        default_factory=list, metadata={"help": "Registered corpora to use (labels ignored)."}
    )
    corpus_dirs: list[str] = field(
        default_factory=list, metadata={"help": "Root folder of each of --corpora, in order."}
    )
    mask_time_prob: float = field(
        default=0.65, metadata={"help": "Share of frames that start a masked span."}
    )
    mask_time_length: int = field(default=10, metadata={"help": "Frames per masked span."})
    num_negatives: int = field(default=100, metadata={"help": "Distractors per masked frame."})
    diversity_loss_weight: float = field(
        default=0.1, metadata={"help": "Weight of the codebook diversity loss."}
    )
    max_gumbel_temperature: float = field(
        default=2.0, metadata={"help": "Gumbel-softmax temperature at the first step."}
    )
    min_gumbel_temperature: float = field(
        default=0.5, metadata={"help": "Floor of the Gumbel-softmax temperature."}
    )
    gumbel_temperature_decay: float = field(
        default=0.999995, metadata={"help": "Temperature factor per optimiser step."}
    )
    freeze_feature_encoder: bool = field(
        default=False, metadata={"help": "Keep the convolutional feature encoder fixed."}
    )


def main(argv: list[str] | None = None) -> dict:
    args, training_args = parse_config(
        (PretrainingArguments, TrainingConfig), argv, description=__doc__
    )
    start_run(training_args)

    # Data: every file of the folders and corpora, one row each, labels ignored.
    audio = unlabeled_audio(args.audio_dirs, args.corpora, args.corpus_dirs or None)

    # Model: wav2vec 2.0 with its quantiser, pretrained or random, and its feature extractor.
    model = build_pretraining_model(
        args.model_name_or_path,
        seed=training_args.seed,
        diversity_loss_weight=args.diversity_loss_weight,
        mask_time_prob=args.mask_time_prob,
        mask_time_length=args.mask_time_length,
    )
    if args.freeze_feature_encoder:
        model.freeze_feature_encoder()
    if args.model_name_or_path.startswith(("tiny-random", "random:")):
        feature_extractor = build_feature_extractor(model.config)
    else:
        feature_extractor = AutoFeatureExtractor.from_pretrained(args.model_name_or_path)
    objective = Wav2Vec2PretrainingObjective(
        model.config,
        mask_time_prob=args.mask_time_prob,
        mask_time_length=args.mask_time_length,
        num_negatives=args.num_negatives,
        temperature=GumbelTemperature(
            args.max_gumbel_temperature,
            args.min_gumbel_temperature,
            args.gumbel_temperature_decay,
            training_args.gradient_accumulation_steps,
        ),
        seed=training_args.seed,
    )

    # Train through the loop (checkpoints, resume); no validation: the last model is kept.
    accelerator = make_accelerator(training_args, model)
    with open_run_folder(training_args, accelerator) as run_folder:
        if accelerator.is_main_process:
            write_run_config(
                training_args.output_dir,
                run_config_sections(model=args, training=training_args),
            )
        result = train(
            model,
            feature_extractor,
            train_dataset=audio,
            eval_dataset=None,
            test_dataset=None,
            config=training_args,
            accelerator=accelerator,
            run_folder=run_folder,
            objective=objective,
        )
    accelerator.end_training()
    return {"global_step": result.global_step, "history": result.history}


if __name__ == "__main__":
    run_recipe(main)
