"""Shared fixtures: corpora written in their real layouts, and the optional ../shared data."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from corpus_fixtures import write_emodb

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


def pytest_collection_modifyitems(config, items):
    """Skip the tests marked ``ffmpeg``, with the reason, on a machine without the program."""
    if shutil.which("ffmpeg") is not None:
        return
    skip = pytest.mark.skip(
        reason="needs the ffmpeg program: transformers' pipeline() decodes file paths with it "
        "(apt-get install ffmpeg)"
    )
    for item in items:
        if "ffmpeg" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def validation_cache(tmp_path_factory):
    """Corpus validation caches under a temporary folder, never the user's home."""
    os.environ["SERTUNE_CACHE"] = str(tmp_path_factory.mktemp("sertune-cache"))


@pytest.fixture(scope="session")
def emodb_fixture(tmp_path_factory) -> Path:
    """A 28-file EMO-DB copy (4 speakers x 7 emotions) in the official layout."""
    return write_emodb(tmp_path_factory.mktemp("emodb"))


@pytest.fixture(scope="session")
def shared_emodb() -> Path:
    """The real EMO-DB (2.0 s copy) from ../shared/data, or a skip when it is absent."""
    path = SHARED_DATA / "emodb"
    if not (path / "wav").is_dir():
        pytest.skip(f"real EMO-DB not available at {path} (only on developer machines and CI)")
    return path
