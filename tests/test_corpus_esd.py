"""ESD loader: name grammar and blocks, official partitions, both layouts, transcript encodings."""

from __future__ import annotations

import codecs
import logging
from collections import Counter

import pytest

from sertune.data import load_corpus, speaker_independent_folds
from sertune.data.corpora.esd import (
    NATIVE_TO_COMMON,
    SPEAKERS,
    decode_transcript,
    parse_filename,
    parse_path,
    read_transcript,
)
from sertune.errors import CorpusFileError, CorpusLayoutError

from fixture_esd import ESD_BLOCKS, esd_partition, esd_text, write_esd

EXTRA_COLUMNS = ["language", "text", "partition", "sentence_id", "native_label"]


@pytest.fixture(scope="module")
def esd_flat(tmp_path_factory):
    return write_esd(tmp_path_factory.mktemp("esd_flat"))


@pytest.mark.parametrize(
    ("name", "speaker", "emotion", "sentence", "partition", "gender", "language"),
    [
        ("0011_000351.wav", "0011", "Angry", 1, "evaluation", "male", "english"),
        ("0001_000001.wav", "0001", "Neutral", 1, "evaluation", "female", "mandarin"),
        ("0001_000020.wav", "0001", "Neutral", 20, "evaluation", "female", "mandarin"),
        ("0004_000021.wav", "0004", "Neutral", 21, "test", "male", "mandarin"),
        ("0004_000050.wav", "0004", "Neutral", 50, "test", "male", "mandarin"),
        ("0004_000051.wav", "0004", "Neutral", 51, "train", "male", "mandarin"),
        ("0010_000350.wav", "0010", "Neutral", 350, "train", "male", "mandarin"),
        ("0015_000700.wav", "0015", "Angry", 350, "train", "female", "english"),
        ("0019_000701.WAV", "0019", "Happy", 1, "evaluation", "female", "english"),
        ("0016_001071.wav", "0016", "Sad", 21, "test", "female", "english"),
        ("0020_001401.wav", "0020", "Surprise", 1, "evaluation", "male", "english"),
        ("/x/0020/Surprise/0020_001750.wav", "0020", "Surprise", 350, "train", "male", "english"),
    ],
)
def test_parse_filename(name, speaker, emotion, sentence, partition, gender, language):
    parsed = parse_filename(name)
    assert (parsed.speaker, parsed.native_label, parsed.sentence_id) == (speaker, emotion, sentence)
    assert (parsed.partition, parsed.gender, parsed.language) == (partition, gender, language)
    assert parsed.label == NATIVE_TO_COMMON[emotion]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("0011_00351.wav", "not an ESD file name"),
        ("11_000351.wav", "not an ESD file name"),
        ("0011_000351.flac", "not an ESD file name"),
        ("0021_000001.wav", "unknown ESD speaker '0021'"),
        ("0000_000001.wav", "unknown ESD speaker '0000'"),
        ("0011_000000.wav", "utterance number 0 is outside 1-1750"),
        ("0011_001751.wav", "utterance number 1751 is outside 1-1750"),
    ],
)
def test_parse_filename_rejects(name, message):
    with pytest.raises(CorpusFileError, match=message) as caught:
        parse_filename(name)
    assert name in str(caught.value)


def test_parse_path_checks_folders():
    assert parse_path("0011/Angry/0011_000351.wav").number == 351
    assert parse_path("ESD/0011/Angry/evaluation/0011_000351.wav").partition == "evaluation"
    assert parse_path("0011/Angry/test/0011_000371.wav").partition == "test"
    assert parse_path("0011/Angry/train/0011_000401.wav").partition == "train"
    cases = {
        "0011/Happy/0011_000351.wav": "belongs to Angry .block 351-700., not to the folder Happy",
        "0012/Angry/0011_000351.wav": "file of speaker 0011 in folder 0012",
        "0011/Angry/train/0011_000351.wav": "in the official evaluation partition, not in .*train",
        "0011/Angry/dev/0011_000351.wav": "'dev' is not an ESD emotion folder",
        "0011/angry/0011_000351.wav": "'angry' is not an ESD emotion folder",
    }
    for path, message in cases.items():
        with pytest.raises(CorpusFileError, match=message) as caught:
            parse_path(path)
        assert path in str(caught.value)


def test_speaker_table_and_registration():
    for language in ("english", "mandarin"):
        genders = Counter(g for g, lang in SPEAKERS.values() if lang == language)
        assert genders == {"female": 5, "male": 5}
    assert [s for s, (_, lang) in SPEAKERS.items() if lang == "mandarin"] == [
        f"{n:04d}" for n in range(1, 11)
    ]


@pytest.mark.parametrize(
    ("raw", "language", "encoding"),
    [
        (codecs.BOM_UTF16_LE + "0001_000001\t你好\t中立".encode("utf-16-le"), "mandarin", "utf-16"),
        (codecs.BOM_UTF16_BE + "0001_000001\t你好\t中立".encode("utf-16-be"), "mandarin", "utf-16"),
        ("0001_000001\t你好\t中立".encode("utf-16-le"), "mandarin", "utf-16-le"),
        ("0001_000001\t你好\t中立".encode("utf-16-be"), "mandarin", "utf-16-be"),
        (codecs.BOM_UTF8 + "0001_000001\t你好\t中立".encode(), "mandarin", "utf-8-sig"),
        ("0001_000001\t你好\t中立".encode(), "mandarin", "utf-8"),
        ("0001_000001\t你好，世界\t中立".encode("gb2312"), "mandarin", "gb18030"),
        ("0001_000001\t你好，世界\t中立".encode("gbk"), "mandarin", "gb18030"),
        ("0011_000001\tIt’s the café\tNeutral".encode("cp1252"), "english", "cp1252"),
        (b"0011_000001\tna\x81ve\tNeutral", "english", "latin-1"),
        (b"0011_000001\tplain\tNeutral", "english", "utf-8"),
    ],
)
def test_decode_transcript(raw, language, encoding):
    text, used = decode_transcript(raw, language)
    assert used == encoding
    assert text.lstrip("\ufeff").startswith(("0001_000001\t", "0011_000001\t"))
    if language == "mandarin":
        assert "你好" in text and "中立" in text


def test_undecodable_transcript_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "0001.txt"
    path.write_bytes(b"0001_000001\t\xff\xff\xff\t\xff\n")
    with pytest.raises(CorpusFileError, match=r"0001.txt: cannot decode the transcript"):
        read_transcript(path, "mandarin")


def test_read_transcript_irregular_lines(tmp_path, caplog):
    path = tmp_path / "0012.txt"
    path.write_text(
        "0012_000001\tThe nine the eggs.\tNeutral\n"
        "0012_000002 Let the glass globe be.\tNeutral\n"  # space instead of the first tab
        "0012_000003\tNo emotion field\n"
        "0012_000004\tExtra\ttab\tNeutral\n"
        "\n"
        "stray text without an id\n",
        encoding="utf-8",
    )
    with caplog.at_level(logging.WARNING, logger="sertune"):
        texts = read_transcript(path, "english")
    assert texts == {
        "0012_000001": "The nine the eggs.",
        "0012_000002": "Let the glass globe be.",
        "0012_000003": "No emotion field",
        "0012_000004": "Extra tab",
    }
    assert "3 lines are not 'id<TAB>text<TAB>emotion' but were read" in caplog.text
    assert "1 lines have no utterance id and were skipped (line numbers [6])" in caplog.text


def test_load_flat_fixture(esd_flat, caplog):
    with caplog.at_level(logging.WARNING, logger="sertune"):
        ds = load_corpus("esd", esd_flat)
    assert len(ds) == 4 * 5 * 3
    names = ds.features["label"].names

    row = ds[ds["id"].index("0001_001071")]  # GB2312 transcript
    assert (names[row["label"]], row["speaker"], row["gender"], row["language"]) == (
        "sad",
        "0001",
        "female",
        "mandarin",
    )
    assert (row["partition"], row["sentence_id"], row["native_label"]) == ("test", 21, "Sad")
    assert row["text"] == esd_text("0001", 21) == "第21句，今天天气很好。"
    assert row["audio"]["path"].endswith("0001/Sad/0001_001071.wav")

    row = ds[ds["id"].index("0005_000751")]  # UTF-16 transcript
    assert (names[row["label"]], row["gender"], row["partition"]) == ("happy", "male", "train")
    assert row["text"] == esd_text("0005", 51)

    row = ds[ds["id"].index("0015_001401")]  # Windows-1252 transcript
    assert (names[row["label"]], row["gender"], row["language"]) == (
        "surprise",
        "female",
        "english",
    )
    assert row["text"] == "It’s sentence 1, said the café owner."

    # Irregular transcript lines are read and reported.
    for speaker in ("0001", "0011"):
        assert ds[ds["id"].index(f"{speaker}_000021")]["text"] == esd_text(speaker, 21)
        assert ds[ds["id"].index(f"{speaker}_000351")]["text"] == esd_text(speaker, 1)
    assert "2 lines are not 'id<TAB>text<TAB>emotion'" in caplog.text

    assert Counter(ds["partition"]) == {"evaluation": 20, "test": 20, "train": 20}
    assert Counter(ds["language"]) == {"mandarin": 30, "english": 30}
    assert Counter(names[i] for i in ds["label"]) == dict.fromkeys(names, 12)
    for sentence, partition in ((1, "evaluation"), (21, "test"), (51, "train")):
        assert esd_partition(sentence) == partition

    # Stray files are reported; ReadMe.txt and the transcripts are not stray.
    assert ".DS_Store" in caplog.text and "Thumbs.db" in caplog.text
    assert "ReadMe.txt" not in caplog.text and "0011.txt'" not in caplog.text


def test_split_layout_gives_the_same_rows(tmp_path, esd_flat):
    split = write_esd(tmp_path / "split", layout="split")
    flat_ds = load_corpus("esd", esd_flat)
    split_ds = load_corpus("esd", split)
    columns = ["id", "label", "speaker", "gender", *EXTRA_COLUMNS]
    assert split_ds.select_columns(columns).to_list() == flat_ds.select_columns(columns).to_list()
    assert split_ds[0]["audio"]["path"].endswith("0001/Angry/evaluation/0001_000351.wav")


def test_split_folder_that_disagrees_is_an_error(tmp_path):
    root = write_esd(tmp_path, speakers=("0011",), layout="split", quirks=False)
    wrong = root / "0011" / "Angry" / "train" / "0011_000351.wav"
    (root / "0011" / "Angry" / "evaluation" / "0011_000351.wav").rename(wrong)
    with pytest.raises(CorpusFileError, match=r"train/0011_000351.wav: .*official evaluation"):
        load_corpus("esd", root)


def test_language_option(esd_flat, tmp_path):
    english = load_corpus("esd", esd_flat, language="english")
    assert set(english["speaker"]) == {"0011", "0015"} and set(english["language"]) == {"english"}
    mandarin = load_corpus("esd", esd_flat, language="mandarin")
    assert set(mandarin["speaker"]) == {"0001", "0005"}
    with pytest.raises(ValueError, match=r"language must be one of .*'both'.*got 'chinese'"):
        load_corpus("esd", esd_flat, language="chinese")
    only_english = write_esd(tmp_path, speakers=("0012",), sentences=(1,), quirks=False)
    with pytest.raises(CorpusLayoutError, match=r"no ESD speaker folder for language='mandarin'"):
        load_corpus("esd", only_english, language="mandarin")


def test_label_selection_and_speaker_folds(esd_flat):
    ds = load_corpus("esd", esd_flat, labels=["neutral", "happy", "sad", "angry"])
    assert len(ds) == 4 * 4 * 3
    assert ds.features["label"].names == ["angry", "happy", "neutral", "sad"]
    assert "Surprise" not in set(ds["native_label"])
    for fold in speaker_independent_folds(ds, "loso", seed=0):
        assert set(fold.test_speakers).isdisjoint(fold.train_speakers)


def test_missing_transcript_leaves_text_empty_and_warns(tmp_path, caplog):
    root = write_esd(tmp_path, speakers=("0013",), sentences=(1,), transcripts=False, quirks=False)
    with caplog.at_level(logging.WARNING, logger="sertune"):
        ds = load_corpus("esd", root)
    assert len(ds) == 5 and ds["text"] == [None] * 5
    assert "no transcript SSSS/SSSS.txt for speakers ['0013']" in caplog.text


def test_archive_folders_are_accepted(tmp_path):
    inner = tmp_path / "Emotional Speech Dataset (ESD)" / "Emotion Speech Dataset"
    write_esd(inner, speakers=("0002",), sentences=(1,), quirks=False)
    (tmp_path / "__MACOSX").mkdir()  # left by macOS zip tools; not a second candidate
    ds = load_corpus("esd", tmp_path)
    assert len(ds) == 5 and ds[0]["gender"] == "female"
    assert set(ds["text"]) == {esd_text("0002", 1)}
    assert sorted(ESD_BLOCKS) == sorted(NATIVE_TO_COMMON)


def test_layout_errors_say_what_was_expected(tmp_path, esd_flat):
    with pytest.raises(CorpusLayoutError, match=r"does not exist; expected the ESD layout"):
        load_corpus("esd", tmp_path / "missing")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(CorpusLayoutError, match=r"no ESD speaker folder .* found; expected"):
        load_corpus("esd", tmp_path)
    with pytest.raises(CorpusLayoutError, match=r"gave a speaker, emotion or split folder"):
        load_corpus("esd", esd_flat / "0011")
    (tmp_path / "empty" / "0011" / "Angry").mkdir(parents=True)
    with pytest.raises(CorpusLayoutError, match=r"no \.wav files found"):
        load_corpus("esd", tmp_path / "empty")


def test_unknown_speaker_or_emotion_folder_is_an_error(tmp_path):
    root = write_esd(tmp_path / "a", speakers=("0011",), sentences=(1,), quirks=False)
    (root / "0021").mkdir()
    with pytest.raises(CorpusFileError, match=r"0021: unknown ESD speaker folder"):
        load_corpus("esd", root)
    root = write_esd(tmp_path / "b", speakers=("0011",), sentences=(1,), quirks=False)
    (root / "0011" / "Fear").mkdir()
    with pytest.raises(CorpusFileError, match=r"0011/Fear: unknown ESD emotion folder"):
        load_corpus("esd", root)
