"""Download, check and safely unpack corpus archives.

Corpus loaders call :func:`download_and_extract` with the archive's official address. Everything
here uses the standard library (``urllib``, ``hashlib``, ``zipfile``, ``tarfile``) plus ``tqdm``
for the progress bar.

Two promises hold whatever goes wrong:

* A file or folder only appears at its final path once it is complete: downloads stream into a
  temporary file beside the destination and archives unpack into a temporary folder beside the
  target, and each is renamed into place at the end. An interrupted run leaves no half-written
  archive and no half-written corpus.
* An archive is checked member by member before anything is written. One member that would land
  outside the target (an absolute name, a ``..`` that climbs out, a link pointing outside, a write
  through a link, a device or FIFO) refuses the whole archive.

Every failure raises :class:`~sertune.errors.DownloadError` naming the URL or the archive and
member at fault.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import lzma
import os
import posixpath
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from tqdm.auto import tqdm

from sertune.errors import DownloadError

logger = logging.getLogger(__name__)

#: URL schemes that :func:`download_file` accepts; anything else (``ftp``, ``data``) is refused.
SUPPORTED_URL_SCHEMES: tuple[str, ...] = ("http", "https", "file")

_HASH_CHUNK_SIZE = 1 << 20
_ZIP_MAGIC_PREFIXES = (b"PK\x03\x04", b"PK\x05\x06")
# Errors that the archive readers raise on damaged input, besides their own *Error classes.
_ARCHIVE_READ_ERRORS = (
    tarfile.TarError,
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
)
# tarfile.FilterError exists only where extraction filters do (Python >= 3.10.12 / 3.11.4).
_TAR_FILTER_ERRORS: tuple[type[Exception], ...] = (
    (tarfile.FilterError,) if hasattr(tarfile, "FilterError") else ()
)


def sha256sum(path: str | os.PathLike, chunk_size: int = _HASH_CHUNK_SIZE) -> str:
    """Compute the SHA-256 digest of a file.

    Args:
        path: The file to hash.
        chunk_size: How many bytes to read at a time.

    Returns:
        The digest as 64 lowercase hexadecimal characters.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(
    url: str,
    destination: str | os.PathLike,
    *,
    sha256: str | None = None,
    timeout: float = 60,
    chunk_size: int = 1 << 20,
) -> Path:
    """Download a URL to a file, atomically, optionally checking its SHA-256 digest.

    The body streams into a temporary file in the destination's folder (with a ``tqdm`` progress
    bar, shown only on a terminal) and is renamed onto ``destination`` only once it is complete
    and, when ``sha256`` is given, its digest matches. If ``destination`` already exists with the
    expected digest it is reused without downloading. Without ``sha256`` an existing file cannot
    be checked, so it is downloaded again and replaced.

    Args:
        url: An ``http://``, ``https://`` or ``file://`` URL.
        destination: Where the file ends up. Missing parent folders are created.
        sha256: Expected SHA-256 digest in hexadecimal (case does not matter), or ``None`` to skip
            the check.
        timeout: Seconds to wait for the server to connect or to send the next bytes.
        chunk_size: How many bytes to read and write at a time.

    Returns:
        The path of the downloaded file.

    Raises:
        DownloadError: The URL has an unsupported scheme, the server answered with an HTTP error,
            the connection failed or broke off, the body was shorter than announced, or the
            digest did not match. No file is left at ``destination`` in these cases, except a
            previously existing one that the failed attempt would have replaced.
        ValueError: ``sha256`` is not 64 hexadecimal characters.
    """
    destination = Path(destination)
    expected_digest = _normalise_sha256(sha256)
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in SUPPORTED_URL_SCHEMES:
        raise DownloadError(
            f"cannot download {url}: unsupported URL scheme {scheme!r} "
            f"(supported: {', '.join(SUPPORTED_URL_SCHEMES)})"
        )

    if destination.is_file() and _existing_matches(destination, expected_digest, url):
        return destination

    destination.parent.mkdir(parents=True, exist_ok=True)
    partial_fd, partial_name = tempfile.mkstemp(
        dir=destination.parent, prefix=f".{destination.name}.", suffix=".part"
    )
    partial_path = Path(partial_name)
    try:
        with os.fdopen(partial_fd, "wb") as partial_file:
            actual_digest = _stream_url_to_file(
                url, partial_file, timeout=timeout, chunk_size=chunk_size
            )
        if expected_digest is not None and actual_digest != expected_digest:
            raise DownloadError(
                f"sha256 mismatch for {url}: expected {expected_digest}, got {actual_digest}; "
                "the downloaded file was deleted"
            )
        os.replace(partial_path, destination)
    except BaseException:
        # Also on KeyboardInterrupt: a half-written .part file is never worth keeping.
        partial_path.unlink(missing_ok=True)
        raise
    logger.info("downloaded %s to %s (sha256 %s)", url, destination, actual_digest)
    return destination


def _existing_matches(destination: Path, expected_digest: str | None, url: str) -> bool:
    """Whether an existing ``destination`` is the file wanted (its digest known and equal)."""
    if expected_digest is None:
        logger.info(
            "%s exists but no sha256 was given to check it; downloading it again", destination
        )
        return False
    existing_digest = sha256sum(destination)
    if existing_digest == expected_digest:
        logger.info(
            "%s already exists with sha256 %s; not downloading %s again",
            destination,
            expected_digest,
            url,
        )
        return True
    logger.warning(
        "%s exists but its sha256 is %s, not the expected %s; downloading %s again",
        destination,
        existing_digest,
        expected_digest,
        url,
    )
    return False


def extract_archive(archive: str | os.PathLike, target_dir: str | os.PathLike) -> Path:
    """Unpack a zip or tar archive into a new folder, refusing any unsafe member.

    The format is detected from the file's content, not its name: zip, and tar either plain or
    compressed with gzip, bzip2 or xz. Every member is checked before anything is written; the
    whole archive is refused if any member

    * has an absolute name (``/etc/x``, ``C:/x``),
    * climbs out of the target with ``..``,
    * is a symbolic or hard link (tar) whose target is absolute or outside the target folder,
    * would be written through, or is a link resolved through, another symbolic link in the
      archive (lexical checks cannot follow links, so they are refused outright),
    * is a character device, block device, FIFO or any other special tar member.

    Backslashes count as path separators in these checks, so ``..\\x`` is refused too. Tar
    archives are then extracted with ``filter="data"`` where the Python version has it, as a
    second line of defence.

    The archive unpacks into a temporary folder beside ``target_dir`` that is renamed to
    ``target_dir`` at the end, so ``target_dir`` either does not appear at all or appears
    complete.

    Args:
        archive: The archive file.
        target_dir: The folder to create with the archive's content. It must not exist yet, or be
            an empty folder (which is replaced).

    Returns:
        ``target_dir`` as a :class:`~pathlib.Path`.

    Raises:
        DownloadError: The file is not a supported archive or is damaged, a member is unsafe
            (the message names the archive and the member), or ``target_dir`` already exists and
            is not empty.
    """
    archive = Path(archive)
    target_dir = Path(target_dir)
    _refuse_non_empty_target(target_dir, archive)
    archive_format = _detect_archive_format(archive)

    target_dir.parent.mkdir(parents=True, exist_ok=True)
    staging_dir = Path(
        tempfile.mkdtemp(dir=target_dir.parent, prefix=f".{target_dir.name}.", suffix=".extracting")
    )
    try:
        if archive_format == "zip":
            _extract_zip(archive, staging_dir)
        else:
            _extract_tar(archive, staging_dir)
        # Checked again because another process may have created it meanwhile.
        _refuse_non_empty_target(target_dir, archive)
        if target_dir.is_dir():
            target_dir.rmdir()
        os.replace(staging_dir, target_dir)
    except BaseException:
        shutil.rmtree(staging_dir, ignore_errors=True)
        raise
    logger.info("extracted %s (%s) into %s", archive, archive_format, target_dir)
    return target_dir


def download_and_extract(
    url: str,
    target_dir: str | os.PathLike,
    *,
    sha256: str | None = None,
    archive_name: str | None = None,
    verify: Callable[[Path], object] | None = None,
    keep_archive: bool = False,
) -> Path:
    """Download a corpus archive, unpack it into ``target_dir`` and check the result.

    The archive is saved in ``target_dir``'s parent folder as ``archive_name`` (by default
    ``"<target_dir name>-<last part of the URL path>"``, e.g. ``emodb-download.zip``, so that two
    corpora whose archives share a generic name do not collide), unpacked with
    :func:`extract_archive`, and removed afterwards unless ``keep_archive`` is set.

    If ``target_dir`` already exists and is not empty, nothing is downloaded: the folder is
    checked with ``verify`` (when given) and returned. This makes the call cheap to repeat; a
    folder that this function unpacked is always complete, because it is renamed into place only
    after extraction.

    Args:
        url: The archive's ``http://``, ``https://`` or ``file://`` URL.
        target_dir: The folder that receives the archive's content.
        sha256: Expected SHA-256 digest of the archive, or ``None`` when the publisher gives none.
        archive_name: File name to save the archive under, in ``target_dir``'s parent.
        verify: Called as ``verify(target_dir)`` after extraction; it must raise if the extracted
            layout is wrong. Its return value is ignored.
        keep_archive: Keep the downloaded archive next to ``target_dir`` instead of deleting it.

    Returns:
        ``target_dir`` as a :class:`~pathlib.Path`.

    Raises:
        DownloadError: The download, the digest check or the extraction failed, or ``verify``
            raised; in the last case the message says that the extracted folder failed
            verification, the folder is left in place for inspection, and the exception that
            ``verify`` raised is chained as ``__cause__``.
    """
    target_dir = Path(target_dir)
    if _is_non_empty_dir(target_dir):
        logger.info("%s already exists and is not empty; not downloading %s", target_dir, url)
        _run_verify(
            verify,
            target_dir,
            f"existing folder {target_dir}",
            hint="remove it to download it again",
        )
        return target_dir

    if archive_name is None:
        url_file_name = posixpath.basename(urllib.parse.unquote(urllib.parse.urlsplit(url).path))
        if not url_file_name:
            raise DownloadError(f"cannot tell a file name from {url}; pass archive_name")
        archive_name = f"{target_dir.name}-{url_file_name}"
    archive_path = target_dir.parent / archive_name

    download_file(url, archive_path, sha256=sha256)
    try:
        extract_archive(archive_path, target_dir)
    finally:
        if not keep_archive:
            archive_path.unlink(missing_ok=True)
    _run_verify(
        verify,
        target_dir,
        f"extracted folder {target_dir} (from {url})",
        hint="it was left in place for inspection; remove it before trying again",
    )
    return target_dir


# --------------------------------------------------------------------------------------------
# Downloading


def _normalise_sha256(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    digest = sha256.strip().lower()
    if len(digest) != 64 or any(char not in "0123456789abcdef" for char in digest):
        raise ValueError(f"sha256 must be 64 hexadecimal characters, got {sha256!r}")
    return digest


def _stream_url_to_file(url: str, file: BinaryIO, *, timeout: float, chunk_size: int) -> str:
    """Write the body at ``url`` into the open binary ``file``; return its SHA-256 digest."""
    digest = hashlib.sha256()
    received_bytes = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            announced_length = response.headers.get("Content-Length")
            expected_bytes = (
                int(announced_length) if announced_length and announced_length.isdigit() else None
            )
            with tqdm(
                total=expected_bytes,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=posixpath.basename(urllib.parse.urlsplit(url).path) or url,
                disable=None,  # shown on a terminal only
                leave=False,
            ) as progress_bar:
                for chunk in iter(lambda: response.read(chunk_size), b""):
                    file.write(chunk)
                    digest.update(chunk)
                    received_bytes += len(chunk)
                    progress_bar.update(len(chunk))
    except urllib.error.HTTPError as error:
        raise DownloadError(f"cannot download {url}: HTTP {error.code} {error.reason}") from error
    except urllib.error.URLError as error:
        raise DownloadError(f"cannot download {url}: {error.reason}") from error
    except (http.client.HTTPException, OSError) as error:
        # Timeouts, resets and truncated bodies while reading (IncompleteRead is no OSError).
        reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        raise DownloadError(
            f"cannot download {url}: {reason} after {received_bytes} bytes"
        ) from error
    if expected_bytes is not None and received_bytes != expected_bytes:
        raise DownloadError(
            f"cannot download {url}: the server announced {expected_bytes} bytes but sent {received_bytes}"
        )
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Extracting


def _is_non_empty_dir(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


def _refuse_non_empty_target(target_dir: Path, archive: Path) -> None:
    if target_dir.exists() and not target_dir.is_dir():
        raise DownloadError(f"cannot extract {archive}: {target_dir} exists and is not a folder")
    if _is_non_empty_dir(target_dir):
        raise DownloadError(
            f"cannot extract {archive}: {target_dir} already exists and is not empty; "
            "remove it or choose another folder"
        )


def _detect_archive_format(archive: Path) -> str:
    """Return ``"zip"`` or ``"tar"`` from the file's content."""
    try:
        with open(archive, "rb") as file:
            head = file.read(4)
    except OSError as error:
        raise DownloadError(f"cannot read archive {archive}: {error}") from error
    # The zip signature comes first: a zip's last bytes can look like anything, tar included.
    if head.startswith(_ZIP_MAGIC_PREFIXES):
        return "zip"
    if tarfile.is_tarfile(archive):
        return "tar"
    if zipfile.is_zipfile(archive):  # e.g. a self-extracting zip with a stub in front
        return "zip"
    raise DownloadError(
        f"{archive} is not a zip or tar archive (plain, gzip, bzip2 or xz); cannot extract it"
    )


def _split_member_path(name: str) -> list[str]:
    return [part for part in name.replace("\\", "/").split("/") if part not in ("", ".")]


def _is_absolute_member_name(name: str) -> bool:
    name = name.replace("\\", "/")
    has_drive = len(name) >= 2 and name[1] == ":" and name[0].isalpha()
    return name.startswith("/") or has_drive


class _UnsafeMember(Exception):
    """Why one archive member is refused; turned into a DownloadError naming the archive."""


def _resolve_inside(parts: Iterable[str], symlink_names: set[str], what: str) -> str:
    """Resolve ``..`` in a relative path lexically; refuse climbing out or going through a link.

    Args:
        parts: Path components relative to the archive root.
        symlink_names: Normalised names of every symbolic link in the archive.
        what: How to describe the path in the refusal ("its path", "its link target").

    Returns:
        The normalised path relative to the archive root ("" for the root itself).
    """
    parts = list(parts)
    resolved: list[str] = []
    for index, part in enumerate(parts):
        if part == "..":
            if not resolved:
                raise _UnsafeMember(f"{what} climbs out of the target folder with '..'")
            resolved.pop()
            continue
        resolved.append(part)
        joined = "/".join(resolved)
        if joined in symlink_names and index < len(parts) - 1:
            raise _UnsafeMember(f"{what} goes through the symbolic link {joined!r} in the archive")
    return "/".join(resolved)


def _check_tar_member(member: tarfile.TarInfo, symlink_names: set[str]) -> None:
    if _is_absolute_member_name(member.name):
        raise _UnsafeMember("it has an absolute path")
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        kind = {
            tarfile.CHRTYPE: "a character device",
            tarfile.BLKTYPE: "a block device",
            tarfile.FIFOTYPE: "a FIFO",
        }.get(member.type, f"a special member of tar type {member.type!r}")
        raise _UnsafeMember(f"it is {kind}")
    member_path = _resolve_inside(_split_member_path(member.name), symlink_names, "its path")
    if member.issym() or member.islnk():
        kind = "symbolic link" if member.issym() else "hard link"
        if not member.linkname or _is_absolute_member_name(member.linkname):
            raise _UnsafeMember(f"it is a {kind} to the absolute path {member.linkname!r}")
        link_parts = _split_member_path(member.linkname)
        if member.issym():
            # A symbolic link's target is relative to the folder holding the link.
            link_parts = _split_member_path(posixpath.dirname(member_path)) + link_parts
        try:
            _resolve_inside(link_parts, symlink_names, "its link target")
        except _UnsafeMember as error:
            raise _UnsafeMember(f"it is a {kind} to {member.linkname!r} and {error}") from None


def _check_zip_member(info: zipfile.ZipInfo) -> None:
    if _is_absolute_member_name(info.filename):
        raise _UnsafeMember("it has an absolute path")
    # zipfile writes symbolic-link entries as plain files, so there are no links to follow.
    _resolve_inside(_split_member_path(info.filename), set(), "its path")


def _refuse(archive: Path, member_name: str, error: _UnsafeMember) -> DownloadError:
    return DownloadError(
        f"refusing to extract {archive}: member {member_name!r} is unsafe ({error}); "
        "nothing was extracted"
    )


def _extract_zip(archive: Path, staging_dir: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zip_file:
            members = zip_file.infolist()
            for info in members:
                try:
                    _check_zip_member(info)
                except _UnsafeMember as error:
                    raise _refuse(archive, info.filename, error) from None
            zip_file.extractall(staging_dir, members=members)
    except DownloadError:
        raise
    except _ARCHIVE_READ_ERRORS as error:
        raise DownloadError(f"cannot extract zip archive {archive}: {error}") from error


def _extract_tar(archive: Path, staging_dir: Path) -> None:
    try:
        with tarfile.open(archive, mode="r:*") as tar_file:
            members = tar_file.getmembers()
            symlink_names = {
                "/".join(_split_member_path(member.name)) for member in members if member.issym()
            }
            for member in members:
                try:
                    _check_tar_member(member, symlink_names)
                except _UnsafeMember as error:
                    raise _refuse(archive, member.name, error) from None
            if hasattr(tarfile, "data_filter"):
                tar_file.extractall(staging_dir, members=members, filter="data")
            else:  # Python < 3.10.12 / 3.11.4: the checks above are the only defence.
                tar_file.extractall(staging_dir, members=members)
    except DownloadError:
        raise
    except _TAR_FILTER_ERRORS as error:
        member_name = error.tarinfo.name
        raise DownloadError(
            f"refusing to extract {archive}: member {member_name!r} is unsafe ({error})"
        ) from error
    except _ARCHIVE_READ_ERRORS as error:
        raise DownloadError(f"cannot extract tar archive {archive}: {error}") from error


def _run_verify(
    verify: Callable[[Path], object] | None, target_dir: Path, description: str, hint: str
) -> None:
    if verify is None:
        return
    try:
        verify(target_dir)
    except Exception as error:
        raise DownloadError(f"{description} failed verification: {error}; {hint}") from error
