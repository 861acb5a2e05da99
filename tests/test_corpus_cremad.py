"""CREMA-D loader: file-name grammar, demographics, git-lfs stubs, layout errors."""

from __future__ import annotations

import logging
import shutil
from collections import Counter

import numpy as np
import pytest

from sertune.audio import load_audio
from sertune.data import load_corpus
from sertune.data.corpora.cremad import (
    NATIVE_TO_COMMON,
    SENTENCES,
    parse_filename,
    read_demographics,
)
from sertune.errors import CorpusFileError, CorpusLayoutError

from fixture_cremad import cremad_names, write_cremad


@pytest.fixture(scope="module")
def cremad_root(tmp_path_factory):
    """4 actors x 9 clips, plus 1040_ITH_SAD_X.wav, with VideoDemographics.csv."""
    return write_cremad(tmp_path_factory.mktemp("cremad"))


@pytest.mark.parametrize(
    ("name", "fields", "label"),
    [
        ("1001_DFA_ANG_XX.wav", ("1001", "DFA", "ANG", "XX"), "angry"),
        ("1091_WSI_SAD_XX.wav", ("1091", "WSI", "SAD", "XX"), "sad"),
        ("1002_IEO_DIS_LO.wav", ("1002", "IEO", "DIS", "LO"), "disgust"),
        ("1003_IEO_FEA_MD.wav", ("1003", "IEO", "FEA", "MD"), "fear"),
        ("1005_IEO_HAP_HI.wav", ("1005", "IEO", "HAP", "HI"), "happy"),
        ("1076_MTI_NEU_XX.WAV", ("1076", "MTI", "NEU", "XX"), "neutral"),
        ("1040_ITH_SAD_X.wav", ("1040", "ITH", "SAD", "XX"), "sad"),  # pre-2022 spelling
        ("/clone/AudioWAV/1019_TSI_HAP_XX.wav", ("1019", "TSI", "HAP", "XX"), "happy"),
    ],
)
def test_parse_filename(name, fields, label):
    parsed = parse_filename(name)
    assert (parsed.actor, parsed.sentence, parsed.native_label, parsed.intensity) == fields
    assert parsed.label == label
    assert parsed.clip_id == "_".join(fields)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("1001_DFA_ANG_XX.mp3", "not a CREMA-D file name"),
        ("1001_DFA_ANG.wav", "not a CREMA-D file name"),
        ("1001_dfa_ang_xx.wav", "not a CREMA-D file name"),
        ("101_DFA_ANG_XX.wav", "not a CREMA-D file name"),
        ("1000_DFA_ANG_XX.wav", "unknown CREMA-D actor '1000'; actors are 1001-1091"),
        ("1092_DFA_ANG_XX.wav", "unknown CREMA-D actor '1092'"),
        ("1001_ABC_ANG_XX.wav", "unknown CREMA-D sentence 'ABC'"),
        ("1001_DFA_SUR_XX.wav", "unknown CREMA-D emotion 'SUR'"),
        ("1001_IEO_ANG_ME.wav", "unknown CREMA-D intensity 'ME'"),
        ("1001_IEO_ANG_H.wav", "unknown CREMA-D intensity 'H'"),
    ],
)
def test_parse_filename_rejects(name, message):
    with pytest.raises(CorpusFileError, match=message) as caught:
        parse_filename(name)
    assert name in str(caught.value)


def test_tables_are_complete():
    assert sorted(NATIVE_TO_COMMON) == ["ANG", "DIS", "FEA", "HAP", "NEU", "SAD"]
    assert len(SENTENCES) == 12


def test_load_fixture(cremad_root):
    ds = load_corpus("cremad", cremad_root)
    assert len(ds) == 4 * 9 + 1
    assert Counter(ds["speaker"]) == {"1001": 9, "1002": 9, "1040": 10, "1091": 9}

    row = ds[ds["id"].index("1091_IEO_SAD_LO")]
    assert ds.features["label"].int2str(row["label"]) == "sad"
    assert (row["speaker"], row["gender"], row["age"], row["corpus"]) == (
        "1091",
        "female",
        29,
        "cremad",
    )
    assert (row["race"], row["ethnicity"]) == ("Asian", "Not Hispanic")
    assert (row["sentence"], row["text"], row["intensity"], row["native_label"]) == (
        "IEO",
        "It's eleven o'clock",
        "low",
        "SAD",
    )
    row = ds[ds["id"].index("1001_DFA_NEU_XX")]
    assert (row["gender"], row["age"], row["intensity"], row["text"]) == (
        "male",
        51,
        "unspecified",
        "Don't forget a jacket",
    )
    # The pre-2022 name keeps its path but gets today's id.
    row = ds[ds["id"].index("1040_ITH_SAD_XX")]
    assert row["audio"]["path"].endswith("AudioWAV/1040_ITH_SAD_X.wav")
    assert (row["gender"], row["intensity"]) == ("male", "unspecified")
    # The first clip is stereo.
    audio = load_audio(ds[ds["id"].index("1001_DFA_ANG_XX")]["audio"])
    assert audio.dtype == np.float32 and audio.ndim == 1


def test_without_demographics_gender_is_unknown_with_one_warning(tmp_path, caplog):
    root = write_cremad(tmp_path, cremad_names(actors=("1001", "1002")), with_demographics=False)
    with caplog.at_level(logging.WARNING, logger="sertune"):
        ds = load_corpus("cremad", root)
    assert set(ds["gender"]) == {"unknown"}
    assert "age" not in ds.column_names and "race" not in ds.column_names
    warnings = [r for r in caplog.records if "VideoDemographics.csv not found" in r.getMessage()]
    assert len(warnings) == 1
    assert "gender is 'unknown'" in warnings[0].getMessage()


def test_read_demographics_rejects_bad_rows(tmp_path):
    path = tmp_path / "VideoDemographics.csv"
    path.write_text(
        '\ufeff"ActorID","Age","Sex","Race","Ethnicity"\n1001,51,"Male","Caucasian","Not Hispanic"\n'
    )
    assert read_demographics(path)["1001"].gender == "male"  # a BOM is tolerated
    path.write_text(
        '"ActorID","Age","Sex","Race","Ethnicity"\n1001,51,"M","Caucasian","Not Hispanic"\n'
    )
    with pytest.raises(CorpusFileError, match=r"VideoDemographics.csv:2: Sex is 'M'"):
        read_demographics(path)
    path.write_text('"ActorID","Age","Sex","Race","Ethnicity"\n1001,old,"Male","Caucasian","x"\n')
    with pytest.raises(CorpusFileError, match=r"VideoDemographics.csv:2: Age 'old'"):
        read_demographics(path)
    path.write_text('"ActorID","Age","Gender"\n1001,51,"Male"\n')
    with pytest.raises(CorpusFileError, match=r"missing columns \['Sex', 'Race', 'Ethnicity'\]"):
        read_demographics(path)


def test_actor_missing_from_demographics_is_an_error(tmp_path):
    root = write_cremad(tmp_path, cremad_names(actors=("1001", "1003")))
    with pytest.raises(CorpusFileError, match=r"1003_DFA_ANG_XX.wav: actor 1003 is not listed"):
        load_corpus("cremad", root)


def test_bad_file_name_is_an_error_naming_the_file(tmp_path):
    root = write_cremad(tmp_path, cremad_names(actors=("1001",)))
    shutil.copy(
        root / "AudioWAV" / "1001_DFA_ANG_XX.wav", root / "AudioWAV" / "1001_DFA_XXX_XX.wav"
    )
    with pytest.raises(CorpusFileError, match=r"1001_DFA_XXX_XX.wav: unknown CREMA-D emotion"):
        load_corpus("cremad", root)


def test_old_and_new_spelling_of_one_clip_is_an_error(tmp_path):
    root = write_cremad(tmp_path, cremad_names(actors=("1040",)))
    shutil.copy(root / "AudioWAV" / "1040_ITH_SAD_X.wav", root / "AudioWAV" / "1040_ITH_SAD_XX.wav")
    with pytest.raises(CorpusFileError, match=r"the same clip as .*1040_ITH_SAD_X"):
        load_corpus("cremad", root)


def test_git_lfs_stubs_are_reported(tmp_path):
    root = write_cremad(tmp_path, cremad_names(actors=("1001",)))
    stub = (
        "version https://git-lfs.github.com/spec/v1\n"
        "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
        "size 12345\n"
    )
    for path in (root / "AudioWAV").glob("*.wav"):
        path.write_text(stub)
    with pytest.raises(CorpusLayoutError, match=r"9 of 9 .wav files are git-lfs pointer stubs"):
        load_corpus("cremad", root)


def test_stray_files_are_listed_in_a_warning(cremad_root, caplog):
    with caplog.at_level(logging.WARNING, logger="sertune"):
        load_corpus("cremad", cremad_root)
    assert "ignoring 1 entries" in caplog.text and ".DS_Store" in caplog.text
    assert "AudioMP3" not in caplog.text  # other repository folders are not scanned


def test_labels_selection(cremad_root):
    four = load_corpus("cremad", cremad_root, labels=["neutral", "happy", "sad", "angry"])
    names = four.features["label"].names
    assert names == ["angry", "happy", "neutral", "sad"]
    assert Counter(names[label] for label in four["label"]) == {
        "angry": 8,
        "happy": 8,
        "neutral": 4,
        "sad": 9,
    }


def test_wrong_folder_says_which_layout_was_expected(tmp_path, cremad_root):
    with pytest.raises(CorpusLayoutError, match=r"does not exist; expected the CREMA-D.*git lfs"):
        load_corpus("cremad", tmp_path / "missing")
    with pytest.raises(CorpusLayoutError, match=r"no AudioWAV/ folder; expected.*1001_DFA_ANG_XX"):
        load_corpus("cremad", tmp_path)
    with pytest.raises(CorpusLayoutError, match="gave the AudioWAV/ folder itself"):
        load_corpus("cremad", cremad_root / "AudioWAV")
    (tmp_path / "new" / "data" / "AudioWAV").mkdir(parents=True)
    with pytest.raises(CorpusLayoutError, match="found data/AudioWAV/"):
        load_corpus("cremad", tmp_path / "new")
    with pytest.raises(CorpusLayoutError, match="no .wav files found"):
        load_corpus("cremad", tmp_path / "new" / "data")
