"""The model card of a finished run: ``model_card.md`` rendered by ``ModelCard.from_template``.

The card is made from the run folder's ``config.json``, ``preprocessor_config.json``,
``run_config.json`` (its sections: ``model``, ``data``, ``training``, ``augmentation`` and any
recipe-specific ones; a flat file written before the sections is read too), ``metrics.json`` and
the corpus registry. :func:`model_card` builds the metadata (:class:`ModelCardData`) and a
context of plain values from those; the Markdown lives in the template.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from sertune.data import corpus_spec
from sertune.data.arguments import DataArguments
from sertune.hub.files import (
    CONFUSION_MATRIX_FILE,
    CURVES_FILE,
    METRICS_FILE,
    MODEL_CONFIG_FILE,
    PREPROCESSOR_CONFIG_FILE,
    RunFolderError,
    read_json,
)
from sertune.models.factory import ModelSpec, parse_model_name
from sertune.training.augment import AugmentationArguments
from sertune.training.loop import TrainingConfig
from sertune.training.report import CONFIG_FILE

logger = logging.getLogger(__name__)

#: The Markdown template of the card (package data).
TEMPLATE_PATH = Path(__file__).with_name("model_card.md")

#: Sections of ``run_config.json`` the card reads by name; any other section is shown with the
#: model options.
_SHARED_SECTIONS = ("data", "training", "augmentation", "hub")

#: Augmentation options whose name does not start with their effect's.
_OPTION_EFFECT = {"rir_dir": "reverb", "max_shift_seconds": "shift"}

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


def _declared_license(run: _Run, override: str | None) -> tuple[str, str | None, str | None]:
    """``(license, license_name, license_link)`` for the card's metadata.

    The weights are learnt from the corpus, so its terms bind what may be done with them: the
    card declares the corpus's license when that is a Hub license identifier (CC0-1.0,
    CC-BY-NC-SA-4.0 ...), and ``other`` pointing at the corpus's homepage when its terms are a
    research agreement or unstated. The base encoder's license applies too and cannot be read
    offline; the card's body says so. ``override`` (``--license``) lets the publisher decide.
    A model learnt from several corpora declares their license only when they all share it.
    """
    specs = [run.specs.get(name) for name in run.train_corpora]
    licenses = {spec.license.lower() if spec else None for spec in specs}
    homepages = [spec.homepage for spec in specs if spec and spec.homepage]
    link = homepages[0] if len(specs) == 1 and homepages else None
    license_id = override.lower() if override else None
    if license_id is None and len(licenses) == 1 and licenses <= _HUB_LICENSE_IDS:
        license_id = licenses.pop()
    if license_id is None or license_id == "other":
        terms = "-".join(name.replace("_", "-") for name in run.train_corpora)
        return "other", f"{terms}-corpus-terms", link
    return license_id, None, None


def _model_family(config: dict[str, Any]) -> str | None:
    """The encoder or backbone family: wav2vec2, hubert, resnet, ..., or ``timm``."""
    for key in ("encoder_config", "backbone_config"):
        nested = config.get(key)
        if isinstance(nested, dict) and nested.get("model_type"):
            return str(nested["model_type"])
    if config.get("timm_backbone"):
        return "timm"
    return None


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


def _speakers(speakers: list[str]) -> str:
    return ", ".join(f"`{speaker}`" for speaker in speakers) if speakers else "none"


def percent(value: Any) -> str:
    return "n/a" if value is None else f"{100 * float(value):.2f} %"


def _format(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


@dataclass(frozen=True)
class _Run:
    """What the card is made from, read once."""

    output_dir: Path
    config: dict[str, Any]
    preprocessor: dict[str, Any]
    sections: dict[str, dict[str, Any]]
    metrics: dict[str, Any]
    specs: dict[str, Any]  # registry entry of each corpus of the run that is registered
    model: ModelSpec | None

    @property
    def corpus(self) -> str:
        return str(self.metrics["corpus"])

    @property
    def train_corpora(self) -> list[str]:
        """The corpora the model learnt from: several in a cross-corpus run, else the corpus."""
        return [str(name) for name in self.metrics.get("train_corpora") or [self.corpus]]

    @property
    def test_corpora(self) -> list[str]:
        return [str(name) for name in self.metrics.get("test_corpora") or [self.corpus]]

    def title_of(self, corpus: str) -> str:
        spec = self.specs.get(corpus)
        return spec.description.split(":")[0] if spec and spec.description else corpus

    @property
    def corpus_title(self) -> str:
        return " + ".join(map(self.title_of, self.all_corpora))

    @property
    def all_corpora(self) -> list[str]:
        return list(dict.fromkeys([*self.train_corpora, *self.test_corpora]))

    @property
    def languages(self) -> list[str]:
        codes = (_CORPUS_SPEECH.get(name, ((), None))[0] for name in self.all_corpora)
        return list(dict.fromkeys(code for group in codes for code in group))

    @property
    def model_name_or_path(self) -> str:
        return str(self.sections["model"].get("model_name_or_path", ""))


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
    run = _read_run(Path(output_dir))
    name = repo_id.split("/")[-1] if repo_id else run.output_dir.resolve().name
    declared, license_name, license_link = _declared_license(run, license)
    card_data = _card_data(run, name, (declared, license_name, license_link))
    context = {
        **_model_context(run, name),
        **_data_context(run),
        **_results_context(run),
        **_training_context(run),
        "license_text": _license_text(run, declared, license_link),
        "source": repo_id or str(run.output_dir),
    }
    return ModelCard.from_template(card_data, template_path=str(TEMPLATE_PATH), **context)


def _read_run(output_dir: Path) -> _Run:
    metrics = read_json(output_dir / METRICS_FILE)
    for key in ("corpus", "uar", "wa", "macro_f1", "label_names"):
        if key not in metrics:
            raise RunFolderError(f"{output_dir / METRICS_FILE}: no {key!r}")
    names = [*(metrics.get("train_corpora") or []), *(metrics.get("test_corpora") or [])]
    specs = {}
    for name in dict.fromkeys(map(str, names or [metrics["corpus"]])):
        try:
            specs[name] = corpus_spec(name)
        except ValueError:
            logger.warning("corpus %r is not registered: the card cannot name its license", name)
    sections = run_config_sections(read_json(output_dir / CONFIG_FILE))
    name = str(sections["model"].get("model_name_or_path", ""))
    try:
        model = parse_model_name(name) if name else None
    except ValueError:
        model = None  # a name this sertune no longer knows: described as a local checkpoint
    return _Run(
        output_dir=output_dir,
        config=read_json(output_dir / MODEL_CONFIG_FILE),
        preprocessor=read_json(output_dir / PREPROCESSOR_CONFIG_FILE),
        sections=sections,
        metrics=metrics,
        specs=specs,
        model=model,
    )


def run_config_sections(run_config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``run_config.json``'s sections; a flat file (written before the sections) is split.

    A flat file's options are assigned to ``data``, ``training`` and ``augmentation`` by the
    fields (and in the order) of the shared dataclasses; the rest are the recipe's ``model``
    options.

    Args:
        run_config: The JSON object of ``run_config.json``.
    """
    if isinstance(run_config.get("training"), dict):
        sections = {k: dict(v) for k, v in run_config.items() if isinstance(v, dict)}
        # Keys outside any section belong to no known dataclass: shown with the model options.
        loose = {k: v for k, v in run_config.items() if not isinstance(v, dict)}
        sections.setdefault("model", {}).update(loose)
        return sections
    sections: dict[str, dict[str, Any]] = {}
    for section, kind in (
        ("data", DataArguments),
        ("training", TrainingConfig),
        ("augmentation", AugmentationArguments),
    ):
        names = [f.name for f in dataclasses.fields(kind) if f.name in run_config]
        sections[section] = {name: run_config[name] for name in names}
    shared = {name for options in sections.values() for name in options}
    sections["model"] = {k: v for k, v in run_config.items() if k not in shared}
    return sections


def _card_data(run: _Run, name: str, license_fields: tuple[str, str | None, str | None]):
    declared, license_name, license_link = license_fields
    fold = run.metrics.get("fold") or {}
    split = {
        "task_type": "audio-classification",
        "task_name": "Speech emotion recognition",
        "dataset_type": "+".join(run.test_corpora),
        "dataset_name": " + ".join(map(run.title_of, run.test_corpora)),
        "dataset_split": "test",
        "dataset_args": {
            "protocol": run.sections.get("data", {}).get("protocol"),
            "fold": fold.get("name"),
            "test_speakers": list(fold.get("test_speakers", [])),
        },
    }
    metrics = run.metrics
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
    tags = (
        "speech-emotion-recognition",
        "sertune",
        run.config.get("model_type"),
        _model_family(run.config),
    )
    return ModelCardData(
        model_name=name,
        library_name="transformers",
        pipeline_tag="audio-classification",
        tags=list(dict.fromkeys(t for t in tags if t)),
        license=declared,
        license_name=license_name,
        license_link=license_link,
        language=run.languages or None,
        datasets=run.all_corpora,
        base_model=run.model.hub_base_model if run.model else None,
        # UAR is macro-averaged recall and WA plain accuracy, as the model-index says.
        metrics=["recall", "accuracy", "f1"],
        eval_results=results,
    )


def _model_context(run: _Run, name: str) -> dict[str, Any]:
    family = _model_family(run.config)
    model = run.model
    return {
        "title": name,
        "test_model": model is not None and model.kind == "tiny_random",
        "model_name_or_path": run.model_name_or_path,
        "architecture": _architecture(run.config, family),
        "model_type": run.config.get("model_type"),
        "starting_point": _starting_point(model, run.model_name_or_path),
        "input_description": _input_description(run.preprocessor),
    }


def _data_context(run: _Run) -> dict[str, Any]:
    languages = run.languages
    speech_kinds = {_CORPUS_SPEECH.get(name, ((), None))[1] for name in run.all_corpora}
    speech_kind = speech_kinds.pop() if len(speech_kinds) == 1 else None
    fold = run.metrics.get("fold") or {}
    data = run.sections.get("data", {})
    corpus_line = ", ".join(_described(run, name) for name in run.train_corpora)
    if run.test_corpora != run.train_corpora:
        tested = ", ".join(_described(run, name) for name in run.test_corpora)
        corpus_line = f"trained on {corpus_line}; tested on {tested} (cross-corpus)"
    train = list(fold.get("train_speakers", []))
    return {
        "corpus": run.corpus,
        "corpus_title": run.corpus_title,
        "corpus_line": corpus_line,
        "labels": [str(label) for label in run.metrics["label_names"]],
        "language": " and ".join(_LANGUAGE_NAMES.get(code, code) for code in languages)
        if languages
        else "an unrecorded language",
        "speech_kind": speech_kind or "speech of an unrecorded kind (acted or natural)",
        "protocol": data.get("protocol", "(not recorded)"),
        "fold_name": fold.get("name", "(not recorded)"),
        "test_speakers": list(fold.get("test_speakers", [])),
        "speakers": {
            "test": _speakers(list(fold.get("test_speakers", []))),
            "validation": _speakers(list(fold.get("validation_speakers", []))),
            "train": _speakers(train),
            "train_count": len(train) or "a few",
        },
        "counts": {key: fold.get(f"num_{key}", "?") for key in ("test", "validation", "train")},
        "classes_kept": [str(label) for label in data.get("labels") or []],
    }


def _results_context(run: _Run) -> dict[str, Any]:
    metrics = run.metrics
    test = metrics.get("test") or {}
    per_class = test.get("per_class") or {}
    rows = []
    for label in map(str, metrics["label_names"]):
        scores = per_class.get(label, {})
        rows.append(
            [_cell(label)]
            + [percent(scores.get(key)) for key in ("recall", "precision", "f1")]
            + [str(scores.get("support", "?"))]
        )
    selection = None
    if metrics.get("best_step") is not None:
        selection = (
            f"The model kept is that of step {metrics['best_step']} of "
            f"{metrics.get('global_step', '?')}, with the best validation UAR "
            f"({percent(metrics.get('best_validation_uar'))})."
        )
    elif metrics.get("global_step") is not None:
        selection = f"The model is that of the last step, {metrics['global_step']}."
    present = {
        name for name in (CONFUSION_MATRIX_FILE, CURVES_FILE) if (run.output_dir / name).is_file()
    }
    return {
        "uar": percent(metrics["uar"]),
        "wa": percent(metrics["wa"]),
        "macro_f1": percent(metrics["macro_f1"]),
        "test_utterances": test.get("num_samples", "?"),
        "per_class": rows if per_class else [],
        "missing_classes": any(s.get("recall") is None for s in per_class.values()),
        "confusion_matrix": CONFUSION_MATRIX_FILE if CONFUSION_MATRIX_FILE in present else None,
        "curves": CURVES_FILE if CURVES_FILE in present else None,
        "selection": selection,
    }


def _training_context(run: _Run) -> dict[str, Any]:
    training = run.sections.get("training", {})
    shown = {
        key: value
        for key, value in training.items()
        if key not in _OPERATIONAL_OPTIONS and value is not None
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
    processes = run.metrics.get("num_processes") or 1
    batch = training.get("per_device_train_batch_size")
    if batch is not None:
        shown["effective batch size"] = (
            batch * training.get("gradient_accumulation_steps", 1) * processes
        )
    shown["processes"] = processes
    if run.metrics.get("train_seconds") is not None:
        shown["training time (s)"] = round(float(run.metrics["train_seconds"]), 1)
    return {
        "training_options": [(_cell(k), _cell(_format(v))) for k, v in shown.items()],
        "augmentation": [
            f"{effect}: " + ", ".join(f"{k} = {_format(v)}" for k, v in options.items())
            for effect, options in _augmentation_effects(
                run.sections.get("augmentation", {})
            ).items()
        ],
        "model_options": [
            (_cell(k), _cell(_format(v))) for k, v in _model_options(run.sections).items()
        ],
    }


def _augmentation_effects(augmentation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The enabled effects with their options, e.g. ``{"noise": {"noise_prob": 0.5, ...}}``.

    An effect is enabled by its ``<effect>_prob``; its options are those named after it (and
    those of :data:`_OPTION_EFFECT`).
    """
    effects = {
        key.removesuffix("_prob"): {}
        for key, value in augmentation.items()
        if key.endswith("_prob") and (value or 0.0) > 0
    }
    for key, value in augmentation.items():
        effect = _OPTION_EFFECT.get(key) or max(
            (e for e in effects if key.startswith(e)), key=len, default=None
        )
        if effect in effects:
            effects[effect][key] = value
    return {
        effect: dict(sorted(options.items(), key=lambda o: not o[0].endswith("_prob")))
        for effect, options in effects.items()
    }


def _model_options(sections: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The recipe's own options (model, features, peft, distillation ...), by name."""
    merged = {
        key: value
        for section, options in sections.items()
        if section not in _SHARED_SECTIONS
        for key, value in options.items()
    }
    return {
        key: value
        for key, value in sorted(merged.items())
        if key not in _OPERATIONAL_OPTIONS and key != "model_name_or_path"
    }


def _described(run: _Run, corpus: str) -> str:
    spec = run.specs.get(corpus)
    if spec is None:
        return f"`{corpus}` (not in sertune's corpus registry)"
    described = f"[{spec.description}]({spec.homepage})" if spec.homepage else spec.description
    return f"{described} (`{corpus}`)"


def _license_text(run: _Run, declared: str, link: str | None) -> str:
    lines = []
    for corpus in run.train_corpora:
        spec = run.specs.get(corpus)
        if spec is None:
            lines.append(f"The license of the training corpus `{corpus}` is not recorded.")
            continue
        lines.append(
            f"The training data, {spec.description.split(':')[0]}, is distributed under: "
            f"{spec.license or 'terms its distributors do not state'}"
            + (f" (see {spec.homepage})." if spec.homepage else ".")
        )
    if declared == "other":
        where = f" ({link})" if link else ""
        whose = "corpus's" if len(run.train_corpora) == 1 else "corpora's"
        lines.append(
            f"The metadata declares `other`: use of this model is bound by the {whose} terms"
            f"{where}, which are not an open license."
        )
    else:
        lines.append(f"The metadata declares `{declared}`.")
    base = run.model.hub_base_model if run.model else None
    if base is not None:
        lines.append(
            f"The base model [{base}](https://huggingface.co/{base}) has its own license, which "
            "applies too."
        )
    return " ".join(lines)


def _starting_point(model: ModelSpec | None, name: str) -> str:
    if not name:
        return "the local checkpoint `(not recorded)`"
    if model is None or model.kind == "pretrained" and model.hub_base_model is None:
        return f"the local checkpoint `{name}`"
    if model.kind == "tiny_random":
        return f"`{name}`, a tiny randomly initialised model (no pretraining)"
    if model.kind == "from_scratch":
        return "none: the CNN-LSTM is trained from scratch"
    if model.kind == "random_init":
        return f"the architecture of `{model.checkpoint}`, randomly initialised (no pretraining)"
    if model.kind == "timm":
        return f"the timm ImageNet backbone `{model.checkpoint}`"
    return f"[{model.hub_base_model}](https://huggingface.co/{model.hub_base_model})"
