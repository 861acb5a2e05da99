"""EMO-DB loader: file-name grammar, layout checks, perception rates, download, real copy."""

from __future__ import annotations

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
from sertune.data import load_corpus, speaker_independent_folds
from sertune.data.corpora.emodb import (
    NATIVE_TO_COMMON,
    SPEAKERS,
    parse_filename,
    read_perception_rates,
)
from sertune.errors import CorpusFileError, CorpusLayoutError, DownloadError

from corpus_fixtures import emodb_names, write_emodb


@pytest.mark.parametrize(
    ("name", "speaker", "text_id", "letter", "label", "version"),
    [
        ("03a01Fa.wav", "03", "a01", "F", "happy", "a"),
        ("16b10Wb.wav", "16", "b10", "W", "angry", "b"),
        ("08a01Lc.wav", "08", "a01", "L", "bored", "c"),
        ("09b03Ed.wav", "09", "b03", "E", "disgust", "d"),
        ("13a05Aa.wav", "13", "a05", "A", "fear", "a"),
        ("10a02Ta.wav", "10", "a02", "T", "sad", "a"),
        ("14a07Nc.wav", "14", "a07", "N", "neutral", "c"),
        ("11b09Nf.WAV", "11", "b09", "N", "neutral", "f"),  # upper-case extension
        ("/some/dir/15b01Lb.wav", "15", "b01", "L", "bored", "b"),  # a path
    ],
)
def test_parse_filename(name, speaker, text_id, letter, label, version):
    parsed = parse_filename(name)
    assert (parsed.speaker, parsed.text_id, parsed.native_label, parsed.version) == (
        speaker,
        text_id,
        letter,
        version,
    )
    assert parsed.label == label


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("03a01Fa.mp3", "not an EMO-DB file name"),
        ("3a01Fa.wav", "not an EMO-DB file name"),
        ("03a01F.wav", "not an EMO-DB file name"),
        ("03c01Fa.wav", "not an EMO-DB file name"),
        ("04a01Fa.wav", "unknown EMO-DB speaker '04'"),
        ("03a03Fa.wav", "unknown EMO-DB text code 'a03'"),
        ("03a01Xa.wav", "unknown EMO-DB emotion letter 'X'"),
    ],
)
def test_parse_filename_rejects(name, message):
    with pytest.raises(CorpusFileError, match=message) as caught:
        parse_filename(name)
    assert name in str(caught.value)


def test_mapping_and_speakers_are_complete():
    assert sorted(NATIVE_TO_COMMON) == sorted("WLEAFTN")
    assert len(SPEAKERS) == 10
    assert Counter(gender for gender, _ in SPEAKERS.values()) == {"male": 5, "female": 5}


def test_load_fixture(emodb_fixture):
    ds = load_corpus("emodb", emodb_fixture)
    assert len(ds) == 28
    row = ds[ds["id"].index("08a01Wa")]
    assert ds.features["label"].int2str(row["label"]) == "angry"
    assert (row["speaker"], row["gender"], row["age"], row["corpus"]) == (
        "08",
        "female",
        34,
        "emodb",
    )
    assert (row["text_id"], row["version"], row["native_label"]) == ("a01", "a", "W")
    assert row["text"] == "Der Lappen liegt auf dem Eisschrank."
    assert row["audio"]["path"].endswith("wav/08a01Wa.wav") and row["audio"]["bytes"] is None
    # Perception rates written by the fixture: number n (1-based) -> 60 + n % 40, 50 + n % 50.
    number = emodb_names().index("08a01Wa.wav") + 1
    assert row["recognition_rate"] == pytest.approx(60 + number % 40)
    assert row["naturalness_rate"] == pytest.approx(50 + number % 50)
    assert Counter(ds["speaker"]) == {"03": 7, "08": 7, "10": 7, "16": 7}
    # The audio column decodes through our own reader, not datasets'.
    audio = load_audio(row["audio"])
    assert audio.dtype == np.float32 and len(audio) > 15_000


def test_without_rates_file_has_no_rate_columns(tmp_path):
    root = write_emodb(tmp_path, emodb_names(speakers=("03",)), with_rates=False)
    ds = load_corpus("emodb", root)
    assert "recognition_rate" not in ds.column_names
    assert len(ds) == 7


def test_read_perception_rates_latin1_decimal_comma(tmp_path):
    path = tmp_path / "erkennung.txt"
    path.write_bytes(
        "Nr.\tSatz\terkannt\tnatuerlich\r\n1\xa0 \xa0 \t03a01Ab.wav\t65,00\xa0 \xa0\t35,50\xa0\r\n"
        "\r\n2\xa0\t16b10Wb.wav\t100,00\t75,25\r\n".encode("latin-1")
    )
    assert read_perception_rates(path) == {"03a01Ab": (65.0, 35.5), "16b10Wb": (100.0, 75.25)}
    path.write_bytes(b"Nr.\tSatz\terkannt\tnatuerlich\n1\t03a01Ab.wav\tviel\t1,0\n")
    with pytest.raises(CorpusFileError, match=r"erkennung.txt:2: .*not numbers"):
        read_perception_rates(path)


def test_wrong_folder_says_which_layout_was_expected(tmp_path, emodb_fixture):
    with pytest.raises(CorpusLayoutError, match=r"does not exist; expected the official EMO-DB"):
        load_corpus("emodb", tmp_path / "missing")
    with pytest.raises(CorpusLayoutError, match=r"no wav/ folder; expected.*wav/SSTTTEV.wav"):
        load_corpus("emodb", tmp_path)
    with pytest.raises(CorpusLayoutError, match=r"gave the wav/ folder itself"):
        load_corpus("emodb", emodb_fixture / "wav")
    (tmp_path / "wav").mkdir()
    with pytest.raises(CorpusLayoutError, match="no .wav files found"):
        load_corpus("emodb", tmp_path)


def test_bad_file_name_is_an_error_naming_the_file(tmp_path):
    root = write_emodb(tmp_path, emodb_names(speakers=("03",)))
    (root / "wav" / "99a01Wa.wav").write_bytes((root / "wav" / "03a01Wa.wav").read_bytes())
    with pytest.raises(CorpusFileError, match=r"99a01Wa.wav: unknown EMO-DB speaker"):
        load_corpus("emodb", root)


def test_stray_files_are_listed_in_a_warning(tmp_path, caplog):
    root = write_emodb(tmp_path, emodb_names(speakers=("03",)))
    (root / "wav" / ".DS_Store").write_bytes(b"\0")
    (root / "wav" / "notes.txt").write_text("x")
    with caplog.at_level(logging.WARNING, logger="sertune"):
        ds = load_corpus("emodb", root)
    assert len(ds) == 7
    assert "ignoring 2 entries" in caplog.text
    assert ".DS_Store" in caplog.text and "notes.txt" in caplog.text


def test_unknown_corpus():
    with pytest.raises(ValueError, match=r"unknown corpus 'nope'; registered corpora: \[.*emodb"):
        load_corpus("nope", "/tmp")


# -- download ------------------------------------------------------------------------------


def _zip_of_folder(root, extra_members=()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(root).as_posix())
        for name, data in extra_members:
            archive.writestr(name, data)
    return buffer.getvalue()


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


def _full_emodb_names() -> list[str]:
    # 535 files is what a full copy must hold; names only need to parse.
    names = emodb_names(
        speakers=tuple(SPEAKERS), texts=("a01", "a02", "a04", "a05", "a07", "b01", "b02", "b03")
    )
    # 10 speakers x 8 texts x 7 emotions = 560; keep 535 of them.
    names = names[:535]
    return names


@pytest.mark.parametrize("pinned", [False, True])
def test_download_from_local_server(tmp_path, http_server, pinned):
    import hashlib

    www, base = http_server
    source = write_emodb(tmp_path / "src", _full_emodb_names(), seconds=0.01)
    payload = _zip_of_folder(source)
    (www / "download.zip").write_bytes(payload)
    sha256 = hashlib.sha256(payload).hexdigest() if pinned else None
    target = tmp_path / "corpora" / "emodb"
    ds = load_corpus("emodb", target, download=True, url=f"{base}/download.zip", sha256=sha256)
    assert len(ds) == 535
    assert (target / "erkennung.txt").is_file()
    # A second load finds the corpus and does not download again.
    (www / "download.zip").unlink()
    assert len(load_corpus("emodb", target, download=True, url=f"{base}/download.zip")) == 535


def test_download_rejects_wrong_checksum(tmp_path, http_server):
    www, base = http_server
    source = write_emodb(tmp_path / "src", _full_emodb_names()[:7], seconds=0.01)
    (www / "download.zip").write_bytes(_zip_of_folder(source))
    target = tmp_path / "emodb"
    with pytest.raises(DownloadError, match="sha256"):
        load_corpus("emodb", target, download=True, url=f"{base}/download.zip", sha256="0" * 64)
    assert not (target / "wav").exists()


def test_download_verifies_file_count(tmp_path, http_server):
    www, base = http_server
    source = write_emodb(tmp_path / "src", _full_emodb_names()[:7], seconds=0.01)
    (www / "download.zip").write_bytes(_zip_of_folder(source))
    with pytest.raises(
        DownloadError, match="failed verification.*found 7 .wav files, expected 535"
    ):
        load_corpus("emodb", tmp_path / "emodb", download=True, url=f"{base}/download.zip")


def test_download_refuses_path_traversal(tmp_path, http_server):
    www, base = http_server
    source = write_emodb(tmp_path / "src", _full_emodb_names()[:7], seconds=0.01)
    payload = _zip_of_folder(source, extra_members=[("../escaped.txt", b"gotcha")])
    (www / "download.zip").write_bytes(payload)
    target = tmp_path / "deep" / "emodb"
    with pytest.raises(DownloadError, match=r"\.\./escaped\.txt"):
        load_corpus("emodb", target, download=True, url=f"{base}/download.zip")
    assert not list(tmp_path.rglob("escaped.txt"))
    assert not (target / "wav").exists()


def test_download_missing_url(tmp_path, http_server):
    _, base = http_server
    with pytest.raises(DownloadError, match="404"):
        load_corpus("emodb", tmp_path / "emodb", download=True, url=f"{base}/nothing.zip")


def test_download_refused_for_loaded_folder_is_noop(emodb_fixture):
    # The corpus is there: no network access happens even with download=True.
    ds = load_corpus("emodb", emodb_fixture, download=True, url="http://127.0.0.1:9/none.zip")
    assert len(ds) == 28


# -- the real corpus -----------------------------------------------------------------------


@pytest.mark.shared
def test_real_emodb(shared_emodb):
    ds = load_corpus("emodb", shared_emodb)
    assert len(ds) == 535
    assert len(set(ds["speaker"])) == 10
    names = ds.features["label"].names
    counts = Counter(names[i] for i in ds["label"])
    assert sorted(counts.values(), reverse=True) == [127, 81, 79, 71, 69, 62, 46]
    assert counts == {
        "angry": 127,
        "bored": 81,
        "neutral": 79,
        "happy": 71,
        "fear": 69,
        "sad": 62,
        "disgust": 46,
    }
    assert Counter(ds["gender"]) == {
        "female": sum(c for s, c in Counter(ds["speaker"]).items() if SPEAKERS[s][0] == "female"),
        "male": sum(c for s, c in Counter(ds["speaker"]).items() if SPEAKERS[s][0] == "male"),
    }
    # Every selected utterance is in the perception test.
    assert all(rate is not None for rate in ds["recognition_rate"])
    assert min(ds["recognition_rate"]) >= 80.0  # the corpus's own selection criterion
    audio = load_audio(ds[0]["audio"])
    assert audio.shape == (32_000,)  # the 2.0 s copy, resampled from 22.05 kHz to 16 kHz
    for fold in speaker_independent_folds(ds, "loso", seed=0):
        assert set(fold.test_speakers).isdisjoint(fold.train_speakers)
