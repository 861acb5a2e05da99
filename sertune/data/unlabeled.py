"""Unlabeled audio for self-supervised pretraining: folders of files and registered corpora.

One row per file with the columns ``audio`` (the path) and ``label`` (0 throughout: the
training data path wants one, and the pretraining objective ignores it), so that the loop's
data path reads it like a corpus. A registered corpus contributes its files; its labels are
dropped. Folders are searched recursively for ``.wav``/``.flac``/``.ogg``; other files are
reported, not read.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from datasets import Dataset

from sertune.data.files import AUDIO_SUFFIXES, scan_audio_files
from sertune.data.registry import load_corpus

logger = logging.getLogger(__name__)


def unlabeled_audio(
    audio_dirs: Sequence[str] = (),
    corpora: Sequence[str] = (),
    corpus_dirs: Sequence[str] | None = None,
) -> Dataset:
    """The audio files of folders and corpora as one dataset, labels ignored.

    Args:
        audio_dirs: Folders of audio files.
        corpora: Registered corpus names.
        corpus_dirs: The corpora's root folders, one per corpus (default: each corpus's default
            data folder).

    Raises:
        ValueError: Nothing given, ``corpus_dirs`` does not pair with ``corpora``, or no audio.
    """
    if not audio_dirs and not corpora:
        raise ValueError("give folders of audio (--audio_dirs) or corpora (--corpora)")
    if corpus_dirs and len(corpus_dirs) != len(corpora):
        raise ValueError(
            f"--corpus_dirs names {len(corpus_dirs)} folders for {len(corpora)} corpora"
        )
    paths: list[str] = []
    for folder in audio_dirs:
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"{folder}: no such folder of audio")
        found = scan_audio_files(folder, suffixes=AUDIO_SUFFIXES, corpus=str(folder))
        logger.info("%s: %d audio files", folder, len(found))
        paths += [str(path) for path in found]
    for index, name in enumerate(corpora):
        corpus = load_corpus(name, corpus_dirs[index] if corpus_dirs else None)
        logger.info("corpus %s: %d audio files (labels ignored)", name, len(corpus))
        paths += [row["path"] for row in corpus["audio"]]
    if not paths:
        raise ValueError(f"no audio files in {list(audio_dirs)} or corpora {list(corpora)}")
    return Dataset.from_dict({"audio": paths, "label": [0] * len(paths)})


__all__ = ["unlabeled_audio"]
