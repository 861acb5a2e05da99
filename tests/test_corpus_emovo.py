"""EMOVO loader: file-name grammar, speaker folders, layout checks, quirks, label selection."""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import pytest

from sertune.audio import load_audio
from sertune.data import load_corpus, speaker_independent_folds
from sertune.data.corpora.emovo import NATIVE_TO_COMMON, SENTENCES, SPEAKERS, parse_filename
from sertune.errors import CorpusFileError, CorpusLayoutError

from fixture_emovo import write_emovo


@pytest.fixture(scope="module")
def emovo_root(tmp_path_factory):
    return write_emovo(tmp_path_factory.mktemp("emovo"))


@pytest.mark.parametrize(
    ("name", "emotion", "speaker", "sentence", "label", "gender"),
    [
        ("dis-f1-b1.wav", "dis", "f1", "b1", "disgust", "female"),
        ("gio-m3-l5.wav", "gio", "m3", "l5", "happy", "male"),
        ("neu-f2-n1.wav", "neu", "f2", "n1", "neutral", "female"),
        ("pau-m1-d2.wav", "pau", "m1", "d2", "fear", "male"),
        ("rab-f3-l1.wav", "rab", "f3", "l1", "angry", "female"),
        ("sor-m2-n5.wav", "sor", "m2", "n5", "surprise", "male"),
        ("tri-f1-d1.wav", "tri", "f1", "d1", "sad", "female"),
        ("Tri-F1-D1.WAV", "tri", "f1", "d1", "sad", "female"),  # case does not matter
        ("/corpora/EMOVO/m2/dis-m2-b2.wav", "dis", "m2", "b2", "disgust", "male"),
    ],
)
def test_parse_filename(name, emotion, speaker, sentence, label, gender):
    parsed = parse_filename(name)
    assert (parsed.native_label, parsed.speaker, parsed.sentence) == (emotion, speaker, sentence)
    assert (parsed.label, parsed.gender) == (label, gender)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("dis-f1-b1.mp3", "not an EMOVO file name"),
        ("dis_f1_b1.wav", "not an EMOVO file name"),
        ("dis-f1-b10.wav", "not an EMOVO file name"),
        ("col-f1-b1.wav", "unknown EMOVO emotion 'col'"),
        ("dis-f4-b1.wav", "unknown EMOVO speaker 'f4'"),
        ("dis-x1-b1.wav", "unknown EMOVO speaker 'x1'"),
        ("dis-f1-b3.wav", "unknown EMOVO sentence 'b3'"),
        ("dis-f1-l6.wav", "unknown EMOVO sentence 'l6'"),
    ],
)
def test_parse_filename_rejects(name, message):
    with pytest.raises(CorpusFileError, match=message) as caught:
        parse_filename(name)
    assert name in str(caught.value)


def test_tables_and_registration():
    assert len(NATIVE_TO_COMMON) == 7 and len(set(NATIVE_TO_COMMON.values())) == 7
    assert len(SENTENCES) == 14
    assert Counter(SPEAKERS.values()) == {"female": 3, "male": 3}
    assert len(SPEAKERS) * len(NATIVE_TO_COMMON) * len(SENTENCES) == 588


def test_load_fixture(emovo_root, caplog):
    with caplog.at_level(logging.WARNING, logger="sertune"):
        ds = load_corpus("emovo", emovo_root)
    assert len(ds) == 3 * 7 * 2
    names = ds.features["label"].names

    row = ds[ds["id"].index("rab-m2-d2")]
    assert (names[row["label"]], row["speaker"], row["gender"], row["corpus"]) == (
        "angry",
        "m2",
        "male",
        "emovo",
    )
    assert (row["sentence"], row["native_label"]) == ("d2", "rab")
    assert row["audio"]["path"].endswith("m2/rab-m2-d2.wav")

    row = ds[ds["id"].index("gio-f1-d2")]  # written as gio-f1-d2.WAV
    assert (names[row["label"]], row["gender"]) == ("happy", "female")
    assert row["audio"]["path"].endswith("f1/gio-f1-d2.WAV")

    assert Counter(ds["speaker"]) == {"f1": 14, "f3": 14, "m2": 14}
    assert Counter(ds["gender"]) == {"female": 28, "male": 14}
    assert Counter(names[i] for i in ds["label"]) == dict.fromkeys(names, 6)
    assert ".DS_Store" in caplog.text and "documents/" in caplog.text

    # 48 kHz, 16 kHz and stereo files all decode to 16 kHz mono.
    for row_id in ("dis-f1-b1", "dis-f1-d2", "gio-f1-b1"):
        audio = load_audio(ds[ds["id"].index(row_id)]["audio"])
        assert audio.ndim == 1 and audio.dtype == np.float32 and len(audio) == 3200


def test_label_selection_and_loso(emovo_root):
    merged = {"neutral": "neutral", "happy": "happy", "surprise": "happy"}
    ds = load_corpus("emovo", emovo_root, labels=merged)
    assert ds.features["label"].names == ["happy", "neutral"]
    assert Counter(ds.features["label"].int2str(ds["label"])) == {"happy": 12, "neutral": 6}
    four = load_corpus("emovo", emovo_root, labels=["neutral", "happy", "sad", "angry"])
    assert len(four) == 3 * 4 * 2 and set(four["native_label"]) == {"neu", "gio", "tri", "rab"}
    folds = speaker_independent_folds(four, "loso", seed=0)
    assert [fold.test_speakers for fold in folds] == [("f1",), ("f3",), ("m2",)]


def test_archive_folder_is_accepted(tmp_path):
    write_emovo(tmp_path / "EMOVO", speakers=("m1",), sentences=("n3",), quirks=False)
    ds = load_corpus("emovo", tmp_path)
    assert len(ds) == 7 and set(ds["speaker"]) == {"m1"}


def test_layout_errors_say_what_was_expected(tmp_path, emovo_root):
    with pytest.raises(CorpusLayoutError, match=r"does not exist; expected the EMOVO layout"):
        load_corpus("emovo", tmp_path / "missing")
    with pytest.raises(CorpusLayoutError, match=r"no EMOVO speaker folder found; expected"):
        load_corpus("emovo", tmp_path)
    with pytest.raises(CorpusLayoutError, match=r"gave a speaker folder; pass"):
        load_corpus("emovo", emovo_root / "m2")
    (tmp_path / "empty" / "f2").mkdir(parents=True)
    with pytest.raises(CorpusLayoutError, match=r"no \.wav files found"):
        load_corpus("emovo", tmp_path / "empty")


def test_bad_names_are_errors_naming_the_file(tmp_path):
    root = write_emovo(tmp_path / "a", speakers=("f2",), sentences=("b1",), quirks=False)
    (root / "f2" / "dis-m1-b1.wav").write_bytes((root / "f2" / "dis-f2-b1.wav").read_bytes())
    with pytest.raises(CorpusFileError, match=r"dis-m1-b1.wav: file of speaker m1 in folder f2"):
        load_corpus("emovo", root)
    root = write_emovo(tmp_path / "b", speakers=("f2",), sentences=("b1",), quirks=False)
    (root / "f2" / "ans-f2-b1.wav").write_bytes(b"RIFF")
    with pytest.raises(CorpusFileError, match=r"ans-f2-b1.wav: unknown EMOVO emotion 'ans'"):
        load_corpus("emovo", root)
    root = write_emovo(tmp_path / "c", speakers=("f2",), sentences=("b1",), quirks=False)
    (root / "f2" / "DIS-F2-B1.wav").write_bytes(b"RIFF")
    with pytest.raises(CorpusFileError, match=r"a second file for dis-f2-b1"):
        load_corpus("emovo", root)
