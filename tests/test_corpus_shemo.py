"""ShEMO loader: file-name grammar, gender folders, layout checks, quirks, label selection."""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import pytest

from sertune.audio import load_audio
from sertune.data import load_corpus, speaker_independent_folds
from sertune.data.corpora.shemo import NATIVE_TO_COMMON, parse_filename
from sertune.errors import CorpusFileError, CorpusLayoutError

from fixture_shemo import SHEMO_NAMES, write_shemo


@pytest.fixture(scope="module")
def shemo_root(tmp_path_factory):
    return write_shemo(tmp_path_factory.mktemp("shemo"))


@pytest.mark.parametrize(
    ("name", "speaker", "gender", "emotion", "label", "sequence"),
    [
        ("F01A01.wav", "F01", "female", "A", "angry", 1),
        ("M56W02.wav", "M56", "male", "W", "surprise", 2),
        ("F31H10.wav", "F31", "female", "H", "happy", 10),
        ("M10S01.wav", "M10", "male", "S", "sad", 1),
        ("F05F01.wav", "F05", "female", "F", "fear", 1),  # F twice: female, fear
        ("M02N99.wav", "M02", "male", "N", "neutral", 99),
        ("M07A104.wav", "M07", "male", "A", "angry", 104),
        ("/x/male/m03a05.WAV", "M03", "male", "A", "angry", 5),
    ],
)
def test_parse_filename(name, speaker, gender, emotion, label, sequence):
    parsed = parse_filename(name)
    assert (parsed.speaker, parsed.gender, parsed.native_label) == (speaker, gender, emotion)
    assert (parsed.label, parsed.sequence) == (label, sequence)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("F1A01.wav", "not a ShEMO file name"),
        ("F01A1.wav", "not a ShEMO file name"),
        ("F01-A01.wav", "not a ShEMO file name"),
        ("F01A01.mp3", "not a ShEMO file name"),
        ("X01A01.wav", "unknown ShEMO gender letter 'X'"),
        ("F32A01.wav", "unknown ShEMO speaker F32; female speakers are numbered 01-31"),
        ("M57A01.wav", "unknown ShEMO speaker M57; male speakers are numbered 01-56"),
        ("M00A01.wav", "unknown ShEMO speaker M00"),
        ("F01D01.wav", "unknown ShEMO emotion letter 'D'"),
    ],
)
def test_parse_filename_rejects(name, message):
    with pytest.raises(CorpusFileError, match=message) as caught:
        parse_filename(name)
    assert name in str(caught.value)


def test_native_labels():
    assert sorted(NATIVE_TO_COMMON.values()) == sorted(
        ["angry", "happy", "neutral", "sad", "surprise", "fear"]
    )


def test_load_fixture(shemo_root, caplog):
    with caplog.at_level(logging.WARNING, logger="sertune"):
        ds = load_corpus("shemo", shemo_root)
    assert len(ds) == len(SHEMO_NAMES)
    names = ds.features["label"].names

    row = ds[ds["id"].index("F05F01")]
    assert (names[row["label"]], row["speaker"], row["gender"], row["native_label"]) == (
        "fear",
        "F05",
        "female",
        "F",
    )
    assert row["audio"]["path"].endswith("female/F05F01.wav")
    row = ds[ds["id"].index("M07A104")]
    assert (names[row["label"]], row["speaker"], row["gender"]) == ("angry", "M07", "male")

    assert Counter(ds["gender"]) == {"female": 6, "male": 6}
    assert Counter(names[i] for i in ds["label"]) == {
        "angry": 3,
        "neutral": 2,
        "happy": 2,
        "sad": 2,
        "surprise": 2,
        "fear": 1,
    }
    # desktop.ini is stray; transcript/ and shemo.json are known companions.
    assert "desktop.ini" in caplog.text
    assert "transcript" not in caplog.text and "shemo.json" not in caplog.text
    for row_id in ("F01N02", "F03H01"):  # stereo, 16 kHz
        audio = load_audio(ds[ds["id"].index(row_id)]["audio"])
        assert audio.ndim == 1 and audio.dtype == np.float32 and len(audio) == 3200


def test_five_class_selection_and_folds(shemo_root):
    five = ["angry", "happy", "neutral", "sad", "surprise"]
    ds = load_corpus("shemo", shemo_root, labels=five)
    assert ds.features["label"].names == five and len(ds) == len(SHEMO_NAMES) - 1
    for fold in speaker_independent_folds(ds, "speaker_kfold", num_folds=3, seed=0):
        assert set(fold.test_speakers).isdisjoint(fold.train_speakers)


def test_partial_copy_and_layout_errors(tmp_path, shemo_root, caplog):
    write_shemo(tmp_path / "only_female", [n for n in SHEMO_NAMES if n[0] == "F"], quirks=False)
    with caplog.at_level(logging.WARNING, logger="sertune"):
        assert len(load_corpus("shemo", tmp_path / "only_female")) == 6
    assert "holds only female/: a partial copy" in caplog.text
    write_shemo(tmp_path / "wrapped" / "ShEMO", SHEMO_NAMES[:2], quirks=False)
    assert len(load_corpus("shemo", tmp_path / "wrapped")) == 2

    with pytest.raises(CorpusLayoutError, match=r"does not exist; expected the ShEMO layout"):
        load_corpus("shemo", tmp_path / "missing")
    (tmp_path / "other" / "a").mkdir(parents=True)
    (tmp_path / "other" / "b").mkdir()
    with pytest.raises(CorpusLayoutError, match=r"no female/ or male/ folder found; expected"):
        load_corpus("shemo", tmp_path / "other")
    with pytest.raises(CorpusLayoutError, match=r"gave the male/ folder; pass"):
        load_corpus("shemo", shemo_root / "male")
    (tmp_path / "empty" / "male").mkdir(parents=True)
    with pytest.raises(CorpusLayoutError, match=r"no \.wav files found"):
        load_corpus("shemo", tmp_path / "empty")


def test_file_in_the_wrong_gender_folder_is_an_error(tmp_path):
    root = write_shemo(tmp_path, SHEMO_NAMES[:1], quirks=False)
    (root / "male").mkdir()
    (root / "female" / "F01A01.wav").rename(root / "male" / "F01A01.wav")
    with pytest.raises(CorpusFileError, match=r"male/F01A01.wav: a female speaker in the male/"):
        load_corpus("shemo", root)
