"""The summary of a layer-wise probe: scores by layer, and UAR against layer as a figure.

Each layer's own folder (``layer-<k>/``) holds a full ``sertune cv`` set of files; the probe's
folder gets ``cv_results.json`` with ``layers`` (each layer's mean, std and pooled scores),
``cv_summary.md`` with the table by layer, and ``uar_by_layer.png``. No layer is singled out:
picking the best layer by its test scores would tune on the test speakers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sertune.training.cv import CV_RESULTS_FILE, CV_SUMMARY_FILE

UAR_BY_LAYER_FILE = "uar_by_layer.png"
#: The key of ``cv_results.json`` that holds the scores by layer.
LAYER_SUMMARY_KEY = "layers"
_NAMES = ("uar", "wa", "macro_f1")


def write_layer_outputs(
    output_dir: Path,
    layer_results: Sequence[dict[str, Any]],
    layer_names: Sequence[str],
    describe: dict[str, Any],
) -> dict[str, Any]:
    """Write the by-layer ``cv_results.json``, ``cv_summary.md`` and ``uar_by_layer.png``.

    Args:
        output_dir: The probe's folder (each layer's results are in ``layer-<k>/``).
        layer_results: Each layer's ``cv_results.json`` contents, in layer order.
        layer_names: Names of the layers, e.g. ``features``, ``layer 1``, ...
        describe: ``title``, ``notes`` and settings of the probe.

    Returns:
        What ``cv_results.json`` holds.
    """
    layers = []
    for index, (name, results) in enumerate(zip(layer_names, layer_results, strict=True)):
        row: dict[str, Any] = {"layer": index, "name": name, "folder": f"layer-{index:02d}"}
        for metric in _NAMES:
            row[metric] = {key: results[metric][key] for key in ("mean", "std", "min", "max")}
            row[metric]["pooled"] = results["pooled"][metric]
        layers.append(row)
    summary = {
        **describe,
        "num_folds": layer_results[0]["num_folds"],
        "label_names": layer_results[0]["label_names"],
        LAYER_SUMMARY_KEY: layers,
    }
    text = json.dumps(summary, indent=2, allow_nan=False)
    (output_dir / CV_RESULTS_FILE).write_text(text + "\n", encoding="utf-8")
    (output_dir / CV_SUMMARY_FILE).write_text(format_layer_summary(summary), encoding="utf-8")
    plot_uar_by_layer(layers, output_dir / UAR_BY_LAYER_FILE, title=describe.get("title"))
    return summary


def format_layer_summary(summary: dict[str, Any]) -> str:
    """Markdown: the probe's settings and mean +- std (and pooled) scores of every layer."""
    lines = [f"# {summary['title']}: {summary['num_folds']} folds, one probe per layer", ""]
    lines += [f"- {note}" for note in summary.get("notes", [])]
    lines += [
        "",
        "| layer | name | uar | wa | macro_f1 | pooled uar |",
        "|---|---|---|---|---|---|",
    ]
    for row in summary[LAYER_SUMMARY_KEY]:
        cells = [f"{row[m]['mean']:.4f} ± {row[m]['std']:.4f}" for m in _NAMES]
        lines.append(
            f"| {row['layer']} | {row['name']} | "
            + " | ".join(cells)
            + f" | {row['uar']['pooled']:.4f} |"
        )
    lines += ["", "Each layer's folds, confusion matrix and settings are in its `layer-<k>/`."]
    return "\n".join(lines) + "\n"


def plot_uar_by_layer(
    layers: Sequence[dict[str, Any]], path: Path, *, title: str | None = None
) -> Path:
    """UAR (mean over folds, +- one standard deviation) against layer index, as a PNG.

    Args:
        layers: The ``layers`` rows of :func:`write_layer_outputs`.
        path: Where to write the PNG.
        title: Figure title.
    """
    index = [row["layer"] for row in layers]
    mean = [row["uar"]["mean"] for row in layers]
    std = [row["uar"]["std"] for row in layers]
    figure = Figure(figsize=(max(5.0, 0.35 * len(layers) + 2.0), 3.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.errorbar(index, mean, yerr=std, marker="o", capsize=3)
    axes.set_xticks(index)
    axes.set_xlabel("hidden layer (0 = feature projection)")
    axes.set_ylabel("UAR (mean ± std over folds)")
    axes.set_ylim(0.0, 1.0)
    axes.grid(alpha=0.3)
    if title:
        axes.set_title(title, fontsize=9)
    figure.savefig(path, format="png", dpi=100)
    return path


__all__ = [
    "LAYER_SUMMARY_KEY",
    "UAR_BY_LAYER_FILE",
    "format_layer_summary",
    "plot_uar_by_layer",
    "write_layer_outputs",
]
