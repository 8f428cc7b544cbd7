"""The delta table as an annotated heatmap (matplotlib, an optional extra: `pip install stilts[plots]`)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from stilts.errors import BadInput

MISSING_COLOUR = "#d9d9d9"


def row_label(config) -> str:
    intermediate, mlm = config
    return f"{intermediate} + MLM" if mlm else intermediate


def plot_heatmap(matrix: pd.DataFrame, path, title: str = "") -> None:
    """Draw `matrix` (index (intermediate, mlm); one column per target, `avg` last) to `path`.

    Colours diverge around 0 (red worse, blue better than the baseline); every cell is annotated with
    its value, and a missing cell is grey with `-`.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise BadInput(f"--plot: {path}: folder {path.parent} does not exist")
    try:
        import matplotlib
    except ImportError:
        raise BadInput("--plot: matplotlib is not installed; pip install stilts[plots]") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    data = matrix.to_numpy(dtype=float)
    finite = data[np.isfinite(data)]
    limit = float(np.abs(finite).max()) if finite.size else 1.0
    limit = limit if limit > 0 else 1.0
    norm = TwoSlopeNorm(vmin=-limit, vcenter=0.0, vmax=limit)
    cmap = matplotlib.colormaps["RdBu"].with_extremes(bad=MISSING_COLOUR)

    rows, columns = data.shape
    figure, axes = plt.subplots(figsize=(1.2 + 0.75 * columns + 1.5, 1.2 + 0.4 * rows))
    try:
        image = axes.imshow(np.ma.masked_invalid(data), cmap=cmap, norm=norm, aspect="auto")
        axes.set_xticks(range(columns), [str(c) for c in matrix.columns], rotation=45, ha="right")
        axes.set_yticks(range(rows), [row_label(c) for c in matrix.index])
        for i in range(rows):
            for j in range(columns):
                value = data[i, j]
                if math.isnan(value):
                    text, colour = "-", "black"
                else:
                    text = f"{value:+.1f}"
                    text = "0.0" if text in ("+0.0", "-0.0") else text
                    colour = "white" if abs(value) > 0.6 * limit else "black"
                axes.text(j, i, text, ha="center", va="center", color=colour, fontsize=8)
        figure.colorbar(image, ax=axes, label="difference to baseline (points)")
        if title:
            axes.set_title(title, fontsize=10)
        figure.tight_layout()
        try:
            figure.savefig(path, dpi=150)
        except (ValueError, OSError) as error:
            raise BadInput(f"--plot: {path}: cannot write the plot ({error})") from None
    finally:
        plt.close(figure)
