"""EmotionPredictor, long-audio windows read in blocks, and the `sertune predict` command."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import pipeline

from sertune.audio import load_audio, resample
from sertune.cli import main as sertune_main
from sertune.errors import AudioDecodeError
from sertune.inference import EmotionPredictor, iter_audio_files, rms_dbfs, window_spans
from sertune.models import build_cnn_model, build_feature_extractor, build_tiny_random_model
from sertune.models.logmel import LogMelFeatureExtractor

ID2LABEL = {0: "angry", 1: "sad", 2: "happy"}
LABELS = set(ID2LABEL.values())
FAMILIES = ["wav2vec2", "cnn"]


def _build(family: str):
    if family == "wav2vec2":
        model = build_tiny_random_model("wav2vec2", id2label=ID2LABEL)
        return model, build_feature_extractor(model.config)
    model = build_cnn_model("tiny-random-cnn-resnet", id2label=ID2LABEL)
    return model, LogMelFeatureExtractor(n_mels=32, segment_frames=32)


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    """A saved tiny random model per family, its classifier scaled up so that windows differ."""
    folders = {}
    for family in FAMILIES:
        model, feature_extractor = _build(family)
        classifier = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
        with torch.no_grad():
            classifier.weight.mul_(50.0)
            classifier.bias.mul_(50.0)
        folder = tmp_path_factory.mktemp(f"model-{family}")
        model.save_pretrained(folder)
        feature_extractor.save_pretrained(folder)
        folders[family] = folder
    return folders


@pytest.fixture(scope="module")
def predictors(model_dirs):
    return {
        family: EmotionPredictor.from_pretrained(folder, batch_size=3)
        for family, folder in model_dirs.items()
    }


def _write(path, seconds, rate=16_000, channels=1, seed=0, silent_after=None, subtype=None):
    """Seeded noise with a slowly varying level; zeros from ``silent_after`` seconds on."""
    rng = np.random.default_rng(seed)
    frames = int(round(seconds * rate))
    envelope = 0.05 + 0.2 * np.abs(np.sin(np.arange(frames) / rate * 1.3))
    samples = rng.standard_normal((frames, channels)) * envelope[:, None]
    if silent_after is not None:
        samples[int(silent_after * rate) :] = 0.0
    sf.write(path, samples.astype(np.float32), rate, subtype=subtype)
    return path


def _assert_prediction(prediction):
    assert set(prediction["scores"]) == LABELS
    assert sum(prediction["scores"].values()) == pytest.approx(1.0, abs=1e-5)
    values = list(prediction["scores"].values())
    assert values == sorted(values, reverse=True)
    assert prediction["label"] == next(iter(prediction["scores"]))
    assert prediction["score"] == max(values)


# ------------------------------------------------------------------------------------------------
# Utterances


@pytest.mark.parametrize("family", FAMILIES)
def test_predict_gives_probabilities_batched_like_alone_and_like_the_pipeline(
    family, predictors, model_dirs
):
    predictor = predictors[family]
    rng = np.random.default_rng(1)
    lengths = (16_000, 9_000, 24_000, 4_000)
    waveforms = [(rng.standard_normal(n) * 0.1).astype(np.float32) for n in lengths]
    predictions = predictor.predict(waveforms)
    assert len(predictions) == 4
    for prediction in predictions:
        _assert_prediction(prediction)
    alone = [predictor.predict([w])[0] for w in waveforms]
    for batched, single in zip(predictions, alone, strict=True):
        assert batched["label"] == single["label"]
        for label in LABELS:
            assert batched["scores"][label] == pytest.approx(single["scores"][label], abs=1e-5)

    classifier = pipeline("audio-classification", model=str(model_dirs[family]), top_k=None)
    expected = classifier(waveforms[0])
    assert [p["label"] for p in expected] == list(predictions[0]["scores"])
    for entry in expected:
        assert entry["score"] == pytest.approx(predictions[0]["scores"][entry["label"]], abs=1e-5)


def test_predict_resamples_and_rejects_bad_waveforms(predictors):
    predictor = predictors["wav2vec2"]
    waveform = (np.random.default_rng(2).standard_normal(44_100) * 0.1).astype(np.float32)
    at_44k = predictor.predict([waveform], sampling_rate=44_100)[0]
    at_16k = predictor.predict([resample(waveform, 44_100, 16_000)])[0]
    assert at_44k["scores"] == pytest.approx(at_16k["scores"])
    assert predictor.predict([]) == []
    with pytest.raises(ValueError, match="waveform 1 has shape"):
        predictor.predict([waveform, np.zeros((2, 100), np.float32)])
    with pytest.raises(ValueError, match="waveform 0 is empty"):
        predictor.predict([np.zeros(0, np.float32)])


def test_from_pretrained_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no-model"):
        EmotionPredictor.from_pretrained(tmp_path / "no-model")
    with pytest.raises(ValueError, match=str(tmp_path)):
        EmotionPredictor.from_pretrained(tmp_path)


# ------------------------------------------------------------------------------------------------
# Windows


@pytest.mark.parametrize(
    ("frames", "window", "hop", "expected"),
    [
        (10, 4, 2, [(0, 4), (2, 6), (4, 8), (6, 10)]),  # the last window ends at the end
        (11, 4, 2, [(0, 4), (2, 6), (4, 8), (6, 10), (7, 11)]),  # one more, aligned to the end
        (3, 4, 2, [(0, 3)]),  # shorter than a window: one window of its own length
        (4, 4, 1, [(0, 4)]),
        (9, 3, 3, [(0, 3), (3, 6), (6, 9)]),
    ],
)
def test_window_spans(frames, window, hop, expected):
    assert window_spans(frames, window, hop) == expected


def test_window_spans_reject_gaps():
    with pytest.raises(ValueError, match="longer than the window"):
        window_spans(100, 4, 5)


def test_rms_dbfs():
    assert rms_dbfs(np.ones(100, np.float32)) == pytest.approx(0.0)
    assert rms_dbfs(np.full(100, 0.1, np.float32)) == pytest.approx(-20.0)
    assert rms_dbfs(np.zeros(100, np.float32)) == -200.0


@pytest.mark.parametrize("family", FAMILIES)
def test_windows_equal_utterance_predictions_of_the_same_slices(family, predictors, tmp_path):
    # 44.1 kHz stereo: windows are read in blocks, down-mixed and resampled one by one.
    path = _write(tmp_path / "long.wav", 6.3, rate=44_100, channels=2)
    predictor = predictors[family]
    result = predictor.predict_long(path, window_seconds=2.0, hop_seconds=1.0)

    assert result["duration"] == pytest.approx(6.3)
    assert result["sampling_rate"] == 44_100
    assert [w["start"] for w in result["windows"]] == pytest.approx([0, 1, 2, 3, 4, 4.3])
    assert [w["end"] for w in result["windows"]] == pytest.approx([2, 3, 4, 5, 6, 6.3])
    assert result["skipped_windows"] == 0 and result["classified_windows"] == 6

    mono = load_audio(path, sampling_rate=None)
    slices = [
        resample(mono[round(w["start"] * 44_100) : round(w["end"] * 44_100)], 44_100, 16_000)
        for w in result["windows"]
    ]
    for window, alone in zip(result["windows"], predictor.predict(slices), strict=True):
        _assert_prediction(window)
        assert window["label"] == alone["label"]
        for label in LABELS:
            assert window["scores"][label] == pytest.approx(alone["scores"][label], abs=1e-5)

    # The aggregate is the mean of the windows' probabilities.
    aggregate = result["aggregate"]
    _assert_prediction(aggregate)
    for label in LABELS:
        mean = np.mean([w["scores"][label] for w in result["windows"]])
        assert aggregate["scores"][label] == pytest.approx(mean, abs=1e-6)


def test_audio_shorter_than_a_window_is_one_window(predictors, tmp_path):
    path = _write(tmp_path / "short.wav", 0.8)
    result = predictors["wav2vec2"].predict_long(path, window_seconds=2.0, hop_seconds=0.5)
    assert [(w["start"], w["end"]) for w in result["windows"]] == [(0.0, pytest.approx(0.8))]
    utterance = predictors["wav2vec2"].predict([load_audio(path)])[0]
    assert result["aggregate"]["scores"] == pytest.approx(utterance["scores"], abs=1e-5)


def test_silent_windows_are_skipped_and_counted(predictors, tmp_path):
    path = _write(tmp_path / "half.wav", 8.0, silent_after=4.0)
    predictor = predictors["wav2vec2"]
    result = predictor.predict_long(path, window_seconds=2.0, hop_seconds=1.0, skip_silence=True)
    # Windows starting at 4, 5 and 6 s lie wholly in the silent half.
    skipped = [w["start"] for w in result["windows"] if w["skipped"]]
    assert skipped == [4.0, 5.0, 6.0]
    assert result["skipped_windows"] == 3 and result["classified_windows"] == 4
    for window in result["windows"]:
        if window["skipped"]:
            assert window["label"] is None and window["scores"] is None
            assert window["rms_dbfs"] == -200.0
        else:
            _assert_prediction(window)
    heard = [w for w in result["windows"] if not w["skipped"]]
    for label in LABELS:
        mean = np.mean([w["scores"][label] for w in heard])
        assert result["aggregate"]["scores"][label] == pytest.approx(mean, abs=1e-6)

    kept = predictor.predict_long(path, window_seconds=2.0, hop_seconds=1.0)
    assert kept["skipped_windows"] == 0 and kept["classified_windows"] == 7


def test_all_silent_file_has_no_aggregate(predictors, tmp_path):
    path = _write(tmp_path / "silence.wav", 3.0, silent_after=0.0)
    result = predictors["wav2vec2"].predict_long(path, skip_silence=True)
    assert result["all_silent"] is True
    assert result["aggregate"] is None
    assert result["classified_windows"] == 0
    assert result["skipped_windows"] == len(result["windows"]) == 3


def test_long_files_are_read_in_blocks_never_whole(predictors, tmp_path, monkeypatch):
    path = _write(tmp_path / "blocks.wav", 12.0, rate=22_050, channels=2)
    reads: list[int] = []
    original_read = sf.SoundFile.read

    def spy(self, frames=-1, *args, **kwargs):
        reads.append(frames)
        return original_read(self, frames, *args, **kwargs)

    def whole_file(*args, **kwargs):
        raise AssertionError("soundfile.read loads a whole file")

    monkeypatch.setattr(sf.SoundFile, "read", spy)
    monkeypatch.setattr(sf, "read", whole_file)
    result = predictors["wav2vec2"].predict_long(path, window_seconds=2.0, hop_seconds=0.5)

    window_frames = 2 * 22_050
    assert len(result["windows"]) == 21
    assert reads[0] == window_frames
    assert all(0 < frames <= window_frames for frames in reads)
    assert max(reads[1:]) == 22_050 // 2  # then one hop per window
    assert sum(reads) == 12 * 22_050  # every sample read once


def test_predict_long_reports_bad_files_and_options(predictors, tmp_path):
    predictor = predictors["wav2vec2"]
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all\n")
    with pytest.raises(AudioDecodeError, match="notes.wav: not a readable audio file"):
        predictor.predict_long(text)
    with pytest.raises(AudioDecodeError, match="does not exist"):
        predictor.predict_long(tmp_path / "missing.wav")
    good = _write(tmp_path / "good.wav", 1.0)
    with pytest.raises(ValueError, match="longer than window_seconds"):
        predictor.predict_long(good, window_seconds=1.0, hop_seconds=2.0)
    tiny = _write(tmp_path / "tiny.wav", 0.01)  # shorter than the encoder's receptive field
    with pytest.raises((ValueError, RuntimeError), match="tiny.wav: windows 0.00-0.01 s"):
        predictor.predict_long(tiny)


# ------------------------------------------------------------------------------------------------
# Files and the command line


@pytest.fixture
def audio_folder(tmp_path):
    folder = tmp_path / "audio"
    (folder / "sub").mkdir(parents=True)
    _write(folder / "sub" / "one.wav", 1.5, seed=1)
    _write(folder / "two.flac", 1.2, rate=44_100, channels=2, seed=2)
    _write(folder / "sub" / "three.WAV", 2.5, rate=8_000, seed=3, subtype="PCM_16")
    (folder / "bad.wav").write_text("this is text, not a RIFF file\n")
    (folder / "notes.txt").write_text("ignored: not an audio suffix\n")
    return folder


def test_iter_audio_files(audio_folder, tmp_path, caplog):
    extra = _write(tmp_path / "extra.ogg", 0.5)
    files = iter_audio_files([audio_folder, extra, audio_folder / "two.flac"])
    names = [f.relative_to(tmp_path).as_posix() for f in files]
    assert names == sorted(names)
    assert names == [
        "audio/bad.wav",
        "audio/sub/one.wav",
        "audio/sub/three.WAV",
        "audio/two.flac",
        "extra.ogg",
    ]
    assert "notes.txt" in caplog.text
    with pytest.raises(FileNotFoundError, match="nowhere.wav: no such file or folder"):
        iter_audio_files([tmp_path / "nowhere.wav"])


def main(argv):
    return sertune_main(["predict", *argv])


def test_cli_jsonl_reports_a_bad_file_and_goes_on(model_dirs, predictors, audio_folder, capsys):
    status = main([str(model_dirs["wav2vec2"]), str(audio_folder), "--batch_size", "2"])
    captured = capsys.readouterr()
    assert status == 1
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["path"].rsplit("/", 1)[-1] for r in records] == [
        "bad.wav",
        "one.wav",
        "three.WAV",
        "two.flac",
    ]
    bad, *good = records
    assert bad["label"] is None and "not a readable audio file" in bad["error"]
    assert f"{bad['path']}: not a readable audio file" in captured.err
    assert "1 of 4 files failed" in captured.err
    for record in good:
        assert record["error"] is None
        _assert_prediction(record)
        alone = predictors["wav2vec2"].predict([load_audio(record["path"])])[0]
        assert record["scores"] == pytest.approx(alone["scores"], abs=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_cli_csv(model_dirs, audio_folder, tmp_path, family):
    output = tmp_path / "predictions.csv"
    status = main(
        [str(model_dirs[family]), str(audio_folder), "--format", "csv", "--output", str(output)]
    )
    assert status == 1
    rows = list(csv.DictReader(io.StringIO(output.read_text())))
    assert list(rows[0]) == ["path", "label", "score", "angry", "sad", "happy", "error"]
    assert len(rows) == 4
    bad = rows[0]
    assert bad["path"].endswith("bad.wav") and bad["error"] and bad["label"] == ""
    for row in rows[1:]:
        assert row["error"] == ""
        assert row["label"] in LABELS
        scores = {label: float(row[label]) for label in LABELS}
        assert math.fsum(scores.values()) == pytest.approx(1.0, abs=1e-5)
        assert float(row["score"]) == pytest.approx(max(scores.values()))


def test_cli_long_writes_the_timeline(model_dirs, audio_folder, tmp_path):
    output = tmp_path / "timeline.jsonl"
    argv = [str(model_dirs["wav2vec2"]), str(audio_folder / "sub"), "--long"]
    argv += ["--output", str(output), "--window_seconds", "1", "--hop_seconds", "0.5"]
    argv += ["--skip_silence"]
    assert main(argv) == 0
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["path"].rsplit("/", 1)[-1] for r in records] == ["one.wav", "three.WAV"]
    one, three = records
    assert [(w["start"], w["end"]) for w in one["windows"]] == [(0.0, 1.0), (0.5, 1.5)]
    assert len(three["windows"]) == 4 and three["windows"][-1]["end"] == 2.5
    for record in records:
        assert record["error"] is None and record["all_silent"] is False
        _assert_prediction(record)
        assert record["skipped_windows"] == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--skip_silence"], "applies to --long only"),
        (["--hop_seconds", "3"], "longer than --window_seconds"),
        (["--format", "xml"], "invalid choice"),
    ],
)
def test_cli_rejects_bad_options(model_dirs, audio_folder, capsys, extra, message):
    try:
        status = main([str(model_dirs["wav2vec2"]), str(audio_folder), *extra])
    except SystemExit as exit_:  # argparse's own errors
        status = exit_.code
    assert status == 2
    assert message in capsys.readouterr().err


def test_cli_missing_path_and_model(model_dirs, tmp_path, capsys):
    assert main([str(model_dirs["wav2vec2"]), str(tmp_path / "missing.wav")]) == 2
    assert "missing.wav: no such file or folder" in capsys.readouterr().err
    good = _write(tmp_path / "good.wav", 1.0)
    assert main([str(tmp_path / "no-model"), str(good)]) == 1
    assert "no-model: no such model folder" in capsys.readouterr().err
    output = tmp_path / "no-such-folder" / "out.jsonl"
    assert main([str(model_dirs["wav2vec2"]), str(good), "--output", str(output)]) == 2
    assert "out.jsonl: cannot write there" in capsys.readouterr().err


def test_cli_a_file_too_short_for_the_model_fails_alone(model_dirs, tmp_path, capsys):
    folder = tmp_path / "batch"
    folder.mkdir()
    _write(folder / "a.wav", 1.0, seed=4)
    _write(folder / "b_tiny.wav", 0.01, seed=5)  # shorter than the encoder's receptive field
    _write(folder / "c.wav", 1.3, seed=6)
    assert main([str(model_dirs["wav2vec2"]), str(folder), "--batch_size", "3"]) == 1
    captured = capsys.readouterr()
    records = {r["path"].rsplit("/", 1)[-1]: r for r in map(json.loads, captured.out.splitlines())}
    assert records["b_tiny.wav"]["error"] and records["b_tiny.wav"]["label"] is None
    assert "b_tiny.wav" in captured.err
    for name in ("a.wav", "c.wav"):
        assert records[name]["error"] is None
        _assert_prediction(records[name])
