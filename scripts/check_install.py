"""The last step of ``make install``: can this environment import sertune?

Run with the environment's own interpreter (``.venv/bin/python scripts/check_install.py``). It
imports sertune and the modules every command needs; when one fails it prints, on stderr, the
module and the error, the interpreter, and the installed versions of sertune's key
dependencies, then exits 1. A working environment prints one line with those versions and
exits 0.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from importlib import metadata

#: Distributions whose versions decide whether sertune imports.
KEY_DISTRIBUTIONS = (
    "torch",
    "transformers",
    "datasets",
    "accelerate",
    "peft",
    "evaluate",
    "soxr",
    "soundfile",
    "numpy",
)

#: What every sertune command imports.
MODULES = ("sertune", "sertune.cli", "sertune.training", "sertune.export", "sertune.hub")


def installed_versions() -> dict[str, str]:
    """``{distribution: version}`` of :data:`KEY_DISTRIBUTIONS`, ``"not installed"`` if absent."""
    versions = {}
    for name in KEY_DISTRIBUTIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def main() -> int:
    versions = ", ".join(f"{name} {version}" for name, version in installed_versions().items())
    for module in MODULES:
        try:
            importlib.import_module(module)
        except Exception as error:  # noqa: BLE001 - any failure to import is the finding
            last = traceback.extract_tb(error.__traceback__)[-1]
            print(
                f"make install: FAILED: this environment cannot import {module}.\n"
                f"  error: {type(error).__name__}: {error}\n"
                f"  raised in: {last.filename}:{last.lineno}\n"
                f"  interpreter: {sys.executable} (Python {sys.version.split()[0]})\n"
                f"  installed: {versions}\n"
                "  The versions in requirements/ are the tested ones: run `make clean install`, "
                "or see README.md#set-up.",
                file=sys.stderr,
            )
            return 1
    print(f"make install: sertune imports with {versions}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
