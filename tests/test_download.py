"""Tests for sertune.data.download against a real HTTP server on 127.0.0.1.

The archives are built here, byte by byte, with zipfile and tarfile: a small EMO-DB-like zip, the
same content as tar in every compression, and hostile archives (path traversal, absolute names,
links pointing outside, writes through links, devices).
"""

from __future__ import annotations

import hashlib
import http.server
import io
import logging
import os
import socket
import tarfile
import threading
import zipfile
from functools import partial
from pathlib import Path

import pytest

from sertune.data.download import (
    download_and_extract,
    download_file,
    extract_archive,
    sha256sum,
)
from sertune.errors import DownloadError

#: The content of the well-formed fixture archives: EMO-DB-style names in its real layout.
CORPUS_FILES: dict[str, bytes] = {
    "wav/03a01Fa.wav": b"RIFF-fake-03a01Fa",
    "wav/03a01Nc.wav": b"RIFF-fake-03a01Nc",
    "wav/16b10Td.wav": b"RIFF-fake-16b10Td",
    "lablaut/03a01Fa.lablaut": b"label text",
}

TRUNCATED_PATH = "/truncated.zip"


# --------------------------------------------------------------------------------------------
# Fixtures: a local HTTP server and archive builders


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """Keep urllib from sending the requests for 127.0.0.1 to a proxy from the environment."""
    for name in (
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "*")


class _RecordingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder, records the requested paths and can send a truncated body."""

    requested_paths: list[str]

    def do_GET(self):
        self.requested_paths.append(self.path)
        if self.path == TRUNCATED_PATH:
            # Announce 1000 bytes, send 10, close: a connection that broke off mid-download.
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, format, *args):
        pass  # keep test output clean


class LocalServer:
    """A running ThreadingHTTPServer on 127.0.0.1 serving ``folder``."""

    def __init__(self, folder: Path, server: http.server.ThreadingHTTPServer, requested_paths):
        self.folder = folder
        self.server = server
        self.requested_paths = requested_paths
        host, port = server.server_address[:2]
        self.base_url = f"http://{host}:{port}"

    def publish(self, name: str, content: bytes) -> str:
        """Put ``content`` on the server as ``name`` and return its URL."""
        (self.folder / name).write_bytes(content)
        return f"{self.base_url}/{name}"


@pytest.fixture
def local_server(tmp_path):
    served_folder = tmp_path / "served"
    served_folder.mkdir()
    requested_paths: list[str] = []
    handler = partial(
        type("Handler", (_RecordingHandler,), {"requested_paths": requested_paths}),
        directory=str(served_folder),
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield LocalServer(served_folder, server, requested_paths)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def workdir(tmp_path):
    """Where downloads and extractions go: a folder the server does not serve."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zip_file:
        for name, content in members.items():
            # ZipInfo keeps the name as given; zip_file.writestr(str, ...) would too, but be explicit.
            zip_file.writestr(zipfile.ZipInfo(name), content)
    return buffer.getvalue()


def make_tar(members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w") -> bytes:
    """Build a tar archive; a (name, bytes) pair is a regular file, a TarInfo is added as is."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar_file:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar_file.addfile(member)
            else:
                name, content = member
                info = tarfile.TarInfo(name)
                info.size = len(content)
                tar_file.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def tar_entry(name: str, member_type: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = member_type
    info.linkname = linkname
    return info


def corpus_tar(mode: str = "w") -> bytes:
    return make_tar(list(CORPUS_FILES.items()), mode=mode)


def assert_corpus_extracted(target_dir: Path) -> None:
    extracted = {
        path.relative_to(target_dir).as_posix(): path.read_bytes()
        for path in target_dir.rglob("*")
        if path.is_file()
    }
    assert extracted == CORPUS_FILES


def sha256_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def free_local_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --------------------------------------------------------------------------------------------
# Downloading


def test_sha256sum_matches_hashlib(tmp_path):
    content = os.urandom(3000)
    path = tmp_path / "blob"
    path.write_bytes(content)
    assert sha256sum(path, chunk_size=1000) == sha256_of(content)


def test_download_with_right_sha256(local_server, workdir):
    content = make_zip(CORPUS_FILES)
    url = local_server.publish("corpus.zip", content)
    destination = workdir / "sub" / "corpus.zip"

    result = download_file(url, destination, sha256=sha256_of(content).upper(), chunk_size=64)

    assert result == destination
    assert destination.read_bytes() == content
    assert sorted(os.listdir(destination.parent)) == ["corpus.zip"]  # no .part left behind


def test_download_with_wrong_sha256_fails_and_leaves_no_file(local_server, workdir):
    content = make_zip(CORPUS_FILES)
    url = local_server.publish("corpus.zip", content)
    wrong_digest = "0" * 64

    with pytest.raises(DownloadError) as raised:
        download_file(url, workdir / "corpus.zip", sha256=wrong_digest)

    message = str(raised.value)
    assert url in message
    assert wrong_digest in message
    assert sha256_of(content) in message
    assert os.listdir(workdir) == []


def test_malformed_sha256_is_rejected(workdir):
    with pytest.raises(ValueError, match="64 hexadecimal"):
        download_file("http://127.0.0.1:9/x.zip", workdir / "x.zip", sha256="abc")


def test_http_404_names_the_url(local_server, workdir):
    url = f"{local_server.base_url}/missing.zip"
    with pytest.raises(DownloadError, match="404") as raised:
        download_file(url, workdir / "missing.zip")
    assert url in str(raised.value)
    assert os.listdir(workdir) == []


def test_connection_refused_names_the_url(workdir):
    url = f"http://127.0.0.1:{free_local_port()}/corpus.zip"
    with pytest.raises(DownloadError) as raised:
        download_file(url, workdir / "corpus.zip", timeout=5)
    assert url in str(raised.value)
    assert os.listdir(workdir) == []


def test_truncated_body_fails_and_leaves_no_file(local_server, workdir):
    url = f"{local_server.base_url}{TRUNCATED_PATH}"
    with pytest.raises(DownloadError) as raised:
        download_file(url, workdir / "truncated.zip", timeout=5)
    assert url in str(raised.value)
    assert os.listdir(workdir) == []


def test_unsupported_scheme_is_refused(workdir):
    with pytest.raises(DownloadError, match="unsupported URL scheme 'ftp'"):
        download_file("ftp://127.0.0.1/corpus.zip", workdir / "corpus.zip")


def test_file_url(tmp_path, workdir):
    content = os.urandom(5000)
    source = tmp_path / "source.bin"
    source.write_bytes(content)

    download_file(source.as_uri(), workdir / "copy.bin", sha256=sha256_of(content), chunk_size=1024)

    assert (workdir / "copy.bin").read_bytes() == content


def test_missing_file_url_names_the_url(tmp_path, workdir):
    url = (tmp_path / "absent.zip").as_uri()
    with pytest.raises(DownloadError) as raised:
        download_file(url, workdir / "absent.zip")
    assert url in str(raised.value)


def test_existing_file_with_right_sha256_is_not_downloaded_again(local_server, workdir, caplog):
    content = make_zip(CORPUS_FILES)
    url = local_server.publish("corpus.zip", content)
    destination = workdir / "corpus.zip"
    download_file(url, destination, sha256=sha256_of(content))
    assert local_server.requested_paths == ["/corpus.zip"]

    with caplog.at_level(logging.INFO, logger="sertune.data.download"):
        download_file(url, destination, sha256=sha256_of(content))

    assert local_server.requested_paths == ["/corpus.zip"]
    assert "not downloading" in caplog.text


def test_existing_file_with_wrong_sha256_is_replaced(local_server, workdir):
    content = make_zip(CORPUS_FILES)
    url = local_server.publish("corpus.zip", content)
    destination = workdir / "corpus.zip"
    destination.write_bytes(b"stale or damaged")

    download_file(url, destination, sha256=sha256_of(content))

    assert destination.read_bytes() == content
    assert local_server.requested_paths == ["/corpus.zip"]


# --------------------------------------------------------------------------------------------
# Extracting well-formed archives


@pytest.mark.parametrize(
    ("file_name", "build"),
    [
        ("corpus.zip", lambda: make_zip(CORPUS_FILES)),
        ("corpus.tar", lambda: corpus_tar("w")),
        ("corpus.tar.gz", lambda: corpus_tar("w:gz")),
        ("corpus.tgz", lambda: corpus_tar("w:gz")),
        ("corpus.tar.bz2", lambda: corpus_tar("w:bz2")),
        ("corpus.tar.xz", lambda: corpus_tar("w:xz")),
        # The format comes from the content, not the name.
        ("zip-named.tar.gz", lambda: make_zip(CORPUS_FILES)),
        ("gzip-tar-named.zip", lambda: corpus_tar("w:gz")),
        ("download", lambda: corpus_tar("w:xz")),
    ],
)
def test_extract_archive_formats(tmp_path, file_name, build):
    archive = tmp_path / file_name
    archive.write_bytes(build())
    target_dir = tmp_path / "out" / "corpus"

    assert extract_archive(archive, target_dir) == target_dir

    assert_corpus_extracted(target_dir)
    assert os.listdir(target_dir.parent) == ["corpus"]  # no staging folder left behind


def test_extract_archive_keeps_links_that_stay_inside(tmp_path):
    archive = tmp_path / "links.tar"
    archive.write_bytes(
        make_tar(
            [
                ("wav/03a01Fa.wav", b"audio"),
                tar_entry("wav/latest.wav", tarfile.SYMTYPE, "03a01Fa.wav"),
                tar_entry("copy.wav", tarfile.LNKTYPE, "wav/03a01Fa.wav"),
            ]
        )
    )
    target_dir = tmp_path / "corpus"

    extract_archive(archive, target_dir)

    assert (target_dir / "wav" / "latest.wav").is_symlink()
    assert (target_dir / "wav" / "latest.wav").read_bytes() == b"audio"
    assert (target_dir / "copy.wav").read_bytes() == b"audio"


def test_extract_into_empty_existing_folder(tmp_path):
    archive = tmp_path / "corpus.zip"
    archive.write_bytes(make_zip(CORPUS_FILES))
    target_dir = tmp_path / "corpus"
    target_dir.mkdir()

    extract_archive(archive, target_dir)

    assert_corpus_extracted(target_dir)


def test_extract_refuses_non_empty_target(tmp_path):
    archive = tmp_path / "corpus.zip"
    archive.write_bytes(make_zip(CORPUS_FILES))
    target_dir = tmp_path / "corpus"
    target_dir.mkdir()
    (target_dir / "mine.txt").write_text("precious")

    with pytest.raises(DownloadError, match="not empty"):
        extract_archive(archive, target_dir)

    assert os.listdir(target_dir) == ["mine.txt"]


@pytest.mark.parametrize("content", [b"", b"this is not an archive" * 100], ids=["empty", "text"])
def test_extract_refuses_non_archives(tmp_path, content):
    archive = tmp_path / "download.zip"
    archive.write_bytes(content)
    with pytest.raises(DownloadError, match="not a zip or tar archive"):
        extract_archive(archive, tmp_path / "corpus")
    assert not (tmp_path / "corpus").exists()


def test_extract_refuses_damaged_zip(tmp_path):
    archive = tmp_path / "corpus.zip"
    archive.write_bytes(make_zip(CORPUS_FILES)[:-40])  # cut into the central directory
    with pytest.raises(DownloadError, match=r"corpus\.zip"):
        extract_archive(archive, tmp_path / "corpus")
    assert sorted(os.listdir(tmp_path)) == ["corpus.zip"]


# --------------------------------------------------------------------------------------------
# Refusing unsafe archives

ABSOLUTE_TMP_MEMBER = "/tmp/evil"

UNSAFE_ARCHIVES = {
    "zip-parent-traversal": (
        "evil.zip",
        lambda: make_zip({"wav/03a01Fa.wav": b"ok", "../evil.txt": b"pwned"}),
        "../evil.txt",
    ),
    "zip-nested-traversal": (
        "evil.zip",
        lambda: make_zip({"wav/03a01Fa.wav": b"ok", "wav/../../evil.txt": b"pwned"}),
        "wav/../../evil.txt",
    ),
    "zip-absolute": (
        "evil.zip",
        lambda: make_zip({"wav/03a01Fa.wav": b"ok", ABSOLUTE_TMP_MEMBER: b"pwned"}),
        ABSOLUTE_TMP_MEMBER,
    ),
    "zip-backslash-traversal": (
        "evil.zip",
        lambda: make_zip({"wav/03a01Fa.wav": b"ok", "..\\evil.txt": b"pwned"}),
        "..\\evil.txt",
    ),
    "tar-parent-traversal": (
        "evil.tar.gz",
        lambda: make_tar([("wav/03a01Fa.wav", b"ok"), ("../evil.txt", b"pwned")], "w:gz"),
        "../evil.txt",
    ),
    "tar-absolute": (
        "evil.tar",
        lambda: make_tar([("wav/03a01Fa.wav", b"ok"), (ABSOLUTE_TMP_MEMBER, b"pwned")]),
        ABSOLUTE_TMP_MEMBER,
    ),
    "tar-symlink-absolute": (
        "evil.tar",
        lambda: make_tar(
            [("wav/03a01Fa.wav", b"ok"), tar_entry("wav/passwd", tarfile.SYMTYPE, "/etc/passwd")]
        ),
        "wav/passwd",
    ),
    "tar-symlink-climbs-out": (
        "evil.tar",
        lambda: make_tar(
            [("wav/03a01Fa.wav", b"ok"), tar_entry("wav/x", tarfile.SYMTYPE, "../../x")]
        ),
        "wav/x",
    ),
    "tar-hardlink-outside": (
        "evil.tar",
        lambda: make_tar(
            [("wav/03a01Fa.wav", b"ok"), tar_entry("wav/x", tarfile.LNKTYPE, "../evil.txt")]
        ),
        "wav/x",
    ),
    "tar-write-through-symlink": (
        # The link itself points inside ("." is the target root), but "up/../evil.txt" then
        # resolves through it to the target's parent, which no lexical check can see.
        "evil.tar",
        lambda: make_tar([tar_entry("up", tarfile.SYMTYPE, "."), ("up/../evil.txt", b"pwned")]),
        "up/../evil.txt",
    ),
    "tar-symlink-through-symlink": (
        "evil.tar",
        lambda: make_tar(
            [tar_entry("here", tarfile.SYMTYPE, "."), tar_entry("out", tarfile.SYMTYPE, "here/..")]
        ),
        "out",
    ),
    "tar-fifo": (
        "evil.tar",
        lambda: make_tar([("wav/03a01Fa.wav", b"ok"), tar_entry("wav/pipe", tarfile.FIFOTYPE)]),
        "wav/pipe",
    ),
    "tar-char-device": (
        "evil.tar",
        lambda: make_tar([("wav/03a01Fa.wav", b"ok"), tar_entry("wav/null", tarfile.CHRTYPE)]),
        "wav/null",
    ),
}


@pytest.mark.parametrize(
    ("file_name", "build", "bad_member"), list(UNSAFE_ARCHIVES.values()), ids=list(UNSAFE_ARCHIVES)
)
def test_extract_refuses_unsafe_archive(tmp_path, file_name, build, bad_member):
    sandbox = tmp_path / "a" / "b"
    sandbox.mkdir(parents=True)
    archive = sandbox / file_name
    archive.write_bytes(build())
    target_dir = sandbox / "corpus"
    tmp_evil_existed = os.path.lexists(ABSOLUTE_TMP_MEMBER)

    with pytest.raises(DownloadError) as raised:
        extract_archive(archive, target_dir)

    message = str(raised.value)
    assert str(archive) in message
    assert repr(bad_member) in message
    # Nothing at all in the target, nothing beside it, nothing above it.
    assert not target_dir.exists()
    assert os.listdir(sandbox) == [file_name]
    assert os.listdir(tmp_path / "a") == ["b"]
    assert os.listdir(tmp_path) == ["a"]
    if not tmp_evil_existed:
        assert not os.path.lexists(ABSOLUTE_TMP_MEMBER)


def test_download_and_extract_refuses_unsafe_archive(local_server, workdir):
    url = local_server.publish("evil.zip", make_zip({"../evil.txt": b"pwned"}))
    target_dir = workdir / "corpus"

    with pytest.raises(DownloadError, match=r"'\.\./evil\.txt'"):
        download_and_extract(url, target_dir)

    assert os.listdir(workdir) == []  # no corpus, no staging folder, no archive
    assert not (workdir.parent / "evil.txt").exists()


# --------------------------------------------------------------------------------------------
# download_and_extract


def test_download_and_extract_zip(local_server, workdir):
    content = make_zip(CORPUS_FILES)
    url = local_server.publish("download.zip", content)
    target_dir = workdir / "emodb"
    verified: list[Path] = []

    result = download_and_extract(
        url, target_dir, sha256=sha256_of(content), verify=verified.append
    )

    assert result == target_dir
    assert verified == [target_dir]
    assert_corpus_extracted(target_dir)
    assert os.listdir(workdir) == ["emodb"]  # the archive was removed


def test_download_and_extract_tar_gz_keeping_the_archive(local_server, workdir):
    content = corpus_tar("w:gz")
    url = local_server.publish("corpus.tar.gz", content)
    target_dir = workdir / "corpus"

    download_and_extract(url, target_dir, archive_name="kept.tar.gz", keep_archive=True)

    assert_corpus_extracted(target_dir)
    assert sorted(os.listdir(workdir)) == ["corpus", "kept.tar.gz"]
    assert (workdir / "kept.tar.gz").read_bytes() == content


def test_download_and_extract_wrong_sha256(local_server, workdir):
    url = local_server.publish("download.zip", make_zip(CORPUS_FILES))
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        download_and_extract(url, workdir / "emodb", sha256="f" * 64)
    assert os.listdir(workdir) == []


def test_download_and_extract_verify_failure_propagates(local_server, workdir):
    url = local_server.publish("download.zip", make_zip(CORPUS_FILES))
    target_dir = workdir / "emodb"

    def expect_535_wavs(folder: Path) -> None:
        count = len(list((folder / "wav").glob("*.wav")))
        if count != 535:
            raise FileNotFoundError(f"expected 535 wav files in {folder / 'wav'}, found {count}")

    with pytest.raises(DownloadError, match="failed verification") as raised:
        download_and_extract(url, target_dir, verify=expect_535_wavs)

    assert "found 3" in str(raised.value)
    assert str(target_dir) in str(raised.value)
    assert isinstance(raised.value.__cause__, FileNotFoundError)


def test_download_and_extract_404(local_server, workdir):
    url = f"{local_server.base_url}/nowhere/download.zip"
    with pytest.raises(DownloadError, match="404") as raised:
        download_and_extract(url, workdir / "emodb")
    assert url in str(raised.value)
    assert os.listdir(workdir) == []


def test_download_and_extract_file_url(tmp_path, workdir):
    source = tmp_path / "download.zip"
    source.write_bytes(make_zip(CORPUS_FILES))

    download_and_extract(source.as_uri(), workdir / "emodb")

    assert_corpus_extracted(workdir / "emodb")


def test_download_and_extract_reuses_a_verified_existing_folder(local_server, workdir, caplog):
    url = local_server.publish("download.zip", make_zip(CORPUS_FILES))
    target_dir = workdir / "emodb"
    download_and_extract(url, target_dir)
    assert local_server.requested_paths == ["/download.zip"]
    verified: list[Path] = []

    with caplog.at_level(logging.INFO, logger="sertune.data.download"):
        download_and_extract(url, target_dir, verify=verified.append)

    assert local_server.requested_paths == ["/download.zip"]
    assert verified == [target_dir]
    assert "not downloading" in caplog.text


def test_download_and_extract_existing_folder_failing_verify(local_server, workdir):
    url = local_server.publish("download.zip", make_zip(CORPUS_FILES))
    target_dir = workdir / "emodb"
    target_dir.mkdir()
    (target_dir / "unrelated.txt").write_text("not a corpus")

    def require_wav_folder(folder: Path) -> None:
        if not (folder / "wav").is_dir():
            raise FileNotFoundError(f"no wav/ folder in {folder}")

    with pytest.raises(DownloadError, match="failed verification"):
        download_and_extract(url, target_dir, verify=require_wav_folder)

    assert local_server.requested_paths == []
    assert os.listdir(target_dir) == ["unrelated.txt"]
