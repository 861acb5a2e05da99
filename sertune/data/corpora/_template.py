"""The one corpus template: a corpus module declares what is its own, this module does the rest.

A corpus module (one per corpus, its docstring the corpus's card) declares:

* its file-name grammar: a regular expression and a small ``parse_filename`` function that
  returns a frozen dataclass deriving from :class:`ParsedName` (which gives ``label``);
* its layout: a ``check_layout`` function, built on :meth:`CorpusTemplate.find_root` where the
  corpus may sit in the only sub-folder of the folder given;
* its label map, extra columns, registry card and download source, in one
  :class:`CorpusTemplate`;
* and a loader, registered with :meth:`CorpusTemplate.register`, that reads the files into rows
  (the part that is really the corpus's own) and ends in :meth:`CorpusTemplate.dataset`, the
  shared tail: the no-files check, the size note and the common-schema dataset.

Shared helpers for the steps in between (fetching an archive, listing audio files, dropping
repeated copies, telling metadata folders apart) live here too, so that a corpus module holds no
copy of them. The pattern follows lhotse's recipes: one module per corpus, shared plumbing
outside them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from datasets import Dataset

from sertune.data.download import download_and_extract
from sertune.data.files import (
    METADATA_NAMES,
    scan_audio_files,
    scan_label_folders,
    warn_stray_entries,
)
from sertune.data.registry import CorpusLoader, build_corpus_dataset, register_corpus
from sertune.errors import CorpusFileError, CorpusLayoutError

logger = logging.getLogger(__name__)

#: The audio suffix every corpus is distributed with (compared lower-case).
WAV_SUFFIXES: frozenset[str] = frozenset({".wav"})

Item = TypeVar("Item")


class ParsedName:
    """Base of a corpus's parsed file-name dataclass: ``label`` from ``native_label``.

    A subclass sets the class attribute ``native_to_common`` (no annotation, so that it is not
    a dataclass field) and has a ``native_label`` field or property.
    """

    native_to_common: ClassVar[Mapping[str, str]] = {}
    native_label: str

    @property
    def label(self) -> str:
        """The common-taxonomy label."""
        return self.native_to_common[self.native_label]


@dataclass(frozen=True)
class CorpusTemplate:
    """What a corpus module declares about its corpus; its methods are the shared loader steps.

    Args:
        name: Registry name, lowercase (e.g. ``"emodb"``).
        title: The corpus's own spelling, used in messages (e.g. ``"EMO-DB"``).
        native_to_common: Native label -> common taxonomy label, as registered.
        extra_features: ``datasets`` feature types of the columns every load has beyond the
            common schema, in column order.
        expected_layout: The sentence every layout error ends with: which layout was expected
            and how to obtain the corpus.
        description: One line for the registry.
        homepage: Where the corpus is described and obtained.
        license: The corpus's license as its distributors state it.
        downloadable: Whether ``download=True`` can fetch it.
        full_size: When set, a load with another number of rows is noted in an info log line.
        full_size_of: What :attr:`full_size` counts, for that line (e.g. ``"a full copy"``).
    """

    name: str
    title: str
    native_to_common: Mapping[str, str]
    extra_features: Mapping[str, Any]
    expected_layout: str
    description: str
    homepage: str
    license: str
    downloadable: bool = False
    full_size: int | None = None
    full_size_of: str = "a full copy"

    @property
    def label_names(self) -> list[str]:
        """The common labels the corpus maps to, sorted: the class set of a full load."""
        return sorted(set(self.native_to_common.values()))

    def register(self, loader: CorpusLoader) -> CorpusLoader:
        """Decorator that registers ``loader`` under :attr:`name` with this card."""
        return register_corpus(
            self.name,
            label_mapping=self.native_to_common,
            description=self.description,
            homepage=self.homepage,
            license=self.license,
            downloadable=self.downloadable,
        )(loader)

    def layout_error(self, folder: Path, problem: str) -> CorpusLayoutError:
        """``<folder>: <problem>; <expected layout>``, to raise."""
        return CorpusLayoutError(f"{folder}: {problem}; {self.expected_layout}")

    def download_refusal(self) -> str:
        """The message of a refused ``download=True``."""
        return f"{self.title} cannot be downloaded automatically; {self.expected_layout}"

    def require_folder(self, root: Path) -> None:
        """Raise the layout error when ``root`` is not a folder."""
        if not root.is_dir():
            raise self.layout_error(root, f"{self.title} folder does not exist")

    def find_root(
        self, root: Path, holds_corpus: Callable[[Path], bool], *, depth: int = 1
    ) -> Path | None:
        """The folder that holds the corpus: ``root``, or a folder down a chain of only sub-folders.

        Archives often unpack into a folder of their own, so ``root`` may hold a single folder
        (metadata such as ``__MACOSX`` aside) that holds the corpus.

        Args:
            root: The folder given; it must exist.
            holds_corpus: Whether a folder holds the corpus's top-level entries.
            depth: How many single-folder levels below ``root`` to look.

        Returns:
            The folder, or None when none of them holds the corpus (the caller raises, with its
            own hint).
        """
        self.require_folder(root)
        folder = root
        for _ in range(depth + 1):
            if holds_corpus(folder):
                if folder != root:
                    logger.info(
                        "%s: reading %s from its only sub-folder %s",
                        root,
                        self.title,
                        folder.relative_to(root),
                    )
                return folder
            subfolders = [p for p in folder.iterdir() if p.is_dir() and not is_metadata(p)]
            if len(subfolders) != 1:
                break
            folder = subfolders[0]
        return None

    def label_folders(
        self, folder: Path, *, expected: str, companions: Collection[Path] = ()
    ) -> list[Path]:
        """The emotion folders inside ``folder`` (a speaker's), sorted; other entries warned about.

        Args:
            folder: The folder to list.
            expected: What ``folder`` should hold, for the stray-entry warning.
            companions: Files that belong there and are read elsewhere (not warned about).

        Raises:
            CorpusFileError: A sub-folder is not named as a native label.
        """
        label_dirs, stray = [], []
        for entry in sorted(folder.iterdir()):
            if entry.is_dir() and not is_metadata(entry):
                if entry.name not in self.native_to_common:
                    raise CorpusFileError(
                        f"{entry}: unknown {self.title} emotion folder {entry.name!r}; known: "
                        f"{sorted(self.native_to_common)}"
                    )
                label_dirs.append(entry)
            elif entry not in companions:
                stray.append(entry)
        warn_stray_entries(folder, stray, corpus=self.name, expected=expected)
        return label_dirs

    def fetch(
        self,
        url: str,
        target: Path,
        *,
        verify: Callable[[Path], object],
        sha256: str | None = None,
        what: str = "",
    ) -> None:
        """Download and unpack an archive into ``target``, verified (see ``download_and_extract``).

        Args:
            url: The archive's address.
            target: Where to unpack it.
            verify: Raises when the unpacked folder is not a good copy.
            sha256: The archive's checksum, when one is pinned.
            what: Which part of the corpus this is, for the log line.
        """
        logger.info("downloading %s%s from %s into %s", self.title, what, url, target)
        download_and_extract(url, target, sha256=sha256, verify=lambda root: verify(Path(root)))

    def scan(self, folder: Path, *, recursive: bool) -> list[Path]:
        """The ``.wav`` files under ``folder``, sorted; everything else in one warning."""
        return scan_audio_files(
            folder, suffixes=WAV_SUFFIXES, recursive=recursive, corpus=self.name
        )

    def label_folder_files(
        self, root: Path, parse: Callable[[Path], Any], *, recursive: bool
    ) -> list[tuple[Path, Any]]:
        """The files of a corpus laid out one folder per native label, with their parsed names.

        Args:
            root: The folder holding the label folders (named as in :attr:`native_to_common`).
            parse: The corpus's file-name parser; its result has a ``native_label``.
            recursive: Walk sub-folders of each label folder.

        Raises:
            CorpusFileError: A file's name gives another label than its folder.
        """
        found = []
        for folder, path in scan_label_folders(
            root,
            self.native_to_common,
            suffixes=WAV_SUFFIXES,
            recursive=recursive,
            corpus=self.name,
        ):
            name = parse(path)
            if name.native_label != folder:
                raise CorpusFileError(
                    f"{path}: a {name.native_label} file name in the {folder} folder"
                )
            found.append((path, name))
        return found

    def dataset(
        self,
        rows: Sequence[Mapping[str, Any]],
        source: Path | None,
        *,
        more_features: Mapping[str, Any] | None = None,
        label_names: Sequence[str] | None = None,
    ) -> Dataset:
        """The shared load tail: check the rows, note the size, build the common-schema dataset.

        Args:
            rows: One mapping per utterance (see ``build_corpus_dataset``).
            source: The folder the rows were read from; when given, no rows is a layout error
                naming it. None where rows can be legitimately dropped down to none.
            more_features: Feature types of extra columns present in this load only (e.g. from
                an optional companion file), after :attr:`extra_features`.
            label_names: The class set when it is not :attr:`label_names` (a load option that
                excludes classes).
        """
        if source is not None and not rows:
            raise self.layout_error(source, "no .wav files found")
        if self.full_size is not None and len(rows) != self.full_size:
            logger.info(
                "%s: %d utterances (%s has %d)",
                self.name,
                len(rows),
                self.full_size_of,
                self.full_size,
            )
        return build_corpus_dataset(
            rows,
            corpus=self.name,
            label_names=self.label_names if label_names is None else label_names,
            extra_features={**self.extra_features, **(more_features or {})},
        )


def is_metadata(path: Path) -> bool:
    """Whether an entry is one that operating systems and archive tools leave behind."""
    return path.name.startswith(".") or path.name in METADATA_NAMES or path.name == "__MACOSX"


def shown(items: list[str], limit: int = 20) -> list[str]:
    """The first ``limit`` items, and a count of the rest, for a log line."""
    return items if len(items) <= limit else [*items[:limit], f"... and {len(items) - limit} more"]


def drop_repeated_copies(
    items: Sequence[Item],
    *,
    path_of: Callable[[Item], Path],
    key_of: Callable[[Item], Hashable],
    root: Path,
    corpus: str,
    what: str,
    same: str,
) -> list[Item]:
    """Keep the first item of each key; warn about copies of it; refuse different files.

    Some copies of a corpus hold its tree twice (nested, or speech and song unzipped twice).
    Files with the same key and the same size are taken for copies and read once; files with
    one key and different sizes are an error, since there is no telling which is right.

    Args:
        items: What was found, in reading order.
        path_of: The file of an item.
        key_of: What makes two items one recording.
        root: The folder read, for the warning's relative paths.
        corpus: Corpus name, for the warning.
        what: What a key names, for the messages (``"file"``, ``"recording"``).
        same: What copies share besides their size, for the warning (``"name"``).

    Raises:
        CorpusFileError: Two files of one key differ in size; the message lists them.
    """
    by_key: dict[Hashable, list[Item]] = {}
    for item in items:
        by_key.setdefault(key_of(item), []).append(item)
    kept, ignored = [], []
    for key, copies in by_key.items():
        kept.append(copies[0])
        paths = [path_of(item) for item in copies]
        if len({path.stat().st_size for path in paths}) > 1:
            listed = ", ".join(str(path) for path in paths)
            raise CorpusFileError(
                f"{key}: found {len(paths)} different files for this {what} ({listed}); "
                "remove all but one copy"
            )
        ignored += [str(path.relative_to(root)) for path in paths[1:]]
    if ignored:
        logger.warning(
            "%s: %s: %d files are copies of %ss met earlier (same %s and size) and are read "
            "once: ignoring %s",
            corpus,
            root,
            len(ignored),
            what,
            same,
            shown(ignored, limit=10),
        )
    return kept
