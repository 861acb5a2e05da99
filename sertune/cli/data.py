"""``sertune data list`` and ``sertune data info``: the registered corpora, and a corpus folder.

``sertune data info NAME --data_dir DIR`` exits with status 1 when files are unreadable (they
are listed with the reason) or the folder is not the corpus's layout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sertune.cli._parsing import parse_command
from sertune.data import corpus_spec, list_corpora, load_corpus
from sertune.data.report import corpus_report, format_report


@dataclass
class ListArguments:
    """Options of ``sertune data list``."""

    json: bool = field(default=False, metadata={"help": "Print JSON."})


@dataclass
class InfoArguments:
    """Options of ``sertune data info``."""

    name: str = field(metadata={"help": "Corpus name (see `sertune data list`)."})
    data_dir: str = field(metadata={"help": "The corpus's root folder."})
    json: bool = field(default=False, metadata={"help": "Print the report as JSON."})


def run_list(argv: list[str]) -> int:
    """``sertune data list [--json]``: print the registered corpora; returns 0.

    Args:
        argv: The arguments after ``data list``.
    """
    (args,) = parse_command(
        [ListArguments],
        argv,
        command="data list",
        usage="sertune data list [--json]",
        description="List the registered corpora.",
    )
    specs = [corpus_spec(name) for name in list_corpora()]
    if args.json:
        keys = ("name", "description", "license", "homepage", "downloadable")
        print(json.dumps([{key: getattr(s, key) for key in keys} for s in specs], indent=2))
    else:
        width = max(len(s.name) for s in specs)
        for spec in specs:
            print(f"{spec.name:<{width}}  {spec.description}")
    return 0


def run_info(argv: list[str]) -> int:
    """``sertune data info NAME --data_dir DIR [--json]``: report on a corpus folder.

    Args:
        argv: The arguments after ``data info``.

    Returns:
        0, or 1 when files are unreadable (the report lists them).
    """
    (args,) = parse_command(
        [InfoArguments],
        argv,
        command="data info",
        usage="sertune data info NAME --data_dir DIR [--json]",
        description="Report utterances, speakers, labels, durations, formats and unreadable "
        "files of a corpus folder. Exits with status 1 when files are unreadable (they are "
        "listed with the reason) or the folder is not the corpus's layout.",
        positionals=("name",),
    )
    report = corpus_report(load_corpus(args.name, args.data_dir))
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 1 if report["unreadable"] else 0
