"""``sertune compare``: cross-validations paired fold by fold."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sertune.cli import main
from sertune.training.compare import load_fold_scores, paired_difference, sign_test
from sertune.training.cv import write_cv_outputs

SPEAKERS = ["03", "08", "09", "10"]


def _write_cv(folder, uar_by_speaker: dict[str, list[float]]):
    """A cross-validation's outputs through the real writer: one run per (fold, seed)."""
    folder.mkdir()
    folds, table = [], []
    for index, (speaker, uars) in enumerate(uar_by_speaker.items()):
        folds.append({"uar": np.mean(uars), "wa": 0.5, "macro_f1": 0.4,
                      "confusion_matrix": np.eye(2, dtype=int)})  # fmt: skip
        for seed, uar in enumerate(uars):
            table.append({"fold": index, "fold_name": f"loso-{speaker}",
                          "test_speakers": [speaker], "seed": seed,
                          "uar": uar, "wa": 0.5, "macro_f1": 0.4, "best_validation_uar": None,
                          "global_step": 1, "train_seconds": None})  # fmt: skip
    write_cv_outputs(folder, folds, table, ["angry", "sad"], seeds=[0, 1])
    return folder


def test_sign_test_matches_the_binomial_tails():
    assert sign_test(8, 2) == pytest.approx(2 * (1 + 10 + 45) / 1024)
    assert sign_test(10, 0) == pytest.approx(2 / 1024)
    assert sign_test(5, 5) == 1.0 and sign_test(0, 0) == 1.0
    assert sign_test(2, 8) == sign_test(8, 2)


def test_differences_are_paired_by_fold_whatever_the_order(tmp_path):
    baseline = _write_cv(tmp_path / "a", {s: [0.5] for s in SPEAKERS})
    # Another fold order, and two seeds of loso-08 averaged first.
    other = _write_cv(tmp_path / "b", {"10": [0.5], "03": [0.7], "09": [0.4], "08": [0.6, 0.8]})
    paired = paired_difference(
        load_fold_scores(baseline), load_fold_scores(other / "cv_results.json")
    )
    np.testing.assert_allclose(paired.differences, [0.2, 0.2, -0.1, 0.0], atol=1e-12)
    assert (paired.up, paired.down, paired.tied) == (2, 1, 1)
    assert paired.mean == pytest.approx(0.075)
    assert paired.std == pytest.approx(np.std([0.2, 0.2, -0.1, 0.0], ddof=1))


def test_other_folds_are_refused_by_name(tmp_path):
    baseline = load_fold_scores(_write_cv(tmp_path / "a", {s: [0.5] for s in SPEAKERS}))
    other = load_fold_scores(_write_cv(tmp_path / "b", {s: [0.5] for s in ["03", "08", "11"]}))
    with pytest.raises(ValueError, match=r"only in the first: \['loso-11'\]; only in the second: "
                       r"\['loso-09', 'loso-10'\]"):  # fmt: skip
        paired_difference(baseline, other)


def test_compare_command_prints_and_writes_the_table(tmp_path, capsys):
    baseline = _write_cv(tmp_path / "a", {s: [0.5] for s in SPEAKERS})
    other = _write_cv(tmp_path / "b", {s: [0.6] for s in SPEAKERS})
    output = tmp_path / "table.md"
    status = main(["compare", str(baseline), str(other), "--names", "scratch", "transfer",
                   "--output", str(output)])  # fmt: skip
    assert status == 0
    printed = capsys.readouterr().out
    assert "| transfer | 0.600 ± 0.000 |" in printed
    assert "+0.100 ± 0.000 | 4 / 0 / 0 | 0.125 |" in printed
    assert output.read_text() in printed


@pytest.mark.parametrize(
    "extra, status, message",
    [
        (["--metric", "recall"], 2, "--metric recall: expected one of uar, wa, macro_f1"),
        (["--names", "only-one"], 2, "--names gives 1 names for 2 cross-validations"),
        (["{tmp}/nowhere"], 1, "nowhere: no cross-validation results (give a folder"),
        (["{tmp}/empty"], 1, "empty/cv_results.json: no cross-validation results"),
    ],
)
def test_compare_errors_are_one_line(extra, status, message, tmp_path, capsys):
    baseline = _write_cv(tmp_path / "a", {s: [0.5] for s in SPEAKERS})
    (tmp_path / "empty").mkdir()
    argv = ["compare", str(baseline)] + [a.format(tmp=tmp_path) for a in extra]
    if not extra[0].startswith("{"):
        argv.insert(2, str(baseline))
    assert main(argv) == status
    assert message in capsys.readouterr().err


def test_a_file_that_is_not_cv_results_is_named(tmp_path):
    path = tmp_path / "cv_results.json"
    path.write_text(json.dumps({"runs": [{"fold": 0}]}))
    with pytest.raises(ValueError, match="not a cross-validation's results"):
        load_fold_scores(tmp_path)
