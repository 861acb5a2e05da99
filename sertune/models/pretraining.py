"""wav2vec 2.0 with its pretraining head, for continued self-supervised pretraining.

:class:`Wav2Vec2ForContinuedPretraining` is ``transformers.Wav2Vec2ForPreTraining`` (the
quantiser, the projections and the masked contrastive loss with codebook diversity) plus the
``parameter_groups`` the training loop asks of every model. What a batch's loss is lives in
:mod:`sertune.training.objectives.pretraining`; ``recipes/pretrain_wav2vec2.py`` runs it.

The saved folder is a wav2vec2 checkpoint (``model_type="wav2vec2"``) with the quantiser:
``AutoModel.from_pretrained`` reads its encoder, so every fine-tuning recipe starts from it, and
a further pretraining run keeps its codebooks. Only wav2vec 2.0 has a pretraining head in
``transformers``; HuBERT, WavLM and data2vec-audio are refused with a clear error.
"""

from __future__ import annotations

import torch
from transformers import AutoConfig, PreTrainedConfig, Wav2Vec2ForPreTraining

from .factory.presets import tiny_random_encoder_config
from .factory.spec import parse_model_name
from .heads import decay_groups

#: Codebook sizes of the tiny random pretraining model (the released models: 2 x 320, 256/768).
TINY_QUANTIZER = {
    "num_codevector_groups": 2,
    "num_codevectors_per_group": 8,
    "codevector_dim": 16,
    "proj_codevector_dim": 16,
}


class Wav2Vec2ForContinuedPretraining(Wav2Vec2ForPreTraining):
    """``Wav2Vec2ForPreTraining`` with the loop's AdamW parameter groups."""

    def parameter_groups(
        self,
        head_lr: float,
        encoder_lr: float,
        weight_decay: float = 0.0,
        layer_decay: float = 1.0,
    ) -> list[dict]:
        """AdamW groups: the encoder (``wav2vec2.*``) and the pretraining head (the rest).

        Args:
            head_lr: Learning rate of the quantiser and the projections.
            encoder_lr: Learning rate of the encoder.
            weight_decay: Weight decay of the parameters with at least two dimensions.
            layer_decay: Must be 1.0: pretraining trains all layers alike.
        """
        if layer_decay != 1.0:
            raise ValueError(f"layer_decay {layer_decay} applies to fine-tuning, not pretraining")

        def lr_and_group(name: str) -> tuple[str, float]:
            if name.startswith(self.base_model_prefix + "."):
                return "encoder", encoder_lr
            return "head", head_lr

        named = ((n, p) for n, p in self.named_parameters() if p.requires_grad)
        return decay_groups(named, lr_and_group, weight_decay)


def _refuse(name: str, model_type: str | None) -> ValueError:
    return ValueError(
        f"cannot pretrain {name!r}: it is a {model_type!r} model; expected a wav2vec2 encoder "
        "(a Hub id or folder, a pretraining run folder, or tiny-random): only wav2vec 2.0 has a "
        "pretraining head (quantiser) in transformers"
    )


def build_pretraining_model(
    model_name_or_path: str, *, seed: int = 0, **config_overrides
) -> Wav2Vec2ForContinuedPretraining:
    """A wav2vec 2.0 model with its pretraining head, pretrained or randomly initialised.

    Args:
        model_name_or_path: ``tiny-random`` (a tiny random config, offline), ``random:<hub id
            or folder>`` (that config, randomly initialised), or a Hub id or folder of a wav2vec2
            checkpoint (an encoder, a pretraining run; a missing quantiser starts fresh).
        seed: Seed of the random initialisation.
        config_overrides: Config fields to change (masking, ``diversity_loss_weight``, ...).

    Raises:
        ValueError: The model is not a wav2vec2 one.
    """
    spec = parse_model_name(model_name_or_path)
    if spec.kind == "tiny_random":
        if spec.family != "wav2vec2":
            raise _refuse(model_name_or_path, spec.family)
        config = tiny_random_encoder_config("wav2vec2", **{**TINY_QUANTIZER, **config_overrides})
    elif spec.kind == "random_init":
        config = AutoConfig.from_pretrained(spec.checkpoint, **config_overrides)
    else:
        config = AutoConfig.from_pretrained(spec.checkpoint, **config_overrides)
        if config.model_type != "wav2vec2":
            raise _refuse(model_name_or_path, config.model_type)
        return Wav2Vec2ForContinuedPretraining.from_pretrained(
            spec.checkpoint, config=config, dtype=torch.float32
        )
    if config.model_type != "wav2vec2":
        raise _refuse(model_name_or_path, config.model_type)
    return _seeded(config, seed)


def _seeded(config: PreTrainedConfig, seed: int) -> Wav2Vec2ForContinuedPretraining:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Wav2Vec2ForContinuedPretraining(config)


__all__ = ["TINY_QUANTIZER", "Wav2Vec2ForContinuedPretraining", "build_pretraining_model"]
