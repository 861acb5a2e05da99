"""RAVDESS loader: file-name grammar, layouts, vocal channels, duplicates, download."""

from __future__ import annotations

import io
import logging
import shutil
import zipfile
from collections import Counter

import numpy as np
import pytest

from sertune.audio import load_audio
from sertune.data import load_corpus
from sertune.data.corpora.ravdess import (
    ACTORS,
    EMOTION_CODES,
    NATIVE_TO_COMMON,
    NUM_FILES,
    parse_filename,
)
from sertune.errors import CorpusFileError, CorpusLayoutError, DownloadError

from fixture_ravdess import ravdess_names, write_ravdess


@pytest.fixture(scope="module")
def ravdess_root(tmp_path_factory):
    """Actors 01-04, speech and song, both archives unzipped into one folder."""
    root = tmp_path_factory.mktemp("ravdess")
    return write_ravdess(root, ravdess_names(channels=("speech", "song")))


@pytest.mark.parametrize(
    ("name", "fields", "label", "gender"),
    [
        ("03-01-05-01-02-01-12.wav", ("speech", "angry", "normal", "02", 1, "12"), "angry", "female"),
        ("03-02-06-02-01-02-01.wav", ("song", "fearful", "strong", "01", 2, "01"), "fear", "male"),
        ("03-01-08-02-02-02-24.wav", ("speech", "surprised", "strong", "02", 2, "24"), "surprise", "female"),
        ("03-01-02-01-01-01-01.wav", ("speech", "calm", "normal", "01", 1, "01"), "calm", "male"),
        ("03-02-01-01-02-02-23.wav", ("song", "neutral", "normal", "02", 2, "23"), "neutral", "male"),
        ("03-01-01-01-01-01-07.WAV", ("speech", "neutral", "normal", "01", 1, "07"), "neutral", "male"),
        ("/data/Actor_05/03-01-07-02-01-01-05.wav", ("speech", "disgust", "strong", "01", 1, "05"), "disgust", "male"),
    ],
)  # fmt: skip
def test_parse_filename(name, fields, label, gender):
    parsed = parse_filename(name)
    assert (
        parsed.vocal_channel,
        parsed.native_label,
        parsed.intensity,
        parsed.statement,
        parsed.repetition,
        parsed.actor,
    ) == fields
    assert (parsed.label, parsed.gender) == (label, gender)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("03-01-05-01-01-01.wav", "not a RAVDESS file name"),
        ("03-01-05-01-01-01-01.mp4", "not a RAVDESS file name"),
        ("3-1-5-1-1-1-1.wav", "not a RAVDESS file name"),
        ("01-01-05-01-01-01-01.wav", r"modality 01 \(audio-video\) is not audio-only"),
        ("02-01-05-01-01-01-01.wav", r"modality 02 \(video-only\) is not audio-only"),
        ("04-01-05-01-01-01-01.wav", "unknown RAVDESS modality code '04'"),
        ("03-03-05-01-01-01-01.wav", "unknown RAVDESS channel code '03'"),
        ("03-01-09-01-01-01-01.wav", "unknown RAVDESS emotion code '09'"),
        ("03-01-05-03-01-01-01.wav", "unknown RAVDESS intensity code '03'"),
        ("03-01-05-01-03-01-01.wav", "unknown RAVDESS statement code '03'"),
        ("03-01-05-01-01-03-01.wav", "unknown RAVDESS repetition code '03'"),
        ("03-01-05-01-01-01-25.wav", "unknown RAVDESS actor code '25'"),
        ("03-01-05-01-01-01-00.wav", "unknown RAVDESS actor code '00'"),
        ("03-02-07-01-01-01-01.wav", r"song has no disgust \(07\)"),
        ("03-02-08-02-01-01-01.wav", r"song has no surprised \(08\)"),
        ("03-01-01-02-01-01-01.wav", r"neutral has no strong intensity"),
    ],
)
def test_parse_filename_rejects(name, message):
    with pytest.raises(CorpusFileError, match=message) as caught:
        parse_filename(name)
    assert name in str(caught.value)


def test_mapping_and_speakers_are_complete():
    assert sorted(EMOTION_CODES) == [f"0{k}" for k in range(1, 9)]
    assert sorted(NATIVE_TO_COMMON) == sorted(EMOTION_CODES.values())
    genders = Counter(parse_filename(f"03-01-01-01-01-01-{a}.wav").gender for a in ACTORS)
    assert genders == {"male": 12, "female": 12}


def test_load_speech_by_default(ravdess_root, caplog):
    with caplog.at_level(logging.INFO, logger="sertune"):
        ds = load_corpus("ravdess", ravdess_root)
    assert len(ds) == 4 * 9
    assert "skips {'song': 28} files of the other channel" in caplog.text
    assert Counter(ds["speaker"]) == {"01": 9, "02": 9, "03": 9, "04": 9}
    assert set(ds["vocal_channel"]) == {"speech"}

    row = ds[ds["id"].index("03-01-06-01-01-01-02")]
    assert ds.features["label"].int2str(row["label"]) == "fear"
    assert (row["speaker"], row["gender"], row["corpus"]) == ("02", "female", "ravdess")
    assert (row["intensity"], row["statement"], row["repetition"]) == ("normal", "01", 1)
    assert (row["text"], row["native_label"]) == ("Kids are talking by the door", "fearful")
    assert row["audio"]["path"].endswith("Actor_02/03-01-06-01-01-01-02.wav")

    row = ds[ds["id"].index("03-01-05-02-02-02-03")]
    assert ds.features["label"].int2str(row["label"]) == "angry"
    assert (row["speaker"], row["gender"], row["intensity"]) == ("03", "male", "strong")
    assert (row["statement"], row["text"], row["repetition"]) == (
        "02",
        "Dogs are sitting by the door",
        2,
    )
    # The first fixture file is stereo, the second 24-bit: both decode to mono float32.
    for row_id in ("03-01-01-01-01-01-01", "03-01-02-01-01-01-01"):
        audio = load_audio(ds[ds["id"].index(row_id)]["audio"])
        assert audio.dtype == np.float32 and audio.ndim == 1 and len(audio) > 4000


def test_song_and_both(ravdess_root):
    song = load_corpus("ravdess", ravdess_root, vocal_channel="song")
    assert len(song) == 4 * 7
    assert song.features["label"].names == ["angry", "calm", "fear", "happy", "neutral", "sad"]
    assert set(song["vocal_channel"]) == {"song"}
    both = load_corpus("ravdess", ravdess_root, vocal_channel="both")
    assert len(both) == 4 * 9 + 4 * 7
    assert Counter(both["vocal_channel"]) == {"speech": 36, "song": 28}
    assert len(both.features["label"].names) == 8
    with pytest.raises(ValueError, match="vocal_channel must be 'speech', 'song' or 'both'"):
        load_corpus("ravdess", ravdess_root, vocal_channel="sung")


def test_archive_folders_and_actor_18_without_song(tmp_path):
    names = ravdess_names(actors=("17", "18"), channels=("speech", "song"))
    root = write_ravdess(tmp_path, names, layout="archives", with_quirks=False)
    assert (root / "Audio_Song_Actors_01-24" / "Actor_17").is_dir()
    assert not (root / "Audio_Song_Actors_01-24" / "Actor_18").exists()
    ds = load_corpus("ravdess", root, vocal_channel="both")
    assert Counter(zip(ds["speaker"], ds["vocal_channel"], strict=True)) == {
        ("17", "speech"): 9,
        ("17", "song"): 7,
        ("18", "speech"): 9,
    }
    assert set(zip(ds["speaker"], ds["gender"], strict=True)) == {("17", "male"), ("18", "female")}


def test_labels_selection(ravdess_root):
    four = load_corpus("ravdess", ravdess_root, labels=["neutral", "happy", "sad", "angry"])
    assert four.features["label"].names == ["angry", "happy", "neutral", "sad"]
    assert len(four) == 4 * 5  # angry twice per actor
    merged = load_corpus(
        "ravdess",
        ravdess_root,
        labels={"neutral": "neutral", "calm": "neutral", "happy": "happy", "sad": "sad"},
    )
    names = merged.features["label"].names
    assert names == ["happy", "neutral", "sad"]
    assert Counter(names[label] for label in merged["label"]) == {
        "neutral": 8,
        "happy": 4,
        "sad": 4,
    }


def test_stray_files_are_listed_in_a_warning(ravdess_root, caplog):
    with caplog.at_level(logging.WARNING, logger="sertune"):
        load_corpus("ravdess", ravdess_root)
    assert "ignoring 2 entries" in caplog.text
    assert ".DS_Store" in caplog.text and "readme.txt" in caplog.text


def test_a_second_copy_of_the_tree_is_read_once(tmp_path, caplog):
    # Some copies hold Actor_NN/ (merged) and audio_speech_actors_01-24/Actor_NN/ side by side.
    root = write_ravdess(tmp_path, ravdess_names(actors=("01", "02")), with_quirks=False)
    shutil.copytree(root / "Actor_01", root / "audio_speech_actors_01-24" / "Actor_01")
    with caplog.at_level(logging.WARNING, logger="sertune"):
        ds = load_corpus("ravdess", root)
    assert len(ds) == 18
    assert "9 files are copies of files met earlier" in caplog.text
    assert sorted(ds["id"]) == sorted(name[:-4] for name in ravdess_names(actors=("01", "02")))
    # Two different files under one name: there is no telling which one is right.
    copy = root / "audio_speech_actors_01-24" / "Actor_01" / "03-01-05-01-01-01-01.wav"
    copy.write_bytes(copy.read_bytes() + b"\0\0")
    with pytest.raises(CorpusFileError, match="03-01-05-01-01-01-01.wav: found 2 different files"):
        load_corpus("ravdess", root)


def test_bad_files_are_errors_naming_the_file(tmp_path):
    root = write_ravdess(tmp_path, ravdess_names(actors=("01",)), with_quirks=False)
    source = root / "Actor_01" / "03-01-05-01-01-01-01.wav"
    shutil.copy(source, root / "Actor_01" / "01-01-05-01-01-01-01.wav")
    with pytest.raises(CorpusFileError, match=r"01-01-05-01-01-01-01.wav: modality 01"):
        load_corpus("ravdess", root)
    (root / "Actor_01" / "01-01-05-01-01-01-01.wav").unlink()
    shutil.copy(source, root / "Actor_01" / "03-01-05-01-01-01-02.wav")
    with pytest.raises(CorpusFileError, match=r"03-01-05-01-01-01-02.wav: actor 02 .* Actor_01/"):
        load_corpus("ravdess", root)


def test_wrong_folder_says_which_layout_was_expected(tmp_path, ravdess_root):
    with pytest.raises(CorpusLayoutError, match="does not exist; expected the RAVDESS"):
        load_corpus("ravdess", tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CorpusLayoutError, match=r"no Actor_NN folder; expected.*Actor_01/03-01"):
        load_corpus("ravdess", empty)
    (empty / "Audio_Speech_Actors_01-24.zip").write_bytes(b"PK")
    with pytest.raises(CorpusLayoutError, match=r"Audio_Speech_Actors_01-24.zip'\]: unzip them"):
        load_corpus("ravdess", empty)
    with pytest.raises(CorpusLayoutError, match="one actor's folder"):
        load_corpus("ravdess", ravdess_root / "Actor_01")
    song_only = write_ravdess(
        tmp_path / "song", ravdess_names(actors=("01",), channels=("song",)), with_quirks=False
    )
    with pytest.raises(CorpusLayoutError, match=r"found 7 song files: pass vocal_channel='song'"):
        load_corpus("ravdess", song_only)


# -- download ------------------------------------------------------------------------------


def _all_speech_names() -> list[str]:
    names = []
    for actor in ACTORS:
        for emotion in EMOTION_CODES:
            for intensity in ("01",) if emotion == "01" else ("01", "02"):
                for statement in ("01", "02"):
                    for repetition in ("01", "02"):
                        names.append(
                            f"03-01-{emotion}-{intensity}-{statement}-{repetition}-{actor}.wav"
                        )
    return names


def _archive(tmp_path, names) -> str:
    """A zip laid out like Audio_Speech_Actors_01-24.zip; returns its file:// URL."""
    source = write_ravdess(tmp_path / "one", names[:1], seconds=0.01, with_quirks=False)
    data = next(source.rglob("*.wav")).read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(f"Actor_{name[-6:-4]}/{name}", data)
    path = tmp_path / "Audio_Speech_Actors_01-24.zip"
    path.write_bytes(buffer.getvalue())
    return path.as_uri()


def test_download_from_a_local_archive(tmp_path):
    names = _all_speech_names()
    assert len(names) == NUM_FILES["speech"] == 1440
    url = _archive(tmp_path, names)
    target = tmp_path / "corpora" / "ravdess"
    ds = load_corpus("ravdess", target, download=True, speech_url=url)
    assert len(ds) == 1440
    assert len(set(ds["speaker"])) == 24
    assert (target / "Audio_Speech_Actors_01-24" / "Actor_24").is_dir()
    # Present now: a second call does not download again.
    (tmp_path / "Audio_Speech_Actors_01-24.zip").unlink()
    assert len(load_corpus("ravdess", target, download=True, speech_url=url)) == 1440


def test_download_verifies_the_file_count(tmp_path):
    url = _archive(tmp_path, _all_speech_names()[:10])
    with pytest.raises(
        DownloadError, match=r"failed verification.*found 10 speech .wav files, expected 1440"
    ):
        load_corpus("ravdess", tmp_path / "ravdess", download=True, speech_url=url)
