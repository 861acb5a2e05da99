"""Model configs refuse inconsistent label maps, naming the field, in both families."""

from __future__ import annotations

import pytest

from sertune.models.cnn_lstm import CnnLstmConfig
from sertune.models.cnn_ser import CnnSerConfig
from sertune.models.factory import tiny_random_backbone_config
from sertune.models.wav2vec2_ser import SerConfig

CONFIGS = {
    "sertune-ser": lambda **kw: SerConfig(**kw),
    "sertune-cnn-ser": lambda **kw: CnnSerConfig(
        backbone_config=tiny_random_backbone_config(), **kw
    ),
    "sertune-cnn-lstm": lambda **kw: CnnLstmConfig(**kw),
}


@pytest.mark.parametrize("kind", sorted(CONFIGS))
@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"id2label": {0: "angry", 2: "sad"}}, "id2label: ids must be 0..1"),
        ({"id2label": {0: "angry", 1: "angry"}}, "id2label: duplicate names"),
        ({"id2label": {0: "angry", 1: "sad"}, "label2id": {"angry": 1, "sad": 0}}, "label2id"),
        ({"id2label": {0: "angry", 1: "sad"}, "label2id": {"angry": 0}}, "label2id"),
        ({"id2label": "angry,sad"}, "id2label: expected a mapping"),
    ],
)
def test_inconsistent_label_maps_are_refused(kind, labels, message):
    with pytest.raises(ValueError, match=message):
        CONFIGS[kind](**labels)


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_label_maps_from_json_keys_round_trip(kind, tmp_path):
    config = CONFIGS[kind](id2label={"0": "angry", "1": "sad"}, label2id={"angry": "0", "sad": "1"})
    assert config.id2label == {0: "angry", 1: "sad"}
    assert config.label2id == {"angry": 0, "sad": 1}
    config.save_pretrained(tmp_path)
    reloaded = type(config).from_pretrained(tmp_path)
    assert reloaded.id2label == config.id2label and reloaded.num_labels == 2
