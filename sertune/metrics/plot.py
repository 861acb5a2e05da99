"""Confusion-matrix figures for SER reports, drawn with matplotlib's Agg backend.

The figure is built on a `matplotlib.figure.Figure` attached to an Agg canvas, never through
`pyplot`, so no global figure state is created or leaked and no display is needed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sertune.metrics import normalize_confusion_matrix_rows

__all__ = ["plot_confusion_matrix"]

# Cell text switches from black to white above this fraction of the colour scale.
_DARK_CELL_FRACTION = 0.5


def plot_confusion_matrix(
    matrix: Any,
    label_names: Sequence[str],
    path: str | os.PathLike,
    *,
    normalize: bool = True,
    title: str | None = None,
) -> Path:
    """Write a confusion matrix as a PNG heat map, each cell annotated with percentage and count.

    Args:
        matrix: Square confusion matrix of counts, rows = true class, columns = predicted class
            (e.g. `compute_ser_metrics(...)["confusion_matrix"]`).
        label_names: Name of each class, indexed by class id; one per row.
        path: Where to write the PNG; missing parent folders are created.
        normalize: Colour cells by the row-normalised fraction (each row sums to 1, the recall
            view; a row with zero support is shown as zeros). When `False`, colour by raw counts.
            The annotation shows the row percentage and the count either way.
        title: Optional figure title.

    Returns:
        The path written, as a `pathlib.Path`.

    Raises:
        ValueError: `matrix` is not a square matrix of non-negative counts, or the number of
            `label_names` differs from its size.
    """
    row_fractions = normalize_confusion_matrix_rows(matrix)
    counts = np.asarray(matrix).astype(np.int64)
    num_classes = counts.shape[0]
    if isinstance(label_names, str) or len(label_names) != num_classes:
        raise ValueError(
            f"Got {1 if isinstance(label_names, str) else len(label_names)} label names for a "
            f"{num_classes}x{num_classes} confusion matrix; give one name per class."
        )
    names = [str(name) for name in label_names]

    cell_values = row_fractions if normalize else counts.astype(np.float64)
    colour_max = 1.0 if normalize else max(float(counts.max()), 1.0)

    side_inches = max(4.0, 0.9 * num_classes + 2.5)
    figure = Figure(figsize=(side_inches + 1.0, side_inches), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(cell_values, cmap="Blues", vmin=0.0, vmax=colour_max)
    colour_bar = figure.colorbar(image, ax=axes)
    colour_bar.set_label("fraction of true class" if normalize else "count")

    for true_id in range(num_classes):
        for predicted_id in range(num_classes):
            value = cell_values[true_id, predicted_id]
            text_colour = "white" if value > _DARK_CELL_FRACTION * colour_max else "black"
            axes.text(
                predicted_id,
                true_id,
                f"{100.0 * row_fractions[true_id, predicted_id]:.1f}%\n"
                f"({counts[true_id, predicted_id]})",
                ha="center",
                va="center",
                fontsize=8,
                color=text_colour,
            )

    axes.set_xticks(
        range(num_classes), labels=names, rotation=45, ha="right", rotation_mode="anchor"
    )
    axes.set_yticks(range(num_classes), labels=names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if title is not None:
        axes.set_title(title)

    output_path = Path(path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output_path, format="png", dpi=100)
    return output_path
