"""Starting from a trained model: sertune run folders and audio-classification checkpoints."""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from pathlib import Path

import pytest
import torch
from transfer_checkpoints import SUPERB_LABELS, write_superb_checkpoint
from transformers import AutoModelForAudioClassification

from sertune.data.taxonomy import common_label_name
from sertune.models import (
    build_cnn_model,
    build_feature_extractor,
    build_ser_model,
    build_tiny_random_cnn_model,
    build_tiny_random_model,
    load_feature_extractor,
    tiny_random_backbone_config,
    tiny_random_encoder_config,
)
from sertune.models.factory.transfer import head_row_map

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "wav2vec2_emodb.py"
OLD = {0: "angry", 1: "happy", 2: "neutral", 3: "sad"}
SUPERB = SUPERB_LABELS


def _classifier(model) -> torch.nn.Linear:
    return model.head.classifier


def _encoder_equal(a, b, prefix: str) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    names = [n for n in sa if n.startswith(prefix)]
    return bool(names) and all(torch.equal(sa[n], sb[n]) for n in names)


@pytest.fixture(scope="module")
def ser_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ser-run")
    model = build_tiny_random_model(id2label=OLD, seed=3, head_hidden_size=8)
    model.save_pretrained(folder)
    build_feature_extractor(model.config).save_pretrained(folder)
    return folder


def test_label_names_map_onto_the_taxonomy():
    assert common_label_name("ang") == "angry"
    assert common_label_name(" Anger ") == "angry"
    assert common_label_name("neu") == "neutral"
    assert common_label_name("excited") is None
    assert head_row_map(SUPERB, {0: "angry", 1: "fear", 2: "neutral"}) == {0: 2, 2: 0}


@pytest.mark.parametrize(
    "new_labels, rows",
    [
        # Same size, other classes: only angry and sad are shared.
        ({0: "angry", 1: "bored", 2: "disgust", 3: "sad"}, {0: 0, 3: 3}),
        # Other size and order.
        ({0: "sad", 1: "fear", 2: "angry"}, {0: 3, 2: 0}),
    ],
)
def test_start_from_a_run_keeps_encoder_head_and_shared_rows(ser_run, new_labels, rows, caplog):
    source = build_ser_model(str(ser_run), id2label=OLD)
    caplog.clear()  # only the second build's log (an earlier test may have set INFO globally)
    with caplog.at_level(logging.INFO, logger="sertune.models.factory.transfer"):
        model = build_ser_model(str(ser_run), id2label=new_labels, head_hidden_size=256)
    assert model.config.id2label == new_labels
    assert model.config.head_hidden_size == 8  # the run's head is kept
    assert _encoder_equal(model, source, "encoder.")
    assert torch.equal(model.head.dense.weight, source.head.dense.weight)
    old_w, new_w = _classifier(source).weight, _classifier(model).weight
    for new_id in new_labels:
        if new_id in rows:
            assert torch.equal(new_w[new_id], old_w[rows[new_id]])
        else:
            assert not any(torch.equal(new_w[new_id], row) for row in old_w)
    log = caplog.text
    assert "classifier rows kept" in log and "angry <- angry" in log
    assert "happy" in log.split("dropped classes:")[1]


def test_reinit_head_keeps_only_the_encoder(ser_run):
    source = build_ser_model(str(ser_run), id2label=OLD)
    model = build_ser_model(str(ser_run), id2label=OLD, reinit_head=True, head_hidden_size=12)
    assert model.config.head_hidden_size == 12
    assert _encoder_equal(model, source, "encoder.")
    assert model.head.classifier.weight.shape == (4, 12)


@pytest.mark.parametrize("family", ["wav2vec2", "hubert", "wavlm"])
def test_superb_checkpoint_labels_are_mapped_by_name(family, tmp_path):
    superb_checkpoint = write_superb_checkpoint(tmp_path, family)
    hf = AutoModelForAudioClassification.from_pretrained(superb_checkpoint).eval()
    new_labels = {0: "angry", 1: "happy", 2: "neutral", 3: "sad", 4: "fear"}
    model = build_ser_model(str(superb_checkpoint), id2label=new_labels).eval()
    assert model.config.pooling == "mean" and model.config.head_activation == "linear"
    waves = torch.randn(2, 4000)
    with torch.no_grad():
        expected = hf(waves).logits
        logits = model(waves).logits
    # angry <- ang (2), happy <- hap (1), neutral <- neu (0), sad <- sad (3): the same function.
    torch.testing.assert_close(logits[:, :4], expected[:, [2, 1, 0, 3]], rtol=1e-4, atol=1e-5)


def test_start_from_a_cnn_run(tmp_path):
    source = build_tiny_random_cnn_model("resnet", id2label=OLD, seed=1)
    source.save_pretrained(tmp_path)
    model = build_cnn_model(str(tmp_path), id2label={0: "sad", 1: "angry"}, head_dropout=0.0)
    assert _encoder_equal(model, source, "backbone.")
    assert torch.equal(model.head.classifier.weight[0], source.head.classifier.weight[3])
    assert torch.equal(model.head.classifier.weight[1], source.head.classifier.weight[0])
    assert model.config.head_dropout == 0.0


def test_start_from_a_cnn_lstm_run(tmp_path):
    source = build_cnn_model("tiny-random-cnn-lstm", id2label=OLD, seed=2)
    source.save_pretrained(tmp_path)
    model = build_cnn_model(str(tmp_path), id2label={0: "happy", 1: "calm"}, n_mels=128)
    assert model.config.n_mels == source.config.n_mels  # the body is the run's
    assert _encoder_equal(model, source, "cnn.")
    assert torch.equal(model.head.classifier.weight[0], source.head.classifier.weight[1])


def test_a_checkpoint_of_the_other_family_is_one_clear_error(ser_run, tmp_path):
    with pytest.raises(ValueError, match="cannot start from .*sertune run folder.*expected"):
        build_cnn_model(str(ser_run), id2label=OLD)
    build_tiny_random_cnn_model("resnet", id2label=OLD).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=f"cannot start from '{tmp_path}'.*wav2vec 2.0"):
        build_ser_model(str(tmp_path), id2label=OLD)


def test_recipe_starts_from_a_run_folder(ser_run, emodb_fixture, tmp_path):
    spec = importlib.util.spec_from_file_location("wav2vec2_emodb_transfer", RECIPE)
    recipe = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = recipe
    spec.loader.exec_module(recipe)
    report = recipe.main(
        [
            *("--model_name_or_path", str(ser_run), "--data_dir", str(emodb_fixture)),
            *("--output_dir", str(tmp_path), "--max_steps", "2", "--seed", "0"),
            *("--labels", "angry", "sad", "fear", "--per_device_train_batch_size", "4"),
            *("--test_speakers", "16", "--validation_speakers", "10"),
        ]
    )
    assert report["label_names"] == ["angry", "fear", "sad"]
    run_config = json.loads((tmp_path / "config.json").read_text())
    assert run_config["head_hidden_size"] == 8  # the started-from run's head
    assert run_config["id2label"] == {"0": "angry", "1": "fear", "2": "sad"}
    # A run folder of a run started from a run folder is a start again.
    reloaded = build_ser_model(str(tmp_path), id2label={0: "angry", 1: "sad"})
    assert reloaded.config.num_labels == 2


def test_random_init_takes_only_the_architecture(ser_run, tmp_path):
    # random:<folder> of an encoder config, or of a trained run: the same architecture, random
    # weights that depend on the seed only.
    encoder_dir = tmp_path / "encoder"
    tiny_random_encoder_config("wav2vec2", num_hidden_layers=3).save_pretrained(encoder_dir)
    first = build_ser_model(f"random:{encoder_dir}", id2label=OLD, seed=5)
    again = build_ser_model(f"random:{encoder_dir}", id2label=OLD, seed=5)
    other = build_ser_model(f"random:{encoder_dir}", id2label=OLD, seed=6)
    assert first.config.encoder_config.num_hidden_layers == 3
    assert _encoder_equal(first, again, "encoder.") and not _encoder_equal(first, other, "encoder.")
    extractor = load_feature_extractor(f"random:{encoder_dir}", first.config)
    assert extractor.return_attention_mask  # a layer-norm feature encoder is padding-safe

    trained = AutoModelForAudioClassification.from_pretrained(ser_run)
    fresh = build_ser_model(f"random:{ser_run}", id2label={0: "calm", 1: "sad"}, seed=5)
    assert fresh.config.encoder_config.hidden_size == trained.config.encoder_config.hidden_size
    assert not _encoder_equal(fresh, trained, "encoder.")
    assert fresh.config.id2label == {0: "calm", 1: "sad"}


def test_random_init_of_an_image_backbone_is_refused_for_wav2vec2(tmp_path):
    tiny_random_backbone_config("resnet").save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=f"{tmp_path} holds a 'resnet' config, not one of"):
        build_ser_model(f"random:{tmp_path}", id2label=OLD)
