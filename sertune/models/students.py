"""Students for knowledge distillation that are built from their teacher.

A shallow transformer student (DistilHuBERT-style) keeps the teacher's convolutional front end,
feature projection and positional convolution and ``k`` of its transformer layers, chosen by
index, so that it starts from the teacher's representations rather than from noise. The CNN
students (a small log-mel CNN with a width multiplier, or any backbone of the CNN family) are
built by :func:`sertune.models.build_cnn_model` with ``width_multiplier``.

The student is an ordinary :class:`SerForAudioClassification`: it saves, reloads and runs in
``pipeline("audio-classification")`` like any sertune model.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Sequence

import torch

from .wav2vec2_ser import SerForAudioClassification

logger = logging.getLogger(__name__)

#: Recipe name of the student that :func:`student_from_teacher_layers` builds.
TEACHER_LAYERS_STUDENT = "teacher-layers"

_LAYER_KEY = re.compile(r"^(encoder\.encoder\.layers\.)(\d+)(\..+)$")


def student_from_teacher_layers(
    teacher: SerForAudioClassification, layers: Sequence[int]
) -> SerForAudioClassification:
    """A shallow copy of a wav2vec2-family teacher with only the transformer layers ``layers``.

    Everything outside the transformer layers (the convolutional feature encoder, the feature
    projection, the positional convolution, the encoder's layer norm, the pooling head and the
    classifier) is copied as it is. Student layer ``i`` starts as teacher layer ``layers[i]``;
    the layer-mixing weights, when the model has them, keep the teacher's weight of the input
    embedding and of each kept layer. Parameters that only the teacher's first layer holds (the
    relative position embedding of WavLM) are copied from the teacher's first layer, since
    only the student's first layer has them.

    Args:
        teacher: A trained (or pretrained) :class:`SerForAudioClassification`.
        layers: Teacher layer indices (0-based, in order, no repeats) to keep, e.g. ``[0, 5]``.

    Returns:
        The student, in training mode, on the CPU, in float32.

    Raises:
        ValueError: When the teacher is not a wav2vec2-family sertune model, or ``layers`` is
            empty, out of range, unordered or repeats a layer.
    """
    if not isinstance(teacher, SerForAudioClassification):
        raise ValueError(
            "a student built from teacher layers needs a wav2vec2-family teacher "
            f"(SerForAudioClassification), got {type(teacher).__name__}; distil a CNN-family "
            "teacher into a CNN student instead"
        )
    layers = [int(layer) for layer in layers]
    num_layers = teacher.config.encoder_config.num_hidden_layers
    if not layers:
        raise ValueError("give at least one teacher layer to keep")
    if any(layer < 0 or layer >= num_layers for layer in layers):
        raise ValueError(
            f"teacher layers {layers} out of range: the teacher has {num_layers} layers "
            f"(0 to {num_layers - 1})"
        )
    if layers != sorted(set(layers)):
        raise ValueError(f"teacher layers must be increasing with no repeats, got {layers}")

    config = copy.deepcopy(teacher.config)
    config.encoder_config.num_hidden_layers = len(layers)
    config.sertune_student_of_layers = layers
    student = SerForAudioClassification(config)

    teacher_state = {k: v.detach().cpu().float() for k, v in teacher.state_dict().items()}
    student_state = {
        name: _initial_value(name, value, teacher_state, layers)
        for name, value in student.state_dict().items()
    }
    student.load_state_dict(student_state, strict=True)
    student.train()
    logger.info(
        "student with teacher layers %s: %d of %d layers, %.2f M of %.2f M parameters",
        layers,
        len(layers),
        num_layers,
        student.num_parameters() / 1e6,
        teacher.num_parameters() / 1e6,
    )
    return student


def _initial_value(
    name: str, value: torch.Tensor, teacher_state: dict[str, torch.Tensor], layers: list[int]
) -> torch.Tensor:
    """The teacher's tensor that student parameter ``name`` starts from."""
    if name == "layer_sum.layer_weights":
        return teacher_state[name][[0, *[layer + 1 for layer in layers]]].clone()
    source = name
    match = _LAYER_KEY.match(name)
    if match is not None:
        prefix, index, rest = match.groups()
        source = f"{prefix}{layers[int(index)]}{rest}"
        if source not in teacher_state:
            source = f"{prefix}0{rest}"
    if source not in teacher_state:
        problem = f"the teacher has no {source!r}"
    elif teacher_state[source].shape != value.shape:
        problem = f"shape {tuple(teacher_state[source].shape)} != {tuple(value.shape)}"
    else:
        return teacher_state[source].clone()
    raise ValueError(f"cannot initialise student parameter {name!r} from the teacher: {problem}")
