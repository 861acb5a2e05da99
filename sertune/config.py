"""Recipe configuration: typed dataclasses parsed by `transformers.HfArgumentParser`.

A recipe declares its configuration as dataclasses whose fields all carry ``help=``. Values come
from, in increasing priority: the dataclass defaults, a JSON or YAML file given with
``--config FILE``, and the command line. Unknown keys in the file fail loudly, and YAML is read
with ``yaml.safe_load`` (no object construction).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from transformers import HfArgumentParser

from sertune.errors import OptionError


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a flat JSON or YAML mapping of option names to values.

    Raises:
        ValueError: The file is neither ``.json`` nor ``.yaml``/``.yml``, or does not hold a
            mapping.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in {".json", ".yaml", ".yml"}:
        raise OptionError(f"{path}: config files are .json, .yaml or .yml")
    if path.exists() and not path.is_file():
        # A FIFO would block the read; a folder fails with a less clear message.
        raise OptionError(f"{path}: not a regular file; a config file is a JSON or YAML file")
    text = path.read_text(encoding="utf-8")
    try:
        values = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise OptionError(f"{path}: not valid {suffix[1:].upper()}: {error}") from None
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise OptionError(f"{path}: expected a mapping of option names to values")
    return values


def parse_config(
    dataclass_types: Sequence[type],
    argv: Sequence[str] | None = None,
    *,
    description: str | None = None,
    prog: str | None = None,
    usage: str | None = None,
    exit_on_error: bool = True,
) -> tuple[Any, ...]:
    """Parse recipe dataclasses from an optional config file plus the command line.

    Args:
        dataclass_types: The recipe's configuration dataclasses.
        argv: Arguments (defaults to ``sys.argv[1:]``).
        description: Shown by ``--help``.
        prog: Program name in the usage line (default: the script's name).
        usage: The usage line of ``--help`` (default: argparse's, listing every option).
        exit_on_error: On a bad or missing option, print the usage and exit with status 2 (as
            argparse does); when ``False``, raise ``ValueError`` with argparse's message
            instead, so that a caller can report it its own way.

    Returns:
        One instance per dataclass, in order.

    Raises:
        ValueError: The config file names an option no dataclass has, a dataclass rejects its
            values, or (``exit_on_error=False``) an option is bad or missing.
    """
    pre_class, parser_class = (
        (argparse.ArgumentParser, HfArgumentParser)
        if exit_on_error
        else (_RaisingArgumentParser, _RaisingHfArgumentParser)
    )
    pre = pre_class(add_help=False)
    pre.add_argument("--config", default=None)
    known, rest = pre.parse_known_args(argv)

    parser = parser_class(dataclass_types, description=description, prog=prog, usage=usage)
    parser.add_argument(
        "--config",
        default=None,
        help="JSON or YAML file of option values; command-line options override it.",
    )
    if known.config is not None:
        values = one_item_lists(dataclass_types, read_config_file(known.config))
        fields = {f.name for dc in dataclass_types for f in dataclasses.fields(dc) if f.init}
        unknown = sorted(set(values).difference(fields))
        if unknown:
            raise OptionError(f"{known.config}: unknown options {unknown}")
        for dataclass_type in dataclass_types:
            check_value_types(dataclass_type, values, where=known.config)
        parser.set_defaults(**values)
        # Options required on the command line are satisfied by the file.
        for action in parser._actions:
            if action.dest in values:
                action.required = False
    namespace = parser.parse_args(rest)
    outputs = []
    for dataclass_type in dataclass_types:
        names = {f.name for f in dataclasses.fields(dataclass_type) if f.init}
        values = {k: v for k, v in vars(namespace).items() if k in names}
        check_value_types(dataclass_type, values, where=None)
        try:
            outputs.append(dataclass_type(**values))
        except OptionError:
            raise
        except (ValueError, TypeError) as error:
            # A dataclass's own range checks: a usage error, reported as such.
            raise OptionError(str(error)) from None
    return tuple(outputs)


def one_item_lists(dataclass_types: Sequence[type], values: dict[str, Any]) -> dict[str, Any]:
    """A config file's single string for a list option that a dataclass lists in its
    ``ONE_OR_MORE`` class variable (e.g. ``corpus: emodb`` for ``--corpus ravdess emodb``)
    becomes a one-item list.
    """
    marked = {
        name
        for dataclass_type in dataclass_types
        for name in getattr(dataclass_type, "ONE_OR_MORE", ())
    }
    return {
        key: [value] if key in marked and isinstance(value, str) else value
        for key, value in values.items()
    }


def check_value_types(dataclass_type: type, values: dict[str, Any], *, where: Any = None) -> None:
    """Refuse values of the wrong type (a list where a number belongs) and NaN or inf numbers.

    Command-line strings are converted by argparse; a config file's values arrive as JSON or
    YAML parsed them, so ``learning_rate: [1, 2]`` would otherwise reach torch.

    Raises:
        OptionError: Naming the option, where it came from, the expected type and the value.
    """
    hints = typing.get_type_hints(dataclass_type)
    for f in dataclasses.fields(dataclass_type):
        if f.name in values and f.init and not _fits(hints[f.name], values[f.name]):
            prefix = f"--{f.name}" if where is None else f"{where}: option {f.name}"
            raise OptionError(
                f"{prefix} must be {_type_name(hints[f.name])}, got {values[f.name]!r}"
            )


def _fits(hint: Any, value: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(arg, value) for arg in args)
    if hint is type(None):
        return value is None
    if origin is list:
        return isinstance(value, list) and all(_fits(args[0], v) for v in value) if args else True
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return number and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    return True  # other types (enums, paths) are left to their dataclass


def _type_name(hint: Any) -> str:
    names = {int: "an integer", float: "a finite number", str: "a string", bool: "true or false"}
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(
            "null" if a is type(None) else _type_name(a) for a in typing.get_args(hint)
        )
    if typing.get_origin(hint) is list:
        return f"a list of {_type_name(typing.get_args(hint)[0])}s"
    return names.get(hint, str(hint))


class _RaisingArgumentParser(argparse.ArgumentParser):
    """An argument parser whose errors are ``ValueError`` rather than a usage and an exit."""

    def error(self, message: str):
        raise ValueError(message)


class _RaisingHfArgumentParser(HfArgumentParser):
    """:class:`HfArgumentParser` whose errors are ``ValueError`` rather than an exit."""

    def error(self, message: str):
        raise ValueError(message)


def parse_known_config(dataclass_type: type, argv: Sequence[str]) -> Any:
    """Parse one dataclass out of a recipe's arguments, ignoring the options of the others.

    Reads the same sources as :func:`parse_config` (defaults, ``--config FILE``, command line),
    so a tool that wraps a recipe (the cross-validation runner) sees the values the recipe
    will see.
    """
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    known, rest = pre.parse_known_args(list(argv))
    parser = HfArgumentParser([dataclass_type], allow_abbrev=False)
    names = {f.name for f in dataclasses.fields(dataclass_type) if f.init}
    if known.config is not None:
        values = one_item_lists([dataclass_type], read_config_file(known.config))
        parser.set_defaults(**{k: v for k, v in values.items() if k in names})
    namespace, _ = parser.parse_known_args(rest)
    return dataclass_type(**{k: v for k, v in vars(namespace).items() if k in names})


def config_to_dict(*configs: Any) -> dict[str, Any]:
    """Merge configuration dataclasses into one JSON-serialisable dict (for the output folder)."""
    merged: dict[str, Any] = {}
    for config in configs:
        for key, value in dataclasses.asdict(config).items():
            merged[key] = os.fspath(value) if isinstance(value, os.PathLike) else value
    return merged
