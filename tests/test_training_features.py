"""The loop's trust features end to end: losses, samplers, augmentation, early stopping, logs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sertune.data import load_corpus
from sertune.models import build_cnn_model, build_feature_extractor, build_tiny_random_model
from sertune.models.logmel import LogMelFeatureExtractor
from sertune.training import TrainingConfig, train
from sertune.training.augment import AugmentationArguments
from sertune.training.run_folder import CURVES_FILE, LOG_FILE

from corpus_fixtures import tone, write_emodb


def _records(output_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (output_dir / LOG_FILE).read_text().splitlines()]


def _split(corpus):
    speakers = np.asarray(corpus["speaker"])
    rows = lambda names: np.flatnonzero(np.isin(speakers, names)).tolist()  # noqa: E731
    return (
        corpus.select(rows(["03", "08"])),
        corpus.select(rows(["10"])),
        corpus.select(rows(["16"])),
    )


def _cnn_lstm(corpus):
    return build_cnn_model(
        "tiny-random-cnn-lstm", id2label=dict(enumerate(corpus.features["label"].names)), seed=0
    )


def _run(tmp_path, corpus, *, model=None, feature_extractor=None, augmentation=None, **options):
    train_set, validation, test = _split(corpus)
    settings = {
        "output_dir": str(tmp_path / "run"),
        "max_steps": 6,
        "per_device_train_batch_size": 4,
        "learning_rate": 3e-3,
        "eval_strategy": "steps",
        "eval_steps": 2,
        "logging_steps": 1,
        "dataloader_num_workers": 0,
        "use_cpu": True,
        "report_to": "none",
        **options,
    }
    result = train(
        model or _cnn_lstm(corpus),
        feature_extractor
        or LogMelFeatureExtractor(n_mels=32, segment_frames=32, segment_hop_frames=32),
        train_dataset=train_set,
        eval_dataset=validation,
        test_dataset=test,
        config=TrainingConfig(**settings),
        augmentation=augmentation,
    )
    return result, Path(settings["output_dir"])


@pytest.fixture(scope="module")
def corpus(emodb_fixture):
    return load_corpus("emodb", emodb_fixture)


@pytest.fixture(scope="module")
def varied_corpus(tmp_path_factory):
    """EMO-DB layout with durations from 0.4 s to 3.2 s, so that batching decides padding."""
    root = write_emodb(tmp_path_factory.mktemp("varied"))
    for index, path in enumerate(sorted((root / "wav").glob("*.wav"))):
        seconds = 0.4 + 0.1 * ((index * 7) % 29)
        sf.write(path, tone(seconds, 16_000, 200.0, seed=index), 16_000, subtype="PCM_16")
    return load_corpus("emodb", root)


def test_early_stopping_stops_after_patience_evaluations(tmp_path, corpus):
    # No gain can reach the threshold: the first evaluation sets the mark, two more miss it.
    result, output_dir = _run(
        tmp_path, corpus, max_steps=20, early_stopping_patience=2, early_stopping_threshold=1.0
    )
    records = _records(output_dir)
    evaluations = [r for r in records if "eval_uar" in r]
    assert len(evaluations) == 3, "the first evaluation, then two without a gain"
    assert result.global_step == 6
    assert any(r.get("early_stopping") == 1 for r in records)
    assert result.test_metrics is not None


def test_class_weighted_focal_loss_with_smoothing_and_balanced_sampler(tmp_path, corpus):
    result, output_dir = _run(
        tmp_path,
        corpus,
        loss="focal",
        focal_gamma=2.0,
        class_weighting="balanced",
        label_smoothing=0.1,
        sampler="balanced",
    )
    losses = [r["loss"] for r in _records(output_dir) if "loss" in r]
    assert len(losses) == 6 and all(np.isfinite(losses))
    assert "class weights (balanced)" in (output_dir / "train.log").read_text()


def test_losses_change_the_training_loss(tmp_path, corpus):
    plain, plain_dir = _run(tmp_path / "ce", corpus, max_steps=1)
    smoothed, smoothed_dir = _run(tmp_path / "ls", corpus, max_steps=1, label_smoothing=0.3)
    first = lambda d: next(r["loss"] for r in _records(d) if "loss" in r)  # noqa: E731
    assert first(plain_dir) != pytest.approx(first(smoothed_dir))


def test_bucketing_lowers_the_padding_share(tmp_path, varied_corpus):
    shares = {}
    for sampler in ("random", "bucket"):
        _, output_dir = _run(
            tmp_path / sampler,
            varied_corpus,
            sampler=sampler,
            max_steps=-1,
            num_train_epochs=2,
            bucket_size_multiplier=4,
            max_train_seconds=None,
        )
        values = [r["padding_share"] for r in _records(output_dir) if "padding_share" in r]
        assert len(values) == 2, "one record per epoch"
        assert all(0.0 <= v < 1.0 for v in values)
        shares[sampler] = np.mean(values)
    assert shares["bucket"] < shares["random"]


def test_augmentation_runs_on_the_training_split_and_is_recorded(tmp_path, corpus):
    augmentation = AugmentationArguments(
        speed_prob=1.0,
        noise_prob=1.0,
        gain_prob=1.0,
        spec_time_mask_prob=1.0,
        spec_freq_mask_prob=1.0,
    )
    result, output_dir = _run(tmp_path, corpus, augmentation=augmentation)
    assert result.test_metrics is not None
    log = (output_dir / "train.log").read_text()
    assert "augmentation:" in log and "SpecAugment" in log


def test_augmentation_changes_training_but_not_evaluation(tmp_path, corpus):
    plain, plain_dir = _run(tmp_path / "plain", corpus, max_steps=2, learning_rate=0.0)
    noisy, noisy_dir = _run(
        tmp_path / "noisy",
        corpus,
        max_steps=2,
        learning_rate=0.0,
        augmentation=AugmentationArguments(noise_prob=1.0, noise_snr_min=0.0, noise_snr_max=0.0),
    )
    first = lambda d: next(r["loss"] for r in _records(d) if "loss" in r)  # noqa: E731
    evaluation = lambda d: next(r["eval_loss"] for r in _records(d) if "eval_loss" in r)  # noqa: E731
    assert first(plain_dir) != pytest.approx(first(noisy_dir))
    # With learning rate 0 the weights stay put (only batch-norm running statistics drift a
    # little with the training data): evaluation must not see the 0 dB noise.
    assert evaluation(plain_dir) == pytest.approx(evaluation(noisy_dir), abs=1e-4)


def test_spec_augment_refused_for_waveform_models(tmp_path, corpus):
    model = build_tiny_random_model(
        "wav2vec2", id2label=dict(enumerate(corpus.features["label"].names))
    )
    with pytest.raises(ValueError, match="SpecAugment"):
        _run(
            tmp_path,
            corpus,
            model=model,
            feature_extractor=build_feature_extractor(model.config),
            augmentation=AugmentationArguments(spec_time_mask_prob=0.5),
        )


def test_training_curves_png_is_written(tmp_path, corpus):
    _, output_dir = _run(tmp_path, corpus)
    png = output_dir / CURVES_FILE
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tensorboard_tracker_writes_events(tmp_path, corpus):
    pytest.importorskip("tensorboard")
    _, output_dir = _run(tmp_path, corpus, report_to="tensorboard")
    events = list((output_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("loss", "hinge"),
        ("class_weighting", "magic"),
        ("sampler", "sorted"),
        ("label_smoothing", 1.0),
    ],
)
def test_bad_options_are_refused(tmp_path, option, value):
    with pytest.raises(ValueError, match=option):
        TrainingConfig(output_dir=str(tmp_path), **{option: value})
