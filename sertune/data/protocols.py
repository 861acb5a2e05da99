"""Speaker-independent evaluation protocols.

Speech emotion corpora are small (EMO-DB: 535 utterances from 10 speakers), and a random
utterance split that puts one speaker on both sides of the train/test boundary measures speaker
recognition as much as emotion recognition. Every split made here is therefore by speaker, and
`check_speaker_independence` runs on every fold before it is returned.

Protocols are small functions in an explicit registry (`register_protocol`, `list_protocols`):

- `loso`: leave one speaker out, one fold per speaker.
- `speaker_kfold`: k folds over speakers, balanced by utterance count.
- `holdout`: one train/validation/test split, for quick runs.
- `session`: leave one group of speakers out, by the `session` column (IEMOCAP's five sessions,
  two speakers each); one fold per session.
- `leave_one_corpus_out`: on several corpora loaded together (`load_corpora`), one fold per
  corpus, by the `corpus` column: that corpus is the test set, the others train and validate
  (`test_group` names one corpus for a single train-on-the-others, test-on-it fold).

Group protocols (`session`, `leave_one_corpus_out`) also check every fold with
`check_group_independence`: no group (session, corpus) has rows on both sides of the test
boundary.

Corpora with official partitions (MSP-Podcast, ESD) give them in a `partition` column;
`official_folds` turns them into folds and checks them like every other split.

How validation (and holdout test) speakers are chosen, with `stratify=True`:

1. Candidates are sets of the wanted number of speakers, drawn from those the fold may use. When
   there are at most `MAX_CANDIDATE_SETS` such sets, all of them are candidates; otherwise
   `MAX_CANDIDATE_SETS` are: one built greedily to cover as many labels as possible and the
   rest seeded random samples.
2. The candidate covering the most labels of the whole dataset wins, so a validation set covers
   every label whenever some choice of speakers can (guaranteed when the candidates are
   exhaustive, as for every EMO-DB split; otherwise as far as the greedy set reaches).
3. Among those, the candidate whose label distribution is closest to the whole dataset's, by
   total-variation distance, wins.
4. Remaining ties go to the first candidate in a seeded order.

With `stratify=False` the choice is a seeded random sample. The same seed always gives the same
folds.

With `min_validation_per_label=m` (m > 0), validation speakers are chosen to cover every label
with at least `m` utterances instead, and rotated across folds (`_covering_speaker_set`):

1. A greedy set is built first: speakers are added one by one, each time the one that most
   reduces the shortfall (the utterances missing to reach `m` for every label), until there is
   none, no speaker reduces it, or only one training speaker would be left. Its shortfall is
   the target.
2. The smallest number of speakers (at least `num_validation_speakers`) whose candidates (as in
   step 1 above, plus the greedy set) reach the target wins, so no more speakers are held out
   than needed.
3. Among those candidates, the one whose speakers validated least often in earlier folds wins
   (rotation: one speaker is not the validation speaker of most folds), then the one closest to
   the overall label distribution, then the first in a seeded order.

A shortfall left over (a label too rare among the fold's speakers) is logged as a warning and
shows in the fold's `validation_label_counts`.

`num_validation_speakers=0` (and no minimum) gives no validation split: the run trains a fixed
schedule and keeps its last model. Every fold says which rule made its validation set
(`Fold.validation_rule`) and what labels it holds (`Fold.validation_label_counts`).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import random
import re
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sertune.errors import SpeakerLeakError

logger = logging.getLogger(__name__)

#: Most candidate speaker sets scored when choosing validation or holdout test speakers.
MAX_CANDIDATE_SETS = 256

#: Share of speakers (so, roughly, of utterances) that `holdout` tests on when it picks them.
HOLDOUT_TEST_FRACTION = 0.2

DEFAULT_NUM_FOLDS = 5


@dataclass(frozen=True)
class Fold:
    """One speaker-independent train/validation/test split.

    Args:
        name: Fold name, e.g. `"loso-03"`, `"kfold-2-of-5"` or `"holdout"`.
        train: Sorted row indices of the training set.
        validation: Sorted row indices of the validation set (may be empty).
        test: Sorted row indices of the test set.
        train_speakers: Sorted speaker ids (strings) of the training set.
        validation_speakers: Sorted speaker ids of the validation set.
        test_speakers: Sorted speaker ids of the test set.
        validation_rule: How the validation speakers were chosen, e.g. ``"none"`` (no
            validation split: fixed schedule, last model kept), ``"1 speaker(s), stratified"`` or
            ``"cover every label >= 8, rotated"``; empty for hand-made folds.
        validation_label_counts: Validation utterances per label (labels as strings); not part
            of fold equality, so class ids and class names give equal folds.
        train_corpora: Corpora of the training and validation rows, in load order; empty when
            the fold was made without corpus names (the record then leaves them out).
        test_corpora: Corpora of the test rows.
        left_out_labels: Per corpus, rows left out because their class is not among the
            run's labels, by class (cross-corpus runs); not part of fold equality.
    """

    name: str
    train: list[int]
    validation: list[int]
    test: list[int]
    train_speakers: tuple[str, ...]
    validation_speakers: tuple[str, ...]
    test_speakers: tuple[str, ...]
    validation_rule: str = ""
    validation_label_counts: dict[str, int] | None = dataclasses.field(default=None, compare=False)
    train_corpora: tuple[str, ...] = ()
    test_corpora: tuple[str, ...] = ()
    left_out_labels: dict[str, dict[str, int]] | None = dataclasses.field(
        default=None, compare=False
    )

    def to_dict(self, include_indices: bool = False) -> dict[str, Any]:
        """A JSON-ready description of the fold, e.g. for `metrics.json`.

        Args:
            include_indices: Also list the row indices of each side. Left out by default since the
                speakers determine them and they make the file long.
        """
        description: dict[str, Any] = {
            "name": self.name,
            "train_speakers": list(self.train_speakers),
            "validation_speakers": list(self.validation_speakers),
            "test_speakers": list(self.test_speakers),
            "num_train": len(self.train),
            "num_validation": len(self.validation),
            "num_test": len(self.test),
            "validation_rule": self.validation_rule,
            "validation_label_counts": self.validation_label_counts,
        }
        if self.train_corpora or self.test_corpora:
            description["train_corpora"] = list(self.train_corpora)
            description["test_corpora"] = list(self.test_corpora)
        if self.left_out_labels is not None:
            description["left_out_labels"] = self.left_out_labels
        if include_indices:
            description["train"] = list(self.train)
            description["validation"] = list(self.validation)
            description["test"] = list(self.test)
        return description


class SpeakerSplit(NamedTuple):
    """What a protocol returns for one fold: its name and the speakers on each side."""

    name: str
    train_speakers: tuple[str, ...]
    validation_speakers: tuple[str, ...]
    test_speakers: tuple[str, ...]


@dataclass(frozen=True)
class SpeakerTable:
    """Per-speaker rows and label counts of a dataset, as the protocols see it.

    Args:
        speakers: Sorted speaker ids.
        rows_by_speaker: Row indices of each speaker, ascending.
        label_counts_by_speaker: How many utterances of each label each speaker has.
        label_counts: How many utterances of each label the whole dataset has.
        group_of_speaker: For protocols that group speakers (e.g. IEMOCAP sessions), each
            speaker's group; `None` for the others.
    """

    speakers: tuple[str, ...]
    rows_by_speaker: dict[str, list[int]]
    label_counts_by_speaker: dict[str, Counter]
    label_counts: Counter
    group_of_speaker: dict[str, str] | None = None

    def num_utterances(self, speakers: Sequence[str] | None = None) -> int:
        """Number of utterances of the given speakers (all speakers when `None`).

        Args:
            speakers: Speaker ids to count.
        """
        chosen = self.speakers if speakers is None else speakers
        return sum(len(self.rows_by_speaker[speaker]) for speaker in chosen)


ProtocolFunction = Callable[..., list[SpeakerSplit]]


@dataclass(frozen=True)
class _RegisteredProtocol:
    build_splits: ProtocolFunction
    options: frozenset[str]
    group_column: str | None = None


_PROTOCOLS: dict[str, _RegisteredProtocol] = {}

# Arguments of `speaker_independent_folds` that only some protocols take.
_PROTOCOL_OPTIONS = (
    "num_folds",
    "test_speakers",
    "validation_speakers",
    "min_validation_per_label",
    "test_group",
)


def register_protocol(
    name: str, *, options: Sequence[str] = (), group_column: str | None = None
) -> Callable[[ProtocolFunction], ProtocolFunction]:
    """Register a speaker-split protocol under `name`.

    The decorated function is called as `build_splits(table, *, rng, num_validation_speakers,
    stratify, **options)` with a `SpeakerTable` and a seeded `random.Random`, and returns a list
    of `SpeakerSplit`.

    Args:
        name: Name used as `speaker_independent_folds(..., protocol=name)`.
        options: Which protocol-specific arguments of `speaker_independent_folds`
            (`num_folds`, `test_speakers`, `validation_speakers`, `min_validation_per_label`,
            `test_group`) the protocol takes; passing any other one for this protocol is an error.
        group_column: A column grouping speakers (e.g. ``"session"``) that the protocol needs;
            each speaker must have one value, available as `SpeakerTable.group_of_speaker`.

    Raises:
        ValueError: If `name` is already registered or an option is unknown.
    """
    unknown = sorted(set(options).difference(_PROTOCOL_OPTIONS))
    if unknown:
        raise ValueError(
            f"protocol {name!r} declares unknown options {unknown}; "
            f"known options are {list(_PROTOCOL_OPTIONS)}"
        )

    def decorator(build_splits: ProtocolFunction) -> ProtocolFunction:
        if name in _PROTOCOLS:
            raise ValueError(f"protocol {name!r} is already registered")
        _PROTOCOLS[name] = _RegisteredProtocol(build_splits, frozenset(options), group_column)
        return build_splits

    return decorator


def list_protocols() -> list[str]:
    """Names of the registered protocols, sorted."""
    return sorted(_PROTOCOLS)


def speaker_independent_folds(
    dataset: Any,
    protocol: str = "loso",
    *,
    seed: int = 0,
    num_folds: int = DEFAULT_NUM_FOLDS,
    num_validation_speakers: int = 1,
    test_speakers: Sequence[str] | None = None,
    validation_speakers: Sequence[str] | None = None,
    min_validation_per_label: int = 0,
    test_group: str | None = None,
    stratify: bool = True,
    speaker_column: str = "speaker",
    label_column: str = "label",
) -> list[Fold]:
    """Split a dataset by speaker with a named, seeded protocol.

    Protocols (each registered builder's docstring has the details): `"loso"`, one fold per
    speaker, named `loso-<speaker>`; `"speaker_kfold"`, `num_folds` folds named
    `kfold-<k>-of-<num_folds>`, balanced by utterance count; `"holdout"`, one fold named
    `holdout` (explicit `test_speakers` / `validation_speakers`, or a fifth of the speakers);
    `"session"`, one fold per `session` group; `"leave_one_corpus_out"`, one fold per
    `corpus` (or only the fold testing `test_group`).

    Validation and holdout test speakers are chosen by the rules in this module's docstring.
    `check_speaker_independence` runs on every fold before it is returned.

    Args:
        dataset: A `datasets.Dataset`, or any mapping from column name to a sequence. Only the
            speaker and label columns are read, each once.
        protocol: A name from `list_protocols()`.
        seed: Seed of every random choice; the same seed gives the same folds.
        num_folds: Number of folds of `speaker_kfold`. Other protocols reject a value other than
            the default, so that a config that always passes it still works with them.
        num_validation_speakers: Validation speakers per fold (the least number with
            `min_validation_per_label`); 0 without a minimum gives no validation set.
            `holdout` ignores it when `validation_speakers` is given.
        test_speakers: Explicit test speakers for `holdout`.
        validation_speakers: Explicit validation speakers for `holdout`.
        min_validation_per_label: Add validation speakers until every label has this many
            validation utterances, rotated across folds; 0: exactly `num_validation_speakers`.
        test_group: `leave_one_corpus_out`: make only the fold that tests this corpus.
        stratify: Choose validation (and holdout test) speakers to match the overall label
            distribution and cover every label where possible.
        speaker_column: Column holding speaker ids; they are compared as strings.
        label_column: Column holding labels (class ids or names).

    Returns:
        The folds, each with sorted row indices and sorted speaker ids.

    Raises:
        ValueError: On an unknown protocol, an argument the protocol does not take, a missing
            column, an empty dataset, a missing speaker or label, or too few speakers for the
            request.
        SpeakerLeakError: If a protocol produced a fold that is not speaker-independent.
    """
    option_values = {
        "num_folds": num_folds,
        "test_speakers": test_speakers,
        "validation_speakers": validation_speakers,
        "min_validation_per_label": min_validation_per_label,
        "test_group": test_group,
    }
    registered = _checked_protocol(protocol, option_values, num_validation_speakers)
    speakers, labels = _read_columns(dataset, speaker_column, label_column)
    table = _speaker_table(speakers, labels, speaker_column)
    if registered.group_column is not None:
        table = _with_groups(table, dataset, registered.group_column, protocol)
    splits = registered.build_splits(
        table,
        rng=random.Random(seed),
        num_validation_speakers=num_validation_speakers,
        stratify=stratify,
        **{option: option_values[option] for option in sorted(registered.options)},
    )
    rule = _validation_rule(num_validation_speakers, min_validation_per_label, stratify)
    folds = _checked_folds(splits, table, speakers, rule)
    if registered.group_column is not None:
        for fold in folds:
            check_group_independence(fold, table.group_of_speaker, registered.group_column)
    logger.info("protocol %s (seed %s): %d folds, rule %s", protocol, seed, len(folds), rule)
    return folds


def _checked_folds(
    splits: Sequence[SpeakerSplit], table: SpeakerTable, speakers: Sequence[str], rule: str
) -> list[Fold]:
    """The folds of `splits`, each checked by `check_speaker_independence`."""
    folds = [_fold_from_split(split, table, rule) for split in splits]
    for fold in folds:
        check_speaker_independence(fold, speakers)
    return folds


def _checked_protocol(
    protocol: str, option_values: dict[str, Any], num_validation_speakers: Any
) -> Any:
    """The registered protocol, after refusing options it does not take and bad counts."""
    if protocol not in _PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; available: {list_protocols()}")
    registered = _PROTOCOLS[protocol]
    given = {
        "num_folds": option_values["num_folds"] != DEFAULT_NUM_FOLDS,
        "test_speakers": option_values["test_speakers"] is not None,
        "validation_speakers": option_values["validation_speakers"] is not None,
        "min_validation_per_label": option_values["min_validation_per_label"] != 0,
        "test_group": option_values["test_group"] is not None,
    }
    not_applicable = [
        option
        for option, was_given in given.items()
        if was_given and option not in registered.options
    ]
    if not_applicable:
        raise ValueError(f"protocol {protocol!r} does not take {not_applicable}")
    if isinstance(num_validation_speakers, bool) or not isinstance(num_validation_speakers, int):
        raise ValueError(
            f"num_validation_speakers must be an integer, got {num_validation_speakers!r}"
        )
    if num_validation_speakers < 0:
        raise ValueError(f"num_validation_speakers must be >= 0, got {num_validation_speakers}")
    minimum = option_values["min_validation_per_label"]
    if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 0:
        raise ValueError(f"min_validation_per_label must be an integer >= 0, got {minimum!r}")
    return registered


def _validation_rule(num_speakers: int, min_per_label: int, stratify: bool) -> str:
    """The fold record's words for how validation speakers are chosen."""
    if min_per_label > 0:
        return f"cover every label >= {min_per_label}, at least {num_speakers} speaker(s), rotated"
    if num_speakers == 0:
        return "none (no validation split: fixed schedule, last model kept)"
    return f"{num_speakers} speaker(s), {'stratified' if stratify else 'random'}"


def check_speaker_independence(fold: Fold, speakers: Sequence[Any]) -> None:
    """Raise unless no speaker and no row crosses a train/validation/test boundary of `fold`.

    Checks that the three index sets are disjoint, that no speaker has rows on two sides, and
    that each side's speaker tuple is exactly the set of speakers of its rows.

    Args:
        fold: The fold to check.
        speakers: The speaker column the fold's indices point into, e.g. `dataset["speaker"]`;
            ids are compared as strings.

    Raises:
        SpeakerLeakError: If a row or a speaker is on two sides, or a speaker tuple disagrees with
            the rows.
        ValueError: If an index is outside `speakers`.
    """
    sides = {"train": fold.train, "validation": fold.validation, "test": fold.test}
    declared = {
        "train": fold.train_speakers,
        "validation": fold.validation_speakers,
        "test": fold.test_speakers,
    }
    num_rows = len(speakers)
    for side, rows in sides.items():
        outside = [row for row in rows if not 0 <= row < num_rows]
        if outside:
            raise ValueError(
                f"fold {fold.name!r}: {side} indices {outside[:10]} are outside the "
                f"{num_rows} rows of the speaker column"
            )
    side_pairs = list(itertools.combinations(sides, 2))
    for first, second in side_pairs:
        shared_rows = sorted(set(sides[first]).intersection(sides[second]))
        if shared_rows:
            raise SpeakerLeakError(
                f"fold {fold.name!r}: rows {shared_rows[:10]} are in both {first} and {second}"
            )

    speakers_of_rows = {side: {str(speakers[row]) for row in rows} for side, rows in sides.items()}
    for first, second in side_pairs:
        shared = sorted(speakers_of_rows[first].intersection(speakers_of_rows[second]))
        if shared:
            raise SpeakerLeakError(
                f"fold {fold.name!r}: speakers {shared} have rows in both {first} and {second}"
            )
    for first, second in side_pairs:
        shared = sorted(set(declared[first]).intersection(declared[second]))
        if shared:
            raise SpeakerLeakError(
                f"fold {fold.name!r}: speakers {shared} are listed in both "
                f"{first}_speakers and {second}_speakers"
            )
    for side in sides:
        if set(declared[side]) != speakers_of_rows[side]:
            raise SpeakerLeakError(
                f"fold {fold.name!r}: {side}_speakers is {list(declared[side])} but the "
                f"{side} rows belong to speakers {sorted(speakers_of_rows[side])}"
            )


def check_group_independence(fold: Fold, group_of_speaker: Mapping[str, str], column: str) -> None:
    """Raise unless no group (session, corpus) has speakers both in test and outside it.

    Args:
        fold: The fold to check (already speaker-independent).
        group_of_speaker: Each speaker's group, e.g. its corpus.
        column: The group column's name, for the message.

    Raises:
        SpeakerLeakError: A group has speakers in the test set and in train or validation.
    """
    test = {group_of_speaker[speaker] for speaker in fold.test_speakers}
    others = [*fold.train_speakers, *fold.validation_speakers]
    shared = sorted(test.intersection(group_of_speaker[speaker] for speaker in others))
    if shared:
        raise SpeakerLeakError(
            f"fold {fold.name!r}: {column} {shared} has speakers both in test and in "
            "train/validation"
        )


@register_protocol("loso", options=("min_validation_per_label",))
def leave_one_speaker_out(
    table: SpeakerTable,
    *,
    rng: random.Random,
    num_validation_speakers: int,
    stratify: bool,
    min_validation_per_label: int = 0,
) -> list[SpeakerSplit]:
    """One fold per speaker: that speaker is the test set.

    Args:
        table: Speakers, their rows and label counts.
        rng: Seeded random generator.
        num_validation_speakers: Validation speakers per fold, chosen from the other speakers.
        stratify: Choose validation speakers by label coverage and distribution.
        min_validation_per_label: Cover every label with this many validation utterances.
    """
    needed = num_validation_speakers + 2
    if len(table.speakers) < needed:
        raise ValueError(
            f"loso with {num_validation_speakers} validation speaker(s) needs at least {needed} "
            f"speakers (1 test, {num_validation_speakers} validation, 1 train); the dataset "
            f"has {len(table.speakers)}: {list(table.speakers)}"
        )
    splits = []
    choose = _ValidationChooser(
        table, rng, num_validation_speakers, stratify, min_validation_per_label
    )
    for test_speaker in table.speakers:
        others = [speaker for speaker in table.speakers if speaker != test_speaker]
        validation = choose(others)
        splits.append(
            _split(f"loso-{test_speaker}", others, validation, test_speakers=(test_speaker,))
        )
    return splits


@register_protocol("speaker_kfold", options=("num_folds", "min_validation_per_label"))
def speaker_kfold(
    table: SpeakerTable,
    *,
    rng: random.Random,
    num_validation_speakers: int,
    stratify: bool,
    num_folds: int,
    min_validation_per_label: int = 0,
) -> list[SpeakerSplit]:
    """`num_folds` folds over speakers, balanced by utterance count.

    Speakers are placed largest first into the fold with the fewest utterances so far; ties
    between equal speakers and between equal folds are broken by `rng`.

    Args:
        table: Speakers, their rows and label counts.
        rng: Seeded random generator.
        num_validation_speakers: Validation speakers per fold, chosen from its training speakers.
        stratify: Choose validation speakers by label coverage and distribution.
        num_folds: Number of folds, between 2 and the number of speakers.
        min_validation_per_label: Cover every label with this many validation utterances.
    """
    num_speakers = len(table.speakers)
    if isinstance(num_folds, bool) or not isinstance(num_folds, int) or num_folds < 2:
        raise ValueError(f"speaker_kfold needs num_folds >= 2, got {num_folds!r}")
    if num_folds > num_speakers:
        raise ValueError(
            f"speaker_kfold with num_folds={num_folds} needs at least {num_folds} speakers; "
            f"the dataset has {num_speakers}: {list(table.speakers)}"
        )

    # Shuffle first so that the stable sort leaves equal-sized speakers in seeded order.
    by_size = list(table.speakers)
    rng.shuffle(by_size)
    by_size.sort(key=lambda speaker: len(table.rows_by_speaker[speaker]), reverse=True)
    fold_speakers: list[list[str]] = [[] for _ in range(num_folds)]
    fold_sizes = [0] * num_folds
    for speaker in by_size:
        smallest = min(fold_sizes)
        target = rng.choice([k for k, size in enumerate(fold_sizes) if size == smallest])
        fold_speakers[target].append(speaker)
        fold_sizes[target] += len(table.rows_by_speaker[speaker])

    largest_fold = max(len(members) for members in fold_speakers)
    if num_speakers - largest_fold - num_validation_speakers < 1:
        raise ValueError(
            f"speaker_kfold with num_folds={num_folds} puts up to {largest_fold} speakers in a "
            f"test fold, which leaves {num_speakers - largest_fold} of {num_speakers} speakers "
            f"for training; {num_validation_speakers} validation speaker(s) and at least 1 "
            f"training speaker do not fit"
        )

    splits = []
    choose = _ValidationChooser(
        table, rng, num_validation_speakers, stratify, min_validation_per_label
    )
    for k, test in enumerate(fold_speakers):
        others = [speaker for speaker in table.speakers if speaker not in test]
        validation = choose(others)
        splits.append(_split(f"kfold-{k + 1}-of-{num_folds}", others, validation, test))
    return splits


@register_protocol("session", options=("min_validation_per_label",), group_column="session")
def leave_one_session_out(
    table: SpeakerTable,
    *,
    rng: random.Random,
    num_validation_speakers: int,
    stratify: bool,
    min_validation_per_label: int = 0,
) -> list[SpeakerSplit]:
    """One fold per session: all speakers of that session are the test set.

    Validation speakers come from the other sessions (IEMOCAP's usual protocol trains on four
    sessions and tests on the fifth).

    Args:
        table: Speakers, their rows, label counts and sessions.
        rng: Seeded random generator.
        num_validation_speakers: Validation speakers per fold, from the other sessions.
        stratify: Choose validation speakers by label coverage and distribution.
        min_validation_per_label: Cover every label with this many validation utterances.
    """
    groups = sorted(set(table.group_of_speaker.values()), key=_natural_key)
    choose = _ValidationChooser(
        table, rng, num_validation_speakers, stratify, min_validation_per_label
    )
    return _leave_one_group_out(table, groups, groups, "session", choose)


@register_protocol(
    "leave_one_corpus_out",
    options=("min_validation_per_label", "test_group"),
    group_column="corpus",
)
def leave_one_corpus_out(
    table: SpeakerTable,
    *,
    rng: random.Random,
    num_validation_speakers: int,
    stratify: bool,
    min_validation_per_label: int = 0,
    test_group: str | None = None,
) -> list[SpeakerSplit]:
    """One fold per corpus (in the order of their rows): that corpus's speakers are the test set.

    Validation speakers come from the other corpora, so neither a speaker nor a corpus of the
    test set is seen in training or model selection.

    Args:
        table: Speakers, their rows, label counts and corpora.
        rng: Seeded random generator.
        num_validation_speakers: Validation speakers per fold, from the other corpora.
        stratify: Choose validation speakers by label coverage and distribution.
        min_validation_per_label: Cover every label with this many validation utterances.
        test_group: Make only the fold that tests this corpus.
    """
    first_row = {}
    for speaker, rows in table.rows_by_speaker.items():
        group = table.group_of_speaker[speaker]
        first_row[group] = min(first_row.get(group, rows[0]), rows[0])
    groups = sorted(first_row, key=first_row.__getitem__)
    if test_group is not None and test_group not in groups:
        raise ValueError(f"test_group {test_group!r} is not a corpus of the dataset: {groups}")
    tested = groups if test_group is None else [test_group]
    choose = _ValidationChooser(
        table, rng, num_validation_speakers, stratify, min_validation_per_label
    )
    return _leave_one_group_out(table, groups, tested, "corpus", choose)


def _leave_one_group_out(
    table: SpeakerTable,
    groups: Sequence[str],
    tested: Sequence[str],
    column: str,
    choose: _ValidationChooser,
) -> list[SpeakerSplit]:
    """One split per group of `tested`, named `<column>-<group>`: its speakers test, the
    speakers of the other groups train and validate."""
    if len(groups) < 2:
        raise ValueError(f"{column} needs at least 2 {column} groups; the dataset has {groups}")
    splits = []
    for group in tested:
        test = [s for s in table.speakers if table.group_of_speaker[s] == group]
        others = [s for s in table.speakers if table.group_of_speaker[s] != group]
        if len(others) < choose.num_speakers + 1:
            raise ValueError(
                f"{column} {group}: {len(others)} speakers outside it cannot hold "
                f"{choose.num_speakers} validation speaker(s) and 1 training speaker"
            )
        splits.append(_split(f"{column}-{group}", others, choose(others), test))
    return splits


def official_folds(
    dataset: Any,
    *,
    train: Sequence[str] = ("train",),
    validation: Sequence[str] = ("development", "evaluation", "validation"),
    test: Sequence[str] | None = None,
    allow_speaker_overlap: bool = False,
    partition_column: str = "partition",
    speaker_column: str = "speaker",
) -> list[Fold]:
    """Folds from a corpus's official partitions (its ``partition`` column).

    One fold per test partition (MSP-Podcast: ``test1``, ``test2``, ...), all sharing the
    training and validation partitions. Partition names not listed anywhere are ignored and
    logged.

    Args:
        dataset: Corpus rows with a partition column.
        train: Partition names that train.
        validation: Partition names that validate (those present are used).
        test: Test partition names; default: every partition starting with ``"test"``.
        allow_speaker_overlap: Accept an official split that shares speakers between sides
            (ESD's is by utterance within each speaker); without it such a split raises, since
            it is not speaker-independent.
        partition_column: Column holding the partition names.
        speaker_column: Column holding speaker ids.

    Raises:
        ValueError: The column is missing or a listed side has no rows.
        SpeakerLeakError: The split shares speakers and ``allow_speaker_overlap`` is off.
    """
    for column in (partition_column, speaker_column):
        if column not in dataset.column_names:
            raise ValueError(
                f"dataset has no column {column!r}; its columns are {dataset.column_names}"
            )
    partitions = [str(value) for value in dataset[partition_column]]
    speakers = [str(value) for value in dataset[speaker_column]]
    present = sorted(set(partitions))
    test_names = sorted(p for p in present if p.startswith("test")) if test is None else list(test)
    validation_names = [p for p in validation if p in present]
    train_rows = [row for row, p in enumerate(partitions) if p in set(train)]
    validation_rows = [row for row, p in enumerate(partitions) if p in set(validation_names)]
    if not train_rows:
        raise ValueError(f"no rows in training partitions {list(train)}; found {present}")
    unused = sorted(set(present) - set(train) - set(validation_names) - set(test_names))
    if unused:
        logger.info("official_folds: partitions %s are not used", unused)
    folds = []
    for name in test_names:
        test_rows = [row for row, p in enumerate(partitions) if p == name]
        if not test_rows:
            raise ValueError(f"test partition {name!r} has no rows; found {present}")
        fold = Fold(
            name=f"official-{name}",
            train=train_rows,
            validation=validation_rows,
            test=test_rows,
            train_speakers=tuple(sorted({speakers[r] for r in train_rows})),
            validation_speakers=tuple(sorted({speakers[r] for r in validation_rows})),
            test_speakers=tuple(sorted({speakers[r] for r in test_rows})),
        )
        try:
            check_speaker_independence(fold, speakers)
        except SpeakerLeakError as error:
            if not allow_speaker_overlap:
                raise SpeakerLeakError(
                    f"{error}. The corpus's official partitions are not speaker-independent; "
                    "pass allow_speaker_overlap=True to use them anyway (results are then "
                    "speaker-dependent), or use a speaker protocol"
                ) from None
            logger.warning("official split %s shares speakers between sides: %s", fold.name, error)
        folds.append(fold)
    return folds


def _natural_key(value: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", value))


def _with_groups(table: SpeakerTable, dataset: Any, column: str, protocol: str) -> SpeakerTable:
    column_names = getattr(dataset, "column_names", None) or list(dataset.keys())
    if column not in column_names:
        raise ValueError(
            f"protocol {protocol!r} needs a {column!r} column; the dataset has {column_names}"
        )
    values = list(dataset[column])
    group_of_speaker: dict[str, str] = {}
    for speaker, rows in table.rows_by_speaker.items():
        groups = {str(values[row]) for row in rows}
        if len(groups) != 1:
            raise ValueError(
                f"protocol {protocol!r}: speaker {speaker} appears in several {column} values "
                f"{sorted(groups)}; each speaker must belong to one"
            )
        group_of_speaker[speaker] = groups.pop()
    return dataclasses.replace(table, group_of_speaker=group_of_speaker)


def holdout_test_speaker_count(num_speakers: int) -> int:
    """How many test speakers `holdout` picks when none are given.

    `HOLDOUT_TEST_FRACTION` of the speakers, rounded half up, at least one: about that share of
    the utterances at the average speaker size. Speaker sizes differ, so the share of a given
    choice does too (EMO-DB: 2 of 10 speakers, 73 to 140 of 535 utterances).

    Args:
        num_speakers: Number of speakers in the dataset.
    """
    return max(1, math.floor(HOLDOUT_TEST_FRACTION * num_speakers + 0.5))


@register_protocol(
    "holdout", options=("test_speakers", "validation_speakers", "min_validation_per_label")
)
def speaker_holdout(
    table: SpeakerTable,
    *,
    rng: random.Random,
    num_validation_speakers: int,
    stratify: bool,
    test_speakers: Sequence[str] | None,
    validation_speakers: Sequence[str] | None,
    min_validation_per_label: int = 0,
) -> list[SpeakerSplit]:
    """One train/validation/test split by speakers.

    Args:
        table: Speakers, their rows and label counts.
        rng: Seeded random generator.
        num_validation_speakers: Validation speakers to choose when `validation_speakers` is not
            given.
        stratify: Choose test and validation speakers by label coverage and distribution.
        test_speakers: Explicit test speakers; chosen when `None`.
        validation_speakers: Explicit validation speakers; chosen when `None`.
        min_validation_per_label: Cover every label with this many validation utterances
            (when the validation speakers are chosen).
    """
    explicit_test = _explicit_speakers(table, test_speakers, "test_speakers")
    explicit_validation = _explicit_speakers(table, validation_speakers, "validation_speakers")
    if explicit_test is not None and not explicit_test:
        raise ValueError("holdout needs at least one test speaker; test_speakers is empty")
    if explicit_test is not None and explicit_validation is not None:
        shared = sorted(set(explicit_test).intersection(explicit_validation))
        if shared:
            raise ValueError(f"speakers {shared} are in both test_speakers and validation_speakers")
    num_validation = (
        num_validation_speakers if explicit_validation is None else len(explicit_validation)
    )
    num_speakers = len(table.speakers)
    if explicit_test is None:
        # Leave room for the validation speakers and one training speaker.
        num_test = min(holdout_test_speaker_count(num_speakers), num_speakers - num_validation - 1)
        num_test = max(num_test, 1)
    else:
        num_test = len(explicit_test)
    if num_test + num_validation + 1 > num_speakers:
        raise ValueError(
            f"holdout with {num_test} test and {num_validation} validation speaker(s) needs at "
            f"least {num_test + num_validation + 1} speakers (with 1 for training); the "
            f"dataset has {num_speakers}: {list(table.speakers)}"
        )

    if explicit_test is None:
        pool = [s for s in table.speakers if s not in set(explicit_validation or ())]
        test = _choose_speaker_set(table, pool, num_test, rng, stratify)
    else:
        test = explicit_test
    if explicit_validation is None:
        pool = [s for s in table.speakers if s not in set(test)]
        choose = _ValidationChooser(table, rng, num_validation, stratify, min_validation_per_label)
        validation = choose(pool)
    else:
        validation = explicit_validation
    others = [speaker for speaker in table.speakers if speaker not in set(test)]
    return [_split("holdout", others, validation, test)]


def _split(
    name: str, others: Sequence[str], validation: Sequence[str], test_speakers: Sequence[str]
) -> SpeakerSplit:
    """A `SpeakerSplit` whose training speakers are `others` minus `validation`."""
    chosen = set(validation)
    train = tuple(sorted(speaker for speaker in others if speaker not in chosen))
    return SpeakerSplit(name, train, tuple(sorted(validation)), tuple(sorted(test_speakers)))


def _read_columns(
    dataset: Any, speaker_column: str, label_column: str
) -> tuple[list[str], list[Hashable]]:
    """The speaker ids (as strings) and labels of every row, each column read once."""
    column_names = getattr(dataset, "column_names", None)
    if column_names is None:
        if not isinstance(dataset, Mapping):
            raise TypeError(
                "dataset must be a datasets.Dataset or a mapping from column name to values, "
                f"got {type(dataset).__name__}"
            )
        column_names = list(dataset.keys())
    elif isinstance(column_names, Mapping):
        raise TypeError(
            f"dataset has several splits {sorted(column_names)}; pass one datasets.Dataset"
        )
    for column in (speaker_column, label_column):
        if column not in column_names:
            raise ValueError(f"dataset has no column {column!r}; its columns are {column_names}")

    speaker_values = list(dataset[speaker_column])
    labels = list(dataset[label_column])
    if len(speaker_values) != len(labels):
        raise ValueError(
            f"column {speaker_column!r} has {len(speaker_values)} values but column "
            f"{label_column!r} has {len(labels)}"
        )
    if not speaker_values:
        raise ValueError("dataset is empty; a speaker-independent split needs utterances")
    for column, values in ((speaker_column, speaker_values), (label_column, labels)):
        missing = [row for row, value in enumerate(values) if value is None]
        if missing:
            raise ValueError(f"column {column!r} has no value in rows {missing[:10]}")
    return [str(speaker) for speaker in speaker_values], labels


def _speaker_table(
    speakers: Sequence[str], labels: Sequence[Hashable], speaker_column: str
) -> SpeakerTable:
    rows_by_speaker: dict[str, list[int]] = {}
    label_counts_by_speaker: dict[str, Counter] = {}
    for row, (speaker, label) in enumerate(zip(speakers, labels, strict=True)):
        rows_by_speaker.setdefault(speaker, []).append(row)
        label_counts_by_speaker.setdefault(speaker, Counter())[label] += 1
    sorted_speakers = tuple(sorted(rows_by_speaker))
    if len(sorted_speakers) < 2:
        raise ValueError(
            "a speaker-independent split needs at least 2 speakers (loso with a validation "
            f"speaker needs 3); column {speaker_column!r} has {len(sorted_speakers)}: "
            f"{list(sorted_speakers)}"
        )
    return SpeakerTable(
        speakers=sorted_speakers,
        rows_by_speaker=rows_by_speaker,
        label_counts_by_speaker=label_counts_by_speaker,
        label_counts=Counter(labels),
    )


def _fold_from_split(split: SpeakerSplit, table: SpeakerTable, validation_rule: str = "") -> Fold:
    def rows_of(speakers: Sequence[str]) -> list[int]:
        return sorted(row for speaker in speakers for row in table.rows_by_speaker[speaker])

    if not split.validation_speakers:
        validation_rule = "none (no validation split: fixed schedule, last model kept)"
    counts, labels = _label_counts(table, split.validation_speakers), table.label_counts

    return Fold(
        name=split.name,
        train=rows_of(split.train_speakers),
        validation=rows_of(split.validation_speakers),
        test=rows_of(split.test_speakers),
        train_speakers=split.train_speakers,
        validation_speakers=split.validation_speakers,
        test_speakers=split.test_speakers,
        validation_rule=validation_rule,
        validation_label_counts={str(label): counts[label] for label in sorted(labels, key=str)},
    )


def _explicit_speakers(
    table: SpeakerTable, speakers: Sequence[str] | None, argument: str
) -> tuple[str, ...] | None:
    """Explicit speaker ids as sorted strings, checked to exist and to be listed once."""
    if speakers is None:
        return None
    if isinstance(speakers, str):
        raise ValueError(f"{argument} must be a list of speaker ids, got the string {speakers!r}")
    as_strings = [str(speaker) for speaker in speakers]
    repeated = sorted(speaker for speaker, count in Counter(as_strings).items() if count > 1)
    if repeated:
        raise ValueError(f"{argument} lists speakers {repeated} more than once")
    unknown = sorted(set(as_strings).difference(table.speakers))
    if unknown:
        raise ValueError(
            f"{argument} {unknown} are not speakers of the dataset; its speakers are "
            f"{list(table.speakers)}"
        )
    return tuple(sorted(as_strings))


class _ValidationChooser:
    """Chooses each fold's validation speakers and remembers who validated, for rotation."""

    def __init__(
        self,
        table: SpeakerTable,
        rng: random.Random,
        num_speakers: int,
        stratify: bool,
        min_per_label: int,
    ) -> None:
        self.table, self.rng, self.num_speakers = table, rng, num_speakers
        self.stratify, self.min_per_label = stratify, min_per_label
        self.uses: Counter = Counter()

    def __call__(self, pool: Sequence[str]) -> tuple[str, ...]:
        """Validation speakers from `pool`, the speakers neither testing nor excluded."""
        if self.min_per_label <= 0:
            return _choose_speaker_set(self.table, pool, self.num_speakers, self.rng, self.stratify)
        chosen = _covering_speaker_set(
            self.table, pool, self.num_speakers, self.min_per_label, self.rng, self.uses
        )
        self.uses.update(chosen)
        return chosen


def _label_counts(table: SpeakerTable, speakers: Sequence[str]) -> Counter:
    counts: Counter = Counter()
    for speaker in speakers:
        counts.update(table.label_counts_by_speaker[speaker])
    return counts


def _shortfall(table: SpeakerTable, speakers: Sequence[str], min_per_label: int) -> int:
    """Utterances missing for every label of the dataset to reach `min_per_label`."""
    counts = _label_counts(table, speakers)
    return sum(max(0, min_per_label - counts[label]) for label in table.label_counts)


def _covering_speaker_set(
    table: SpeakerTable,
    pool: Sequence[str],
    min_size: int,
    min_per_label: int,
    rng: random.Random,
    uses: Counter,
) -> tuple[str, ...]:
    """The fewest speakers of `pool` covering every label, rotated (module docstring, 1-3)."""
    if min_size > len(pool) - 1:
        raise ValueError(
            f"cannot choose {min_size} validation speaker(s) and keep a training speaker among "
            f"the {len(pool)} available"
        )
    remaining = list(pool)
    rng.shuffle(remaining)
    greedy: list[str] = []
    while len(greedy) < len(pool) - 1 and (
        len(greedy) < min_size or _shortfall(table, greedy, min_per_label) > 0
    ):
        # min keeps the first of equals: least shortfall, then least used, then seeded order.
        speaker = min(
            remaining,
            key=lambda s: (_shortfall(table, [*greedy, s], min_per_label), uses[s]),
        )
        gain = _shortfall(table, greedy, min_per_label) - _shortfall(
            table, [*greedy, speaker], min_per_label
        )
        if gain == 0 and len(greedy) >= max(min_size, 1):
            break  # What is still missing is not among these speakers.
        remaining.remove(speaker)
        greedy.append(speaker)
    target = _shortfall(table, greedy, min_per_label)
    if target > 0:
        logger.warning(
            "validation speakers %s from %s miss %d utterance(s) of covering every label with %d",
            sorted(greedy),
            list(pool),
            target,
            min_per_label,
        )
    for size in range(max(min_size, 1), len(greedy) + 1):
        candidates = _candidate_sets(table, pool, size, rng)
        if size == len(greedy):
            candidates.append(tuple(sorted(greedy)))
        reaching = [c for c in candidates if _shortfall(table, c, min_per_label) <= target]
        if reaching:
            least_used = min(sum(uses[s] for s in c) for c in reaching)
            reaching = [c for c in reaching if sum(uses[s] for s in c) == least_used]
            return tuple(sorted(_best_candidate(table, reaching)))
    return tuple(sorted(greedy))


def _choose_speaker_set(
    table: SpeakerTable,
    pool: Sequence[str],
    size: int,
    rng: random.Random,
    stratify: bool,
) -> tuple[str, ...]:
    """Choose `size` speakers from `pool` by the rule in the module docstring."""
    if size == 0:
        return ()
    if size > len(pool):
        raise ValueError(f"cannot choose {size} speakers from the {len(pool)} available")
    if not stratify:
        return tuple(sorted(rng.sample(list(pool), size)))
    return tuple(sorted(_best_candidate(table, _candidate_sets(table, pool, size, rng))))


def _candidate_sets(
    table: SpeakerTable, pool: Sequence[str], size: int, rng: random.Random
) -> list[tuple[str, ...]]:
    """Candidate sets of `size` speakers: all of them, or a greedy one and seeded samples."""
    num_sets = math.comb(len(pool), size)
    if num_sets <= MAX_CANDIDATE_SETS:
        candidates = [tuple(subset) for subset in itertools.combinations(pool, size)]
        rng.shuffle(candidates)
    else:
        candidates = [_greedy_label_cover(table, pool, size, rng)]
        seen = {frozenset(candidates[0])}
        # Bounded attempts: duplicates are rare here since num_sets > MAX_CANDIDATE_SETS.
        for _ in range(4 * MAX_CANDIDATE_SETS):
            if len(candidates) >= MAX_CANDIDATE_SETS:
                break
            subset = tuple(sorted(rng.sample(list(pool), size)))
            if frozenset(subset) not in seen:
                seen.add(frozenset(subset))
                candidates.append(subset)
    return candidates


def _greedy_label_cover(
    table: SpeakerTable, pool: Sequence[str], size: int, rng: random.Random
) -> tuple[str, ...]:
    """`size` speakers picked one by one to cover the most labels not yet covered."""
    remaining = list(pool)
    rng.shuffle(remaining)
    chosen: list[str] = []
    covered: set[Hashable] = set()
    while len(chosen) < size:
        # max keeps the first of equals, so ties follow the seeded shuffle.
        speaker = max(remaining, key=lambda s: len(set(table.label_counts_by_speaker[s]) - covered))
        remaining.remove(speaker)
        chosen.append(speaker)
        covered.update(table.label_counts_by_speaker[speaker])
    return tuple(sorted(chosen))


def _best_candidate(table: SpeakerTable, candidates: Sequence[tuple[str, ...]]) -> tuple[str, ...]:
    """The candidate covering the most labels, then closest to the overall label distribution."""
    total = table.num_utterances()
    overall = {label: count / total for label, count in table.label_counts.items()}

    def score(candidate: tuple[str, ...]) -> tuple[int, float]:
        counts: Counter = Counter()
        for speaker in candidate:
            counts.update(table.label_counts_by_speaker[speaker])
        size = sum(counts.values())
        distance = 0.5 * sum(abs(counts[label] / size - share) for label, share in overall.items())
        return (-len(counts), distance)

    # min keeps the first of equals, so ties follow the seeded candidate order.
    return min(candidates, key=score)
