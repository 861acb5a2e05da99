"""Bad and unusual inputs through the real entry points: corpus validation, the training data
path and ``sertune predict``.

Bad audio formats read by ``load_audio`` alone (empty, truncated header, text named .wav,
zero-length, NaN/inf, missing, directory, permissions, upper-case extension, stereo) are covered
in tests/test_audio.py and not repeated here; docs/reliability.md lists both.
"""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest
import soundfile as sf
import torch
from datasets import Dataset
from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor

import sertune.data.validation as validation
from sertune.audio import load_audio
from sertune.cli import main as sertune_main
from sertune.data.arguments import DataArguments, load_corpus_fold
from sertune.data.registry import build_corpus_dataset
from sertune.data.validation import (
    CACHE_FILE_NAME,
    CorpusValidation,
    UnreadableFile,
    check_audio_file,
    validate_corpus,
)
from sertune.errors import AudioDecodeError, CorpusFileError
from sertune.models import build_cnn_model, build_feature_extractor, build_tiny_random_model
from sertune.models.logmel import LogMelFeatureExtractor
from sertune.training.data import AudioClassificationDataset, PaddingCollator, min_input_samples

from corpus_fixtures import emodb_names, tone, write_emodb

RATE = 16_000


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Keep validation caches out of the home folder."""
    monkeypatch.setenv(validation.CACHE_HOME_ENV, str(tmp_path / "cache"))


def _noise(seconds: float, channels: int = 1, seed: int = 0, rate: int = RATE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.2 * rng.standard_normal((int(seconds * rate), channels))).astype(np.float32)


def _rows(paths, label="angry"):
    return build_corpus_dataset(
        [
            {"id": f"u{i}", "path": path, "label": label, "speaker": "s1", "gender": "female"}
            for i, path in enumerate(paths)
        ],
        corpus="test",
    )


# ------------------------------------------------------------------------------------------------
# Unusual but valid files: they load everywhere and give the expected waveform.


def _write_plain(folder):
    path = folder / "plain.wav"
    sf.write(path, _noise(0.5), RATE)
    return path, 8000


def _write_unicode_name(folder):
    path = folder / "ä ö ü 情感.wav"
    sf.write(path, _noise(0.5, seed=1), RATE)
    return path, 8000


def _write_symlink(folder):
    target = folder / "target folder" / "real.flac"
    target.parent.mkdir()
    sf.write(target, _noise(0.4, seed=2), RATE)
    link = folder / "link to real.flac"
    link.symlink_to(target)
    return link, 6400


def _write_upper_case(folder):
    path = folder / "LOUD.FLAC"
    sf.write(path, _noise(0.3, seed=3), RATE)
    return path, 4800


def _write_six_channels(folder):
    path = folder / "surround.wav"
    sf.write(path, _noise(0.25, channels=6, seed=4), RATE)
    return path, 4000


def _write_silence(folder):
    path = folder / "silence.wav"
    sf.write(path, np.zeros(RATE // 2, dtype=np.float32), RATE, subtype="PCM_16")
    return path, 8000


def _write_other_rate(folder):
    path = folder / "44k.wav"
    sf.write(path, _noise(0.5, seed=5, rate=44_100), 44_100)
    return path, 8000


VALID_FILES = [
    ("plain", _write_plain),
    ("spaces and non-ASCII name", _write_unicode_name),
    ("symlink to audio", _write_symlink),
    ("upper-case extension", _write_upper_case),
    ("six channels", _write_six_channels),
    ("all-zero audio", _write_silence),
    ("44.1 kHz file", _write_other_rate),
]


@pytest.mark.parametrize(("case", "write"), VALID_FILES, ids=[c[0] for c in VALID_FILES])
def test_unusual_valid_files_load_validate_and_batch(tmp_path, case, write):
    path, expected_samples = write(tmp_path)
    waveform = load_audio(path)
    assert waveform.ndim == 1 and len(waveform) == expected_samples
    assert np.isfinite(waveform).all()
    assert validate_corpus(_rows([path])).ok

    dataset = AudioClassificationDataset(_rows([path]), sampling_rate=RATE)
    item = dataset[0]
    np.testing.assert_array_equal(item["input_values"], waveform)
    for extractor in (Wav2Vec2FeatureExtractor(do_normalize=True), LogMelFeatureExtractor()):
        batch = PaddingCollator(extractor)([item])
        features = batch[extractor.model_input_names[0]]
        assert torch.isfinite(features).all(), f"{case}: non-finite {type(extractor).__name__}"


def test_all_zero_audio_gives_finite_normalised_features():
    silence = np.zeros(RATE, dtype=np.float32)
    wav2vec2 = Wav2Vec2FeatureExtractor(do_normalize=True)(
        silence, sampling_rate=RATE, return_tensors="np"
    )["input_values"]
    # Normalising a constant signal divides by sqrt(var + 1e-7): zeros, never NaN.
    assert np.isfinite(wav2vec2).all() and not wav2vec2.any()
    logmel = LogMelFeatureExtractor(normalization="none")(
        silence, sampling_rate=RATE, return_tensors="np"
    )["input_features"]
    # Mel energies are clamped to log_floor before the log: log(1e-6), never -inf.
    assert np.isfinite(logmel).all()
    assert logmel[0, 0, 0].min() == pytest.approx(np.log(1e-6), rel=1e-5)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    model = build_tiny_random_model("wav2vec2", id2label={0: "angry", 1: "sad"})
    folder = tmp_path_factory.mktemp("tiny-wav2vec2")
    model.save_pretrained(folder)
    build_feature_extractor(model.config).save_pretrained(folder)
    return folder


def predict_main(argv):
    return sertune_main(["predict", *argv])


def test_predict_cli_reads_unusual_files_and_names_bad_ones(tmp_path, tiny_model_dir, capsys):
    folder = tmp_path / "inputs"
    folder.mkdir()
    good = {write(folder)[0].name for _, write in VALID_FILES}
    nan_file = folder / "nan at 10.wav"
    audio = tone(0.3, RATE, 220.0, seed=0)
    audio[10] = np.nan
    sf.write(nan_file, audio, RATE, subtype="FLOAT")
    dangling = folder / "dangling.wav"
    dangling.symlink_to(folder / "gone.wav")

    status = predict_main([str(tiny_model_dir), str(folder), "--batch_size", "3"])
    captured = capsys.readouterr()
    assert status == 1
    records = {os.path.basename(r["path"]): r for r in map(json.loads, captured.out.splitlines())}
    assert good <= set(records)
    for name in good:
        assert records[name]["error"] is None, records[name]
        assert records[name]["label"] in {"angry", "sad"}
    assert "non-finite" in records[nan_file.name]["error"]
    assert f"{nan_file}: audio has 1 non-finite samples" in captured.err
    # Found in a folder, a dangling link fails alone; named directly, it stops the command.
    assert "does not exist" in records["dangling.wav"]["error"]
    assert f"{dangling}: file does not exist" in captured.err
    assert predict_main([str(tiny_model_dir), str(dangling)]) == 2
    assert f"{dangling}: no such file or folder" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------
# Bad files: each is an error naming the file, in every entry point.


def _write_dangling_symlink(path):
    path.symlink_to(path.parent / "nowhere.wav")


def _write_nan_samples(path):
    audio = tone(0.2, RATE, 220.0, seed=0)
    audio[5] = np.nan
    sf.write(path, audio, RATE, subtype="FLOAT")


def _write_inf_at_the_end(path):
    audio = tone(1.0, RATE, 220.0, seed=0)
    audio[-3] = -np.inf
    sf.write(path, audio, RATE, subtype="FLOAT")


def _write_truncated_flac(path):
    full = path.parent / "full.flac"
    sf.write(full, _noise(1.0, seed=6), RATE, subtype="PCM_16")
    data = full.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _write_header_only(path):
    sf.write(path, np.zeros(0, dtype=np.float32), RATE)


BAD_FILES = [
    ("dangling symlink", ".wav", _write_dangling_symlink, "file does not exist"),
    ("NaN sample", ".wav", _write_nan_samples, "non-finite samples"),
    ("inf in the last block", ".wav", _write_inf_at_the_end, "non-finite samples"),
    ("FLAC cut in half", ".flac", _write_truncated_flac, "cannot decode|not a readable"),
    ("header without samples", ".wav", _write_header_only, "zero length"),
    ("text named .wav", ".wav", lambda p: p.write_text("not audio"), "not a readable audio"),
]


@pytest.mark.parametrize(
    ("case", "suffix", "write", "message"), BAD_FILES, ids=[c[0] for c in BAD_FILES]
)
def test_bad_files_are_reported_by_validation_and_the_data_path(
    tmp_path, case, suffix, write, message
):
    path = tmp_path / f"bad ü {case}{suffix}"
    write(path)
    with pytest.raises(AudioDecodeError, match=message) as caught:
        check_audio_file(path)
    assert caught.value.path == str(path)

    good = tmp_path / "good.wav"
    sf.write(good, _noise(0.2), RATE)
    result = validate_corpus(_rows([good, path]))
    assert result.checked == 2
    assert [(item.row, item.path) for item in result.unreadable] == [(1, str(path))]
    assert result.unreadable[0].reason == caught.value.problem

    dataset = AudioClassificationDataset(_rows([good, path]), sampling_rate=RATE)
    assert len(dataset[0]["input_values"]) == 3200
    with pytest.raises(AudioDecodeError, match=message) as caught:
        dataset[1]
    assert str(caught.value).startswith(str(path))


def test_rows_holding_bytes_are_reported_not_skipped(tmp_path):
    dataset = Dataset.from_dict({"audio": [{"path": None, "bytes": b"RIFF"}]})
    result = validate_corpus(dataset, cache_dir=tmp_path)
    assert result.unreadable == [
        UnreadableFile(0, "<in-memory audio>", result.unreadable[0].reason)
    ]
    assert "bytes" in result.unreadable[0].reason


# ------------------------------------------------------------------------------------------------
# The validation cache


def _count_audio_reads(monkeypatch):
    calls = []
    real_info, real_soundfile = validation.audio_info, sf.SoundFile

    def spy_info(path):
        calls.append(("info", str(path)))
        return real_info(path)

    def spy_soundfile(path, *args, **kwargs):
        calls.append(("open", str(path)))
        return real_soundfile(path, *args, **kwargs)

    monkeypatch.setattr(validation, "audio_info", spy_info)
    monkeypatch.setattr(validation.sf, "SoundFile", spy_soundfile)
    return calls


def test_second_validation_of_an_unchanged_corpus_reads_no_audio(tmp_path, monkeypatch):
    root = write_emodb(tmp_path / "emodb", seconds=0.2, with_rates=False)
    files = sorted((root / "wav").iterdir())
    bad = files[3]
    bad.write_bytes(b"")
    dataset = _rows(files)
    cache_dir = tmp_path / "validation cache"
    calls = _count_audio_reads(monkeypatch)

    first = validate_corpus(dataset, cache_dir=cache_dir)
    assert first.checked == len(files) and first.bad_rows == [3] and first.cached == 0
    assert {path for _, path in calls} == {str(f) for f in files}
    cached = json.loads((cache_dir / CACHE_FILE_NAME).read_text())
    assert str(bad.resolve()) not in cached["files"]  # failures are checked again every time
    assert len(cached["files"]) == len(files) - 1

    calls.clear()
    second = validate_corpus(dataset, cache_dir=cache_dir)
    assert calls == [("info", str(bad))]  # only the unreadable file is looked at again
    assert second.cached == len(files) - 1 and second.unreadable == first.unreadable

    # A changed file (new size and mtime) is read again; the fixed bad file is found readable.
    sf.write(files[0], _noise(0.1), RATE, subtype="PCM_16")
    sf.write(bad, _noise(0.1), RATE, subtype="PCM_16")
    calls.clear()
    third = validate_corpus(dataset, cache_dir=cache_dir)
    assert third.ok
    assert {path for _, path in calls} == {str(files[0]), str(bad)}

    # Now every file is cached: validating again reads no audio at all.
    calls.clear()
    assert validate_corpus(dataset, cache_dir=cache_dir).cached == len(files)
    assert calls == []


def test_corrupt_cache_is_rebuilt_with_a_warning(tmp_path, caplog):
    path = tmp_path / "a.wav"
    sf.write(path, _noise(0.1), RATE)
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    (cache_dir / CACHE_FILE_NAME).write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="sertune"):
        assert validate_corpus(_rows([path]), cache_dir=cache_dir).ok
    assert "is not valid JSON" in caplog.text
    assert json.loads((cache_dir / CACHE_FILE_NAME).read_text())["files"]


def test_describe_caps_the_listing():
    result = CorpusValidation(
        checked=30, unreadable=[UnreadableFile(i, f"f{i}.wav", "empty") for i in range(23)]
    )
    lines = result.describe(limit=20).splitlines()
    assert len(lines) == 21
    assert lines[0] == "  f0.wav: empty" and lines[-1] == "  ... and 3 more"


# ------------------------------------------------------------------------------------------------
# load_corpus_fold: unreadable files stop the run, or are left out with --exclude_unreadable


@pytest.fixture
def emodb_with_bad_files(tmp_path):
    names = emodb_names(speakers=("03", "08", "09", "10", "11"))
    root = write_emodb(tmp_path / "emodb", names, seconds=0.2)
    bad = [root / "wav" / names[1], root / "wav" / names[9]]
    bad[0].write_bytes(b"")
    bad[1].write_text("text, not audio")
    return root, bad


def test_load_corpus_fold_lists_unreadable_files(emodb_with_bad_files):
    root, bad = emodb_with_bad_files
    args = DataArguments(corpus="emodb", data_dir=str(root))
    with pytest.raises(CorpusFileError) as caught:
        load_corpus_fold(args)
    message = str(caught.value)
    assert "2 of 35 audio files of corpus 'emodb' cannot be read" in message
    assert f"{bad[0]}: file is empty (0 bytes)" in message
    assert f"{bad[1]}: not a readable audio file" in message
    assert "--exclude_unreadable" in message


def test_exclude_unreadable_drops_the_rows_with_a_warning(emodb_with_bad_files, caplog):
    root, bad = emodb_with_bad_files
    args = DataArguments(corpus="emodb", data_dir=str(root), exclude_unreadable=True)
    with caplog.at_level(logging.WARNING, logger="sertune"):
        corpus, fold = load_corpus_fold(args)
    assert len(corpus) == 33
    paths = {audio["path"] for audio in corpus["audio"]}
    assert not paths & {str(path) for path in bad}
    assert sorted([*fold.train, *fold.validation, *fold.test]) == list(range(33))
    warning = next(r for r in caplog.records if r.levelno == logging.WARNING)
    assert "2 of 35 audio files" in warning.getMessage()
    assert str(bad[0]) in warning.getMessage() and str(bad[1]) in warning.getMessage()


# ------------------------------------------------------------------------------------------------
# Audio shorter than the encoder's receptive field


def test_min_input_samples_is_the_receptive_field():
    assert min_input_samples(Wav2Vec2Config()) == 400
    # Training with time masks of 10 frames needs 10 frames: 400 + 9 * 320 samples.
    assert min_input_samples(Wav2Vec2Config(mask_time_prob=0.05), training=True) == 3280
    assert min_input_samples(Wav2Vec2Config(mask_time_prob=0.0), training=True) == 400
    tiny = build_tiny_random_model("wav2vec2", id2label={0: "a", 1: "b"})
    assert min_input_samples(tiny.config) == 1 + 39 + 15 * 20
    cnn = build_cnn_model("tiny-random-cnn-resnet", id2label={0: "a", 1: "b"})
    assert min_input_samples(cnn.config) == 1


def test_short_audio_is_padded_to_min_samples_with_one_warning(tmp_path, caplog):
    short = tmp_path / "short 100 samples.wav"
    sf.write(short, _noise(100 / RATE), RATE)
    normal = tmp_path / "normal.wav"
    sf.write(normal, _noise(0.5), RATE)
    model = build_tiny_random_model("wav2vec2", id2label={0: "angry", 1: "sad"}).eval()
    extractor = build_feature_extractor(model.config)
    collate = PaddingCollator(extractor)

    # Unpadded, the encoder's convolutions cannot read 100 samples.
    unpadded = AudioClassificationDataset(_rows([short]), sampling_rate=RATE)
    batch = collate([unpadded[0]])
    batch.pop("padding_counts")
    with pytest.raises(RuntimeError, match="Kernel size can't be greater than actual input size"):
        model(**batch)

    minimum = min_input_samples(model.config, training=True)
    dataset = AudioClassificationDataset(
        _rows([short, normal]), sampling_rate=RATE, min_samples=minimum
    )
    with caplog.at_level(logging.WARNING, logger="sertune"):
        first, again, long = dataset[0], dataset[2], dataset[1]
    assert len(first["input_values"]) == minimum
    np.testing.assert_array_equal(first["input_values"][:100], load_audio(short))
    assert not first["input_values"][100:].any()
    np.testing.assert_array_equal(again["input_values"], first["input_values"])  # epoch 1
    assert len(long["input_values"]) == 8000
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"{short}: 100 samples at 16000 Hz is shorter than the model's minimum of {minimum}; "
        "padded with zeros"
    ]
    batch = collate([first])
    batch.pop("padding_counts")
    model.train()
    assert torch.isfinite(model(**batch).logits).all()


def test_min_samples_must_fit_max_seconds(tmp_path):
    rows = _rows([tmp_path / "unused.wav"])
    with pytest.raises(ValueError, match="min_samples must be at least 1"):
        AudioClassificationDataset(rows, sampling_rate=RATE, min_samples=0)
    with pytest.raises(ValueError, match=r"min_samples \(4000\) is longer than max_seconds"):
        AudioClassificationDataset(rows, sampling_rate=RATE, max_seconds=0.2, min_samples=4000)
