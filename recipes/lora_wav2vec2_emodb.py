"""Fine-tune a wav2vec 2.0-family encoder with LoRA (or IA3) adapters for SER on EMO-DB.

    accelerate launch recipes/lora_wav2vec2_emodb.py --data_dir /path/to/emodb --output_dir runs/lora

The same run as ``recipes/wav2vec2_emodb.py``, but the encoder's weights stay frozen: only
adapters in its attention and feed-forward projections train (``--peft_method lora|ia3``,
``--lora_r``, ``--lora_alpha``, ``--target_modules``), with the layer mixing weights, pooling and
head. ``--model_name_or_path tiny-random`` builds a tiny random encoder offline for smoke runs.

The output folder holds ``adapter/`` (adapters and head alone, with the base model's identity:
reload with :func:`sertune.models.peft_utils.load_adapter` on the same base) and, with
``--merge_adapter_on_save`` (the default), the merged model and feature extractor, loadable by
``pipeline("audio-classification")`` without ``peft``; without it, the output folder holds no
full model. Plus ``run_config.json``, ``metrics.json``, ``confusion_matrix.png`` and the logs.
"""

from __future__ import annotations

from pathlib import Path

from sertune.cli import run_recipe
from sertune.config import parse_config
from sertune.data.arguments import DataArguments, load_corpus_fold
from sertune.hub import HubArguments
from sertune.models import build_ser_model, load_feature_extractor
from sertune.models.arguments import EncoderHeadArguments
from sertune.models.peft_utils import PeftArguments, apply_peft, merge_adapter, save_adapter
from sertune.training import TrainingConfig, fit_and_report, make_accelerator, start_run
from sertune.training.augment import AugmentationArguments
from sertune.training.report import run_config_sections

ADAPTER_DIR = "adapter"


def main(argv: list[str] | None = None) -> dict:
    model_args, peft_args, data_args, training_args, augmentation_args, hub_args = parse_config(
        (
            EncoderHeadArguments,
            PeftArguments,
            DataArguments,
            TrainingConfig,
            AugmentationArguments,
            HubArguments,
        ),
        argv,
        description=__doc__,
    )
    start_run(training_args)

    # Data: the corpus, split by speakers (or by its official partitions).
    corpus, fold = load_corpus_fold(data_args)
    id2label = dict(enumerate(corpus.features["label"].names))

    # Model: a frozen encoder with adapters, and a fresh, fully trained pooling head.
    model = build_ser_model(
        model_args.model_name_or_path,
        id2label=id2label,
        seed=training_args.seed,
        **model_args.head_options(),
    )
    model = apply_peft(model, peft_args)
    accelerator = make_accelerator(training_args, model)
    feature_extractor = load_feature_extractor(model_args.model_name_or_path, model.config)

    # Train on the training speakers, select on the validation speakers, test once. The loop
    # leaves the best weights in `model` and an adapted (peft-named) copy in the output folder.
    report = fit_and_report(
        model,
        feature_extractor,
        corpus=corpus,
        fold=fold,
        corpus_name=data_args.corpus_name,
        config=training_args,
        run_config=run_config_sections(
            model=model_args,
            peft=peft_args,
            data=data_args,
            training=training_args,
            augmentation=augmentation_args,
        ),
        accelerator=accelerator,
        augmentation=augmentation_args,
    )

    # Replace that copy: the adapter alone, and the merged plain model that pipeline() loads.
    if accelerator.is_main_process:
        output_dir = Path(training_args.output_dir)
        save_adapter(model, output_dir / ADAPTER_DIR)
        if peft_args.merge_adapter_on_save:
            merge_adapter(model).save_pretrained(output_dir, safe_serialization=True)
        else:
            for name in ("model.safetensors", "config.json"):
                (output_dir / name).unlink(missing_ok=True)
    hub_args.push_if_requested(training_args.output_dir)
    return report


if __name__ == "__main__":
    run_recipe(main)
