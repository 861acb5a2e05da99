"""Feature sources of the frozen-feature probes: one fixed vector (or one per layer) per utterance.

A source is named on the command line by a spec:

- ``egemaps`` / ``compare``: openSMILE functionals, the eGeMAPSv02 set (88 features) or the
  ComParE_2016 set (6373 features), computed on the utterance at 16 kHz. They need audEERING's
  ``opensmile`` Python package, an optional extra (``pip install "sertune[opensmile]"``).
  Licence: ``opensmile`` (the Python package and the openSMILE library it bundles) is under the
  *audEERING Research License Agreement* (see ``pip show opensmile`` and the LICENSE file in its
  dist-info): free for non-commercial use (teaching, academic research, personal use) and for
  some commercial research; any other commercial use needs a commercial licence from audEERING.
  sertune itself (Apache-2.0) does not bundle it.
- ``encoder:<hub id | folder | tiny-random[-<family>]>``: every hidden state of a wav2vec2-family
  encoder (the convolutional front end's projection, then each transformer layer), each
  mean-pooled over the utterance's frames. The utterance is encoded alone, so every frame is
  real. As in :class:`sertune.models.SerForAudioClassification`, the top entry is the encoder's
  final output (after the final layer norm of stable-layer-norm encoders).
- ``model:<folder>``: the pooled embedding of a saved sertune model (either family): the input
  of its ``model.head``, captured with a forward pre-hook while the model classifies the
  utterance. Probed on the corpus it was trained on, such a model has seen the test speakers
  of the other folds: probe models trained on another corpus (or on speakers outside every
  test fold) for a speaker-independent figure.

Every source has a ``fingerprint`` that names what determines its output (feature set and
package version, or the weights), used in the feature cache's keys.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import transformers

from sertune.audio import DEFAULT_SAMPLING_RATE
from sertune.errors import SertuneError

logger = logging.getLogger(__name__)

#: openSMILE functionals sets by spec name.
OPENSMILE_SETS = {"egemaps": "eGeMAPSv02", "compare": "ComParE_2016"}
ENCODER_PREFIX = "encoder:"
MODEL_PREFIX = "model:"
#: Files whose size and modification time identify a model folder's weights.
_WEIGHT_FILES = ("config.json", "model.safetensors", "pytorch_model.bin")


class ProbeError(SertuneError, ValueError):
    """A probe option or input cannot be used; the message names it and the remedy."""


class FeatureSource:
    """A fixed feature extractor: waveform at :attr:`sampling_rate` -> features.

    Args:
        name: The spec it was built from, e.g. ``"egemaps"`` or ``"encoder:tiny-random"``.
        fingerprint: What determines the features (settings, package version, weights).
        sampling_rate: Rate in Hz the waveforms must have.
        extract: ``waveform -> array``: ``[dim]``, or ``[num_layers, dim]`` with layers.
        layer_names: Names of the layers (``None`` for a single vector per utterance).
        feature_names: Names of the features (openSMILE), else ``None``.
    """

    def __init__(
        self,
        name: str,
        fingerprint: str,
        sampling_rate: int,
        extract: Callable[[np.ndarray], np.ndarray],
        *,
        layer_names: list[str] | None = None,
        feature_names: list[str] | None = None,
    ):
        self.name = name
        self.fingerprint = fingerprint
        self.sampling_rate = sampling_rate
        self.layer_names = layer_names
        self.feature_names = feature_names
        self._extract = extract

    def __repr__(self) -> str:
        return f"FeatureSource({self.name!r}, sampling_rate={self.sampling_rate})"

    def __call__(self, waveform: np.ndarray) -> np.ndarray:
        """Features of one mono float32 waveform at :attr:`sampling_rate`, as float32."""
        return np.asarray(self._extract(waveform), dtype=np.float32)


def build_feature_source(spec: str, *, device: str = "cpu", seed: int = 0) -> FeatureSource:
    """The feature source a command-line spec names (see the module docstring).

    Args:
        spec: ``egemaps``, ``compare``, ``encoder:<name>`` or ``model:<folder>``.
        device: Torch device of encoders and models.
        seed: Initialisation seed of a ``tiny-random`` encoder.

    Raises:
        ProbeError: Unknown spec, missing ``opensmile``, or a model that cannot be loaded.
    """
    if spec in OPENSMILE_SETS:
        return opensmile_source(spec)
    if spec.startswith(ENCODER_PREFIX) and spec[len(ENCODER_PREFIX) :]:
        return encoder_layers_source(spec[len(ENCODER_PREFIX) :], device=device, seed=seed)
    if spec.startswith(MODEL_PREFIX) and spec[len(MODEL_PREFIX) :]:
        return model_embedding_source(spec[len(MODEL_PREFIX) :], device=device)
    raise ProbeError(
        f"--features {spec!r}: expected one of {', '.join(OPENSMILE_SETS)}, "
        "encoder:<hub id, folder or tiny-random[-<family>]> or model:<sertune model folder>"
    )


def opensmile_source(name: str) -> FeatureSource:
    """openSMILE functionals (``egemaps`` or ``compare``) at 16 kHz.

    Raises:
        ProbeError: The ``opensmile`` package is not installed.
    """
    try:
        import opensmile
    except ImportError:
        raise ProbeError(
            f"--features {name} needs audEERING's opensmile package, an optional extra: "
            'pip install "sertune[opensmile]" (research/non-commercial licence, see README)'
        ) from None
    feature_set = OPENSMILE_SETS[name]
    smile = opensmile.Smile(
        feature_set=getattr(opensmile.FeatureSet, feature_set),
        feature_level=opensmile.FeatureLevel.Functionals,
    )
    version = importlib.metadata.version("opensmile")

    def extract(waveform: np.ndarray) -> np.ndarray:
        frame = smile.process_signal(waveform, DEFAULT_SAMPLING_RATE)
        return frame.to_numpy()[0]

    return FeatureSource(
        name,
        f"opensmile-{version}:{feature_set}:functionals",
        DEFAULT_SAMPLING_RATE,
        extract,
        feature_names=list(smile.feature_names),
    )


def encoder_layers_source(name: str, *, device: str = "cpu", seed: int = 0) -> FeatureSource:
    """Every hidden state of a wav2vec2-family encoder, each mean-pooled over frames.

    Args:
        name: A hub id, a local folder, or ``tiny-random[-<family>]`` (random, for tests).
        device: ``cpu``, ``cuda``, ``cuda:<index>`` or ``auto``.
        seed: Initialisation seed of a tiny random encoder.

    Raises:
        ProbeError: The encoder or its feature extractor cannot be loaded.
    """
    from sertune.inference import resolve_device

    try:
        device = resolve_device(device)
    except ValueError as error:
        raise ProbeError(f"--device: {error}") from None
    encoder, feature_extractor, fingerprint = _load_encoder(name, seed)
    encoder = encoder.to(device).eval()
    rate = int(feature_extractor.sampling_rate)
    num_layers = int(encoder.config.num_hidden_layers)
    layer_names = ["features"] + [f"layer {k}" for k in range(1, num_layers + 1)]

    def extract(waveform: np.ndarray) -> np.ndarray:
        inputs = feature_extractor(waveform, sampling_rate=rate, return_tensors="pt")
        values = inputs["input_values"].to(device, dtype=encoder.dtype)
        with torch.inference_mode():
            outputs = encoder(values, output_hidden_states=True, return_dict=True)
        states = (*outputs.hidden_states[:-1], outputs.last_hidden_state)
        if len(states) != len(layer_names):
            raise ProbeError(
                f"--features encoder:{name}: {len(states)} hidden states, expected "
                f"{len(layer_names)} (num_hidden_layers + 1); not a wav2vec2-family encoder?"
            )
        return torch.stack([state[0].float().mean(dim=0) for state in states]).cpu().numpy()

    return FeatureSource(
        f"{ENCODER_PREFIX}{name}", fingerprint, rate, extract, layer_names=layer_names
    )


def _load_encoder(name: str, seed: int):
    from transformers import AutoFeatureExtractor, AutoModel

    from sertune.models.factory import (
        build_feature_extractor,
        tiny_random_encoder_config,
        tiny_random_family,
    )

    try:
        family = tiny_random_family(name)
    except ValueError as error:
        raise ProbeError(f"--features encoder:{name}: {error}") from None
    if family is not None:
        config = tiny_random_encoder_config(family)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            encoder = AutoModel.from_config(config)
        versions = f"torch-{torch.__version__}:transformers-{transformers.__version__}"
        return encoder, build_feature_extractor(config), f"{name}:seed-{seed}:{versions}"
    try:
        encoder = AutoModel.from_pretrained(name, use_safetensors=True)
        feature_extractor = AutoFeatureExtractor.from_pretrained(name)
    except (OSError, ValueError, KeyError) as error:
        raise ProbeError(
            f"--features encoder:{name}: cannot load the encoder and its feature extractor "
            f"({error}); give a local folder, a hub id reachable from here, or tiny-random"
        ) from None
    if not hasattr(encoder.config, "num_hidden_layers") or "input_values" not in getattr(
        feature_extractor, "model_input_names", ()
    ):
        raise ProbeError(
            f"--features encoder:{name}: {type(encoder).__name__} is not a wav2vec2-family "
            "speech encoder (raw waveform in, hidden states out)"
        )
    return encoder, feature_extractor, _weights_fingerprint(name, encoder.config)


def model_embedding_source(folder: str, *, device: str = "cpu") -> FeatureSource:
    """The pooled embedding of a saved sertune model: the input of its ``model.head``.

    Args:
        folder: A folder written by a sertune recipe (model and feature extractor).
        device: Torch device.

    Raises:
        ProbeError: The folder holds no loadable model, or the model has no ``head``.
    """
    from sertune.inference import EmotionPredictor

    try:
        predictor = EmotionPredictor.from_pretrained(folder, device=device, batch_size=1)
    except (FileNotFoundError, ValueError) as error:
        raise ProbeError(f"--features model:{folder}: {error}") from None
    head = getattr(predictor.model, "head", None)
    if not isinstance(head, torch.nn.Module):
        raise ProbeError(
            f"--features model:{folder}: {type(predictor.model).__name__} has no `head` "
            "module whose input is the pooled embedding; use a model saved by a sertune recipe"
        )
    captured: list[torch.Tensor] = []
    head.register_forward_pre_hook(lambda module, args: captured.append(args[0].detach()))

    def extract(waveform: np.ndarray) -> np.ndarray:
        captured.clear()
        predictor.probabilities([waveform])
        return captured[0][0].float().cpu().numpy()

    fingerprint = _weights_fingerprint(str(Path(folder).resolve()), predictor.model.config)
    return FeatureSource(f"{MODEL_PREFIX}{folder}", fingerprint, predictor.sampling_rate, extract)


def _weights_fingerprint(name: str, config) -> str:
    """A local folder by its weight files' sizes and times; a hub id by its commit."""
    folder = Path(name)
    if folder.is_dir():
        stats = [
            f"{file}:{(folder / file).stat().st_size}:{(folder / file).stat().st_mtime_ns}"
            for file in _WEIGHT_FILES
            if (folder / file).is_file()
        ]
        return f"folder:{folder.resolve()}:" + ",".join(stats)
    return f"hub:{name}@{getattr(config, '_commit_hash', None)}"


__all__ = [
    "OPENSMILE_SETS",
    "FeatureSource",
    "ProbeError",
    "build_feature_source",
    "encoder_layers_source",
    "model_embedding_source",
    "opensmile_source",
]
