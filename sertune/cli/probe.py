"""``sertune probe``: its options (the recipes' data options plus :class:`ProbeArguments`).

Options are parsed by ``HfArgumentParser`` from a ``--config`` JSON/YAML file and the command
line, as the recipes' are. Errors are one line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from sertune.config import parse_config
from sertune.data.arguments import DataArguments
from sertune.errors import SertuneError
from sertune.probe.report import LAYER_SUMMARY_KEY
from sertune.probe.run import PROBE_RUN_COLUMNS, ProbeArguments, run_probe
from sertune.training.cv import CV_SUMMARY_FILE, format_cv_summary


def main(argv: Sequence[str] | None = None) -> int:
    """Run a probe and print its summary; returns the exit status."""
    try:
        data_args, probe_args = parse_config(
            [DataArguments, ProbeArguments],
            argv,
            description="Frozen-feature probes: a linear classifier per fold on fixed features.",
            prog="sertune probe",
        )
        results = run_probe(data_args, probe_args)
    except (SertuneError, ValueError, OSError) as error:
        print(f"sertune probe: {error}", file=sys.stderr)
        return 1
    if LAYER_SUMMARY_KEY in results:
        print((Path(probe_args.output_dir) / CV_SUMMARY_FILE).read_text(encoding="utf-8"))
    else:
        print(format_cv_summary(results, run_columns=PROBE_RUN_COLUMNS))
    return 0
