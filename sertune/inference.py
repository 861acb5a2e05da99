"""Emotion predictions from a saved model: utterances in memory, and long files as a timeline.

A folder written by a sertune recipe (``save_pretrained`` of the model and its feature extractor)
loads with :meth:`EmotionPredictor.from_pretrained`. Audio takes the path training and
``pipeline("audio-classification")`` take: the feature extractor pads a batch
(``padding=True, return_attention_mask=True``) and the model's logits go through a softmax.

Predictions are dicts::

    {"label": "angry", "score": 0.71, "scores": {"angry": 0.71, "sad": 0.20, "happy": 0.09}}

``label`` and ``score`` are the most probable class and its probability; ``scores`` holds every
class's probability, in descending order (ties in ``id2label`` order), so
``[{"label": k, "score": v} for k, v in prediction["scores"].items()]`` is what
``pipeline("audio-classification", top_k=None)`` returns for the same audio.

Long files (:meth:`EmotionPredictor.predict_long`) are cut into fixed-length windows and read in
blocks with ``soundfile.SoundFile``, so memory stays flat however long the file is.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
from transformers import AutoFeatureExtractor

from sertune.audio import audio_info, resample, to_mono
from sertune.data.files import AUDIO_SUFFIXES, scan_audio_files
from sertune.errors import AudioDecodeError, NonFiniteError
from sertune.safe_loading import load_audio_classifier

logger = logging.getLogger(__name__)

__all__ = [
    "DEVICES",
    "SILENCE_FLOOR_DB",
    "EmotionPredictor",
    "iter_audio_files",
    "resolve_device",
    "rms_dbfs",
    "window_spans",
]

#: Values of ``device`` besides ``"cuda:<index>"``; ``"auto"`` is CUDA when available, else CPU.
DEVICES: tuple[str, ...] = ("cpu", "cuda", "auto")

#: The level :func:`rms_dbfs` reports for digital silence (all-zero samples), instead of -inf.
SILENCE_FLOOR_DB = -200.0


def resolve_device(device: str | torch.device) -> torch.device:
    """Turn ``"cpu"``, ``"cuda"``, ``"cuda:<index>"`` or ``"auto"`` into a usable device.

    Args:
        device: The device asked for; ``"auto"`` is the first CUDA device when one is
            available, else the CPU.

    Raises:
        ValueError: The name is unknown, or CUDA is asked for but not available.
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ValueError(
            f"unknown device {device!r}; expected one of {list(DEVICES)} or 'cuda:<index>'"
        ) from None
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device!r}; expected one of {list(DEVICES)}")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but torch sees no CUDA device")
    return resolved


def rms_dbfs(samples: np.ndarray) -> float:
    """Root-mean-square level in dB relative to full scale (1.0), floored at -200 dB.

    A full-scale square wave is 0 dBFS and a full-scale sine about -3 dBFS; all-zero (or empty)
    input gives :data:`SILENCE_FLOOR_DB`.

    Args:
        samples: Float samples in [-1, 1].
    """
    if samples.size == 0:
        return SILENCE_FLOOR_DB
    rms = math.sqrt(float(np.mean(np.square(samples, dtype=np.float64))))
    if rms <= 0.0:
        return SILENCE_FLOOR_DB
    return max(20.0 * math.log10(rms), SILENCE_FLOOR_DB)


def _check_window_options(window_seconds: float, hop_seconds: float) -> None:
    if window_seconds <= 0:
        raise ValueError(f"window_seconds must be positive, got {window_seconds}")
    if hop_seconds <= 0:
        raise ValueError(f"hop_seconds must be positive, got {hop_seconds}")
    if hop_seconds > window_seconds:
        raise ValueError(
            f"hop_seconds ({hop_seconds}) is longer than window_seconds ({window_seconds}): "
            "the audio between windows would never be classified"
        )


class _Timeline:
    """The windows of :meth:`EmotionPredictor.predict_long`, classified in batches as they come.

    Args:
        predictor: The model and its settings.
        info: The file's header.
        silence_threshold_db: Windows below this RMS level (dBFS) are skipped; ``None`` keeps all.
    """

    def __init__(self, predictor: EmotionPredictor, info, silence_threshold_db: float | None):
        self.predictor, self.info = predictor, info
        self.threshold = silence_threshold_db
        self.windows: list[dict[str, Any]] = []
        self.pending: list[tuple[dict[str, Any], np.ndarray]] = []
        self.probability_sum = np.zeros(len(predictor.labels), dtype=np.float64)
        self.classified = 0

    def add(self, span: tuple[int, int], mono: np.ndarray) -> None:
        """Measure one window's level; queue it for the model unless it is skipped as silent."""
        rate = self.info.sampling_rate
        level = rms_dbfs(mono)
        window = {
            "start": span[0] / rate,
            "end": span[1] / rate,
            "rms_dbfs": round(level, 2),
            "skipped": bool(self.threshold is not None and level < self.threshold),
            "label": None,
            "score": None,
            "scores": None,
        }
        self.windows.append(window)
        if window["skipped"]:
            return
        self.pending.append((window, resample(mono, rate, self.predictor.sampling_rate)))
        if len(self.pending) == self.predictor.batch_size:
            self._classify_pending()

    def _classify_pending(self) -> None:
        try:
            rows = self.predictor.probabilities([samples for _, samples in self.pending])
        except (ValueError, RuntimeError) as error:
            # E.g. a window shorter than the encoder's receptive field; name file and time.
            first, last = self.pending[0][0], self.pending[-1][0]
            kind = ValueError if isinstance(error, ValueError) else RuntimeError
            raise kind(
                f"{self.info.path}: windows {first['start']:.2f}-{last['end']:.2f} s: {error}"
            ) from error
        for (window, _), row in zip(self.pending, rows, strict=True):
            window.update(self.predictor._prediction(row))
            self.probability_sum += row
        self.classified += len(self.pending)
        self.pending.clear()

    def finish(self) -> dict[str, Any]:
        """Classify what is still queued; the timeline and its aggregate."""
        if self.pending:
            self._classify_pending()
        aggregate = None
        if self.classified:
            aggregate = self.predictor._prediction(self.probability_sum / self.classified)
        else:
            logger.warning(
                "%s: all %d windows are below %.1f dBFS (silent); nothing was classified",
                self.info.path,
                len(self.windows),
                self.threshold,
            )
        return {
            "path": self.info.path,
            "duration": self.info.duration,
            "sampling_rate": self.info.sampling_rate,
            "windows": self.windows,
            "skipped_windows": len(self.windows) - self.classified,
            "classified_windows": self.classified,
            "all_silent": self.classified == 0,
            "aggregate": aggregate,
        }


def window_spans(num_frames: int, window_frames: int, hop_frames: int) -> list[tuple[int, int]]:
    """The ``[start, end)`` sample spans of the windows :meth:`EmotionPredictor.predict_long` uses.

    Windows start every ``hop_frames`` samples and all have ``window_frames`` samples. When the
    last of them stops short of the end of the audio, one more window is added that ends
    exactly at the end (so it overlaps its predecessor by more than usual): every sample is
    covered, no window is padded, and no window is shorter than the others. Audio shorter
    than one window is one window of its own length.

    Args:
        num_frames: Length of the audio in samples (at least 1).
        window_frames: Window length in samples (at least 1).
        hop_frames: Distance between window starts in samples, from 1 to ``window_frames``.

    Raises:
        ValueError: A length is not positive or the hop is longer than the window.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, got {num_frames}")
    if window_frames < 1 or hop_frames < 1:
        raise ValueError(
            f"window and hop must be at least one sample, got {window_frames} and {hop_frames}"
        )
    if hop_frames > window_frames:
        raise ValueError(
            f"hop ({hop_frames} samples) is longer than the window ({window_frames} samples): "
            "the audio between windows would never be classified"
        )
    if num_frames <= window_frames:
        return [(0, num_frames)]
    spans = [
        (start, start + window_frames)
        for start in range(0, num_frames - window_frames + 1, hop_frames)
    ]
    if spans[-1][1] < num_frames:
        spans.append((num_frames - window_frames, num_frames))
    return spans


def iter_audio_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The audio files named by ``paths``: files as given, folders searched recursively.

    In folders, files whose suffix is one of :data:`~sertune.data.files.AUDIO_SUFFIXES` (any
    case) are kept; the other entries are listed in one warning per folder, and a folder without
    audio gets a warning of its own. A file named directly is kept whatever its suffix, so that
    a file that is not audio is reported when it fails to decode rather than dropped.

    Args:
        paths: Files and folders.

    Returns:
        The files, sorted, each once.

    Raises:
        FileNotFoundError: A path does not exist.
    """
    found: set[Path] = set()
    for path in map(Path, paths):
        if path.is_dir():
            files = scan_audio_files(
                path, suffixes=AUDIO_SUFFIXES, recursive=True, corpus="predict"
            )
            if not files:
                logger.warning(
                    "%s: no audio files (%s) in this folder",
                    path,
                    "/".join(sorted(AUDIO_SUFFIXES)),
                )
            found.update(files)
        elif path.exists():
            found.add(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return sorted(found)


class EmotionPredictor:
    """A saved audio-classification model with its feature extractor, ready to predict.

    The model is put in eval mode and runs under ``torch.inference_mode``. Predictions are
    dicts ``{"label", "score", "scores"}`` (see the module docstring).

    Args:
        model: An audio-classification model with ``config.id2label``.
        feature_extractor: Its feature extractor (``sampling_rate``, ``model_input_names``).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:<index>"`` or ``"auto"``.
        batch_size: Waveforms (or windows) per forward pass.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        feature_extractor,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 8,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.feature_extractor = feature_extractor
        self.batch_size = batch_size
        id2label = {int(k): v for k, v in model.config.id2label.items()}
        self.labels: list[str] = [id2label[i] for i in range(len(id2label))]

    @classmethod
    def from_pretrained(
        cls,
        model_dir: str | os.PathLike,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 8,
    ) -> EmotionPredictor:
        """Load a model folder written by ``save_pretrained`` (model and feature extractor).

        Args:
            model_dir: The folder.
            device: ``"cpu"``, ``"cuda"``, ``"cuda:<index>"`` or ``"auto"``.
            batch_size: Waveforms (or windows) per forward pass.

        Raises:
            FileNotFoundError: ``model_dir`` is not a folder.
            ValueError: The folder holds no loadable model or feature extractor, or the
                device is not available.
        """
        folder = Path(model_dir)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such model folder")
        model = load_audio_classifier(folder)
        try:
            feature_extractor = AutoFeatureExtractor.from_pretrained(folder)
        except (OSError, ValueError, KeyError) as error:
            raise ValueError(
                f"{folder}: cannot load the feature extractor (preprocessor_config.json): {error}"
            ) from None
        return cls(model, feature_extractor, device=device, batch_size=batch_size)

    @property
    def sampling_rate(self) -> int:
        """The rate in Hz that the feature extractor (and so :meth:`predict`) expects."""
        return int(self.feature_extractor.sampling_rate)

    def predict(
        self, waveforms: Sequence[np.ndarray], *, sampling_rate: int | None = None
    ) -> list[dict[str, Any]]:
        """Classify in-memory utterances, ``batch_size`` at a time.

        Args:
            waveforms: 1-D float waveforms in [-1, 1].
            sampling_rate: Their rate; ``None`` means :attr:`sampling_rate`. Other rates are
                resampled first.

        Returns:
            One ``{"label", "score", "scores"}`` dict per waveform, in order.

        Raises:
            ValueError: A waveform is not 1-D or is empty.
            ValueError, RuntimeError: The model cannot take a waveform (e.g. one shorter than
                its receptive field).
        """
        prepared = [self._check_waveform(w, i) for i, w in enumerate(waveforms)]
        if sampling_rate is not None and sampling_rate != self.sampling_rate:
            prepared = [resample(w, sampling_rate, self.sampling_rate) for w in prepared]
        return [self._prediction(row) for row in self.probabilities(prepared)]

    def probabilities(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        """Class probabilities (softmax of the logits) of waveforms at :attr:`sampling_rate`.

        Args:
            waveforms: 1-D float32 waveforms.

        Returns:
            ``[len(waveforms), num_labels]`` float32, columns in ``id2label`` order.
        """
        rows = [
            self._batch_probabilities(waveforms[i : i + self.batch_size])
            for i in range(0, len(waveforms), self.batch_size)
        ]
        if not rows:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return np.concatenate(rows)

    def predict_long(
        self,
        path: str | os.PathLike,
        *,
        window_seconds: float = 2.0,
        hop_seconds: float = 0.5,
        skip_silence: bool = False,
        silence_threshold_db: float = -70.0,
        silence_relative_db: float | None = 35.0,
    ) -> dict[str, Any]:
        """Classify a long file window by window, reading it in blocks.

        Windows follow :func:`window_spans` on the file's own samples: ``window_seconds`` long,
        starting every ``hop_seconds`` (both rounded to whole samples at the file's rate), the
        last one aligned with the end of the file; a file shorter than one window is one
        window. The file is read in blocks of at most one window with ``soundfile.SoundFile``
        and only the samples of the current window are held: each new block carries the
        ``hop`` samples after the previous window, the ``window - hop`` samples they share
        are kept from the previous block. Each window is down-mixed to mono, measured
        (:func:`rms_dbfs`), resampled on its own to :attr:`sampling_rate`, and classified in
        batches of ``batch_size``: a window gets exactly the prediction :meth:`predict` gives
        for the same slice of the file.

        With ``skip_silence``, a window whose RMS level (before resampling) is more than
        ``silence_relative_db`` below the file's loudest window, or under the floor
        ``silence_threshold_db``, is silent and not classified (relative, because a fixed -45
        dBFS dropped whole quiet utterances); this reads the file once more, in blocks.

        Memory: the audio held at any time is one window plus the ``batch_size`` resampled
        windows awaiting the model, whatever the file's length; only the returned timeline
        grows, by one small dict (about 1 KB) per window.

        Args:
            path: Audio file (anything soundfile reads).
            window_seconds: Window length in seconds.
            hop_seconds: Distance between window starts in seconds, at most ``window_seconds``.
            skip_silence: Leave windows quieter than the threshold out of the model and the
                aggregate.
            silence_threshold_db: The absolute floor in dBFS (windows below it are silent).
            silence_relative_db: dB below the loudest window under which a window is silent;
                ``None`` uses the absolute floor only.

        Returns:
            ``{"path", "duration", "sampling_rate", "windows", "skipped_windows",
            "classified_windows", "all_silent", "aggregate"}``. ``duration`` is in seconds and
            ``sampling_rate`` is the file's. ``windows`` lists every window in order as
            ``{"start", "end", "rms_dbfs", "skipped", "label", "score", "scores"}`` (seconds;
            ``label``, ``score`` and ``scores`` are ``None`` for skipped windows).
            ``aggregate`` is a prediction dict whose probabilities are the mean of the
            classified windows' probabilities (its label is the class with the highest mean),
            or ``None`` when every window was skipped as silent, which ``all_silent`` says.

        Raises:
            AudioDecodeError: The file is missing, not audio, empty, truncated or holds
                non-finite samples.
            ValueError: Bad window options.
            ValueError, RuntimeError: The model cannot take a window (e.g. a file shorter than
                its receptive field); the message names the file and the windows' times.
        """
        _check_window_options(window_seconds, hop_seconds)
        info = audio_info(path)
        if info.frames == 0:
            raise AudioDecodeError(info.path, "audio has zero length (no samples)")
        rate = info.sampling_rate
        spans = window_spans(
            info.frames,
            max(1, round(window_seconds * rate)),
            max(1, round(hop_seconds * rate)),
        )
        threshold = (
            _silence_threshold(info.path, spans, silence_threshold_db, silence_relative_db)
            if skip_silence
            else None
        )
        timeline = _Timeline(self, info, threshold)
        with _open_sound_file(info.path) as sound_file:
            for span, block in zip(spans, _read_windows(sound_file, info.path, spans), strict=True):
                timeline.add(span, to_mono(block))
        return timeline.finish()

    def _check_waveform(self, waveform: np.ndarray, index: int) -> np.ndarray:
        array = np.asarray(waveform, dtype=np.float32)
        if array.ndim != 1:
            raise ValueError(
                f"waveform {index} has shape {array.shape}; expected a 1-D (mono) waveform"
            )
        if array.size == 0:
            raise ValueError(f"waveform {index} is empty")
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        if bad:
            raise NonFiniteError(f"waveform {index} has {bad} non-finite samples (NaN or inf)")
        return array

    def _batch_probabilities(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        batch = self.feature_extractor(
            list(waveforms),
            sampling_rate=self.sampling_rate,
            padding=True,
            return_attention_mask=True,
            return_tensors="pt",
        )
        dtype = self.model.dtype
        inputs = {
            name: value.to(self.device, dtype=dtype if value.is_floating_point() else None)
            for name, value in batch.items()
        }
        with torch.inference_mode():
            logits = self.model(**inputs).logits
        probabilities = logits.float().softmax(dim=-1).cpu().numpy()
        if not np.isfinite(probabilities).all():
            raise NonFiniteError(
                "the model's output holds NaN or inf for finite input; no prediction is given "
                "(check the model's weights, or run it in float32)"
            )
        return probabilities

    def _prediction(self, probabilities: np.ndarray) -> dict[str, Any]:
        order = sorted(range(len(self.labels)), key=lambda i: -float(probabilities[i]))
        scores = {self.labels[i]: float(probabilities[i]) for i in order}
        best = order[0]
        return {"label": self.labels[best], "score": float(probabilities[best]), "scores": scores}


def _silence_threshold(
    path: str, spans: Sequence[tuple[int, int]], floor_db: float, relative_db: float | None
) -> float:
    """The level (dBFS) under which a window is silent: the absolute floor, or ``relative_db``
    below the file's loudest window when that is higher."""
    if relative_db is None:
        return floor_db
    return max(floor_db, max(_window_levels(path, spans)) - relative_db)


def _window_levels(path: str, spans: Sequence[tuple[int, int]]) -> list[float]:
    """The RMS level (dBFS) of each window of a file, reading it in blocks."""
    with _open_sound_file(path) as sound_file:
        return [rms_dbfs(to_mono(block)) for block in _read_windows(sound_file, path, spans)]


def _open_sound_file(path: str) -> sf.SoundFile:
    try:
        return sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioDecodeError(path, f"not a readable audio file ({error})") from None


def _read_windows(
    sound_file: sf.SoundFile, path: str, spans: Sequence[tuple[int, int]]
) -> Iterator[np.ndarray]:
    """Yield the ``[frames, channels]`` samples of each span, reading the file front to back.

    Each span must start within or right after the previous one and end no earlier (as
    :func:`window_spans` makes them). Only the samples not yet read are read, at most one
    window per read; those the next window shares with the current one are kept.
    """
    buffer = np.zeros((0, sound_file.channels), dtype=np.float32)
    buffer_start = 0
    for start, end in spans:
        buffer_end = buffer_start + len(buffer)
        if not buffer_start <= start <= buffer_end <= end:
            raise ValueError(
                f"windows must overlap or touch and move forward; got [{start}, {end}) "
                f"after [{buffer_start}, {buffer_end})"
            )
        buffer = buffer[start - buffer_start :]
        buffer_start = start
        needed = end - buffer_end
        if needed:
            try:
                block = sound_file.read(needed, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as error:
                raise AudioDecodeError(
                    path, f"cannot decode samples {buffer_end}-{end} ({error})"
                ) from None
            if len(block) < needed:
                raise AudioDecodeError(
                    path,
                    f"file is truncated: the header says {sound_file.frames} frames, but only "
                    f"{buffer_end + len(block)} could be read",
                )
            if not np.isfinite(block).all():
                bad = int((~np.isfinite(block)).sum())
                raise AudioDecodeError(
                    path, f"audio has {bad} non-finite samples (NaN or inf) in {buffer_end}-{end}"
                )
            buffer = np.concatenate([buffer, block]) if len(buffer) else block
        yield buffer
