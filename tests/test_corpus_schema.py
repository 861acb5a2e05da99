"""The schema every corpus loader gives, checked once per registered corpus.

Each corpus is written in its real on-disk layout by its fixture writer and loaded through
:func:`load_corpus`; its own test file checks what is particular to it (names, layouts, quirks).
"""

from __future__ import annotations

import pytest
from datasets import Audio, ClassLabel

from sertune.data import COMMON_COLUMNS, corpus_spec, list_corpora, load_corpus
from sertune.data.corpora import (
    aesdd,
    casia,
    cremad,
    emodb,
    emovo,
    esd,
    iemocap,
    msp_podcast,
    ravdess,
    savee,
    shemo,
    tess,
    urdu,
)

from corpus_fixtures import write_emodb
from fixture_aesdd import write_aesdd
from fixture_casia import write_casia
from fixture_cremad import write_cremad
from fixture_emovo import write_emovo
from fixture_esd import write_esd
from fixture_iemocap import write_iemocap
from fixture_msp_podcast import write_msp_podcast
from fixture_ravdess import write_ravdess
from fixture_savee import write_savee
from fixture_shemo import write_shemo
from fixture_tess import write_tess
from fixture_urdu import write_urdu

ALL_SEVEN = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]

#: Corpus -> (fixture writer, extra columns of the fixture's load, class names, downloadable,
#: the module's native-to-common mapping as registered).
CORPORA = {
    "aesdd": (
        write_aesdd,
        ["utterance", "take", "native_label"],
        ["angry", "disgust", "fear", "happy", "sad"],
        False,
        aesdd.NATIVE_TO_COMMON,
    ),
    "casia": (
        write_casia,
        ["sentence_id", "native_label"],
        ["angry", "fear", "happy", "neutral", "sad", "surprise"],
        False,
        casia.NATIVE_TO_COMMON,
    ),
    "cremad": (
        write_cremad,
        ["sentence", "text", "intensity", "native_label", "age", "race", "ethnicity"],
        ["angry", "disgust", "fear", "happy", "neutral", "sad"],
        False,
        cremad.NATIVE_TO_COMMON,
    ),
    "emodb": (
        write_emodb,
        [
            "text_id",
            "text",
            "version",
            "age",
            "native_label",
            "recognition_rate",
            "naturalness_rate",
        ],
        ["angry", "bored", "disgust", "fear", "happy", "neutral", "sad"],
        True,
        emodb.NATIVE_TO_COMMON,
    ),
    "emovo": (
        write_emovo,
        ["sentence", "native_label"],
        ALL_SEVEN,
        False,
        emovo.NATIVE_TO_COMMON,
    ),
    "esd": (
        write_esd,
        ["language", "text", "partition", "sentence_id", "native_label"],
        ["angry", "happy", "neutral", "sad", "surprise"],
        False,
        esd.NATIVE_TO_COMMON,
    ),
    "iemocap": (
        write_iemocap,
        [
            "session",
            "dialog",
            "improvised",
            "start",
            "end",
            "valence",
            "activation",
            "dominance",
            "native_label",
        ],
        ALL_SEVEN,
        False,
        {**iemocap.NATIVE_TO_COMMON, **iemocap.EXCITED_MERGE},
    ),
    "msp_podcast": (
        write_msp_podcast,
        ["partition", "activation", "valence", "dominance", "podcast", "native_label"],
        ALL_SEVEN,
        False,
        msp_podcast.NATIVE_TO_COMMON,
    ),
    "ravdess": (
        write_ravdess,
        ["vocal_channel", "intensity", "statement", "text", "repetition", "native_label"],
        ["angry", "calm", "disgust", "fear", "happy", "neutral", "sad", "surprise"],
        True,
        ravdess.NATIVE_TO_COMMON,
    ),
    "savee": (
        write_savee,
        ["sentence_number", "native_label"],
        ALL_SEVEN,
        False,
        savee.NATIVE_TO_COMMON,
    ),
    "shemo": (
        write_shemo,
        ["native_label"],
        ["angry", "fear", "happy", "neutral", "sad", "surprise"],
        False,
        shemo.NATIVE_TO_COMMON,
    ),
    "tess": (
        write_tess,
        ["word", "age", "native_label"],
        ALL_SEVEN,
        False,
        tess.NATIVE_TO_COMMON,
    ),
    "urdu": (
        write_urdu,
        ["native_label"],
        ["angry", "happy", "neutral", "sad"],
        True,
        urdu.NATIVE_TO_COMMON,
    ),
}


def test_every_registered_corpus_has_a_row():
    assert sorted(CORPORA) == list_corpora()


@pytest.fixture(scope="module", params=list_corpora())
def loaded(request, tmp_path_factory):
    name = request.param
    write = CORPORA[name][0]
    root = write(tmp_path_factory.mktemp(name))
    return name, root, load_corpus(name, root)


def test_columns_and_features(loaded):
    name, _, ds = loaded
    extras, label_names = CORPORA[name][1], CORPORA[name][2]
    assert len(ds) > 0
    assert ds.column_names == [*COMMON_COLUMNS, *extras]
    assert isinstance(ds.features["audio"], Audio) and ds.features["audio"].decode is False
    assert isinstance(ds.features["label"], ClassLabel)
    assert ds.features["label"].names == label_names
    assert set(ds["corpus"]) == {name}
    assert all(row["bytes"] is None and row["path"] for row in ds["audio"])


@pytest.mark.parametrize("name", list_corpora())
def test_registration(name):
    spec = corpus_spec(name)
    assert spec.name == name
    assert spec.downloadable is CORPORA[name][3]
    assert spec.label_mapping == CORPORA[name][4]
    assert spec.homepage.startswith("http")


@pytest.mark.parametrize("name", [name for name in list_corpora() if not CORPORA[name][3]])
def test_download_is_refused_with_a_pointer(name, tmp_path):
    with pytest.raises(ValueError, match=rf"'{name}' cannot be downloaded automatically; see http"):
        load_corpus(name, tmp_path, download=True)


def test_unknown_option_fails_loudly(loaded):
    name, root, _ = loaded
    with pytest.raises(TypeError, match="bogus"):
        load_corpus(name, root, bogus=1)
