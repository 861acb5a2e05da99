"""The files of a finished run that publishing reads, and the error for a folder that lacks them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sertune.errors import SertuneError
from sertune.training.loop import CURVES_FILE
from sertune.training.report import CONFIG_FILE, CONFUSION_MATRIX_FILE, METRICS_FILE

WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"
MODEL_CONFIG_FILE = "config.json"
PREPROCESSOR_CONFIG_FILE = "preprocessor_config.json"
CARD_FILE = "README.md"

#: Files a run folder must have to be published (besides the weights).
REQUIRED_FILES: tuple[str, ...] = (
    MODEL_CONFIG_FILE,
    PREPROCESSOR_CONFIG_FILE,
    CONFIG_FILE,
    METRICS_FILE,
)
#: Files staged when the run wrote them.
OPTIONAL_FILES: tuple[str, ...] = (CONFUSION_MATRIX_FILE, CURVES_FILE)


class RunFolderError(SertuneError, FileNotFoundError):
    """A folder cannot be published: it is not a finished run, or misses a file it needs."""


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; :class:`RunFolderError` when it is missing or not one."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFolderError(f"{path}: missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunFolderError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise RunFolderError(f"{path}: expected a JSON object, found {type(value).__name__}")
    return value
