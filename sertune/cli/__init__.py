"""The ``sertune`` command line.

sertune data list
sertune data info emodb --data_dir /data/emodb [--json]
sertune cv recipes/cnn_lstm_emodb.py --output_dir runs/cv [--seeds 1 2 3] -- RECIPE OPTIONS
sertune augment preview a.wav b.wav --output_dir preview [--noise_prob 1 ...]
sertune push OUTPUT_DIR REPO_ID [--private] [--revision BRANCH] [--stage_only DIR]
sertune predict MODEL PATH... [--long] [--format jsonl|csv]
sertune export MODEL_DIR OUT_DIR --onnx [--int8]
sertune probe --corpus emodb --data_dir DIR --protocol loso --features egemaps --output_dir D
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sertune`` console script; returns the exit status."""
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["push"], ["predict"], ["export"], ["probe"]):
        # Each has its own parser, in the module that does the work.
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.INFO)
        module = {
            "push": "hub",
            "predict": "predict_cli",
            "export": "export",
            "probe": "probe.cli",
        }[argv[0]]
        return importlib.import_module(f"sertune.{module}").main(argv[1:])
    if argv[:2] == ["augment", "preview"]:
        # Its options are the recipes' augmentation dataclass, parsed by the recipes' parser.
        from sertune.augment_preview import main as preview_main

        return preview_main(argv[2:])
    # Everything after `--` belongs to the recipe that `sertune cv` runs.
    passthrough: list[str] = []
    if "--" in argv:
        passthrough = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    args = parser.parse_args(argv)
    if passthrough and getattr(args, "run", None) is not _cv:
        parser.error("only `sertune cv` takes options after --")
    args.recipe_args = passthrough
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    return args.run(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sertune", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(title="commands")

    data = commands.add_parser("data", help="Corpora: list them, report on one.")
    data_commands = data.add_subparsers(title="data commands")

    listing = data_commands.add_parser("list", help="List the registered corpora.")
    listing.add_argument("--json", action="store_true", help="Print JSON.")
    listing.set_defaults(run=_data_list)

    info = data_commands.add_parser(
        "info",
        help="Report utterances, speakers, labels, durations, formats and unreadable files.",
        description="Report on a corpus folder. Exits with status 1 when files are unreadable "
        "(they are listed with the reason) or the folder is not the corpus's layout.",
    )
    info.add_argument("name", help="Corpus name (see `sertune data list`).")
    info.add_argument("--data_dir", required=True, help="The corpus's root folder.")
    info.add_argument("--json", action="store_true", help="Print the report as JSON.")
    info.set_defaults(run=_data_info)

    augment = commands.add_parser(
        "augment",
        help="Augmentation: `sertune augment preview FILE ... --output_dir DIR [options]`.",
        description="`sertune augment preview FILE [FILE ...] --output_dir DIR` writes each "
        "file with a few augmented versions as WAV and their spectrograms as PNG; the options "
        "are the recipes' augmentation options (see `sertune augment preview --help`).",
    )
    augment.set_defaults(run=lambda args: (augment.print_help(), 2)[1])

    for name, summary in (
        ("push", "Upload a run folder to the Hub with a generated model card (see --help)."),
        ("predict", "Predict the emotion of files or folders, or a timeline of long audio."),
        ("export", "Export a model to ONNX (feature extraction inside), optionally INT8."),
        (
            "probe",
            "Frozen-feature probes: a linear classifier per fold on openSMILE, encoder-layer "
            "or model-embedding features; writes what `sertune cv` writes (see --help).",
        ),
    ):
        # Parsed by their own modules (main intercepts them); listed here for --help.
        commands.add_parser(name, help=summary, add_help=False)

    cv = commands.add_parser(
        "cv",
        help="Run a recipe over every fold of its protocol (and seeds); write the aggregate.",
        description="Runs the recipe once per fold (and seed), each in its own process and "
        "folder, then writes cv_results.json, cv_summary.md and the pooled confusion matrix. "
        "Run the same command again to resume: finished runs are skipped, an interrupted one "
        "resumes from its latest checkpoint. Recipe options follow `--`; the runner sets "
        "--fold, --seed and --output_dir itself.",
        usage="sertune cv RECIPE --output_dir DIR [options] -- RECIPE OPTIONS",
    )
    cv.add_argument("recipe", help="Recipe script, e.g. recipes/cnn_lstm_emodb.py.")
    cv.add_argument("--output_dir", required=True, help="Folder of the cross-validation.")
    cv.add_argument("--seeds", type=int, nargs="+", default=None, help="Seeds per fold.")
    cv.add_argument("--folds", type=int, nargs="+", default=None, help="Fold indices (all).")
    cv.add_argument(
        "--launcher",
        default=None,
        help='Command before the recipe, e.g. "accelerate launch --num_processes 2" '
        "(default: this Python).",
    )
    cv.add_argument(
        "--aggregate_only", action="store_true", help="Only (re)write the aggregate files."
    )
    cv.add_argument(
        "--overwrite",
        action="store_true",
        help="Discard an earlier cross-validation in output_dir that had other options.",
    )
    cv.set_defaults(run=_cv)
    return parser


def _data_list(args: argparse.Namespace) -> int:
    from sertune.data import corpus_spec, list_corpora

    specs = [corpus_spec(name) for name in list_corpora()]
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": s.name,
                        "description": s.description,
                        "license": s.license,
                        "homepage": s.homepage,
                        "downloadable": s.downloadable,
                    }
                    for s in specs
                ],
                indent=2,
            )
        )
    else:
        width = max(len(s.name) for s in specs)
        for spec in specs:
            print(f"{spec.name:<{width}}  {spec.description}")
    return 0


def _data_info(args: argparse.Namespace) -> int:
    from sertune.data import load_corpus
    from sertune.data.report import corpus_report, format_report
    from sertune.errors import SertuneError

    try:
        dataset = load_corpus(args.name, args.data_dir)
    except (SertuneError, ValueError) as error:
        print(f"sertune data info: {error}", file=sys.stderr)
        return 1
    report = corpus_report(dataset)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 1 if report["unreadable"] else 0


def _cv(args: argparse.Namespace) -> int:
    import shlex

    from sertune.errors import SertuneError
    from sertune.training.cv import aggregate_cv, cross_validate, format_cv_summary, plan_runs

    logging.getLogger("sertune").setLevel(logging.INFO)
    recipe_args = list(args.recipe_args)
    if not Path(args.recipe).is_file():
        print(f"sertune cv: {args.recipe}: no such recipe file", file=sys.stderr)
        return 2
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
    except (SertuneError, ValueError, FileExistsError, FileNotFoundError, RuntimeError) as error:
        print(f"sertune cv: {error}", file=sys.stderr)
        return 1
    print(format_cv_summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
