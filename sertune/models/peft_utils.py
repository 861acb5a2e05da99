"""Parameter-efficient fine-tuning (LoRA, IA3) of the wav2vec 2.0-family encoder, with ``peft``.

The adapters go into the *encoder* only, with ``peft.inject_adapter_in_model``; the outer model
stays a :class:`SerForAudioClassification`, so the training loop's ``parameter_groups``,
``save_pretrained`` and best-model reload keep working. Everything in the encoder is frozen but
the adapters; the layer mixing weights, the pooling and the head (outside the encoder) train
fully, which is what ``modules_to_save`` does in a ``PeftModel``::

    model = apply_peft(build_ser_model("facebook/wav2vec2-base", id2label=...), PeftArguments())
    ...train...
    save_adapter(model, "run/adapter")          # adapters + head only: small
    merge_adapter(model).save_pretrained("run")  # a plain model: pipeline(), no peft needed

:func:`apply_peft` turns the model into a :class:`PeftSerForAudioClassification` in place. That
subclass only changes what the training loop relies on: ``from_pretrained`` rebuilds the adapters
recorded in the config (key ``sertune_peft``) before loading the weights, and
``parameter_groups`` leaves the frozen base weights out. :func:`merge_adapter` folds the adapters
into the base weights and turns it back into a plain :class:`SerForAudioClassification`.

The default target modules are the attention projections (``q_proj``, ``k_proj``, ``v_proj``,
``out_proj``) and the feed-forward layers (``intermediate_dense``, ``output_dense``) of every
encoder layer; wav2vec 2.0, HuBERT, WavLM and data2vec-audio all use these names.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from peft import (
    IA3Config,
    LoraConfig,
    get_peft_model_state_dict,
    inject_adapter_in_model,
    set_peft_model_state_dict,
)
from peft.tuners.tuners_utils import BaseTunerLayer
from safetensors.torch import load_file, save_file

from .wav2vec2_ser import SerConfig, SerForAudioClassification

logger = logging.getLogger(__name__)

#: The adaptation methods :func:`apply_peft` supports.
PEFT_METHODS: tuple[str, ...] = ("lora", "ia3")

#: Attention and feed-forward projections of a wav2vec 2.0-family encoder layer.
DEFAULT_TARGET_MODULES: tuple[str, ...] = (
    "q_proj",
    "k_proj",
    "v_proj",
    "out_proj",
    "intermediate_dense",
    "output_dense",
)

#: Config attribute recording the :class:`PeftArguments` of an adapted model.
CONFIG_KEY = "sertune_peft"
ADAPTER_WEIGHTS_NAME = "adapter_model.safetensors"
#: The ``peft`` adapter config, as ``peft`` itself writes it.
ADAPTER_CONFIG_NAME = "adapter_config.json"
#: What ``peft`` does not record: the sertune options and the base model's identity.
SERTUNE_ADAPTER_NAME = "sertune_adapter.json"
_ENCODER_PREFIX = "encoder."


@dataclass
class PeftArguments:
    """Which adapters to put into the encoder (see :func:`apply_peft`)."""

    peft_method: str = field(default="lora", metadata={"help": "Adapter kind: lora or ia3."})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank."})
    lora_alpha: float = field(
        default=16.0, metadata={"help": "LoRA scaling numerator (the update is alpha / r * BA)."}
    )
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA input."})
    target_modules: list[str] = field(
        default_factory=lambda: list(DEFAULT_TARGET_MODULES),
        metadata={"help": "Names of the encoder's linear layers that get adapters."},
    )
    ia3_feedforward_modules: list[str] = field(
        default_factory=lambda: ["output_dense"],
        metadata={
            "help": "ia3: target modules scaled on their input (feed-forward) rather than output."
        },
    )
    merge_adapter_on_save: bool = field(
        default=True,
        metadata={
            "help": "Save the merged model in the output folder (loadable by pipeline()) "
            "besides adapter/; otherwise adapter/ alone."
        },
    )

    def __post_init__(self):
        if self.peft_method not in PEFT_METHODS:
            raise ValueError(f"peft_method must be one of {PEFT_METHODS}, got {self.peft_method!r}")
        if self.lora_r < 1:
            raise ValueError(f"lora_r must be at least 1, got {self.lora_r}")
        if self.lora_alpha <= 0:
            raise ValueError(f"lora_alpha must be positive, got {self.lora_alpha}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if not self.target_modules:
            raise ValueError("target_modules must name at least one module")
        if self.peft_method == "ia3":
            outside = set(self.ia3_feedforward_modules) - set(self.target_modules)
            if outside:
                raise ValueError(
                    f"ia3_feedforward_modules {sorted(outside)} are not in target_modules "
                    f"{self.target_modules}"
                )

    def peft_config(self) -> LoraConfig | IA3Config:
        """The ``peft`` config these options describe."""
        if self.peft_method == "lora":
            return LoraConfig(
                r=self.lora_r,
                lora_alpha=self.lora_alpha,
                lora_dropout=self.lora_dropout,
                target_modules=list(self.target_modules),
            )
        return IA3Config(
            target_modules=list(self.target_modules),
            feedforward_modules=list(self.ia3_feedforward_modules),
        )


class PeftSerForAudioClassification(SerForAudioClassification):
    """A :class:`SerForAudioClassification` whose encoder holds ``peft`` adapters.

    Made by :func:`apply_peft`, never directly. Its saved folders (``save_pretrained``) hold the
    base and adapter weights under ``peft``'s module names and reload only through this class's
    ``from_pretrained``; use :func:`merge_adapter` for a folder that anything can load.
    """

    # Saved folders must not carry this file as remote code: it imports peft and sertune.
    _auto_class = None

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | Path, *, use_safetensors: bool = True
    ) -> PeftSerForAudioClassification:
        """Load a folder written by ``save_pretrained`` of an adapted model.

        Args:
            pretrained_model_name_or_path: A local folder.
            use_safetensors: Must be true: only safetensors weights are read.
        """
        if not use_safetensors:
            raise ValueError("only safetensors weights are supported (use_safetensors=True)")
        folder = Path(pretrained_model_name_or_path)
        config = SerConfig.from_pretrained(folder)
        args = peft_arguments_of(config)
        if args is None:
            raise ValueError(
                f"{folder} holds no adapted model: its config has no {CONFIG_KEY!r}; load it "
                "with SerForAudioClassification.from_pretrained"
            )
        # The base model is built from the config without the adapter record (which the base
        # class refuses); apply_peft records it again.
        delattr(config, CONFIG_KEY)
        model = apply_peft(SerForAudioClassification(config), args)
        model.load_state_dict(_read_safetensors_weights(folder), strict=True)
        return model

    def parameter_groups(
        self,
        head_lr: float,
        encoder_lr: float,
        weight_decay: float = 0.0,
        layer_decay: float = 1.0,
    ) -> list[dict]:
        """:meth:`SerForAudioClassification.parameter_groups` without the frozen base weights.

        Args:
            head_lr: Learning rate of everything outside the encoder.
            encoder_lr: Learning rate of the adapters of the top encoder layer.
            weight_decay: Weight decay of the parameters with at least two dimensions.
            layer_decay: Factor applied per layer going down the encoder (1.0: one rate).
        """
        groups = []
        for group in super().parameter_groups(head_lr, encoder_lr, weight_decay, layer_decay):
            params = [p for p in group["params"] if p.requires_grad]
            if params:
                groups.append({**group, "params": params})
        return groups

    def set_encoder_trainable(self, trainable: bool) -> None:
        """Freeze or unfreeze the encoder's adapters; its base weights stay frozen.

        Args:
            trainable: Whether the adapters receive gradients.
        """
        adapter_names = _adapter_parameter_names(self)
        for name, param in self.encoder.named_parameters():
            param.requires_grad = trainable and name in adapter_names
        self._encoder_trainable = trainable


def _read_safetensors_weights(folder: Path) -> dict[str, torch.Tensor]:
    """The weights ``save_pretrained`` wrote in ``folder``, in one file or sharded."""
    single = folder / "model.safetensors"
    if single.is_file():
        return load_file(single)
    index = folder / "model.safetensors.index.json"
    if not index.is_file():
        raise FileNotFoundError(f"{folder} holds no model.safetensors (nor a sharded index)")
    weights: dict[str, torch.Tensor] = {}
    for shard in sorted(set(json.loads(index.read_text())["weight_map"].values())):
        weights.update(load_file(folder / shard))
    return weights


def _adapter_parameter_names(model: SerForAudioClassification) -> set[str]:
    """Names (relative to the encoder) of the adapter parameters injected by ``peft``."""
    names = set()
    for module_name, module in model.encoder.named_modules():
        if not isinstance(module, BaseTunerLayer):
            continue
        for layer_name in module.adapter_layer_names:
            for param_name, _ in getattr(module, layer_name).named_parameters():
                names.add(f"{module_name}.{layer_name}.{param_name}")
    return names


def apply_peft(
    model: SerForAudioClassification, args: PeftArguments
) -> PeftSerForAudioClassification:
    """Put adapters into the model's encoder and freeze every other encoder weight, in place.

    The layer mixing weights, the pooling and the head stay fully trainable. The model becomes a
    :class:`PeftSerForAudioClassification` and its config records ``args`` (key
    ``sertune_peft``). The trainable share is logged (see :func:`trainable_parameter_report`).

    Args:
        model: A plain :class:`SerForAudioClassification`.
        args: Which adapters, where.

    Returns:
        The same model object, adapted.

    Raises:
        TypeError: ``model`` is not a plain :class:`SerForAudioClassification`.
        ValueError: It already holds adapters, or a name in ``target_modules`` matches no
            linear layer of the encoder.
    """
    if isinstance(model, PeftSerForAudioClassification):
        raise ValueError("the model already holds adapters; merge them or start from a plain model")
    if type(model) is not SerForAudioClassification:
        raise TypeError(f"apply_peft needs a SerForAudioClassification, got {type(model).__name__}")
    linear_names = {
        name.rsplit(".", 1)[-1]
        for name, module in model.encoder.named_modules()
        if isinstance(module, torch.nn.Linear)
    }
    missing = sorted(set(args.target_modules) - linear_names)
    if missing:
        raise ValueError(
            f"target_modules {missing} match no linear layer of the "
            f"{model.config.encoder_config.model_type} encoder; it has {sorted(linear_names)}"
        )
    inject_adapter_in_model(args.peft_config(), model.encoder)
    model.__class__ = PeftSerForAudioClassification
    model.set_encoder_trainable(True)
    for name, param in model.named_parameters():
        if not name.startswith(_ENCODER_PREFIX):
            param.requires_grad = True
    setattr(model.config, CONFIG_KEY, dataclasses.asdict(args))
    report = trainable_parameter_report(model)
    logger.info(
        "%s adapters: %d of %d parameters trainable (%.2f%%)",
        args.peft_method,
        report["trainable"],
        report["total"],
        100 * report["share"],
    )
    return model


def trainable_parameter_report(model: torch.nn.Module) -> dict[str, Any]:
    """How many parameters train.

    Args:
        model: Any module.

    Returns:
        ``{"trainable": int, "total": int, "share": float}``, share being trainable / total.
    """
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable": trainable, "total": total, "share": trainable / total if total else 0.0}


def _base_identity(model: SerForAudioClassification) -> dict[str, Any]:
    encoder_config = model.config.encoder_config
    return {
        "base_model_name_or_path": encoder_config.name_or_path or None,
        "encoder_model_type": encoder_config.model_type,
        "hidden_size": encoder_config.hidden_size,
        "num_hidden_layers": encoder_config.num_hidden_layers,
        "id2label": {str(k): v for k, v in model.config.id2label.items()},
    }


def save_adapter(model: PeftSerForAudioClassification, folder: str | Path) -> Path:
    """Write the adapters and the head, without the frozen base weights.

    The folder holds ``adapter_model.safetensors`` (encoder adapters under ``encoder.`` plus the
    layer mixing weights, pooling and head), ``peft``'s ``adapter_config.json``, and
    ``sertune_adapter.json`` with the :class:`PeftArguments` and the base model's identity
    (encoder hub id or path, type and size, labels), which :func:`load_adapter` checks.

    Args:
        model: An adapted model (:func:`apply_peft`).
        folder: Where to write; created if needed.

    Returns:
        The folder.
    """
    if not isinstance(model, PeftSerForAudioClassification):
        raise TypeError(f"save_adapter needs an adapted model, got {type(model).__name__}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = {
        _ENCODER_PREFIX + name: tensor
        for name, tensor in get_peft_model_state_dict(model.encoder).items()
    }
    weights.update(
        (name, tensor)
        for name, tensor in model.state_dict().items()
        if not name.startswith(_ENCODER_PREFIX)
    )
    save_file(
        {name: tensor.detach().cpu().contiguous() for name, tensor in weights.items()},
        folder / ADAPTER_WEIGHTS_NAME,
    )
    identity = _base_identity(model)
    peft_config = model.encoder.peft_config["default"]
    peft_config.base_model_name_or_path = identity["base_model_name_or_path"]
    peft_config.save_pretrained(folder)
    record = {"peft_arguments": getattr(model.config, CONFIG_KEY), "base_model": identity}
    (folder / SERTUNE_ADAPTER_NAME).write_text(json.dumps(record, indent=2) + "\n")
    return folder


def load_adapter(
    base_model: SerForAudioClassification, folder: str | Path
) -> PeftSerForAudioClassification:
    """Adapt ``base_model`` (in place) and load the adapters and head saved by :func:`save_adapter`.

    Args:
        base_model: The plain model the adapter was trained on, built the same way (same encoder
            checkpoint, same head options and labels).
        folder: A folder written by :func:`save_adapter`.

    Raises:
        FileNotFoundError: The folder lacks one of the adapter files.
        ValueError: The base model differs from the recorded one, or the weights do not fit.
    """
    folder = Path(folder)
    for name in (ADAPTER_WEIGHTS_NAME, SERTUNE_ADAPTER_NAME):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder} holds no {name}: not an adapter folder")
    record = json.loads((folder / SERTUNE_ADAPTER_NAME).read_text())
    expected, actual = record["base_model"], _base_identity(base_model)
    for key, value in expected.items():
        if key == "base_model_name_or_path" and value is None:
            continue  # a randomly initialised base (tests) has no name
        if actual[key] != value:
            raise ValueError(
                f"the adapter in {folder} was trained on a base model with {key}={value!r}; "
                f"this one has {key}={actual[key]!r}"
            )
    model = apply_peft(base_model, PeftArguments(**record["peft_arguments"]))
    weights = load_file(folder / ADAPTER_WEIGHTS_NAME)
    encoder_weights = {
        name[len(_ENCODER_PREFIX) :]: tensor
        for name, tensor in weights.items()
        if name.startswith(_ENCODER_PREFIX)
    }
    head_weights = {n: t for n, t in weights.items() if not n.startswith(_ENCODER_PREFIX)}
    expected_adapters = set(get_peft_model_state_dict(model.encoder))
    if set(encoder_weights) != expected_adapters:
        raise ValueError(
            f"adapter weights in {folder} do not fit the model: missing "
            f"{sorted(expected_adapters - set(encoder_weights))}, unexpected "
            f"{sorted(set(encoder_weights) - expected_adapters)}"
        )
    set_peft_model_state_dict(model.encoder, encoder_weights)
    result = model.load_state_dict(head_weights, strict=False)
    missing_head = [n for n in result.missing_keys if not n.startswith(_ENCODER_PREFIX)]
    if missing_head or result.unexpected_keys:
        raise ValueError(
            f"head weights in {folder} do not fit the model: missing {missing_head}, "
            f"unexpected {result.unexpected_keys}"
        )
    return model


def merge_adapter(model: PeftSerForAudioClassification) -> SerForAudioClassification:
    """Fold the adapters into the encoder's weights, in place, leaving a plain sertune model.

    The result holds no ``peft`` module, saves with ``save_pretrained`` like any
    :class:`SerForAudioClassification` and loads with ``pipeline("audio-classification")``
    without ``peft`` installed. Every parameter is trainable again (but a frozen feature encoder).

    Args:
        model: An adapted model (:func:`apply_peft`).

    Returns:
        The same model object, now a :class:`SerForAudioClassification`.
    """
    if not isinstance(model, PeftSerForAudioClassification):
        raise TypeError(f"merge_adapter needs an adapted model, got {type(model).__name__}")
    tuner_layers = [
        (name, module)
        for name, module in model.encoder.named_modules()
        if isinstance(module, BaseTunerLayer)
    ]
    with torch.no_grad():
        for name, module in tuner_layers:
            module.merge(safe_merge=True)
            parent_name, _, child_name = name.rpartition(".")
            parent = model.encoder.get_submodule(parent_name) if parent_name else model.encoder
            setattr(parent, child_name, module.get_base_layer())
    del model.encoder.peft_config
    delattr(model.config, CONFIG_KEY)
    model.__class__ = SerForAudioClassification
    model.set_encoder_trainable(True)
    return model


def peft_arguments_of(config: SerConfig) -> PeftArguments | None:
    """The :class:`PeftArguments` an adapted model's config records, else ``None``.

    Args:
        config: A model config.
    """
    recorded: Mapping | None = getattr(config, CONFIG_KEY, None)
    return None if recorded is None else PeftArguments(**recorded)
