"""Audio for transformers' audio-classification pipeline in the tests.

The pipeline resamples ``{"raw": ..., "sampling_rate": ...}`` inputs at another rate than the
model's only with torchaudio, which sertune does not need (and which has no release for the
newest torch). Where torchaudio is missing, the tests resample with soxr first, as
``sertune.audio.resample`` does, so they still exercise the model inside ``pipeline()``.
:data:`AT_MODEL_RATE` is the same function as source text, for the scripts the tests run in
fresh processes (where sertune itself may be blocked).
"""

from __future__ import annotations

import inspect


def at_model_rate(raw, rate, model_rate=16_000):
    """A pipeline input: the dict where torchaudio can resample it, else soxr's resampling."""
    import importlib.util

    import soxr

    if importlib.util.find_spec("torchaudio") is not None:
        return dict(raw=raw, sampling_rate=rate)  # no braces: the scripts go through str.format
    return soxr.resample(raw, rate, model_rate, quality="HQ")


AT_MODEL_RATE = inspect.getsource(at_model_rate)
