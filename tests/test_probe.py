"""Frozen-feature probes: scores on known features, the feature cache, standardisation, the CLI."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

from sertune.cli import main as sertune_main
from sertune.data.protocols import speaker_independent_folds
from sertune.probe.cache import FeatureCache, extract_features
from sertune.probe.classifier import fit_probe, standardise_per_speaker
from sertune.probe.features import FeatureSource, ProbeError
from sertune.probe.report import UAR_BY_LAYER_FILE
from sertune.probe.run import ProbeArguments, probe_folds

EMODB_SPEAKERS = [["03"], ["08"], ["10"], ["16"]]


def _synthetic(num_speakers=8, num_classes=4, per_class=15, seed=0):
    """Features whose first dimensions are the class (one-hot, scaled) plus speaker offsets."""
    rng = np.random.default_rng(seed)
    speakers = np.repeat([f"s{k}" for k in range(num_speakers)], num_classes * per_class)
    labels = np.tile(np.repeat(np.arange(num_classes), per_class), num_speakers)
    noise = rng.normal(size=(len(labels), 12))
    offsets = {s: rng.normal(scale=2.0, size=12) for s in np.unique(speakers)}
    features = noise + np.stack([offsets[s] for s in speakers])
    features[:, :num_classes] += 20.0 * np.eye(num_classes)[labels]
    return features.astype(np.float32), labels, speakers


def _probe(tmp_path, features, labels, speakers, **options):
    folds = speaker_independent_folds({"speaker": list(speakers), "label": list(labels)}, "loso")
    args = ProbeArguments(features="synthetic", output_dir=str(tmp_path), **options)
    names = [f"class{k}" for k in range(int(labels.max()) + 1)]
    describe = {"title": "synthetic", "notes": ["synthetic features"]}
    return probe_folds(tmp_path, features, labels, speakers, folds, names, args, describe)


@pytest.mark.parametrize("speaker_standardisation", [False, True])
@pytest.mark.parametrize("classifier", ["logreg", "linear_svm"])
def test_separable_features_give_uar_one(tmp_path, classifier, speaker_standardisation):
    features, labels, speakers = _synthetic()
    if speaker_standardisation:
        features = standardise_per_speaker(features, speakers)
    results = _probe(
        tmp_path,
        features,
        labels,
        speakers,
        classifier=classifier,
        speaker_standardisation=speaker_standardisation,
    )
    assert results["num_folds"] == 8
    assert results["uar"]["per_fold"] == [1.0] * 8
    assert results["pooled"]["uar"] == 1.0
    for name in ("cv_results.json", "cv_summary.md", "confusion_matrix.png"):
        assert (tmp_path / name).is_file()
    assert "synthetic features" in (tmp_path / "cv_summary.md").read_text()


def test_shuffled_labels_give_chance(tmp_path):
    features, labels, speakers = _synthetic(num_speakers=10, per_class=20)
    shuffled = np.random.default_rng(1).permutation(labels)
    results = _probe(tmp_path, features, shuffled, speakers)
    assert abs(results["uar"]["mean"] - 0.25) < 0.08
    assert abs(results["pooled"]["uar"] - 0.25) < 0.06


def test_c_is_chosen_on_training_speakers_only():
    features, labels, speakers = _synthetic(num_speakers=4)
    train = speakers != "s3"
    fitted = fit_probe(features[train], labels[train], speakers[train], Cs=[0.01, 1.0])
    assert fitted.C in (0.01, 1.0)
    assert fitted.selection["method"].startswith("inner 3-fold GroupKFold by speaker")
    assert set(fitted.selection["inner_uar"]) == {"0.01", "1"}


def test_per_speaker_standardisation_uses_no_labels():
    features, labels, speakers = _synthetic(num_speakers=4)
    standardised = standardise_per_speaker(features, speakers)
    for speaker in np.unique(speakers):
        rows = standardised[speakers == speaker]
        np.testing.assert_allclose(rows.mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(rows.std(axis=0), 1.0, atol=1e-4)
    # A speaker's statistics are its own: changing another speaker leaves it alone.
    changed = features.copy()
    changed[speakers == "s0"] *= 10.0
    again = standardise_per_speaker(changed, speakers)
    np.testing.assert_array_equal(again[speakers != "s0"], standardised[speakers != "s0"])
    # The test speaker's labels play no part: permuting them changes no prediction.
    test = speakers == "s3"
    permuted = labels.copy()
    permuted[test] = np.random.default_rng(0).permutation(labels[test])
    predictions = []
    for these_labels in (labels, permuted):
        fitted = fit_probe(standardised[~test], these_labels[~test], speakers[~test])
        predictions.append(fitted.model.predict(standardised[test]))
    np.testing.assert_array_equal(predictions[0], predictions[1])


def test_feature_cache_is_reused(emodb_fixture, tmp_path):
    calls = []

    def extract(waveform):
        calls.append(len(waveform))
        return np.array([waveform.mean(), waveform.std()])

    source = FeatureSource("counting", "counting-v1", 16_000, extract)
    files = sorted((emodb_fixture / "wav").glob("*.wav"))[:5]
    first = extract_features(files, FeatureCache(tmp_path, source))
    assert len(calls) == 5
    # A second run (a new cache object on the same folder) reads every entry from disk.
    cache = FeatureCache(tmp_path, source)
    second = extract_features(files, cache)
    assert len(calls) == 5 and cache.hits == 5 and cache.misses == 0
    np.testing.assert_array_equal(first, second)
    # Another fingerprint (other settings or weights) does not read those entries.
    other = FeatureSource("counting", "counting-v2", 16_000, extract)
    extract_features(files[:1], FeatureCache(tmp_path, other))
    assert len(calls) == 6
    # An edited file gets a new entry.
    stat = files[0].stat()
    os.utime(files[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    extract_features(files, FeatureCache(tmp_path, source))
    assert len(calls) == 7


def test_a_damaged_cache_entry_is_extracted_again(emodb_fixture, tmp_path, caplog):
    source = FeatureSource("ones", "ones-v1", 16_000, lambda waveform: np.ones(3))
    path = next((emodb_fixture / "wav").glob("*.wav"))
    cache = FeatureCache(tmp_path, source)
    cache.features(path)
    key = cache.key(path)
    (tmp_path / key[:2] / f"{key}.npy").write_bytes(b"not an array")
    again = FeatureCache(tmp_path, source)
    np.testing.assert_array_equal(again.features(path), np.ones(3))
    assert again.misses == 1 and "extracting again" in caplog.text
    assert FeatureCache(tmp_path, source).features(path).shape == (3,)


def test_non_finite_features_name_the_file(emodb_fixture, tmp_path):
    source = FeatureSource("nan", "nan-v1", 16_000, lambda waveform: np.array([np.nan]))
    path = next((emodb_fixture / "wav").glob("*.wav"))
    with pytest.raises(ProbeError, match=f"{path.name}: nan gave non-finite features"):
        extract_features([path], FeatureCache(tmp_path, source))


def _run_cli(argv, capsys):
    status = sertune_main(["probe", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _fixture_args(emodb_fixture, tmp_path, features, name="out"):
    return [
        "--data_dir",
        str(emodb_fixture),
        "--protocol",
        "loso",
        "--features",
        features,
        "--output_dir",
        str(tmp_path / name),
        "--cache_dir",
        str(tmp_path / "cache"),
    ]


def test_encoder_layer_probe_end_to_end(emodb_fixture, tmp_path, capsys):
    args = _fixture_args(emodb_fixture, tmp_path, "encoder:tiny-random")
    status, out, err = _run_cli([*args, "--speaker_standardisation"], capsys)
    assert status == 0, err
    root = tmp_path / "out"
    results = json.loads((root / "cv_results.json").read_text())
    assert [layer["name"] for layer in results["layers"]] == ["features", "layer 1", "layer 2"]
    assert results["speaker_standardisation"] is True
    assert (root / UAR_BY_LAYER_FILE).is_file()
    for k in range(3):
        layer = json.loads((root / f"layer-{k:02d}" / "cv_results.json").read_text())
        assert [run["test_speakers"] for run in layer["runs"]] == EMODB_SPEAKERS
        assert (root / f"layer-{k:02d}" / "confusion_matrix.png").is_file()
    assert "per speaker" in (root / "cv_summary.md").read_text()
    assert "layer 2" in out


def test_model_embedding_probe(emodb_fixture, tmp_path, capsys):
    from sertune.models import build_feature_extractor, build_tiny_random_model

    labels = ["angry", "bored", "disgust", "fear", "happy", "neutral", "sad"]
    model = build_tiny_random_model(id2label=dict(enumerate(labels)))
    model.save_pretrained(tmp_path / "model")
    build_feature_extractor(model.config).save_pretrained(tmp_path / "model")
    args = _fixture_args(emodb_fixture, tmp_path, f"model:{tmp_path / 'model'}")
    status, _, err = _run_cli([*args, "--classifier", "linear_svm"], capsys)
    assert status == 0, err
    results = json.loads((tmp_path / "out" / "cv_results.json").read_text())
    assert [run["test_speakers"] for run in results["runs"]] == EMODB_SPEAKERS
    assert results["classifier"] == "linear_svm"
    config = json.loads((tmp_path / "out" / "probe_config.json").read_text())
    assert config["feature_fingerprint"].startswith("folder:")
    # The features are the head's input: the pooled embedding's size.
    cache = FeatureCache(tmp_path / "cache", _model_source(tmp_path / "model"))
    embedding = cache.features(next((emodb_fixture / "wav").glob("*.wav")))
    assert embedding.shape == (model.head.dense.in_features,) and cache.hits == 1


def _model_source(folder):
    from sertune.probe.features import model_embedding_source

    return model_embedding_source(str(folder))


def test_opensmile_probe_separates_the_fixture(emodb_fixture, tmp_path, capsys):
    pytest.importorskip("opensmile", reason="the opensmile extra is not installed")
    status, out, err = _run_cli(_fixture_args(emodb_fixture, tmp_path, "egemaps"), capsys)
    assert status == 0, err
    results = json.loads((tmp_path / "out" / "cv_results.json").read_text())
    # The fixture's emotions differ in pitch and level: eGeMAPS separates them.
    assert results["uar"]["mean"] == 1.0
    assert "standardisation: global" in out and "fixed C=1" in out


def test_missing_opensmile_names_the_extra(emodb_fixture, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "opensmile", None)  # import opensmile -> ImportError
    status, _, err = _run_cli(_fixture_args(emodb_fixture, tmp_path, "compare"), capsys)
    assert status == 1
    assert 'pip install "sertune[opensmile]"' in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param(["--features", "mfcc"], "--features 'mfcc'", id="unknown features"),
        pytest.param(["--classifier", "forest"], "--classifier 'forest'", id="unknown classifier"),
        pytest.param(["--C", "0"], "--C [0.0]", id="C not positive"),
        pytest.param(["--fold", "2"], "a probe runs every fold", id="fold given"),
        pytest.param(["--device", "tpu"], "--device", id="unknown device"),
        pytest.param(
            ["--features", "encoder:tiny-random-nope"],
            "unknown tiny random model",
            id="unknown tiny encoder",
        ),
        pytest.param(
            ["--features", "model:/no/such/folder"], "no such model folder", id="no model folder"
        ),
        pytest.param(["--data_dir", "/no/such/emodb"], "/no/such/emodb", id="no corpus folder"),
    ],
)
def test_bad_options_are_one_line_errors(emodb_fixture, tmp_path, capsys, options, message):
    args = _fixture_args(emodb_fixture, tmp_path, "encoder:tiny-random")
    status, _, err = _run_cli([*args, *options], capsys)
    assert status == 1
    assert message in err
    assert "Traceback" not in err


def test_a_used_output_dir_needs_overwrite(emodb_fixture, tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "cv_results.json").write_text("{}")
    args = _fixture_args(emodb_fixture, tmp_path, "encoder:tiny-random")
    status, _, err = _run_cli(args, capsys)
    assert status == 1 and "--overwrite" in err


def test_help_lists_the_probe_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        sertune_main(["probe", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: sertune probe" in out and "--speaker_standardisation" in out


@pytest.mark.shared
@pytest.mark.slow
def test_egemaps_probe_on_real_emodb_beats_chance(shared_emodb, tmp_path, capsys):
    pytest.importorskip("opensmile", reason="the opensmile extra is not installed")
    args = _fixture_args(shared_emodb, tmp_path, "egemaps")
    args[args.index("loso")] = "speaker_kfold"
    status, _, err = _run_cli([*args, "--speaker_standardisation"], capsys)
    assert status == 0, err
    results = json.loads((tmp_path / "out" / "cv_results.json").read_text())
    assert results["num_folds"] == 5
    assert results["uar"]["mean"] > 0.4  # chance is 1/7


@pytest.mark.parametrize("family", ["wav2vec2", "hubert", "wavlm", "data2vec-audio"])
def test_every_encoder_family_gives_one_vector_per_layer(family):
    from sertune.probe.features import encoder_layers_source

    source = encoder_layers_source(f"tiny-random-{family}")
    waveform = np.random.default_rng(0).normal(scale=0.1, size=8000).astype(np.float32)
    features = source(waveform)
    assert features.shape == (len(source.layer_names), 32)
    assert np.isfinite(features).all()
    # Seeded: the same name gives the same features (and the same cache fingerprint).
    again = encoder_layers_source(f"tiny-random-{family}")
    np.testing.assert_array_equal(again(waveform), features)
    assert again.fingerprint == source.fingerprint
