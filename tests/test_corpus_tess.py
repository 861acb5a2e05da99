"""TESS loader: file-name grammar, both layouts, folder checks, duplicates, two-speaker LOSO."""

from __future__ import annotations

import logging
import shutil
from collections import Counter

import numpy as np
import pytest

from sertune.audio import load_audio
from sertune.data import load_corpus, speaker_independent_folds
from sertune.data.corpora.tess import NATIVE_TO_COMMON, SPEAKERS, parse_filename
from sertune.errors import CorpusFileError, CorpusLayoutError

from fixture_tess import TESS_WRAPPER, tess_names, write_tess


@pytest.fixture(scope="module")
def tess_root(tmp_path_factory):
    """2 speakers x 3 words x 7 emotions in the folder-per-emotion layout, with quirks."""
    return write_tess(tmp_path_factory.mktemp("tess"))


@pytest.mark.parametrize(
    ("name", "speaker", "word", "native", "label"),
    [
        ("OAF_back_angry.wav", "OAF", "back", "angry", "angry"),
        ("YAF_back_ps.wav", "YAF", "back", "pleasant_surprise", "surprise"),
        ("OAF_youth_pleasant_surprise.wav", "OAF", "youth", "pleasant_surprise", "surprise"),
        ("YAF_chalk_pleasant_surprised.wav", "YAF", "chalk", "pleasant_surprise", "surprise"),
        ("OAF_germ_fear.wav", "OAF", "germ", "fear", "fear"),
        ("YAF_dog_disgust.wav", "YAF", "dog", "disgust", "disgust"),
        ("OAF_numb_neutral.WAV", "OAF", "numb", "neutral", "neutral"),
        ("YAF_mood_Sad.wav", "YAF", "mood", "sad", "sad"),
        ("/d/YAF_happy/YAF_yes_happy.wav", "YAF", "yes", "happy", "happy"),
    ],
)
def test_parse_filename(name, speaker, word, native, label):
    parsed = parse_filename(name)
    assert (parsed.speaker, parsed.word, parsed.native_label, parsed.label) == (
        speaker,
        word,
        native,
        label,
    )


def test_recording_id_spells_pleasant_surprise_ps():
    assert parse_filename("OAF_youth_pleasant_surprise.wav").recording_id == "OAF_youth_ps"
    assert parse_filename("YAF_back_angry.wav").recording_id == "YAF_back_angry"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("OAF_back_angry.mp3", "not a TESS file name"),
        ("OAF_angry.wav", "not a TESS file name"),
        ("OAF_back_2_angry.wav", "not a TESS file name"),
        ("MAF_back_angry.wav", "unknown TESS speaker 'MAF'"),
        ("OAF_back_surprised.wav", "unknown TESS emotion 'surprised'"),
        ("YAF_back_calm.wav", "unknown TESS emotion 'calm'"),
    ],
)
def test_parse_filename_rejects(name, message):
    with pytest.raises(CorpusFileError, match=message) as caught:
        parse_filename(name)
    assert name in str(caught.value)


def test_tables_are_complete():
    assert len(NATIVE_TO_COMMON) == 7 and NATIVE_TO_COMMON["pleasant_surprise"] == "surprise"
    assert SPEAKERS == {"OAF": ("female", 64), "YAF": ("female", 26)}


def test_load_fixture(tess_root):
    ds = load_corpus("tess", tess_root)
    assert len(ds) == 42
    assert Counter(ds["speaker"]) == {"OAF": 21, "YAF": 21}
    assert set(ds["gender"]) == {"female"}

    row = ds[ds["id"].index("YAF_back_ps")]
    assert ds.features["label"].int2str(row["label"]) == "surprise"
    assert (row["speaker"], row["gender"], row["age"], row["corpus"]) == (
        "YAF",
        "female",
        26,
        "tess",
    )
    assert (row["word"], row["native_label"]) == ("back", "pleasant_surprise")
    assert row["audio"]["path"].endswith(f"{TESS_WRAPPER}/YAF_pleasant_surprised/YAF_back_ps.wav")

    row = ds[ds["id"].index("OAF_youth_ps")]  # spelled _pleasant_surprise on disk
    assert row["audio"]["path"].endswith("OAF_Pleasant_surprise/OAF_youth_pleasant_surprise.wav")
    assert (row["speaker"], row["age"], row["word"]) == ("OAF", 64, "youth")

    row = ds[ds["id"].index("OAF_chalk_fear")]
    assert row["audio"]["path"].endswith("OAF_Fear/OAF_chalk_fear.wav")
    assert ds.features["label"].int2str(row["label"]) == "fear"

    row = ds[ds["id"].index("YAF_chalk_happy")]  # upper-case .WAV
    assert row["audio"]["path"].endswith("YAF_chalk_happy.WAV")
    # sampling_rate=None: resampling 24,414 Hz builds a large kernel (seconds), not needed here.
    audio = load_audio(row["audio"], sampling_rate=None)
    assert audio.dtype == np.float32 and audio.ndim == 1
    stereo = load_audio(ds[ds["id"].index("OAF_back_angry")]["audio"], sampling_rate=None)
    assert stereo.ndim == 1 and len(stereo) == int(round(0.3 * 24_414))


def test_flat_layout(tmp_path):
    root = write_tess(tmp_path, tess_names(words=("bath",)), layout="flat", with_quirks=False)
    ds = load_corpus("tess", root)
    assert len(ds) == 14
    assert sorted(ds["id"]) == sorted(name[:-4] for name in tess_names(words=("bath",)))


def test_only_two_speakers_loso_needs_no_validation_speaker(tess_root):
    ds = load_corpus("tess", tess_root)
    folds = speaker_independent_folds(ds, "loso", num_validation_speakers=0)
    assert [fold.name for fold in folds] == ["loso-OAF", "loso-YAF"]
    for fold in folds:
        assert fold.validation == [] and len(fold.train) == len(fold.test) == 21
        assert set(fold.train_speakers).isdisjoint(fold.test_speakers)
    with pytest.raises(ValueError, match=r"needs at least 3 speakers.*has 2: \['OAF', 'YAF'\]"):
        speaker_independent_folds(ds, "loso")


def test_labels_selection(tess_root):
    ds = load_corpus("tess", tess_root, labels=["neutral", "happy", "sad", "angry"])
    names = ds.features["label"].names
    assert names == ["angry", "happy", "neutral", "sad"]
    assert Counter(names[label] for label in ds["label"]) == dict.fromkeys(names, 6)


def test_stray_files_are_listed_in_a_warning(tess_root, caplog):
    with caplog.at_level(logging.WARNING, logger="sertune"):
        load_corpus("tess", tess_root)
    assert "ignoring 1 entries" in caplog.text and "Thumbs.db" in caplog.text


def test_a_nested_second_copy_is_read_once(tmp_path, caplog):
    root = write_tess(tmp_path, tess_names(words=("bath",)), with_quirks=False)
    shutil.copytree(root / TESS_WRAPPER, root / TESS_WRAPPER / TESS_WRAPPER)
    with caplog.at_level(logging.WARNING, logger="sertune"):
        ds = load_corpus("tess", root)
    assert len(ds) == 14
    assert "14 files are copies of recordings met earlier" in caplog.text
    copy = root / TESS_WRAPPER / TESS_WRAPPER / "OAF_angry" / "OAF_bath_angry.wav"
    copy.write_bytes(copy.read_bytes() + b"\0\0")
    with pytest.raises(CorpusFileError, match="OAF_bath_angry: found 2 different files"):
        load_corpus("tess", root)


def test_file_disagreeing_with_its_folder_is_an_error(tmp_path):
    root = write_tess(tmp_path, tess_names(words=("bath",), speakers=("YAF",)), with_quirks=False)
    folder = root / TESS_WRAPPER
    shutil.move(folder / "YAF_sad" / "YAF_bath_sad.wav", folder / "YAF_happy" / "YAF_bath_sad.wav")
    with pytest.raises(
        CorpusFileError, match=r"YAF_bath_sad.wav: the file name says YAF sad .*YAF_happy/"
    ):
        load_corpus("tess", root)


def test_bad_file_name_is_an_error_naming_the_file(tmp_path):
    root = write_tess(tmp_path, tess_names(words=("bath",)), layout="flat", with_quirks=False)
    shutil.copy(root / "OAF_bath_angry.wav", root / "OAF_bath_calm.wav")
    with pytest.raises(CorpusFileError, match=r"OAF_bath_calm.wav: unknown TESS emotion 'calm'"):
        load_corpus("tess", root)


def test_wrong_folder_says_which_layout_was_expected(tmp_path):
    with pytest.raises(CorpusLayoutError, match=r"does not exist; expected TESS files.*10.5683"):
        load_corpus("tess", tmp_path / "missing")
    with pytest.raises(CorpusLayoutError, match=r"no .wav files found; expected TESS files"):
        load_corpus("tess", tmp_path)
