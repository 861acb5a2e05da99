"""Export a fine-tuned sertune model to ONNX: raw waveform in, logits out, optionally INT8.

:func:`export_onnx` (``sertune export MODEL_DIR OUT_DIR --onnx [--int8] [--opset 17]``)
loads a folder written by ``save_pretrained`` (model plus ``preprocessor_config.json``) and
writes::

    OUT_DIR/model.onnx               the fp32 graph
    OUT_DIR/model.int8.onnx          with --int8: weights of the matrix products in int8
    OUT_DIR/sertune_onnx.json        labels, sampling rate, graph interface, family, versions
    OUT_DIR/sertune_onnx_runtime.py  a copy of sertune/onnx_runtime.py: inference without torch

The graph (:class:`WaveformToLogits`) does the feature extraction itself, so deployment needs
no torch, transformers or sertune: only onnxruntime, numpy, soundfile and soxr
(:class:`sertune.onnx_runtime.OnnxEmotionClassifier`). Its inputs are ``waveforms`` (float32,
``[batch, samples]`` at the model's rate, 16 kHz) and ``lengths`` (int64, ``[batch]``, real
samples per utterance); lengths rather than an attention mask, because both front ends need
per-utterance counts, and a count cannot describe a mask with holes that the PyTorch models
would reject anyway. Samples past ``lengths[b]`` are zeroed in the graph, so their values never
matter; every length must be at least ``min_samples`` (in ``sertune_onnx.json``: the wav2vec 2.0
family's receptive field, 400 samples for the usual encoder), which the runtime checks and the
graph cannot. Both axes of ``waveforms`` are dynamic.

Front ends, each matching the family's feature extractor to float32 rounding:

* wav2vec 2.0 family (``Wav2Vec2FeatureExtractor``): zero mean and unit variance over each
  utterance's real samples (variance + 1e-7, as transformers computes it) when
  ``do_normalize``, padding set to ``padding_value``; the model gets the sample-level attention
  mask (group-norm encoders ignore it, as in PyTorch).
* CNN family (:class:`~sertune.models.logmel.LogMelFeatureExtractor`): framing, power spectrum,
  HTK mel filterbank, log floor, deltas and delta-deltas with the edge replicated at each
  utterance's own end, normalisation (the extractor's own :meth:`normalize`), segmentation and
  the optional resize, all through the extractor's own front end
  (:class:`~sertune.models.logmel.LogMelFrontEnd`: ``torch.fft.rfft`` does not export, so while
  exporting it computes the spectrum as a strided ``conv1d`` with a fixed windowed DFT basis,
  the same sums; the deltas are a ``conv1d`` with a fixed regression kernel after edge padding).
  Segmentation is a gather with indices computed from the lengths, so the segment count
  follows the input.

The exporter is the TorchScript one (``torch.onnx.export(..., dynamo=False)``): the models run
data-dependent input checks (``bool(mask.any())``) that ``torch.export`` refuses, which tracing
records as constants. Tracing could also freeze a shape-dependent branch, so :func:`export_onnx`
runs the exported graph on utterances and batches of other lengths than the traced one and
compares the logits with the PyTorch path (feature extractor + model) before it quantises or
writes the metadata; a difference above ``1e-3 * max(1, |logits|)`` is an :class:`OnnxExportError`. One
workaround: the CNN-LSTM's final LSTM state after a packed sequence makes the exporter crash,
so for ``aggregator="last"`` the graph takes the same state from the LSTM's outputs (the last
real step; for a bidirectional LSTM, the backward half at the first step), which equals the
final state of the last layer.

INT8 (``--int8``): ``onnxruntime.quantization.quantize_dynamic`` with int8 weights (per tensor)
and activations quantised to uint8 on the fly, on ``MatMul`` (:data:`INT8_OP_TYPES`; the
quantiser rewrites ``Gemm`` as ``MatMul`` + ``Add`` first, so linear layers on 2-D inputs count
too), outside :data:`INT8_FLOAT_MODULES`: the front end (its products act on features, not
weights) and the classification head (tiny, and its error lands on the logits undamped). That
covers the transformer's projections and feed-forward layers, where the size and the time go.
What stays float32, measured with onnxruntime 1.31 on one CPU thread:

* convolutions: ``ConvInteger`` runs, and makes a ResNet-18 2.8 times smaller, but 4 times
  slower than the float convolution (10 s of audio: 423 ms against 102 ms);
* LSTMs: ``DynamicQuantizeLSTM`` gave no speed-up on the CNN family's BLSTM.

So INT8 shrinks and speeds up the wav2vec 2.0 family (see ``benchmarks/onnx_latency.py``); a CNN
model's INT8 graph is nearly its fp32 graph (a warning says so when nothing was quantised).
onnxruntime logs a suggestion to run its pre-processing first; it is not needed for these
graphs.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import (
    AutoFeatureExtractor,
    PreTrainedModel,
    Wav2Vec2FeatureExtractor,
)

import sertune
from sertune import onnx_runtime
from sertune.errors import ModelLoadError, SertuneError
from sertune.models.aggregators import run_packed_lstm
from sertune.models.cnn_lstm import CnnLstmForAudioClassification
from sertune.models.logmel import LogMelFeatureExtractor, LogMelFrontEnd
from sertune.models.wav2vec2_ser import feature_encoder_is_padding_safe
from sertune.onnx_runtime import (
    INT8_ONNX_FILE,
    LENGTHS_INPUT,
    LOGITS_OUTPUT,
    METADATA_FILE,
    METADATA_FORMAT,
    METADATA_FORMAT_VERSION,
    ONNX_FILE,
    RUNTIME_FILE,
    WAVEFORMS_INPUT,
)
from sertune.safe_loading import load_audio_classifier

logger = logging.getLogger(__name__)

#: The files an export writes; an output folder holding any of them needs ``overwrite``.
EXPORT_FILES = (ONNX_FILE, INT8_ONNX_FILE, METADATA_FILE, RUNTIME_FILE)

#: Op types :func:`export_onnx` quantises with ``int8=True`` (see the module docstring for why
#: convolutions and LSTMs are not among them).
INT8_OP_TYPES: tuple[str, ...] = ("MatMul",)

#: Modules whose products stay float in the INT8 graph: the front end (DFT and mel filterbank
#: act on features, not weights) and the classification head (``hidden x labels``: int8 saves
#: nothing there, and its error lands on the logits undamped).
INT8_FLOAT_MODULES: tuple[str, ...] = ("front_end", "head")

#: Opsets :func:`export_onnx` accepts: from the first with ``LayerNormalization`` (the tested
#: default) to the newest the TorchScript exporter writes.
MIN_OPSET = 17
MAX_OPSET = 20

#: The exported graph's logits may differ from PyTorch's by at most this times
#: ``max(1, max |logits|)`` in the export-time check.
VERIFY_TOLERANCE = 1e-3

#: Durations in seconds of the utterances traced and of the export-time check: the trace has
#: padding (two lengths), the check uses other lengths and batch sizes.
TRACE_SECONDS: tuple[float, ...] = (1.0, 0.6)
VERIFY_SECONDS: tuple[tuple[float, ...], ...] = ((0.45,), (1.7,), (0.8, 2.3, 1.1))


class OnnxExportError(SertuneError, RuntimeError):
    """The exported graph does not reproduce the PyTorch model."""


# --------------------------------------------------------------------------------------------
# Front ends as traceable torch modules


def real_sample_mask(waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Boolean ``[batch, samples]`` mask, ``True`` on each utterance's first ``lengths[b]`` samples.

    Args:
        waveforms: ``[batch, samples]``.
        lengths: ``[batch]`` real samples per utterance.
    """
    positions = torch.arange(waveforms.shape[1], device=waveforms.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


class WaveformNormalization(nn.Module):
    """``Wav2Vec2FeatureExtractor`` on a padded batch: per-utterance normalisation over real samples.

    Args:
        feature_extractor: The model's feature extractor; ``do_normalize`` and
            ``padding_value`` are read from it.
    """

    def __init__(self, feature_extractor: Wav2Vec2FeatureExtractor):
        super().__init__()
        self.do_normalize = bool(feature_extractor.do_normalize)
        self.padding_value = float(feature_extractor.padding_value)

    def forward(
        self, waveforms: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(input_values [batch, samples], attention_mask [batch, samples] long)``.

        Args:
            waveforms: ``[batch, samples]`` float32.
            lengths: ``[batch]`` real samples per utterance.
        """
        mask = real_sample_mask(waveforms, lengths)
        values = waveforms.masked_fill(~mask, 0.0)
        if self.do_normalize:
            count = lengths.to(waveforms.dtype).unsqueeze(1)
            mean = values.sum(dim=1, keepdim=True) / count
            centred = (values - mean).masked_fill(~mask, 0.0)
            variance = centred.square().sum(dim=1, keepdim=True) / count
            values = centred / torch.sqrt(variance + 1e-7)
        values = values.masked_fill(~mask, self.padding_value)
        return values, mask.long()


class LogMelSegments(nn.Module):
    """:class:`LogMelFeatureExtractor` on a padded batch, in exportable torch operations.

    The features come from the extractor's own front end
    (:class:`~sertune.models.logmel.LogMelFrontEnd`, which exports its spectrum as a strided
    ``conv1d``), then the extractor's own :meth:`~LogMelFeatureExtractor.normalize`; the
    segmentation is a gather with indices computed from the lengths, so the segment count follows
    the input, and :meth:`~LogMelFeatureExtractor.resize_segments` is reused as it is.

    Args:
        feature_extractor: The model's feature extractor (its settings are copied at build time).
    """

    def __init__(self, feature_extractor: LogMelFeatureExtractor):
        super().__init__()
        fe = feature_extractor
        if fe.normalization == "global" and fe.feature_mean is None:
            raise ValueError(
                "the feature extractor has normalization='global' but no feature_mean / "
                "feature_std: fit_normalization was never run on it"
            )
        self.feature_extractor = fe
        self.front_end = LogMelFrontEnd(**fe.front_end_settings())

    def features(
        self, waveforms: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised ``[batch, 3, n_mels, frames]`` features and ``frame_lengths [batch]``.

        Frames past each utterance's end hold ``padding_value``, as after the extractor's
        :meth:`~LogMelFeatureExtractor.normalize`; the batch may have more frames than the
        extractor would give it (they are all past every end).

        Args:
            waveforms: ``[batch, samples]`` float32.
            lengths: ``[batch]`` real samples per utterance.
        """
        features, frame_lengths = self.front_end(waveforms, lengths)
        return self.feature_extractor.normalize(features, frame_lengths), frame_lengths

    def forward(
        self, waveforms: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(input_features [batch, segments, 3, H, W], attention_mask [batch, segments] long)``.

        Args:
            waveforms: ``[batch, samples]`` float32.
            lengths: ``[batch]`` real samples per utterance.
        """
        fe = self.feature_extractor
        features, frame_lengths = self.features(waveforms, lengths)
        size, hop = fe.segment_frames, fe.segment_hop_frames
        overhang = (frame_lengths - size).clamp(min=0)
        counts = 1 + (overhang + hop - 1).div(hop, rounding_mode="floor")
        segment_index = torch.arange(counts.max(), device=features.device)
        segment_starts = segment_index * hop
        frame_index = segment_starts.unsqueeze(1) + torch.arange(size, device=features.device)
        last_index = features.shape[-1] - 1
        gathered = features.index_select(-1, frame_index.flatten().clamp(max=last_index))
        batch, channels, mels = features.shape[:3]
        segments = gathered.reshape(batch, channels, mels, -1, size).permute(0, 3, 1, 2, 4)
        real_segments = segment_index.unsqueeze(0) < counts.unsqueeze(1)
        real_frames = frame_index.unsqueeze(0) < frame_lengths.view(-1, 1, 1)  # [B, S, size]
        keep = real_frames & real_segments.unsqueeze(-1)
        segments = segments.masked_fill(~keep[:, :, None, None, :], fe.padding_value)
        return fe.resize_segments(segments), real_segments.long()


def _last_real_states(lstm: nn.LSTM, sequence: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The final state of ``lstm``'s last layer over the real steps, read from its outputs.

    Equal to :func:`~sertune.models.aggregators.run_packed_lstm`'s ``final``: the forward
    output at the last real step and, for a bidirectional LSTM, the backward output at the first.
    """
    outputs, _ = run_packed_lstm(lstm, sequence, mask)
    last = (mask.long().sum(dim=1) - 1).view(-1, 1, 1).expand(-1, 1, outputs.shape[-1])
    at_last = outputs.gather(1, last).squeeze(1)
    if not lstm.bidirectional:
        return at_last
    hidden = lstm.hidden_size
    return torch.cat([at_last[:, :hidden], outputs[:, 0, hidden:]], dim=-1)


def minimum_samples(model: PreTrainedModel) -> int:
    """The shortest input (in samples) that gives the model at least one frame.

    The wav2vec 2.0 family's convolutional feature encoder needs its receptive field (400
    samples for the usual 7-layer encoder); the CNN family pads short inputs to one frame.

    Args:
        model: A sertune model.
    """
    encoder_config = getattr(model.config, "encoder_config", None)
    if encoder_config is None or not hasattr(encoder_config, "conv_kernel"):
        return 1
    samples = 1
    for kernel, stride in zip(
        reversed(encoder_config.conv_kernel), reversed(encoder_config.conv_stride), strict=True
    ):
        samples = (samples - 1) * stride + kernel
    return samples


class WaveformToLogits(nn.Module):
    """A sertune model with its feature extraction in front: ``(waveforms, lengths) -> logits``.

    Args:
        model: A sertune audio classifier in evaluation mode (the wav2vec 2.0 family with a
            ``Wav2Vec2FeatureExtractor``, or the CNN family with a
            :class:`LogMelFeatureExtractor`).
        feature_extractor: The model's feature extractor, as saved with it.

    Attributes:
        family: ``"wav2vec2"`` or ``"cnn"``.
        sampling_rate: Rate of the waveforms the module expects.
        min_samples: Shortest utterance the model accepts (see :func:`minimum_samples`).
    """

    def __init__(self, model: PreTrainedModel, feature_extractor):
        super().__init__()
        if isinstance(feature_extractor, LogMelFeatureExtractor):
            self.family = "cnn"
            self.front_end: nn.Module = LogMelSegments(feature_extractor)
            expected_input = "input_features"
        elif isinstance(feature_extractor, Wav2Vec2FeatureExtractor):
            self.family = "wav2vec2"
            self.front_end = WaveformNormalization(feature_extractor)
            expected_input = "input_values"
        else:
            raise TypeError(
                "expected a Wav2Vec2FeatureExtractor or a LogMelFeatureExtractor, got "
                f"{type(feature_extractor).__name__}"
            )
        if getattr(model, "main_input_name", None) != expected_input:
            raise TypeError(
                f"{type(model).__name__} takes {getattr(model, 'main_input_name', None)!r}, but "
                f"a {type(feature_extractor).__name__} makes {expected_input!r}"
            )
        self.model = model
        self.sampling_rate = int(feature_extractor.sampling_rate)
        self.min_samples = minimum_samples(model)
        # See the module docstring: the exporter crashes on a packed LSTM's final state.
        self._last_state_from_outputs = (
            isinstance(model, CnnLstmForAudioClassification) and model.aggregator.pooling is None
        )

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits ``[batch, num_labels]``.

        Args:
            waveforms: ``[batch, samples]`` float32 at :attr:`sampling_rate`, each utterance
                followed by anything (it is zeroed).
            lengths: ``[batch]`` int64 real samples per utterance, in ``[min_samples, samples]``.
        """
        if waveforms.dim() != 2:
            raise ValueError(f"waveforms must be [batch, samples], got {tuple(waveforms.shape)}")
        if lengths.dim() != 1 or lengths.shape[0] != waveforms.shape[0]:
            raise ValueError(
                f"lengths must be [batch={waveforms.shape[0]}], got {tuple(lengths.shape)}"
            )
        inputs, mask = self.front_end(waveforms, lengths)
        if self.family == "wav2vec2":
            return self.model(input_values=inputs, attention_mask=mask).logits
        if self._last_state_from_outputs:
            sequence, step_mask = self.model.frame_sequence(inputs, mask)
            return self.model.head(
                _last_real_states(self.model.aggregator.lstm, sequence, step_mask)
            )
        return self.model(input_features=inputs, attention_mask=mask).logits


# --------------------------------------------------------------------------------------------
# Export


def load_model_folder(model_dir: str | os.PathLike) -> tuple[PreTrainedModel, object]:
    """Load a saved sertune model and its feature extractor, in evaluation mode on the CPU.

    Args:
        model_dir: A folder written by ``save_pretrained`` (``config.json``, the weights and
            ``preprocessor_config.json``).

    Raises:
        FileNotFoundError: The folder or one of its config files is missing.
        ValueError: The folder does not load as a sertune audio classifier.
    """
    folder = Path(model_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    for name, writer in (
        ("config.json", "model.save_pretrained"),
        ("preprocessor_config.json", "feature_extractor.save_pretrained"),
    ):
        if not (folder / name).is_file():
            raise FileNotFoundError(
                f"{folder}: not a saved model folder (no {name}; {writer}(folder) writes it)"
            )
    try:
        model = load_audio_classifier(folder)
        feature_extractor = AutoFeatureExtractor.from_pretrained(folder)
    except ModelLoadError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{folder}: cannot load the model ({error})") from error
    return model.float().eval(), feature_extractor


def _noise(seconds: Sequence[float], sampling_rate: int, min_samples: int, seed: int) -> list:
    """Seeded noise bursts (speech-like level) of the given durations."""
    rng = np.random.default_rng(seed)
    return [
        (0.1 * rng.standard_normal(max(min_samples, round(s * sampling_rate)))).astype(np.float32)
        for s in seconds
    ]


def reference_logits(model: PreTrainedModel, feature_extractor, waveforms: Sequence) -> np.ndarray:
    """Logits of the canonical PyTorch path: feature extractor on the batch, then the model.

    Args:
        model: The model, in evaluation mode.
        feature_extractor: Its feature extractor.
        waveforms: 1-D float32 numpy waveforms at the extractor's rate.
    """
    batch = feature_extractor(
        list(waveforms),
        sampling_rate=feature_extractor.sampling_rate,
        padding=True,
        return_attention_mask=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        return model(**batch).logits.numpy()


def _check_against_pytorch(
    onnx_path: Path, model: PreTrainedModel, feature_extractor, wrapper: WaveformToLogits
) -> float:
    """Largest logit difference between the graph and PyTorch over :data:`VERIFY_SECONDS`."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for index, seconds in enumerate(VERIFY_SECONDS):
        waveforms = _noise(seconds, wrapper.sampling_rate, wrapper.min_samples, seed=100 + index)
        expected = reference_logits(model, feature_extractor, waveforms)
        batch, lengths = onnx_runtime.pad_batch(waveforms)
        (got,) = session.run([LOGITS_OUTPUT], {WAVEFORMS_INPUT: batch, LENGTHS_INPUT: lengths})
        difference = float(np.abs(got - expected).max())
        tolerance = VERIFY_TOLERANCE * max(1.0, float(np.abs(expected).max()))
        if not difference <= tolerance:
            raise OnnxExportError(
                f"{onnx_path}: the graph's logits differ from PyTorch's by {difference:.3g} "
                f"(tolerance {tolerance:.3g}) on utterances of {list(seconds)} s"
            )
        worst = max(worst, difference)
    return worst


def quantize_int8(onnx_path: str | os.PathLike, int8_path: str | os.PathLike) -> int:
    """Dynamic INT8 quantisation of :data:`INT8_OP_TYPES` outside :data:`INT8_FLOAT_MODULES`.

    Args:
        onnx_path: The fp32 graph.
        int8_path: Where to write the quantised graph (checked with ``onnx.checker``).

    Returns:
        The number of matrix products quantised (0 for a model without large ``MatMul``s, such
        as the CNN-LSTM: its INT8 graph then equals the fp32 one up to the quantiser's rewrites).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(os.fspath(onnx_path), load_external_data=False).graph
    keep_float = [
        name
        for node in graph.node
        if set(node.name.split("/")).intersection(INT8_FLOAT_MODULES)
        # The quantiser rewrites Gemm as MatMul + Add and names the MatMul after the Gemm.
        for name in (node.name, node.name + "_MatMul")
    ]
    quantize_dynamic(
        Path(onnx_path),
        Path(int8_path),
        op_types_to_quantize=list(INT8_OP_TYPES),
        nodes_to_exclude=keep_float,
        weight_type=QuantType.QInt8,
    )
    onnx.checker.check_model(os.fspath(int8_path))
    quantized = onnx.load(os.fspath(int8_path), load_external_data=False).graph
    count = sum(node.op_type == "MatMulInteger" for node in quantized.node)
    if count == 0:
        logger.warning(
            "%s: nothing was quantised to INT8 (convolutions, LSTMs and the head stay float), "
            "so it is no smaller or faster than %s",
            int8_path,
            onnx_path,
        )
    return count


def export_onnx(
    model_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    int8: bool = False,
    opset: int = 17,
    verify: bool = True,
    overwrite: bool = False,
) -> dict:
    """Export a saved model with its feature extraction to ONNX (see the module docstring).

    Args:
        model_dir: A folder written by ``save_pretrained`` with the feature extractor.
        out_dir: Output folder (created). One that holds an earlier export is refused unless
            ``overwrite``; the model folder itself is always refused.
        int8: Also write ``model.int8.onnx``, dynamically quantised.
        opset: ONNX opset of the graph, in [:data:`MIN_OPSET`, :data:`MAX_OPSET`].
        verify: Compare the exported graph with PyTorch on other lengths than the traced one
            and raise :class:`OnnxExportError` on a mismatch.
        overwrite: Replace the files of an earlier export in ``out_dir``.

    Returns:
        ``{"onnx": path, "onnx_bytes": size, "metadata": path, "runtime": path,
        "max_abs_diff": float or None}``, plus with ``int8`` ``"int8"`` (path), ``"int8_bytes"``
        and ``"int8_matmuls"`` (matrix products quantised).

    Raises:
        FileNotFoundError: ``model_dir`` is not a saved model folder.
        FileExistsError: ``out_dir`` holds an earlier export (without ``overwrite``), is a file,
            or is the model folder.
        ValueError: The model does not load, or ``opset`` is too old.
        OnnxExportError: The graph does not reproduce the PyTorch logits.
    """
    import onnx

    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"opset must be in [{MIN_OPSET}, {MAX_OPSET}], got {opset}")
    check_export_folder(model_dir, out_dir, overwrite=overwrite)
    model, feature_extractor = load_model_folder(model_dir)
    try:
        wrapper = WaveformToLogits(model, feature_extractor).eval()
    except (TypeError, ValueError) as error:
        raise ValueError(f"{model_dir}: cannot export this model ({error})") from error
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / ONNX_FILE

    logger.info("exporting %s (%s family) to %s", model_dir, wrapper.family, onnx_path)
    _trace_to_onnx(wrapper, onnx_path, opset)
    onnx.checker.check_model(os.fspath(onnx_path))
    max_abs_diff = None
    if verify:
        try:
            max_abs_diff = _check_against_pytorch(onnx_path, model, feature_extractor, wrapper)
        except OnnxExportError:
            onnx_path.unlink()  # never leave a graph that failed the check where one is expected
            raise
        logger.info("the graph matches PyTorch to %.3g", max_abs_diff)

    result: dict = {"onnx": str(onnx_path), "onnx_bytes": onnx_path.stat().st_size}
    quantized = quantize_int8(onnx_path, out / INT8_ONNX_FILE) if int8 else None
    if int8:
        int8_path = out / INT8_ONNX_FILE
        result.update(
            int8=str(int8_path), int8_bytes=int8_path.stat().st_size, int8_matmuls=quantized
        )
    elif (out / INT8_ONNX_FILE).exists():
        # A stale INT8 graph of an earlier export would not match this one.
        (out / INT8_ONNX_FILE).unlink()
    metadata = _metadata(model, wrapper, opset, quantized, max_abs_diff)
    metadata_path = out / METADATA_FILE
    metadata_path.write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    runtime_path = out / RUNTIME_FILE
    shutil.copyfile(onnx_runtime.__file__, runtime_path)
    result.update(metadata=str(metadata_path), runtime=str(runtime_path), max_abs_diff=max_abs_diff)
    return result


def check_export_folder(
    model_dir: str | os.PathLike, out_dir: str | os.PathLike, *, overwrite: bool = False
) -> None:
    """Refuse an output folder that would overwrite an input or, silently, an earlier export.

    Raises:
        FileExistsError: ``out_dir`` is a file, the model folder, or holds an export's files
            and ``overwrite`` is false.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out}: exists and is not a folder; give a folder for the export")
    if out.is_dir() and Path(model_dir).is_dir() and out.resolve() == Path(model_dir).resolve():
        raise FileExistsError(f"{out}: is the model folder; export into another folder")
    existing = [n for n in EXPORT_FILES if (out / n).exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{out}: holds an earlier export ({', '.join(existing)}); pass --overwrite to "
            "replace it, or choose another folder"
        )


def _trace_to_onnx(wrapper: WaveformToLogits, onnx_path: Path, opset: int) -> None:
    """Trace ``wrapper`` on a padded batch of two and write the graph with dynamic axes."""
    traced = _noise(TRACE_SECONDS, wrapper.sampling_rate, wrapper.min_samples, seed=0)
    batch, lengths = onnx_runtime.pad_batch(traced)
    with torch.no_grad(), warnings.catch_warnings():
        # The models' input checks become constants of the trace; the export-time check
        # is what guards against a frozen branch.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
        # The TorchScript exporter is deprecated but the only one that exports these models
        # (the module docstring says why); the warning is not actionable.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based")
        warnings.filterwarnings("ignore", message="The feature will be removed")
        # Checked by the export-time comparison, which runs batches of one and three after a
        # trace on two: the LSTMs' initial states follow the batch size.
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size")
        # Indices are lengths - 1, never negative for inputs of at least min_samples samples
        # (the runtime refuses shorter ones).
        warnings.filterwarnings("ignore", message="Exporting aten::index operator")
        torch.onnx.export(
            wrapper,
            (torch.from_numpy(batch), torch.from_numpy(lengths)),
            os.fspath(onnx_path),
            input_names=[WAVEFORMS_INPUT, LENGTHS_INPUT],
            output_names=[LOGITS_OUTPUT],
            dynamic_axes={
                WAVEFORMS_INPUT: {0: "batch", 1: "samples"},
                LENGTHS_INPUT: {0: "batch"},
                LOGITS_OUTPUT: {0: "batch"},
            },
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )


def _metadata(
    model: PreTrainedModel,
    wrapper: WaveformToLogits,
    opset: int,
    quantized: int | None,
    max_abs_diff: float | None,
) -> dict:
    """``sertune_onnx.json``: what the runtime needs to use the graph, and how it was made."""
    import onnx

    files = {"fp32": ONNX_FILE} | ({"int8": INT8_ONNX_FILE} if quantized is not None else {})
    int8 = None
    if quantized is not None:
        int8 = {
            "op_types": list(INT8_OP_TYPES),
            "float_modules": list(INT8_FLOAT_MODULES),
            "quantized_matmuls": quantized,
        }
    return {
        "format": METADATA_FORMAT,
        "format_version": METADATA_FORMAT_VERSION,
        "sertune_version": sertune.__version__,
        "torch_version": torch.__version__,
        "onnx_version": onnx.__version__,
        "opset": opset,
        "family": wrapper.family,
        "model_type": model.config.model_type,
        "id2label": {str(i): label for i, label in sorted(model.config.id2label.items())},
        "sampling_rate": wrapper.sampling_rate,
        "min_samples": wrapper.min_samples,
        "padding_invariant": _padding_invariant(model),
        "inputs": {
            WAVEFORMS_INPUT: {"dtype": "float32", "shape": ["batch", "samples"]},
            LENGTHS_INPUT: {"dtype": "int64", "shape": ["batch"]},
        },
        "outputs": {LOGITS_OUTPUT: {"dtype": "float32", "shape": ["batch", "num_labels"]}},
        "files": files,
        "int8": int8,
        "max_abs_diff_vs_pytorch": max_abs_diff,
    }


def _padding_invariant(model: PreTrainedModel) -> bool:
    """Whether an utterance gets the same logits alone and batched (see ``wav2vec2_ser.py``)."""
    encoder_config = getattr(model.config, "encoder_config", None)
    return encoder_config is None or feature_encoder_is_padding_safe(encoder_config)
