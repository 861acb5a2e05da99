"""The data options every recipe shares, and the one way they turn into a corpus and a fold."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from datasets import Dataset

from sertune.data.protocols import (
    Fold,
    list_protocols,
    official_folds,
    speaker_independent_folds,
)
from sertune.data.registry import corpus_spec, load_corpus
from sertune.data.validation import MAX_LISTED, validate_corpus
from sertune.errors import CorpusFileError, OptionError

logger = logging.getLogger(__name__)


@dataclass
class DataArguments:
    """Which corpus, which classes and which speaker split a run uses."""

    corpus: str = field(default="emodb", metadata={"help": "Corpus name (sertune data list)."})
    data_dir: str | None = field(
        default=None, metadata={"help": "Corpus root, e.g. EMO-DB's (holding wav/)."}
    )
    download: bool = field(
        default=False, metadata={"help": "Download the corpus into data_dir when it is missing."}
    )
    labels: list[str] | None = field(
        default=None, metadata={"help": "Keep only these labels, e.g. neutral happy sad angry."}
    )
    protocol: str = field(
        default="holdout",
        metadata={"help": "Split: holdout, loso, speaker_kfold, session (IEMOCAP) or official."},
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
        try:
            spec = corpus_spec(self.corpus)
        except ValueError as error:
            raise OptionError(f"--corpus: {error}") from None
        self._check_protocol()
        if self.fold < 0:
            raise OptionError(f"--fold must be 0 or more, got {self.fold}")
        if self.num_folds < 2:
            raise OptionError(f"--num_folds must be at least 2, got {self.num_folds}")
        if self.num_validation_speakers < 0:
            raise OptionError("--num_validation_speakers must be 0 or more")
        if self.labels is not None:
            check_label_selection(self.labels, self.corpus, spec.label_mapping.values())

    def _check_protocol(self) -> None:
        protocols = [*list_protocols(), "official"]
        if self.protocol not in protocols:
            raise OptionError(f"--protocol must be one of {protocols}, got {self.protocol!r}")


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
    """All folds of the protocol the arguments name, on a loaded corpus."""
    if args.protocol == "official":
        return official_folds(corpus)
    options = {}
    if args.protocol == "speaker_kfold":
        options["num_folds"] = args.num_folds
    if args.protocol == "holdout":
        options["test_speakers"] = args.test_speakers
        options["validation_speakers"] = args.validation_speakers
    return speaker_independent_folds(
        corpus,
        args.protocol,
        seed=args.split_seed,
        num_validation_speakers=args.num_validation_speakers,
        min_validation_per_label=args.min_validation_per_label,
        **options,
    )


def load_corpus_fold(args: DataArguments) -> tuple[Dataset, Fold]:
    """Load the corpus the arguments name, check its audio files and make the fold asked for.

    Every file is checked with :func:`sertune.data.validation.validate_corpus` (header, length
    and every sample; cached per file version, so an unchanged corpus is not read again). Unreadable files stop the run, unless ``args.exclude_unreadable`` is set: then their
    rows are dropped with a warning listing them, before the folds are made.

    Args:
        args: The data options.

    Returns:
        The corpus dataset (without unreadable rows) and the chosen fold (select its rows with
        ``dataset.select(fold.train)`` and so on).

    Raises:
        CorpusFileError: Some audio files cannot be read and ``args.exclude_unreadable`` is
            not set; the message lists them with their reasons.
        ValueError: ``args.fold`` is outside the protocol's folds.
    """
    corpus = load_corpus(args.corpus, args.data_dir, download=args.download, labels=args.labels)
    corpus = drop_or_reject_unreadable(corpus, args.corpus, exclude=args.exclude_unreadable)
    folds = make_folds(corpus, args)
    if not 0 <= args.fold < len(folds):
        raise ValueError(f"--fold {args.fold}: {args.protocol} has {len(folds)} folds")
    fold = folds[args.fold]
    logger.info(
        "%s fold %s: test speakers %s, validation speakers %s (%s; labels %s)",
        args.corpus,
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
