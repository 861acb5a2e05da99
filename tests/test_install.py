"""The install contract: ranges in pyproject.toml, exact versions in requirements/, a loud check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11+")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOCKS = sorted((PROJECT_ROOT / "requirements").glob("lock*.txt"))
CHECK = PROJECT_ROOT / "scripts" / "check_install.py"


def _project() -> dict:
    return tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]


def _pins(lock: Path) -> dict[str, str]:
    pins = {}
    for line in lock.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"{lock.name}: {line!r} is not an exact pin"
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_metadata_declares_ranges_and_no_torchaudio():
    requirements = [Requirement(text) for text in _project()["dependencies"]]
    names = {canonicalize_name(r.name) for r in requirements}
    assert "torchaudio" not in names
    assert {"torch", "soxr"} <= names
    torch = next(r for r in requirements if r.name == "torch")
    # A range from the oldest supported release: installing sertune keeps a newer torch.
    assert torch.specifier.contains("2.11.0") and torch.specifier.contains("2.15.0")
    assert not any(spec.operator == "==" for r in requirements for spec in r.specifier)


@pytest.mark.parametrize("lock", LOCKS, ids=[lock.name for lock in LOCKS])
def test_lock_pins_every_requirement_inside_its_range(lock):
    pins = _pins(lock)
    project = _project()
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    for text in wanted:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock.name} lacks {name}: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock.name} pins {name}=={pins[name]} outside {requirement.specifier}: run `make lock`"
        )
    assert "torchaudio" not in pins
    assert {"pip", "setuptools", "wheel"} <= set(pins)  # the install's own tools are pinned too


def test_the_two_locks_differ_in_torch():
    pins = {lock.name: _pins(lock)["torch"] for lock in LOCKS}
    assert pins["lock-torch2.11.txt"].startswith("2.11.")
    assert pins["lock.txt"] > pins["lock-torch2.11.txt"]


def test_install_check_passes_here():
    run = subprocess.run([sys.executable, str(CHECK)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "sertune imports with torch " in run.stdout


def test_install_check_fails_loudly_naming_the_module_and_the_versions(tmp_path):
    # A dependency that is installed but cannot load, as torchaudio 2.11.1 beside torch 2.11.0.
    (tmp_path / "soxr.py").write_text('raise ImportError("undefined symbol: soxr_oneshot")\n')
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, str(CHECK)], capture_output=True, text=True, timeout=120, env=env
    )
    assert run.returncode == 1
    assert "FAILED: this environment cannot import sertune" in run.stderr
    assert "undefined symbol: soxr_oneshot" in run.stderr
    assert "torch 2." in run.stderr and "transformers 5." in run.stderr
    assert "Traceback" not in run.stderr
