"""Start a run from a trained model: a sertune run folder or an audio-classification checkpoint.

:func:`build_ser_model` and :func:`build_cnn_model` hand a Hub id or folder here first. Its
``config.json`` says what it is:

* a sertune run folder (``model_type`` ``sertune-ser``, ``sertune-cnn-ser`` or
  ``sertune-cnn-lstm``): the same model class is built with the new label set;
* an ``AutoModelForAudioClassification`` checkpoint of the wav2vec 2.0 family (e.g. a SUPERB ER
  ``Wav2Vec2ForSequenceClassification``): its mean pooling, projector and classifier become a
  sertune head (``pooling="mean"``, ``head_hidden_size=classifier_proj_size``,
  ``head_activation="linear"``, which computes the same function), on the same encoder;
* anything else (a bare encoder or image backbone): ``None``, and the builder loads it as before.

The encoder or backbone is always kept. The head keeps its architecture and weights, and its
classifier is kept row by row for the classes the old and the new label sets share *by name*,
after mapping both onto the common taxonomy (:func:`sertune.data.taxonomy.common_label_name`:
``ang`` -> ``angry``); rows of new classes are fresh and those of classes the new set lacks are
dropped. With ``reinit_head`` the whole head is fresh and the recipe's head options apply. The log
says what was kept, what was dropped and what is new.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Mapping

import torch
from transformers import AutoModelForAudioClassification, PreTrainedConfig, PreTrainedModel

from ...data.taxonomy import common_label_name
from ...safe_loading import check_weight_files
from ..backbones import CNN_BACKBONE_FAMILIES
from ..cnn_lstm import CnnLstmConfig, CnnLstmForAudioClassification
from ..cnn_ser import CnnSerConfig, CnnSerForAudioClassification
from ..heads import label_kwargs
from ..wav2vec2_ser import SerConfig, SerForAudioClassification
from .spec import ENCODER_FAMILIES

logger = logging.getLogger(__name__)

#: The classifier layer every sertune model family ends with.
CLASSIFIER_PREFIX = "head.classifier."

#: sertune run folders by ``model_type``: the model class, and the ``ser`` or ``cnn`` family.
RUN_MODEL_TYPES: dict[str, tuple[type[PreTrainedModel], str]] = {
    SerConfig.model_type: (SerForAudioClassification, "ser"),
    CnnSerConfig.model_type: (CnnSerForAudioClassification, "cnn"),
    CnnLstmConfig.model_type: (CnnLstmForAudioClassification, "cnn"),
}

#: Config fields that make the encoder or backbone: always taken from the checkpoint.
_BODY_FIELDS: dict[str, tuple[str, ...]] = {
    SerConfig.model_type: ("encoder_config",),
    CnnSerConfig.model_type: (
        "backbone_config",
        "timm_backbone",
        "imagenet_normalize",
        "image_mean",
        "image_std",
        "learnable_input_norm",
        "fix_batch_norm_momentum",
    ),
    CnnLstmConfig.model_type: (
        "n_mels",
        "input_channels",
        "conv_channels",
        "conv_kernel_size",
        "pool_time",
    ),
}

#: Config fields that shape the head's weights: taken from the checkpoint unless re-initialised.
_HEAD_FIELDS: dict[str, tuple[str, ...]] = {
    SerConfig.model_type: (
        "use_weighted_layer_sum",
        "pooling",
        "pooling_heads",
        "pooling_statistics",
        "pooling_attention_size",
        "head_hidden_size",
        "head_activation",
    ),
    CnnSerConfig.model_type: (
        "aggregator",
        "lstm_hidden_size",
        "lstm_layers",
        "pooling_attention_size",
        "head_hidden_size",
        "head_activation",
    ),
    CnnLstmConfig.model_type: (
        "lstm_hidden_size",
        "lstm_layers",
        "bidirectional",
        "aggregator",
        "pooling_attention_size",
        "head_hidden_size",
        "head_activation",
    ),
}

_EXPECTED = {
    "ser": (
        "a wav2vec 2.0-family encoder ("
        + ", ".join(ENCODER_FAMILIES)
        + "), a sertune wav2vec2-family run folder, or an AutoModelForAudioClassification "
        "checkpoint of the wav2vec 2.0 family"
    ),
    "cnn": "an image backbone (transformers or timm:), or a sertune CNN or CNN-LSTM run folder",
}


def read_checkpoint_config(checkpoint: str) -> dict | None:
    """The ``config.json`` of a Hub id or folder, or ``None`` when there is none to read.

    Args:
        checkpoint: A Hub id or a local folder.
    """
    try:
        config_dict, _ = PreTrainedConfig.get_config_dict(checkpoint)
    except (OSError, ValueError):
        return None
    return config_dict


def checkpoint_kind(config_dict: Mapping | None) -> str:
    """``"run"`` (a sertune run folder), ``"audio_classification"`` or ``"other"``.

    Args:
        config_dict: A checkpoint's ``config.json``, as read by :func:`read_checkpoint_config`.
    """
    if not config_dict:
        return "other"
    model_type = config_dict.get("model_type")
    if model_type in RUN_MODEL_TYPES:
        return "run"
    architectures = config_dict.get("architectures") or []
    if any(
        name.endswith(("ForSequenceClassification", "ForAudioClassification"))
        for name in architectures
    ):
        return "audio_classification"
    return "other"


def unusable_checkpoint(checkpoint: str, family: str, found: str) -> ValueError:
    """The one error for a checkpoint a builder cannot start from.

    Args:
        checkpoint: The Hub id or folder given.
        family: ``"ser"`` or ``"cnn"``, the builder's model family.
        found: What the checkpoint is, in words.
    """
    return ValueError(
        f"cannot start from {checkpoint!r}: it is {found}; expected {_EXPECTED[family]}"
    )


def head_row_map(old_id2label: Mapping, new_id2label: Mapping) -> dict[int, int]:
    """New class id -> old class id, for the classes both label sets name alike.

    Names match after :func:`~sertune.data.taxonomy.common_label_name` (``ang`` and ``angry``
    match), or exactly when a name is outside the taxonomy. The first old class of a name wins.

    Args:
        old_id2label: The checkpoint's class names by id.
        new_id2label: The new run's class names by id.
    """

    def key(name: str) -> str:
        return common_label_name(name) or str(name)

    old_by_name: dict[str, int] = {}
    for old_id, name in sorted((int(i), n) for i, n in old_id2label.items()):
        old_by_name.setdefault(key(name), old_id)
    return {
        int(new_id): old_by_name[key(name)]
        for new_id, name in new_id2label.items()
        if key(name) in old_by_name
    }


def _run_config(
    model_type: str,
    source: PreTrainedConfig,
    labels: dict,
    options: dict,
    reinit_head: bool,
) -> dict:
    """Config arguments of the new model: the checkpoint's body (and head) plus the options."""
    taken = _BODY_FIELDS[model_type] + (() if reinit_head else _HEAD_FIELDS[model_type])
    arguments = dict(options)
    for name in taken:
        value = copy.deepcopy(getattr(source, name))
        if name in options and options[name] != value:
            logger.info(
                "%s=%r comes from the checkpoint, not the option's %r%s",
                name,
                value,
                options[name],
                ""
                if name in _BODY_FIELDS[model_type]
                else " (re-initialise the head to change it)",
            )
        arguments[name] = value
    if model_type == SerConfig.model_type:
        arguments.setdefault("attn_implementation", source.encoder_config._attn_implementation)
    return {**arguments, **labels}


def _audio_classification_source(checkpoint: str, config_dict: Mapping):
    """An ``AutoModelForAudioClassification`` checkpoint as a sertune model's state and config."""
    if config_dict.get("model_type") not in ENCODER_FAMILIES:
        raise unusable_checkpoint(
            checkpoint,
            "ser",
            f"an audio-classification checkpoint of model type {config_dict.get('model_type')!r}",
        )
    _check_local_weights(checkpoint)
    source = AutoModelForAudioClassification.from_pretrained(
        checkpoint, dtype=torch.float32, use_safetensors=True
    )
    renames = {
        source.base_model_prefix + ".": "encoder.",
        "layer_weights": "layer_sum.layer_weights",
        "projector.": "head.dense.",
        "classifier.": CLASSIFIER_PREFIX,
    }
    state = {}
    for name, tensor in source.state_dict().items():
        for old, new in renames.items():
            if name.startswith(old):
                state[new + name[len(old) :]] = tensor
                break
        else:
            state[name] = tensor
    encoder_config = copy.deepcopy(source.config)
    encoder_config.architectures = None
    head = {
        "use_weighted_layer_sum": bool(getattr(source.config, "use_weighted_layer_sum", False)),
        "pooling": "mean",
        "pooling_heads": 1,
        "pooling_statistics": False,
        "pooling_attention_size": None,
        "head_hidden_size": source.config.classifier_proj_size,
        "head_activation": "linear",
    }
    view = SerConfig(encoder_config=encoder_config, id2label=source.config.id2label, **head)
    return state, view


def _copy_weights(
    source_state: Mapping[str, torch.Tensor],
    target: PreTrainedModel,
    row_map: Mapping[int, int],
    keep_head: bool,
) -> dict[str, list[str]]:
    """Copy the body (and head) tensors that fit into ``target``; the classifier row by row."""
    body = target.base_model_prefix + "."
    state = target.state_dict()
    report: dict[str, list[str]] = {"kept": [], "fresh": []}
    for name, tensor in state.items():
        old = source_state.get(name)
        fits = old is not None and old.shape == tensor.shape
        if name.startswith(CLASSIFIER_PREFIX):
            fits = keep_head and old is not None and old.shape[1:] == tensor.shape[1:]
            if fits:
                for new_id, old_id in row_map.items():
                    tensor[new_id] = old[old_id]
        elif fits and (keep_head or name.startswith(body)):
            tensor.copy_(old)
        else:
            fits = False
        report["kept" if fits else "fresh"].append(name)
    report["dropped"] = [name for name in source_state if name not in report["kept"]]
    target.load_state_dict(state)
    return report


def _log_transfer(checkpoint: str, report: dict, old_labels: Mapping, new_labels: Mapping, rows):
    body = [n for n in report["kept"] if not n.startswith("head.")]
    logger.info(
        "starting from %s: kept %d encoder/backbone tensors; head tensors kept: %s; fresh: %s; "
        "dropped from the checkpoint: %s",
        checkpoint,
        len(body),
        [n for n in report["kept"] if n.startswith("head.")] or "none",
        report["fresh"] or "none",
        report["dropped"] or "none",
    )
    if CLASSIFIER_PREFIX + "weight" not in report["kept"]:
        rows = {}
    kept = [f"{new_labels[new]} <- {old_labels[old]}" for new, old in rows.items()]
    new = [name for i, name in new_labels.items() if int(i) not in rows]
    dropped = [name for i, name in old_labels.items() if int(i) not in rows.values()]
    logger.info(
        "classifier rows kept: %s; new (fresh) classes: %s; dropped classes: %s",
        kept or "none",
        new or "none",
        dropped or "none",
    )


def start_from_checkpoint(
    checkpoint: str,
    family: str,
    *,
    id2label: Mapping[int, str] | None,
    num_labels: int | None,
    seed: int,
    reinit_head: bool,
    options: dict,
) -> PreTrainedModel | None:
    """A new model for the new labels from a trained checkpoint, or ``None`` for a bare encoder.

    Args:
        checkpoint: A Hub id or folder.
        family: ``"ser"`` (:func:`build_ser_model`) or ``"cnn"`` (:func:`build_cnn_model`).
        id2label: The new class names by id.
        num_labels: Number of classes when there are no names.
        seed: Seed of the fresh parts' initialisation.
        reinit_head: Make the whole head fresh (the options then shape it).
        options: The builder's config options (head options, loss options, freezing).

    Raises:
        ValueError: The checkpoint is of the other family or an unsupported classifier.
    """
    config_dict = read_checkpoint_config(checkpoint)
    kind = checkpoint_kind(config_dict)
    if kind == "other":
        model_type = (config_dict or {}).get("model_type")
        other_family = CNN_BACKBONE_FAMILIES if family == "ser" else ENCODER_FAMILIES
        if model_type in other_family:
            raise unusable_checkpoint(checkpoint, family, f"a {model_type!r} checkpoint")
        return None
    if kind == "audio_classification":
        if family != "ser":
            raise unusable_checkpoint(checkpoint, family, "an audio-classification checkpoint")
        source_state, source_config = _audio_classification_source(checkpoint, config_dict)
        model_class = SerForAudioClassification
    else:
        model_class, run_family = RUN_MODEL_TYPES[config_dict["model_type"]]
        if run_family != family:
            raise unusable_checkpoint(
                checkpoint, family, f"a sertune run folder of type {config_dict['model_type']!r}"
            )
        _check_local_weights(checkpoint)
        source = model_class.from_pretrained(checkpoint, dtype=torch.float32, use_safetensors=True)
        source_state, source_config = source.state_dict(), source.config
    labels = label_kwargs(id2label, num_labels)
    new_labels = labels.get("id2label") or {i: f"LABEL_{i}" for i in range(labels["num_labels"])}
    model_type = model_class.config_class.model_type
    config = model_class.config_class(
        **_run_config(model_type, source_config, labels, options, reinit_head)
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(config)
    rows = head_row_map(source_config.id2label, new_labels)
    report = _copy_weights(source_state, model, rows, keep_head=not reinit_head)
    _log_transfer(checkpoint, report, source_config.id2label, new_labels, rows)
    return model


def _check_local_weights(checkpoint: str) -> None:
    """Open a local checkpoint's safetensors files and check them (never a pickle; finite)."""
    if os.path.isdir(checkpoint):
        check_weight_files(checkpoint)
