"""Trained-model checkpoints built offline, in the layouts the Hub and the recipes save."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForAudioClassification

from sertune.models import build_feature_extractor, tiny_random_encoder_config

#: A SUPERB ER checkpoint's classes (superb/wav2vec2-base-superb-er).
SUPERB_LABELS = {0: "neu", 1: "hap", 2: "ang", 3: "sad"}


def write_superb_checkpoint(folder: Path, family: str = "wav2vec2", seed: int = 5) -> Path:
    """A tiny ``<Family>ForSequenceClassification`` with SUPERB's labels, saved as on the Hub."""
    config = tiny_random_encoder_config(
        family, id2label=SUPERB_LABELS, classifier_proj_size=8, use_weighted_layer_sum=False
    )
    torch.manual_seed(seed)
    model = AutoModelForAudioClassification.from_config(config)
    model.config.architectures = [type(model).__name__]
    model.save_pretrained(folder)
    build_feature_extractor(config).save_pretrained(folder)
    return folder
