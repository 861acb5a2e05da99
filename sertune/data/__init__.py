"""Emotion corpora in one row schema, one label taxonomy and speaker-independent protocols."""

from sertune.data import corpora
from sertune.data.protocols import (
    Fold,
    check_speaker_independence,
    list_protocols,
    official_folds,
    register_protocol,
    speaker_independent_folds,
)
from sertune.data.registry import (
    COMMON_COLUMNS,
    GENDERS,
    CorpusSpec,
    build_corpus_dataset,
    corpus_spec,
    default_data_dir,
    list_corpora,
    load_corpora,
    load_corpus,
    register_corpus,
    select_labels,
)
from sertune.data.taxonomy import EMOTIONS

__all__ = [
    "COMMON_COLUMNS",
    "EMOTIONS",
    "GENDERS",
    "CorpusSpec",
    "Fold",
    "build_corpus_dataset",
    "check_speaker_independence",
    "corpora",
    "corpus_spec",
    "default_data_dir",
    "list_corpora",
    "list_protocols",
    "load_corpora",
    "load_corpus",
    "official_folds",
    "register_corpus",
    "register_protocol",
    "select_labels",
    "speaker_independent_folds",
]
