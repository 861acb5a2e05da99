"""What leaves the machine when a run is published: :func:`stage_for_hub`.

From a run's output folder it copies, and only these:

* the weights, as safetensors only (``model.safetensors``, or a sharded
  ``model.safetensors.index.json`` with its shards);
* ``config.json`` and ``preprocessor_config.json``;
* the Python files that their ``auto_map`` entries name, with everything those import
  relatively (what ``save_pretrained`` copied there: the modelling files, which hold configs and
  models only), so that ``pipeline("audio-classification", model=REPO_ID,
  trust_remote_code=True)`` works without sertune;
* ``run_config.json`` and ``metrics.json``, ``confusion_matrix.png`` and ``training_curves.png``;

and writes ``README.md``, the model card of :mod:`sertune.hub.card`. Nothing else is staged:
``checkpoints/`` (optimizer states, pickled RNG states), ``best_model/``, TensorBoard logs,
``train.log``, ``training_log.jsonl`` and any ``*.bin`` or pickle stay local. Staging refuses a
folder in which a Hugging Face token appears.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from huggingface_hub import ModelCard, get_token
from transformers.dynamic_module_utils import get_relative_import_files

from sertune.hub.card import model_card
from sertune.hub.files import (
    CARD_FILE,
    MODEL_CONFIG_FILE,
    OPTIONAL_FILES,
    PREPROCESSOR_CONFIG_FILE,
    REQUIRED_FILES,
    WEIGHTS_FILE,
    WEIGHTS_INDEX_FILE,
    RunFolderError,
    read_json,
)
from sertune.safe_loading import load_audio_classifier

logger = logging.getLogger(__name__)


def stage_for_hub(
    output_dir: str | os.PathLike,
    staging_dir: str | os.PathLike,
    *,
    repo_id: str | None = None,
    license: str | None = None,
    token: str | None = None,
) -> Path:
    """Copy what a run publishes into ``staging_dir`` and write its model card as ``README.md``.

    See the module docstring for the list; everything else in the run folder stays local.

    Args:
        output_dir: The run's output folder.
        staging_dir: Where to stage; created, and refused when it holds anything already (a
            stale file there would be uploaded too).
        repo_id: The Hub repository the card's usage example loads from.
        license: Hub license identifier overriding the one the card derives from the corpus.
        token: A token to refuse in the staged files besides the one ``huggingface_hub``
            finds (``HF_TOKEN``, the saved login); it is never written or logged.

    Returns:
        ``staging_dir`` as a :class:`~pathlib.Path`.

    Raises:
        RunFolderError: ``output_dir`` is not a finished run (no ``model.safetensors``, a
            missing ``metrics.json`` ...) or misses a custom-code file its configs name.
        FileExistsError: ``staging_dir`` is not empty.
        ValueError: ``staging_dir`` is ``output_dir``, or a Hugging Face token appears in a
            file that would be uploaded.
    """
    output_dir = Path(output_dir)
    staging_dir = Path(staging_dir)
    names = _files_to_stage(output_dir)
    if staging_dir.exists() and staging_dir.resolve() == output_dir.resolve():
        raise ValueError(f"{staging_dir}: stage into another folder than the run's own")
    if staging_dir.exists() and any(staging_dir.iterdir()):
        raise FileExistsError(f"{staging_dir}: the staging folder must be empty or absent")
    # Open the weights before anything is staged: truncated, NaN or mislabelled weights stop here.
    load_audio_classifier(output_dir)
    card = model_card(output_dir, repo_id=repo_id, license=license)
    _refuse_tokens(output_dir, names, card, [get_token(), token])
    staging_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(output_dir / name, staging_dir / name)
    card.save(staging_dir / CARD_FILE)
    logger.info("staged %d files of %s in %s", len(names) + 1, output_dir, staging_dir)
    return staging_dir


def _files_to_stage(output_dir: Path) -> list[str]:
    """The names, relative to ``output_dir``, of every file :func:`stage_for_hub` copies."""
    if not output_dir.is_dir():
        raise RunFolderError(f"{output_dir}: no such folder")
    missing = [name for name in REQUIRED_FILES if not (output_dir / name).is_file()]
    weights = _weight_files(output_dir)
    if weights is None:
        missing.insert(0, WEIGHTS_FILE)
    if missing:
        notes = []
        pickled = sorted(p.name for p in output_dir.glob("*.bin"))
        if pickled:
            notes.append(
                f"it holds {', '.join(pickled)}: pickled weights are not published, save the "
                "model with save_pretrained(..., safe_serialization=True)"
            )
        if (output_dir / "cv_results.json").is_file():
            notes.append("it is a cross-validation folder: publish one of its run folders")
        note = f" ({'; '.join(notes)})" if notes else ""
        raise RunFolderError(
            f"{output_dir}: not a finished sertune run: missing {', '.join(missing)}{note}"
        )
    names = [*weights, *REQUIRED_FILES, *_custom_code_files(output_dir)]
    names += [name for name in OPTIONAL_FILES if (output_dir / name).is_file()]
    return sorted(set(names))


def _weight_files(output_dir: Path) -> list[str] | None:
    """``model.safetensors``, or a sharded checkpoint's index and shards; None without either."""
    if (output_dir / WEIGHTS_FILE).is_file():
        return [WEIGHTS_FILE]
    index_path = output_dir / WEIGHTS_INDEX_FILE
    if not index_path.is_file():
        return None
    shards = sorted(set(read_json(index_path).get("weight_map", {}).values()))
    missing = [shard for shard in shards if not (output_dir / shard).is_file()]
    if not shards or missing:
        raise RunFolderError(
            f"{output_dir}: {WEIGHTS_INDEX_FILE} names shards that are missing: "
            f"{', '.join(missing) or '(none listed)'}"
        )
    return [WEIGHTS_INDEX_FILE, *shards]


def _custom_code_files(output_dir: Path) -> list[str]:
    """The Python files the configs' ``auto_map`` entries need, with their relative imports."""
    modules: set[str] = set()
    for config_name in (MODEL_CONFIG_FILE, PREPROCESSOR_CONFIG_FILE):
        auto_map = read_json(output_dir / config_name).get("auto_map") or {}
        for references in auto_map.values():
            # Tokenizers map to a [slow, fast] pair; "repo--module.Class" lives in another repo.
            for reference in references if isinstance(references, list) else [references]:
                if reference and "--" not in reference:
                    modules.add(reference.rsplit(".", 1)[0])
    files: set[str] = set()
    for module in sorted(modules):
        path = output_dir / f"{module.replace('.', '/')}.py"
        if not path.is_file():
            raise RunFolderError(
                f"{output_dir}: {path.name} is missing; the configs' auto_map names module "
                f"{module!r}, needed to load the model with trust_remote_code=True"
            )
        try:
            imported = get_relative_import_files(path)
        except FileNotFoundError as error:
            raise RunFolderError(
                f"{output_dir}: {path.name} imports {Path(error.filename).name}, which is missing"
            ) from None
        files.add(path.relative_to(output_dir).as_posix())
        files.update(Path(f).relative_to(output_dir).as_posix() for f in imported)
    return sorted(files)


def _refuse_tokens(output_dir: Path, names: Sequence[str], card: ModelCard, tokens) -> None:
    """Raise when a token appears in a file to be staged (weights aside) or in the card.

    Args:
        output_dir: The run folder.
        names: The files of it to be staged.
        card: The model card to be written.
        tokens: Secrets that must not be uploaded; ``None`` entries are ignored.

    Raises:
        ValueError: A token appears; the message names the file, never the token.
    """
    secrets = [token.encode() for token in tokens if token]
    if not secrets:
        return
    for name in names:
        if not name.endswith(".safetensors"):
            content = (output_dir / name).read_bytes()
            if any(secret in content for secret in secrets):
                raise ValueError(
                    f"{output_dir / name}: holds a Hugging Face token; remove it (nothing was "
                    "staged or uploaded)"
                )
    if any(secret in str(card).encode() for secret in secrets):
        raise ValueError(
            f"{output_dir}: the model card made from this run holds a Hugging Face token "
            "(nothing was staged or uploaded)"
        )
