"""IEMOCAP loader: name grammar, evaluation files, layout checks, label mapping, fixture copy."""

from __future__ import annotations

import logging
import shutil
from collections import Counter

import numpy as np
import pytest

from sertune.audio import load_audio
from sertune.data import load_corpus
from sertune.data.corpora.iemocap import (
    EXCITED_MERGE,
    FOUR_CLASS,
    NATIVE_LABELS,
    NATIVE_TO_COMMON,
    load_iemocap,
    parse_dialog_name,
    parse_utterance_name,
    read_evaluation_file,
)
from sertune.errors import CorpusFileError, CorpusLayoutError

from fixture_iemocap import IEMOCAP_DIALOGS, iemocap_utterances, write_iemocap


@pytest.fixture(scope="module")
def iemocap(tmp_path_factory):
    return write_iemocap(tmp_path_factory.mktemp("iemocap"))


def _labels(ds) -> Counter:
    names = ds.features["label"].names
    return Counter(names[index] for index in ds["label"])


@pytest.mark.parametrize(
    ("name", "dialog", "session", "speaker", "gender", "improvised", "turn"),
    [
        ("Ses01F_impro01_F000.wav", "Ses01F_impro01", 1, "Ses01F", "female", True, 0),
        # The speaker is the utterance's letter, not the dialog's (marker wearer) letter.
        ("Ses01F_impro01_M012.wav", "Ses01F_impro01", 1, "Ses01M", "male", True, 12),
        ("Ses03M_impro05a_F003.wav", "Ses03M_impro05a", 3, "Ses03F", "female", True, 3),
        ("Ses03M_impro08b_M021.wav", "Ses03M_impro08b", 3, "Ses03M", "male", True, 21),
        ("Ses01F_script01_1_F000.wav", "Ses01F_script01_1", 1, "Ses01F", "female", False, 0),
        ("Ses05M_script03_2_F041.WAV", "Ses05M_script03_2", 5, "Ses05F", "female", False, 41),
        ("Ses05M_script01_1b_M000.wav", "Ses05M_script01_1b", 5, "Ses05M", "male", False, 0),
        ("Ses04F_script02_2_M010", "Ses04F_script02_2", 4, "Ses04M", "male", False, 10),  # id
        ("/a/Session2/sentences/wav/Ses02M_impro06/Ses02M_impro06_F005.wav", "Ses02M_impro06",
         2, "Ses02F", "female", True, 5),
    ],
)  # fmt: skip
def test_parse_utterance_name(name, dialog, session, speaker, gender, improvised, turn):
    parsed = parse_utterance_name(name)
    assert parsed.dialog.name == dialog
    assert (parsed.session, parsed.speaker, parsed.gender) == (session, speaker, gender)
    assert (parsed.dialog.improvised, parsed.turn) == (improvised, turn)
    assert parsed.name == name.rsplit("/", 1)[-1].split(".")[0]


@pytest.mark.parametrize(
    ("name", "marker", "improvised"),
    [("Ses01F_impro01", "F", True), ("Ses03M_impro05a", "M", True),
     ("Ses05M_script01_1b", "M", False), ("Ses02F_script03_2", "F", False)],
)  # fmt: skip
def test_parse_dialog_name(name, marker, improvised):
    dialog = parse_dialog_name(name)
    assert (dialog.marker_actor, dialog.improvised, dialog.session) == (
        marker,
        improvised,
        int(name[4]),
    )


@pytest.mark.parametrize(
    "name",
    [
        "Ses06F_impro01_F000.wav",  # no session 6
        "Ses01X_impro01_F000.wav",
        "Ses01F_improv01_F000.wav",
        "Ses01F_impro1_F000.wav",
        "Ses01F_impro01_X000.wav",
        "Ses01F_impro01_F00.wav",
        "Ses01F_impro01_F000.mp3",
        "ses01f_impro01_f000.wav",
        "Ses01F_impro01c_F000.wav",
    ],
)
def test_parse_utterance_name_rejects(name):
    with pytest.raises(CorpusFileError, match="not an IEMOCAP utterance name") as caught:
        parse_utterance_name(name)
    assert name in str(caught.value)


def test_mapping_constants():
    assert set(NATIVE_TO_COMMON) | set(EXCITED_MERGE) | {"fru", "oth", "xxx"} == set(NATIVE_LABELS)
    assert EXCITED_MERGE == {"exc": "happy"}
    assert FOUR_CLASS == ("neutral", "happy", "sad", "angry")


def test_read_evaluation_file(tmp_path):
    path = tmp_path / "Ses01F_impro01.txt"
    path.write_bytes(
        b"% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\r\n\r\n"
        b"[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\r\n"
        b"C-E2:\tNeutral;\t()\r\nC-F1:\tNeutral;\t(caf\xe9)\r\n"
        b"A-E3:\tval 3; act 2; dom  2;\t()\r\n\r\n"
        b"[64.7000 - 68.0125]\tSes01F_impro01_M013\tfru\t[2.0000, 3.5000, 3.5000]\r\n"
    )
    first, second = read_evaluation_file(path)
    assert (first.utterance, first.native_label, first.start, first.end) == (
        "Ses01F_impro01_F000",
        "neu",
        6.2901,
        8.2357,
    )
    assert (second.valence, second.activation, second.dominance) == (2.0, 3.5, 3.5)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("[1.0 - 2.0]\tSes01F_impro01_F000\tjoy\t[2.0, 2.0, 2.0]", "unknown IEMOCAP category 'joy'"),
        ("[1.0 - 2.0]\tSes01F_impro02_F000\tneu\t[2.0, 2.0, 2.0]", "is not of dialog Ses01F_impro01"),
        ("[1.0 - 2.0]\tSes01F_impro01_F0\tneu\t[2.0, 2.0, 2.0]", "not an IEMOCAP utterance name"),
        ("[1.0 - 2.0]\tSes01F_impro01_F000\tneu", "not an IEMOCAP evaluation line"),
        ("B-E1:\tNeutral;", "not an IEMOCAP evaluation line"),
    ],
)  # fmt: skip
def test_read_evaluation_file_rejects(tmp_path, line, message):
    path = tmp_path / "Ses01F_impro01.txt"
    path.write_text(f"% header\n\n{line}\n")
    with pytest.raises(CorpusFileError, match=message) as caught:
        read_evaluation_file(path)
    assert f"{path}:3" in str(caught.value)


def test_load_fixture(iemocap, caplog):
    with caplog.at_level(logging.INFO, logger="sertune"):
        ds = load_corpus("iemocap", iemocap)
    # 16 utterances; fru, oth and xxx (one each) have no common label.
    assert len(ds) == 13
    assert "dropped 3 of 16 utterances" in caplog.text
    assert "{'fru': 1, 'oth': 1, 'xxx': 1}" in caplog.text
    assert _labels(ds) == {
        "angry": 2,
        "happy": 4,  # two hap + two exc
        "neutral": 2,
        "sad": 2,
        "surprise": 1,
        "fear": 1,
        "disgust": 1,
    }
    assert len(set(ds["speaker"])) == 9  # Ses04M's only utterance is "oth"
    assert Counter(ds["session"]) == {1: 4, 2: 2, 3: 2, 4: 1, 5: 4}

    rows = {row["id"]: row for row in ds}
    row = rows["Ses03M_impro05a_F000"]
    assert (row["speaker"], row["gender"], row["session"], row["corpus"]) == (
        "Ses03F",
        "female",
        3,
        "iemocap",
    )
    assert (row["dialog"], row["improvised"], row["native_label"]) == (
        "Ses03M_impro05a",
        True,
        "fea",
    )
    assert ds.features["label"].int2str(row["label"]) == "fear"
    assert (row["valence"], row["activation"], row["dominance"]) == (1.5, 3.5, 2.0)
    assert row["start"] == pytest.approx(8.9357) and row["end"] == pytest.approx(10.8813)
    assert row["audio"]["path"].endswith(
        "Session3/sentences/wav/Ses03M_impro05a/Ses03M_impro05a_F000.wav"
    )

    row = rows["Ses05M_script01_1b_M000"]
    assert (row["speaker"], row["gender"], row["improvised"], row["native_label"]) == (
        "Ses05M",
        "male",
        False,
        "exc",
    )
    assert ds.features["label"].int2str(row["label"]) == "happy"
    # The upper-case extension is found, and the stereo and 24-bit files decode.
    assert rows["Ses01F_script01_1_F000"]["audio"]["path"].endswith(".WAV")
    for name in ("Ses01F_impro01_F000", "Ses01F_impro01_F001"):  # stereo, 24-bit
        audio = load_audio(rows[name]["audio"])
        assert audio.dtype == np.float32 and audio.ndim == 1 and len(audio) > 3000


def test_parent_of_release_folder_is_accepted(iemocap):
    assert load_corpus("iemocap", iemocap.parent)["id"] == load_corpus("iemocap", iemocap)["id"]


def test_four_class_selection(iemocap):
    ds = load_corpus("iemocap", iemocap, labels=FOUR_CLASS)
    assert ds.features["label"].names == ["angry", "happy", "neutral", "sad"]
    assert _labels(ds) == {"angry": 2, "happy": 4, "neutral": 2, "sad": 2}


def test_excited_not_merged(iemocap, caplog):
    with caplog.at_level(logging.INFO, logger="sertune"):
        ds = load_corpus("iemocap", iemocap, merge_excited_into_happy=False)
    assert len(ds) == 11
    assert "{'exc': 2, 'fru': 1, 'oth': 1, 'xxx': 1}" in caplog.text
    assert "exc" not in ds["native_label"]
    assert _labels(load_corpus("iemocap", iemocap, merge_excited_into_happy=False,
                               labels=FOUR_CLASS))["happy"] == 2  # fmt: skip


def test_layout_errors(tmp_path, iemocap):
    with pytest.raises(CorpusLayoutError, match="does not exist; expected the official IEMOCAP"):
        load_corpus("iemocap", tmp_path / "missing")
    with pytest.raises(CorpusLayoutError, match=r"no Session1..Session5 folders; expected.*"
                       r"Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav.*"
                       r"sail.usc.edu"):  # fmt: skip
        load_corpus("iemocap", tmp_path)
    with pytest.raises(CorpusLayoutError, match="gave one session folder"):
        load_corpus("iemocap", iemocap / "Session1")
    with pytest.raises(CorpusLayoutError, match="a folder inside a session"):
        load_corpus("iemocap", iemocap / "Session1" / "sentences")
    other = tmp_path / "copy"
    (other / "IEMOCAP_full_release_audio").mkdir(parents=True)
    with pytest.raises(CorpusLayoutError, match=r"found \['IEMOCAP_full_release_audio'\]"):
        load_corpus("iemocap", other)
    broken = tmp_path / "broken"
    (broken / "Session1" / "sentences" / "wav").mkdir(parents=True)
    with pytest.raises(CorpusLayoutError, match=r"Session1: no dialog/EmoEvaluation/ folder"):
        load_corpus("iemocap", broken)


def test_download_is_refused_with_instructions(iemocap):
    with pytest.raises(ValueError, match=r"sail.usc.edu/iemocap.*license"):
        load_iemocap(iemocap, download=True)


def _copy(iemocap, tmp_path):
    return shutil.copytree(iemocap, tmp_path / "IEMOCAP_full_release")


def test_wav_without_label_is_an_error_naming_it(tmp_path, iemocap):
    root = _copy(iemocap, tmp_path)
    wav = root / "Session2/sentences/wav/Ses02M_impro02/Ses02M_impro02_M000.wav"
    shutil.copy(wav, wav.with_name("Ses02M_impro02_M001.wav"))
    with pytest.raises(CorpusFileError, match=r"Ses02M_impro02_M001.wav: no consensus line .*"
                       r"EmoEvaluation/Ses02M_impro02.txt"):  # fmt: skip
        load_corpus("iemocap", root)


def test_label_without_wav_is_a_warning(tmp_path, iemocap, caplog):
    root = _copy(iemocap, tmp_path)
    (root / "Session5/sentences/wav/Ses05M_script03_2/Ses05M_script03_2_M002.wav").unlink()
    with caplog.at_level(logging.WARNING, logger="sertune"):
        ds = load_corpus("iemocap", root)
    assert len(ds) == 12
    assert "1 utterances listed in EmoEvaluation have no .wav" in caplog.text
    assert "Ses05M_script03_2_M002" in caplog.text


def test_bad_file_names_are_errors_naming_the_file(tmp_path, iemocap):
    root = _copy(iemocap, tmp_path)
    folder = root / "Session1/sentences/wav/Ses01F_impro01"
    bad = folder / "Ses01F_impro01_F000_copy.wav"
    shutil.copy(folder / "Ses01F_impro01_F000.wav", bad)
    with pytest.raises(CorpusFileError, match=f"{bad}: not an IEMOCAP utterance name"):
        load_corpus("iemocap", root)
    bad.unlink()
    misplaced = root / "Session1/sentences/wav/Ses01F_script01_1/Ses01F_impro01_F000.wav"
    shutil.copy(folder / "Ses01F_impro01_F000.wav", misplaced)
    with pytest.raises(CorpusFileError, match=f"{misplaced}: expected at .*/Ses01F_impro01/"):
        load_corpus("iemocap", root)
    misplaced.unlink()
    moved = root / "Session2/sentences/wav/Ses01F_impro01"
    shutil.move(folder, moved)
    with pytest.raises(CorpusFileError, match="a session 1 file inside Session2"):
        load_corpus("iemocap", root)


def test_stray_files_are_listed_in_warnings(tmp_path, iemocap, caplog):
    root = _copy(iemocap, tmp_path)
    wav_dir = root / "Session1/sentences/wav"
    (wav_dir / "Ses01F_impro01" / "._Ses01F_impro01_F000.wav").write_bytes(b"\0")
    (wav_dir / "Ses01F_impro01" / "Ses01F_impro01_F000.pk").write_bytes(b"\0")
    (wav_dir / ".DS_Store").write_bytes(b"\0")
    evaluation_dir = root / "Session1/dialog/EmoEvaluation"
    (evaluation_dir / "notes.doc").write_text("x")
    (evaluation_dir / "Ses01F_impro01.txt~").write_text("x")
    with caplog.at_level(logging.WARNING, logger="sertune"):
        ds = load_corpus("iemocap", root)
    assert len(ds) == 13
    assert "ignoring 3 entries that are not .wav audio files" in caplog.text
    for name in ("._Ses01F_impro01_F000.wav", "Ses01F_impro01_F000.pk", ".DS_Store"):
        assert name in caplog.text
    assert "ignoring 2 entries that are not <dialog>.txt evaluation files" in caplog.text
    assert "notes.doc" in caplog.text and "Ses01F_impro01.txt~" in caplog.text


def test_missing_session_is_a_warning(tmp_path, caplog):
    dialogs = {k: v for k, v in IEMOCAP_DIALOGS.items() if k.startswith(("Ses01", "Ses02"))}
    root = write_iemocap(tmp_path, dialogs, quirks=False)
    for session in (3, 4, 5):
        shutil.rmtree(root / f"Session{session}")
    with caplog.at_level(logging.WARNING, logger="sertune"):
        ds = load_corpus("iemocap", root)
    assert "sessions [3, 4, 5] are missing" in caplog.text
    assert sorted(set(ds["session"])) == [1, 2]
    assert set(ds["id"]) <= set(iemocap_utterances(dialogs))
