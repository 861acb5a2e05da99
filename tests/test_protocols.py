"""Tests of the speaker-independent split protocols in `sertune.data.protocols`."""

from __future__ import annotations

import itertools
import json
import math
import random
from collections import Counter

import datasets
import pytest

from sertune.data import protocols
from sertune.data.protocols import (
    Fold,
    SpeakerSplit,
    check_speaker_independence,
    holdout_test_speaker_count,
    list_protocols,
    register_protocol,
    speaker_independent_folds,
)
from sertune.data.taxonomy import class_label
from sertune.errors import SpeakerLeakError

# EMO-DB's real speakers and utterance counts: unequal sizes summing to 535.
EMODB_SPEAKER_SIZES = {
    "03": 49,
    "08": 58,
    "09": 43,
    "10": 38,
    "11": 55,
    "12": 35,
    "13": 61,
    "14": 69,
    "15": 56,
    "16": 71,
}
EMODB_LABELS = ("angry", "bored", "disgust", "fear", "happy", "neutral", "sad")
# Only these speakers ever say "sad", so validation label coverage is a real choice.
SAD_SPEAKERS = ("03", "16")


def emodb_like_columns() -> dict[str, list]:
    """A 535-row, 10-speaker, 7-label column mapping, with rows of each speaker interleaved."""
    rows = []
    for speaker_number, (speaker, size) in enumerate(EMODB_SPEAKER_SIZES.items()):
        own_labels = [label for label in EMODB_LABELS if label != "sad" or speaker in SAD_SPEAKERS]
        for utterance in range(size):
            # A different skew per speaker, every own label used at least once.
            position = (
                utterance if utterance < len(own_labels) else utterance * (speaker_number + 2)
            )
            rows.append((speaker, own_labels[position % len(own_labels)]))
    random.Random(1234).shuffle(rows)
    return {"speaker": [speaker for speaker, _ in rows], "label": [label for _, label in rows]}


EMODB_LIKE = emodb_like_columns()
NUM_ROWS = len(EMODB_LIKE["speaker"])
ALL_SPEAKERS = tuple(sorted(EMODB_SPEAKER_SIZES))

# (protocol, keyword arguments, expected number of folds)
PROTOCOL_CASES = [
    ("loso", {}, 10),
    ("loso", {"num_validation_speakers": 2}, 10),
    ("loso", {"num_validation_speakers": 0}, 10),
    ("loso", {"stratify": False}, 10),
    ("speaker_kfold", {}, 5),
    ("speaker_kfold", {"num_folds": 2}, 2),
    ("speaker_kfold", {"num_folds": 3, "num_validation_speakers": 2}, 3),
    ("speaker_kfold", {"num_folds": 10, "stratify": False}, 10),
    ("holdout", {}, 1),
    ("holdout", {"num_validation_speakers": 2, "stratify": False}, 1),
    ("holdout", {"test_speakers": ["03", "08"], "validation_speakers": ["09"]}, 1),
]
PROTOCOL_IDS = [f"{protocol}-{kwargs}" for protocol, kwargs, _ in PROTOCOL_CASES]


def labels_of(speakers) -> set[str]:
    return {
        label
        for speaker, label in zip(EMODB_LIKE["speaker"], EMODB_LIKE["label"], strict=True)
        if speaker in speakers
    }


def utterances_of(speakers) -> int:
    return sum(EMODB_SPEAKER_SIZES[speaker] for speaker in speakers)


def test_registry_lists_the_builtin_protocols():
    assert {"loso", "speaker_kfold", "holdout"} <= set(list_protocols())
    assert list_protocols() == sorted(list_protocols())


def test_registering_a_name_twice_raises():
    with pytest.raises(ValueError, match="'loso' is already registered"):
        register_protocol("loso")(lambda table, **_: [])


def test_registering_an_unknown_option_raises():
    with pytest.raises(ValueError, match="unknown options"):
        register_protocol("anything", options=("num_epochs",))


@pytest.mark.parametrize(("protocol", "kwargs", "num_folds"), PROTOCOL_CASES, ids=PROTOCOL_IDS)
def test_folds_partition_rows_and_speakers(protocol, kwargs, num_folds):
    folds = speaker_independent_folds(EMODB_LIKE, protocol, **kwargs)
    assert len(folds) == num_folds
    assert len({fold.name for fold in folds}) == num_folds
    expected_validation = kwargs.get("num_validation_speakers", 1)
    if "validation_speakers" in kwargs:
        expected_validation = len(kwargs["validation_speakers"])
    for fold in folds:
        assert sorted(fold.train + fold.validation + fold.test) == list(range(NUM_ROWS))
        for rows, speakers in [
            (fold.train, fold.train_speakers),
            (fold.validation, fold.validation_speakers),
            (fold.test, fold.test_speakers),
        ]:
            assert rows == sorted(rows)
            assert speakers == tuple(sorted(speakers))
            assert {EMODB_LIKE["speaker"][row] for row in rows} == set(speakers)
        assert sorted(fold.train_speakers + fold.validation_speakers + fold.test_speakers) == list(
            ALL_SPEAKERS
        )
        assert fold.train and fold.test
        assert len(fold.validation_speakers) == expected_validation
        check_speaker_independence(fold, EMODB_LIKE["speaker"])


@pytest.mark.parametrize(("protocol", "kwargs", "num_folds"), PROTOCOL_CASES, ids=PROTOCOL_IDS)
def test_same_seed_gives_identical_folds(protocol, kwargs, num_folds):
    first = speaker_independent_folds(EMODB_LIKE, protocol, seed=7, **kwargs)
    second = speaker_independent_folds(EMODB_LIKE, protocol, seed=7, **kwargs)
    assert first == second


@pytest.mark.parametrize("protocol", ["loso", "speaker_kfold", "holdout"])
def test_different_seeds_can_choose_differently(protocol):
    choices = {
        tuple(
            (fold.validation_speakers, fold.test_speakers)
            for fold in speaker_independent_folds(EMODB_LIKE, protocol, seed=seed, stratify=False)
        )
        for seed in range(10)
    }
    assert len(choices) > 1


def test_loso_tests_each_speaker_exactly_once_in_sorted_order():
    folds = speaker_independent_folds(EMODB_LIKE, "loso")
    assert [fold.test_speakers for fold in folds] == [(speaker,) for speaker in ALL_SPEAKERS]
    assert [fold.name for fold in folds] == [f"loso-{speaker}" for speaker in ALL_SPEAKERS]


@pytest.mark.parametrize("num_folds", [2, 3, 4, 5, 7, 10])
def test_speaker_kfold_partitions_speakers_into_balanced_folds(num_folds):
    folds = speaker_independent_folds(
        EMODB_LIKE, "speaker_kfold", num_folds=num_folds, num_validation_speakers=0
    )
    test_speakers = [speaker for fold in folds for speaker in fold.test_speakers]
    assert sorted(test_speakers) == list(ALL_SPEAKERS)
    sizes = [len(fold.test) for fold in folds]
    assert max(sizes) - min(sizes) < max(EMODB_SPEAKER_SIZES.values())
    assert [fold.name for fold in folds] == [
        f"kfold-{k}-of-{num_folds}" for k in range(1, num_folds + 1)
    ]


def test_speaker_kfold_validation_comes_from_the_fold_training_speakers():
    for fold in speaker_independent_folds(EMODB_LIKE, "speaker_kfold", num_validation_speakers=2):
        assert not set(fold.validation_speakers) & set(fold.test_speakers)
        assert len(fold.train_speakers) == 10 - len(fold.test_speakers) - 2


@pytest.mark.parametrize(
    ("protocol", "num_validation_speakers"),
    [("loso", 1), ("loso", 2), ("speaker_kfold", 1), ("speaker_kfold", 2), ("holdout", 1)],
)
def test_validation_covers_as_many_labels_as_any_choice_can(protocol, num_validation_speakers):
    folds = speaker_independent_folds(
        EMODB_LIKE, protocol, num_validation_speakers=num_validation_speakers
    )
    for fold in folds:
        pool = fold.train_speakers + fold.validation_speakers
        best_coverage = max(
            len(labels_of(subset))
            for subset in itertools.combinations(pool, num_validation_speakers)
        )
        assert len(labels_of(fold.validation_speakers)) == best_coverage, fold.name
        if set(SAD_SPEAKERS) & set(pool):
            assert labels_of(fold.validation_speakers) == set(EMODB_LABELS), fold.name


def test_label_coverage_wins_over_a_closer_distribution():
    # "close" is nearer the overall distribution, but only "covering" has label "c".
    columns = {"speaker": [], "label": []}
    for speaker, counts in {
        "test": {"a": 10, "b": 10, "c": 10},
        "covering": {"a": 20, "b": 1, "c": 1},
        "close": {"a": 10, "b": 10},
        "train": {"a": 10, "b": 10},
    }.items():
        for label, count in counts.items():
            columns["speaker"] += [speaker] * count
            columns["label"] += [label] * count
    for seed in range(5):
        (fold,) = speaker_independent_folds(columns, "holdout", seed=seed, test_speakers=["test"])
        assert fold.validation_speakers == ("covering",)


def test_sampled_candidates_still_cover_a_label_only_one_speaker_has():
    # 30 speakers and 2 validation speakers: C(29, 2) > MAX_CANDIDATE_SETS, so candidates are
    # sampled and only the greedy candidate is sure to contain the one "fear" speaker.
    assert math.comb(29, 2) > protocols.MAX_CANDIDATE_SETS
    columns = {"speaker": [], "label": []}
    for number in range(30):
        speaker = f"s{number:02d}"
        labels = ["angry", "sad", "neutral"] * 3 + (["fear"] if speaker == "s07" else [])
        columns["speaker"] += [speaker] * len(labels)
        columns["label"] += labels
    for fold in speaker_independent_folds(columns, "loso", num_validation_speakers=2):
        if fold.test_speakers != ("s07",):
            assert "s07" in fold.validation_speakers, fold.name


@pytest.mark.parametrize(
    ("num_speakers", "num_test_speakers"), [(2, 1), (3, 1), (7, 1), (8, 2), (10, 2), (24, 5)]
)
def test_holdout_test_speaker_count_is_a_fifth_of_the_speakers(num_speakers, num_test_speakers):
    assert holdout_test_speaker_count(num_speakers) == num_test_speakers


def test_holdout_chooses_a_fifth_of_the_speakers_for_test():
    for seed in range(5):
        (fold,) = speaker_independent_folds(EMODB_LIKE, "holdout", seed=seed)
        assert fold.name == "holdout"
        assert len(fold.test_speakers) == 2
        assert len(fold.validation_speakers) == 1
        assert labels_of(fold.test_speakers) == set(EMODB_LABELS)


def test_holdout_with_explicit_speakers():
    (fold,) = speaker_independent_folds(
        EMODB_LIKE, "holdout", test_speakers=["16", "03"], validation_speakers=["09"]
    )
    assert fold.test_speakers == ("03", "16")
    assert fold.validation_speakers == ("09",)
    assert fold.train_speakers == ("08", "10", "11", "12", "13", "14", "15")
    assert len(fold.test) == utterances_of(["03", "16"])


def test_holdout_with_only_test_or_only_validation_speakers():
    (fold,) = speaker_independent_folds(EMODB_LIKE, "holdout", test_speakers=["13"])
    assert fold.test_speakers == ("13",)
    assert len(fold.validation_speakers) == 1
    (fold,) = speaker_independent_folds(EMODB_LIKE, "holdout", validation_speakers=["13", "14"])
    assert fold.validation_speakers == ("13", "14")
    assert not set(fold.test_speakers) & {"13", "14"}
    (fold,) = speaker_independent_folds(EMODB_LIKE, "holdout", validation_speakers=[])
    assert fold.validation == [] and fold.validation_speakers == ()


def test_integer_speaker_ids_are_compared_as_strings():
    columns = {"speaker": [1, 1, 2, 2, 3, 3, 10, 10], "label": [0, 1] * 4}
    (fold,) = speaker_independent_folds(
        columns, "holdout", test_speakers=[10], validation_speakers=["2"]
    )
    assert fold.test_speakers == ("10",)
    assert fold.validation_speakers == ("2",)
    assert fold.train == [0, 1, 4, 5]


def test_two_speaker_corpus_works_without_validation():
    columns = {"speaker": ["OAF"] * 4 + ["YAF"] * 4, "label": ["angry", "sad"] * 4}
    folds = speaker_independent_folds(columns, "loso", num_validation_speakers=0)
    assert [fold.test_speakers for fold in folds] == [("OAF",), ("YAF",)]
    assert all(fold.train and not fold.validation for fold in folds)
    folds = speaker_independent_folds(
        columns, "speaker_kfold", num_folds=2, num_validation_speakers=0
    )
    assert len(folds) == 2
    (fold,) = speaker_independent_folds(columns, "holdout", num_validation_speakers=0)
    assert len(fold.train_speakers) == len(fold.test_speakers) == 1


def test_fold_to_dict_is_json_ready():
    (fold,) = speaker_independent_folds(
        EMODB_LIKE, "holdout", test_speakers=["03"], validation_speakers=["08"]
    )
    description = json.loads(json.dumps(fold.to_dict()))
    assert description["name"] == "holdout"
    assert description["test_speakers"] == ["03"]
    assert description["validation_speakers"] == ["08"]
    assert description["num_test"] == EMODB_SPEAKER_SIZES["03"]
    assert "train" not in description
    assert fold.to_dict(include_indices=True)["test"] == fold.test


def test_real_datasets_dataset_with_class_label_column():
    features = datasets.Features(
        {"speaker": datasets.Value("string"), "label": class_label(EMODB_LABELS)}
    )
    dataset = datasets.Dataset.from_dict(EMODB_LIKE, features=features)
    from_dataset = speaker_independent_folds(dataset, "loso", seed=3)
    # Class ids instead of names do not change the choice.
    assert from_dataset == speaker_independent_folds(EMODB_LIKE, "loso", seed=3)
    for fold in from_dataset:
        assert set(dataset.select(fold.test)["speaker"]) == set(fold.test_speakers)
        assert set(dataset.select(fold.validation)["label"]) == set(range(len(EMODB_LABELS)))
    with pytest.raises(ValueError, match="no column 'emotion'"):
        speaker_independent_folds(dataset, "loso", label_column="emotion")


# A valid fold over speakers a, b, c (rows 0-1, 2-3, 4-5) and three ways to break it.
SMALL_SPEAKERS = ["a", "a", "b", "b", "c", "c"]
VALID_FOLD = Fold("hand-made", [0, 1], [2, 3], [4, 5], ("a",), ("b",), ("c",))


@pytest.mark.parametrize(
    ("fold", "message"),
    [
        (
            Fold("leak", [0, 1, 4], [2, 3], [5], ("a", "c"), ("b",), ("c",)),
            r"speakers \['c'\] have rows in both train and test",
        ),
        (
            Fold("leak", [0, 1], [2, 3, 5], [4], ("a",), ("b", "c"), ("c",)),
            r"speakers \['c'\] have rows in both validation and test",
        ),
        (
            Fold("leak", [0, 1, 2], [3], [4, 5], ("a", "b"), ("b",), ("c",)),
            r"speakers \['b'\] have rows in both train and validation",
        ),
        (
            Fold("leak", [0, 1], [2, 3], [3, 4, 5], ("a",), ("b",), ("b", "c")),
            r"rows \[3\] are in both validation and test",
        ),
        (
            Fold("leak", [0, 1], [2, 3], [4, 5], ("a", "c"), ("b",), ("c",)),
            r"listed in both train_speakers and test_speakers",
        ),
        (
            Fold("leak", [0, 1], [2, 3], [4, 5], ("a",), ("b",), ("b",)),
            r"listed in both validation_speakers and test_speakers",
        ),
        (
            Fold("leak", [0, 1], [2, 3], [4, 5], ("a",), ("x",), ("c",)),
            r"validation_speakers is \['x'\] but the validation rows belong to speakers \['b'\]",
        ),
    ],
)
def test_check_speaker_independence_raises_on_leaky_folds(fold, message):
    check_speaker_independence(VALID_FOLD, SMALL_SPEAKERS)
    with pytest.raises(SpeakerLeakError, match=message):
        check_speaker_independence(fold, SMALL_SPEAKERS)


def test_check_speaker_independence_rejects_indices_outside_the_column():
    fold = Fold("outside", [0, 1], [2, 3], [4, 9], ("a",), ("b",), ("c",))
    with pytest.raises(ValueError, match=r"test indices \[9\] are outside the 6 rows"):
        check_speaker_independence(fold, SMALL_SPEAKERS)


def test_a_leaky_protocol_is_caught_before_its_folds_are_returned(monkeypatch):
    monkeypatch.setattr(protocols, "_PROTOCOLS", dict(protocols._PROTOCOLS))

    @register_protocol("leaky")
    def leaky(table, *, rng, num_validation_speakers, stratify):
        speakers = table.speakers
        return [SpeakerSplit("leaky", speakers, (), speakers[:1])]

    assert "leaky" in list_protocols()
    with pytest.raises(SpeakerLeakError, match="in both train and test"):
        speaker_independent_folds(EMODB_LIKE, "leaky")


TESS_LIKE = {"speaker": ["OAF"] * 4 + ["YAF"] * 4, "label": ["angry", "sad"] * 4}
ONE_SPEAKER = {"speaker": ["03"] * 4, "label": ["angry", "sad"] * 2}

# (dataset, protocol, keyword arguments, pattern of the ValueError message)
ERROR_CASES = [
    (EMODB_LIKE, "random", {}, r"unknown protocol 'random'"),
    ({"label": ["a"]}, "loso", {}, r"no column 'speaker'"),
    ({"speaker": ["03"]}, "loso", {}, r"no column 'label'"),
    (EMODB_LIKE, "loso", {"speaker_column": "talker"}, r"no column 'talker'"),
    ({"speaker": [], "label": []}, "loso", {}, r"dataset is empty"),
    ({"speaker": ["a", "b"], "label": ["x"]}, "loso", {}, r"has 2 values but column 'label' has 1"),
    ({"speaker": ["a", None], "label": ["x", "y"]}, "loso", {}, r"'speaker' has no value in rows \[1\]"),
    ({"speaker": ["a", "b"], "label": [None, "y"]}, "loso", {}, r"'label' has no value in rows \[0\]"),
    (ONE_SPEAKER, "loso", {}, r"needs at least 2 speakers .*has 1: \['03'\]"),
    (ONE_SPEAKER, "holdout", {"num_validation_speakers": 0}, r"needs at least 2 speakers"),
    (TESS_LIKE, "loso", {}, r"loso with 1 validation speaker\(s\) needs at least 3 speakers.*has 2"),
    (TESS_LIKE, "holdout", {}, r"holdout with 1 test and 1 validation speaker\(s\) needs at least 3"),
    (TESS_LIKE, "speaker_kfold", {"num_folds": 2}, r"leaves 1 of 2 speakers for training; 1 validation"),
    (EMODB_LIKE, "loso", {"num_validation_speakers": 9}, r"needs at least 11 speakers.*has 10"),
    (EMODB_LIKE, "loso", {"num_validation_speakers": -1}, r"num_validation_speakers must be >= 0"),
    (EMODB_LIKE, "speaker_kfold", {"num_folds": 11}, r"num_folds=11 needs at least 11 speakers; the dataset has 10"),
    (EMODB_LIKE, "speaker_kfold", {"num_folds": 1}, r"needs num_folds >= 2, got 1"),
    (EMODB_LIKE, "speaker_kfold", {"num_validation_speakers": 8}, r"8 validation speaker\(s\) and at least 1 training"),
    (EMODB_LIKE, "holdout", {"test_speakers": ["03", "99"]}, r"test_speakers \['99'\] are not speakers"),
    (EMODB_LIKE, "holdout", {"validation_speakers": ["98"]}, r"validation_speakers \['98'\] are not speakers"),
    (EMODB_LIKE, "holdout", {"test_speakers": ["03"], "validation_speakers": ["03", "08"]}, r"\['03'\] are in both test_speakers and validation_speakers"),
    (EMODB_LIKE, "holdout", {"test_speakers": ["03", "03"]}, r"lists speakers \['03'\] more than once"),
    (EMODB_LIKE, "holdout", {"test_speakers": "03"}, r"must be a list of speaker ids"),
    (EMODB_LIKE, "holdout", {"test_speakers": []}, r"at least one test speaker"),
    (EMODB_LIKE, "holdout", {"test_speakers": list(ALL_SPEAKERS[:5]), "validation_speakers": list(ALL_SPEAKERS[5:])}, r"holdout with 5 test and 5 validation speaker\(s\) needs at least 11"),
    (EMODB_LIKE, "loso", {"test_speakers": ["03"]}, r"'loso' does not take \['test_speakers'\]"),
    (EMODB_LIKE, "loso", {"num_folds": 3}, r"'loso' does not take \['num_folds'\]"),
    (EMODB_LIKE, "speaker_kfold", {"validation_speakers": ["03"]}, r"'speaker_kfold' does not take \['validation_speakers'\]"),
    (EMODB_LIKE, "holdout", {"num_folds": 3, "test_speakers": ["03"]}, r"'holdout' does not take \['num_folds'\]"),
]  # fmt: skip


@pytest.mark.parametrize(("dataset", "protocol", "kwargs", "message"), ERROR_CASES)
def test_bad_requests_raise_value_error(dataset, protocol, kwargs, message):
    with pytest.raises(ValueError, match=message):
        speaker_independent_folds(dataset, protocol, **kwargs)


def test_a_dataset_that_is_not_a_table_raises_type_error():
    with pytest.raises(TypeError, match="mapping from column name"):
        speaker_independent_folds([("03", "angry")], "loso")


# Validation that covers every label with a minimum count, rotated across folds (issue 19, 3).


def skewed_columns(num_speakers: int = 29) -> dict[str, list]:
    """Speakers with skewed label mixes. "s00" is by far the closest to the overall distribution
    but has only 3 "sad"; a few others have 7, most have 1 (as on the real corpus of issue 19,
    where one validation speaker was chosen in 27 of 29 folds)."""
    columns: dict[str, list] = {"speaker": [], "label": []}
    for number in range(num_speakers):
        if number == 0:
            counts = {"angry": 6, "happy": 5, "neutral": 5, "sad": 3}
        elif number % 2:
            counts = {"angry": 9, "happy": 3, "neutral": 5, "sad": 1}
        else:
            counts = {"angry": 3, "happy": 7, "neutral": 5, "sad": 7 if number % 4 == 2 else 1}
        for label, count in counts.items():
            columns["speaker"] += [f"s{number:02d}"] * count
            columns["label"] += [label] * count
    return columns


def validation_counts(columns, fold) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in fold.validation:
        counts[columns["label"][row]] = counts.get(columns["label"][row], 0) + 1
    return counts


@pytest.mark.parametrize(
    ("columns", "protocol", "kwargs"),
    [
        (EMODB_LIKE, "loso", {}),
        (EMODB_LIKE, "speaker_kfold", {"num_folds": 5}),
        (EMODB_LIKE, "holdout", {}),
        (skewed_columns(), "loso", {}),
        (skewed_columns(), "speaker_kfold", {"num_folds": 4}),
    ],
    ids=[
        "emodb-like-loso",
        "emodb-like-kfold",
        "emodb-like-holdout",
        "skewed-loso",
        "skewed-kfold",
    ],
)
@pytest.mark.parametrize("minimum", [1, 4, 8])
def test_validation_covers_every_label_with_the_minimum(columns, protocol, kwargs, minimum):
    labels = set(columns["label"])
    folds = speaker_independent_folds(columns, protocol, min_validation_per_label=minimum, **kwargs)
    for fold in folds:
        counts = validation_counts(columns, fold)
        assert fold.validation_label_counts == {label: counts.get(label, 0) for label in labels}
        # What the fold's non-test speakers hold caps what validation can (EMO-DB-like: only
        # two speakers say "sad").
        available = Counter(
            label
            for speaker, label in zip(columns["speaker"], columns["label"], strict=True)
            if speaker not in fold.test_speakers
        )
        for label in labels:
            wanted = min(minimum, available[label])
            assert counts.get(label, 0) >= wanted, (fold.name, label, counts)
        assert fold.train, fold.name
        assert fold.validation_rule.startswith(f"cover every label >= {minimum}")
        # No more speakers than needed: dropping any one of them breaks the coverage.
        for left_out in fold.validation_speakers:
            kept = [s for s in fold.validation_speakers if s != left_out]
            if not kept:
                continue
            kept_counts = Counter(
                label
                for speaker, label in zip(columns["speaker"], columns["label"], strict=True)
                if speaker in kept
            )
            assert any(kept_counts[label] < min(minimum, available[label]) for label in labels), (
                fold.name,
                kept,
            )


def test_validation_speakers_rotate_instead_of_repeating():
    columns = skewed_columns()
    # Today's rule, one stratified speaker: s00 validates 28 of the 29 folds, with 3 "sad".
    before = speaker_independent_folds(columns, "loso")
    before_uses = Counter(s for fold in before for s in fold.validation_speakers)
    assert before_uses["s00"] == 28
    assert all(validation_counts(columns, fold)["sad"] < 5 for fold in before)
    # At least 5 of every label: two speakers per fold, spread over the speakers.
    after = speaker_independent_folds(columns, "loso", min_validation_per_label=5)
    after_uses = Counter(s for fold in after for s in fold.validation_speakers)
    assert all(len(fold.validation_speakers) == 2 for fold in after)
    assert all(validation_counts(columns, fold)["sad"] >= 5 for fold in after)
    assert max(after_uses.values()) <= 6
    assert len(after_uses) >= 15


def test_covering_validation_is_seeded_and_recorded():
    first = speaker_independent_folds(EMODB_LIKE, "loso", seed=3, min_validation_per_label=6)
    assert first == speaker_independent_folds(
        EMODB_LIKE, "loso", seed=3, min_validation_per_label=6
    )
    description = json.loads(json.dumps(first[0].to_dict()))
    assert description["validation_rule"] == (
        "cover every label >= 6, at least 1 speaker(s), rotated"
    )
    assert sum(description["validation_label_counts"].values()) == description["num_validation"]


def test_no_validation_split_is_recorded_as_a_fixed_schedule():
    folds = speaker_independent_folds(EMODB_LIKE, "loso", num_validation_speakers=0)
    for fold in folds:
        assert fold.validation == [] and fold.validation_speakers == ()
        assert fold.validation_rule.startswith("none (no validation split")
        assert set(fold.to_dict()["validation_label_counts"].values()) == {0}
    (fold,) = speaker_independent_folds(EMODB_LIKE, "holdout")
    assert fold.validation_rule == "1 speaker(s), stratified"


def test_a_minimum_no_speaker_set_can_reach_is_logged_and_shows(caplog):
    # "fear" exists only in speaker c: when c tests, no validation set can hold it.
    columns = {
        "speaker": ["a"] * 4 + ["b"] * 4 + ["c"] * 4 + ["d"] * 4,
        "label": ["x", "y"] * 4 + ["x", "y", "fear", "fear"] + ["x", "y"] * 2,
    }
    with caplog.at_level("WARNING", logger="sertune.data.protocols"):
        folds = speaker_independent_folds(columns, "loso", min_validation_per_label=1)
    fold_c = next(fold for fold in folds if fold.test_speakers == ("c",))
    assert fold_c.validation_label_counts["fear"] == 0
    assert fold_c.train
    assert "miss" in caplog.text


@pytest.mark.parametrize("minimum", [-1, 1.5, True])
def test_min_validation_per_label_must_be_a_count(minimum):
    with pytest.raises(ValueError, match="min_validation_per_label"):
        speaker_independent_folds(EMODB_LIKE, "loso", min_validation_per_label=minimum)


def test_data_arguments_pass_the_minimum_to_the_protocol():
    from sertune.data.arguments import DataArguments, make_folds

    args = DataArguments(protocol="loso", min_validation_per_label=4)
    folds = make_folds(datasets.Dataset.from_dict(EMODB_LIKE), args)
    assert all(min(fold.validation_label_counts.values()) >= 4 for fold in folds)
