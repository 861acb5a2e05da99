"""AESDD loader: file-name grammar with takes, emotion folders, layout checks, quirks."""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import pytest

from sertune.audio import load_audio
from sertune.data import load_corpus, speaker_independent_folds
from sertune.data.corpora.aesdd import NATIVE_TO_COMMON, parse_filename
from sertune.errors import CorpusFileError, CorpusLayoutError

from fixture_aesdd import AESDD_NAMES, write_aesdd


@pytest.fixture(scope="module")
def aesdd_root(tmp_path_factory):
    return write_aesdd(tmp_path_factory.mktemp("aesdd"))


@pytest.mark.parametrize(
    ("name", "emotion", "utterance", "actor", "take", "label"),
    [
        ("a01 (1).wav", "anger", 1, "1", "", "angry"),
        ("a03 (4).wav", "anger", 3, "4", "", "angry"),
        ("d20 (2).wav", "disgust", 20, "2", "", "disgust"),
        ("f18 (5).wav", "fear", 18, "5", "", "fear"),
        ("f18 (5)b.wav", "fear", 18, "5", "b", "fear"),
        ("h07 (3).WAV", "happiness", 7, "3", "", "happy"),
        ("s11 (6).wav", "sadness", 11, "6", "", "sad"),  # actors added after v1.0
        ("s11(2).wav", "sadness", 11, "2", "", "sad"),  # no space before the parenthesis
        ("/x/sadness/s02 (10).wav", "sadness", 2, "10", "", "sad"),
    ],
)
def test_parse_filename(name, emotion, utterance, actor, take, label):
    parsed = parse_filename(name)
    assert (parsed.native_label, parsed.utterance, parsed.actor, parsed.take) == (
        emotion,
        utterance,
        actor,
        take,
    )
    assert parsed.label == label


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a01.wav", "not an AESDD file name"),
        ("a1 (1).wav", "not an AESDD file name"),
        ("a01 (1).mp3", "not an AESDD file name"),
        ("a01 (1)bb.wav", "not an AESDD file name"),
        ("n01 (1).wav", "unknown AESDD emotion initial 'n'"),
        ("a21 (1).wav", "utterance 21 is outside 01-20"),
        ("a00 (1).wav", "utterance 0 is outside 01-20"),
        ("a01 (0).wav", "actors are numbered from 1"),
    ],
)
def test_parse_filename_rejects(name, message):
    with pytest.raises(CorpusFileError, match=message) as caught:
        parse_filename(name)
    assert name in str(caught.value)


def test_native_labels():
    assert sorted(NATIVE_TO_COMMON) == ["anger", "disgust", "fear", "happiness", "sadness"]


def test_load_fixture(aesdd_root, caplog):
    with caplog.at_level(logging.WARNING, logger="sertune"):
        ds = load_corpus("aesdd", aesdd_root)
    assert len(ds) == len(AESDD_NAMES)
    names = ds.features["label"].names

    row = ds[ds["id"].index("f18 (5)b")]
    assert (names[row["label"]], row["speaker"], row["gender"], row["corpus"]) == (
        "fear",
        "5",
        "unknown",
        "aesdd",
    )
    assert (row["utterance"], row["take"], row["native_label"]) == (18, "b", "fear")
    assert row["audio"]["path"].endswith("fear/f18 (5)b.wav")
    assert ds[ds["id"].index("f18 (5)")]["take"] == ""
    assert ds[ds["id"].index("d11 (3)")]["audio"]["path"].endswith("disgust/d11 (3).WAV")

    assert set(ds["gender"]) == {"unknown"}
    assert Counter(ds["speaker"]) == {"1": 2, "2": 2, "3": 2, "4": 2, "5": 2}
    assert Counter(names[i] for i in ds["label"]) == dict.fromkeys(names, 2)
    assert ".DS_Store" in caplog.text
    for row_id in ("a20 (2)", "d03 (4)"):  # stereo, 16 kHz
        audio = load_audio(ds[ds["id"].index(row_id)]["audio"])
        assert audio.ndim == 1 and audio.dtype == np.float32 and len(audio) == 3200


def test_label_selection_and_loso(aesdd_root):
    ds = load_corpus("aesdd", aesdd_root, labels=["angry", "happy", "sad"])
    assert ds.features["label"].names == ["angry", "happy", "sad"] and len(ds) == 6
    folds = speaker_independent_folds(load_corpus("aesdd", aesdd_root), "loso", seed=0)
    assert len(folds) == 5


def test_layout_errors_and_wrapper(tmp_path, aesdd_root, caplog):
    write_aesdd(tmp_path / "w" / "Acted Emotional Speech Dynamic Database", quirks=False)
    assert len(load_corpus("aesdd", tmp_path / "w")) == len(AESDD_NAMES)
    with pytest.raises(CorpusLayoutError, match=r"does not exist; expected the AESDD layout"):
        load_corpus("aesdd", tmp_path / "missing")
    (tmp_path / "other" / "a").mkdir(parents=True)
    (tmp_path / "other" / "b").mkdir()
    with pytest.raises(CorpusLayoutError, match=r"no AESDD emotion folder found; expected"):
        load_corpus("aesdd", tmp_path / "other")
    with pytest.raises(CorpusLayoutError, match=r"gave an emotion folder; pass"):
        load_corpus("aesdd", aesdd_root / "fear")
    (tmp_path / "empty" / "fear").mkdir(parents=True)
    with (
        caplog.at_level(logging.WARNING, logger="sertune"),
        pytest.raises(CorpusLayoutError, match=r"no \.wav files found"),
    ):
        load_corpus("aesdd", tmp_path / "empty")
    assert "a partial copy" in caplog.text


def test_file_in_the_wrong_folder_is_an_error(tmp_path):
    root = write_aesdd(tmp_path, AESDD_NAMES[:2], quirks=False)
    (root / "anger" / "a20 (2).wav").rename(root / "anger" / "s20 (2).wav")
    with pytest.raises(CorpusFileError, match=r"s20 \(2\).wav: a sadness file name in the anger"):
        load_corpus("aesdd", root)
