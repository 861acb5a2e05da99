"""Publishing a finished run on the Hugging Face Hub: what is uploaded, its model card, the push.

    sertune push OUTPUT_DIR REPO_ID [--private] [--revision BRANCH] [--commit_message MSG]
                 [--create_pr] [--license ID] [--stage_only DIR]

:func:`stage_for_hub` is the one place that decides what leaves the machine. From a run's output
folder it copies, and only these:

* the weights, as safetensors only (``model.safetensors``, or a sharded
  ``model.safetensors.index.json`` with its shards);
* ``config.json`` and ``preprocessor_config.json``;
* the Python files that their ``auto_map`` entries name, with everything those import
  relatively (what ``save_pretrained`` copied there), so that
  ``pipeline("audio-classification", model=REPO_ID, trust_remote_code=True)`` works without
  sertune;
* ``run_config.json`` and ``metrics.json``, ``confusion_matrix.png`` and ``training_curves.png``;

and writes ``README.md``, the model card made by :func:`model_card` from ``config.json``,
``run_config.json``, ``metrics.json`` and the corpus registry. Nothing else is staged:
``checkpoints/`` (optimizer states, pickled RNG states), ``best_model/``, TensorBoard logs,
``train.log``, ``training_log.jsonl`` and any ``*.bin`` or pickle stay local.

:func:`push_to_hub` stages into a temporary folder, creates the repository (and the branch), and
uploads the staged folder in one commit that also deletes whatever else the repository held, so
the repository shows exactly one run. The token comes from ``huggingface_hub``'s usual sources
(``HF_TOKEN``, ``hf auth login``) unless one is passed; it is never logged, and staging refuses
a folder in which it appears.

A recipe pushes after training with :class:`HubArguments` (``--push_to_hub --hub_model_id ...``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelerate import PartialState
from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData, get_token
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils import validate_repo_id
from transformers.dynamic_module_utils import get_relative_import_files

from sertune.data import corpus_spec
from sertune.data.arguments import DataArguments
from sertune.errors import SertuneError
from sertune.models.backbones import TIMM_PREFIX
from sertune.models.factory import CNN_LSTM_NAME, RANDOM_INIT_PREFIX, TINY_RANDOM_PREFIX
from sertune.training.augment import AugmentationArguments
from sertune.training.loop import CURVES_FILE, TrainingConfig
from sertune.training.report import CONFIG_FILE, CONFUSION_MATRIX_FILE, METRICS_FILE

logger = logging.getLogger(__name__)

__all__ = [
    "HubArguments",
    "RunFolderError",
    "main",
    "model_card",
    "push_to_hub",
    "stage_for_hub",
]

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

#: Hub license identifiers that a corpus's license string may be (compared case-insensitively).
_HUB_LICENSE_IDS = frozenset(
    {
        "apache-2.0",
        "mit",
        "cc0-1.0",
        "cc-by-4.0",
        "cc-by-sa-4.0",
        "cc-by-nc-4.0",
        "cc-by-nc-sa-4.0",
        "cc-by-nd-4.0",
        "cc-by-nc-nd-4.0",
        "odbl",
        "odc-by",
        "pddl",
    }
)

#: Languages (ISO 639-1) and the kind of speech of the registered corpora, for the card's
#: metadata and its limitations. The registry does not record either yet; a corpus missing
#: here gets a card that says its language is not known.
_CORPUS_SPEECH: dict[str, tuple[tuple[str, ...], str]] = {
    "aesdd": (("el",), "acted"),
    "casia": (("zh",), "acted"),
    "cremad": (("en",), "acted"),
    "emodb": (("de",), "acted"),
    "emovo": (("it",), "acted"),
    "esd": (("en", "zh"), "acted"),
    "iemocap": (("en",), "acted (scripted and improvised dyadic sessions)"),
    "msp_podcast": (("en",), "natural (podcast recordings)"),
    "ravdess": (("en",), "acted"),
    "savee": (("en",), "acted"),
    "shemo": (("fa",), "semi-natural (radio plays)"),
    "tess": (("en",), "acted"),
    "urdu": (("ur",), "spontaneous (TV talk shows)"),
}
_LANGUAGE_NAMES = {
    "de": "German",
    "el": "Greek",
    "en": "English",
    "fa": "Persian",
    "it": "Italian",
    "ur": "Urdu",
    "zh": "Mandarin Chinese",
}

#: ``namespace/name``: what a Hub model id looks like (a local path may too: see _hub_model_id).
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

#: Run options that say how the run was operated, not what was trained: left out of the card.
_OPERATIONAL_OPTIONS = frozenset(
    {
        "output_dir",
        "overwrite_output_dir",
        "resume_from_checkpoint",
        "dataloader_num_workers",
        "use_cpu",
        "report_to",
        "logging_steps",
        "save_steps",
        "save_total_limit",
        "per_device_eval_batch_size",
        "data_dir",
        "download",
        "config",
    }
)


class RunFolderError(SertuneError, FileNotFoundError):
    """A folder cannot be published: it is not a finished run, or misses a file it needs."""


# ------------------------------------------------------------------------------------------------
# Staging: what is uploaded


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
    shards = sorted(set(_read_json(index_path).get("weight_map", {}).values()))
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
        auto_map = _read_json(output_dir / config_name).get("auto_map") or {}
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


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFolderError(f"{path}: missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunFolderError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise RunFolderError(f"{path}: expected a JSON object, found {type(value).__name__}")
    return value


# ------------------------------------------------------------------------------------------------
# The model card


def model_card(
    output_dir: str | os.PathLike,
    *,
    repo_id: str | None = None,
    license: str | None = None,
) -> ModelCard:
    """The model card of a finished run, from its ``config.json``, ``run_config.json``,
    ``metrics.json`` and the corpus registry.

    The metadata holds ``library_name``, ``pipeline_tag``, ``tags``, ``license``, ``language``,
    ``datasets``, ``base_model`` (when the run started from a Hub checkpoint), ``metrics`` and a
    ``model-index`` with the test speakers' UAR, WA and macro-F1. The body describes the model,
    the corpus and the speaker split, the results with per-class recall and the confusion
    matrix, the training options, intended use and limitations, the corpus's license and how to
    load the model.

    Args:
        output_dir: The run's output folder.
        repo_id: The Hub repository the usage example loads from; without it the example loads
            from ``output_dir``.
        license: Hub license identifier to declare instead of the derived one.

    Raises:
        RunFolderError: A file the card is made from is missing or not a JSON object.
    """
    output_dir = Path(output_dir)
    config = _read_json(output_dir / MODEL_CONFIG_FILE)
    preprocessor = _read_json(output_dir / PREPROCESSOR_CONFIG_FILE)
    run_config = _read_json(output_dir / CONFIG_FILE)
    metrics = _read_json(output_dir / METRICS_FILE)
    for key in ("corpus", "uar", "wa", "macro_f1", "label_names"):
        if key not in metrics:
            raise RunFolderError(f"{output_dir / METRICS_FILE}: no {key!r}")

    corpus = str(metrics["corpus"])
    try:
        spec = corpus_spec(corpus)
    except ValueError:
        logger.warning("corpus %r is not registered: the card cannot name its license", corpus)
        spec = None
    languages, speech_kind = _CORPUS_SPEECH.get(corpus, ((), None))
    model_name_or_path = str(run_config.get("model_name_or_path", ""))
    base_model = _hub_model_id(model_name_or_path)
    model_type = config.get("model_type")
    family = _model_family(config)
    name = repo_id.split("/")[-1] if repo_id else output_dir.resolve().name
    fold = metrics.get("fold") or {}

    declared, license_name, license_link = _declared_license(corpus, spec, license)
    dataset_title = spec.description.split(":")[0] if spec and spec.description else corpus
    split = {
        "task_type": "audio-classification",
        "task_name": "Speech emotion recognition",
        "dataset_type": corpus,
        "dataset_name": dataset_title,
        "dataset_split": "test",
        "dataset_args": {
            "protocol": run_config.get("protocol"),
            "fold": fold.get("name"),
            "test_speakers": list(fold.get("test_speakers", [])),
        },
    }
    results = [
        EvalResult(
            metric_type="recall",
            metric_name="UAR",
            metric_config="macro",
            metric_value=metrics["uar"],
            **split,
        ),
        EvalResult(metric_type="accuracy", metric_name="WA", metric_value=metrics["wa"], **split),
        EvalResult(
            metric_type="f1",
            metric_name="Macro-F1",
            metric_config="macro",
            metric_value=metrics["macro_f1"],
            **split,
        ),
    ]
    data = ModelCardData(
        model_name=name,
        library_name="transformers",
        pipeline_tag="audio-classification",
        tags=list(
            dict.fromkeys(
                t for t in ("speech-emotion-recognition", "sertune", model_type, family) if t
            )
        ),
        license=declared,
        license_name=license_name,
        license_link=license_link,
        language=list(languages) or None,
        datasets=[corpus],
        base_model=base_model,
        # UAR is macro-averaged recall and WA plain accuracy, as the model-index says.
        metrics=["recall", "accuracy", "f1"],
        eval_results=results,
    )
    body = _card_body(
        name=name,
        repo_id=repo_id,
        output_dir=output_dir,
        config=config,
        preprocessor=preprocessor,
        run_config=run_config,
        metrics=metrics,
        spec=spec,
        languages=languages,
        speech_kind=speech_kind,
        family=family,
        license_text=(declared, license_link),
    )
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def _declared_license(
    corpus: str, spec, override: str | None
) -> tuple[str, str | None, str | None]:
    """``(license, license_name, license_link)`` for the card's metadata.

    The weights are learnt from the corpus, so its terms bind what may be done with them: the
    card declares the corpus's license when that is a Hub license identifier (CC0-1.0,
    CC-BY-NC-SA-4.0 ...), and ``other`` pointing at the corpus's homepage when its terms are a
    research agreement or unstated. The base encoder's license applies too and cannot be read
    offline; the card's body says so. ``override`` (``--license``) lets the publisher decide.
    """
    link = spec.homepage if spec and spec.homepage else None
    license_id = override.lower() if override else None
    if license_id is None and spec is not None and spec.license.lower() in _HUB_LICENSE_IDS:
        license_id = spec.license.lower()
    if license_id is None or license_id == "other":
        return "other", f"{corpus.replace('_', '-')}-corpus-terms", link
    return license_id, None, None


def _hub_model_id(model_name_or_path: str) -> str | None:
    """``model_name_or_path`` when it names a Hub checkpoint the run started from, else None.

    Tiny random and randomly initialised models (``tiny-random*``, ``random:<id>``,
    ``cnn-lstm``), timm backbones (their Hub names differ) and local folders have no Hub base.
    """
    name = model_name_or_path
    if (
        not name
        or name.startswith((TINY_RANDOM_PREFIX, RANDOM_INIT_PREFIX, TIMM_PREFIX))
        or name == CNN_LSTM_NAME
        or not _HUB_ID.match(name)
        or Path(name).exists()
    ):
        return None
    return name


def _model_family(config: dict[str, Any]) -> str | None:
    """The encoder or backbone family: wav2vec2, hubert, resnet, ..., or ``timm``."""
    for key in ("encoder_config", "backbone_config"):
        nested = config.get(key)
        if isinstance(nested, dict) and nested.get("model_type"):
            return str(nested["model_type"])
    if config.get("timm_backbone"):
        return "timm"
    return None


def _card_body(
    *,
    name: str,
    repo_id: str | None,
    output_dir: Path,
    config: dict[str, Any],
    preprocessor: dict[str, Any],
    run_config: dict[str, Any],
    metrics: dict[str, Any],
    spec,
    languages: tuple[str, ...],
    speech_kind: str | None,
    family: str | None,
    license_text: tuple[str, str | None],
) -> str:
    corpus = str(metrics["corpus"])
    labels = [str(label) for label in metrics["label_names"]]
    fold = metrics.get("fold") or {}
    test_speakers = list(fold.get("test_speakers", []))
    validation_speakers = list(fold.get("validation_speakers", []))
    train_speakers = list(fold.get("train_speakers", []))
    model_name_or_path = str(run_config.get("model_name_or_path", "")) or "(not recorded)"
    language = (
        " and ".join(_LANGUAGE_NAMES.get(code, code) for code in languages)
        if languages
        else "an unrecorded language"
    )
    kind = speech_kind or "speech of an unrecorded kind (acted or natural)"
    corpus_title = spec.description.split(":")[0] if spec and spec.description else corpus
    lines = [f"# {name}", ""]
    if model_name_or_path.startswith(TINY_RANDOM_PREFIX):
        lines += [
            f"> **A test model.** `{model_name_or_path}` is a tiny randomly initialised model "
            "that sertune builds for tests: its predictions carry no information.",
            "",
        ]
    lines += [
        f"Speech emotion recognition: {_architecture(config, family)}, fine-tuned with sertune "
        f"on {corpus_title} (`{corpus}`) to classify an utterance as one of {len(labels)} "
        f"emotions: {', '.join(labels)}. Test UAR {_percent(metrics['uar'])} on held-out "
        f"speakers {', '.join(test_speakers) or '(not recorded)'}.",
        "",
        "## Model",
        "",
        f"- Starting point: {_base_description(model_name_or_path)}.",
        f"- Architecture: {_architecture(config, family)} (`model_type: {config.get('model_type')}`"
        f", custom code in this repository).",
        f"- Input: {_input_description(preprocessor)}.",
        f"- Output: one score per class: {', '.join(labels)}.",
        "",
        "## Training and evaluation data",
        "",
    ]
    if spec is not None:
        described = f"[{spec.description}]({spec.homepage})" if spec.homepage else spec.description
        lines.append(f"- Corpus: {described} (`{corpus}`).")
    else:
        lines.append(f"- Corpus: `{corpus}` (not in sertune's corpus registry).")
    lines += [
        f"- Speech: {kind}, in {language}.",
        f"- Speaker-independent split: protocol `{run_config.get('protocol', '(not recorded)')}`,"
        f" fold `{fold.get('name', '(not recorded)')}`. No speaker is on two sides.",
        f"  - Test speakers (held out): {_speakers(test_speakers)}, "
        f"{fold.get('num_test', '?')} utterances.",
        f"  - Validation speakers (held out, model selection): {_speakers(validation_speakers)}, "
        f"{fold.get('num_validation', '?')} utterances.",
        f"  - Training speakers: {_speakers(train_speakers)}, "
        f"{fold.get('num_train', '?')} utterances.",
    ]
    if run_config.get("labels"):
        lines.append(f"- Classes kept: {', '.join(map(str, run_config['labels']))}.")
    lines += ["", "## Results on the test speakers", ""]
    lines += _results_section(output_dir, metrics, labels)
    lines += ["", "## Training procedure", ""]
    lines += _training_section(run_config, metrics)
    lines += [
        "",
        "## Intended use",
        "",
        f"Research on speech emotion recognition: scoring short utterances of {language} speech "
        f"for the {len(labels)} classes above, in conditions like those of {corpus_title} "
        f"({kind} speech).",
        "",
        "## Limitations",
        "",
        f"- Trained on {kind} speech of {len(train_speakers) or 'a few'} speakers from one corpus."
        " Emotions in everyday speech are subtler and more varied; expect clearly lower scores "
        "on other speakers, languages, microphones, rooms or corpora than on the test speakers "
        "above.",
        f"- The model always answers with one of its {len(labels)} labels, also for speech "
        "that expresses none of them, for other languages and for audio that is not speech.",
        f"- The scores come from one speaker split ({len(test_speakers)} test speakers, "
        f"{fold.get('num_test', '?')} utterances); another split can score noticeably "
        "differently.",
        "- It recognises how an emotion is portrayed in the voice, not what a person feels.",
        "- Not for consequential decisions about people (hiring, education, health, insurance, "
        "credit, law enforcement, migration) nor for monitoring people without their informed "
        "consent. In the EU, the AI Act prohibits emotion recognition in workplaces and "
        "educational institutions except for medical or safety reasons.",
        "",
        "## License",
        "",
    ]
    lines += _license_section(corpus, spec, run_config, license_text)
    lines += ["", "## How to use", ""]
    source = repo_id or str(output_dir)
    lines += [
        "The model's code lives in this repository's Python files, so loading needs "
        "`trust_remote_code=True` (read them first); sertune itself is not needed.",
        "",
        "```python",
        "from transformers import pipeline",
        "",
        f'classifier = pipeline("audio-classification", model="{source}", trust_remote_code=True)',
        f'classifier("speech.wav", top_k={len(labels)})',
        "```",
        "",
        "Audio at another sampling rate is resampled by the pipeline. `run_config.json` holds "
        "every option of the run and `metrics.json` the full test report.",
        "",
    ]
    return "\n".join(lines)


def _architecture(config: dict[str, Any], family: str | None) -> str:
    model_type = config.get("model_type")
    if model_type == "sertune-ser":
        pooling = config.get("pooling", "attention")
        return (
            f"a {family or 'transformer'} speech encoder with {pooling} pooling over frames and "
            "an MLP classification head"
        )
    if model_type == "sertune-cnn-ser":
        aggregator = str(config.get("aggregator", "")).replace("_", " ")
        return (
            f"an ImageNet CNN ({family or 'backbone'}) over log-mel segments, with {aggregator} "
            "aggregation over segments and a DNN classification head"
        )
    if model_type == "sertune-cnn-lstm":
        return "a CNN-LSTM over log-mel segments with a classification head"
    return f"a `{model_type}` model"


def _base_description(model_name_or_path: str) -> str:
    if model_name_or_path.startswith(TINY_RANDOM_PREFIX):
        return f"`{model_name_or_path}`, a tiny randomly initialised model (no pretraining)"
    if model_name_or_path == CNN_LSTM_NAME:
        return "none: the CNN-LSTM is trained from scratch"
    if model_name_or_path.startswith(RANDOM_INIT_PREFIX):
        architecture = model_name_or_path.removeprefix(RANDOM_INIT_PREFIX)
        return f"the architecture of `{architecture}`, randomly initialised (no pretraining)"
    if model_name_or_path.startswith(TIMM_PREFIX):
        return f"the timm ImageNet backbone `{model_name_or_path.removeprefix(TIMM_PREFIX)}`"
    hub_id = _hub_model_id(model_name_or_path)
    if hub_id is not None:
        return f"[{hub_id}](https://huggingface.co/{hub_id})"
    return f"the local checkpoint `{model_name_or_path}`"


def _input_description(preprocessor: dict[str, Any]) -> str:
    rate = preprocessor.get("sampling_rate", 16_000)
    if preprocessor.get("feature_extractor_type") == "LogMelFeatureExtractor":
        return (
            f"mono audio at {rate} Hz, turned into {preprocessor.get('n_mels')}-band log-mel "
            f"spectrograms ({preprocessor.get('win_length_ms')} ms windows, "
            f"{preprocessor.get('hop_length_ms')} ms hop) with deltas and delta-deltas, cut into "
            f"segments of {preprocessor.get('segment_frames')} frames every "
            f"{preprocessor.get('segment_hop_frames')} frames"
        )
    normalised = ", normalised per utterance" if preprocessor.get("do_normalize") else ""
    return f"mono raw waveform at {rate} Hz{normalised}"


def _results_section(output_dir: Path, metrics: dict[str, Any], labels: list[str]) -> list[str]:
    test = metrics.get("test") or {}
    lines = [
        "| Metric | Value |",
        "| --- | --- |",
        f"| UAR (unweighted average recall) | {_percent(metrics['uar'])} |",
        f"| WA (weighted accuracy) | {_percent(metrics['wa'])} |",
        f"| Macro-F1 | {_percent(metrics['macro_f1'])} |",
        f"| Test utterances | {test.get('num_samples', '?')} |",
        "",
    ]
    per_class = test.get("per_class") or {}
    if per_class:
        lines += [
            "| Class | Recall | Precision | F1 | Test utterances |",
            "| --- | --- | --- | --- | --- |",
        ]
        for label in labels:
            scores = per_class.get(label, {})
            lines.append(
                f"| {_cell(label)} | {_percent(scores.get('recall'))} | "
                f"{_percent(scores.get('precision'))} | {_percent(scores.get('f1'))} | "
                f"{scores.get('support', '?')} |"
            )
        lines.append("")
        if any(scores.get("recall") is None for scores in per_class.values()):
            lines += ["n/a: the test speakers have no utterance of that class.", ""]
    if (output_dir / CONFUSION_MATRIX_FILE).is_file():
        lines += [
            f"![Confusion matrix of the test speakers, rows normalised]({CONFUSION_MATRIX_FILE})",
            "",
        ]
    selection = []
    if metrics.get("best_step") is not None:
        selection.append(
            f"The model kept is that of step {metrics['best_step']} of "
            f"{metrics.get('global_step', '?')}, with the best validation UAR "
            f"({_percent(metrics.get('best_validation_uar'))})."
        )
    elif metrics.get("global_step") is not None:
        selection.append(f"The model is that of the last step, {metrics['global_step']}.")
    lines += [*selection, ""] if selection else []
    if (output_dir / CURVES_FILE).is_file():
        lines += [f"![Training loss and validation scores]({CURVES_FILE})", ""]
    return lines[:-1] if lines and lines[-1] == "" else lines


def _training_section(run_config: dict[str, Any], metrics: dict[str, Any]) -> list[str]:
    training_fields = [f.name for f in dataclasses.fields(TrainingConfig)]
    shown = {
        key: run_config[key]
        for key in training_fields
        if key in run_config and key not in _OPERATIONAL_OPTIONS and run_config[key] is not None
    }
    # Options that had no effect in this run are left out.
    unused = {
        "focal_gamma": shown.get("loss") != "focal",
        "bucket_size_multiplier": shown.get("sampler") != "bucket",
        "early_stopping_threshold": not shown.get("early_stopping_patience"),
        "eval_steps": shown.get("eval_strategy") != "steps",
    }
    shown = {key: value for key, value in shown.items() if not unused.get(key, False)}
    # max_steps > 0 overrides the epochs; show the one that applied.
    if shown.get("max_steps", -1) > 0:
        shown.pop("num_train_epochs", None)
    else:
        shown.pop("max_steps", None)
    processes = metrics.get("num_processes") or 1
    batch = run_config.get("per_device_train_batch_size")
    if batch is not None:
        shown["effective batch size"] = (
            batch * run_config.get("gradient_accumulation_steps", 1) * processes
        )
    shown["processes"] = processes
    if metrics.get("train_seconds") is not None:
        shown["training time (s)"] = round(float(metrics["train_seconds"]), 1)
    lines = ["| Option | Value |", "| --- | --- |"]
    lines += [f"| {_cell(key)} | {_cell(_format(value))} |" for key, value in shown.items()]

    augmentation = _augmentation_options(run_config)
    lines += ["", "Augmentation of the training speakers' audio:"]
    if augmentation:
        lines += [""] + [
            f"- {effect}: " + ", ".join(f"{k} = {_format(v)}" for k, v in options.items())
            for effect, options in augmentation.items()
        ]
    else:
        lines[-1] += " none."
    model_options = _model_options(run_config)
    if model_options:
        lines += ["", "Model and feature options:", "", "| Option | Value |", "| --- | --- |"]
        lines += [f"| {_cell(k)} | {_cell(_format(v))} |" for k, v in model_options.items()]
    return lines


def _augmentation_options(run_config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The enabled effects with their options, e.g. ``{"noise": {"noise_prob": 0.5, ...}}``.

    AugmentationArguments declares each effect's ``*_prob`` followed by that effect's options,
    so an effect's options are the fields from its probability to the next probability.
    """
    effects: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for option in dataclasses.fields(AugmentationArguments):
        if option.name.endswith("_prob"):
            probability = run_config.get(option.name) or 0.0
            current = None
            if probability > 0:
                current = effects.setdefault(option.name.removesuffix("_prob"), {})
        if current is not None and option.name in run_config:
            current[option.name] = run_config[option.name]
    return effects


def _model_options(run_config: dict[str, Any]) -> dict[str, Any]:
    """Run options that belong to no shared dataclass: the recipe's model and feature options."""
    shared = {
        f.name
        for kind in (TrainingConfig, DataArguments, AugmentationArguments, HubArguments)
        for f in dataclasses.fields(kind)
    }
    return {
        key: value
        for key, value in sorted(run_config.items())
        if key not in shared and key not in _OPERATIONAL_OPTIONS and key != "model_name_or_path"
    }


def _license_section(
    corpus: str, spec, run_config: dict[str, Any], license_text: tuple[str, str | None]
) -> list[str]:
    declared, link = license_text
    lines = []
    if spec is not None:
        lines.append(
            f"The training data, {spec.description.split(':')[0]}, is distributed under: "
            f"{spec.license or 'terms its distributors do not state'}"
            + (f" (see {spec.homepage})." if spec.homepage else ".")
        )
    else:
        lines.append(f"The license of the training corpus `{corpus}` is not recorded.")
    if declared == "other":
        where = f" ({link})" if link else ""
        lines.append(
            f"The metadata declares `other`: use of this model is bound by the corpus's terms"
            f"{where}, which are not an open license."
        )
    else:
        lines.append(f"The metadata declares `{declared}`.")
    base = _hub_model_id(str(run_config.get("model_name_or_path", "")))
    if base is not None:
        lines.append(
            f"The base model [{base}](https://huggingface.co/{base}) has its own license, which "
            "applies too."
        )
    return [" ".join(lines)]


def _speakers(speakers: list[str]) -> str:
    return ", ".join(f"`{speaker}`" for speaker in speakers) if speakers else "none"


def _percent(value: Any) -> str:
    return "n/a" if value is None else f"{100 * float(value):.2f} %"


def _format(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


# ------------------------------------------------------------------------------------------------
# Pushing


def push_to_hub(
    output_dir: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    token: str | None = None,
    create_pr: bool = False,
    license: str | None = None,
) -> str:
    """Publish a run: stage it, create the repository (and branch), upload in one commit.

    The commit replaces the repository's files by the staged ones (``.gitattributes`` aside),
    so a repository pushed to twice shows the second run only.

    Args:
        output_dir: The run's output folder.
        repo_id: ``namespace/name`` of the model repository; created when missing.
        private: Create the repository private (an existing one keeps its visibility).
        revision: Branch to commit to, created from ``main`` when missing; default ``main``.
        commit_message: The commit's message; by default one naming the corpus, fold and UAR.
        token: A Hugging Face token; by default ``HF_TOKEN`` or the one ``hf auth login``
            saved. It is never logged.
        create_pr: Open a pull request with the upload instead of committing to the branch.
        license: Hub license identifier overriding the one derived from the corpus.

    Returns:
        The commit's URL (the pull request's when ``create_pr``).

    Raises:
        RunFolderError: ``output_dir`` cannot be published (see :func:`stage_for_hub`).
        huggingface_hub.errors.HfHubHTTPError: The Hub refused a request.
    """
    validate_repo_id(repo_id)
    with tempfile.TemporaryDirectory(prefix="sertune-hub-") as temporary:
        staged = stage_for_hub(
            output_dir, Path(temporary) / "staged", repo_id=repo_id, license=license, token=token
        )
        if commit_message is None:
            commit_message = _default_commit_message(staged)
        api = HfApi(token=token)
        logger.info("uploading %s to %s (branch %s)", output_dir, repo_id, revision or "main")
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision is not None and revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            folder_path=staged,
            revision=revision,
            commit_message=commit_message,
            create_pr=create_pr,
        )
    url = commit.pr_url if create_pr and commit.pr_url else commit.commit_url
    logger.info("pushed %s: %s", output_dir, url)
    return url


def _default_commit_message(staged: Path) -> str:
    metrics = _read_json(staged / METRICS_FILE)
    fold = (metrics.get("fold") or {}).get("name", "")
    return (
        f"sertune: {metrics['corpus']} {fold}".rstrip()
        + f", test UAR {_percent(metrics['uar'])}, WA {_percent(metrics['wa'])}"
    )


@dataclass
class HubArguments:
    """Whether and where a recipe publishes its model after training (see :func:`push_to_hub`).

    There is deliberately no token option: a token on a command line ends up in shell histories
    and ``run_config.json``; ``hf auth login`` or ``HF_TOKEN`` provide it.
    """

    push_to_hub: bool = field(
        default=False,
        metadata={
            "help": "After training, upload the model, its card and the run's metrics to the "
            "Hub (needs `hf auth login` or HF_TOKEN)."
        },
    )
    hub_model_id: str | None = field(
        default=None,
        metadata={"help": "Hub repository for push_to_hub, e.g. user/wav2vec2-emodb."},
    )
    hub_private_repo: bool = field(
        default=False, metadata={"help": "Create the Hub repository private."}
    )
    hub_revision: str | None = field(
        default=None, metadata={"help": "Branch to push to (created when missing); default main."}
    )
    hub_commit_message: str | None = field(
        default=None, metadata={"help": "Commit message; default names the corpus, fold and UAR."}
    )

    def __post_init__(self) -> None:
        # Checked before training, not after hours of it.
        if not self.push_to_hub:
            return
        if not self.hub_model_id:
            raise ValueError("--push_to_hub needs --hub_model_id, e.g. user/wav2vec2-emodb")
        validate_repo_id(self.hub_model_id)
        if get_token() is None:
            raise ValueError(
                "--push_to_hub needs a Hugging Face token: run `hf auth login` or set HF_TOKEN"
            )

    def push_if_requested(self, output_dir: str | os.PathLike) -> str | None:
        """Push the finished run in ``output_dir`` when ``push_to_hub`` is set.

        Only the main process pushes; under DDP the others return ``None``.

        Args:
            output_dir: The run's output folder.

        Returns:
            The commit URL, or ``None`` when nothing was pushed.
        """
        if not self.push_to_hub:
            return None
        if not PartialState().is_main_process:
            return None
        return push_to_hub(
            output_dir,
            self.hub_model_id,
            private=self.hub_private_repo,
            revision=self.hub_revision,
            commit_message=self.hub_commit_message,
        )


# ------------------------------------------------------------------------------------------------
# sertune push


def main(argv: Sequence[str] | None = None) -> int:
    """``sertune push``: returns 0, 1 (the folder cannot be published or the Hub refused) or 2
    (bad options).

    Args:
        argv: ``OUTPUT_DIR REPO_ID [options]``.
    """
    parser = argparse.ArgumentParser(
        prog="sertune push",
        description="Publish a finished run on the Hugging Face Hub: the model (safetensors), "
        "its custom code, configs, metrics, figures and a generated model card. Checkpoints, "
        "logs and pickles stay local. The token comes from `hf auth login` or HF_TOKEN.",
    )
    parser.add_argument("output_dir", help="The run's output folder.")
    parser.add_argument("repo_id", help="Hub model repository, e.g. user/wav2vec2-emodb.")
    parser.add_argument("--private", action="store_true", help="Create the repository private.")
    parser.add_argument(
        "--revision", default=None, help="Branch to push to (created when missing)."
    )
    parser.add_argument("--commit_message", default=None, help="The commit's message.")
    parser.add_argument(
        "--create_pr", action="store_true", help="Open a pull request instead of committing."
    )
    parser.add_argument(
        "--license",
        default=None,
        help="Hub license identifier to declare (default: the corpus's, else other).",
    )
    parser.add_argument(
        "--stage_only",
        metavar="DIR",
        default=None,
        help="Write what would be uploaded into DIR (empty or absent) and upload nothing.",
    )
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        validate_repo_id(args.repo_id)
        if args.stage_only is not None:
            staged = stage_for_hub(
                args.output_dir, args.stage_only, repo_id=args.repo_id, license=args.license
            )
            print(f"staged {sum(1 for _ in staged.iterdir())} files in {staged}")
            return 0
        url = push_to_hub(
            args.output_dir,
            args.repo_id,
            private=args.private,
            revision=args.revision,
            commit_message=args.commit_message,
            create_pr=args.create_pr,
            license=args.license,
        )
    except (SertuneError, OSError, ValueError, HfHubHTTPError) as error:
        print(f"sertune push: {error}", file=sys.stderr)
        return 1
    print(url)
    return 0
