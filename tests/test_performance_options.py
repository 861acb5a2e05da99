"""Loop options that trade speed and memory: gradient checkpointing, non-blocking copies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sertune.data import load_corpus
from sertune.models import build_cnn_model, build_feature_extractor, build_tiny_random_model
from sertune.models.logmel import LogMelFeatureExtractor
from sertune.training import TrainingConfig, make_accelerator, train


def _gradients(model, waveform, labels):
    # Dropout draws from torch, the encoder's time masks from numpy.
    torch.manual_seed(0)
    np.random.seed(0)
    model.train()
    model(waveform, labels=labels).loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_gradient_checkpointing_gives_the_same_gradients():
    plain = build_tiny_random_model(num_labels=3, seed=2, encoder_overrides={"hidden_dropout": 0.1})
    checkpointed = build_tiny_random_model(
        num_labels=3, seed=2, encoder_overrides={"hidden_dropout": 0.1}
    )
    checkpointed.activation_checkpointing_enable(
        activation_checkpointing_kwargs={"use_reentrant": False}
    )
    assert checkpointed.encoder.encoder.gradient_checkpointing
    waveform, labels = torch.randn(2, 16000), torch.tensor([0, 2])
    expected = _gradients(plain, waveform, labels)
    actual = _gradients(checkpointed, waveform, labels)
    assert expected.keys() == actual.keys() and len(expected) > 10
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=1e-5, atol=1e-6, msg=name)


def _config(tmp_path, **options):
    return TrainingConfig(
        output_dir=str(tmp_path / "run"),
        max_steps=2,
        per_device_train_batch_size=4,
        dataloader_num_workers=0,
        use_cpu=True,
        report_to="none",
        **options,
    )


def test_the_loop_turns_gradient_checkpointing_on(emodb_fixture, tmp_path):
    corpus = load_corpus("emodb", emodb_fixture)
    speakers = np.asarray(corpus["speaker"])
    rows = corpus.select(np.flatnonzero(speakers != "16").tolist())
    model = build_tiny_random_model(id2label=dict(enumerate(corpus.features["label"].names)))
    result = train(
        model,
        build_feature_extractor(model.config),
        train_dataset=rows,
        eval_dataset=None,
        test_dataset=None,
        config=_config(tmp_path, gradient_checkpointing=True),
    )
    assert result.global_step == 2
    assert model.encoder.encoder.gradient_checkpointing

    cnn = build_cnn_model("tiny-random-cnn-lstm", id2label=model.config.id2label)
    with pytest.raises(ValueError, match="does not support gradient checkpointing"):
        train(
            cnn,
            LogMelFeatureExtractor(n_mels=32, segment_frames=32),
            train_dataset=rows,
            eval_dataset=None,
            test_dataset=None,
            config=_config(tmp_path / "cnn", gradient_checkpointing=True),
        )


def test_device_copies_are_non_blocking(tmp_path):
    accelerator = make_accelerator(_config(tmp_path))
    assert accelerator.dataloader_config.non_blocking


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("padding_value", [0.0, 0.5])
def test_pad_waveforms_matches_the_feature_extractor(normalize, padding_value):
    from transformers import Wav2Vec2FeatureExtractor

    from sertune.training.data import PADDING_COUNTS_KEY, PaddingCollator, pad_waveforms

    rng = np.random.default_rng(3)
    waveforms = [
        (rng.standard_normal(n) * 0.2 + 0.05).astype(np.float32) for n in (400, 16000, 9001, 1)
    ]
    extractor = Wav2Vec2FeatureExtractor(
        do_normalize=normalize, padding_value=padding_value, return_attention_mask=False
    )
    expected = extractor(
        waveforms,
        sampling_rate=16_000,
        padding=True,
        return_attention_mask=True,
        return_tensors="pt",
    )
    actual = pad_waveforms(waveforms, padding_value=padding_value, normalize=normalize)
    assert actual["input_values"].dtype == expected["input_values"].dtype
    torch.testing.assert_close(actual["input_values"], expected["input_values"], rtol=0, atol=0)
    torch.testing.assert_close(actual["attention_mask"], expected["attention_mask"], rtol=0, atol=0)

    batch = PaddingCollator(extractor)(
        [{"input_values": w, "labels": i} for i, w in enumerate(waveforms)]
    )
    torch.testing.assert_close(batch["input_values"], expected["input_values"], rtol=0, atol=0)
    assert batch[PADDING_COUNTS_KEY].tolist() == [sum(map(len, waveforms)), 4 * 16000]
