"""``sertune evaluate``: any model on a corpus, classes matched by name, unknown ones reported."""

from __future__ import annotations

import json

import pytest
from transfer_checkpoints import write_superb_checkpoint

from sertune.cli import main
from sertune.models import (
    build_cnn_model,
    build_feature_extractor,
    build_tiny_random_cnn_model,
    build_tiny_random_model,
)
from sertune.models.logmel import LogMelFeatureExtractor
from sertune.training.corpus_eval import match_labels


@pytest.fixture(scope="module")
def superb_checkpoint(tmp_path_factory):
    return write_superb_checkpoint(tmp_path_factory.mktemp("superb"))


def test_labels_match_by_taxonomy_name():
    match = match_labels({0: "neu", 1: "hap", 2: "ang", 3: "sad"}, ["angry", "fear", "neutral"])
    assert match.shared == ((0, 2), (2, 0))
    assert match.corpus_only == ("fear",)
    assert match.model_only == ("hap", "sad")
    with pytest.raises(ValueError, match="share no name"):
        match_labels({0: "calm"}, ["angry"])


def test_evaluate_reports_classes_the_model_lacks(superb_checkpoint, emodb_fixture, tmp_path):
    out = tmp_path / "eval"
    status = main(
        [
            *("evaluate", str(superb_checkpoint), "--corpus", "emodb"),
            *("--data_dir", str(emodb_fixture), "--output_dir", str(out)),
        ]
    )
    assert status == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["label_names"] == ["angry", "happy", "neutral", "sad"]
    test = report["test"]
    # EMO-DB's bored, disgust and fear are unknown to a SUPERB model: left out, not mapped.
    assert test["classes_unknown_to_model"] == {"bored": 4, "disgust": 4, "fear": 4}
    assert test["utterances_left_out"] == 12
    assert test["num_samples"] == 16
    assert test["model_classes_not_in_corpus"] == []
    assert report["fold"] is None
    assert (out / "confusion_matrix.png").stat().st_size > 0


def test_evaluate_a_run_folder_on_a_fold(emodb_fixture, tmp_path):
    run = tmp_path / "run"
    model = build_tiny_random_model(id2label={0: "angry", 1: "calm", 2: "sad"})
    model.save_pretrained(run)
    build_feature_extractor(model.config).save_pretrained(run)
    out = tmp_path / "eval"
    status = main(
        [
            *("evaluate", str(run), "--corpus", "emodb", "--data_dir", str(emodb_fixture)),
            *("--output_dir", str(out), "--protocol", "loso", "--fold", "1"),
        ]
    )
    assert status == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["label_names"] == ["angry", "sad"]
    assert report["test"]["model_classes_not_in_corpus"] == ["calm"]
    assert report["test"]["num_samples"] == 2  # one speaker's angry and sad utterances
    assert len(report["fold"]["test_speakers"]) == 1


@pytest.mark.parametrize("family", ["resnet", "cnn-lstm"])
def test_evaluate_a_cnn_family_run_folder(family, emodb_fixture, tmp_path):
    run = tmp_path / "run"
    labels = {0: "sad", 1: "angry", 2: "calm"}
    if family == "cnn-lstm":
        model = build_cnn_model("tiny-random-cnn-lstm", id2label=labels)
    else:
        model = build_tiny_random_cnn_model(family, id2label=labels)
    model.save_pretrained(run)
    LogMelFeatureExtractor(n_mels=32, segment_frames=32).save_pretrained(run)
    out = tmp_path / "eval"
    status = main(
        [
            *("evaluate", str(run), "--corpus", "emodb", "--data_dir", str(emodb_fixture)),
            *("--output_dir", str(out), "--labels", "angry", "sad", "neutral"),
        ]
    )
    assert status == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["label_names"] == ["angry", "sad"]
    test = report["test"]
    assert test["classes_unknown_to_model"] == {"neutral": 4}
    assert test["model_classes_not_in_corpus"] == ["calm"]
    assert test["num_samples"] == 8
    assert len(test["recall"]) == 2
    assert (out / "confusion_matrix.png").stat().st_size > 0


def test_evaluate_without_shared_classes_is_one_error(emodb_fixture, tmp_path, capsys):
    run = tmp_path / "run"
    model = build_tiny_random_model(id2label={0: "calm", 1: "surprise"})
    model.save_pretrained(run)
    build_feature_extractor(model.config).save_pretrained(run)
    status = main(
        [
            *("evaluate", str(run), "--corpus", "emodb", "--data_dir", str(emodb_fixture)),
            *("--output_dir", str(tmp_path / "eval")),
        ]
    )
    assert status == 1
    assert "share no name" in capsys.readouterr().err
