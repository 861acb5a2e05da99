"""Loading a saved audio classifier safely: safetensors only, readable, and finite.

Every place sertune loads a model folder (``sertune predict``, ``sertune export``, a distillation
teacher, a probe's ``model:<folder>``, ``sertune push --stage_only``) goes through
:func:`load_audio_classifier` or :func:`check_weight_files`, so that:

* a folder holding only pickled weights (``pytorch_model.bin``) is refused, never unpickled;
* a truncated or garbage ``model.safetensors`` is reported naming the file, not as a bare
  ``SafetensorError``;
* weights holding NaN or inf are refused, naming the tensors, rather than predicting NaN scores.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from sertune.errors import ModelLoadError

WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"
PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5")


def weight_files(folder: str | os.PathLike) -> list[Path]:
    """The safetensors files holding a saved model's weights (one, or an index's shards).

    Raises:
        ModelLoadError: The folder holds no safetensors weights (naming any pickle it holds),
            or its index cannot be read.
    """
    folder = Path(folder)
    if (folder / WEIGHTS_FILE).is_file():
        return [folder / WEIGHTS_FILE]
    index = folder / WEIGHTS_INDEX_FILE
    if index.is_file():
        try:
            shards = sorted(
                set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ModelLoadError(f"{index}: not a readable safetensors index ({error})") from None
        return [folder / shard for shard in shards]
    pickles = [name for name in PICKLE_FILES if (folder / name).exists()]
    found = f" (it holds {', '.join(pickles)}, which is never unpickled)" if pickles else ""
    raise ModelLoadError(
        f"{folder}: no {WEIGHTS_FILE}{found}; sertune loads safetensors weights only "
        "(re-save the model with save_pretrained(folder, safe_serialization=True))"
    )


def check_weight_files(folder: str | os.PathLike) -> list[str]:
    """Open every safetensors file of a model folder and check each tensor is finite.

    Returns:
        The tensor names read.

    Raises:
        ModelLoadError: A weights file is missing, truncated, not safetensors, or holds NaN or
            inf (naming the file and the tensors).
    """
    from safetensors import SafetensorError, safe_open

    names: list[str] = []
    for path in weight_files(folder):
        if not path.is_file():
            raise ModelLoadError(f"{path}: weights shard named by the index does not exist")
        bad: list[str] = []
        try:
            with safe_open(os.fspath(path), framework="pt") as weights:
                for name in weights.keys():  # noqa: SIM118 (safe_open is not a mapping)
                    tensor = weights.get_tensor(name)
                    names.append(name)
                    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                        bad.append(name)
        except (SafetensorError, OSError, RuntimeError, ValueError) as error:
            raise ModelLoadError(
                f"{path}: not a readable safetensors file, truncated or damaged ({error})"
            ) from None
        if bad:
            raise ModelLoadError(_non_finite_message(path, bad))
    return names


def check_finite_parameters(model: torch.nn.Module, where: str | os.PathLike) -> None:
    """Raise :class:`ModelLoadError` naming the parameters or buffers that hold NaN or inf."""
    tensors = list(model.named_parameters()) + list(model.named_buffers())
    bad = [
        name
        for name, tensor in tensors
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    ]
    if bad:
        raise ModelLoadError(_non_finite_message(where, bad))


def load_audio_classifier(folder: str | os.PathLike):
    """Load ``AutoModelForAudioClassification`` from a local folder, safetensors only.

    The weights files are opened and checked first (:func:`check_weight_files`), the model is
    loaded with ``use_safetensors=True`` and its parameters checked again once loaded.

    Raises:
        ModelLoadError: As :func:`check_weight_files`, or the folder does not load as an
            audio classifier.
    """
    from transformers import AutoModelForAudioClassification

    folder = Path(folder)
    check_weight_files(folder)
    try:
        model = AutoModelForAudioClassification.from_pretrained(folder, use_safetensors=True)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as error:
        raise ModelLoadError(
            f"{folder}: cannot load an audio-classification model: {error}"
        ) from None
    check_finite_parameters(model, folder)
    return model


def _non_finite_message(where: str | os.PathLike, names: list[str]) -> str:
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return (
        f"{where}: weights hold NaN or inf ({shown}); the model cannot give meaningful "
        "predictions (a diverged run? use an earlier checkpoint or best_model/)"
    )
