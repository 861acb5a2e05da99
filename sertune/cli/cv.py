"""``sertune cv RECIPE --output_dir DIR [options] -- RECIPE OPTIONS``: cross-validate a recipe.

Runs the recipe once per fold (and seed), each in its own process and folder, then writes
``cv_results.json``, ``cv_summary.md`` and the pooled confusion matrix (see
:func:`sertune.training.cv.cross_validate`). Running the same command again resumes it.
"""

from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from sertune.cli._parsing import UsageError, parse_command
from sertune.errors import SertuneError
from sertune.training.cv import aggregate_cv, cross_validate, format_cv_summary, plan_runs


@dataclass
class CvArguments:
    """Options of ``sertune cv`` (the recipe's own options follow ``--``)."""

    recipe: str = field(metadata={"help": "Recipe script, e.g. recipes/cnn_lstm_emodb.py."})
    output_dir: str = field(metadata={"help": "Folder of the cross-validation."})
    seeds: list[int] | None = field(default=None, metadata={"help": "Seeds per fold."})
    folds: list[int] | None = field(default=None, metadata={"help": "Fold indices (all)."})
    launcher: str | None = field(
        default=None,
        metadata={
            "help": 'Command before the recipe, e.g. "accelerate launch --num_processes 2" '
            "(default: this Python)."
        },
    )
    aggregate_only: bool = field(
        default=False, metadata={"help": "Only (re)write the aggregate files."}
    )
    overwrite: bool = field(
        default=False,
        metadata={
            "help": "Discard an earlier cross-validation in output_dir that had other options."
        },
    )


def run(argv: list[str]) -> int:
    """Cross-validate a recipe and print the summary; returns 0.

    Args:
        argv: The arguments after ``cv``; those after ``--`` are the recipe's.

    Raises:
        UsageError: The recipe file does not exist, or an option is bad.
        SertuneError: A run failed (its command and log folder are named).
    """
    end = argv.index("--") if "--" in argv else len(argv)
    recipe_args = argv[end + 1 :]
    (args,) = parse_command(
        [CvArguments],
        argv[:end],
        command="cv",
        usage="sertune cv RECIPE --output_dir DIR [options] -- RECIPE OPTIONS",
        description="Runs the recipe once per fold (and seed), each in its own process and "
        "folder, then writes cv_results.json, cv_summary.md and the pooled confusion matrix. "
        "Run the same command again to resume: finished runs are skipped, an interrupted one "
        "resumes from its latest checkpoint. Recipe options follow `--`; the runner sets "
        "--fold, --seed and --output_dir itself.",
        positionals=("recipe",),
    )
    if not Path(args.recipe).is_file():
        raise UsageError(f"{args.recipe}: no such recipe file")
    logging.getLogger("sertune").setLevel(logging.INFO)
    try:
        if args.aggregate_only:
            runs = plan_runs(recipe_args, args.output_dir, seeds=args.seeds, folds=args.folds)
            results = aggregate_cv(args.output_dir, runs)
        else:
            results = cross_validate(
                args.recipe,
                recipe_args,
                args.output_dir,
                seeds=args.seeds,
                folds=args.folds,
                launcher=None if args.launcher is None else shlex.split(args.launcher),
                overwrite=args.overwrite,
            )
    except RuntimeError as error:  # a run failed; the message names its command and log
        raise SertuneError(str(error)) from error
    print(format_cv_summary(results))
    return 0
