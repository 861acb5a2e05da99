"""End to end: the wav2vec2 recipe on the fixture corpus, the pipeline, and resuming a run."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sertune.data import load_corpus, speaker_independent_folds
from sertune.models import build_feature_extractor, build_tiny_random_model
from sertune.training import TrainingConfig, latest_checkpoint, train
from sertune.training.report import flat_run_config

from pipeline_inputs import AT_MODEL_RATE

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RECIPE = PROJECT_ROOT / "recipes" / "wav2vec2_emodb.py"


def _load_recipe():
    spec = importlib.util.spec_from_file_location("wav2vec2_emodb", RECIPE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve string annotations through it
    spec.loader.exec_module(module)
    return module


SMOKE_ARGS = [
    "--model_name_or_path",
    "tiny-random",
    "--max_steps",
    "30",
    "--per_device_train_batch_size",
    "6",
    "--learning_rate",
    "1e-2",
    "--warmup_ratio",
    "0.0",
    "--logging_steps",
    "1",
    "--eval_strategy",
    "steps",
    "--eval_steps",
    "10",
    "--max_train_seconds",
    "0.8",
    "--freeze_encoder_steps",
    "2",
    "--test_speakers",
    "16",
    "--validation_speakers",
    "10",
    "--seed",
    "0",
]


@pytest.fixture(scope="module")
def smoke_run(emodb_fixture, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("run")
    report = _load_recipe().main(
        [*SMOKE_ARGS, "--data_dir", str(emodb_fixture), "--output_dir", str(output_dir)]
    )
    return output_dir, report


def test_recipe_output_folder_is_complete(smoke_run):
    output_dir, report = smoke_run
    for name in (
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "run_config.json",
        "metrics.json",
        "confusion_matrix.png",
        "training_log.jsonl",
        "train.log",
    ):
        assert (output_dir / name).is_file(), name
    assert not (output_dir / "best_model").exists()
    assert not list(output_dir.glob("*.bin")), "weights must be safetensors only"
    metrics = json.loads((output_dir / "metrics.json").read_text())
    assert metrics == json.loads(json.dumps(report))
    for key in ("uar", "wa", "macro_f1"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["fold"]["test_speakers"] == ["16"]
    assert metrics["fold"]["validation_speakers"] == ["10"]
    assert metrics["test"]["num_samples"] == 7
    assert set(metrics["test"]["per_class"]) == set(metrics["label_names"])
    assert (output_dir / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run_config = flat_run_config(json.loads((output_dir / "run_config.json").read_text()))
    assert run_config["model_name_or_path"] == "tiny-random"
    assert run_config["max_steps"] == 30


def test_recipe_loss_falls(smoke_run):
    output_dir, _ = smoke_run
    records = [json.loads(line) for line in (output_dir / "training_log.jsonl").open()]
    losses = [r["loss"] for r in records if "loss" in r]
    assert len(losses) == 30
    # Chance level is ln(7) = 1.95; the tiny model learns the fixture's pitch cues.
    assert sum(losses[-5:]) / 5 < 0.85 * sum(losses[:5]) / 5, losses
    evaluations = [r for r in records if "eval_uar" in r]
    assert [r["step"] for r in evaluations] == [10, 20, 30]
    assert any("test_uar" in r for r in records)


PIPELINE_SCRIPT = r"""
import json, shutil, sys
import numpy as np
import soundfile as sf
{imports}
from transformers import pipeline
{at_model_rate}

model_dir, wav_path = sys.argv[1], sys.argv[2]
classify = pipeline("audio-classification", model=model_dir{remote})
audio, rate = sf.read(wav_path, dtype="float32")
rng = np.random.default_rng(0)
raw44 = (0.3 * np.sin(2 * np.pi * 220 * np.arange(44100) / 44100)).astype(np.float32)
results = {{
    "dict44k": classify(at_model_rate(raw44, 44100), top_k=3),
    "array16k": classify(audio, top_k=3),
}}
if shutil.which("ffmpeg"):
    results["path"] = classify(wav_path, top_k=3)
results["sertune_imported"] = sys.modules.get("sertune") is not None
print(json.dumps(results))
"""


@functools.cache
def _run_pipeline(model_dir: Path, wav: Path, *, with_sertune: bool) -> dict:
    if with_sertune:
        script = PIPELINE_SCRIPT.format(
            imports="import sertune", remote="", at_model_rate=AT_MODEL_RATE
        )
    else:
        # sertune is installed in this environment: make it unimportable to prove the saved
        # custom code alone is enough; torchaudio too, which the Hub's users may not have.
        script = PIPELINE_SCRIPT.format(
            imports="sys.modules['sertune'] = None\nsys.modules['torchaudio'] = None",
            remote=", trust_remote_code=True",
            at_model_rate=AT_MODEL_RATE,
        )
    completed = subprocess.run(
        [sys.executable, "-c", script, str(model_dir), str(wav)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=model_dir.parent,
        env={
            "HF_HUB_OFFLINE": "1",
            "PATH": "/usr/bin:/bin:/usr/local/bin",
            "HOME": str(Path.home()),
        },
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("with_sertune", [True, False], ids=["import-sertune", "remote-code"])
def test_pipeline_in_fresh_process(smoke_run, emodb_fixture, with_sertune):
    output_dir, report = smoke_run
    results = _run_pipeline(
        output_dir, emodb_fixture / "wav" / "16a01Wa.wav", with_sertune=with_sertune
    )
    assert results["sertune_imported"] is with_sertune
    label_names = set(report["label_names"])
    for key in ("dict44k", "array16k"):
        predictions = results[key]
        assert len(predictions) == 3
        assert {p["label"] for p in predictions} <= label_names
        assert all(0.0 <= p["score"] <= 1.0 for p in predictions)
        assert predictions == sorted(predictions, key=lambda p: -p["score"])


@pytest.mark.ffmpeg
@pytest.mark.parametrize("with_sertune", [True, False], ids=["import-sertune", "remote-code"])
def test_pipeline_reads_a_file_path_in_fresh_process(smoke_run, emodb_fixture, with_sertune):
    output_dir, report = smoke_run
    results = _run_pipeline(
        output_dir, emodb_fixture / "wav" / "16a01Wa.wav", with_sertune=with_sertune
    )
    predictions = results["path"]
    assert len(predictions) == 3
    assert {p["label"] for p in predictions} <= set(report["label_names"])
    assert all(0.0 <= p["score"] <= 1.0 for p in predictions)
    assert predictions == sorted(predictions, key=lambda p: -p["score"])


def _resume_config(output_dir: Path, **overrides) -> TrainingConfig:
    options = {
        "output_dir": str(output_dir),
        "max_steps": 8,
        "per_device_train_batch_size": 5,
        "learning_rate": 1e-3,
        "save_steps": 3,
        "save_total_limit": 5,
        "logging_steps": 1,
        "max_train_seconds": 0.7,
        "seed": 3,
        "lr_scheduler_type": "cosine",
        "dataloader_num_workers": 2,
    }
    options.update(overrides)
    return TrainingConfig(**options)


def _tiny_model():
    id2label = dict(enumerate(["angry", "bored", "disgust", "fear", "happy", "neutral", "sad"]))
    model = build_tiny_random_model(
        "wav2vec2", id2label=id2label, seed=0, head_dropout=0.2, freeze_encoder_steps=2
    )
    return model, build_feature_extractor(model.config)


def test_resume_reaches_the_same_weights(emodb_fixture, tmp_path):
    corpus = load_corpus("emodb", emodb_fixture)
    fold = speaker_independent_folds(
        corpus, "holdout", test_speakers=["16"], validation_speakers=["10"]
    )[0]
    train_rows = corpus.select(fold.train)
    # Evaluation every 3 steps selects a best model, which must survive a resume elsewhere.
    validation_rows = corpus.select(fold.validation)
    options = {"eval_strategy": "steps", "eval_steps": 3, "per_device_train_batch_size": 4}

    model, extractor = _tiny_model()
    uninterrupted = tmp_path / "uninterrupted"
    train(
        model,
        extractor,
        train_dataset=train_rows,
        eval_dataset=validation_rows,
        test_dataset=None,
        config=_resume_config(uninterrupted, **options),
    )
    checkpoint = latest_checkpoint(uninterrupted)
    assert checkpoint is not None and checkpoint.name == "step-6"
    # 14 training rows in batches of 4: 4 batches an epoch, so step-3 is mid-epoch 0 and
    # step-6 mid-epoch 1.
    mid_epoch = uninterrupted / "checkpoints" / "step-3"
    assert mid_epoch.is_dir()

    for start in ("step-3", "step-6"):
        model, extractor = _tiny_model()
        resumed = tmp_path / f"resumed-{start}"
        train(
            model,
            extractor,
            train_dataset=train_rows,
            eval_dataset=validation_rows,
            test_dataset=None,
            config=_resume_config(
                resumed,
                resume_from_checkpoint=str(uninterrupted / "checkpoints" / start),
                **options,
            ),
        )
        # The same best step, the same kept weights, the same log.
        assert _same_records(
            (resumed / "training_log.jsonl").read_text(),
            (uninterrupted / "training_log.jsonl").read_text(),
        )
        expected = load_file(uninterrupted / "model.safetensors")
        actual = load_file(resumed / "model.safetensors")
        assert expected.keys() == actual.keys()
        for name in expected:
            torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=0, msg=name)

    # And training really changed the weights (the comparison above is not vacuous).
    fresh, _ = _tiny_model()
    fresh_state = fresh.state_dict()
    changed = [
        n
        for n, t in load_file(uninterrupted / "model.safetensors").items()
        if n in fresh_state and not torch.equal(t, fresh_state[n])
    ]
    assert changed


def _same_records(first: str, second: str) -> bool:
    """Log records equal but for wall-clock seconds."""

    def strip(text):
        return [
            {k: v for k, v in json.loads(line).items() if k != "seconds"}
            for line in text.splitlines()
        ]

    return strip(first) == strip(second)


def test_resume_latest_without_checkpoint_fails(tmp_path, emodb_fixture):
    corpus = load_corpus("emodb", emodb_fixture)
    model, extractor = _tiny_model()
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume from"):
        train(
            model,
            extractor,
            train_dataset=corpus,
            eval_dataset=None,
            test_dataset=None,
            config=_resume_config(tmp_path, resume_from_checkpoint="latest"),
        )


@pytest.mark.parametrize(("steps", "encoder_moves"), [(2, False), (4, True)])
def test_freeze_encoder_steps_keeps_encoder_fixed_then_trains_it(
    emodb_fixture, tmp_path, steps, encoder_moves
):
    corpus = load_corpus("emodb", emodb_fixture)
    model, extractor = _tiny_model()  # freeze_encoder_steps=2
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    config = _resume_config(tmp_path, max_steps=steps, save_steps=100, lr_scheduler_type="linear")
    train(
        model, extractor, train_dataset=corpus, eval_dataset=None, test_dataset=None, config=config
    )
    after = load_file(tmp_path / "model.safetensors")
    moved = {n for n in before if not torch.equal(before[n], after[n])}
    encoder_layers = {n for n in before if n.startswith("encoder.encoder.layers.")}
    head = {n for n in before if not n.startswith("encoder.")}
    assert head <= moved  # the head trains from the first step
    assert bool(encoder_layers & moved) is encoder_moves
    # The convolutional feature encoder is frozen for good.
    assert not {n for n in moved if n.startswith("encoder.feature_extractor.")}


def test_two_processes_ddp_on_cpu(emodb_fixture, tmp_path):
    """The loop assumes no single device: two CPU processes under DDP (gloo), by torchrun."""
    output_dir = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",
        str(RECIPE),
        "--use_cpu",
        "--model_name_or_path=tiny-random",
        f"--data_dir={emodb_fixture}",
        f"--output_dir={output_dir}",
        "--max_steps=6",
        "--per_device_train_batch_size=4",
        "--eval_strategy=steps",
        "--eval_steps=3",
        "--max_train_seconds=0.8",
        "--dataloader_num_workers=0",
        "--freeze_encoder_steps=2",
        "--test_speakers",
        "16",
        "--validation_speakers",
        "10",
    ]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env=environment
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    metrics = json.loads((output_dir / "metrics.json").read_text())
    assert metrics["num_processes"] == 2
    # Each of the 7 test utterances is counted once, although each process saw a shard.
    assert metrics["test"]["num_samples"] == 7
    assert metrics["global_step"] == 6
    assert (output_dir / "model.safetensors").is_file()


def test_output_dir_of_an_earlier_run_is_refused_unless_overwritten(emodb_fixture, tmp_path):
    corpus = load_corpus("emodb", emodb_fixture)
    model, extractor = _tiny_model()
    options = {"max_steps": 2, "save_steps": 100}
    train(
        model,
        extractor,
        train_dataset=corpus,
        eval_dataset=None,
        test_dataset=None,
        config=_resume_config(tmp_path, **options),
    )
    with pytest.raises(FileExistsError, match="holds an earlier run.*--overwrite_output_dir"):
        train(
            model,
            extractor,
            train_dataset=corpus,
            eval_dataset=None,
            test_dataset=None,
            config=_resume_config(tmp_path, **options),
        )
    (tmp_path / "checkpoints" / "step-999").mkdir(parents=True)  # stale, from the earlier run
    train(
        model,
        extractor,
        train_dataset=corpus,
        eval_dataset=None,
        test_dataset=None,
        config=_resume_config(tmp_path, overwrite_output_dir=True, **options),
    )
    assert not (tmp_path / "checkpoints" / "step-999").exists()
    log = (tmp_path / "training_log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == [1, 2]


def test_crops_differ_across_epochs_with_persistent_workers(emodb_fixture):
    from torch.utils.data import DataLoader

    from sertune.training import AudioClassificationDataset, EpochShuffleSampler

    corpus = load_corpus("emodb", emodb_fixture).select(range(4))
    dataset = AudioClassificationDataset(
        corpus, sampling_rate=16_000, max_seconds=0.25, crop=True, seed=0
    )
    sampler = EpochShuffleSampler(len(dataset), seed=0, shuffle=False)
    loader = DataLoader(
        dataset, sampler=sampler, batch_size=None, num_workers=2, persistent_workers=True
    )
    first_samples = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        first_samples.append([item["input_values"][:4].tolist() for item in loader])
    assert first_samples[0] != first_samples[1] != first_samples[2]
    # And the same (epoch, row) always gives the same crop, in the main process too.
    again = [dataset[2 * len(dataset) + row]["input_values"][:4].tolist() for row in range(4)]
    assert again == first_samples[2]
