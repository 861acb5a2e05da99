"""The ``sertune`` command line: one module per command, one way of parsing, one error boundary.

    sertune data list [--json]
    sertune data info emodb --data_dir /data/emodb [--json]
    sertune cv recipes/cnn_lstm_emodb.py --output_dir runs/cv [--seeds 1 2 3] -- RECIPE OPTIONS
    sertune augment preview a.wav b.wav --output_dir preview [--noise_prob 1 ...]
    sertune predict MODEL PATH [PATH ...] [--long] [--format jsonl|csv]
    sertune push OUTPUT_DIR REPO_ID [--private] [--revision BRANCH] [--stage_only DIR]
    sertune export MODEL_DIR OUT_DIR --onnx [--int8]
    sertune evaluate MODEL --corpus NAME --data_dir DIR --output_dir OUT [--protocol P --fold K]
    sertune probe --corpus emodb --data_dir DIR --protocol loso --features egemaps --output_dir D
    sertune compare BASELINE RUN [RUN ...] [--names N ...] [--metric uar] [--output FILE]

Each command is a function ``run(argv) -> int`` in ``sertune/cli/<command>.py`` that parses its
options with :func:`sertune.cli._parsing.parse_command` and calls the library. Errors are
reported here, for every command, as one line on stderr (``sertune <command>: <message>``): exit
status 2 for a bad or missing option (:class:`~sertune.cli._parsing.UsageError`), 1 for a run
that failed (a :class:`~sertune.errors.SertuneError`, a ``ValueError`` or an ``OSError`` such as
a missing file, a permission or a full disk). ``--debug`` (anywhere before ``--``) or
``SERTUNE_DEBUG=1`` prints the traceback as well.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sertune.cli._parsing import UsageError, error_message
from sertune.errors import OptionError, SertuneError, from_dataloader_worker

__all__ = ["main", "run_recipe"]

_DESCRIPTION = "Speech emotion recognition: corpora, cross-validation, prediction, export, the Hub."

#: What a failed run raises; anything else is a bug and keeps its traceback.
RUN_ERRORS = (SertuneError, ValueError, OSError)


@dataclass(frozen=True)
class _Command:
    """Where a command lives and how it is introduced in ``sertune --help``."""

    module: str
    function: str
    summary: str
    log_level: int = logging.INFO


COMMANDS = {
    "data list": _Command("data", "run_list", "List the registered corpora.", logging.WARNING),
    "data info": _Command(
        "data",
        "run_info",
        "Report utterances, speakers, labels, durations, formats and unreadable files.",
        logging.WARNING,
    ),
    "cv": _Command(
        "cv",
        "run",
        "Run a recipe over every fold of its protocol (and seeds); write the aggregate.",
        logging.WARNING,
    ),
    "augment preview": _Command(
        "augment",
        "run",
        "Write augmented versions of audio files (WAV) and their spectrograms (PNG).",
        logging.WARNING,
    ),
    "predict": _Command(
        "predict", "run", "Predict the emotion of files or folders, or a timeline of long audio."
    ),
    "push": _Command("push", "run", "Upload a run folder to the Hub with a generated model card."),
    "export": _Command(
        "export", "run", "Export a model to ONNX (feature extraction inside), optionally INT8."
    ),
    "evaluate": _Command(
        "evaluate",
        "run",
        "Test a model on a corpus, its classes matched by name; write metrics and the matrix.",
    ),
    "probe": _Command(
        "probe",
        "run",
        "A linear classifier per fold on frozen features (openSMILE, encoder layers, a model).",
    ),
    "compare": _Command(
        "compare",
        "run",
        "Cross-validations on the same folds side by side, with paired per-fold differences.",
        logging.WARNING,
    ),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sertune`` console script.

    Args:
        argv: The arguments after ``sertune``; ``None`` reads ``sys.argv[1:]``.

    Returns:
        The exit status: 0 on success, 1 when the run failed, 2 for a usage error.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    argv, debug = _pop_debug(argv)
    debug = debug or os.environ.get("SERTUNE_DEBUG", "") not in ("", "0")
    name, rest = _find_command(argv)
    if name is None:
        return _help(argv)
    command = COMMANDS[name]
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=command.log_level)
    try:
        module = importlib.import_module(f"sertune.cli.{command.module}")
        return getattr(module, command.function)(rest)
    except (UsageError, OptionError) as error:
        return _report(name, error, 2, debug)
    except RUN_ERRORS as error:
        return _report(name, error, 1, debug)
    except RuntimeError as error:
        worker_error = from_dataloader_worker(error)
        if worker_error is None:
            raise
        return _report(name, worker_error, 1, debug)


def run_recipe(
    recipe_main: Callable[[list[str]], object], argv: Sequence[str] | None = None
) -> int:
    """Run a recipe's ``main(argv)`` behind the commands' error boundary, and exit.

    Every recipe ends with ``if __name__ == "__main__": run_recipe(main)``. A bad option or
    config file (:class:`~sertune.errors.OptionError`) is one line on stderr and exit status 2;
    a failed run (a :class:`~sertune.errors.SertuneError`, ``ValueError`` or ``OSError``: a missing
    corpus, a read-only or full disk) one line and status 1; ``--debug`` or ``SERTUNE_DEBUG=1``
    adds the traceback. Under ``accelerate launch`` each process reports its own line; pass
    ``accelerate launch --quiet`` so that the launcher does not add its own
    ``CalledProcessError`` traceback.

    Args:
        recipe_main: The recipe's ``main``.
        argv: Its arguments; ``None`` reads ``sys.argv[1:]``.

    Returns:
        Never: exits with 0, 1 or 2 (``SystemExit``).
    """
    argv, debug = _pop_debug(list(sys.argv[1:] if argv is None else argv))
    debug = debug or os.environ.get("SERTUNE_DEBUG", "") not in ("", "0")
    name = os.path.basename(sys.argv[0]) or "recipe"
    try:
        recipe_main(argv)
        status = 0
    except OptionError as error:
        status = _report_as(name, error, 2, debug)
    except RUN_ERRORS as error:
        status = _report_as(name, error, 1, debug)
    except RuntimeError as error:
        worker_error = from_dataloader_worker(error)
        if worker_error is None:
            raise
        status = _report_as(name, worker_error, 1, debug)
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        status = 130
    raise SystemExit(status)


def _pop_debug(argv: list[str]) -> tuple[list[str], bool]:
    """Take ``--debug`` out of the arguments (not out of a recipe's, after ``--``)."""
    end = argv.index("--") if "--" in argv else len(argv)
    debug = "--debug" in argv[:end]
    return [a for a in argv[:end] if a != "--debug"] + argv[end:], debug


def _find_command(argv: list[str]) -> tuple[str | None, list[str]]:
    """The command named by the first one or two arguments, and the arguments after it."""
    for words in (2, 1):
        name = " ".join(argv[:words])
        if len(argv) >= words and name in COMMANDS:
            return name, argv[words:]
    return None, argv


def _help(argv: list[str]) -> int:
    """Answer ``sertune``, ``sertune --help``, ``sertune data`` or an unknown command."""
    asked = any(a in ("-h", "--help") for a in argv)
    group = argv[0] if argv and not argv[0].startswith("-") else ""
    names = [n for n in COMMANDS if n.split()[0] == group] or list(COMMANDS)
    if group and group not in {n.split()[0] for n in COMMANDS}:
        print(f"sertune: unknown command {group!r} (see sertune --help)", file=sys.stderr)
        return 2
    width = max(len(n) for n in names)
    print(f"usage: sertune {group or 'COMMAND'} ... [options] [--debug]\n")
    print(f"{_DESCRIPTION}\n\ncommands:")
    for name in names:
        print(f"  {name:<{width}}  {COMMANDS[name].summary}")
    print(
        "\n`sertune COMMAND --help` lists a command's options. --debug (or SERTUNE_DEBUG=1) "
        "shows the traceback of an error."
    )
    if asked:
        raise SystemExit(0)
    return 2


def _report(name: str, error: BaseException, status: int, debug: bool) -> int:
    """Print an error as one line (after its traceback when debugging); return ``status``."""
    return _report_as(f"sertune {name}", error, status, debug)


def _report_as(program: str, error: BaseException, status: int, debug: bool) -> int:
    if debug:
        traceback.print_exception(error)
    message = " ".join(error_message(error).split())  # one line, whatever the message holds
    print(f"{program}: {message}", file=sys.stderr)
    return status
