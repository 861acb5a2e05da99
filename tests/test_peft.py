"""LoRA / IA3 adapters: which parameters train, adapter and merged saves, and the recipe."""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from sertune.models import SerForAudioClassification, build_ser_model, build_tiny_random_model
from sertune.models.peft_utils import (
    PeftArguments,
    PeftSerForAudioClassification,
    apply_peft,
    load_adapter,
    merge_adapter,
    save_adapter,
    trainable_parameter_report,
)
from sertune.training.report import flat_run_config

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RECIPE = PROJECT_ROOT / "recipes" / "lora_wav2vec2_emodb.py"
METHODS = ["lora", "ia3"]
ADAPTER_MARKERS = ("lora_", "ia3_l")


def _adapted(method: str, seed: int = 0) -> PeftSerForAudioClassification:
    model = build_tiny_random_model("wav2vec2", num_labels=4, seed=seed)
    model = apply_peft(model, PeftArguments(peft_method=method))
    # LoRA starts as the identity (B = 0) and IA3 as ones: move the adapters off their start so
    # that the comparisons below would notice adapters that were lost or ignored.
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if any(marker in name for marker in ADAPTER_MARKERS):
                param.add_(0.1 * torch.randn(param.shape, generator=generator))
    return model.eval()


def _waveforms() -> torch.Tensor:
    return torch.randn(2, 8000, generator=torch.Generator().manual_seed(1))


def _is_adapter(name: str) -> bool:
    return any(marker in name for marker in ADAPTER_MARKERS)


@pytest.mark.parametrize("method", METHODS)
def test_only_adapters_and_head_receive_gradients(method):
    model = _adapted(method).train()
    output = model(_waveforms(), labels=torch.tensor([0, 3]))
    assert torch.isfinite(output.loss)
    output.loss.backward()
    adapters = 0
    for name, param in model.named_parameters():
        if not name.startswith("encoder."):
            assert param.grad is not None, name  # layer sum, pooling, head train fully
        elif _is_adapter(name):
            adapters += 1
            assert param.grad is not None, name
        else:
            assert param.grad is None, name  # frozen base encoder weight
    assert adapters > 0
    # The optimiser sees exactly the trainable parameters, still grouped by layer.
    grouped = [p for g in model.parameter_groups(1e-3, 1e-4, 0.01) for p in g["params"]]
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert {id(p) for p in grouped} == {id(p) for p in trainable}
    assert len(grouped) == len(trainable)


@pytest.mark.parametrize("method", METHODS)
def test_trainable_share_is_small(method):
    report = trainable_parameter_report(_adapted(method))
    assert 0 < report["trainable"] < report["total"]
    assert report["share"] == pytest.approx(report["trainable"] / report["total"])
    assert report["share"] < 0.5


@pytest.mark.parametrize("method", METHODS)
def test_adapter_round_trip_gives_identical_logits(method, tmp_path):
    model = _adapted(method)
    save_adapter(model, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {
        "adapter_model.safetensors",
        "adapter_config.json",
        "sertune_adapter.json",
    }
    saved = load_file(tmp_path / "adapter_model.safetensors")
    encoder_keys = [k for k in saved if k.startswith("encoder.")]
    assert encoder_keys and all(_is_adapter(k) for k in encoder_keys)  # no base weights
    record = json.loads((tmp_path / "sertune_adapter.json").read_text())
    assert record["peft_arguments"]["peft_method"] == method
    assert record["base_model"]["encoder_model_type"] == "wav2vec2"

    reloaded = load_adapter(build_tiny_random_model("wav2vec2", num_labels=4, seed=0), tmp_path)
    waveforms = _waveforms()
    with torch.no_grad():
        torch.testing.assert_close(
            reloaded.eval()(waveforms).logits, model(waveforms).logits, rtol=0, atol=0
        )


def test_adapter_refuses_another_base(tmp_path):
    save_adapter(_adapted("lora"), tmp_path)
    other = build_tiny_random_model("hubert", num_labels=4, seed=0)
    with pytest.raises(ValueError, match="encoder_model_type='wav2vec2'"):
        load_adapter(other, tmp_path)


@pytest.mark.parametrize("method", METHODS)
def test_merged_model_matches_and_holds_no_peft(method, tmp_path):
    model = _adapted(method)
    waveforms = _waveforms()
    with torch.no_grad():
        expected = model(waveforms).logits
        merged = merge_adapter(copy.deepcopy(model))
        actual = merged(waveforms).logits
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-5)
    assert type(merged) is SerForAudioClassification
    assert not any("peft" in type(m).__module__ for m in merged.modules())
    plain = build_tiny_random_model("wav2vec2", num_labels=4)
    assert merged.state_dict().keys() == plain.state_dict().keys()
    merged.save_pretrained(tmp_path)
    reloaded = SerForAudioClassification.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(waveforms).logits, expected, rtol=0, atol=1e-5)


def test_bad_options_name_the_field():
    with pytest.raises(ValueError, match="peft_method"):
        PeftArguments(peft_method="prefix")
    with pytest.raises(ValueError, match="ia3_feedforward_modules"):
        PeftArguments(peft_method="ia3", target_modules=["q_proj"])
    model = build_tiny_random_model("wav2vec2", num_labels=4)
    with pytest.raises(ValueError, match=r"target_modules \['query'\]"):
        apply_peft(model, PeftArguments(target_modules=["q_proj", "query"]))


# ------------------------------------------------------------------------------------------
# The recipe, end to end on the fixture corpus


def _load_recipe():
    spec = importlib.util.spec_from_file_location("lora_wav2vec2_emodb", RECIPE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve string annotations through it
    spec.loader.exec_module(module)
    return module


RECIPE_ARGS = [
    "--model_name_or_path=tiny-random",
    "--max_steps=8",
    "--per_device_train_batch_size=6",
    "--learning_rate=1e-2",
    "--lora_r=4",
    "--logging_steps=1",
    "--eval_strategy=steps",
    "--eval_steps=4",
    "--max_train_seconds=0.8",
    "--dataloader_num_workers=0",
    "--head_hidden_size=16",
    "--report_to=none",
    "--seed=0",
    "--test_speakers",
    "16",
    "--validation_speakers",
    "10",
]


@pytest.fixture(scope="module")
def recipe_run(emodb_fixture, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("lora-run")
    report = _load_recipe().main(
        [*RECIPE_ARGS, f"--data_dir={emodb_fixture}", f"--output_dir={output_dir}"]
    )
    return output_dir, report


def test_recipe_output_folder_is_complete(recipe_run):
    output_dir, report = recipe_run
    for name in (
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "run_config.json",
        "metrics.json",
        "training_log.jsonl",
        "adapter/adapter_model.safetensors",
        "adapter/adapter_config.json",
        "adapter/sertune_adapter.json",
    ):
        assert (output_dir / name).is_file(), name
    assert not (output_dir / "best_model").exists()
    # The top-level model is the merged, plain one.
    config = json.loads((output_dir / "config.json").read_text())
    assert "sertune_peft" not in config
    assert not [k for k in load_file(output_dir / "model.safetensors") if "base_layer" in k]
    run_config = flat_run_config(json.loads((output_dir / "run_config.json").read_text()))
    assert run_config["peft_method"] == "lora" and run_config["lora_r"] == 4
    assert 0.0 <= report["uar"] <= 1.0

    records = [json.loads(line) for line in (output_dir / "training_log.jsonl").open()]
    losses = [r["loss"] for r in records if "loss" in r]
    assert len(losses) == 8
    assert all(np.isfinite(losses))
    # Both evaluations ran, so the best weights went through the adapted model's reload.
    assert [r["step"] for r in records if "eval_uar" in r] == [4, 8]


def test_recipe_adapter_reproduces_the_merged_model(recipe_run):
    output_dir, report = recipe_run
    id2label = dict(enumerate(report["label_names"]))
    base = build_ser_model("tiny-random", id2label=id2label, seed=0, head_hidden_size=16)
    adapted = load_adapter(base, output_dir / "adapter").eval()
    merged = SerForAudioClassification.from_pretrained(output_dir).eval()
    waveforms = _waveforms()
    with torch.no_grad():
        torch.testing.assert_close(
            merged(waveforms).logits, adapted(waveforms).logits, rtol=0, atol=1e-5
        )


NO_PEFT_SCRIPT = r"""
import json, shutil, sys
sys.modules["peft"] = None  # peft must not be needed to use a merged model
import numpy as np, soundfile as sf, torch
import sertune
from transformers import AutoModelForAudioClassification, pipeline

model_dir, wav_path = sys.argv[1], sys.argv[2]
audio, _ = sf.read(wav_path, dtype="float32")  # 16 kHz, the model's rate
# pipeline() decodes file paths with the ffmpeg program; the samples do as well without it.
source = wav_path if shutil.which("ffmpeg") else audio
predictions = pipeline("audio-classification", model=model_dir)(source, top_k=3)
model = AutoModelForAudioClassification.from_pretrained(model_dir).eval()
with torch.no_grad():
    logits = model(torch.from_numpy(audio)[None]).logits[0].tolist()
print(json.dumps({"predictions": predictions, "logits": logits,
                  "peft_loaded": sys.modules["peft"] is not None}))
"""


def test_merged_folder_predicts_without_peft(recipe_run, emodb_fixture):
    output_dir, report = recipe_run
    wav = emodb_fixture / "wav" / "16a01Wa.wav"
    completed = subprocess.run(
        [sys.executable, "-c", NO_PEFT_SCRIPT, str(output_dir), str(wav)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["peft_loaded"] is False
    assert len(result["predictions"]) == 3
    assert {p["label"] for p in result["predictions"]} <= set(report["label_names"])
    # The same logits as the merged model in this process.
    audio, _ = sf.read(wav, dtype="float32")
    merged = SerForAudioClassification.from_pretrained(output_dir).eval()
    with torch.no_grad():
        expected = merged(torch.from_numpy(audio)[None]).logits[0]
    torch.testing.assert_close(torch.tensor(result["logits"]), expected, rtol=0, atol=1e-5)


def test_recipe_without_merge_keeps_the_adapter_alone(emodb_fixture, tmp_path):
    _load_recipe().main(
        [
            *RECIPE_ARGS,
            "--max_steps=2",
            "--eval_steps=2",
            "--peft_method=ia3",
            "--no_merge_adapter_on_save",
            f"--data_dir={emodb_fixture}",
            f"--output_dir={tmp_path}",
        ]
    )
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    assert (tmp_path / "metrics.json").is_file()
    assert not (tmp_path / "model.safetensors").exists()
    assert not (tmp_path / "config.json").exists()


@pytest.mark.parametrize("method", METHODS)
def test_adapted_folder_reloads_only_through_its_class(method, tmp_path):
    model = _adapted(method)
    model.save_pretrained(tmp_path)
    # The base class would load it with the adapters missing: it refuses, naming the way out.
    with pytest.raises(ValueError, match="sertune_peft"):
        SerForAudioClassification.from_pretrained(tmp_path)
    reloaded = PeftSerForAudioClassification.from_pretrained(tmp_path).eval()
    waveforms = _waveforms()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(waveforms).logits, model(waveforms).logits)
