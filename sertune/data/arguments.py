"""The data options every recipe shares, and the one way they turn into a corpus and a fold.

Cross-corpus runs name several corpora: ``--corpus ravdess emodb --test_corpus urdu`` trains on
RAVDESS and EMO-DB (validation speakers among theirs) and tests on every URDU utterance;
``--corpus ravdess emodb urdu --protocol leave_one_corpus_out`` makes one fold per corpus, each
testing on it and training on the others. The corpora are loaded together by
:func:`sertune.data.registry.load_corpora` (speakers prefixed with their corpus, ``emodb:03``);
the classes are those every corpus has unless ``--labels`` names them, and the rows of the other
classes are left out, counted per corpus in a warning and in the fold record.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import ClassVar

from datasets import Dataset

from sertune.data.protocols import (
    Fold,
    list_protocols,
    official_folds,
    speaker_independent_folds,
)
from sertune.data.registry import corpus_spec, load_corpora, load_corpus, select_labels
from sertune.data.taxonomy import EMOTIONS
from sertune.data.validation import MAX_LISTED, validate_corpus
from sertune.errors import CorpusFileError, OptionError

logger = logging.getLogger(__name__)


@dataclass
class DataArguments:
    """Which corpus (or corpora), which classes and which speaker split a run uses."""

    #: Options a config file may give as one string (``corpus: emodb``) for a one-item list.
    ONE_OR_MORE: ClassVar[frozenset[str]] = frozenset({"corpus", "data_dir"})

    corpus: list[str] = field(
        default_factory=lambda: ["emodb"],
        metadata={
            "help": "Corpus name (sertune data list); several train together (cross-corpus), "
            "e.g. ravdess emodb.",
        },
    )
    data_dir: list[str] | None = field(
        default=None,
        metadata={
            "help": "Corpus root, e.g. EMO-DB's (holding wav/); with several corpora one root "
            "per corpus, in the order of --corpus, then --test_corpus's (default: each "
            "corpus's folder under $SERTUNE_DATA).",
        },
    )
    test_corpus: str | None = field(
        default=None,
        metadata={
            "help": "Cross-corpus: test on every utterance of this corpus, train and validate "
            "on --corpus (protocol leave_one_corpus_out, one fold); its root is the last "
            "--data_dir."
        },
    )
    download: bool = field(
        default=False, metadata={"help": "Download the corpus into data_dir when it is missing."}
    )
    labels: list[str] | None = field(
        default=None, metadata={"help": "Keep only these labels, e.g. neutral happy sad angry."}
    )
    protocol: str = field(
        default="holdout",
        metadata={
            "help": "Split: holdout, loso, speaker_kfold, session (IEMOCAP), official or "
            "leave_one_corpus_out (one fold per --corpus; implied by --test_corpus)."
        },
    )
    fold: int = field(default=0, metadata={"help": "Which fold of the protocol to run."})
    num_folds: int = field(default=5, metadata={"help": "Folds of speaker_kfold."})
    test_speakers: list[str] | None = field(
        default=None, metadata={"help": "holdout: explicit test speakers, e.g. 03 08."}
    )
    validation_speakers: list[str] | None = field(
        default=None, metadata={"help": "holdout: explicit validation speakers."}
    )
    num_validation_speakers: int = field(
        default=1,
        metadata={
            "help": "Validation speakers chosen among the training speakers (the least number "
            "with min_validation_per_label); 0 without a minimum: no validation split, a fixed "
            "schedule whose last model is kept."
        },
    )
    min_validation_per_label: int = field(
        default=0,
        metadata={
            "help": "Add validation speakers until every label has at least this many "
            "validation utterances, rotating them across folds (0: exactly "
            "num_validation_speakers)."
        },
    )
    split_seed: int = field(default=0, metadata={"help": "Seed of the speaker choice."})
    exclude_unreadable: bool = field(
        default=False,
        metadata={
            "help": "Leave out audio files that cannot be read (listed in a warning) instead of "
            "stopping; folds are made after they are left out."
        },
    )

    def __post_init__(self):
        # Checked here, when the options are parsed, so a wrong one stops the run before the
        # corpus is read (OptionError is ValueError: HfArgumentParser callers see no change).
        # A single name or folder (a config file's `corpus: emodb`, or Python) is a list of one.
        self.corpus = [self.corpus] if isinstance(self.corpus, str) else list(self.corpus)
        if isinstance(self.data_dir, str | os.PathLike):
            self.data_dir = [self.data_dir]
        if self.data_dir is not None:
            self.data_dir = [os.fspath(folder) for folder in self.data_dir]
        self._check_corpora()
        self._check_protocol()
        if self.fold < 0:
            raise OptionError(f"--fold must be 0 or more, got {self.fold}")
        if self.num_folds < 2:
            raise OptionError(f"--num_folds must be at least 2, got {self.num_folds}")
        if self.num_validation_speakers < 0:
            raise OptionError("--num_validation_speakers must be 0 or more")
        for name in self.all_corpora if self.labels is not None else ():
            check_label_selection(self.labels, name, corpus_spec(name).label_mapping.values())
        if self.labels is None and self.cross_corpus and len(self.run_labels) < 2:
            raise OptionError(
                f"--corpus {' '.join(self.all_corpora)}: the corpora share the labels "
                f"{self.run_labels}; a classifier needs at least two: choose other corpora"
            )

    @property
    def all_corpora(self) -> list[str]:
        """The training corpora, then the test corpus if there is one."""
        return [*self.corpus, *([self.test_corpus] if self.test_corpus is not None else [])]

    @property
    def cross_corpus(self) -> bool:
        """Whether the run involves several corpora."""
        return len(self.all_corpora) > 1

    @property
    def corpus_name(self) -> str:
        """The corpora for a record: ``emodb``, or ``ravdess+emodb+urdu`` across corpora."""
        return "+".join(self.all_corpora)

    @property
    def run_labels(self) -> list[str] | None:
        """``--labels``; across corpora without it, the labels every corpus has."""
        if self.labels is not None or not self.cross_corpus:
            return self.labels
        label_sets = [set(corpus_spec(name).label_mapping.values()) for name in self.all_corpora]
        return [label for label in EMOTIONS if all(label in labels for labels in label_sets)]

    def corpus_folders(self) -> dict[str, str | None]:
        """Each corpus (training corpora, then the test corpus) with its ``--data_dir``."""
        folders = self.data_dir if self.data_dir is not None else [None] * len(self.all_corpora)
        return dict(zip(self.all_corpora, folders, strict=True))

    def _check_corpora(self) -> None:
        if not self.corpus:
            raise OptionError("--corpus: give at least one corpus name, e.g. --corpus emodb")
        for name in self.all_corpora:
            try:
                corpus_spec(name)
            except ValueError as error:
                option = "--test_corpus" if name == self.test_corpus else "--corpus"
                raise OptionError(f"{option}: {error}") from None
        repeated = sorted(name for name, count in Counter(self.corpus).items() if count > 1)
        if repeated:
            raise OptionError(f"--corpus repeats {repeated}: name each corpus once")
        if self.test_corpus in self.corpus:
            raise OptionError(
                f"--test_corpus {self.test_corpus} is also in --corpus "
                f"{' '.join(self.corpus)}: a cross-corpus test corpus is never trained on; "
                "remove it from --corpus"
            )
        if self.data_dir is not None and len(self.data_dir) != len(self.all_corpora):
            test = f" --test_corpus {self.test_corpus}" if self.test_corpus else ""
            raise OptionError(
                f"--data_dir gives {len(self.data_dir)} folder(s) for {len(self.all_corpora)} "
                f"corpora (--corpus {' '.join(self.corpus)}{test}): give one folder per corpus, "
                "in the order of --corpus, then the test corpus's"
            )

    def _check_protocol(self) -> None:
        protocols = [*list_protocols(), "official"]
        if self.protocol not in protocols:
            raise OptionError(f"--protocol must be one of {protocols}, got {self.protocol!r}")
        if self.test_corpus is not None:
            if self.protocol not in ("holdout", "leave_one_corpus_out"):
                raise OptionError(
                    f"--protocol {self.protocol} with --test_corpus: the test corpus is the "
                    "split; leave --protocol out (or give leave_one_corpus_out)"
                )
            self.protocol = "leave_one_corpus_out"
        if self.protocol == "leave_one_corpus_out" and not self.cross_corpus:
            raise OptionError(
                "--protocol leave_one_corpus_out needs at least two corpora, e.g. "
                "--corpus ravdess emodb urdu"
            )
        if self.protocol == "official" and self.cross_corpus:
            raise OptionError(
                "--protocol official uses one corpus's own partitions; with several corpora "
                "use leave_one_corpus_out or a speaker protocol"
            )


def check_label_selection(labels, corpus: str, available) -> None:
    """Refuse a ``--labels`` that repeats a class, names one the corpus lacks, or keeps one class.

    Raises:
        OptionError: Naming ``--labels``, the corpus and the labels it has.
    """
    available = sorted(set(available))
    repeated = sorted({name for name in labels if list(labels).count(name) > 1})
    missing = [name for name in labels if name not in available]
    if repeated:
        raise OptionError(f"--labels repeats {repeated}")
    if missing:
        raise OptionError(
            f"--labels {' '.join(missing)}: corpus {corpus!r} has no such label "
            f"(its labels: {' '.join(available)})"
        )
    if len(labels) < 2:
        raise OptionError(
            f"--labels {' '.join(labels) or '(none)'}: a classifier needs at least two labels"
        )


def make_folds(corpus: Dataset, args: DataArguments) -> list[Fold]:
    """All folds of the protocol the arguments name, on a loaded corpus (or corpora).

    Across corpora each fold also names its training and test corpora.
    """
    if args.protocol == "official":
        return official_folds(corpus)
    options = {}
    if args.protocol == "speaker_kfold":
        options["num_folds"] = args.num_folds
    if args.protocol == "holdout":
        options["test_speakers"] = args.test_speakers
        options["validation_speakers"] = args.validation_speakers
    if args.test_corpus is not None:
        options["test_group"] = args.test_corpus
    folds = speaker_independent_folds(
        corpus,
        args.protocol,
        seed=args.split_seed,
        num_validation_speakers=args.num_validation_speakers,
        min_validation_per_label=args.min_validation_per_label,
        **options,
    )
    if not args.cross_corpus:
        return folds
    corpora = corpus["corpus"]

    def named(rows: list[int]) -> tuple[str, ...]:
        present = {corpora[row] for row in rows}
        return tuple(name for name in args.all_corpora if name in present)

    return [
        dataclasses.replace(
            fold, train_corpora=named(fold.train + fold.validation), test_corpora=named(fold.test)
        )
        for fold in folds
    ]


def load_data(args: DataArguments) -> tuple[Dataset, dict[str, dict[str, int]] | None]:
    """Load the corpus (or corpora) the arguments name and check its audio files.

    Every file is checked with :func:`sertune.data.validation.validate_corpus` (header, length
    and every sample; cached per file version, so an unchanged corpus is not read again).
    Unreadable files stop the run, unless ``args.exclude_unreadable`` is set: then their rows
    are dropped with a warning listing them.

    Args:
        args: The data options.

    Returns:
        The dataset, and across corpora the rows left out per corpus by class (classes outside
        :attr:`DataArguments.run_labels`); ``None`` for one corpus.

    Raises:
        CorpusFileError: Some audio files cannot be read and ``args.exclude_unreadable`` is
            not set; the message lists them with their reasons.
    """
    left_out = None
    if args.cross_corpus:
        corpus = load_corpora(args.corpus_folders(), download=args.download)
        left_out = count_left_out(corpus, args.run_labels)
        corpus = select_labels(corpus, args.run_labels)
    else:
        folder = None if args.data_dir is None else args.data_dir[0]
        corpus = load_corpus(args.corpus[0], folder, download=args.download, labels=args.labels)
    corpus = drop_or_reject_unreadable(corpus, args.corpus_name, exclude=args.exclude_unreadable)
    return corpus, left_out


def count_left_out(corpora: Dataset, labels: list[str]) -> dict[str, dict[str, int]]:
    """Rows of each corpus whose class is outside ``labels``, by class; logged per corpus.

    Args:
        corpora: Several corpora loaded by :func:`sertune.data.registry.load_corpora`.
        labels: The classes the run keeps.

    Returns:
        ``{corpus: {class: rows}}`` for every corpus (empty when it loses none), sorted.
    """
    names = corpora.features["label"].names
    counts: dict[str, Counter] = {}
    for corpus, label in zip(corpora["corpus"], corpora["label"], strict=True):
        counts.setdefault(corpus, Counter())
        if names[label] not in labels:
            counts[corpus][names[label]] += 1
    for corpus, dropped in counts.items():
        if dropped:
            logger.warning(
                "%s: %d rows of classes %s are left out; the run's labels are %s (those every "
                "corpus has, or --labels)",
                corpus,
                sum(dropped.values()),
                dict(sorted(dropped.items())),
                labels,
            )
    return {corpus: dict(sorted(dropped.items())) for corpus, dropped in counts.items()}


def load_corpus_fold(args: DataArguments) -> tuple[Dataset, Fold]:
    """Load the corpus (or corpora) the arguments name, check its audio files and make the fold.

    See :func:`load_data` for the loading and checks; across corpora the fold records the rows
    left out per corpus (``Fold.left_out_labels``).

    Args:
        args: The data options.

    Returns:
        The dataset (without unreadable rows) and the chosen fold (select its rows with
        ``dataset.select(fold.train)`` and so on).

    Raises:
        CorpusFileError: Some audio files cannot be read and ``args.exclude_unreadable`` is
            not set; the message lists them with their reasons.
        ValueError: ``args.fold`` is outside the protocol's folds.
    """
    corpus, left_out = load_data(args)
    folds = make_folds(corpus, args)
    if not 0 <= args.fold < len(folds):
        raise ValueError(f"--fold {args.fold}: {args.protocol} has {len(folds)} folds")
    fold = folds[args.fold]
    if left_out is not None:
        fold = dataclasses.replace(fold, left_out_labels=left_out)
    logger.info(
        "%s fold %s: test speakers %s, validation speakers %s (%s; labels %s)",
        args.corpus_name,
        fold.name,
        fold.test_speakers,
        fold.validation_speakers,
        fold.validation_rule,
        fold.validation_label_counts,
    )
    return corpus, fold


def drop_or_reject_unreadable(corpus: Dataset, name: str, *, exclude: bool) -> Dataset:
    """Validate a corpus's audio files; raise on unreadable ones, or drop them with a warning.

    Args:
        corpus: The loaded corpus dataset.
        name: Corpus name, for the messages.
        exclude: Drop the unreadable rows (and log them) instead of raising.

    Returns:
        ``corpus`` itself when every file is readable, else the readable rows.

    Raises:
        CorpusFileError: Unreadable files and ``exclude`` is false.
    """
    validation = validate_corpus(corpus)
    if validation.ok:
        return corpus
    count = len(validation.unreadable)
    summary = f"{count} of {validation.checked} audio files of corpus {name!r} cannot be read"
    if not exclude:
        raise CorpusFileError(
            f"{summary}:\n{validation.describe(MAX_LISTED)}\n"
            "Fix or remove these files, or pass --exclude_unreadable to train without them."
        )
    logger.warning(
        "%s; --exclude_unreadable leaves them out:\n%s", summary, validation.describe(MAX_LISTED)
    )
    bad = set(validation.bad_rows)
    return corpus.select([row for row in range(len(corpus)) if row not in bad])
