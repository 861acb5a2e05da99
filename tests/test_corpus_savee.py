"""SAVEE loader: file-name grammar, AudioData/ and flat ALL/ layouts, layout errors."""

from __future__ import annotations

import logging
import shutil
from collections import Counter

import numpy as np
import pytest

from sertune.audio import load_audio
from sertune.data import load_corpus
from sertune.data.corpora.savee import NATIVE_TO_COMMON, SPEAKERS, parse_filename
from sertune.errors import CorpusFileError, CorpusLayoutError

from fixture_savee import savee_names, write_savee


@pytest.fixture(scope="module")
def savee_root(tmp_path_factory):
    """4 speakers x 7 emotions x 2 sentences in the AudioData/ layout."""
    return write_savee(tmp_path_factory.mktemp("savee"))


@pytest.mark.parametrize(
    ("name", "speaker", "native", "number", "label"),
    [
        ("AudioData/DC/a01.wav", "DC", "a", 1, "angry"),
        ("AudioData/JE/d15.wav", "JE", "d", 15, "disgust"),
        ("AudioData/JK/f07.wav", "JK", "f", 7, "fear"),
        ("AudioData/KL/h11.wav", "KL", "h", 11, "happy"),
        ("AudioData/DC/n30.wav", "DC", "n", 30, "neutral"),
        ("AudioData/JE/sa03.wav", "JE", "sa", 3, "sad"),
        ("AudioData/KL/su15.WAV", "KL", "su", 15, "surprise"),
        ("ALL/DC_a01.wav", "DC", "a", 1, "angry"),
        ("JK_sa12.wav", "JK", "sa", 12, "sad"),
        ("/data/ALL/KL_su02.wav", "KL", "su", 2, "surprise"),
    ],
)
def test_parse_filename(name, speaker, native, number, label):
    parsed = parse_filename(name)
    assert (parsed.speaker, parsed.native_label, parsed.sentence_number, parsed.label) == (
        speaker,
        native,
        number,
        label,
    )
    assert parsed.utterance_id == f"{speaker}_{native}{number:02d}"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("AudioData/DC/a1.wav", "not a SAVEE file name"),
        ("AudioData/DC/x01.wav", "not a SAVEE file name"),
        ("AudioData/DC/s01.wav", "not a SAVEE file name"),
        ("AudioData/DC/a01.mp3", "not a SAVEE file name"),
        ("AudioData/XX/a01.wav", r"unknown SAVEE speaker 'XX' \(from the folder name\)"),
        ("a01.wav", r"unknown SAVEE speaker '' \(from the folder name\)"),
        ("ALL/AB_a01.wav", r"unknown SAVEE speaker 'AB' \(from the file name\)"),
        ("AudioData/DC/a16.wav", "sentence number 16 is outside 1-15 for emotion 'a'"),
        ("AudioData/DC/su00.wav", "sentence number 0 is outside 1-15 for emotion 'su'"),
        ("AudioData/DC/n31.wav", "sentence number 31 is outside 1-30 for emotion 'n'"),
    ],
)
def test_parse_filename_rejects(name, message):
    with pytest.raises(CorpusFileError, match=message) as caught:
        parse_filename(name)
    assert name in str(caught.value)


def test_tables_are_complete():
    assert sorted(NATIVE_TO_COMMON) == ["a", "d", "f", "h", "n", "sa", "su"]
    assert dict.fromkeys(("DC", "JE", "JK", "KL"), "male") == SPEAKERS


def test_load_fixture(savee_root):
    ds = load_corpus("savee", savee_root)
    assert len(ds) == 4 * 7 * 2
    assert Counter(ds["speaker"]) == dict.fromkeys(SPEAKERS, 14)
    assert set(ds["gender"]) == {"male"}

    row = ds[ds["id"].index("JK_sa15")]
    assert ds.features["label"].int2str(row["label"]) == "sad"
    assert (row["speaker"], row["gender"], row["corpus"]) == ("JK", "male", "savee")
    assert (row["sentence_number"], row["native_label"]) == (15, "sa")
    assert row["audio"]["path"].endswith("AudioData/JK/sa15.wav")

    row = ds[ds["id"].index("DC_n30")]
    assert ds.features["label"].int2str(row["label"]) == "neutral"
    assert (row["sentence_number"], row["native_label"]) == (30, "n")
    # The first file is stereo, the second 48 kHz: both decode to mono at 16 kHz.
    for row_id in ("DC_a01", "DC_a15"):
        audio = load_audio(ds[ds["id"].index(row_id)]["audio"])
        assert audio.dtype == np.float32 and audio.ndim == 1 and len(audio) == 4800


def test_flat_layout_gives_the_same_rows(savee_root, tmp_path):
    flat = load_corpus("savee", write_savee(tmp_path, layout="ALL"))
    nested = load_corpus("savee", savee_root)
    assert sorted(flat["id"]) == sorted(nested["id"])
    row = flat[flat["id"].index("KL_su01")]
    assert row["audio"]["path"].endswith("ALL/KL_su01.wav")
    assert (row["speaker"], row["sentence_number"], row["native_label"]) == ("KL", 1, "su")


def test_both_layouts_present_reads_audiodata(tmp_path, caplog):
    root = write_savee(tmp_path, savee_names(speakers=("DC",)), with_quirks=False)
    write_savee(tmp_path, savee_names(speakers=("JE",)), layout="ALL", with_quirks=False)
    with caplog.at_level(logging.WARNING, logger="sertune"):
        ds = load_corpus("savee", root)
    assert set(ds["speaker"]) == {"DC"}
    assert "reading AudioData/ and ignoring ALL/" in caplog.text


def test_labels_selection(savee_root):
    ds = load_corpus("savee", savee_root, labels=["neutral", "happy", "sad", "angry"])
    names = ds.features["label"].names
    assert names == ["angry", "happy", "neutral", "sad"]
    assert Counter(names[label] for label in ds["label"]) == dict.fromkeys(names, 8)


def test_stray_files_are_listed_in_a_warning(savee_root, caplog):
    with caplog.at_level(logging.WARNING, logger="sertune"):
        load_corpus("savee", savee_root)
    assert "ignoring 1 entries" in caplog.text and "Info.txt" in caplog.text


def test_bad_files_are_errors_naming_the_file(tmp_path):
    root = write_savee(tmp_path, savee_names(speakers=("DC",)), with_quirks=False)
    audio_data = root / "AudioData"
    shutil.copy(audio_data / "DC" / "a01.wav", audio_data / "DC" / "a16.wav")
    with pytest.raises(CorpusFileError, match=r"DC/a16.wav: SAVEE sentence number 16"):
        load_corpus("savee", root)
    (audio_data / "DC" / "a16.wav").unlink()
    (audio_data / "XY").mkdir()
    shutil.copy(audio_data / "DC" / "a01.wav", audio_data / "XY" / "a01.wav")
    with pytest.raises(CorpusFileError, match=r"XY/a01.wav: unknown SAVEE speaker 'XY'"):
        load_corpus("savee", root)
    shutil.rmtree(audio_data / "XY")
    shutil.copy(audio_data / "DC" / "a01.wav", audio_data / "a01.wav")
    with pytest.raises(CorpusFileError, match=r"AudioData/a01.wav: files in AudioData/ are"):
        load_corpus("savee", root)
    (audio_data / "a01.wav").unlink()
    shutil.copy(audio_data / "DC" / "a01.wav", audio_data / "DC" / "JE_a01.wav")
    with pytest.raises(CorpusFileError, match=r"JE_a01.wav: speaker JE .* in DC/"):
        load_corpus("savee", root)


def test_wrong_folder_says_which_layout_was_expected(tmp_path, savee_root):
    with pytest.raises(CorpusLayoutError, match=r"does not exist; expected the SAVEE layout"):
        load_corpus("savee", tmp_path / "missing")
    with pytest.raises(CorpusLayoutError, match=r"no AudioData/ or ALL/ folder; .*register at"):
        load_corpus("savee", tmp_path)
    with pytest.raises(CorpusLayoutError, match="gave the AudioData/ folder itself"):
        load_corpus("savee", savee_root / "AudioData")
    (tmp_path / "AudioData.zip").write_bytes(b"PK")
    with pytest.raises(CorpusLayoutError, match="found AudioData.zip: unzip it first"):
        load_corpus("savee", tmp_path)
    (tmp_path / "AudioData").mkdir()
    with pytest.raises(CorpusLayoutError, match="no .wav files found"):
        load_corpus("savee", tmp_path)
    flat = write_savee(tmp_path / "flat", savee_names(speakers=("DC",)), layout="ALL")
    with pytest.raises(CorpusLayoutError, match="gave the ALL/ folder itself"):
        load_corpus("savee", flat / "ALL")
