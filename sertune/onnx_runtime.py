"""Speech emotion recognition with an exported sertune ONNX model: onnxruntime, numpy, soundfile, soxr.

:func:`sertune.export.export_onnx` writes a folder with ``model.onnx`` (and ``model.int8.onnx``),
``sertune_onnx.json`` and a copy of this file as ``sertune_onnx_runtime.py``. The graph takes the
raw waveforms and does the feature extraction itself, so this module only decodes, down-mixes,
resamples and pads audio, runs the graph and turns logits into scores::

    from sertune_onnx_runtime import OnnxEmotionClassifier   # or: from sertune.onnx_runtime import ...

    classifier = OnnxEmotionClassifier("exported/")
    classifier("speech.wav")            # [{"label": "angry", "score": 0.91}, ...] best first
    classifier(["a.wav", waveform_16k])  # one list per input

This file imports only the standard library, numpy, soundfile, soxr and onnxruntime: never torch,
never the rest of sertune (whose package ``__init__`` imports torch). Deploy it by copying it next
to the model, or load it by path (``importlib.util.spec_from_file_location``).

Graph interface (``sertune_onnx.json`` names it too): inputs ``waveforms`` (float32, ``[batch,
samples]``, each utterance zero-padded after its end) and ``lengths`` (int64, ``[batch]``, real
samples per utterance); output ``logits`` (float32, ``[batch, num_labels]``). Samples past
``lengths[b]`` are never read, so their values do not matter.

Resampling is the call sertune's training data pipeline makes (``sertune.audio.resample``:
libsoxr through python-soxr, "HQ" preset), so both give the same samples.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence

import numpy as np
import onnxruntime as ort
import soundfile as sf
import soxr

logger = logging.getLogger(__name__)

#: File names inside an exported folder.
ONNX_FILE = "model.onnx"
INT8_ONNX_FILE = "model.int8.onnx"
METADATA_FILE = "sertune_onnx.json"
RUNTIME_FILE = "sertune_onnx_runtime.py"

#: ``format`` and ``format_version`` written to ``sertune_onnx.json``.
METADATA_FORMAT = "sertune-onnx"
METADATA_FORMAT_VERSION = 1

#: Names of the graph's inputs and output.
WAVEFORMS_INPUT = "waveforms"
LENGTHS_INPUT = "lengths"
LOGITS_OUTPUT = "logits"

#: libsoxr quality preset (the same as ``sertune.audio.RESAMPLE_QUALITY``).
RESAMPLE_QUALITY = "HQ"

AudioInput = str | os.PathLike | np.ndarray


# --------------------------------------------------------------------------------------------
# Audio


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Decode an audio file with soundfile and average its channels.

    Args:
        path: Any file libsndfile reads (WAV, FLAC, OGG/Vorbis, ...).

    Returns:
        ``(samples, sampling_rate)``: 1-D float32 samples in [-1, 1] and the file's rate.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file is not readable audio, is empty or holds non-finite samples; the
            message starts with the path.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such audio file")
    try:
        samples, sampling_rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: not a readable audio file ({error})") from None
    if samples.shape[0] == 0:
        raise ValueError(f"{path}: audio has zero length (no samples)")
    if not np.isfinite(samples).all():
        raise ValueError(f"{path}: audio has non-finite samples (NaN or inf)")
    mono = samples[:, 0] if samples.shape[1] == 1 else samples.mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(mono, dtype=np.float32), int(sampling_rate)


def resample(waveform: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample a 1-D waveform with libsoxr, exactly as sertune's training pipeline does.

    The same call as ``sertune.audio.resample`` (soxr's "HQ" preset), so the exported model
    hears what it was trained on. The output has ``round(len(waveform) * target_rate /
    orig_rate)`` samples (halves rounded up).

    Args:
        waveform: 1-D float samples.
        orig_rate: Their rate in Hz.
        target_rate: Wanted rate in Hz.

    Returns:
        1-D float32 samples at ``target_rate``.
    """
    orig_rate, target_rate = int(orig_rate), int(target_rate)
    if orig_rate <= 0 or target_rate <= 0:
        raise ValueError(f"sampling rates must be positive, got {orig_rate} -> {target_rate}")
    waveform = np.ascontiguousarray(waveform, dtype=np.float32)
    if waveform.ndim != 1:
        raise ValueError(f"expected a 1-D waveform, got shape {waveform.shape}")
    if orig_rate == target_rate:
        return waveform
    return soxr.resample(waveform, orig_rate, target_rate, quality=RESAMPLE_QUALITY)


def pad_batch(waveforms: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Zero-pad 1-D waveforms to the longest: the graph's ``waveforms`` and ``lengths`` inputs.

    Args:
        waveforms: 1-D float waveforms, at least one, none empty.

    Returns:
        ``(waveforms [batch, longest] float32, lengths [batch] int64)``.
    """
    if len(waveforms) == 0:
        raise ValueError("expected at least one waveform")
    lengths = np.array([len(wave) for wave in waveforms], dtype=np.int64)
    batch = np.zeros((len(waveforms), int(lengths.max())), dtype=np.float32)
    for row, wave in enumerate(waveforms):
        batch[row, : len(wave)] = wave
    return batch, lengths


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, computed in float64 for stability.

    Args:
        logits: ``[..., num_labels]``.
    """
    shifted = np.asarray(logits, dtype=np.float64)
    shifted = shifted - shifted.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


# --------------------------------------------------------------------------------------------
# The classifier


def read_metadata(folder: str | os.PathLike) -> dict:
    """Read and check ``sertune_onnx.json`` of an exported folder.

    Args:
        folder: A folder written by ``sertune export --onnx``.

    Raises:
        FileNotFoundError: The folder or its metadata file is missing.
        ValueError: The metadata is not valid JSON or lacks a required field.
    """
    folder = os.fspath(folder)
    path = os.path.join(folder, METADATA_FILE)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{folder}: no such folder")
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{folder}: no {METADATA_FILE}; is this a folder written by `sertune export --onnx`?"
        )
    try:
        with open(path, encoding="utf-8") as file:
            metadata = json.load(file)
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: unreadable metadata ({error})") from None
    if metadata.get("format") != METADATA_FORMAT:
        raise ValueError(f"{path}: format is {metadata.get('format')!r}, not {METADATA_FORMAT!r}")
    if metadata.get("format_version", 0) > METADATA_FORMAT_VERSION:
        raise ValueError(
            f"{path}: format_version {metadata['format_version']} is newer than this runtime's "
            f"{METADATA_FORMAT_VERSION}; use the runtime file exported with the model"
        )
    missing = [
        key
        for key in ("id2label", "sampling_rate", "min_samples", "inputs", "outputs", "files")
        if key not in metadata
    ]
    if missing:
        raise ValueError(f"{path}: missing field(s) {missing}")
    return metadata


class OnnxEmotionClassifier:
    """Classify the emotion of speech with an exported model; ``pipeline``-style output.

    Calls take a path, a 1-D numpy waveform, or a list of them, and return what
    ``transformers.pipeline("audio-classification")`` returns: a list of ``{"label", "score"}``
    dicts sorted by score, best first (a list of such lists for a list input). Scores are the
    softmax of the logits.

    A list input is run ``batch_size`` utterances at a time, each batch zero-padded to its
    longest utterance (the graph ignores the padding). An utterance gets the same scores alone
    and batched except with group-norm encoders (``feat_extract_norm="group"``, e.g.
    wav2vec2-base), whose convolutional front end normalises over the padding too, exactly as
    in PyTorch; ``sertune_onnx.json`` records it as ``"padding_invariant": false``. Use
    ``batch_size=1`` there to get the scores of one-at-a-time inference.

    Args:
        folder: A folder written by ``sertune export --onnx``.
        int8: Load ``model.int8.onnx`` (exported with ``--int8``) instead of ``model.onnx``.
        batch_size: Utterances per graph run for list inputs.
        providers: onnxruntime execution providers; ``None`` means the CPU.
        intra_op_num_threads: Threads of one graph run; ``None`` or 0 lets onnxruntime choose.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        *,
        int8: bool = False,
        batch_size: int = 8,
        providers: Sequence[str] | None = None,
        intra_op_num_threads: int | None = None,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.folder = os.fspath(folder)
        self.metadata = read_metadata(self.folder)
        key = "int8" if int8 else "fp32"
        name = self.metadata["files"].get(key)
        if name is None:
            raise FileNotFoundError(
                f"{self.folder}: no {key} model was exported (re-export with --int8)"
            )
        self.model_path = os.path.join(self.folder, name)
        if not os.path.isfile(self.model_path):
            raise FileNotFoundError(f"{self.model_path}: listed in {METADATA_FILE} but missing")
        self.id2label = {int(i): str(label) for i, label in self.metadata["id2label"].items()}
        self.sampling_rate = int(self.metadata["sampling_rate"])
        self.min_samples = int(self.metadata["min_samples"])
        self.batch_size = batch_size
        options = ort.SessionOptions()
        if intra_op_num_threads:
            options.intra_op_num_threads = intra_op_num_threads
        self.session = ort.InferenceSession(
            self.model_path,
            sess_options=options,
            providers=list(providers) if providers else ["CPUExecutionProvider"],
        )
        graph_inputs = [node.name for node in self.session.get_inputs()]
        if graph_inputs != [WAVEFORMS_INPUT, LENGTHS_INPUT]:
            raise ValueError(
                f"{self.model_path}: graph inputs are {graph_inputs}, expected "
                f"{[WAVEFORMS_INPUT, LENGTHS_INPUT]}"
            )

    @property
    def labels(self) -> list[str]:
        """Class names in id order."""
        return [self.id2label[i] for i in range(len(self.id2label))]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.model_path!r}, labels={self.labels}, "
            f"sampling_rate={self.sampling_rate})"
        )

    def load(self, audio: AudioInput, sampling_rate: int | None = None) -> np.ndarray:
        """One input as a mono float32 waveform at the model's rate.

        Args:
            audio: A path (decoded with soundfile, channels averaged, resampled from the file's
                rate) or a 1-D numpy waveform.
            sampling_rate: Rate of a numpy waveform; ``None`` means it is already at the
                model's rate (as in ``pipeline``). Files carry their own rate, so it is not
                used for paths.
        """
        if isinstance(audio, (str, os.PathLike)):
            waveform, rate = read_audio(audio)
            where = os.fspath(audio)
        elif isinstance(audio, np.ndarray):
            if audio.ndim != 1:
                raise ValueError(
                    f"expected a 1-D mono waveform, got an array of shape {audio.shape}; pass a "
                    "batch as a list of 1-D arrays and mix channels down first"
                )
            if audio.dtype.kind not in "biuf":
                raise ValueError(f"expected a numeric waveform, got dtype {audio.dtype}")
            if len(audio) == 0:
                raise ValueError("the waveform is empty")
            waveform = audio.astype(np.float32, copy=False)
            if not np.isfinite(waveform).all():
                raise ValueError("the waveform has non-finite samples (NaN or inf)")
            rate = self.sampling_rate if sampling_rate is None else int(sampling_rate)
            where = "<waveform>"
        else:
            raise TypeError(f"expected a path or a 1-D numpy waveform, got {type(audio).__name__}")
        if rate != self.sampling_rate:
            waveform = resample(waveform, rate, self.sampling_rate)
        if len(waveform) < self.min_samples:
            raise ValueError(
                f"{where}: {len(waveform)} samples at {self.sampling_rate} Hz is shorter than the "
                f"model's minimum of {self.min_samples} samples"
            )
        return waveform

    def logits(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        """Logits ``[batch, num_labels]`` of mono float32 waveforms at the model's rate.

        All waveforms go through the graph in one run, zero-padded to the longest.

        Args:
            waveforms: 1-D waveforms, each at least ``min_samples`` long.
        """
        batch, lengths = pad_batch(waveforms)
        (logits,) = self.session.run(
            [LOGITS_OUTPUT], {WAVEFORMS_INPUT: batch, LENGTHS_INPUT: lengths}
        )
        if not np.isfinite(logits).all():
            raise ValueError(
                f"{self.folder}: the graph's logits hold NaN or inf for finite input; "
                "no prediction is given (were the exported weights finite?)"
            )
        return logits

    def __call__(
        self,
        audio: AudioInput | Sequence[AudioInput],
        sampling_rate: int | None = None,
        top_k: int | None = None,
    ) -> list[dict] | list[list[dict]]:
        """Scores of one input, or of each input of a list.

        Args:
            audio: A path or a 1-D numpy waveform, or a list (or tuple) of them.
            sampling_rate: Rate of the numpy waveforms; ``None`` means the model's rate.
            top_k: Keep the ``top_k`` best labels; ``None`` keeps all of them (``pipeline``
                defaults to 5).

        Returns:
            ``[{"label": str, "score": float}, ...]`` best first, or one such list per input.
        """
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        single = not isinstance(audio, (list, tuple))
        items = [audio] if single else list(audio)
        if not items:
            raise ValueError("expected a path, a waveform or a non-empty list of them")
        waveforms = [self.load(item, sampling_rate) for item in items]
        results = []
        for start in range(0, len(waveforms), self.batch_size):
            scores = softmax(self.logits(waveforms[start : start + self.batch_size]))
            results.extend(self._ranked(row, top_k) for row in scores)
        return results[0] if single else results

    def _ranked(self, scores: np.ndarray, top_k: int | None) -> list[dict]:
        order = np.argsort(-scores, kind="stable")
        if top_k is not None:
            order = order[:top_k]
        return [{"label": self.id2label[int(i)], "score": float(scores[i])} for i in order]
