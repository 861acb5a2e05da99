"""Audio decoding, down-mixing and resampling, and the errors for bad files."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import soundfile as sf

from sertune.audio import (
    audio_info,
    decode_audio,
    load_audio,
    load_audio_window,
    resample,
    resampled_length,
    to_mono,
)
from sertune.errors import AudioDecodeError

from corpus_fixtures import tone

SUBTYPES = [
    ("wav", "PCM_U8", 2**-7),
    ("wav", "PCM_16", 2**-15),
    ("wav", "PCM_24", 2**-23),
    ("wav", "PCM_32", 2**-31),
    ("wav", "FLOAT", 1e-7),
    ("wav", "DOUBLE", 1e-7),
    ("flac", "PCM_16", 2**-15),
    ("flac", "PCM_24", 2**-23),
]


@pytest.mark.parametrize(("extension", "subtype", "step"), SUBTYPES)
def test_decodes_every_sample_format(tmp_path, extension, subtype, step):
    audio = tone(0.25, 16_000, 220.0, seed=0)
    path = tmp_path / f"x.{extension}"
    sf.write(path, audio, 16_000, subtype=subtype)
    decoded = load_audio(path, sampling_rate=None)
    assert decoded.dtype == np.float32
    assert decoded.shape == audio.shape
    # Quantisation error of the format, with a margin for rounding.
    assert np.max(np.abs(decoded - audio)) <= 2 * step


def test_decodes_ogg_vorbis(tmp_path):
    audio = tone(0.5, 16_000, 220.0, seed=0)
    path = tmp_path / "x.ogg"
    sf.write(path, audio, 16_000, format="OGG", subtype="VORBIS")
    decoded = load_audio(path, sampling_rate=None)
    assert decoded.dtype == np.float32
    assert abs(len(decoded) - len(audio)) < 2048
    # Lossy, but the tone's energy survives.
    assert 0.5 < np.std(decoded) / np.std(audio) < 1.5


def test_upper_case_extension(tmp_path):
    path = tmp_path / "X.WAV"
    sf.write(path, tone(0.1, 16_000, 220.0, seed=0), 16_000)
    assert load_audio(path).shape == (1600,)


def test_stereo_is_averaged_to_mono(tmp_path):
    left = tone(0.2, 16_000, 220.0, seed=0)
    right = tone(0.2, 16_000, 330.0, seed=1)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 16_000, subtype="FLOAT")
    samples, rate = decode_audio(path)
    assert samples.shape == (len(left), 2) and rate == 16_000
    np.testing.assert_allclose(load_audio(path), (left + right) / 2, atol=1e-6)


def test_to_mono_shapes():
    assert to_mono(np.ones(5, dtype=np.float64)).dtype == np.float32
    np.testing.assert_array_equal(to_mono(np.array([[1.0, 3.0], [2.0, 4.0]])), [2.0, 3.0])
    with pytest.raises(ValueError, match="frames, channels"):
        to_mono(np.ones((2, 2, 2)))


@pytest.mark.parametrize("file_rate", [8_000, 22_050, 44_100, 48_000])
def test_resamples_to_16k(tmp_path, file_rate):
    audio = (0.5 * np.sin(2 * np.pi * 440.0 * np.arange(file_rate) / file_rate)).astype(np.float32)
    path = tmp_path / "x.wav"
    sf.write(path, audio, file_rate, subtype="FLOAT")
    out = load_audio(path, sampling_rate=16_000)
    assert out.dtype == np.float32
    assert abs(len(out) - 16_000) <= 1
    # The 440 Hz fundamental stays at 440 Hz.
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    peak_hz = np.argmax(spectrum) * 16_000 / len(out)
    assert abs(peak_hz - 440.0) < 3.0


@pytest.mark.parametrize("file_rate", [24_414, 44_101])
def test_awkward_rates_resample_like_any_other(file_rate):
    # 24,414 Hz (TESS) to 16 kHz has gcd 2: a polyphase sinc kernel would need 8,000 phases.
    audio = (0.5 * np.sin(2 * np.pi * 440.0 * np.arange(file_rate) / file_rate)).astype(np.float32)
    out = resample(audio, file_rate, 16_000)
    assert out.dtype == np.float32
    assert len(out) == resampled_length(file_rate, file_rate, 16_000) == 16_000
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    assert abs(np.argmax(spectrum) * 16_000 / len(out) - 440.0) < 2.0
    # A sine's RMS survives (0.5 / sqrt(2)), away from the edges.
    assert np.sqrt(np.mean(out[1000:-1000] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)
    # Upsampling works too and keeps the length rule.
    assert len(resample(audio[:1000], file_rate, 48_000)) == resampled_length(
        1000, file_rate, 48_000
    )


@pytest.mark.parametrize(
    ("length", "orig", "target", "expected"),
    [
        (3, 48_000, 16_000, 1),
        (1, 48_000, 16_000, 0),
        (2, 48_000, 16_000, 1),
        (10, 44_100, 16_000, 4),
    ],
)
def test_resampled_length_rounds_halves_up(length, orig, target, expected):
    assert resampled_length(length, orig, target) == expected
    assert len(resample(np.zeros(length, np.float32), orig, target)) == expected


@pytest.mark.parametrize(("orig", "target"), [(44_100, 16_000), (8_000, 16_000), (48_000, 22_050)])
def test_resample_reproduces_a_band_limited_signal_without_delay(orig, target):
    # Two partials well inside both bands: the resampled signal is the same function sampled at
    # the new rate, with no delay or gain change (checked away from the edges).
    def signal(rate: int) -> np.ndarray:
        t = np.arange(rate) / rate
        return 0.4 * np.sin(2 * np.pi * 300.0 * t) + 0.2 * np.cos(2 * np.pi * 1_700.0 * t + 0.3)

    out = resample(signal(orig).astype(np.float32), orig, target)
    expected = signal(target)[: len(out)]
    edge = target // 20
    np.testing.assert_allclose(out[edge:-edge], expected[edge:-edge], rtol=0, atol=1e-4)


def test_resample_removes_what_the_new_rate_cannot_hold():
    # 12 kHz at 44.1 kHz would alias to 4 kHz at 16 kHz: the anti-aliasing filter removes it.
    t = np.arange(44_100) / 44_100
    out = resample((0.5 * np.sin(2 * np.pi * 12_000.0 * t)).astype(np.float32), 44_100, 16_000)
    assert np.sqrt(np.mean(out[800:-800] ** 2)) < 1e-4


def test_resample_keeps_its_input_at_the_same_rate_and_refuses_bad_rates():
    audio = tone(0.5, 44_100, 300.0, seed=3)
    assert resample(audio, 16_000, 16_000) is audio
    with pytest.raises(ValueError, match="positive"):
        resample(audio, 0, 16_000)


def test_audio_too_short_for_the_new_rate_is_refused(tmp_path):
    path = tmp_path / "one-sample.wav"
    sf.write(path, np.array([0.1], np.float32), 48_000, subtype="FLOAT")
    with pytest.raises(AudioDecodeError, match="too short to resample"):
        load_audio(path, 16_000)


def test_bytes_and_datasets_dict_sources(tmp_path):
    audio = tone(0.2, 16_000, 220.0, seed=0)
    path = tmp_path / "x.wav"
    sf.write(path, audio, 16_000, subtype="FLOAT")
    from_path = load_audio({"path": str(path), "bytes": None})
    from_bytes = load_audio(path.read_bytes())
    from_dict = load_audio({"path": "ignored.wav", "bytes": path.read_bytes()})
    np.testing.assert_array_equal(from_path, from_bytes)
    np.testing.assert_array_equal(from_path, from_dict)


def test_audio_info(tmp_path):
    path = tmp_path / "x.wav"
    sf.write(path, np.zeros((4410, 2), dtype=np.float32), 44_100, subtype="PCM_24")
    info = audio_info(path)
    assert (info.sampling_rate, info.channels, info.frames) == (44_100, 2, 4410)
    assert info.subtype == "PCM_24" and info.format == "WAV"
    assert info.duration == pytest.approx(0.1)


def _write_text_as_wav(path):
    path.write_text("this is not audio\n")


def _write_truncated(path):
    full = path.parent / "full.wav"
    sf.write(full, tone(0.5, 16_000, 220.0, seed=0), 16_000)
    path.write_bytes(full.read_bytes()[:20])


def _write_zero_length(path):
    sf.write(path, np.zeros(0, dtype=np.float32), 16_000)


def _write_nan(path):
    audio = tone(0.1, 16_000, 220.0, seed=0)
    audio[10] = np.nan
    audio[20] = np.inf
    sf.write(path, audio, 16_000, subtype="FLOAT")


BAD_FILES = [
    ("empty file", lambda p: p.write_bytes(b""), "empty"),
    ("text named .wav", _write_text_as_wav, "not a readable audio file"),
    ("truncated header", _write_truncated, "not a readable audio file"),
    ("zero-length audio", _write_zero_length, "zero length"),
    ("non-finite samples", _write_nan, "2 non-finite samples"),
]


@pytest.mark.parametrize(("case", "write", "message"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_files_name_the_file_and_the_problem(tmp_path, case, write, message):
    path = tmp_path / "bad file é.wav"
    write(path)
    with pytest.raises(AudioDecodeError, match=message) as caught:
        load_audio(path)
    assert str(caught.value).startswith(str(path))
    assert caught.value.path == str(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(AudioDecodeError, match="does not exist"):
        load_audio(tmp_path / "nope.wav")
    with pytest.raises(AudioDecodeError, match="is a directory"):
        load_audio(tmp_path)
    with pytest.raises(AudioDecodeError, match="does not exist"):
        audio_info(tmp_path / "nope.wav")


def test_unreadable_permissions(tmp_path, monkeypatch):
    path = tmp_path / "x.wav"
    sf.write(path, tone(0.1, 16_000, 220.0, seed=0), 16_000)
    path.chmod(0)
    if os.geteuid() == 0:
        # root reads any file; pretend to be an ordinary user: opening fails as libsndfile
        # fails on a file it may not read, and the access check says no.
        real_access = os.access
        monkeypatch.setattr(
            os, "access", lambda p, mode: False if str(p) == str(path) else real_access(p, mode)
        )
        real_soundfile = sf.SoundFile

        def refusing_soundfile(file, *args, **kwargs):
            if str(file) == str(path):
                raise RuntimeError(f"Error opening {str(path)!r}: Permission denied")
            return real_soundfile(file, *args, **kwargs)

        monkeypatch.setattr(sf, "SoundFile", refusing_soundfile)
    with pytest.raises(AudioDecodeError, match="permission denied"):
        load_audio(path)


def test_error_pickles_for_dataloader_workers():
    error = AudioDecodeError("/a/b.wav", "file is empty (0 bytes)")
    again = pickle.loads(pickle.dumps(error))
    assert str(again) == str(error) and again.path == "/a/b.wav"


def test_unsupported_source_type():
    with pytest.raises(TypeError, match="give a path or bytes"):
        load_audio(12)
    with pytest.raises(AudioDecodeError, match="neither 'path' nor 'bytes'"):
        load_audio({"path": None, "bytes": None})


@pytest.mark.parametrize("rate", [8_000, 11_025, 16_000, 22_050, 44_100, 48_000])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("where", [0.0, 0.37, 1.0])
@pytest.mark.parametrize("length", [777, 16_000])
def test_a_window_equals_the_crop_of_the_whole_file(tmp_path, rate, channels, where, length):
    samples = tone(4.3, rate, 180.0, seed=rate + channels, channels=channels)
    path = tmp_path / "long.flac"
    sf.write(path, samples, rate, subtype="PCM_16")
    whole = load_audio(path, 16_000)
    window, start = load_audio_window(
        path, 16_000, length, lambda total: int(where * (total - length))
    )
    assert start == int(where * (len(whole) - length))
    assert window.shape == (length,) and window.dtype == np.float32
    # The resampling convolution's rounding depends a little on the input's length.
    np.testing.assert_allclose(window, whole[start : start + length], rtol=0, atol=1e-6)


def test_a_window_of_a_short_file_is_the_whole_file(tmp_path):
    path = tmp_path / "short.wav"
    sf.write(path, tone(0.5, 22_050, 220.0, seed=1), 22_050)
    chosen = []
    window, start = load_audio_window(path, 16_000, 16_000, chosen.append)
    assert start == 0 and not chosen
    np.testing.assert_array_equal(window, load_audio(path, 16_000))


def test_a_window_reports_bad_audio_like_load_audio(tmp_path):
    path = tmp_path / "nan.wav"
    samples = tone(3.0, 16_000, 220.0, seed=2)
    samples[20_000] = np.nan
    sf.write(path, samples, 16_000, subtype="FLOAT")
    with pytest.raises(AudioDecodeError, match="nan.wav.*non-finite"):
        load_audio_window(path, 16_000, 16_000, lambda total: 10_000)
    with pytest.raises(AudioDecodeError, match="missing.wav.*does not exist"):
        load_audio_window(tmp_path / "missing.wav", 16_000, 16_000, lambda total: 0)


NAMED_PIPE_SCRIPT = """
import sys
from sertune.audio import audio_info, load_audio, load_audio_window
from sertune.errors import AudioDecodeError

for read in (load_audio, audio_info, lambda p: load_audio_window(p, 16000, 800, lambda n: 0)):
    try:
        read(sys.argv[1])
    except AudioDecodeError as error:
        print(error)
"""


def test_a_named_pipe_is_reported_not_opened(tmp_path):
    import subprocess
    import sys

    fifo = tmp_path / "speech.wav"
    os.mkfifo(fifo)
    # In a child process: opening the pipe would block it forever, and the timeout says so.
    run = subprocess.run(
        [sys.executable, "-c", NAMED_PIPE_SCRIPT, str(fifo)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 3
    for line in lines:
        assert line.startswith(str(fifo)) and "named pipe (FIFO), not a regular audio file" in line
