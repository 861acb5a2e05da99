"""CASIA loader: path grammar, speakers, layout checks, quirks of real copies, label selection."""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import pytest

from sertune.audio import load_audio
from sertune.data import load_corpus, speaker_independent_folds
from sertune.data.corpora.casia import NATIVE_TO_COMMON, SPEAKERS, parse_path
from sertune.errors import CorpusFileError, CorpusLayoutError

from fixture_casia import write_casia


@pytest.fixture(scope="module")
def casia_root(tmp_path_factory):
    return write_casia(tmp_path_factory.mktemp("casia"))


@pytest.mark.parametrize(
    ("path", "speaker", "emotion", "sentence", "label", "gender"),
    [
        ("liuchanhg/angry/201.wav", "liuchanhg", "angry", 201, "angry", "female"),
        ("wangzhe/fear/202.wav", "wangzhe", "fear", 202, "fear", "male"),
        ("zhaoquanyin/happy/250.wav", "zhaoquanyin", "happy", 250, "happy", "female"),
        ("ZhaoZuoxiang/neutral/233.wav", "ZhaoZuoxiang", "neutral", 233, "neutral", "male"),
        ("/data/casia/wangzhe/sad/210.WAV", "wangzhe", "sad", 210, "sad", "male"),
        # Speaker folders are matched without regard to case; the canonical spelling is kept.
        ("zhaozuoxiang/surprise/001.wav", "ZhaoZuoxiang", "surprise", 1, "surprise", "male"),
    ],
)
def test_parse_path(path, speaker, emotion, sentence, label, gender):
    name = parse_path(path)
    assert (name.speaker, name.native_label, name.sentence_id) == (speaker, emotion, sentence)
    assert (name.label, name.gender) == (label, gender)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("liuchanhg/angry/201.mp3", "not a CASIA file name"),
        ("liuchanhg/angry/21.wav", "not a CASIA file name"),
        ("liuchanhg/angry/201-angry-liuchanhg.wav", "not a CASIA file name"),
        ("zhaoyan/angry/201.wav", "unknown CASIA speaker folder 'zhaoyan'"),
        ("liuchanhg/normal/201.wav", "unknown CASIA emotion folder 'normal'"),
        ("liuchanhg/Angry/201.wav", "unknown CASIA emotion folder 'Angry'"),
        ("201.wav", "expected <speaker>/<emotion>/NNN.wav"),
    ],
)
def test_parse_path_rejects(path, message):
    with pytest.raises(CorpusFileError, match=message) as caught:
        parse_path(path)
    assert path in str(caught.value)


def test_mapping_speakers_and_registration():
    assert sorted(NATIVE_TO_COMMON) == ["angry", "fear", "happy", "neutral", "sad", "surprise"]
    assert Counter(SPEAKERS.values()) == {"female": 2, "male": 2}


def test_load_fixture(casia_root, caplog):
    with caplog.at_level(logging.WARNING, logger="sertune"):
        ds = load_corpus("casia", casia_root)
    assert len(ds) == 4 * 6 * 2
    names = ds.features["label"].names

    row = ds[ds["id"].index("zhaoquanyin_sad_250")]
    assert (names[row["label"]], row["speaker"], row["gender"], row["corpus"]) == (
        "sad",
        "zhaoquanyin",
        "female",
        "casia",
    )
    assert (row["sentence_id"], row["native_label"]) == (250, "sad")
    assert row["audio"]["path"].endswith("zhaoquanyin/sad/250.wav")

    row = ds[ds["id"].index("ZhaoZuoxiang_angry_201")]
    assert (names[row["label"]], row["gender"]) == ("angry", "male")

    # The upper-case .WAV file is read like the others.
    upper = ds[ds["id"].index("liuchanhg_happy_201")]
    assert upper["audio"]["path"].endswith("liuchanhg/happy/201.WAV")

    assert Counter(ds["speaker"]) == dict.fromkeys(SPEAKERS, 12)
    assert Counter(ds["gender"]) == {"female": 24, "male": 24}
    assert Counter(names[i] for i in ds["label"]) == dict.fromkeys(NATIVE_TO_COMMON, 8)

    # Stray files are reported, not read.
    assert ".DS_Store" in caplog.text and "Thumbs.db" in caplog.text

    # Stereo, 44.1 kHz and 24-bit files decode to 16 kHz mono.
    for row_id in ("liuchanhg_angry_250", "liuchanhg_fear_201", "liuchanhg_fear_250"):
        audio = load_audio(ds[ds["id"].index(row_id)]["audio"])
        assert audio.ndim == 1 and audio.dtype == np.float32
        assert 0.15 * 16_000 < len(audio) < 0.35 * 16_000


def test_label_selection_and_loso(casia_root):
    ds = load_corpus("casia", casia_root, labels=["neutral", "happy", "sad", "angry"])
    assert len(ds) == 4 * 4 * 2
    assert ds.features["label"].names == ["angry", "happy", "neutral", "sad"]
    assert set(ds["native_label"]) == {"angry", "happy", "neutral", "sad"}
    folds = speaker_independent_folds(ds, "loso", seed=0)
    assert len(folds) == 4
    for fold in folds:
        assert set(fold.test_speakers).isdisjoint(fold.train_speakers)


def test_archive_top_folder_is_accepted(tmp_path):
    write_casia(tmp_path / "CASIA database", speakers=("wangzhe",), sentences=(201,), quirks=False)
    assert len(load_corpus("casia", tmp_path)) == 6


def test_layout_errors_say_what_was_expected(tmp_path, casia_root):
    with pytest.raises(CorpusLayoutError, match=r"does not exist; expected the CASIA layout"):
        load_corpus("casia", tmp_path / "missing")
    with pytest.raises(CorpusLayoutError, match=r"no CASIA speaker folder found; expected"):
        load_corpus("casia", tmp_path)
    with pytest.raises(CorpusLayoutError, match=r"gave a speaker or emotion folder"):
        load_corpus("casia", casia_root / "wangzhe")
    (tmp_path / "full" / "相同文本300").mkdir(parents=True)
    (tmp_path / "full" / "不同文本100").mkdir()
    with pytest.raises(CorpusLayoutError, match=r"a full CASIA copy: pass .*相同文本300"):
        load_corpus("casia", tmp_path / "full")
    (tmp_path / "empty" / "wangzhe" / "sad").mkdir(parents=True)
    with pytest.raises(CorpusLayoutError, match=r"no \.wav files found"):
        load_corpus("casia", tmp_path / "empty")


def test_unknown_emotion_folder_and_bad_name_are_errors(tmp_path):
    root = write_casia(tmp_path / "a", speakers=("wangzhe",), sentences=(201,), quirks=False)
    (root / "wangzhe" / "normal").mkdir()
    with pytest.raises(CorpusFileError, match=r"wangzhe/normal: unknown CASIA emotion folder"):
        load_corpus("casia", root)
    root = write_casia(tmp_path / "b", speakers=("wangzhe",), sentences=(201,), quirks=False)
    (root / "wangzhe" / "sad" / "201-sad-wangzhe.wav").write_bytes(b"RIFF")
    with pytest.raises(CorpusFileError, match=r"201-sad-wangzhe.wav: not a CASIA file name"):
        load_corpus("casia", root)
