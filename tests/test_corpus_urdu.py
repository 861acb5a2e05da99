"""URDU loader: file-name grammar, emotion folders, layout checks, quirks, download."""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import zipfile
from collections import Counter
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from sertune.audio import load_audio
from sertune.data import load_corpus
from sertune.data.corpora.urdu import NATIVE_TO_COMMON, parse_filename
from sertune.errors import CorpusFileError, CorpusLayoutError, DownloadError

from fixture_urdu import URDU_NAMES, urdu_full_names, write_urdu


@pytest.fixture(scope="module")
def urdu_root(tmp_path_factory):
    return write_urdu(tmp_path_factory.mktemp("urdu"))


@pytest.mark.parametrize(
    ("name", "speaker", "gender", "file_number", "emotion", "index"),
    [
        ("SM1_F10_A010.wav", "SM1", "male", 10, "Angry", 10),
        ("SM1_F1_A01.wav", "SM1", "male", 1, "Angry", 1),
        ("SM4_F48_A0100.wav", "SM4", "male", 48, "Angry", 100),
        ("SF6_F14_H038.wav", "SF6", "female", 14, "Happy", 38),
        ("SM27_F4_S096.wav", "SM27", "male", 4, "Sad", 96),
        ("SF11_F1_S03.wav", "SF11", "female", 1, "Sad", 3),
        ("SM5_F72_N0100.WAV", "SM5", "male", 72, "Neutral", 100),
        ("/x/Neutral/SF9_F4_N04.wav", "SF9", "female", 4, "Neutral", 4),
    ],
)
def test_parse_filename(name, speaker, gender, file_number, emotion, index):
    parsed = parse_filename(name)
    assert (parsed.speaker, parsed.gender, parsed.file_number) == (speaker, gender, file_number)
    assert (parsed.native_label, parsed.index) == (emotion, index)
    assert parsed.label == NATIVE_TO_COMMON[emotion]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("SM1_F10_A10.wav", "not a URDU file name"),  # the running number's leading 0
        ("M1_F10_A010.wav", "not a URDU file name"),
        ("SX1_F10_A010.wav", "not a URDU file name"),
        ("SM1-F10-A010.wav", "not a URDU file name"),
        ("SM1_F10_A010.mp3", "not a URDU file name"),
        ("SM28_F1_A01.wav", r"unknown URDU speaker SM28; male speakers are numbered 1-27"),
        ("SF12_F1_H01.wav", r"unknown URDU speaker SF12; female speakers are numbered 1-11"),
        ("SM0_F1_A01.wav", r"unknown URDU speaker SM0"),
        ("SM1_F1_X01.wav", "unknown URDU emotion initial 'X'"),
    ],
)
def test_parse_filename_rejects(name, message):
    with pytest.raises(CorpusFileError, match=message) as caught:
        parse_filename(name)
    assert name in str(caught.value)


def test_load_fixture(urdu_root, caplog):
    with caplog.at_level(logging.WARNING, logger="sertune"):
        ds = load_corpus("urdu", urdu_root)
    assert len(ds) == len(URDU_NAMES) == 16
    names = ds.features["label"].names

    row = ds[ds["id"].index("SF6_F14_H038")]
    assert (names[row["label"]], row["speaker"], row["gender"], row["corpus"]) == (
        "happy",
        "SF6",
        "female",
        "urdu",
    )
    assert row["native_label"] == "Happy" and row["audio"]["path"].endswith(
        "Happy/SF6_F14_H038.wav"
    )

    row = ds[ds["id"].index("SM4_F48_A0100")]  # in a per-speaker sub-folder
    assert (names[row["label"]], row["gender"]) == ("angry", "male")
    assert row["audio"]["path"].endswith("Angry/SM4/SM4_F48_A0100.wav")

    assert Counter(names[i] for i in ds["label"]) == dict.fromkeys(names, 4)
    assert Counter(ds["gender"]) == {"female": 5, "male": 11}
    assert ds["speaker"].count("SM3") == 2  # one speaker, two emotions
    # README.md is expected; .DS_Store is stray.
    assert ".DS_Store" in caplog.text and "README.md" not in caplog.text
    for row_id in ("SM1_F10_A010", "SM2_F1_A023"):  # stereo, 44.1 kHz
        audio = load_audio(ds[ds["id"].index(row_id)]["audio"])
        assert audio.ndim == 1 and audio.dtype == np.float32 and len(audio) == 3200


def test_label_selection(urdu_root):
    ds = load_corpus("urdu", urdu_root, labels={"neutral": "neutral", "angry": "angry"})
    assert ds.features["label"].names == ["angry", "neutral"] and len(ds) == 8


def test_layout_errors_say_what_was_expected(tmp_path, urdu_root, caplog):
    with pytest.raises(CorpusLayoutError, match=r"does not exist; expected the URDU layout"):
        load_corpus("urdu", tmp_path / "missing")
    with pytest.raises(CorpusLayoutError, match=r"no URDU emotion folder found; expected"):
        load_corpus("urdu", tmp_path)
    with pytest.raises(CorpusLayoutError, match=r"gave an emotion folder; pass"):
        load_corpus("urdu", urdu_root / "Sad")
    (tmp_path / "empty" / "Sad").mkdir(parents=True)
    with (
        caplog.at_level(logging.WARNING, logger="sertune"),
        pytest.raises(CorpusLayoutError, match=r"no \.wav files found"),
    ):
        load_corpus("urdu", tmp_path / "empty")
    assert "has no ['Angry', 'Happy', 'Neutral'] folder: a partial copy" in caplog.text


def test_file_in_the_wrong_folder_and_bad_names_are_errors(tmp_path):
    root = write_urdu(tmp_path / "a", URDU_NAMES[:5], quirks=False)
    (root / "Angry" / "SF1_F1_H01.wav").write_bytes(
        (root / "Happy" / "SF1_F1_H01.wav").read_bytes()
    )
    with pytest.raises(CorpusFileError, match=r"SF1_F1_H01.wav: a Happy file name in the Angry"):
        load_corpus("urdu", root)
    root = write_urdu(tmp_path / "b", URDU_NAMES[:5], quirks=False)
    (root / "Sad").mkdir()
    (root / "Sad" / "SM1_F1_S1.wav").write_bytes(b"RIFF")
    with pytest.raises(CorpusFileError, match=r"SM1_F1_S1.wav: not a URDU file name"):
        load_corpus("urdu", root)


# -- download ------------------------------------------------------------------------------


@pytest.fixture
def http_server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp_path/www."""
    www = tmp_path / "www"
    www.mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *args, **kwargs: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _github_archive(source, top="URDU-Dataset-master") -> bytes:
    """A zip laid out like GitHub's branch archives: everything under one top folder."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                archive.write(path, f"{top}/{path.relative_to(source).as_posix()}")
    return buffer.getvalue()


@pytest.mark.parametrize("pinned", [False, True])
def test_download_from_local_server(tmp_path, http_server, pinned):
    www, base = http_server
    source = write_urdu(tmp_path / "src", urdu_full_names(), seconds=0.01, quirks=False)
    (source / "README.md").write_text("# URDU-Dataset\n")
    payload = _github_archive(source)
    (www / "master.zip").write_bytes(payload)
    sha256 = hashlib.sha256(payload).hexdigest() if pinned else None
    target = tmp_path / "corpora" / "urdu"
    ds = load_corpus("urdu", target, download=True, url=f"{base}/master.zip", sha256=sha256)
    assert len(ds) == 400
    assert (target / "URDU-Dataset-master" / "Angry").is_dir()
    assert Counter(ds["native_label"]) == dict.fromkeys(NATIVE_TO_COMMON, 100)
    # A second load finds the corpus and does not download again.
    (www / "master.zip").unlink()
    assert len(load_corpus("urdu", target, download=True, url=f"{base}/master.zip")) == 400


def test_download_verifies_the_layout(tmp_path, http_server):
    www, base = http_server
    source = write_urdu(tmp_path / "src", URDU_NAMES, seconds=0.01, quirks=False)
    (www / "master.zip").write_bytes(_github_archive(source))
    with pytest.raises(
        DownloadError, match=r"failed verification.*found 16 \.wav files, expected 400"
    ):
        load_corpus("urdu", tmp_path / "urdu", download=True, url=f"{base}/master.zip")


def test_download_rejects_wrong_checksum(tmp_path, http_server):
    www, base = http_server
    source = write_urdu(tmp_path / "src", URDU_NAMES[:4], seconds=0.01, quirks=False)
    (www / "master.zip").write_bytes(_github_archive(source))
    target = tmp_path / "urdu"
    with pytest.raises(DownloadError, match="sha256"):
        load_corpus("urdu", target, download=True, url=f"{base}/master.zip", sha256="0" * 64)
    assert not target.exists() or not any(target.iterdir())


def test_download_is_a_noop_when_the_corpus_is_there(urdu_root):
    ds = load_corpus("urdu", urdu_root, download=True, url="http://127.0.0.1:9/none.zip")
    assert len(ds) == 16
