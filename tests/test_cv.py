"""The cross-validation runner: folds, resume, aggregate, seeds and its errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from sertune.cli import main as sertune_main
from sertune.training.cv import (
    CV_LOG_FILE,
    CV_RESULTS_FILE,
    CvRun,
    aggregate_cv,
    cross_validate,
    plan_runs,
    run_command,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RECIPE = str(PROJECT_ROOT / "recipes" / "cnn_lstm_emodb.py")
LABELS = ["neutral", "angry", "happy", "sad", "fear", "disgust", "boredom"]


def _recipe_args(data_dir: Path) -> list[str]:
    return [
        "--data_dir",
        str(data_dir),
        "--protocol",
        "loso",
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


def _log_records(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / CV_LOG_FILE).read_text().splitlines()]


@pytest.fixture(scope="module")
def cv_run(emodb_fixture, tmp_path_factory):
    """An interrupted cross-validation (folds 0 and 1 only), then the full one resumed."""
    root = tmp_path_factory.mktemp("cv")
    args = _recipe_args(emodb_fixture)
    assert (
        sertune_main(["cv", RECIPE, "--output_dir", str(root), "--folds", "0", "1", "--", *args])
        == 0
    )
    first = {k: (root / f"fold-{k:02d}" / "metrics.json").read_text() for k in (0, 1)}
    assert sertune_main(["cv", RECIPE, "--output_dir", str(root), "--", *args]) == 0
    return root, first


def test_cv_runs_every_fold_disjoint_by_speaker(cv_run):
    root, _ = cv_run
    results = json.loads((root / CV_RESULTS_FILE).read_text())
    assert results["num_folds"] == 4
    test_speakers = [tuple(row["test_speakers"]) for row in results["runs"]]
    assert sorted(test_speakers) == [("03",), ("08",), ("10",), ("16",)]
    for k in range(4):
        fold = json.loads((root / f"fold-{k:02d}" / "metrics.json").read_text())["fold"]
        train, validation, test = (
            set(fold[f"{s}_speakers"]) for s in ("train", "validation", "test")
        )
        assert not train & test and not validation & test and not train & validation
        assert (root / f"fold-{k:02d}" / "model.safetensors").is_file()


def test_cv_resume_skips_finished_folds(cv_run):
    root, first = cv_run
    for k, text in first.items():
        assert (root / f"fold-{k:02d}" / "metrics.json").read_text() == text
    ran = [record["fold"] for record in _log_records(root)]
    assert ran == [0, 1, 2, 3], "folds 0 and 1 must not run again"


def test_cv_aggregate_matches_the_fold_files(cv_run):
    root, _ = cv_run
    results = json.loads((root / CV_RESULTS_FILE).read_text())
    folds = [json.loads((root / f"fold-{k:02d}" / "metrics.json").read_text()) for k in range(4)]
    for name in ("uar", "wa", "macro_f1"):
        values = [fold[name] for fold in folds]
        assert results[name]["per_fold"] == pytest.approx(values)
        assert results[name]["mean"] == pytest.approx(np.mean(values))
        assert results[name]["std"] == pytest.approx(np.std(values, ddof=1))
    pooled = np.sum([np.asarray(f["test"]["confusion_matrix"]) for f in folds], axis=0)
    assert np.array_equal(np.asarray(results["pooled"]["confusion_matrix"]), pooled)
    assert pooled.sum() == 28
    assert results["pooled"]["wa"] == pytest.approx(np.trace(pooled) / pooled.sum())
    assert (root / "confusion_matrix.png").stat().st_size > 0
    summary = (root / "cv_summary.md").read_text()
    assert f"{results['uar']['mean']:.4f}" in summary


def test_cv_aggregate_only_rewrites_the_same_results(cv_run, emodb_fixture):
    root, _ = cv_run
    before = json.loads((root / CV_RESULTS_FILE).read_text())
    (root / CV_RESULTS_FILE).unlink()
    args = [
        "cv",
        RECIPE,
        "--output_dir",
        str(root),
        "--aggregate_only",
        "--",
        *_recipe_args(emodb_fixture),
    ]
    assert sertune_main(args) == 0
    assert json.loads((root / CV_RESULTS_FILE).read_text()) == before
    assert len(_log_records(root)) == 4


def _fake_metrics(folder: Path, matrix: list[list[int]], seed: int) -> dict:
    matrix = np.asarray(matrix)
    recall = np.diag(matrix) / matrix.sum(axis=1)
    metrics = {
        "uar": float(recall.mean()),
        "wa": float(np.trace(matrix) / matrix.sum()),
        "macro_f1": float(recall.mean()) / 2,
        "test": {"confusion_matrix": matrix.tolist()},
        "label_names": ["angry", "sad"],
        "best_validation_uar": 0.5,
        "best_step": 3,
        "global_step": 3,
        "train_seconds": 2.0 + seed,
    }
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return metrics


def test_aggregate_over_seeds_averages_within_folds(tmp_path):
    matrices = {
        (0, 1): [[4, 0], [1, 3]],
        (0, 2): [[2, 2], [1, 3]],
        (1, 1): [[3, 1], [0, 4]],
        (1, 2): [[4, 0], [0, 4]],
    }
    runs, metrics = [], {}
    for (fold, seed), matrix in matrices.items():
        folder = tmp_path / f"fold-{fold:02d}" / f"seed-{seed}"
        metrics[fold, seed] = _fake_metrics(folder, matrix, seed)
        runs.append(CvRun(fold, f"loso-{fold}", (str(fold),), seed, folder))
    results = aggregate_cv(tmp_path, runs)
    fold_uar = [np.mean([metrics[f, s]["uar"] for s in (1, 2)]) for f in (0, 1)]
    assert results["uar"]["per_fold"] == pytest.approx(fold_uar)
    assert results["uar"]["std"] == pytest.approx(np.std(fold_uar, ddof=1))
    seed_uar = [np.mean([metrics[f, s]["uar"] for f in (0, 1)]) for s in (1, 2)]
    assert results["seed_spread"]["per_seed"]["1"]["uar"] == pytest.approx(seed_uar[0])
    assert results["seed_spread"]["std"]["uar"] == pytest.approx(np.std(seed_uar, ddof=1))
    assert np.asarray(results["pooled"]["confusion_matrix"]).sum() == 32
    assert results["train_seconds_total"] == pytest.approx(2 * 3.0 + 2 * 4.0)


def test_plan_runs_with_seeds_and_folds(emodb_fixture, tmp_path):
    runs = plan_runs(_recipe_args(emodb_fixture), tmp_path, seeds=[1, 2], folds=[3])
    assert [(r.fold, r.seed) for r in runs] == [(3, 1), (3, 2)]
    assert runs[0].output_dir == tmp_path / "fold-03" / "seed-1"
    assert runs[0].test_speakers == ("16",)
    with pytest.raises(ValueError, match="folds \\[4\\]"):
        plan_runs(_recipe_args(emodb_fixture), tmp_path, folds=[4])
    with pytest.raises(ValueError, match="seeds repeat"):
        plan_runs(_recipe_args(emodb_fixture), tmp_path, seeds=[1, 1])


@pytest.mark.parametrize(
    "option", ["--fold", "--seed=3", "--output_dir", "--resume_from_checkpoint"]
)
def test_runner_options_are_refused_in_recipe_args(emodb_fixture, tmp_path, option):
    with pytest.raises(ValueError, match=option.split("=")[0]):
        plan_runs([*_recipe_args(emodb_fixture), option, "1"], tmp_path)


def test_run_command_resumes_or_restarts(tmp_path):
    run = CvRun(0, "loso-03", ("03",), 42, tmp_path / "fold-00")
    assert "--resume_from_checkpoint" not in run_command(run, "r.py", [], ["python"])
    run.output_dir.mkdir()
    (run.output_dir / "train.log").write_text("killed early\n")
    assert run_command(run, "r.py", [], ["python"])[-1] == "--overwrite_output_dir"
    checkpoint = run.output_dir / "checkpoints" / "step-6"
    checkpoint.mkdir(parents=True)
    (checkpoint / "loop_state.json").write_text("{}")
    command = run_command(run, "r.py", ["--a", "1"], ["python"])
    assert command[:4] == ["python", "r.py", "--a", "1"]
    assert command[-2:] == ["--resume_from_checkpoint", "latest"]


def test_failed_run_stops_with_its_folder_named(emodb_fixture, tmp_path):
    recipe = tmp_path / "broken.py"
    recipe.write_text("import sys\nsys.exit(3)\n")
    with pytest.raises(RuntimeError, match="exit status 3.*fold-00"):
        cross_validate(
            str(recipe), _recipe_args(emodb_fixture), tmp_path / "cv", launcher=[sys.executable]
        )


def test_other_options_in_the_same_folder_are_refused(emodb_fixture, tmp_path):
    recipe = tmp_path / "ok.py"
    recipe.write_text("")
    root = tmp_path / "cv"
    root.mkdir()
    (root / "cv_config.json").write_text(
        json.dumps({"recipe": "other.py", "recipe_args": [], "seeds": None})
    )
    (root / "fold-00").mkdir()
    with pytest.raises(FileExistsError, match="other options"):
        cross_validate(str(recipe), _recipe_args(emodb_fixture), root)
    assert (root / "fold-00").is_dir()


def test_cli_reports_errors_with_exit_status(emodb_fixture, tmp_path, capsys):
    assert sertune_main(["cv", str(tmp_path / "missing.py"), "--output_dir", str(tmp_path)]) == 2
    assert "missing.py" in capsys.readouterr().err
    args = [
        "cv",
        RECIPE,
        "--output_dir",
        str(tmp_path),
        "--",
        *_recipe_args(emodb_fixture),
        "--fold",
        "1",
    ]
    assert sertune_main(args) == 1
    assert "--fold" in capsys.readouterr().err
