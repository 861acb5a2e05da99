"""Continued wav2vec 2.0 pretraining: the objective, the recipe, resume, and fine-tuning after."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from accelerate import Accelerator
from safetensors.torch import load_file
from transformers import AutoModel

from sertune.models import build_feature_extractor, build_ser_model
from sertune.models.pretraining import build_pretraining_model
from sertune.training.data import PaddingCollator
from sertune.training.objectives.pretraining import (
    GumbelTemperature,
    Wav2Vec2PretrainingObjective,
)

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_under_test", RECIPES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_pretraining_loss_falls_on_a_tiny_random_model():
    model = build_pretraining_model("tiny-random", seed=0, mask_time_prob=0.5)
    objective = Wav2Vec2PretrainingObjective(
        model.config,
        mask_time_prob=0.5,
        mask_time_length=2,
        num_negatives=5,
        temperature=GumbelTemperature(2.0, 0.5, 0.99, 1),
    )
    objective.prepare(Accelerator(cpu=True))
    collate = objective.training_collator(
        PaddingCollator(build_feature_extractor(model.config)), augmented=False
    )
    rng = np.random.default_rng(0)
    examples = [
        {"input_values": rng.standard_normal(n).astype(np.float32), "labels": 0, "key": i}
        for i, n in enumerate((8000, 6400, 8000, 7200))
    ]
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model.train()
    losses = []
    for _ in range(25):
        batch = collate(examples)
        batch.pop("padding_counts")
        loss, terms = objective.loss(model, batch)
        assert set(terms) >= {"contrastive_loss", "diversity_loss", "gumbel_temperature"}
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    # Masks and distractors depend on the items only: the same batch draws the same again.
    first, second = collate(examples), collate(examples)
    assert torch.equal(first["mask_time_indices"], second["mask_time_indices"])
    assert torch.equal(first["sampled_negative_indices"], second["sampled_negative_indices"])
    assert objective.temperature.value < 2.0


def test_only_wav2vec2_can_be_pretrained():
    with pytest.raises(ValueError, match="cannot pretrain 'tiny-random-hubert'.*wav2vec2"):
        build_pretraining_model("tiny-random-hubert")


def _pretrain_args(audio_dir: Path, output_dir: Path, *extra: str) -> list[str]:
    return [
        *("--model_name_or_path", "tiny-random", "--audio_dirs", str(audio_dir)),
        *("--output_dir", str(output_dir), "--mask_time_prob", "0.5"),
        *("--mask_time_length", "2", "--num_negatives", "4", "--max_steps", "4"),
        *("--per_device_train_batch_size", "4", "--max_train_seconds", "0.6"),
        *("--learning_rate", "1e-3", "--logging_steps", "1", "--seed", "1"),
        *("--gumbel_temperature_decay", "0.9", "--save_steps", "2", "--save_total_limit", "3"),
        *extra,
    ]


@pytest.fixture(scope="module")
def pretrained(emodb_fixture, tmp_path_factory) -> Path:
    output_dir = tmp_path_factory.mktemp("pretrain")
    report = _load("pretrain_wav2vec2").main(_pretrain_args(emodb_fixture / "wav", output_dir))
    assert report["global_step"] == 4
    return output_dir


def _log(folder: Path) -> list[dict]:
    records = [
        json.loads(line) for line in (folder / "training_log.jsonl").read_text().splitlines()
    ]
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def test_resume_of_a_pretraining_run_reaches_the_same_weights(pretrained, emodb_fixture, tmp_path):
    resumed = tmp_path / "resumed"
    _load("pretrain_wav2vec2").main(
        _pretrain_args(
            emodb_fixture / "wav",
            resumed,
            "--resume_from_checkpoint",
            str(pretrained / "checkpoints" / "step-2"),
        )
    )
    expected = load_file(pretrained / "model.safetensors")
    actual = load_file(resumed / "model.safetensors")
    assert expected.keys() == actual.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=0, msg=name)
    # The Gumbel schedule continued where it stood (it is logged every step).
    temperatures = [r["gumbel_temperature"] for r in _log(resumed) if "gumbel_temperature" in r]
    assert temperatures[-1] == pytest.approx(2.0 * 0.9**3)
    assert _log(resumed)[-len(temperatures) :] == _log(pretrained)[-len(temperatures) :]


def test_pretrain_then_fine_tune(pretrained, emodb_fixture, tmp_path):
    encoder = AutoModel.from_pretrained(pretrained)
    fresh = build_pretraining_model("tiny-random", seed=1)
    assert not torch.equal(
        encoder.encoder.layers[0].attention.q_proj.weight,
        fresh.wav2vec2.encoder.layers[0].attention.q_proj.weight,
    )
    # The fine-tuning recipe starts from the pretraining run's folder.
    model = build_ser_model(str(pretrained), id2label={0: "angry", 1: "sad"})
    for name, tensor in encoder.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[name], tensor), name
    report = _load("wav2vec2_emodb").main(
        [
            *("--model_name_or_path", str(pretrained), "--data_dir", str(emodb_fixture)),
            *("--output_dir", str(tmp_path / "fine-tuned"), "--max_steps", "2"),
            *("--per_device_train_batch_size", "4", "--head_hidden_size", "8"),
            *("--test_speakers", "16", "--validation_speakers", "10", "--seed", "0"),
        ]
    )
    assert 0.0 <= report["uar"] <= 1.0
    assert (tmp_path / "fine-tuned" / "model.safetensors").is_file()


# ---------------------------------------------------------------------------------------------
# Unlabeled audio


def _write_tone(path: Path, seconds: float = 0.5, rate: int = 16000) -> None:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.1 * np.sin(np.arange(int(seconds * rate)) / 7)).astype(np.float32), rate)


def test_unlabeled_audio_reads_folders_deeply_and_corpora_without_labels(
    emodb_fixture, tmp_path, caplog
):
    from sertune.data import load_corpus
    from sertune.data.unlabeled import unlabeled_audio

    _write_tone(tmp_path / "a.wav")
    _write_tone(tmp_path / "deep" / "er" / "b.flac")
    (tmp_path / "notes.txt").write_text("not audio")
    caplog.set_level("WARNING")
    audio = unlabeled_audio([str(tmp_path)], ["emodb"], [str(emodb_fixture)])
    corpus_files = [row["path"] for row in load_corpus("emodb", emodb_fixture)["audio"]]
    assert audio["audio"] == [str(tmp_path / "a.wav"), str(tmp_path / "deep/er/b.flac")] + (
        corpus_files
    )
    assert set(audio["label"]) == {0}
    assert "notes.txt" in caplog.text  # reported, not read


@pytest.mark.parametrize(
    "arguments, error, message",
    [
        ({}, ValueError, "give folders of audio \\(--audio_dirs\\) or corpora \\(--corpora\\)"),
        (
            {"corpora": ["emodb"], "corpus_dirs": ["x", "y"]},
            ValueError,
            "--corpus_dirs names 2 folders for 1 corpora",
        ),
        ({"audio_dirs": ["{tmp}/missing"]}, FileNotFoundError, "missing: no such folder of audio"),
        ({"audio_dirs": ["{tmp}/empty"]}, ValueError, "no audio files in .*empty"),
    ],
    ids=["nothing", "unpaired-corpus-dirs", "missing-folder", "no-audio"],
)
def test_unlabeled_audio_errors_name_the_option_or_folder(arguments, error, message, tmp_path):
    from sertune.data.unlabeled import unlabeled_audio

    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("no audio here")
    arguments = {
        key: [value.format(tmp=tmp_path) for value in values] for key, values in arguments.items()
    }
    with pytest.raises(error, match=message):
        unlabeled_audio(**arguments)
