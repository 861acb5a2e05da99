"""``sertune export MODEL_DIR OUT_DIR --onnx [--int8] [--opset N]``: a model to ONNX.

Writes the graph (waveform in, logits out, feature extraction inside), ``sertune_onnx.json`` and
a torch-free runtime next to it (see :mod:`sertune.export`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sertune.cli._parsing import parse_command
from sertune.export import MAX_OPSET, MIN_OPSET, export_onnx


@dataclass
class ExportArguments:
    """Options of ``sertune export``."""

    model_dir: str = field(
        metadata={
            "help": "Folder written by save_pretrained (with the feature extractor's "
            "preprocessor_config.json)."
        }
    )
    out_dir: str = field(metadata={"help": "Output folder."})
    onnx: bool = field(default=False, metadata={"help": "Export to ONNX (required)."})
    int8: bool = field(
        default=False, metadata={"help": "Also write model.int8.onnx (dynamic INT8)."}
    )
    opset: int = field(default=17, metadata={"help": f"ONNX opset, {MIN_OPSET} to {MAX_OPSET}."})
    overwrite: bool = field(
        default=False, metadata={"help": "Replace an earlier export in OUT_DIR."}
    )
    no_verify: bool = field(
        default=False, metadata={"help": "Skip the comparison of the exported graph with PyTorch."}
    )

    def __post_init__(self) -> None:
        if not self.onnx:
            raise ValueError("the following arguments are required: --onnx")


def run(argv: list[str]) -> int:
    """Export and say what was written; returns 0.

    Args:
        argv: ``MODEL_DIR OUT_DIR --onnx [options]``.

    Raises:
        FileNotFoundError: ``MODEL_DIR`` is not a saved model folder.
        ValueError: The model does not load, or ``--opset`` is out of range.
        OnnxExportError: The graph does not reproduce the PyTorch logits.
    """
    (args,) = parse_command(
        [ExportArguments],
        argv,
        command="export",
        usage="sertune export MODEL_DIR OUT_DIR --onnx [options]",
        description="Export a saved model with its feature extraction to ONNX (waveform in, "
        "logits out), with sertune_onnx.json and a torch-free runtime next to it.",
        positionals=("model_dir", "out_dir"),
    )
    result = export_onnx(
        args.model_dir,
        args.out_dir,
        int8=args.int8,
        opset=args.opset,
        verify=not args.no_verify,
        overwrite=args.overwrite,
    )
    print(f"wrote {result['onnx']} ({result['onnx_bytes'] / 1e6:.1f} MB)")
    if "int8" in result:
        print(f"wrote {result['int8']} ({result['int8_bytes'] / 1e6:.1f} MB)")
    print(f"wrote {result['metadata']} and {result['runtime']}")
    if result["max_abs_diff"] is not None:
        print(f"max |logits - PyTorch logits| = {result['max_abs_diff']:.2g}")
    return 0
