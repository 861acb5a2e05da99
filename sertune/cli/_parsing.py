"""The one way a ``sertune`` command reads its options, and the error a bad option raises.

Each command declares its options as dataclasses whose fields carry ``help=``, parsed by
``HfArgumentParser`` through :func:`sertune.config.parse_config` (so ``--config FILE`` works for
every command). A command's leading positional arguments are mapped onto named fields: with
``positionals=("model", "inputs")``, ``sertune predict M a.wav b.wav --long`` is parsed as
``--model M --inputs a.wav b.wav --long``; a field typed as a list takes every remaining
positional argument. Positional arguments therefore come before the options.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Sequence
from typing import Any

from sertune.config import parse_config
from sertune.errors import OptionError


class UsageError(OptionError):
    """A bad or missing option or argument: the command exits with status 2."""


def parse_command(
    dataclass_types: Sequence[type],
    argv: Sequence[str],
    *,
    command: str,
    usage: str,
    description: str,
    positionals: Sequence[str] = (),
) -> tuple[Any, ...]:
    """Parse a command's option dataclasses from its arguments.

    Args:
        dataclass_types: The command's option dataclasses.
        argv: The arguments after the command's name.
        command: The command's name, e.g. ``"data info"``; ``--help`` shows ``sertune
            <command>``.
        usage: The usage line without ``usage:``, e.g. ``"sertune push OUTPUT_DIR REPO_ID
            [options]"``.
        description: Shown by ``--help``.
        positionals: Fields that the leading positional arguments fill, in order.

    Returns:
        One instance per dataclass, in order.

    Raises:
        UsageError: An option is unknown, missing or rejected by its dataclass, the config file
            cannot be used, or there are more positional arguments than ``positionals``.
    """
    argv = list(argv)
    if "--" in argv:
        raise UsageError("only `sertune cv` takes options after --")
    leading = 0
    while leading < len(argv) and not argv[leading].startswith("-"):
        leading += 1
    options = _positionals_as_options(dataclass_types, positionals, argv[:leading])
    try:
        return parse_config(
            dataclass_types,
            [*options, *argv[leading:]],
            description=description,
            prog=f"sertune {command}",
            usage=usage,
            exit_on_error=False,
        )
    except ValueError as error:
        raise UsageError(str(error)) from error
    except OSError as error:  # the --config file
        raise UsageError(error_message(error)) from error


def error_message(error: BaseException) -> str:
    """The message of an error, naming the file for an ``OSError`` (``PATH: reason``).

    Args:
        error: What a command raised.
    """
    # Only the standard "[Errno N] reason: 'path'" form is rewritten; sertune's own name the file.
    standard = isinstance(error, OSError) and str(error).startswith("[Errno")
    if standard and error.filename is not None and error.strerror:
        files = [error.filename, error.filename2]
        return f"{' -> '.join(str(f) for f in files if f is not None)}: {error.strerror}"
    return str(error) or type(error).__name__


def _positionals_as_options(
    dataclass_types: Sequence[type], names: Sequence[str], values: list[str]
) -> list[str]:
    """``["--model", M, "--inputs", A, B]`` for ``names=("model", "inputs")``, ``[M, A, B]``."""
    options: list[str] = []
    for name in names:
        if not values:
            break
        if _is_list_field(dataclass_types, name):
            options += [f"--{name}", *values]
            values = []
        else:
            options += [f"--{name}", values.pop(0)]
    if values:
        raise UsageError(f"unexpected argument {values[0]!r}: options start with --")
    return options


def _is_list_field(dataclass_types: Sequence[type], name: str) -> bool:
    for dataclass_type in dataclass_types:
        if name in {f.name for f in dataclasses.fields(dataclass_type)}:
            hint = typing.get_type_hints(dataclass_type)[name]
            return typing.get_origin(hint) is list
    raise KeyError(f"no option field named {name!r}")
