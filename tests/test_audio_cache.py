"""The on-disk cache of decoded, resampled audio: hits, invalidation, damage, the loop's option."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
import soundfile as sf

from sertune.audio import load_audio
from sertune.audio_cache import DecodedAudioCache
from sertune.data import load_corpus
from sertune.errors import AudioDecodeError
from sertune.training.data import AudioClassificationDataset

from corpus_fixtures import tone


def _entries(folder) -> list:
    return sorted(p for p in folder.rglob("*.npy") if not p.name.startswith(".tmp-"))


@pytest.fixture
def wav(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, tone(0.5, 22_050, 440, seed=0), 22_050)
    return path


def test_second_read_is_a_hit_with_the_same_samples(wav, tmp_path):
    cache = DecodedAudioCache(tmp_path / "cache", 16_000)
    first = cache.load(wav)
    second = cache.load(str(wav))
    np.testing.assert_array_equal(first, load_audio(wav, 16_000))
    np.testing.assert_array_equal(second, first)
    assert (cache.misses, cache.hits) == (1, 1)
    assert len(_entries(tmp_path / "cache")) == 1
    assert second.dtype == np.float32 and len(second) == 8000


def test_an_edited_file_or_another_rate_gets_a_new_entry(wav, tmp_path):
    cache = DecodedAudioCache(tmp_path / "cache", 16_000)
    before = cache.load(wav)
    sf.write(wav, tone(0.5, 22_050, 880, seed=1), 22_050)
    stat = wav.stat()
    os.utime(wav, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    after = cache.load(wav)
    assert not np.array_equal(after, before)
    np.testing.assert_array_equal(after, load_audio(wav, 16_000))
    assert cache.hits == 0 and len(_entries(tmp_path / "cache")) == 2

    other_rate = DecodedAudioCache(tmp_path / "cache", 8_000)
    assert len(other_rate.load(wav)) == 4000
    assert other_rate.hits == 0 and len(_entries(tmp_path / "cache")) == 3


def test_bytes_are_keyed_by_content(wav, tmp_path):
    cache = DecodedAudioCache(tmp_path / "cache", 16_000)
    data = wav.read_bytes()
    cache.load({"path": None, "bytes": data})
    cache.load(data)
    assert (cache.misses, cache.hits) == (1, 1)


def test_a_damaged_entry_is_decoded_again_with_a_warning(wav, tmp_path, caplog):
    cache = DecodedAudioCache(tmp_path / "cache", 16_000)
    expected = cache.load(wav)
    (entry,) = _entries(tmp_path / "cache")
    entry.write_bytes(entry.read_bytes()[:40])
    with caplog.at_level(logging.WARNING, logger="sertune.audio_cache"):
        np.testing.assert_array_equal(cache.load(wav), expected)
    assert str(entry) in caplog.text and str(wav) in caplog.text
    np.testing.assert_array_equal(np.load(entry), expected)  # replaced

    np.save(entry, np.zeros((2, 3), dtype=np.float64))
    np.testing.assert_array_equal(cache.load(wav), expected)
    assert "float64" in caplog.text


def test_bad_sources_are_named_and_nothing_is_stored(tmp_path):
    cache = DecodedAudioCache(tmp_path / "cache", 16_000)
    with pytest.raises(AudioDecodeError, match="missing.wav.*does not exist"):
        cache.load(tmp_path / "missing.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all")
    with pytest.raises(AudioDecodeError, match="junk.wav"):
        cache.load(junk)
    assert _entries(tmp_path / "cache") == []


def test_a_cache_folder_that_cannot_be_made_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError, match="cannot create the audio cache folder"):
        DecodedAudioCache(blocker / "cache", 16_000)


def test_dataset_items_are_the_same_with_the_cache(emodb_fixture, tmp_path):
    corpus = load_corpus("emodb", emodb_fixture).select(range(6))
    plain = AudioClassificationDataset(corpus, sampling_rate=16_000, max_seconds=0.5, crop=True)
    cache = DecodedAudioCache(tmp_path / "cache", 16_000)
    cached = AudioClassificationDataset(
        corpus, sampling_rate=16_000, max_seconds=0.5, crop=True, audio_cache=cache
    )
    for epoch in range(2):
        for row in range(6):
            key = epoch * 6 + row
            np.testing.assert_array_equal(cached[key]["input_values"], plain[key]["input_values"])
    assert (cache.misses, cache.hits) == (6, 6)
    with pytest.raises(ValueError, match="8000 Hz"):
        AudioClassificationDataset(
            corpus, sampling_rate=8_000, audio_cache=DecodedAudioCache(tmp_path / "c", 16_000)
        )


def test_training_with_audio_cache_dir_fills_and_reuses_the_cache(emodb_fixture, tmp_path):
    from sertune.models import build_cnn_model
    from sertune.models.logmel import LogMelFeatureExtractor
    from sertune.training import TrainingConfig, train

    corpus = load_corpus("emodb", emodb_fixture)
    speakers = np.asarray(corpus["speaker"])
    train_rows = corpus.select(np.flatnonzero(speakers != "16").tolist())
    test_rows = corpus.select(np.flatnonzero(speakers == "16").tolist())
    cache_dir = tmp_path / "audio-cache"

    def run(name):
        model = build_cnn_model(
            "tiny-random-cnn-lstm", id2label=dict(enumerate(corpus.features["label"].names))
        )
        return train(
            model,
            LogMelFeatureExtractor(n_mels=32, segment_frames=32, segment_hop_frames=32),
            train_dataset=train_rows,
            eval_dataset=None,
            test_dataset=test_rows,
            config=TrainingConfig(
                output_dir=str(tmp_path / name),
                num_train_epochs=1,
                per_device_train_batch_size=8,
                dataloader_num_workers=0,
                use_cpu=True,
                report_to="none",
                audio_cache_dir=str(cache_dir),
            ),
        )

    first = run("first")
    entries = _entries(cache_dir)
    assert len(entries) == len(corpus)
    mtimes = {p: p.stat().st_mtime_ns for p in entries}
    second = run("second")
    assert {p: p.stat().st_mtime_ns for p in _entries(cache_dir)} == mtimes  # reused
    assert second.test_metrics["uar"] == first.test_metrics["uar"]
