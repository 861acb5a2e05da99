"""``sertune probe``: frozen-feature probes, with the recipes' data options plus
:class:`~sertune.probe.run.ProbeArguments`.

Options come from a ``--config`` JSON/YAML file and the command line, as the recipes' do. The
probe's own option checks run inside :func:`~sertune.probe.run.run_probe` and, like every failure
of the run, exit with status 1.
"""

from __future__ import annotations

from pathlib import Path

from sertune.cli._parsing import parse_command
from sertune.data.arguments import DataArguments
from sertune.probe.report import LAYER_SUMMARY_KEY
from sertune.probe.run import PROBE_RUN_COLUMNS, ProbeArguments, run_probe
from sertune.training.cv import CV_SUMMARY_FILE, format_cv_summary


def run(argv: list[str]) -> int:
    """Run a probe and print its summary; returns 0.

    Args:
        argv: The arguments after ``probe``.
    """
    data_args, probe_args = parse_command(
        [DataArguments, ProbeArguments],
        argv,
        command="probe",
        usage="sertune probe --corpus NAME --data_dir DIR --features FEATURES --output_dir DIR "
        "[options]",
        description="Frozen-feature probes: a linear classifier per fold on fixed features.",
    )
    results = run_probe(data_args, probe_args)
    if LAYER_SUMMARY_KEY in results:
        print((Path(probe_args.output_dir) / CV_SUMMARY_FILE).read_text(encoding="utf-8"))
    else:
        print(format_cv_summary(results, run_columns=PROBE_RUN_COLUMNS))
    return 0
