"""The corpus registry and the one row schema every corpus loader produces.

A corpus module registers its loader with :func:`register_corpus`; users reach every corpus
through :func:`load_corpus` and discover them with :func:`list_corpora`.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import Audio, Dataset, Features, Value, concatenate_datasets

from sertune.data.taxonomy import EMOTIONS, check_mapping, class_label

logger = logging.getLogger(__name__)

#: Columns every corpus dataset has, in this order; corpus extras follow them.
COMMON_COLUMNS: tuple[str, ...] = ("id", "audio", "label", "speaker", "gender", "corpus")

#: Values of the ``gender`` column.
GENDERS: tuple[str, ...] = ("female", "male", "unknown")

#: Environment variable naming the folder under which corpora are kept by default.
DATA_HOME_ENV = "SERTUNE_DATA"

CorpusLoader = Callable[..., Dataset]


@dataclass(frozen=True)
class CorpusSpec:
    """A registered corpus.

    Args:
        name: Registry name, lowercase (e.g. ``"emodb"``).
        loader: ``loader(data_dir: Path, *, download: bool, **options) -> Dataset``.
        label_mapping: The corpus's native labels mapped to the common taxonomy.
        description: One line shown by :func:`list_corpora` users.
        homepage: Where the corpus is described and obtained.
        license: The corpus's license as its distributors state it.
        downloadable: Whether ``download=True`` can fetch it.
    """

    name: str
    loader: CorpusLoader
    label_mapping: Mapping[str, str]
    description: str = ""
    homepage: str = ""
    license: str = ""
    downloadable: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


_CORPORA: dict[str, CorpusSpec] = {}


def register_corpus(
    name: str,
    *,
    label_mapping: Mapping[str, str],
    description: str = "",
    homepage: str = "",
    license: str = "",
    downloadable: bool = False,
) -> Callable[[CorpusLoader], CorpusLoader]:
    """Decorator that registers a corpus loader under ``name``.

    Args:
        name: Lowercase registry name; registering a name twice raises.
        label_mapping: Native label -> common taxonomy label, checked against the taxonomy.
        description: One-line description.
        homepage: Where to find the corpus.
        license: The corpus's license.
        downloadable: Whether the loader supports ``download=True``.
    """
    if name != name.lower() or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"corpus names are lowercase letters, digits, '-' and '_', got {name!r}")
    check_mapping(label_mapping, name)

    def decorator(loader: CorpusLoader) -> CorpusLoader:
        if name in _CORPORA:
            raise ValueError(f"corpus {name!r} is already registered")
        _CORPORA[name] = CorpusSpec(
            name=name,
            loader=loader,
            label_mapping=dict(label_mapping),
            description=description,
            homepage=homepage,
            license=license,
            downloadable=downloadable,
        )
        return loader

    return decorator


def list_corpora() -> list[str]:
    """Names of the registered corpora, sorted."""
    return sorted(_CORPORA)


def corpus_spec(name: str) -> CorpusSpec:
    """The registration record of a corpus.

    Raises:
        ValueError: ``name`` is not registered; the message lists the registered names.
    """
    try:
        return _CORPORA[name]
    except KeyError:
        raise ValueError(f"unknown corpus {name!r}; registered corpora: {list_corpora()}") from None


def default_data_dir(name: str) -> Path:
    """Where a corpus lives when no ``data_dir`` is given: ``$SERTUNE_DATA/<name>``, or
    ``~/.cache/sertune/corpora/<name>`` when the variable is unset."""
    home = os.environ.get(DATA_HOME_ENV)
    base = Path(home) if home else Path.home() / ".cache" / "sertune" / "corpora"
    return base / name


def load_corpus(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = False,
    labels: Sequence[str] | Mapping[str, str] | None = None,
    **options: Any,
) -> Dataset:
    """Load a registered corpus as a `datasets.Dataset`, one row per utterance.

    Every corpus gives the columns ``id``, ``audio`` (the file path in an
    ``Audio(decode=False)`` column: decode it with :func:`sertune.audio.load_audio`), ``label``
    (a ``ClassLabel`` over the common taxonomy), ``speaker``, ``gender`` and ``corpus``,
    followed by the corpus's own extra columns.

    Args:
        name: A name from :func:`list_corpora`.
        data_dir: The corpus's root folder; defaults to :func:`default_data_dir`.
        download: Fetch the corpus first when it is missing (only for corpora whose license
            and distribution allow it).
        labels: Keep only these common labels, or merge them with a mapping (see
            :func:`select_labels`); rows outside the selection are dropped and counted in a log
            line.
        **options: Corpus-specific options, passed to the corpus loader (which rejects
            unknown ones).
    """
    spec = corpus_spec(name)
    root = (
        Path(data_dir).expanduser().absolute() if data_dir is not None else default_data_dir(name)
    )
    if download and not spec.downloadable:
        raise ValueError(
            f"corpus {name!r} cannot be downloaded automatically; see {spec.homepage or 'its card'}"
        )
    dataset = spec.loader(root, download=download, **options)
    if labels is not None:
        dataset = select_labels(dataset, labels)
    return dataset


def select_labels(dataset: Dataset, labels: Sequence[str] | Mapping[str, str]) -> Dataset:
    """Keep or merge classes of a corpus dataset; drop (and count) the rows outside.

    Args:
        dataset: A dataset with a ``ClassLabel`` ``label`` column over common labels.
        labels: Either the common labels to keep, e.g. ``["neutral", "happy", "sad",
            "angry"]``, or a mapping from the labels to keep to the label each becomes, e.g.
            ``{"neutral": "neutral", "happy": "happy", "surprise": "happy", "sad": "sad",
            "angry": "angry"}``. Every name must be in the common taxonomy.

    Returns:
        A dataset whose ``label`` is a ``ClassLabel`` over the selected (merged) labels, in
        taxonomy order. The number of dropped rows, by label, is logged.

    Raises:
        ValueError: A name is outside the taxonomy, or nothing is selected.
    """
    mapping = dict(labels) if isinstance(labels, Mapping) else {name: name for name in labels}
    if not mapping:
        raise ValueError("labels= selects no class")
    unknown = sorted(set(mapping).union(mapping.values()).difference(EMOTIONS))
    if unknown:
        raise ValueError(f"labels {unknown} are not in the common taxonomy {list(EMOTIONS)}")
    old_names = dataset.features["label"].names
    new_classes = class_label(mapping.values())
    old_to_new = {
        index: new_classes.str2int(mapping[name])
        for index, name in enumerate(old_names)
        if name in mapping
    }
    old_ids = dataset["label"]
    keep = [row for row, label in enumerate(old_ids) if label in old_to_new]
    dropped = Counter(old_names[label] for label in old_ids if label not in old_to_new)
    corpus = "+".join(dict.fromkeys(dataset["corpus"])) if len(dataset) else "corpus"
    if dropped:
        logger.info(
            "%s: labels=%s dropped %d of %d rows outside the selection: %s",
            corpus,
            sorted(set(mapping.values())),
            sum(dropped.values()),
            len(old_ids),
            dict(sorted(dropped.items())),
        )
    selected = dataset.select(keep)
    new_ids = [old_to_new[old_ids[row]] for row in keep]
    features = selected.features.copy()
    features["label"] = new_classes
    selected = selected.remove_columns("label").add_column("label", new_ids)
    selected = selected.cast_column("label", new_classes)
    return selected.select_columns(list(features))


def load_corpora(
    corpora: Sequence[str] | Mapping[str, str | os.PathLike | None],
    *,
    labels: Sequence[str] | Mapping[str, str] | None = None,
    download: bool = False,
) -> Dataset:
    """Load several corpora into one dataset, for cross-corpus training and evaluation.

    The result has the common columns only (``id, audio, label, speaker, gender, corpus``):
    ``label`` is one ``ClassLabel`` over the union of the corpora's (selected) labels, and
    speaker and row ids are prefixed with the corpus name (``emodb:03``), so speakers of
    different corpora never collide. Select a corpus with ``dataset.filter`` on ``corpus`` to
    train on some corpora and test on another.

    Args:
        corpora: Corpus names (each at its default folder), or a mapping name -> data_dir.
        labels: Applied to every corpus, as in :func:`select_labels`.
        download: Passed to each :func:`load_corpus`.
    """
    folders = dict(corpora) if isinstance(corpora, Mapping) else dict.fromkeys(corpora)
    if not folders:
        raise ValueError("load_corpora needs at least one corpus")
    parts = [
        load_corpus(name, folder, download=download, labels=labels)
        for name, folder in folders.items()
    ]
    union = class_label(name for part in parts for name in part.features["label"].names)
    harmonised = []
    for name, part in zip(folders, parts, strict=True):
        names = part.features["label"].names
        part = part.select_columns(list(COMMON_COLUMNS))
        part = part.map(
            lambda batch, names=names, name=name: {
                "label": [union.str2int(names[label]) for label in batch["label"]],
                "speaker": [f"{name}:{speaker}" for speaker in batch["speaker"]],
                "id": [f"{name}:{row_id}" for row_id in batch["id"]],
            },
            batched=True,
            features=Features({**part.features, "label": union}),
            desc=f"harmonising {name}",
        )
        harmonised.append(part)
    return concatenate_datasets(harmonised)


def build_corpus_dataset(
    rows: Sequence[Mapping[str, Any]],
    *,
    corpus: str,
    label_names: Sequence[str] | None = None,
    extra_features: Mapping[str, Any] | None = None,
) -> Dataset:
    """Build the common-schema dataset from parsed rows.

    Args:
        rows: One mapping per utterance with ``id``, ``path``, ``label`` (a common taxonomy
            name), ``speaker``, ``gender`` and the extra columns.
        corpus: Corpus name stored in the ``corpus`` column.
        label_names: The class set of the ``label`` column; defaults to the labels present.
        extra_features: ``datasets`` feature types of the extra columns, in column order.
    """
    extra_features = dict(extra_features or {})
    labels = [row["label"] for row in rows]
    classes = class_label(label_names if label_names is not None else labels)
    # datasets 5 encodes Audio values through torchcodec, even bare paths; we build the column
    # as its storage struct and cast it to Audio(decode=False), which needs no codec.
    audio_storage = {"bytes": Value("binary"), "path": Value("string")}
    features = Features(
        {
            "id": Value("string"),
            "audio": audio_storage,
            "label": classes,
            "speaker": Value("string"),
            "gender": Value("string"),
            "corpus": Value("string"),
            **extra_features,
        }
    )
    columns: dict[str, list[Any]] = {
        "id": [row["id"] for row in rows],
        "audio": [{"path": os.fspath(row["path"]), "bytes": None} for row in rows],
        "label": [classes.str2int(label) for label in labels],
        "speaker": [str(row["speaker"]) for row in rows],
        "gender": [row["gender"] for row in rows],
        "corpus": [corpus] * len(rows),
    }
    for column in extra_features:
        columns[column] = [row.get(column) for row in rows]
    bad_genders = sorted({g for g in columns["gender"] if g not in GENDERS})
    if bad_genders:
        raise ValueError(f"corpus {corpus!r}: gender values {bad_genders} not in {GENDERS}")
    dataset = Dataset.from_dict(columns, features=features)
    return dataset.cast_column("audio", Audio(decode=False))


__all__ = [
    "COMMON_COLUMNS",
    "EMOTIONS",
    "GENDERS",
    "CorpusSpec",
    "build_corpus_dataset",
    "corpus_spec",
    "default_data_dir",
    "list_corpora",
    "load_corpora",
    "load_corpus",
    "register_corpus",
    "select_labels",
]
