"""ONNX export (``sertune.export``) and the torch-free runtime (``sertune.onnx_runtime``).

Tiny random models of both families are saved, exported with their feature extraction in the
graph, and compared with the canonical PyTorch path (feature extractor on the batch, then the
model). Random heads give logits of about 1e-3, where any two runtimes agree within 1e-4 and the
argmax is the same for every fixture-like signal, so each test model's classifier is fitted
(ridge regression on the pooled features) to label probe signals by pitch, with logits up to
+-5: then a 1e-4 tolerance and a top-1 agreement rate mean something.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402

import sertune  # noqa: E402
from sertune import export as sertune_export  # noqa: E402
from sertune import onnx_runtime  # noqa: E402
from sertune.audio import resample as sertune_resample  # noqa: E402
from sertune.cli import main as sertune_main  # noqa: E402
from sertune.export import WaveformToLogits, export_onnx  # noqa: E402
from sertune.models import (  # noqa: E402
    LogMelFeatureExtractor,
    build_cnn_model,
    build_feature_extractor,
    build_tiny_random_model,
)
from sertune.onnx_runtime import OnnxEmotionClassifier  # noqa: E402

from corpus_fixtures import tone  # noqa: E402

ID2LABEL = {0: "angry", 1: "sad", 2: "happy"}
SAMPLING_RATE = 16_000

#: fp32 graph against PyTorch, absolute, on logits of magnitude ~5.
FP32_TOLERANCE = 1e-4

#: Share of 20 fixture-like signals whose top-1 label INT8 and fp32 agree on. Measured: 1.0 for
#: all three models; the wav2vec2 logits move by up to 0.03 under INT8, against top-1 margins of
#: 0.25 and more (the CNN models have almost nothing to quantise: convolutions stay float).
INT8_MIN_AGREEMENT = 0.9


def _build(family: str):
    if family == "wav2vec2":
        model = build_tiny_random_model("wav2vec2", id2label=ID2LABEL)
        return model, build_feature_extractor(model.config)
    model = build_cnn_model(f"tiny-random-{family}", id2label=ID2LABEL)
    return model, LogMelFeatureExtractor(n_mels=32, segment_frames=32)


def _speech_like(seconds: float, seed: int) -> np.ndarray:
    pitch = 110.0 + 17.0 * (seed % 13)
    return tone(seconds, SAMPLING_RATE, pitch, seed=seed, amplitude=0.2 + 0.03 * (seed % 7))


def _pytorch_logits(model, feature_extractor, waveforms) -> np.ndarray:
    batch = feature_extractor(
        list(waveforms),
        sampling_rate=feature_extractor.sampling_rate,
        padding=True,
        return_attention_mask=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        return model(**batch).logits.numpy()


def _pitch_class(seed: int) -> int:
    """The label :func:`_fit_head` teaches: low, middle or high pitch of ``_speech_like(..., seed)``."""
    return min(2, (seed % 13) // 5)


def _fit_head(model, feature_extractor) -> None:
    """Fit the classifier by ridge regression to label probe signals by pitch, logits up to +-5.

    Like a trained head, it gives different labels to different inputs, with margins of the
    size the features support; a random head gives every fixture-like signal the same label,
    where any two runtimes trivially agree.
    """
    classifier = model.head.classifier
    seeds = range(100, 139)
    pooled = []
    hook = classifier.register_forward_hook(lambda module, args, output: pooled.append(args[0]))
    try:
        for seed in seeds:
            _pytorch_logits(model, feature_extractor, [_speech_like(0.6 + 0.2 * (seed % 5), seed)])
    finally:
        hook.remove()
    features = torch.cat(pooled).double()
    design = torch.cat([features, torch.ones(len(features), 1, dtype=torch.float64)], dim=1)
    targets = torch.full((len(features), classifier.out_features), -1.0, dtype=torch.float64)
    targets[torch.arange(len(features)), [_pitch_class(seed) for seed in seeds]] = 1.0
    gram = design.T @ design
    ridge = 1e-2 * gram.diagonal().mean() * torch.eye(len(gram), dtype=torch.float64)
    solution = torch.linalg.solve(gram + ridge, design.T @ targets)  # [inputs + 1, labels]
    scale = 5.0 / float((design @ solution).abs().max())
    with torch.no_grad():
        classifier.weight.copy_(solution[:-1].T * scale)
        classifier.bias.copy_(solution[-1] * scale)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One torch thread: fastest for tiny models, and two oversubscribe a busy two-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module", params=["wav2vec2", "cnn-resnet", "cnn-lstm"])
def exported(request, tmp_path_factory):
    """``(model, feature_extractor, model_dir, onnx_dir)`` with fp32 and INT8 graphs exported."""
    model, feature_extractor = _build(request.param)
    model.eval()
    _fit_head(model, feature_extractor)
    root = tmp_path_factory.mktemp(request.param)
    model.save_pretrained(root / "model")
    feature_extractor.save_pretrained(root / "model")
    export_onnx(root / "model", root / "onnx", int8=True)
    return model, feature_extractor, root / "model", root / "onnx"


@pytest.fixture(scope="module")
def wav2vec2_folder(tmp_path_factory) -> Path:
    """A saved tiny wav2vec2 model folder, for the command-line tests."""
    model, feature_extractor = _build("wav2vec2")
    folder = tmp_path_factory.mktemp("cli") / "model"
    model.save_pretrained(folder)
    feature_extractor.save_pretrained(folder)
    return folder


# --------------------------------------------------------------------------------------------
# The graph against PyTorch


def test_fp32_graph_matches_pytorch_alone_and_batched(exported):
    model, feature_extractor, _, onnx_dir = exported
    classifier = OnnxEmotionClassifier(onnx_dir)
    cases = [[_speech_like(s, seed=i)] for i, s in enumerate((0.5, 1.3, 3.0))]
    cases.append([_speech_like(0.5, seed=3), _speech_like(1.3, seed=4)])
    # The graph was traced on a batch of two: other batch sizes must work (LSTM states).
    cases.append([_speech_like(s, seed=6 + i) for i, s in enumerate((0.9, 0.4, 2.1))])
    # Leading silence: mel energies at the log floor, and exact zeros in the normalisation.
    silence_first = _speech_like(1.1, seed=5)
    silence_first[:4000] = 0.0
    cases.append([silence_first])
    for waveforms in cases:
        expected = _pytorch_logits(model, feature_extractor, waveforms)
        assert np.abs(expected).max() > 0.5  # the rescaled head gives real logits
        got = classifier.logits(waveforms)
        # Observed: below 2e-5 for every case and model.
        np.testing.assert_allclose(got, expected, rtol=0, atol=FP32_TOLERANCE)


def test_samples_past_lengths_are_ignored_in_torch_and_onnx(exported):
    model, feature_extractor, _, onnx_dir = exported
    waveforms = [_speech_like(0.7, seed=8), _speech_like(1.6, seed=9)]
    expected = _pytorch_logits(model, feature_extractor, waveforms)
    batch, lengths = onnx_runtime.pad_batch(waveforms)
    batch = np.concatenate([batch, np.zeros((2, 1000), np.float32)], axis=1)  # extra padding
    batch[0, lengths[0] :] = np.nan  # whatever lies past the end must not matter
    wrapper = WaveformToLogits(model, feature_extractor).eval()
    with torch.no_grad():
        from_torch = wrapper(torch.from_numpy(batch), torch.from_numpy(lengths)).numpy()
    np.testing.assert_allclose(from_torch, expected, rtol=0, atol=FP32_TOLERANCE)
    session = OnnxEmotionClassifier(onnx_dir).session
    (from_onnx,) = session.run(["logits"], {"waveforms": batch, "lengths": lengths})
    np.testing.assert_allclose(from_onnx, expected, rtol=0, atol=FP32_TOLERANCE)


def test_int8_graph_agrees_with_fp32(exported):
    model, _, _, onnx_dir = exported
    fp32 = OnnxEmotionClassifier(onnx_dir)
    int8 = OnnxEmotionClassifier(onnx_dir, int8=True)
    signals = [_speech_like(0.8 + 0.1 * (seed % 10), seed=seed) for seed in range(20)]
    top_fp32 = np.concatenate([fp32.logits([s]) for s in signals]).argmax(axis=1)
    top_int8 = np.concatenate([int8.logits([s]) for s in signals]).argmax(axis=1)
    assert np.mean(top_fp32 == top_int8) >= INT8_MIN_AGREEMENT

    nodes = onnx.load(int8.model_path).graph.node
    quantized = [node.name for node in nodes if node.op_type == "MatMulInteger"]
    if model.config.model_type == "sertune-ser":
        assert any("/encoder/" in name for name in quantized)  # the transformer's products
    assert not any("/head/" in name or "/front_end/" in name for name in quantized)
    op_types = {node.op_type for node in nodes}
    assert "Conv" in op_types and "ConvInteger" not in op_types  # convolutions stay float
    assert "DynamicQuantizeLSTM" not in op_types


def test_export_writes_metadata_and_runtime(exported):
    model, _, _, onnx_dir = exported
    metadata = json.loads((onnx_dir / "sertune_onnx.json").read_text())
    assert metadata["id2label"] == {"0": "angry", "1": "sad", "2": "happy"}
    assert metadata["sampling_rate"] == SAMPLING_RATE
    assert metadata["sertune_version"] == sertune.__version__
    assert metadata["family"] == ("wav2vec2" if model.config.model_type == "sertune-ser" else "cnn")
    assert metadata["files"] == {"fp32": "model.onnx", "int8": "model.int8.onnx"}
    assert metadata["int8"]["op_types"] == ["MatMul"]
    assert metadata["max_abs_diff_vs_pytorch"] < FP32_TOLERANCE
    assert list(metadata["inputs"]) == ["waveforms", "lengths"]
    runtime_copy = (onnx_dir / "sertune_onnx_runtime.py").read_bytes()
    assert runtime_copy == Path(onnx_runtime.__file__).read_bytes()
    onnx.checker.check_model(str(onnx_dir / "model.onnx"))
    graph = onnx.load(str(onnx_dir / "model.onnx")).graph
    waveforms_shape = graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in waveforms_shape] == ["batch", "samples"]


# --------------------------------------------------------------------------------------------
# The runtime


def test_classifier_output_files_and_batches(exported, tmp_path):
    model, feature_extractor, _, onnx_dir = exported
    classifier = OnnxEmotionClassifier(onnx_dir, batch_size=2)
    wave = _speech_like(1.2, seed=11)
    result = classifier(wave)
    assert [set(entry) for entry in result] == [{"label", "score"}] * 3
    scores = [entry["score"] for entry in result]
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) == pytest.approx(1.0)
    expected = _pytorch_logits(model, feature_extractor, [wave])[0]
    assert result[0]["label"] == ID2LABEL[int(expected.argmax())]
    assert classifier(wave, top_k=1) == result[:1]

    # The same audio as a 16 kHz file; a batch of three runs as batches of two and one.
    path = tmp_path / "speech.wav"
    sf.write(path, wave, SAMPLING_RATE, subtype="FLOAT")
    batch = classifier([str(path), wave, path], top_k=2)
    assert len(batch) == 3
    for item in batch:
        assert item[0]["label"] == result[0]["label"]
        assert item[0]["score"] == pytest.approx(result[0]["score"], abs=1e-5)


def test_classifier_resamples_and_downmixes_files(exported, tmp_path):
    _, _, _, onnx_dir = exported
    classifier = OnnxEmotionClassifier(onnx_dir)
    at_44k = tone(1.0, 44_100, 180.0, seed=3, channels=2)
    path = tmp_path / "stereo_44k.wav"
    sf.write(path, at_44k, 44_100)
    mono_16k = sertune_resample(sf.read(path, dtype="float32")[0].mean(axis=1), 44_100, 16_000)
    from_file = classifier(path)
    from_array = classifier(mono_16k)
    assert [e["label"] for e in from_file] == [e["label"] for e in from_array]
    for a, b in zip(from_file, from_array, strict=True):
        assert a["score"] == pytest.approx(b["score"], abs=1e-4)
    resampled_here = classifier(at_44k[:, 0].copy(), sampling_rate=44_100)
    assert resampled_here[0]["label"] == from_file[0]["label"]


@pytest.mark.parametrize("orig_rate", [8_000, 22_050, 44_100, 48_000, 24_414])
def test_runtime_resampler_matches_sertune_audio(orig_rate):
    wave = tone(0.7, orig_rate, 220.0, seed=1)
    expected = sertune_resample(wave, orig_rate, SAMPLING_RATE)
    got = onnx_runtime.resample(wave, orig_rate, SAMPLING_RATE)
    assert got.shape == expected.shape and got.dtype == np.float32
    # The same libsoxr call: the deployed model hears exactly what training fed it.
    np.testing.assert_array_equal(got, expected)


def test_classifier_errors_name_the_problem(exported, tmp_path):
    _, _, _, onnx_dir = exported
    classifier = OnnxEmotionClassifier(onnx_dir)
    missing = tmp_path / "nope.wav"
    with pytest.raises(FileNotFoundError, match="nope.wav"):
        classifier(missing)
    with pytest.raises(ValueError, match="1-D"):
        classifier(np.zeros((2, 16000), dtype=np.float32))
    with pytest.raises(ValueError, match="empty"):
        classifier(np.zeros(0, dtype=np.float32))
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("not audio")
    with pytest.raises(ValueError, match="notes.wav"):
        classifier(not_audio)
    if classifier.min_samples > 1:
        with pytest.raises(ValueError, match="shorter than the model's minimum"):
            classifier(np.zeros(classifier.min_samples - 1, dtype=np.float32))
    with pytest.raises(FileNotFoundError, match="sertune_onnx.json"):
        OnnxEmotionClassifier(tmp_path)


def test_runtime_works_without_torch(exported, tmp_path):
    """The exported folder's runtime file classifies in a process where torch cannot be imported."""
    _, _, _, onnx_dir = exported
    wave = _speech_like(1.0, seed=21)
    path = tmp_path / "speech.wav"
    sf.write(path, wave, SAMPLING_RATE, subtype="FLOAT")
    expected = OnnxEmotionClassifier(onnx_dir)(str(path))
    script = textwrap.dedent(
        f"""
        import importlib.util, json, sys
        for blocked in ("torch", "torchaudio", "transformers", "sertune"):
            sys.modules[blocked] = None  # any import of them now raises ImportError
        spec = importlib.util.spec_from_file_location(
            "sertune_onnx_runtime", {str(onnx_dir / "sertune_onnx_runtime.py")!r}
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        classifier = module.OnnxEmotionClassifier({str(onnx_dir)!r}, int8=True)
        print(json.dumps([classifier({str(path)!r}), module.OnnxEmotionClassifier(
            {str(onnx_dir)!r})({str(path)!r})]))
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    int8_result, fp32_result = json.loads(completed.stdout)
    assert [e["label"] for e in fp32_result] == [e["label"] for e in expected]
    for a, b in zip(fp32_result, expected, strict=True):
        assert a["score"] == pytest.approx(b["score"], abs=1e-6)
    assert {e["label"] for e in int8_result} == set(ID2LABEL.values())


# --------------------------------------------------------------------------------------------
# Command line


def test_cli_exports_a_model_folder(wav2vec2_folder, tmp_path, capsys):
    out = tmp_path / "onnx"
    assert sertune_main(["export", str(wav2vec2_folder), str(out), "--onnx", "--opset", "18"]) == 0
    assert (out / "model.onnx").is_file() and not (out / "model.int8.onnx").exists()
    assert json.loads((out / "sertune_onnx.json").read_text())["opset"] == 18
    assert "model.onnx" in capsys.readouterr().out
    assert OnnxEmotionClassifier(out)(_speech_like(0.6, seed=2))[0]["label"] in ID2LABEL.values()


def test_cli_rejects_a_folder_that_is_not_a_model(tmp_path, capsys):
    not_a_model = tmp_path / "just_audio"
    not_a_model.mkdir()
    (not_a_model / "a.wav").write_bytes(b"")
    assert sertune_main(["export", str(not_a_model), str(tmp_path / "out"), "--onnx"]) == 1
    error = capsys.readouterr().err
    assert str(not_a_model) in error and "config.json" in error
    assert not (tmp_path / "out").exists()

    assert sertune_main(["export", str(tmp_path / "missing"), str(tmp_path / "out"), "--onnx"]) == 1
    assert "missing: no such folder" in capsys.readouterr().err


def test_cli_needs_a_format(wav2vec2_folder, tmp_path):
    assert sertune_main(["export", str(wav2vec2_folder), str(tmp_path / "out")]) == 2


@pytest.mark.parametrize("opset", [13, 21])
def test_export_refuses_unsupported_opsets(wav2vec2_folder, tmp_path, opset):
    with pytest.raises(ValueError, match=r"opset must be in \[17, 20\]"):
        export_onnx(wav2vec2_folder, tmp_path / "out", opset=opset)


def test_a_graph_that_fails_the_check_is_removed(wav2vec2_folder, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sertune_export, "VERIFY_TOLERANCE", -1.0)  # any difference fails
    out = tmp_path / "out"
    assert sertune_main(["export", str(wav2vec2_folder), str(out), "--onnx"]) == 1
    assert "differ from PyTorch's" in capsys.readouterr().err
    assert not (out / "model.onnx").exists() and not (out / "sertune_onnx.json").exists()
