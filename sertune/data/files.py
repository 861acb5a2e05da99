"""Finding a corpus's audio files on disk, with stray files reported rather than hidden."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

#: Audio file suffixes sertune reads (compared lower-case: ``.WAV`` counts).
AUDIO_SUFFIXES: frozenset[str] = frozenset({".wav", ".flac", ".ogg"})

#: Files that operating systems and archive tools leave behind (reported as stray, never read).
METADATA_NAMES: frozenset[str] = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})


def scan_audio_files(
    folder: str | Path,
    *,
    suffixes: Iterable[str] = (".wav",),
    recursive: bool = True,
    corpus: str = "corpus",
) -> list[Path]:
    """List the audio files under ``folder``, sorted; warn once about everything else.

    Files whose suffix (any case) is not in ``suffixes`` are stray: they are listed in one
    warning, by path relative to ``folder``, and not returned. Folders are walked when
    ``recursive`` is set, otherwise reported as stray too. macOS AppleDouble files (``._x.wav``)
    are stray even with an audio suffix: they hold metadata, not audio. Long lists are cut to
    their first 20 entries plus a count.

    Args:
        folder: Where to look.
        suffixes: Audio suffixes to keep, lower-case with the dot.
        recursive: Walk sub-folders.
        corpus: Corpus name for the warning.
    """
    folder = Path(folder)
    wanted = {suffix.lower() for suffix in suffixes}
    audio: list[Path] = []
    stray: list[str] = []
    entries = folder.rglob("*") if recursive else folder.iterdir()
    for path in sorted(entries):
        if path.is_dir():
            if not recursive:
                stray.append(path.name + "/")
            continue
        if path.name.startswith("._") or path.name in METADATA_NAMES:
            stray.append(str(path.relative_to(folder)))
            continue
        if path.suffix.lower() in wanted:
            audio.append(path)
        else:
            stray.append(str(path.relative_to(folder)))
    warn_stray_entries(
        folder, stray, corpus=corpus, expected=f"{'/'.join(sorted(wanted))} audio files"
    )
    return audio


def scan_label_folders(
    root: str | Path,
    folder_names: Iterable[str],
    *,
    suffixes: Iterable[str] = (".wav",),
    recursive: bool = False,
    corpus: str = "corpus",
) -> list[tuple[str, Path]]:
    """The audio files of a corpus laid out one folder per label (``<root>/<label>/<file>``).

    Entries of ``root`` other than the label folders (README files excepted) are listed in one
    warning, and so are label folders that are missing (a partial copy).

    Args:
        root: The folder holding the label folders.
        folder_names: The label folders' names, in the order to read them.
        suffixes: Audio suffixes to keep.
        recursive: Walk sub-folders of each label folder.
        corpus: Corpus name for the warnings.

    Returns:
        ``(label folder name, file path)`` pairs, folder by folder, files sorted.
    """
    root = Path(root)
    names = list(folder_names)
    present = [name for name in names if (root / name).is_dir()]
    stray = [
        path
        for path in sorted(root.iterdir())
        if path.name not in present and not path.name.lower().startswith("readme")
    ]
    warn_stray_entries(root, stray, corpus=corpus, expected="emotion folders")
    missing = [name for name in names if name not in present]
    if missing:
        logger.warning("%s: %s has no %s folder: a partial copy", corpus, root, missing)
    return [
        (name, path)
        for name in present
        for path in scan_audio_files(
            root / name, suffixes=suffixes, recursive=recursive, corpus=corpus
        )
    ]


def warn_stray_entries(
    folder: str | Path, stray: Iterable[str | Path], *, corpus: str, expected: str
) -> None:
    """Log one warning listing the entries of ``folder`` that a loader does not use.

    Args:
        folder: The folder they are in.
        stray: The entries (paths, shown by name with ``/`` after folders, or strings as given).
        corpus: Corpus name for the message.
        expected: What the folder should hold, e.g. ``"emotion folders"``.
    """
    names = [
        entry if isinstance(entry, str) else entry.name + ("/" if entry.is_dir() else "")
        for entry in stray
    ]
    if not names:
        return
    shown = names if len(names) <= 20 else [*names[:20], f"... and {len(names) - 20} more"]
    logger.warning(
        "%s: %s: ignoring %d entries that are not %s: %s",
        corpus,
        folder,
        len(names),
        expected,
        shown,
    )
