"""Corpus modules, one per corpus; importing this package registers every one of them.

Each module registers its loader with :func:`sertune.data.registry.register_corpus` at import
time. Modules are found by walking this package (sorted by name), so adding a corpus is adding
its module.
"""

import importlib
import pkgutil

CORPUS_MODULES: tuple[str, ...] = tuple(
    sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))
)

for _name in CORPUS_MODULES:
    importlib.import_module(f"{__name__}.{_name}")

__all__ = ["CORPUS_MODULES"]
