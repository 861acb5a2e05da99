"""Training-time augmentation: waveform effects, SpecAugment and the preview command."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
import soundfile as sf
import torch

from sertune.augment_preview import preview_augmentations
from sertune.cli import main as sertune_main
from sertune.config import parse_config
from sertune.training.augment import (
    AugmentationArguments,
    SpecAugment,
    WaveformAugmenter,
    add_noise_at_snr,
    coloured_noise,
    phase_vocoder,
    pitch_shift,
    reverberate,
    speed_perturb,
    time_shift,
)

RATE = 16_000


def _speech_like(seconds: float = 1.0, frequency: float = 440.0, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    noise = np.random.default_rng(seed).standard_normal(len(t))
    return (0.5 * np.sin(2 * np.pi * frequency * t) + 0.01 * noise).astype(np.float32)


def _dominant_frequency(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / RATE)[np.argmax(spectrum)])


def _snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    noise = noisy.astype(np.float64) - clean.astype(np.float64)
    return float(10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean(noise**2)))


@pytest.fixture
def waveform() -> np.ndarray:
    return _speech_like()


@pytest.fixture
def rir_dir(tmp_path):
    """One decaying synthetic room impulse response, with 40 samples before the direct path."""
    folder = tmp_path / "rirs"
    folder.mkdir()
    rng = np.random.default_rng(1)
    tail = rng.standard_normal(4000) * np.exp(-np.arange(4000) / 800)
    rir = np.concatenate([np.zeros(40), [1.0], 0.3 * tail]).astype(np.float32)
    sf.write(folder / "room.wav", rir / np.abs(rir).max(), RATE, subtype="FLOAT")
    return folder


# Each effect alone, with probability 1: (options, expected length of a 16000-sample input).
SINGLE_EFFECTS = [
    ({"speed_prob": 1.0, "speed_factors": [1.1]}, round(16_000 / 1.1)),
    ({"speed_prob": 1.0, "speed_factors": [0.9]}, round(16_000 / 0.9)),
    ({"pitch_prob": 1.0}, 16_000),
    ({"noise_prob": 1.0}, 16_000),
    ({"noise_prob": 1.0, "noise_color": "brown"}, 16_000),
    ({"gain_prob": 1.0}, 16_000),
    ({"shift_prob": 1.0}, 16_000),
]


@pytest.mark.parametrize(("options", "length"), SINGLE_EFFECTS, ids=lambda v: str(v))
def test_each_effect_alone_keeps_dtype_and_length_contract(waveform, options, length):
    augmenter = WaveformAugmenter(AugmentationArguments(**options), RATE)
    out = augmenter(waveform, np.random.default_rng(0))
    assert augmenter.enabled
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(len(out) - length) <= 1
    assert not np.array_equal(out[: len(waveform)], waveform[: len(out)])
    assert np.isfinite(out).all()


def test_reverb_alone_keeps_length_and_rms(waveform, rir_dir):
    args = AugmentationArguments(reverb_prob=1.0, rir_dir=str(rir_dir))
    out = WaveformAugmenter(args, RATE)(waveform, np.random.default_rng(0))
    assert out.dtype == np.float32 and len(out) == len(waveform)
    assert not np.allclose(out, waveform, atol=1e-3)
    rms = np.sqrt(np.mean(waveform.astype(np.float64) ** 2))
    assert np.sqrt(np.mean(out.astype(np.float64) ** 2)) == pytest.approx(rms, rel=1e-4)


def _everything(rir_dir, probability: float = 1.0) -> AugmentationArguments:
    return AugmentationArguments(
        speed_prob=probability,
        pitch_prob=probability,
        reverb_prob=probability,
        rir_dir=str(rir_dir),
        noise_prob=probability,
        noise_color="random",
        gain_prob=probability,
        shift_prob=probability,
    )


def test_same_seed_same_output_other_seed_other_output(waveform, rir_dir):
    augmenter = WaveformAugmenter(_everything(rir_dir, 0.7), RATE)
    first = augmenter(waveform, np.random.default_rng(0))
    again = augmenter(waveform, np.random.default_rng(0))
    np.testing.assert_array_equal(first, again)
    others = [augmenter(waveform, np.random.default_rng(seed)) for seed in (1, 2, 3)]
    assert all(len(other) != len(first) or not np.array_equal(other, first) for other in others)


def test_all_probabilities_zero_is_the_identity(waveform):
    args = AugmentationArguments()
    augmenter = WaveformAugmenter(args, RATE)
    assert not augmenter.enabled and augmenter.describe() == []
    assert not SpecAugment.from_arguments(args).enabled
    np.testing.assert_array_equal(augmenter(waveform, np.random.default_rng(0)), waveform)


@pytest.mark.parametrize("color", ["white", "pink", "brown", "random"])
def test_generated_noise_is_added_at_the_drawn_snr(waveform, color):
    args = AugmentationArguments(
        noise_prob=1.0, noise_snr_min=10.0, noise_snr_max=10.0, noise_color=color
    )
    noisy = WaveformAugmenter(args, RATE)(waveform, np.random.default_rng(3))
    assert _snr_db(waveform, noisy) == pytest.approx(10.0, abs=0.1)


def test_noise_colours_have_falling_spectra():
    def high_to_low_power(color: str) -> float:
        noise = coloured_noise(2**15, color, np.random.default_rng(0)).astype(np.float64)
        power = np.abs(np.fft.rfft(noise)) ** 2
        quarter = len(power) // 4
        return power[-quarter:].sum() / power[1 : quarter + 1].sum()

    white, pink, brown = (high_to_low_power(c) for c in ("white", "pink", "brown"))
    assert white > 0.5  # flat: about 1
    assert white > 10 * pink
    assert pink > 10 * brown
    for color in ("white", "pink", "brown"):
        noise = coloured_noise(1000, color, np.random.default_rng(0))
        assert noise.dtype == np.float32
        assert np.sqrt(np.mean(noise.astype(np.float64) ** 2)) == pytest.approx(1.0, rel=1e-5)


def test_noise_files_are_used_and_looped(tmp_path, waveform):
    folder = tmp_path / "noise" / "nested"
    folder.mkdir(parents=True)
    t = np.arange(int(0.3 * RATE)) / RATE  # shorter than the utterance: looped
    sf.write(folder / "hum.flac", 0.5 * np.sin(2 * np.pi * 3000 * t), RATE)
    (tmp_path / "noise" / "README.txt").write_text("not audio")
    args = AugmentationArguments(
        noise_prob=1.0, noise_dir=str(tmp_path / "noise"), noise_snr_min=0, noise_snr_max=0
    )
    augmenter = WaveformAugmenter(args, RATE)
    assert augmenter.noise_files == [folder / "hum.flac"]
    assert "1 files from" in augmenter.describe()[0]
    noisy = augmenter(waveform, np.random.default_rng(0))
    added = noisy - waveform
    assert _dominant_frequency(added) == pytest.approx(3000, abs=5)
    assert _snr_db(waveform, noisy) == pytest.approx(0.0, abs=0.1)


def test_empty_or_missing_noise_dir_is_an_error_naming_it(tmp_path):
    empty = tmp_path / "empty_noise"
    empty.mkdir()
    (empty / "notes.txt").write_text("no audio here")
    with pytest.raises(ValueError, match="empty_noise"):
        WaveformAugmenter(AugmentationArguments(noise_prob=0.5, noise_dir=str(empty)), RATE)
    missing = tmp_path / "no_such_folder"
    with pytest.raises(FileNotFoundError, match="no_such_folder"):
        WaveformAugmenter(AugmentationArguments(noise_prob=0.5, noise_dir=str(missing)), RATE)


def test_unusable_noise_files_are_errors_naming_them(tmp_path, waveform):
    folder = tmp_path / "noise"
    folder.mkdir()
    sf.write(folder / "silence.wav", np.zeros(RATE, dtype=np.float32), RATE)
    augmenter = WaveformAugmenter(AugmentationArguments(noise_prob=1, noise_dir=str(folder)), RATE)
    with pytest.raises(ValueError, match="silence.wav"):
        augmenter(waveform, np.random.default_rng(0))
    (folder / "silence.wav").write_bytes(b"RIFF garbage")
    augmenter = WaveformAugmenter(AugmentationArguments(noise_prob=1, noise_dir=str(folder)), RATE)
    with pytest.raises(ValueError, match="silence.wav"):
        augmenter(waveform, np.random.default_rng(0))


def test_reverb_with_a_delayed_delta_is_the_identity(tmp_path, waveform):
    folder = tmp_path / "rirs"
    folder.mkdir()
    delta = np.zeros(500, dtype=np.float32)
    delta[120] = 0.7
    sf.write(folder / "delta.wav", delta, RATE, subtype="FLOAT")
    args = AugmentationArguments(reverb_prob=1.0, rir_dir=str(folder))
    out = WaveformAugmenter(args, RATE)(waveform, np.random.default_rng(0))
    np.testing.assert_allclose(out, waveform, atol=1e-5)
    np.testing.assert_allclose(reverberate(waveform, -3 * delta), -waveform, atol=1e-5)


def test_reverb_needs_a_rir_dir(tmp_path):
    with pytest.raises(ValueError, match="rir_dir"):
        AugmentationArguments(reverb_prob=0.3)
    with pytest.raises(FileNotFoundError, match="rirs_here"):
        WaveformAugmenter(
            AugmentationArguments(reverb_prob=0.3, rir_dir=str(tmp_path / "rirs_here")), RATE
        )


def test_gain_matches_the_drawn_decibels(waveform):
    fixed = AugmentationArguments(gain_prob=1.0, gain_db_min=6.0, gain_db_max=6.0)
    out = WaveformAugmenter(fixed, RATE)(waveform, np.random.default_rng(0))
    np.testing.assert_allclose(out, waveform * 10 ** (6 / 20), rtol=1e-6)
    ranged = WaveformAugmenter(AugmentationArguments(gain_prob=1.0), RATE)
    for seed in range(5):
        out = ranged(waveform, np.random.default_rng(seed))
        gain_db = 20 * np.log10(np.abs(out).max() / np.abs(waveform).max())
        assert -6.0 - 1e-4 <= gain_db <= 6.0 + 1e-4
        assert out.dtype == np.float32


def test_time_shift_moves_the_signal_with_zeros_and_keeps_length():
    impulse = np.zeros(RATE, dtype=np.float32)
    impulse[8000] = 1.0
    np.testing.assert_array_equal(np.flatnonzero(time_shift(impulse, 300)), [8300])
    np.testing.assert_array_equal(np.flatnonzero(time_shift(impulse, -300)), [7700])
    ramp = np.arange(1, 11, dtype=np.float32)
    np.testing.assert_array_equal(time_shift(ramp, 3), [0, 0, 0, 1, 2, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(time_shift(ramp, -3), [4, 5, 6, 7, 8, 9, 10, 0, 0, 0])
    args = AugmentationArguments(shift_prob=1.0, max_shift_seconds=0.1)
    augmenter = WaveformAugmenter(args, RATE)
    moves = set()
    for seed in range(6):
        out = augmenter(impulse, np.random.default_rng(seed))
        assert len(out) == RATE
        (position,) = np.flatnonzero(out)
        assert abs(position - 8000) <= 0.1 * RATE
        moves.add(int(position))
    assert len(moves) > 1


@pytest.mark.parametrize("semitones", [2.0, -3.0, 0.5])
def test_pitch_shift_scales_the_frequency_and_keeps_the_length(semitones):
    sine = _speech_like(frequency=440.0)
    out = pitch_shift(sine, RATE, semitones)
    assert out.dtype == np.float32 and len(out) == len(sine)
    expected = 440.0 * 2 ** (semitones / 12)
    assert _dominant_frequency(out) == pytest.approx(expected, rel=0.01)
    short = pitch_shift(sine[:300], RATE, semitones)
    assert len(short) == 300


@pytest.mark.parametrize("rate", [0.5, 0.8, 1.25, 2.0])
def test_phase_vocoder_changes_the_duration_and_keeps_the_frequency(rate):
    n_fft, hop = 512, 128
    sine = torch.from_numpy(_speech_like(frequency=440.0))
    window = torch.hann_window(n_fft)
    spectrum = torch.stft(sine, n_fft, hop, window=window, return_complex=True)
    stretched = phase_vocoder(spectrum, rate, hop)
    assert stretched.dtype == spectrum.dtype
    assert stretched.shape == (spectrum.shape[0], -(-spectrum.shape[1] // rate))
    length = round(len(sine) / rate)
    out = torch.istft(stretched, n_fft, hop, window=window, length=length).numpy()
    assert _dominant_frequency(out) == pytest.approx(440.0, rel=0.01)
    # The level survives speeding up; slowing down repeats interpolated frames whose neighbouring
    # bins partly cancel, a known loss of the method (about 0.6 here, as torchaudio's own gives).
    middle = slice(length // 4, 3 * length // 4)
    level = np.std(out[middle]) / np.std(sine.numpy()[len(sine) // 4 : 3 * len(sine) // 4])
    assert level == pytest.approx(1.0, abs=0.05) if rate > 1 else 0.5 < level < 1.05


def test_pitch_shift_draws_within_the_range(waveform):
    args = AugmentationArguments(pitch_prob=1.0, pitch_semitones_max=1.0)
    augmenter = WaveformAugmenter(args, RATE)
    for seed in range(3):
        frequency = _dominant_frequency(augmenter(waveform, np.random.default_rng(seed)))
        assert 440 * 2 ** (-1 / 12) - 3 <= frequency <= 440 * 2 ** (1 / 12) + 3


@pytest.mark.parametrize("factor", [0.9, 1.1, 0.95])
def test_speed_perturbation_changes_length_and_frequency_together(factor):
    sine = _speech_like(frequency=440.0)
    out = speed_perturb(sine, RATE, factor)
    assert out.dtype == np.float32
    assert abs(len(out) - round(len(sine) / factor)) <= 1
    assert _dominant_frequency(out) == pytest.approx(440.0 * factor, rel=0.01)


def test_add_noise_at_snr_leaves_silence_alone():
    silence = np.zeros(100, dtype=np.float32)
    noise = np.ones(100, dtype=np.float32)
    np.testing.assert_array_equal(add_noise_at_snr(silence, noise, 10.0), silence)
    with pytest.raises(ValueError, match="shape"):
        add_noise_at_snr(silence, noise[:50], 10.0)


def test_augmenter_pickles_without_its_cache_and_gives_the_same_output(waveform, rir_dir):
    augmenter = WaveformAugmenter(_everything(rir_dir), RATE)
    before = augmenter(waveform, np.random.default_rng(5))
    assert augmenter._cache  # the RIR was decoded and kept
    clone = pickle.loads(pickle.dumps(augmenter))
    assert not clone._cache
    np.testing.assert_array_equal(clone(waveform, np.random.default_rng(5)), before)
    lines = augmenter.describe()
    assert [line.split(":")[0] for line in lines] == [
        "speed perturbation",
        "pitch shift",
        "reverberation",
        "additive noise",
        "gain",
        "time shift",
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"speed_prob": 1.5}, "speed_prob"),
        ({"noise_prob": -0.1}, "noise_prob"),
        ({"spec_time_mask_prob": 2.0}, "spec_time_mask_prob"),
        ({"speed_factors": []}, "speed_factors"),
        ({"speed_factors": [1.0, 0.0]}, "speed_factors"),
        ({"noise_snr_min": 20.0, "noise_snr_max": 5.0}, "noise_snr_min"),
        ({"gain_db_min": 3.0, "gain_db_max": -3.0}, "gain_db_min"),
        ({"noise_color": "purple"}, "noise_color"),
        ({"max_shift_seconds": -1.0}, "max_shift_seconds"),
        ({"pitch_semitones_max": -1.0}, "pitch_semitones_max"),
        ({"spec_freq_masks": -1}, "spec_freq_masks"),
    ],
)
def test_argument_validation(options, message):
    with pytest.raises(ValueError, match=message):
        AugmentationArguments(**options)


def test_arguments_parse_from_the_command_line_and_a_config_file(tmp_path):
    config = tmp_path / "aug.yaml"
    config.write_text("noise_prob: 0.5\nnoise_color: pink\nspeed_factors: [0.8, 1.2]\n")
    (args,) = parse_config(
        (AugmentationArguments,), ["--config", str(config), "--noise_prob", "0.25"]
    )
    assert args.noise_prob == 0.25 and args.noise_color == "pink"
    assert args.speed_factors == [0.8, 1.2]
    for item in dataclasses.fields(AugmentationArguments):
        assert item.metadata.get("help"), item.name


def test_waveform_must_be_one_dimensional():
    augmenter = WaveformAugmenter(AugmentationArguments(gain_prob=1.0), RATE)
    with pytest.raises(ValueError, match="1-D"):
        augmenter(np.zeros((2, 100), dtype=np.float32), np.random.default_rng(0))


# --------------------------------------------------------------------------------------------
# SpecAugment
# --------------------------------------------------------------------------------------------


def _features(batch: int = 3, segments: int = 4) -> torch.Tensor:
    # Offset away from 0 so that only masked cells hold the mask value.
    generator = torch.Generator().manual_seed(0)
    return torch.rand(batch, segments, 3, 64, 64, generator=generator) + 1.0


def test_spec_augment_masks_within_bounds_and_shares_masks_across_channels():
    spec = SpecAugment(
        time_mask_prob=1.0,
        time_masks=2,
        time_mask_frames=10,
        freq_mask_prob=1.0,
        freq_masks=3,
        freq_mask_bins=5,
    )
    features = _features()
    original = features.clone()
    out = spec(features, np.random.default_rng(0))
    torch.testing.assert_close(features, original)  # input untouched
    assert out.shape == features.shape and out.dtype == features.dtype
    assert out.device == features.device
    masked = out == 0.0
    assert masked.any()
    # Masked cells hold 0, the others the input; the 3 channels share their image's mask.
    torch.testing.assert_close(out[~masked], features[~masked])
    assert torch.equal(masked[:, :, 0], masked[:, :, 1])
    assert torch.equal(masked[:, :, 0], masked[:, :, 2])
    masks_per_image = masked[:, :, 0].reshape(-1, 64, 64)
    for mask in masks_per_image:
        masked_frames = int(mask.all(dim=0).sum())  # whole columns: time masks
        masked_bins = int(mask.all(dim=1).sum())  # whole rows: frequency masks
        assert masked_frames <= 2 * 10
        assert masked_bins <= 3 * 5
        # Every masked cell lies in a fully masked column or row.
        covered = mask.all(dim=0)[None, :] | mask.all(dim=1)[:, None]
        assert torch.equal(mask, covered)
    # Segments draw their own masks.
    assert not all(torch.equal(masks_per_image[0], other) for other in masks_per_image[1:])


def test_spec_augment_is_reproducible_and_identity_when_off():
    spec = SpecAugment(time_mask_prob=0.5, freq_mask_prob=0.5)
    features = _features()
    first = spec(features, np.random.default_rng(1))
    torch.testing.assert_close(first, spec(features, np.random.default_rng(1)))
    assert not torch.equal(first, spec(features, np.random.default_rng(2)))
    off = SpecAugment.from_arguments(AugmentationArguments())
    assert not off.enabled
    out = off(features, np.random.default_rng(0))
    assert torch.equal(out, features) and out is not features


def test_spec_augment_from_arguments_and_other_layouts():
    args = AugmentationArguments(
        spec_time_mask_prob=1.0, spec_time_masks=1, spec_time_mask_frames=64
    )
    spec = SpecAugment.from_arguments(args, mask_value=-1.0)
    assert spec.enabled and spec.describe()[0].startswith("SpecAugment time masks")
    plain = torch.rand(2, 64, 50, dtype=torch.float64) + 1
    out = spec(plain, np.random.default_rng(0))
    assert out.dtype == torch.float64 and out.shape == plain.shape
    assert set(torch.unique(out[out < 0]).tolist()) <= {-1.0}
    with pytest.raises(ValueError, match="n_mels, frames"):
        spec(torch.rand(64, 50), np.random.default_rng(0))
    with pytest.raises(ValueError, match="time_mask_prob"):
        SpecAugment(time_mask_prob=1.5)


# --------------------------------------------------------------------------------------------
# Preview
# --------------------------------------------------------------------------------------------


def _write_speech(path, seconds=0.5):
    sf.write(path, _speech_like(seconds), RATE, subtype="PCM_16")
    return path


def test_preview_writes_wavs_and_a_spectrogram_png(tmp_path):
    source = _write_speech(tmp_path / "hello.wav")
    args = AugmentationArguments(
        speed_prob=1.0, gain_prob=1.0, gain_db_min=10, gain_db_max=10, spec_time_mask_prob=1.0
    )
    written = preview_augmentations(
        [source, source], tmp_path / "out", args, num_examples=2, seed=3
    )
    names = [path.name for path in written]
    assert names == [
        "hello_original.wav",
        "hello_aug1.wav",
        "hello_aug2.wav",
        "hello.png",
        "hello_2_original.wav",
        "hello_2_aug1.wav",
        "hello_2_aug2.wav",
        "hello_2.png",
    ]
    info = sf.info(written[1])
    assert info.subtype == "PCM_16" and info.samplerate == RATE
    assert written[3].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # +10 dB would clip: all versions are scaled together, keeping their 10 dB difference.
    original, _ = sf.read(written[0])
    augmented, _ = sf.read(written[1])
    assert np.abs(augmented).max() <= 1.0
    level_db = 20 * np.log10(np.abs(augmented).max() / np.abs(original).max())
    assert level_db == pytest.approx(10.0, abs=0.2)


def preview_main(argv):
    return sertune_main(["augment", "preview", *argv])


def test_preview_main_writes_files(tmp_path, capsys):
    source = _write_speech(tmp_path / "clip.wav")
    out_dir = tmp_path / "preview"
    status = preview_main(
        [str(source), "--output_dir", str(out_dir), "--num_examples", "1", "--noise_prob", "1"]
    )
    assert status == 0
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "clip.png",
        "clip_aug1.wav",
        "clip_original.wav",
    ]
    assert "wrote 3 files" in capsys.readouterr().out


def test_preview_main_reports_unreadable_files(tmp_path, capsys):
    good = _write_speech(tmp_path / "good.wav")
    bad = tmp_path / "notes_not_audio.wav"
    bad.write_text("this is text, not audio")
    status = preview_main([str(good), str(bad), "--output_dir", str(tmp_path / "out")])
    assert status == 1
    assert "notes_not_audio.wav" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing half-written
    status = preview_main([str(good), "--output_dir", str(tmp_path / "out"), "--gain_prob", "3"])
    assert status == 2
    assert "gain_prob" in capsys.readouterr().err
