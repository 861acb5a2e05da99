"""MSP-Podcast loader: file names, labels_consensus.csv, layout checks, fixture copy."""

from __future__ import annotations

import logging
import shutil
from collections import Counter

import numpy as np
import pytest

from sertune.audio import load_audio
from sertune.data import load_corpus
from sertune.data.corpora.msp_podcast import (
    NATIVE_LABELS,
    NATIVE_TO_COMMON,
    load_msp_podcast,
    parse_filename,
    read_labels,
)
from sertune.errors import CorpusFileError, CorpusLayoutError

from fixture_msp_podcast import MSP_PODCAST_HEADER, MSP_PODCAST_ROWS, write_msp_podcast

FOUR_CLASS = ["neutral", "happy", "sad", "angry"]


@pytest.fixture(scope="module")
def msp(tmp_path_factory):
    return write_msp_podcast(tmp_path_factory.mktemp("msp_podcast"))


def _labels(ds) -> Counter:
    names = ds.features["label"].names
    return Counter(names[index] for index in ds["label"])


def _write_csv(path, header, rows):
    lines = [",".join(header), *(",".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("name", "podcast", "segment", "part"),
    [
        ("MSP-PODCAST_0001_0008.wav", "0001", "0008", None),
        ("MSP-PODCAST_2198_0087.wav", "2198", "0087", None),
        ("MSP-PODCAST_0700_0150_0001.wav", "0700", "0150", "0001"),
        ("MSP-PODCAST_0866_0074_0002.WAV", "0866", "0074", "0002"),
        ("/data/MSP-Podcast/Audios/MSP-PODCAST_3006_0007.wav", "3006", "0007", None),
    ],
)
def test_parse_filename(name, podcast, segment, part):
    parsed = parse_filename(name)
    assert (parsed.podcast, parsed.segment, parsed.part) == (podcast, segment, part)


@pytest.mark.parametrize(
    "name",
    [
        "MSP-PODCAST_0001_0008.flac",
        "MSP-PODCAST_001_0008.wav",
        "MSP-PODCAST_0001_08.wav",
        "MSP-PODCAST_0001.wav",
        "MSP_PODCAST_0001_0008.wav",
        "MSP-IMPROV_0001_0008.wav",
        "MSP-PODCAST_0001_0008_01.wav",
    ],
)
def test_parse_filename_rejects(name):
    with pytest.raises(CorpusFileError, match="not an MSP-Podcast file name") as caught:
        parse_filename(name)
    assert name in str(caught.value)


def test_mapping_constants():
    assert set(NATIVE_LABELS) - set(NATIVE_TO_COMMON) == {"C", "O", "X"}


def test_load_fixture(msp, caplog):
    with caplog.at_level(logging.INFO, logger="sertune"):
        ds = load_corpus("msp_podcast", msp)
    assert len(ds) == 10
    assert "dropped 3 of 13 rows whose EmoClass has no common label" in caplog.text
    assert "{'C': 1, 'O': 1, 'X': 1}" in caplog.text
    assert _labels(ds) == {
        "neutral": 2,
        "happy": 2,
        "angry": 2,
        "sad": 1,
        "surprise": 1,
        "fear": 1,
        "disgust": 1,
    }
    assert Counter(ds["partition"]) == {
        "train": 4,
        "test1": 2,
        "test2": 2,
        "development": 1,
        "test3": 1,
    }

    rows = {row["id"]: row for row in ds}
    row = rows["MSP-PODCAST_0001_0009"]
    assert (row["speaker"], row["gender"], row["partition"], row["podcast"]) == (
        "39",
        "male",
        "test1",
        "0001",
    )
    assert ds.features["label"].int2str(row["label"]) == "happy"
    assert row["native_label"] == "H" and row["corpus"] == "msp_podcast"
    assert row["activation"] == pytest.approx(3.777778)
    assert row["valence"] == pytest.approx(5.555556)
    assert row["dominance"] == pytest.approx(3.777778)
    assert row["audio"]["path"].endswith("Audios/MSP-PODCAST_0001_0009.wav")

    row = rows["MSP-PODCAST_0700_0150_0001"]
    assert (row["speaker"], row["gender"], row["podcast"], row["native_label"]) == (
        "1088",
        "male",
        "0700",
        "D",
    )
    row = rows["MSP-PODCAST_0002_0034"]  # written as .WAV
    assert row["audio"]["path"].endswith("MSP-PODCAST_0002_0034.WAV")
    assert (row["speaker"], row["gender"], row["partition"]) == ("127", "female", "train")

    # Each unidentified speaker is a speaker of its own, with the CSV's gender.
    unknown = {
        rows[i]["speaker"]: rows[i]["gender"] for i in rows if i.startswith("MSP-PODCAST_1111")
    }
    assert unknown == {
        "unknown-MSP-PODCAST_1111_0042": "unknown",
        "unknown-MSP-PODCAST_1111_0043": "female",
    }
    assert rows["MSP-PODCAST_3006_0007"]["speaker"] == "unknown-MSP-PODCAST_3006_0007"
    assert len(set(ds["speaker"])) == 9
    # Stereo, 24-bit 44.1 kHz files decode to 16 kHz mono.
    for name in ("MSP-PODCAST_0001_0008", "MSP-PODCAST_0002_0033"):
        audio = load_audio(rows[name]["audio"])
        assert audio.dtype == np.float32 and audio.ndim == 1 and 3000 < len(audio) < 9000


def test_four_class_selection(msp):
    ds = load_corpus("msp_podcast", msp, labels=FOUR_CLASS)
    assert ds.features["label"].names == ["angry", "happy", "neutral", "sad"]
    assert _labels(ds) == {"neutral": 2, "happy": 2, "angry": 2, "sad": 1}
    assert "partition" in ds.column_names


def test_audio_folder_named_audio(tmp_path):
    root = write_msp_podcast(tmp_path, audio_folder="Audio", quirks=False)
    ds = load_corpus("msp_podcast", root)
    assert len(ds) == 10
    assert all("/Audio/MSP-PODCAST_" in row["path"] for row in ds["audio"])


def test_layout_errors(tmp_path, msp):
    with pytest.raises(CorpusLayoutError, match="does not exist; expected the official MSP"):
        load_corpus("msp_podcast", tmp_path / "missing")
    with pytest.raises(CorpusLayoutError, match=r"no Audios/ folder; expected.*Labels/labels_"
                       r"consensus.csv.*msp-lab/MSP-Podcast.html"):  # fmt: skip
        load_corpus("msp_podcast", tmp_path)
    with pytest.raises(CorpusLayoutError, match="gave the Audios/ folder itself"):
        load_corpus("msp_podcast", msp / "Audios")
    only_audio = tmp_path / "only_audio"
    shutil.copytree(msp / "Audios", only_audio / "Audios")
    with pytest.raises(CorpusLayoutError, match="no Labels/labels_consensus.csv"):
        load_corpus("msp_podcast", only_audio)
    (only_audio / "Audio").mkdir()
    with pytest.raises(CorpusLayoutError, match="both Audios/ and Audio/ exist"):
        load_corpus("msp_podcast", only_audio)


def test_download_is_refused_with_instructions(msp):
    with pytest.raises(ValueError, match=r"msp-lab/MSP-Podcast.html.*license"):
        load_msp_podcast(msp, download=True)


def test_missing_column_names_file_and_column(tmp_path):
    path = tmp_path / "labels_consensus.csv"
    header = [column for column in MSP_PODCAST_HEADER if column != "Split_Set"]
    _write_csv(path, header, [row[:-1] for row in MSP_PODCAST_ROWS[:2]])
    with pytest.raises(CorpusFileError, match=f"{path}: missing column 'Split_Set'"):
        read_labels(path)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("EmoClass", "Q", "unknown EmoClass 'Q' for MSP-PODCAST_0001_0008.wav"),
        ("Split_Set", "Validation", "unknown Split_Set 'Validation'"),
        ("Gender", "Other", "unknown Gender 'Other'"),
        ("EmoAct", "high", "EmoAct is not a number: 'high'"),
        ("FileName", "podcast_1.wav", "podcast_1.wav: not an MSP-Podcast file name"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, column, value, message):
    path = tmp_path / "labels_consensus.csv"
    first = list(MSP_PODCAST_ROWS[0])
    first[MSP_PODCAST_HEADER.index(column)] = value
    _write_csv(path, MSP_PODCAST_HEADER, [MSP_PODCAST_ROWS[1], first])
    with pytest.raises(CorpusFileError, match=message) as caught:
        read_labels(path)
    assert f"{path}:3: " in str(caught.value)


def test_read_labels_details(tmp_path):
    path = tmp_path / "labels_consensus.csv"
    rows = [
        ("MSP-PODCAST_0001_0008.wav", "N", "2.2", "4.0", "2.6", "30", "male", "Test1"),
        ("MSP-PODCAST_0001_0010.wav", "", "", "", "", "unknown", "", "Test3"),
    ]
    path.write_bytes(("\ufeff" + ",".join(MSP_PODCAST_HEADER) + "\r\n").encode() + b"".join(
        (",".join(row) + "\r\n").encode() for row in rows))  # fmt: skip
    first, second = read_labels(path)
    assert (first.gender, first.speaker, first.partition) == ("male", "30", "test1")
    assert (second.native_label, second.activation, second.gender) == ("", None, "unknown")
    assert second.speaker == "unknown-MSP-PODCAST_0001_0010"
    _write_csv(path, MSP_PODCAST_HEADER, [rows[0], rows[0]])
    with pytest.raises(CorpusFileError, match=r":3: MSP-PODCAST_0001_0008.wav is also on line 2"):
        read_labels(path)


def test_missing_and_unlisted_audio_are_warnings(tmp_path, caplog):
    root = write_msp_podcast(tmp_path, quirks=False)
    (root / "Audios" / "MSP-PODCAST_0004_0012.wav").unlink()
    shutil.copy(
        root / "Audios" / "MSP-PODCAST_0001_0008.wav", root / "Audios" / "MSP-PODCAST_9999_0001.wav"
    )
    (root / "Audios" / ".DS_Store").write_bytes(b"\0")
    (root / "Audios" / "MSP-PODCAST_0001_0008.txt").write_text("x")
    with caplog.at_level(logging.WARNING, logger="sertune"):
        ds = load_corpus("msp_podcast", root)
    assert len(ds) == 9
    assert "MSP-PODCAST_0004_0012" not in ds["id"] and "MSP-PODCAST_9999_0001" not in ds["id"]
    assert "1 rows of" in caplog.text and "['MSP-PODCAST_0004_0012.wav']" in caplog.text
    assert "1 audio files in" in caplog.text and "['MSP-PODCAST_9999_0001.wav']" in caplog.text
    assert "ignoring 2 entries that are not .wav audio files" in caplog.text
    assert ".DS_Store" in caplog.text and "MSP-PODCAST_0001_0008.txt" in caplog.text


def test_empty_emoclass_is_dropped_and_counted(tmp_path, caplog):
    rows = [*MSP_PODCAST_ROWS[:2], ("MSP-PODCAST_3006_0008.wav", "", "", "", "", "Unknown",
                                    "Unknown", "Test3")]  # fmt: skip
    root = write_msp_podcast(tmp_path, rows, quirks=False)
    with caplog.at_level(logging.INFO, logger="sertune"):
        ds = load_corpus("msp_podcast", root)
    assert len(ds) == 2
    assert "{'(empty)': 1}" in caplog.text
