"""``sertune compare BASELINE RUN [RUN ...]``: cross-validations side by side, paired by fold.

Each argument is a folder written by ``sertune cv`` or ``sertune probe`` (or its
``cv_results.json``), all on the same folds; see :mod:`sertune.training.compare`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sertune.cli._parsing import UsageError, parse_command
from sertune.training.compare import METRICS, comparison_table, load_fold_scores


@dataclass
class CompareArguments:
    """Options of ``sertune compare``."""

    baseline: str = field(metadata={"help": "The reference cross-validation's folder."})
    runs: list[str] = field(metadata={"help": "The cross-validations compared with it."})
    names: list[str] | None = field(
        default=None,
        metadata={
            "help": "Names to show: one for the baseline, then one per run (default: paths)."
        },
    )
    metric: str = field(
        default="uar", metadata={"help": f"Metric of the paired difference: {', '.join(METRICS)}."}
    )
    output: str | None = field(
        default=None, metadata={"help": "Also write the table to this Markdown file."}
    )

    def __post_init__(self):
        if self.metric not in METRICS:
            raise UsageError(f"--metric {self.metric}: expected one of {', '.join(METRICS)}")
        if self.names is not None and len(self.names) != 1 + len(self.runs):
            raise UsageError(
                f"--names gives {len(self.names)} names for {1 + len(self.runs)} "
                "cross-validations (the baseline and each run)"
            )


def run(argv: list[str]) -> int:
    """Print (and optionally write) the comparison table; returns 0.

    Args:
        argv: ``BASELINE RUN [RUN ...] [options]``.
    """
    (args,) = parse_command(
        [CompareArguments],
        argv,
        command="compare",
        usage="sertune compare BASELINE RUN [RUN ...] [--names N ...] [--metric uar] "
        "[--output FILE]",
        description="Cross-validations on the same folds: scores and paired per-fold differences.",
        positionals=("baseline", "runs"),
    )
    names = args.names or [args.baseline, *args.runs]
    runs = {name: load_fold_scores(path) for name, path in zip(names[1:], args.runs, strict=True)}
    table = comparison_table(load_fold_scores(args.baseline), runs, names[0], args.metric)
    print(table)
    if args.output is not None:
        Path(args.output).write_text(table, encoding="utf-8")
    return 0
