"""The ``sertune`` command line.

sertune data list
sertune data info emodb --data_dir /data/emodb [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sertune`` console script; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
