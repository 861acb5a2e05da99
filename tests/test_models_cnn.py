"""Tests of the CNN family: ImageNet backbones over spectrogram segments, and the CNN-LSTM baseline.

Every model is tiny and randomly initialised from a config (nothing is downloaded). The inputs
are built here in the shared interface's shape, ``input_features`` ``[batch, segments, 3, n_mels,
frames]`` with a ``[batch, segments]`` mask, independently of the feature extractor.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402
from transformers import (  # noqa: E402
    AutoConfig,
    AutoModelForAudioClassification,
    AutoModelForImageClassification,
)
from transformers.modeling_outputs import SequenceClassifierOutput  # noqa: E402

from sertune.models import register_cnn_auto_classes  # noqa: E402
from sertune.models.aggregators import (  # noqa: E402
    AGGREGATOR_KINDS,
    LstmAggregator,
    build_segment_aggregator,
    sequence_lengths,
)
from sertune.models.backbones import (  # noqa: E402
    CNN_BACKBONE_FAMILIES,
    IMAGENET_MEAN,
    IMAGENET_STD,
    backbone_depths,
)
from sertune.models.cnn_lstm import CnnLstmConfig, CnnLstmForAudioClassification  # noqa: E402
from sertune.models.cnn_ser import CnnSerConfig, CnnSerForAudioClassification  # noqa: E402
from sertune.models.factory import (  # noqa: E402
    TINY_SEGMENT_SHAPE,
    build_cnn_model,
    build_tiny_random_cnn_lstm_model,
    build_tiny_random_cnn_model,
    tiny_random_backbone_config,
    tiny_random_cnn_config,
    tiny_random_cnn_family,
)

ID2LABEL = {0: "angry", 1: "happy", 2: "neutral", 3: "sad"}
CHANNELS, N_MELS, FRAMES = TINY_SEGMENT_SHAPE
CUSTOM_CODE_FILES = ("cnn_ser.py", "backbones.py", "aggregators.py", "heads.py", "pooling.py")
# The CNN-LSTM's own modelling file (moved out of cnn_ser.py: one model family per module).
CNN_LSTM_CODE_FILES = ("cnn_lstm.py", "aggregators.py", "heads.py", "pooling.py")

# Every model kind under test: the four backbone families and the CNN-LSTM baseline.
MODEL_KINDS = (*CNN_BACKBONE_FAMILIES, "cnn-lstm")


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """Tiny models run faster on one thread, and the test machine's two cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def build(kind: str, seed: int = 0, **options) -> nn.Module:
    """A tiny random model of ``kind`` (a backbone family or ``"cnn-lstm"``)."""
    if kind == "cnn-lstm":
        return build_tiny_random_cnn_lstm_model(id2label=ID2LABEL, seed=seed, **options)
    return build_tiny_random_cnn_model(kind, id2label=ID2LABEL, seed=seed, **options)


def segments(
    *counts: int, labels: list[int] | None = None, seed: int = 0, padding_value: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Segmented log-mel-like features and their segment mask, one row per segment count.

    With ``labels`` every segment of a row gets a bright horizontal band whose mel position
    depends on the class, on top of noise: a pattern any of the models can learn quickly.
    Padded segments hold ``padding_value``.
    """
    generator = torch.Generator().manual_seed(seed)
    batch = torch.full((len(counts), max(counts), CHANNELS, N_MELS, FRAMES), padding_value)
    mask = torch.zeros(len(counts), max(counts), dtype=torch.long)
    band = N_MELS // len(ID2LABEL)
    for row, count in enumerate(counts):
        values = 0.5 * torch.randn(count, CHANNELS, N_MELS, FRAMES, generator=generator)
        if labels is not None:
            values[:, 0, labels[row] * band : labels[row] * band + band // 2] += 2.0
        batch[row, :count] = values
        mask[row, :count] = 1
    return batch, mask


# ------------------------------------------------------------------------------------------------
# Aggregators and backbone helpers


def test_sequence_lengths_checks_the_mask():
    assert sequence_lengths(torch.tensor([[1, 1, 0], [1, 0, 0]])).tolist() == [2, 1]
    with pytest.raises(ValueError, match="prefix"):
        sequence_lengths(torch.tensor([[1, 0, 1]]))
    with pytest.raises(ValueError, match="at least one"):
        sequence_lengths(torch.tensor([[0, 0, 0]]))


@pytest.mark.parametrize("kind", AGGREGATOR_KINDS)
def test_each_aggregator_ignores_padding(kind):
    torch.manual_seed(0)
    aggregator = build_segment_aggregator(kind, input_size=6, lstm_hidden_size=5).eval()
    expected_size = {"blstm_attention": 10, "attention": 6, "mean": 6}[kind]
    assert aggregator.output_size == expected_size
    utterance = torch.randn(1, 3, 6)
    padded = torch.cat([utterance, 1e3 * torch.randn(1, 2, 6)], dim=1)
    mask = torch.tensor([[True] * 3 + [False] * 2])

    pooled = aggregator(padded, mask)

    assert pooled.shape == (1, expected_size)
    torch.testing.assert_close(pooled, aggregator(utterance, None), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="unknown aggregator"):
        build_segment_aggregator("max", input_size=6)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_last_state_is_the_state_after_the_last_real_step(bidirectional):
    torch.manual_seed(0)
    aggregator = LstmAggregator(4, 3, bidirectional=bidirectional, pooling="last").eval()
    sequence = torch.randn(2, 5, 4)
    mask = torch.tensor([[True] * 5, [True] * 2 + [False] * 3])

    final = aggregator(sequence, mask)

    outputs, _ = aggregator.lstm(sequence[1:, :2])
    expected = (
        outputs[0, -1] if not bidirectional else torch.cat([outputs[0, -1, :3], outputs[0, 0, 3:]])
    )
    torch.testing.assert_close(final[1], expected)
    assert final.shape == (2, 6 if bidirectional else 3)


def test_backbone_depths_number_stages_in_order():
    names = [
        "embedder.conv.weight",
        "encoder.stages.0.layers.0.conv.weight",
        "encoder.stages.0.layers.1.conv.weight",
        "encoder.stages.1.layers.0.conv.weight",
        "layernorm.weight",
    ]
    depths, deepest = backbone_depths(names)
    assert deepest == 2
    assert [depths[n] for n in names] == [0, 1, 1, 2, 2]
    timm_names = ["conv1.weight", "layer1.0.conv1.weight", "layer2.0.conv1.weight"]
    assert list(backbone_depths(timm_names)[0].values()) == [0, 1, 2]


# ------------------------------------------------------------------------------------------------
# Both models, per kind


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_forward_shapes(kind):
    model = build(kind).eval()
    inputs, mask = segments(3, 1)

    output = model(
        inputs, attention_mask=mask, labels=torch.tensor([0, 3]), output_hidden_states=True
    )

    assert isinstance(output, SequenceClassifierOutput)
    assert output.logits.shape == (2, len(ID2LABEL))
    assert output.loss.shape == ()
    (hidden,) = output.hidden_states
    if kind == "cnn-lstm":
        steps = FRAMES // model.config.time_reduction
        assert hidden.shape == (2, 3 * steps, model.config.lstm_input_size)
        assert torch.all(hidden[1, steps:] == 0)
    else:
        assert hidden.shape == (2, 3, model.embedding_size)
        assert torch.all(hidden[1, 1:] == 0) and hidden[1, 0].abs().sum() > 0

    plain = model(inputs, attention_mask=mask)
    assert plain.loss is None and plain.hidden_states is None
    torch.testing.assert_close(plain.logits, output.logits)
    as_tuple = model(inputs, attention_mask=mask, return_dict=False)
    torch.testing.assert_close(as_tuple[0], output.logits)
    # No mask means every segment is real.
    full, _ = segments(2, 2, seed=1)
    torch.testing.assert_close(
        model(full).logits, model(full, attention_mask=torch.ones(2, 2)).logits
    )


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_loss_falls_with_adamw(kind):
    torch.manual_seed(0)
    model = build(kind).train()
    labels = [0, 1, 2, 3, 0, 1, 2, 3]
    inputs, mask = segments(2, 3, 1, 2, 3, 2, 2, 1, labels=labels, seed=1)
    optimizer = torch.optim.AdamW(
        model.parameter_groups(head_lr=3e-2, encoder_lr=3e-3, weight_decay=0.01)
    )

    losses = []
    for _ in range(10):
        loss = model(inputs, attention_mask=mask, labels=torch.tensor(labels)).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())

    assert losses[-1] < losses[0] - 0.2, losses


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_save_and_reload_give_identical_logits(kind, tmp_path):
    model = build(kind).eval()
    inputs, mask = segments(2, 3, seed=2)
    expected = model(inputs, attention_mask=mask).logits

    model.save_pretrained(tmp_path)

    assert (tmp_path / "model.safetensors").is_file()
    assert not (tmp_path / "pytorch_model.bin").exists()
    code_files = CNN_LSTM_CODE_FILES if kind == "cnn-lstm" else CUSTOM_CODE_FILES
    for module_file in code_files:
        assert (tmp_path / module_file).is_file(), module_file
    saved = json.loads((tmp_path / "config.json").read_text())
    model_class = type(model)
    config_class = model_class.config_class
    assert saved["model_type"] == config_class.model_type
    module = code_files[0].removesuffix(".py")
    assert saved["auto_map"] == {
        "AutoConfig": f"{module}.{config_class.__name__}",
        "AutoModelForAudioClassification": f"{module}.{model_class.__name__}",
    }
    if kind != "cnn-lstm":
        assert saved["backbone_config"]["model_type"] == kind

    reloaded = model_class.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(
        reloaded(inputs, attention_mask=mask).logits, expected, rtol=0, atol=1e-6
    )
    assert reloaded.config.id2label == ID2LABEL
    assert reloaded.config.label2id == {name: i for i, name in ID2LABEL.items()}

    register_cnn_auto_classes()
    auto = AutoModelForAudioClassification.from_pretrained(tmp_path).eval()
    assert type(auto) is model_class
    torch.testing.assert_close(
        auto(inputs, attention_mask=mask).logits, expected, rtol=0, atol=1e-6
    )
    assert type(AutoConfig.from_pretrained(tmp_path)) is config_class


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        *[
            pytest.param(family, {}, id=f"{family}-blstm_attention")
            for family in CNN_BACKBONE_FAMILIES
        ],
        pytest.param("resnet", {"aggregator": "attention"}, id="resnet-attention"),
        pytest.param("resnet", {"aggregator": "mean"}, id="resnet-mean"),
        pytest.param(
            "resnet",
            {"lstm_layers": 2, "imagenet_normalize": True, "learnable_input_norm": True},
            id="resnet-2-layers-normalised",
        ),
        pytest.param("cnn-lstm", {"aggregator": "last"}, id="cnn-lstm-last"),
        pytest.param("cnn-lstm", {"aggregator": "attention"}, id="cnn-lstm-attention"),
        pytest.param(
            "cnn-lstm", {"bidirectional": True, "pool_time": False}, id="cnn-lstm-bidirectional"
        ),
    ],
)
def test_padded_segments_do_not_change_logits(kind, options):
    model = build(kind, **options).eval()
    alone, _ = segments(2, seed=3)
    # The same utterance beside a longer one, its padded segments full of garbage.
    batch, mask = segments(4, 2, seed=4, padding_value=1e3)
    batch[1, :2] = alone[0]

    with torch.no_grad():
        expected = model(alone).logits
        batched = model(batch, attention_mask=mask).logits

    torch.testing.assert_close(batched[1:], expected, rtol=0, atol=1e-5)


# ------------------------------------------------------------------------------------------------
# Pretrained-backbone model: options, groups, freezing


def test_parameter_groups_split_backbone_and_head():
    model = build("resnet", learnable_input_norm=True)
    groups = model.parameter_groups(
        head_lr=1e-3, encoder_lr=1e-4, weight_decay=0.05, layer_decay=0.5
    )
    by_name = {group["name"]: group for group in groups}

    grouped = [id(p) for group in groups for p in group["params"]]
    assert len(grouped) == len(set(grouped)) == len(list(model.parameters()))
    backbone = {id(p) for p in model.backbone.parameters()}
    for group in groups:
        ids = {id(p) for p in group["params"]}
        assert group["name"].startswith("encoder") == (ids <= backbone), group["name"]
        assert group["name"].startswith("head") == ids.isdisjoint(backbone), group["name"]
        if group["name"].endswith("no_decay"):
            assert group["weight_decay"] == 0.0
            assert all(p.ndim == 1 for p in group["params"])
        else:
            assert group["weight_decay"] == 0.05
            assert all(p.ndim >= 2 for p in group["params"])
    # Tiny ResNet: stem, then two stages; the last stage trains at encoder_lr.
    assert by_name["encoder.2"]["lr"] == pytest.approx(1e-4)
    assert by_name["encoder.1"]["lr"] == pytest.approx(5e-5)
    assert by_name["encoder.0"]["lr"] == pytest.approx(2.5e-5)
    assert by_name["head"]["lr"] == 1e-3
    assert model.input_norm.scale in by_name["head.no_decay"]["params"]
    torch.optim.AdamW(groups)


def test_freeze_backbone_for_linear_probing(tmp_path):
    model = build("mobilenet_v2")
    model.freeze_backbone()
    model.train()

    assert model.config.freeze_backbone is True
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert not model.backbone.training and model.head.training
    names = {group["name"] for group in model.parameter_groups(head_lr=1e-3, encoder_lr=1e-4)}
    assert names == {"head", "head.no_decay"}
    # Batch-norm statistics stay as they were while the head trains.
    running_means = [
        m.running_mean.clone() for m in model.backbone.modules() if isinstance(m, nn.BatchNorm2d)
    ]
    inputs, mask = segments(2, 3, labels=[0, 1])
    model(inputs, attention_mask=mask, labels=torch.tensor([0, 1])).loss.backward()
    after = [m.running_mean for m in model.backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(torch.equal(a, b) for a, b in zip(running_means, after, strict=True))

    model.save_pretrained(tmp_path)
    reloaded = CnnSerForAudioClassification.from_pretrained(tmp_path)
    assert not any(p.requires_grad for p in reloaded.backbone.parameters())
    reloaded.unfreeze_backbone()
    reloaded.train()
    assert (
        all(p.requires_grad for p in reloaded.backbone.parameters()) and reloaded.backbone.training
    )


def test_imagenet_normalize_applies_the_fixed_affine():
    plain = build("convnext", seed=5).eval()
    normalised = build("convnext", seed=5, imagenet_normalize=True).eval()
    inputs, mask = segments(2, 1, seed=6)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 1, 3, 1, 1)

    torch.testing.assert_close(
        normalised(inputs, attention_mask=mask).logits,
        plain((inputs - mean) / std, attention_mask=mask).logits,
    )
    assert normalised.config.image_mean == list(IMAGENET_MEAN)
    # The learnable affine starts as the identity.
    learnable = build("convnext", seed=5, learnable_input_norm=True).eval()
    assert not learnable.input_norm.mean
    torch.testing.assert_close(learnable.input_norm.scale, torch.ones(3))
    torch.testing.assert_close(learnable.input_norm.shift, torch.zeros(3))


@pytest.mark.parametrize(("family", "momentum"), [("mobilenet_v2", 0.003), ("efficientnet", 0.01)])
def test_tensorflow_batch_norm_momentum_is_converted(family, momentum):
    def momenta(model):
        return [m.momentum for m in model.backbone.modules() if isinstance(m, nn.BatchNorm2d)]

    # (EfficientNet's expansion batch norms already use PyTorch's default, 0.1.)
    fixed = momenta(build(family))
    assert max(fixed) <= 0.1 and min(fixed) == pytest.approx(momentum)
    assert max(momenta(build(family, fix_batch_norm_momentum=False))) > 0.5
    assert set(momenta(build("resnet"))) == {0.1}  # already PyTorch's default


def test_loss_uses_class_weights_and_label_smoothing():
    weights = [1.0, 2.0, 0.5, 1.0]
    model = build("resnet", class_weights=weights, label_smoothing=0.1).eval()
    inputs, mask = segments(2, 3, 1)
    labels = torch.tensor([1, 2, 3])

    output = model(inputs, attention_mask=mask, labels=labels)

    expected = F.cross_entropy(
        output.logits, labels, weight=torch.tensor(weights), label_smoothing=0.1
    )
    torch.testing.assert_close(output.loss, expected)
    model.loss_fn = lambda logits, target: logits.sum() * 0 + 7.0
    assert model(inputs, attention_mask=mask, labels=labels).loss.item() == 7.0


def test_config_validation_and_dict_round_trip():
    config = tiny_random_cnn_config("efficientnet", id2label=ID2LABEL, aggregator="mean")
    assert config.label2id == {name: i for i, name in ID2LABEL.items()}
    rebuilt = CnnSerConfig(**config.to_dict())
    assert type(rebuilt.backbone_config) is type(config.backbone_config)
    assert rebuilt.backbone_config.to_dict() == config.backbone_config.to_dict()
    assert rebuilt.aggregator == "mean" and rebuilt.id2label == ID2LABEL

    with pytest.raises(ValueError, match="unknown aggregator"):
        tiny_random_cnn_config(num_labels=2, aggregator="max")
    with pytest.raises(ValueError, match="class_weights"):
        tiny_random_cnn_config(num_labels=2, class_weights=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="model_type"):
        CnnSerConfig(backbone_config={"hidden_sizes": [8]})
    with pytest.raises(ValueError, match="3 channels"):
        tiny_random_cnn_config(num_labels=2, backbone_overrides={"num_channels": 1})
    with pytest.raises(ValueError, match="not both"):
        CnnSerConfig(backbone_config=tiny_random_backbone_config(), timm_backbone="resnet18")
    with pytest.raises(ValueError, match="give id2label or num_labels"):
        tiny_random_cnn_config()
    with pytest.raises(ValueError, match="freeze_encoder_steps"):
        CnnLstmConfig(num_labels=2, freeze_encoder_steps=10)
    with pytest.raises(ValueError, match="too small"):
        CnnLstmConfig(num_labels=2, n_mels=8)


def test_input_shape_errors_are_explicit():
    model = build("resnet").eval()
    with pytest.raises(ValueError, match="batch, segments, channels"):
        model(torch.randn(2, 3, N_MELS, FRAMES))
    with pytest.raises(ValueError, match="attention_mask must be"):
        model(torch.randn(2, 2, 3, N_MELS, FRAMES), attention_mask=torch.ones(2, 3))
    with pytest.raises(ValueError, match="3 channels"):
        model(torch.randn(1, 2, 1, N_MELS, FRAMES))
    lstm = build("cnn-lstm").eval()
    with pytest.raises(ValueError, match="n_mels=32"):
        lstm(torch.randn(1, 2, 3, 40, FRAMES))
    with pytest.raises(ValueError, match="shorter than"):
        lstm(torch.randn(1, 2, 3, N_MELS, 8))


# ------------------------------------------------------------------------------------------------
# CNN-LSTM baseline


def test_cnn_lstm_last_and_attention_differ():
    inputs, mask = segments(3, 2, seed=7)
    last = build("cnn-lstm", aggregator="last").eval()
    attention = build("cnn-lstm", aggregator="attention").eval()

    assert last.aggregator.pooling is None
    assert attention.aggregator.pooling is not None
    assert not torch.allclose(
        last(inputs, attention_mask=mask).logits, attention(inputs, attention_mask=mask).logits
    )
    # Every parameter trains from scratch at the head learning rate.
    groups = last.parameter_groups(head_lr=1e-3, encoder_lr=1e-5)
    assert {g["name"] for g in groups} == {"head", "head.no_decay"}
    assert all(g["lr"] == 1e-3 for g in groups)
    assert sum(len(g["params"]) for g in groups) == len(list(last.parameters()))


def test_cnn_lstm_with_one_channel_reads_only_the_static_log_mel():
    model = build("cnn-lstm", input_channels=1).eval()
    inputs, mask = segments(2, 3, seed=8)
    changed = inputs.clone()
    changed[:, :, 1:] = torch.randn_like(changed[:, :, 1:])

    assert model.cnn[0][0].in_channels == 1
    torch.testing.assert_close(
        model(inputs, attention_mask=mask).logits, model(changed, attention_mask=mask).logits
    )


def test_cnn_lstm_default_is_the_matlab_layout():
    config = CnnLstmConfig(num_labels=7)
    assert config.conv_channels == [16, 32, 64, 128]
    assert config.lstm_hidden_size == 256 and config.aggregator == "last"
    assert config.lstm_input_size == 128 * (64 // 16)
    model = CnnLstmForAudioClassification(config).eval()
    output = model(torch.randn(1, 2, 3, 64, 48))
    assert output.logits.shape == (1, 7)


# ------------------------------------------------------------------------------------------------
# Builders and timm


def test_tiny_random_names_and_seeding():
    assert tiny_random_cnn_family("tiny-random-cnn-convnext") == "convnext"
    assert tiny_random_cnn_family("tiny-random-cnn-lstm") == "lstm"
    assert tiny_random_cnn_family("microsoft/resnet-18") is None
    assert tiny_random_cnn_family("tiny-random-wavlm") is None
    with pytest.raises(ValueError, match="tiny-random-cnn-resnet"):
        tiny_random_cnn_family("tiny-random-cnn-vgg")

    first = build_cnn_model("tiny-random-cnn-efficientnet", id2label=ID2LABEL, seed=3)
    second = build_cnn_model("tiny-random-cnn-efficientnet", id2label=ID2LABEL, seed=3)
    assert isinstance(first, CnnSerForAudioClassification)
    assert first.config.backbone_config.model_type == "efficientnet"
    for (name, a), (_, b) in zip(
        first.state_dict().items(), second.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    other_seed = build_cnn_model("tiny-random-cnn-efficientnet", id2label=ID2LABEL, seed=4)
    assert not torch.equal(other_seed.head.classifier.weight, first.head.classifier.weight)

    assert isinstance(
        build_cnn_model("tiny-random-cnn-lstm", num_labels=3), CnnLstmForAudioClassification
    )
    full = build_cnn_model("cnn-lstm", id2label=ID2LABEL, n_mels=128)
    assert isinstance(full, CnnLstmForAudioClassification) and full.config.n_mels == 128


def test_from_backbone_pretrained_keeps_the_weights_and_the_checkpoint_statistics(tmp_path):
    # Hub checkpoints such as facebook/convnext-tiny-224 hold the ImageNet classifier too.
    torch.manual_seed(0)
    classifier = AutoModelForImageClassification.from_config(
        tiny_random_backbone_config("convnext", num_labels=10)
    )
    classifier.save_pretrained(tmp_path)
    backbone = classifier.convnext
    (tmp_path / "preprocessor_config.json").write_text(
        json.dumps({"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]})
    )

    model = build_cnn_model(str(tmp_path), id2label=ID2LABEL, aggregator="attention")

    assert model.config.backbone_config.model_type == "convnext"
    assert model.config.image_mean == [0.5, 0.5, 0.5] and model.config.image_std == [0.5] * 3
    assert model.config.num_labels == len(ID2LABEL)
    expected = backbone.state_dict()
    loaded = model.backbone.state_dict()
    assert expected.keys() == loaded.keys()
    for name, value in expected.items():
        assert torch.equal(value, loaded[name]), name


def _timm_installed() -> bool:
    try:
        import timm  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(_timm_installed(), reason="timm is installed")
def test_timm_backbone_without_timm_says_what_to_install():
    config = CnnSerConfig(timm_backbone="timm:resnet18", num_labels=2)
    assert config.timm_backbone == "resnet18" and config.backbone_config is None
    with pytest.raises(ImportError, match="pip install timm"):
        CnnSerForAudioClassification(config)


@pytest.mark.skipif(not _timm_installed(), reason="timm is not installed")
def test_timm_backbone(tmp_path):
    config = CnnSerConfig(
        timm_backbone="resnet18", id2label=ID2LABEL, lstm_hidden_size=16, head_hidden_size=16
    )
    model = CnnSerForAudioClassification(config).eval()
    inputs, mask = segments(2, 1)
    expected = model(inputs, attention_mask=mask).logits
    assert expected.shape == (2, len(ID2LABEL)) and model.embedding_size == 512
    model.save_pretrained(tmp_path)
    reloaded = CnnSerForAudioClassification.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(reloaded(inputs, attention_mask=mask).logits, expected)


# ------------------------------------------------------------------------------------------------
# Loading the saved code without sertune

REMOTE_CODE_CHECK = """
import sys
sys.modules["sertune"] = None
import torch
from transformers import AutoModelForAudioClassification

for folder in {folders!r}:
    model = AutoModelForAudioClassification.from_pretrained(folder, trust_remote_code=True).eval()
    check = torch.load(folder + "/check.pt")
    with torch.no_grad():
        logits = model(check["inputs"], attention_mask=check["mask"]).logits
    torch.testing.assert_close(logits, check["logits"], rtol=0, atol=1e-6)
    print(type(model).__module__, type(model).__name__)
assert not [m for m in sys.modules if m.startswith("sertune") and sys.modules[m] is not None]
"""


def test_trust_remote_code_loading_without_sertune(tmp_path):
    inputs, mask = segments(3, 2, seed=9)
    folders = []
    for kind in ("resnet", "cnn-lstm"):
        folder = tmp_path / kind
        model = build(kind).eval()
        model.save_pretrained(folder)
        with torch.no_grad():
            logits = model(inputs, attention_mask=mask).logits
        torch.save({"inputs": inputs, "mask": mask, "logits": logits}, folder / "check.pt")
        folders.append(str(folder))

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    run = subprocess.run(
        [sys.executable, "-c", REMOTE_CODE_CHECK.format(folders=folders)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert run.returncode == 0, run.stderr[-4000:]
    lines = run.stdout.strip().splitlines()
    assert [line.split()[1] for line in lines] == [
        "CnnSerForAudioClassification",
        "CnnLstmForAudioClassification",
    ]
    assert all(line.startswith("transformers_modules.") for line in lines), lines


# ------------------------------------------------------------------------------------------------
# The whole chain: waveforms -> log-mel feature extractor -> model -> pipeline


@pytest.mark.parametrize("kind", ["resnet", "cnn-lstm"])
def test_with_the_log_mel_feature_extractor(kind):
    logmel = pytest.importorskip("sertune.models.logmel")
    import numpy as np
    from transformers import pipeline

    extractor = logmel.LogMelFeatureExtractor(
        n_mels=N_MELS, segment_frames=FRAMES, segment_hop_frames=FRAMES // 2
    )
    model = build(kind).eval()
    rng = np.random.default_rng(0)
    short = rng.standard_normal(8_000).astype(np.float32)
    long = rng.standard_normal(16_000).astype(np.float32)

    def features(waveforms):
        return extractor(
            waveforms,
            sampling_rate=extractor.sampling_rate,
            padding=True,
            return_attention_mask=True,
            return_tensors="pt",
        )

    batch = features([long, short])
    assert batch["input_features"].shape[2:] == TINY_SEGMENT_SHAPE
    with torch.no_grad():
        batched = model(**batch, labels=torch.tensor([0, 1]))
        alone = model(**features([short])).logits
    assert batched.loss is not None
    torch.testing.assert_close(batched.logits[1:], alone, rtol=0, atol=1e-5)

    register_cnn_auto_classes()
    classify = pipeline("audio-classification", model=model, feature_extractor=extractor)
    result = classify(short)
    assert sorted(r["label"] for r in result) == sorted(ID2LABEL.values())
