"""The CNN-family recipes end to end on the fixture corpus, and their models in pipeline()."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline_inputs import AT_MODEL_RATE

PROJECT_ROOT = Path(__file__).resolve().parents[1]

COMMON_ARGS = [
    "--max_steps",
    "12",
    "--per_device_train_batch_size",
    "6",
    "--learning_rate",
    "3e-3",
    "--warmup_ratio",
    "0.0",
    "--logging_steps",
    "1",
    "--eval_strategy",
    "steps",
    "--eval_steps",
    "6",
    "--n_mels",
    "32",
    "--segment_frames",
    "32",
    "--test_speakers",
    "16",
    "--validation_speakers",
    "10",
    "--dataloader_num_workers",
    "0",
]


def _run_recipe(name: str, argv: list[str]) -> dict:
    path = PROJECT_ROOT / "recipes" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.main(argv)


@pytest.fixture(scope="module")
def cnn_runs(emodb_fixture, tmp_path_factory):
    runs = {}
    for recipe, model, extra in (
        ("cnn_emodb", "tiny-random-cnn-resnet", ["--segment_hop_frames", "16"]),
        ("cnn_lstm_emodb", "tiny-random-cnn-lstm", ["--segment_hop_frames", "32"]),
    ):
        output_dir = tmp_path_factory.mktemp(recipe)
        report = _run_recipe(
            recipe,
            [
                *COMMON_ARGS,
                *extra,
                "--model_name_or_path",
                model,
                "--data_dir",
                str(emodb_fixture),
                "--output_dir",
                str(output_dir),
            ],
        )
        runs[recipe] = (output_dir, report)
    return runs


@pytest.mark.parametrize("recipe", ["cnn_emodb", "cnn_lstm_emodb"])
def test_cnn_recipes_write_a_complete_run(cnn_runs, recipe):
    output_dir, report = cnn_runs[recipe]
    for name in (
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "run_config.json",
        "metrics.json",
        "confusion_matrix.png",
        "training_log.jsonl",
    ):
        assert (output_dir / name).is_file(), name
    preprocessor = json.loads((output_dir / "preprocessor_config.json").read_text())
    assert preprocessor["n_mels"] == 32 and preprocessor["segment_frames"] == 32
    assert report["test"]["num_samples"] == 7
    assert report["fold"]["test_speakers"] == ["16"]
    records = [json.loads(line) for line in (output_dir / "training_log.jsonl").open()]
    losses = [r["loss"] for r in records if "loss" in r]
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3, losses


PIPELINE_SCRIPT = (
    AT_MODEL_RATE
    + r"""
import json, shutil, sys
import numpy as np
import sertune
from transformers import pipeline

results = {}
for folder in sys.argv[2:]:
    classify = pipeline("audio-classification", model=folder)
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(44100) / 44100)).astype(np.float32)
    results[folder] = [classify(at_model_rate(tone, 44100), top_k=2)]
    if shutil.which("ffmpeg"):  # pipeline() decodes file paths with the ffmpeg program
        results[folder].append(classify(sys.argv[1], top_k=2))
print(json.dumps(results))
"""
)


def test_cnn_models_run_in_pipeline_in_a_fresh_process(cnn_runs, emodb_fixture):
    folders = [str(cnn_runs[recipe][0]) for recipe in ("cnn_emodb", "cnn_lstm_emodb")]
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            PIPELINE_SCRIPT,
            str(emodb_fixture / "wav" / "16a01Wa.wav"),
            *folders,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(completed.stdout.strip().splitlines()[-1])
    label_names = set(cnn_runs["cnn_emodb"][1]["label_names"])
    for folder in folders:
        for predictions in results[folder]:
            assert len(predictions) == 2
            assert {p["label"] for p in predictions} <= label_names


@pytest.mark.parametrize("recipe", ["cnn_emodb", "cnn_lstm_emodb"])
def test_cnn_recipes_start_from_a_run_folder(cnn_runs, recipe, emodb_fixture, tmp_path):
    source = cnn_runs[recipe][0]
    argv = [
        *("--model_name_or_path", str(source), "--data_dir", str(emodb_fixture)),
        *("--output_dir", str(tmp_path / "new"), "--max_steps", "2", "--n_mels", "32"),
        *("--segment_frames", "32", "--labels", "angry", "sad", "neutral"),
        *("--test_speakers", "16", "--validation_speakers", "10"),
        *("--dataloader_num_workers", "0", "--per_device_train_batch_size", "4"),
    ]
    report = _run_recipe(recipe, argv)
    assert report["label_names"] == ["angry", "neutral", "sad"]
    if recipe == "cnn_lstm_emodb":
        # Its convolutions read 32 mel bands: another --n_mels is one clear error.
        bad = [a if a != "32" else "48" for a in argv]
        bad[bad.index("--output_dir") + 1] = str(tmp_path / "bad")
        with pytest.raises(ValueError, match="reads 32 mel bands: give --n_mels 32"):
            _run_recipe(recipe, bad)


def test_global_normalisation_is_fitted_on_the_training_speakers_only(emodb_fixture, tmp_path):
    from sertune.data.arguments import DataArguments, load_corpus_fold
    from sertune.models.logmel import LogMelFeatureExtractor
    from sertune.training.data import fit_feature_normalization

    output_dir = tmp_path / "run"
    args = [*COMMON_ARGS, "--segment_hop_frames", "32", "--normalization", "global"]
    args[args.index("--max_steps") + 1] = "4"
    report = _run_recipe(
        "cnn_lstm_emodb",
        [
            *args,
            "--model_name_or_path",
            "tiny-random-cnn-lstm",
            "--data_dir",
            str(emodb_fixture),
            "--output_dir",
            str(output_dir),
        ],
    )
    assert report["fold"]["validation_rule"] == "1 speaker(s), stratified"
    saved = LogMelFeatureExtractor.from_pretrained(output_dir)
    assert saved.normalization == "global"
    corpus, fold = load_corpus_fold(
        DataArguments(data_dir=str(emodb_fixture), test_speakers=["16"], validation_speakers=["10"])
    )
    expected = fit_feature_normalization(
        LogMelFeatureExtractor(n_mels=32, segment_frames=32, normalization="global"),
        corpus.select(fold.train),
    )
    assert np.allclose(saved.feature_mean, expected.feature_mean, rtol=1e-5, atol=1e-6)
    everyone = fit_feature_normalization(
        LogMelFeatureExtractor(n_mels=32, segment_frames=32, normalization="global"), corpus
    )
    assert not np.allclose(saved.feature_mean, everyone.feature_mean, rtol=1e-5, atol=1e-6)
