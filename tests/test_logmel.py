"""Tests of the CNN family's feature extractor: log-mel + deltas, normalisation, segments, saving.

Reference computations (framing, FFT, regression deltas) are written out in numpy here, so the
extractor is checked against the formulas rather than against itself.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402
from transformers import BatchFeature  # noqa: E402

from sertune.models.logmel import LogMelFeatureExtractor, log_mel_deltas  # noqa: E402

SAMPLING_RATE = 16_000
WIN, HOP = 400, 160  # 25 ms and 10 ms at 16 kHz

# Samples -> frames at the defaults: 1 + (max(samples, 400) - 400) // 160.
SHORTER_THAN_A_WINDOW = 100  # 1 frame
SHORT = 3000  # 17 frames, less than one segment
ONE_SEGMENT = WIN + 63 * HOP  # exactly 64 frames
ONE_FRAME_MORE = WIN + 64 * HOP  # 65 frames: a second segment with one real frame
ODD = 12_345  # 75 frames
LONG = WIN + 199 * HOP  # 200 frames: 6 overlapping segments


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """The test machine's two cores are shared; small FFTs gain nothing from threads."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def htk_filterbank(n_freqs: int, f_min: float, f_max: float, n_mels: int, rate: int) -> np.ndarray:
    """Triangular filters equally spaced on the HTK mel scale, peak 1, ``[n_freqs, n_mels]``."""

    def mel(hz):
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    def hz(mels):
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)

    freqs = np.linspace(0, rate // 2, n_freqs)[:, None]
    edges = hz(np.linspace(mel(f_min), mel(f_max), n_mels + 2))
    rising = (freqs - edges[:-2]) / (edges[1:-1] - edges[:-2])
    falling = (edges[2:] - freqs) / (edges[2:] - edges[1:-1])
    return np.maximum(0.0, np.minimum(rising, falling))


def noise(*lengths: int, seed: int = 0) -> list[np.ndarray]:
    """Coloured noise with a slowly changing level, so that every mel bin and delta varies."""
    rng = np.random.default_rng(seed)
    waveforms = []
    for length in lengths:
        white = rng.standard_normal(length + 1)
        level = 0.2 + np.abs(np.sin(np.arange(length) / 2000.0 + rng.uniform(0, 3)))
        waveforms.append(((white[1:] + 0.5 * white[:-1]) * level).astype(np.float32))
    return waveforms


def expected_frames(samples: int) -> int:
    return 1 + (max(samples, WIN) - WIN) // HOP


def expected_segments(frames: int, size: int = 64, hop: int = 32) -> int:
    return 1 + math.ceil(max(0, frames - size) / hop)


def raw_features(extractor: LogMelFeatureExtractor, waveforms: list[np.ndarray]):
    """Un-normalised ``[B, 3, n_mels, T]`` features and frame lengths of a zero-padded batch."""
    tensors = [torch.from_numpy(w) for w in waveforms]
    batch = torch.nn.utils.rnn.pad_sequence(tensors, batch_first=True)
    return extractor.log_mel_deltas(batch, [len(w) for w in waveforms])


def regression_deltas(values: np.ndarray, width: int) -> np.ndarray:
    """d_t = sum_n n (c_{t+n} - c_{t-n}) / (2 sum n^2) along the last axis, edges replicated."""
    half = (width - 1) // 2
    frames = values.shape[-1]
    denominator = 2 * sum(n * n for n in range(1, half + 1))
    deltas = np.zeros_like(values)
    for t in range(frames):
        for n in range(1, half + 1):
            ahead = values[..., min(t + n, frames - 1)]
            behind = values[..., max(t - n, 0)]
            deltas[..., t] += n * (ahead - behind)
    return deltas / denominator


# ------------------------------------------------------------------------------------------------
# Shapes and segmentation


@pytest.mark.parametrize(
    "samples", [SHORTER_THAN_A_WINDOW, SHORT, ONE_SEGMENT, ONE_FRAME_MORE, ODD, LONG]
)
def test_shapes_alone(samples):
    extractor = LogMelFeatureExtractor()
    frames = expected_frames(samples)
    segments = expected_segments(frames)

    features, frame_lengths = raw_features(extractor, noise(samples))
    assert features.shape == (1, 3, 64, frames)
    assert frame_lengths.tolist() == [frames]

    output = extractor(noise(samples), sampling_rate=SAMPLING_RATE, return_tensors="pt")
    assert isinstance(output, BatchFeature)
    assert output["input_features"].shape == (1, segments, 3, 64, 64)
    assert output["input_features"].dtype == torch.float32
    assert output["attention_mask"].tolist() == [[1] * segments]


def test_segment_counts_in_a_batch():
    lengths = [SHORTER_THAN_A_WINDOW, SHORT, ONE_SEGMENT, ONE_FRAME_MORE, ODD, LONG]
    counts = [expected_segments(expected_frames(n)) for n in lengths]
    assert counts == [1, 1, 1, 2, 2, 6]
    output = LogMelFeatureExtractor()(noise(*lengths), sampling_rate=SAMPLING_RATE)
    assert output["input_features"].shape == (len(lengths), 6, 3, 64, 64)
    assert output["attention_mask"].sum(1).tolist() == counts


@pytest.mark.parametrize("size, hop", [(64, 32), (20, 7), (16, 16)])
def test_segments_are_windows_of_the_normalised_frames(size, hop):
    extractor = LogMelFeatureExtractor(
        segment_frames=size, segment_hop_frames=hop, padding_value=-2.5
    )
    waveforms = noise(SHORT, ODD, LONG)
    features, frame_lengths = raw_features(extractor, waveforms)
    normalised = extractor.normalize(features, frame_lengths)
    segments = extractor(waveforms, sampling_rate=SAMPLING_RATE, return_tensors="pt")
    mask = segments["attention_mask"]
    segments = segments["input_features"]

    for row, frames in enumerate(frame_lengths.tolist()):
        count = expected_segments(frames, size, hop)
        assert mask[row].tolist() == [1] * count + [0] * (mask.shape[1] - count)
        for index in range(count):
            start = index * hop
            expected = torch.full((3, 64, size), -2.5)
            real = min(frames, start + size) - start
            expected[..., :real] = normalised[row, :, :, start : start + real]
            torch.testing.assert_close(segments[row, index], expected, atol=1e-6, rtol=0)
        # Padded segments are pure padding, even where they would overlap the last real frames.
        assert torch.all(segments[row, count:] == -2.5)


def test_resizing_to_image_size():
    waveforms = noise(SHORT, LONG)
    plain = LogMelFeatureExtractor()(waveforms, sampling_rate=SAMPLING_RATE, return_tensors="pt")
    resized = LogMelFeatureExtractor(image_size=48)(
        waveforms, sampling_rate=SAMPLING_RATE, return_tensors="pt"
    )
    assert resized["input_features"].shape == (2, 6, 3, 48, 48)
    assert torch.equal(resized["attention_mask"], plain["attention_mask"])
    expected = F.interpolate(
        plain["input_features"].flatten(0, 1), size=(48, 48), mode="bilinear", align_corners=False
    ).view(2, 6, 3, 48, 48)
    torch.testing.assert_close(resized["input_features"], expected)
    assert torch.all(resized["input_features"][0, 1:] == 0.0)


# ------------------------------------------------------------------------------------------------
# The features themselves


@pytest.mark.parametrize("window", ["hamming", "hann"])
def test_log_mel_matches_a_direct_computation(window):
    extractor = LogMelFeatureExtractor(window=window, n_mels=40, f_min=50.0, f_max=7000.0)
    (waveform,) = noise(ODD)
    features, _ = raw_features(extractor, [waveform])

    frames = np.lib.stride_tricks.sliding_window_view(waveform.astype(np.float64), WIN)[::HOP]
    # torch's windows are periodic: the symmetric window of one more point, without its last.
    symmetric = np.hamming(WIN + 1) if window == "hamming" else np.hanning(WIN + 1)
    power = np.abs(np.fft.rfft(frames * symmetric[:-1], n=512)) ** 2
    filterbank = htk_filterbank(257, 50.0, 7000.0, 40, SAMPLING_RATE)
    expected = np.log(np.maximum(power @ filterbank, 1e-6)).T
    np.testing.assert_allclose(features[0, 0].numpy(), expected, atol=2e-4, rtol=1e-5)


@pytest.mark.parametrize("delta_width", [3, 5, 9])
def test_deltas_follow_the_regression_formula_with_edges_at_each_utterance_end(delta_width):
    extractor = LogMelFeatureExtractor(delta_width=delta_width, n_mels=16)
    # The short utterance's right edge is replicated at its own end, not at the batch's.
    features, frame_lengths = raw_features(extractor, noise(SHORT, ODD, seed=3))
    for row, frames in enumerate(frame_lengths.tolist()):
        static = features[row, 0, :, :frames].double().numpy()
        delta = regression_deltas(static, delta_width)
        delta2 = regression_deltas(delta, delta_width)
        np.testing.assert_allclose(features[row, 1, :, :frames].numpy(), delta, atol=1e-4)
        np.testing.assert_allclose(features[row, 2, :, :frames].numpy(), delta2, atol=1e-4)
        assert torch.all(features[row, :, :, frames:] == 0)


def test_log_floor():
    silence = np.zeros(SHORT, dtype=np.float32)
    features, _ = raw_features(LogMelFeatureExtractor(), [silence])
    assert torch.allclose(features[:, 0], torch.tensor(math.log(1e-6)))
    assert features[:, 1:].abs().max() < 1e-6

    quiet = noise(SHORT)[0] * 1e-3
    floored, _ = raw_features(LogMelFeatureExtractor(log_floor=1e-2), [quiet])
    unfloored, _ = raw_features(LogMelFeatureExtractor(log_floor=1e-12), [quiet])
    floor = torch.tensor(math.log(1e-2))
    assert floored[:, 0].min() >= floor - 1e-6
    torch.testing.assert_close(floored[:, 0], unfloored[:, 0].clamp(min=floor))


def test_utterance_normalisation_over_real_frames():
    extractor = LogMelFeatureExtractor(padding_value=7.0)
    features, frame_lengths = raw_features(extractor, noise(SHORT, ODD, LONG))
    normalised = extractor.normalize(features, frame_lengths)
    for row, frames in enumerate(frame_lengths.tolist()):
        real = normalised[row, :, :, :frames].double()
        torch.testing.assert_close(real.mean(-1), torch.zeros(3, 64).double(), atol=1e-5, rtol=0)
        std = real.std(-1, unbiased=False)
        torch.testing.assert_close(std, torch.ones(3, 64).double(), atol=1e-4, rtol=0)
        assert torch.all(normalised[row, :, :, frames:] == 7.0)

    # An utterance of exactly one segment: that segment is the whole normalised utterance.
    output = extractor(noise(ONE_SEGMENT), sampling_rate=SAMPLING_RATE, return_tensors="pt")
    segment = output["input_features"][0, 0].double()
    assert torch.allclose(segment.mean(-1), torch.zeros(()).double(), atol=1e-5)
    assert torch.allclose(segment.std(-1, unbiased=False), torch.ones(()).double(), atol=1e-4)


def test_no_normalisation_keeps_log_mel_units():
    extractor = LogMelFeatureExtractor(normalization="none")
    features, frame_lengths = raw_features(extractor, noise(ONE_SEGMENT))
    output = extractor(noise(ONE_SEGMENT), sampling_rate=SAMPLING_RATE, return_tensors="pt")
    torch.testing.assert_close(output["input_features"][0, 0], features[0])


def test_global_normalisation_fit_apply_save_and_load(tmp_path):
    training = noise(SHORT, ODD, LONG, ONE_SEGMENT, SHORTER_THAN_A_WINDOW, seed=5)
    extractor = LogMelFeatureExtractor(normalization="global")
    with pytest.raises(ValueError, match="fit_normalization"):
        extractor(training[0], sampling_rate=SAMPLING_RATE)
    # A generator, read once, in batches that do not divide the data.
    assert extractor.fit_normalization(iter(training), batch_size=2) is extractor

    every_frame = torch.cat(
        [raw_features(extractor, [w])[0][0].double() for w in training], dim=-1
    )  # [3, n_mels, all frames]
    expected_mean = every_frame.mean(-1)
    expected_std = every_frame.std(-1, unbiased=False)
    torch.testing.assert_close(
        torch.tensor(extractor.feature_mean).double(), expected_mean, atol=1e-5, rtol=0
    )
    torch.testing.assert_close(
        torch.tensor(extractor.feature_std).double(), expected_std, atol=1e-5, rtol=1e-5
    )

    normalised = [extractor.normalize(*raw_features(extractor, [w]))[0].double() for w in training]
    pooled = torch.cat(normalised, dim=-1)
    torch.testing.assert_close(pooled.mean(-1), torch.zeros(3, 64).double(), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        pooled.std(-1, unbiased=False), torch.ones(3, 64).double(), atol=1e-4, rtol=0
    )

    extractor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert np.shape(saved["feature_mean"]) == (3, 64)
    reloaded = LogMelFeatureExtractor.from_pretrained(tmp_path)
    assert reloaded.feature_mean == extractor.feature_mean
    assert reloaded.feature_std == extractor.feature_std
    before = extractor(training[2], sampling_rate=SAMPLING_RATE)["input_features"]
    after = reloaded(training[2], sampling_rate=SAMPLING_RATE)["input_features"]
    np.testing.assert_array_equal(before, after)

    with pytest.raises(ValueError, match="normalization='global'"):
        LogMelFeatureExtractor().fit_normalization(training)
    with pytest.raises(ValueError, match="no waveforms"):
        LogMelFeatureExtractor(normalization="global").fit_normalization([])


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"normalization": "none", "image_size": 40},
        {"normalization": "global", "segment_frames": 24, "segment_hop_frames": 10},
    ],
    ids=["utterance", "none-resized", "global"],
)
def test_utterance_alone_equals_utterance_in_a_batch(options):
    extractor = LogMelFeatureExtractor(**options)
    lengths = [SHORTER_THAN_A_WINDOW, SHORT, ODD, LONG, ONE_FRAME_MORE]
    waveforms = noise(*lengths, seed=7)
    if extractor.normalization == "global":
        extractor.fit_normalization(waveforms)
    batch = extractor(waveforms, sampling_rate=SAMPLING_RATE, return_tensors="pt")
    for row, waveform in enumerate(waveforms):
        alone = extractor(waveform, sampling_rate=SAMPLING_RATE, return_tensors="pt")
        count = int(alone["attention_mask"].sum())
        assert batch["attention_mask"][row].sum() == count
        torch.testing.assert_close(
            batch["input_features"][row, :count], alone["input_features"][0], atol=1e-5, rtol=0
        )


# ------------------------------------------------------------------------------------------------
# Saving and loading


def test_save_and_load_round_trip(tmp_path):
    extractor = LogMelFeatureExtractor(
        window="hann",
        n_mels=40,
        f_max=7600.0,
        log_floor=1e-5,
        delta_width=5,
        segment_frames=32,
        segment_hop_frames=16,
        image_size=56,
        padding_value=-1.0,
    )
    extractor.save_pretrained(tmp_path)
    config_file = tmp_path / "preprocessor_config.json"
    assert config_file.is_file()
    saved = json.loads(config_file.read_text())
    assert saved["feature_extractor_type"] == "LogMelFeatureExtractor"
    assert saved["window"] == "hann"  # the base class drops "window" from its dict; we keep it
    assert saved["image_size"] == 56 and saved["n_mels"] == 40 and saved["f_max"] == 7600.0
    # The module is saved beside the config, so the folder loads without sertune.
    assert saved["auto_map"] == {"AutoFeatureExtractor": "logmel.LogMelFeatureExtractor"}
    assert (tmp_path / "logmel.py").is_file()

    reloaded = LogMelFeatureExtractor.from_pretrained(tmp_path)
    assert reloaded.to_dict() == extractor.to_dict()
    waveforms = noise(SHORT, LONG)
    before = extractor(waveforms, sampling_rate=SAMPLING_RATE)
    after = reloaded(waveforms, sampling_rate=SAMPLING_RATE)
    assert before["input_features"].shape == (2, 12, 3, 56, 56)
    np.testing.assert_array_equal(before["input_features"], after["input_features"])
    np.testing.assert_array_equal(before["attention_mask"], after["attention_mask"])


def test_auto_feature_extractor_after_import_sertune(tmp_path):
    from transformers import AutoFeatureExtractor

    import sertune.models

    if not hasattr(sertune.models, "LogMelFeatureExtractor"):
        pytest.skip("LogMelFeatureExtractor is not exported and registered by sertune.models yet")
    LogMelFeatureExtractor(n_mels=32).save_pretrained(tmp_path)
    loaded = AutoFeatureExtractor.from_pretrained(tmp_path)
    assert type(loaded) is LogMelFeatureExtractor
    assert loaded.n_mels == 32


REMOTE_CODE_SCRIPT = """
import sys
sys.modules["sertune"] = None
import numpy as np
from transformers import AutoFeatureExtractor

extractor = AutoFeatureExtractor.from_pretrained({folder!r}, trust_remote_code=True)
assert type(extractor).__module__.startswith("transformers_modules."), type(extractor).__module__
features = extractor(
    list(np.load({waveforms!r})), sampling_rate=16000, return_tensors="np"
)["input_features"]
np.save({output!r}, features)
assert not [m for m in sys.modules if m.startswith("sertune") and sys.modules[m] is not None]
"""


def test_loads_with_remote_code_and_without_sertune(tmp_path):
    folder = tmp_path / "saved"
    extractor = LogMelFeatureExtractor(normalization="global", n_mels=24)
    waveforms = noise(SHORT, SHORT + 999)
    extractor.fit_normalization(waveforms).save_pretrained(folder)
    np.save(tmp_path / "waveforms.npy", np.stack([waveforms[0], waveforms[1][:SHORT]]))
    script = REMOTE_CODE_SCRIPT.format(
        folder=str(folder),
        waveforms=str(tmp_path / "waveforms.npy"),
        output=str(tmp_path / "features.npy"),
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    run = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    expected = extractor([waveforms[0], waveforms[1][:SHORT]], sampling_rate=SAMPLING_RATE)
    np.testing.assert_allclose(
        np.load(tmp_path / "features.npy"), expected["input_features"], atol=1e-6
    )


# ------------------------------------------------------------------------------------------------
# Inputs, options and errors


def test_input_types_and_return_options():
    extractor = LogMelFeatureExtractor(n_mels=32)
    (waveform,) = noise(ODD)
    reference = extractor(waveform, sampling_rate=SAMPLING_RATE)
    assert isinstance(reference["input_features"], np.ndarray)
    assert reference["input_features"].shape == (1, 2, 3, 32, 64)
    for same in (
        [waveform],
        (waveform,),
        waveform.astype(np.float64),
        torch.from_numpy(waveform),
        [torch.from_numpy(waveform)],
        waveform.tolist(),
    ):
        output = extractor(same, sampling_rate=SAMPLING_RATE, return_tensors="np")
        np.testing.assert_allclose(output["input_features"], reference["input_features"], atol=1e-6)

    tensors = extractor(waveform, sampling_rate=SAMPLING_RATE, return_tensors="pt", device="cpu")
    assert isinstance(tensors["input_features"], torch.Tensor)
    assert tensors["attention_mask"].dtype == torch.long
    no_mask = extractor(waveform, sampling_rate=SAMPLING_RATE, return_attention_mask=False)
    assert set(no_mask) == {"input_features"}
    assert set(LogMelFeatureExtractor(return_attention_mask=False)(waveform)) == {"input_features"}


def test_wrong_sampling_rate_is_an_error():
    extractor = LogMelFeatureExtractor()
    with pytest.raises(ValueError, match="expects audio at 16000 Hz, got sampling_rate=8000"):
        extractor(noise(SHORT), sampling_rate=8000)
    with pytest.raises(ValueError, match="16000 Hz"):
        LogMelFeatureExtractor(normalization="global").fit_normalization(noise(SHORT), 44100)
    # Another configured rate is fine when the audio matches it.
    output = LogMelFeatureExtractor(sampling_rate=8000)(noise(SHORT), sampling_rate=8000)
    assert output["input_features"].shape[-2:] == (64, 64)


@pytest.mark.parametrize(
    "raw_speech, error, message",
    [
        (np.array([0.0, np.nan, 0.0] * 200, dtype=np.float32), ValueError, r"\[0\].*non-finite"),
        (
            [np.zeros(800, np.float32), np.array([np.inf] * 800, np.float32)],
            ValueError,
            r"\[1\].*non-finite",
        ),
        ([], ValueError, "empty input"),
        (np.zeros(0, np.float32), ValueError, "waveform 0 is empty"),
        ([np.zeros(800, np.float32), np.zeros(0, np.float32)], ValueError, "waveform 1 is empty"),
        (np.zeros((2, 800), np.float32), ValueError, r"shape \(2, 800\); expected a 1-D"),
        ([np.zeros((800, 2), np.float32)], ValueError, "expected a 1-D"),
        (np.array(["a", "b"]), ValueError, "dtype <U1"),
        ("waveform.wav", TypeError, "got str"),
        ([{"array": np.zeros(800)}], TypeError, "waveform 0 is a dict"),
    ],
    ids=[
        "nan",
        "inf-in-batch",
        "empty-list",
        "empty-array",
        "empty-in-batch",
        "2d-array",
        "2d-in-list",
        "strings",
        "path",
        "dict",
    ],
)
def test_bad_inputs_are_errors(raw_speech, error, message):
    with pytest.raises(error, match=message):
        LogMelFeatureExtractor()(raw_speech, sampling_rate=SAMPLING_RATE)


def test_unsupported_call_options_are_errors():
    extractor = LogMelFeatureExtractor()
    with pytest.raises(ValueError, match="padding='max_length' is not supported"):
        extractor(noise(SHORT), sampling_rate=SAMPLING_RATE, padding="max_length")
    with pytest.raises(ValueError, match="return_tensors"):
        extractor(noise(SHORT), sampling_rate=SAMPLING_RATE, return_tensors="jax")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"window": "blackman"}, "unknown window"),
        ({"n_fft": 256}, "longer than n_fft=256"),
        ({"hop_length_ms": 0.01}, "at least one sample"),
        ({"f_min": 100.0, "f_max": 9000.0}, "f_max <= 8000"),
        ({"log_floor": 0.0}, "log_floor must be positive"),
        ({"delta_width": 4}, "delta_width must be odd"),
        ({"normalization": "batch"}, "unknown normalization"),
        ({"feature_mean": [[0.0] * 64] * 3}, "both feature_mean and feature_std"),
        ({"feature_mean": [[0.0] * 63] * 3, "feature_std": [[1.0] * 63] * 3}, r"shape \(3, n_mels"),
        ({"feature_mean": [[0.0] * 64] * 3, "feature_std": [[0.0] * 64] * 3}, "positive"),
        ({"segment_hop_frames": 65}, "segment_hop_frames must be in"),
        ({"segment_frames": 0}, "segment_frames must be at least 1"),
        ({"image_size": 0}, "image_size"),
    ],
)
def test_config_validation(options, message):
    with pytest.raises(ValueError, match=message):
        LogMelFeatureExtractor(**options)


def test_log_mel_deltas_checks_its_arguments():
    waveforms = torch.zeros(2, 1000)
    with pytest.raises(ValueError, match="lengths must be in"):
        log_mel_deltas(waveforms, [1000, 1001])
    with pytest.raises(ValueError, match="lengths has shape"):
        log_mel_deltas(waveforms, [1000])
    with pytest.raises(ValueError, match=r"\[batch, samples\]"):
        log_mel_deltas(torch.zeros(1000), [1000])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    extractor = LogMelFeatureExtractor(image_size=64)
    waveforms = noise(SHORT, ODD, LONG)
    on_cpu = extractor(waveforms, sampling_rate=SAMPLING_RATE, return_tensors="pt")
    on_gpu = extractor(waveforms, sampling_rate=SAMPLING_RATE, return_tensors="pt", device="cuda")
    assert on_gpu["input_features"].device.type == "cuda"
    assert on_gpu["attention_mask"].device.type == "cuda"
    torch.testing.assert_close(
        on_gpu["input_features"].cpu(), on_cpu["input_features"], atol=1e-3, rtol=1e-3
    )
    torch.testing.assert_close(on_gpu["attention_mask"].cpu(), on_cpu["attention_mask"])
    cuda_inputs = [torch.from_numpy(w).cuda() for w in waveforms]
    from_cuda = extractor(cuda_inputs, sampling_rate=SAMPLING_RATE, return_tensors="pt")
    assert from_cuda["input_features"].device.type == "cuda"
