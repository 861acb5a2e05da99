"""Publishing a finished run on the Hugging Face Hub, one job per module.

* :mod:`sertune.hub.staging`: :func:`stage_for_hub`, the one place that decides what leaves the
  machine (safetensors weights, configs, the modelling code their ``auto_map`` names, the run's
  configuration, metrics and figures, and the model card; never checkpoints, logs or pickles).
* :mod:`sertune.hub.card`: :func:`model_card`, the ``model_card.md`` template rendered from the
  run's files.
* :mod:`sertune.hub.push`: :func:`push_to_hub`, which uploads the staged folder in one commit
  that adds and overwrites files but deletes none (files others added to the repository stay),
  and the recipes' :class:`HubArguments`.

``sertune push`` is :mod:`sertune.cli.push`.
"""

from __future__ import annotations

from sertune.hub.card import model_card
from sertune.hub.files import RunFolderError
from sertune.hub.push import HubArguments, push_to_hub
from sertune.hub.staging import stage_for_hub

__all__ = [
    "HubArguments",
    "RunFolderError",
    "model_card",
    "push_to_hub",
    "stage_for_hub",
]
