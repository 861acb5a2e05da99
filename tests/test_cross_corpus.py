"""Cross-corpus runs: several training corpora and a test corpus, and leave-one-corpus-out."""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from pathlib import Path

import pytest

from sertune.cli import main as sertune_main
from sertune.cli.evaluate import EvaluateDataArguments
from sertune.config import parse_config
from sertune.data import speaker_independent_folds
from sertune.data.arguments import DataArguments, load_corpus_fold, load_data, make_folds
from sertune.data.protocols import Fold, check_group_independence
from sertune.errors import OptionError, SpeakerLeakError
from sertune.training.cv import CV_RESULTS_FILE, CV_SUMMARY_FILE

from corpus_fixtures import write_emodb
from fixture_ravdess import write_ravdess
from fixture_urdu import write_urdu

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_LABELS = ["angry", "happy", "neutral", "sad"]  # what RAVDESS, EMO-DB and URDU all have

#: Rows the fixtures lose to the shared labels: RAVDESS (4 actors, one file per emotion) and
#: EMO-DB (4 speakers, one file per emotion); URDU has only the shared four.
LEFT_OUT = {
    "ravdess": {"calm": 4, "disgust": 4, "fear": 4, "surprise": 4},
    "emodb": {"bored": 4, "disgust": 4, "fear": 4},
    "urdu": {},
}

TINY_RUN_ARGS = [
    "--model_name_or_path",
    "tiny-random-cnn-lstm",
    "--n_mels",
    "32",
    "--segment_frames",
    "32",
    "--max_steps",
    "3",
    "--per_device_train_batch_size",
    "8",
    "--dataloader_num_workers",
    "0",
    "--use_cpu",
    "--report_to",
    "none",
]


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict[str, str]:
    """RAVDESS, EMO-DB and URDU fixtures, each in its real layout."""
    root = tmp_path_factory.mktemp("corpora")
    return {
        "ravdess": str(write_ravdess(root / "ravdess")),
        "emodb": str(write_emodb(root / "emodb")),
        "urdu": str(write_urdu(root / "urdu")),
    }


def _args(corpora: dict[str, str], train: list[str], test: str | None = None, **options):
    names = [*train, *([test] if test else [])]
    return DataArguments(
        corpus=train, test_corpus=test, data_dir=[corpora[name] for name in names], **options
    )


def _assert_disjoint(dataset, fold: Fold) -> None:
    """No speaker and no corpus of the test rows is among the training or validation rows."""
    speakers, names = dataset["speaker"], dataset["corpus"]
    seen = fold.train + fold.validation
    assert fold.train and fold.test
    assert not {speakers[r] for r in seen} & {speakers[r] for r in fold.test}
    assert not {names[r] for r in seen} & {names[r] for r in fold.test}


def test_test_corpus_is_the_whole_test_set_and_never_validates(corpora):
    args = _args(corpora, ["ravdess", "emodb"], "urdu")
    assert args.protocol == "leave_one_corpus_out"
    dataset, fold = load_corpus_fold(args)
    names = dataset["corpus"]
    assert fold.name == "corpus-urdu"
    assert fold.test == [row for row, name in enumerate(names) if name == "urdu"]
    assert len(fold.test) == 16
    assert fold.validation_speakers
    assert {names[row] for row in fold.train + fold.validation} == {"ravdess", "emodb"}
    assert (fold.train_corpora, fold.test_corpora) == (("ravdess", "emodb"), ("urdu",))
    _assert_disjoint(dataset, fold)


def test_leave_one_corpus_out_tests_every_corpus_in_turn(corpora):
    args = _args(corpora, ["ravdess", "emodb", "urdu"], protocol="leave_one_corpus_out")
    dataset, _ = load_data(args)
    folds = make_folds(dataset, args)
    assert [fold.name for fold in folds] == ["corpus-ravdess", "corpus-emodb", "corpus-urdu"]
    assert [fold.test_corpora for fold in folds] == [("ravdess",), ("emodb",), ("urdu",)]
    names = dataset["corpus"]
    for fold, tested in zip(folds, ["ravdess", "emodb", "urdu"], strict=True):
        assert fold.test == [row for row, name in enumerate(names) if name == tested]
        assert set(fold.train_corpora) == {"ravdess", "emodb", "urdu"} - {tested}
        _assert_disjoint(dataset, fold)


def test_leave_one_corpus_out_on_columns_and_one_test_group():
    columns = {
        "speaker": ["a:1", "a:1", "a:2", "b:1", "b:2", "c:1", "c:2", "c:3"],
        "label": [0, 1, 0, 1, 0, 1, 0, 1],
        "corpus": ["a", "a", "a", "b", "b", "c", "c", "c"],
    }
    folds = speaker_independent_folds(columns, "leave_one_corpus_out")
    assert [fold.test for fold in folds] == [[0, 1, 2], [3, 4], [5, 6, 7]]
    (fold,) = speaker_independent_folds(columns, "leave_one_corpus_out", test_group="b")
    assert fold.test_speakers == ("b:1", "b:2")
    with pytest.raises(ValueError, match="'d' is not a corpus"):
        speaker_independent_folds(columns, "leave_one_corpus_out", test_group="d")
    with pytest.raises(ValueError, match="does not take"):
        speaker_independent_folds(columns, "loso", test_group="b")


def test_a_corpus_on_both_sides_of_a_fold_is_refused():
    fold = Fold(
        name="leaky",
        train=[0],
        validation=[],
        test=[1],
        train_speakers=("a:1",),
        validation_speakers=(),
        test_speakers=("a:2",),
    )
    with pytest.raises(SpeakerLeakError, match=r"corpus \['a'\] has speakers both in test"):
        check_group_independence(fold, {"a:1": "a", "a:2": "a"}, "corpus")
    check_group_independence(fold, {"a:1": "a", "a:2": "b"}, "corpus")


def test_labels_are_those_every_corpus_has_and_left_out_rows_are_reported(corpora, caplog):
    args = _args(corpora, ["ravdess", "emodb"], "urdu")
    assert args.run_labels == SHARED_LABELS
    with caplog.at_level(logging.WARNING, logger="sertune.data.arguments"):
        dataset, fold = load_corpus_fold(args)
    assert dataset.features["label"].names == SHARED_LABELS
    assert fold.left_out_labels == LEFT_OUT
    assert fold.to_dict()["left_out_labels"] == LEFT_OUT
    lines = [r.getMessage() for r in caplog.records if "are left out" in r.getMessage()]
    assert len(lines) == 2
    assert lines[0].startswith("ravdess: 16 rows of classes")
    assert "'calm': 4" in lines[0]
    assert lines[1].startswith("emodb: 12 rows of classes")


def test_labels_option_selects_in_every_corpus(corpora):
    args = _args(corpora, ["ravdess", "emodb"], "urdu", labels=["sad", "angry"])
    dataset, fold = load_corpus_fold(args)
    assert dataset.features["label"].names == ["angry", "sad"]
    assert fold.left_out_labels["urdu"] == {"happy": 4, "neutral": 4}
    assert fold.left_out_labels["emodb"]["happy"] == 4


def test_one_corpus_behaves_as_before(emodb_fixture):
    args = DataArguments(corpus="emodb", data_dir=str(emodb_fixture), test_speakers=["16"])
    assert (args.corpus, args.data_dir, args.corpus_name) == (
        ["emodb"],
        [str(emodb_fixture)],
        "emodb",
    )
    dataset, fold = load_corpus_fold(args)
    assert fold.test_speakers == ("16",)
    assert "train_corpora" not in fold.to_dict()
    assert fold.left_out_labels is None
    assert "bored" in dataset.features["label"].names


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--corpus", "ravdess", "emodb", "--data_dir", "a"],
            r"--data_dir gives 1 folder\(s\) for 2 corpora \(--corpus ravdess emodb\)",
        ),
        (
            ["--corpus", "ravdess", "--test_corpus", "urdu", "--data_dir", "a", "b", "c"],
            r"--data_dir gives 3 folder\(s\) for 2 corpora .*--test_corpus urdu",
        ),
        (
            ["--corpus", "ravdess", "emodb", "--test_corpus", "emodb"],
            "--test_corpus emodb is also in --corpus ravdess emodb",
        ),
        (["--corpus", "emodb", "emodb"], r"--corpus repeats \['emodb'\]"),
        (["--corpus", "emodb", "--test_corpus", "nope"], "--test_corpus: unknown corpus 'nope'"),
        (
            ["--corpus", "emodb", "--test_corpus", "urdu", "--labels", "angry", "bored"],
            "--labels bored: corpus 'urdu' has no such label",
        ),
        (["--corpus", "emodb", "--protocol", "leave_one_corpus_out"], "needs at least two"),
        (
            ["--corpus", "emodb", "--test_corpus", "urdu", "--protocol", "loso"],
            "--protocol loso with --test_corpus",
        ),
        (["--corpus", "emodb", "urdu", "--protocol", "official"], "--protocol official"),
    ],
)
def test_option_errors_name_the_options(argv, message):
    with pytest.raises(OptionError, match=message):
        parse_config([DataArguments], argv, exit_on_error=False)


def test_evaluate_refuses_a_test_corpus():
    with pytest.raises(OptionError, match="--test_corpus urdu: sertune evaluate tests on"):
        parse_config(
            [EvaluateDataArguments],
            ["--corpus", "emodb", "--test_corpus", "urdu"],
            exit_on_error=False,
        )


@pytest.mark.parametrize(
    "text, corpus", [("corpus: emodb\n", ["emodb"]), ("corpus: [ravdess, emodb]\n", None)]
)
def test_config_files_give_one_corpus_or_several(tmp_path, text, corpus):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    (args,) = parse_config([DataArguments], ["--config", str(path)], exit_on_error=False)
    assert args.corpus == (corpus or ["ravdess", "emodb"])


def _load_recipe(name: str):
    spec = importlib.util.spec_from_file_location(name, PROJECT_ROOT / "recipes" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve string annotations through it
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "recipe, model_args",
    [
        ("cnn_lstm_emodb", TINY_RUN_ARGS),
        (
            "wav2vec2_emodb",
            [
                "--model_name_or_path",
                "tiny-random",
                "--max_steps",
                "2",
                "--per_device_train_batch_size",
                "8",
                "--dataloader_num_workers",
                "0",
            ],
        ),
    ],
)
def test_recipe_trains_on_two_corpora_and_tests_on_a_third(corpora, tmp_path, recipe, model_args):
    output_dir = tmp_path / "run"
    argv = ["--corpus", "ravdess", "emodb", "--test_corpus", "urdu", "--data_dir"]
    argv += [corpora["ravdess"], corpora["emodb"], corpora["urdu"]]
    _load_recipe(recipe).main([*argv, *model_args, "--output_dir", str(output_dir)])
    metrics = json.loads((output_dir / "metrics.json").read_text())
    assert metrics["corpus"] == "ravdess+emodb+urdu"
    assert metrics["train_corpora"] == ["ravdess", "emodb"]
    assert metrics["test_corpora"] == ["urdu"]
    assert metrics["label_names"] == SHARED_LABELS
    fold = metrics["fold"]
    assert fold["name"] == "corpus-urdu"
    assert fold["num_test"] == 16
    assert all(speaker.startswith("urdu:") for speaker in fold["test_speakers"])
    assert not any(s.startswith("urdu:") for s in fold["train_speakers"])
    assert fold["left_out_labels"] == LEFT_OUT
    assert sum(sum(row) for row in metrics["test"]["confusion_matrix"]) == 16
    run_config = json.loads((output_dir / "run_config.json").read_text())
    assert run_config["data"]["corpus"] == ["ravdess", "emodb"]
    assert run_config["data"]["test_corpus"] == "urdu"


# Slow: three fold processes (about 30 s); the folds themselves are tested above by default.
@pytest.mark.slow
def test_cv_leave_one_corpus_out_runs_every_corpus_as_the_test_corpus(corpora, tmp_path):
    root = tmp_path / "cv"
    recipe = str(PROJECT_ROOT / "recipes" / "cnn_lstm_emodb.py")
    names = ["ravdess", "emodb", "urdu"]
    data = ["--corpus", *names, "--protocol", "leave_one_corpus_out", "--data_dir"]
    data += [corpora[name] for name in names]
    assert sertune_main(["cv", recipe, "--output_dir", str(root), "--", *data, *TINY_RUN_ARGS]) == 0
    results = json.loads((root / CV_RESULTS_FILE).read_text())
    assert results["num_folds"] == 3
    assert results["corpora"] == sorted(names)
    assert [row["test_corpora"] for row in results["runs"]] == [[name] for name in names]
    for k, tested in enumerate(names):
        metrics = json.loads((root / f"fold-{k:02d}" / "metrics.json").read_text())
        assert metrics["test_corpora"] == [tested]
        assert metrics["train_corpora"] == [name for name in names if name != tested]
        fold = metrics["fold"]
        sides = [set(fold[f"{side}_speakers"]) for side in ("train", "validation", "test")]
        assert not (sides[0] | sides[1]) & sides[2]
        assert {s.split(":")[0] for s in sides[2]} == {tested}
        assert tested not in {s.split(":")[0] for s in sides[0] | sides[1]}
    summary = (root / CV_SUMMARY_FILE).read_text()
    assert "fold 2: trained on ravdess, emodb; tested on urdu" in summary
    assert "| urdu: 14 speakers |" in summary


def test_cv_refuses_a_data_dir_count_mismatch(corpora, tmp_path, capsys):
    recipe = str(PROJECT_ROOT / "recipes" / "cnn_lstm_emodb.py")
    data = ["--corpus", "ravdess", "emodb", "--data_dir", corpora["ravdess"]]
    assert sertune_main(["cv", recipe, "--output_dir", str(tmp_path), "--", *data]) == 2
    assert "--data_dir gives 1 folder(s) for 2 corpora" in capsys.readouterr().err


def test_several_corpora_with_a_speaker_protocol_are_pooled(corpora):
    args = _args(corpora, ["ravdess", "emodb"], protocol="loso")
    dataset, fold = load_corpus_fold(args)
    assert fold.name == "loso-emodb:03"
    assert fold.test_speakers == ("emodb:03",)
    assert fold.train_corpora == ("ravdess", "emodb")
    assert fold.test_corpora == ("emodb",)
    assert dataset.features["label"].names == [
        "angry",
        "disgust",
        "fear",
        "happy",
        "neutral",
        "sad",
    ]
