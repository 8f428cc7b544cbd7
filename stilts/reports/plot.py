"""The delta table as an annotated heatmap, and per-language deltas against distance to English as scatter plots
(matplotlib, an optional extra: `pip install "stilts[plots]"`).

The heatmap is sized from the table: every cell gets room for its number and its column's label, and
the figure grows until the heatmap has that size after constrained layout has placed the labels, the
colour bar, the title and the note, so no text is cut at an edge and no label overlaps another.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stilts.core.errors import BadInput

MISSING_COLOUR = "#d9d9d9"
DPI = 150
FONT_SIZE = 8  # labels and the note
TITLE_SIZE = 10
NUMBER_SIZE = 8  # cell numbers, smaller only when a cell cannot get its full size
INTERVAL_SIZE = 6  # the interval under a cell's number
CELL_PAD = 0.14  # inches between a cell's widest text and its edges
MIN_CELL_WIDTH = 0.45  # inches
MIN_CELL_HEIGHT = 0.28
MIN_CELL_HEIGHT_WITH_INTERVAL = 0.42  # a number and its interval under it
# a vertical colour bar needs this height for its label along it; a shorter heatmap (a few rows) gets
# its colour bar below it instead of being stretched to this height
MIN_HEATMAP_HEIGHT = 2.6  # inches
MIN_BAR_LENGTH = 2.4  # inches: a horizontal colour bar's ticks and label side by side
LONG_ROW_LABEL = 24  # characters; a longer mixture name gets a short label and a note
MINUS = "\N{MINUS SIGN}"  # a hyphen is shorter than the plus beside it and reads as a dash
# Deltas of different targets differ by an order of magnitude (retrieval gains of +48 next to +-1 on
# XNLI): a scale up to the largest |delta| would leave every small cell white, so colours stop at
# this percentile of |delta| and larger cells take the end colour (their numbers say how large).
# Only when the largest |delta| is over CLIP_WHEN times the percentile: otherwise nothing washes out.
CLIP_PERCENTILE = 80
CLIP_WHEN = 2.0


# --------------------------------------------------------------------------------------------- labels


def row_label(config: str | tuple[str, bool], short: dict[str, str] | None = None) -> str:
    """A heatmap row's label: (intermediate, with MLM), or `stilts table --by pipeline`'s pipeline name."""
    if not isinstance(config, tuple):
        return str(config)
    intermediate, mlm = config
    name = (short or {}).get(intermediate, intermediate)
    return f"{name} + MLM" if mlm else name


def mixture_names(configs) -> tuple[dict, list[str]]:
    """Short names for mixtures too long for a row label, and the notes that spell them out.

    A nine-task mixture joined by '+' is 80 characters: as a row label it would squeeze the heatmap
    into a narrow column. A pipeline's name (`--by pipeline`) is not a mixture and is shown as it is.
    """
    intermediates = (config[0] for config in configs if isinstance(config, tuple))
    long = [i for i in dict.fromkeys(intermediates) if len(i) > LONG_ROW_LABEL]
    short, notes = {}, []
    for number, mixture in enumerate(long):
        name = "multi-task" if len(long) == 1 else f"multi-task {chr(ord('A') + number)}"
        tasks = mixture.split("+")
        short[mixture] = name
        notes.append(f"{name} ({len(tasks)} tasks): {' + '.join(tasks)}.")
    return short, notes


def cell_text(value: float) -> str:
    if math.isnan(value):
        return "-"
    text = f"{value:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text.replace("-", MINUS)


def signed(value: float) -> str:
    """A colour bar tick: ``0``, ``+2``, ``−2.5``."""
    return "0" if value == 0 else f"{value:+g}".replace("-", MINUS)


def interval_text(low: float, high: float) -> str:
    if math.isnan(low) or math.isnan(high):
        return ""
    return f"[{cell_text(low)}, {cell_text(high)}]"


# --------------------------------------------------------------------------------------------- colour


def colour_limit(data: np.ndarray, half_widths: np.ndarray | None = None, vmax: float | None = None):
    """The symmetric colour limit, and a note saying how it was chosen where that is not simply the
    largest |delta| (None then).

    ``vmax`` fixes it (figures that must compare). With intervals (``half_widths``: each cell's
    interval's half-width), the limit is at least their median: fitted to the deltas alone, a +1.0
    whose interval is ±13 would take the darkest colour of a table whose deltas are all that small;
    this way a delta inside its uncertainty stays pale, and the end colour means about one
    half-width, so about as large as the cell's uncertainty.
    """
    if vmax is not None:
        return vmax, f"Colour scale fixed at ±{vmax:g} (--vmax)."
    magnitudes = np.abs(data[np.isfinite(data)])
    largest = float(magnitudes.max()) if magnitudes.size else 0.0
    limit, note = largest, None
    if largest > 0:
        clipped = math.ceil(float(np.percentile(magnitudes, CLIP_PERCENTILE)) * 10) / 10
        if clipped and largest > CLIP_WHEN * clipped:
            limit = clipped
            note = f"Colours clipped at ±{clipped:.1f} ({CLIP_PERCENTILE}th percentile of |Δ|)."
    widths = half_widths[np.isfinite(half_widths)] if half_widths is not None else np.array([])
    if widths.size:
        floor = math.ceil(float(np.median(widths)) * 10) / 10
        if floor > limit:
            limit = floor
            note = (
                f"Colour scale ±{floor:.1f}: the median half-width of the intervals (a delta inside its "
                "uncertainty stays pale)."
            )
    if limit == 0:
        return 1.0, None
    return limit, note


# --------------------------------------------------------------------------------------------- layout


class TextSize:
    """Widths of text in inches, as the figure's renderer will draw it."""

    def __init__(self, figure):
        from matplotlib.font_manager import FontProperties

        self._renderer = figure.canvas.get_renderer()
        self._dpi = figure.dpi
        self._font_of_size = FontProperties

    def width(self, text: str, size: float) -> float:
        font = self._font_of_size(size=size)
        widths = [
            self._renderer.get_text_width_height_descent(line, font, ismath=False)[0] for line in str(text).split("\n")
        ]
        return max(widths) / self._dpi

    def widest(self, texts, size: float) -> float:
        return max((self.width(text, size) for text in texts), default=0.0)

    def wrap(self, text: str, width: float, size: float) -> str:
        """Break `text` at spaces into lines no wider than `width` inches (a longer word stays whole)."""
        lines, line = [], ""
        for word in text.split(" "):
            trial = f"{line} {word}" if line else word
            if line and self.width(trial, size) > width:
                lines.append(line)
                line = word
            else:
                line = trial
        return "\n".join(lines + [line])


def fit_heatmap(figure, axes, size: tuple[float, float], heatmap: tuple[float, float]) -> None:
    """Grow or shrink the figure until constrained layout leaves `heatmap` (inches) for the axes.

    The margins (labels, title, note) do not depend on the heatmap's size (the colour bar's only a
    little), so a few corrections converge.
    """
    width, height = size
    for _ in range(5):
        figure.set_size_inches(width, height)
        figure.draw_without_rendering()
        box = axes.get_position()
        short_w, short_h = heatmap[0] - box.width * width, heatmap[1] - box.height * height
        if abs(short_w) < 0.01 and abs(short_h) < 0.01:
            return
        width, height = width + short_w, height + short_h


def number_size(figure, axes, shape: tuple[int, int], widest: float, lines: int = 1) -> float:
    """Font size of the cell numbers from the cells the layout gave (smaller than NUMBER_SIZE only
    when the figure could not reach its intended size); `widest`: widest cell text at NUMBER_SIZE,
    `lines`: lines of text in a cell."""
    box = axes.get_window_extent()
    cell_width = box.width / figure.dpi / shape[1]
    cell_height_points = box.height / figure.dpi / shape[0] * 72
    fits_width = NUMBER_SIZE * (cell_width - CELL_PAD) / widest if widest else NUMBER_SIZE
    return max(1.0, min(NUMBER_SIZE, fits_width, 0.6 * cell_height_points / lines))


# -------------------------------------------------------------------------------------------- drawing


def heatmap_figure(
    matrix: pd.DataFrame,
    title: str = "",
    significant: pd.DataFrame | None = None,
    *,
    intervals: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    level: float | None = None,
    vmax: float | None = None,
):
    """The heatmap of `matrix` (index (intermediate, mlm) or pipeline; one column per target or language, the
    average last) as a matplotlib Figure, not tied to pyplot.

    Colours diverge around 0 (red worse, blue better than the baseline); every cell is annotated with
    its value, and a missing cell is grey with `-`. With `significant` (same index and columns), the
    cells whose difference is not significant are hatched; with `intervals` ((low, high), the same),
    each cell shows its interval under its number, and the colour scale is at least the intervals'
    median half-width (`colour_limit`; `vmax` fixes it instead). `level` (95) names the intervals in
    the note under the figure. The title stays on one line: the figure is made as wide as it.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    data = matrix.to_numpy(dtype=float)
    rows, columns = data.shape
    short, notes = mixture_names(matrix.index)
    row_names = [row_label(config, short) for config in matrix.index]
    column_names = [str(column) for column in matrix.columns]
    numbers = [[cell_text(value) for value in row] for row in data]
    low = high = None
    if intervals is not None:
        low = intervals[0].reindex(index=matrix.index, columns=matrix.columns).to_numpy(dtype=float)
        high = intervals[1].reindex(index=matrix.index, columns=matrix.columns).to_numpy(dtype=float)
    ranges = None
    if low is not None and high is not None:
        ranges = [[interval_text(low[i, j], high[i, j]) for j in range(columns)] for i in range(rows)]

    figure = Figure(dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    text = TextSize(figure)
    widest_number = text.widest(np.ravel(numbers), NUMBER_SIZE)
    # an interval is drawn at INTERVAL_SIZE while its number is at NUMBER_SIZE, both smaller together
    widest_range = text.widest(np.ravel(ranges), INTERVAL_SIZE) if ranges else 0.0
    cell_width = max(
        MIN_CELL_WIDTH,
        text.widest(column_names, FONT_SIZE) + CELL_PAD,
        max(widest_number, widest_range) + CELL_PAD,
    )
    cell_height = MIN_CELL_HEIGHT_WITH_INTERVAL if ranges else MIN_CELL_HEIGHT
    beside = rows * cell_height >= MIN_HEATMAP_HEIGHT  # the colour bar: beside a tall heatmap, else below
    if not beside:
        cell_width = max(cell_width, MIN_BAR_LENGTH / columns)
    heatmap = [columns * cell_width, rows * cell_height]

    half_widths = (high - low) / 2 if low is not None and high is not None else None
    limit, scale_note = colour_limit(data, half_widths, vmax)
    norm = TwoSlopeNorm(vmin=-limit, vcenter=0.0, vmax=limit)
    cmap = colormaps["RdBu"].with_extremes(bad=MISSING_COLOUR)
    axes = figure.add_subplot()
    image = axes.imshow(np.ma.masked_invalid(data), cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
    # column labels on top, horizontal, like a table's header: rotated two-line labels overlap
    axes.xaxis.tick_top()
    axes.set_xticks(range(columns), column_names, fontsize=FONT_SIZE)
    axes.set_yticks(range(rows), row_names, fontsize=FONT_SIZE)
    axes.tick_params(length=0)
    axes.set_xticks(np.arange(columns + 1) - 0.5, minor=True)
    axes.set_yticks(np.arange(rows + 1) - 0.5, minor=True)
    axes.grid(which="minor", color="white", linewidth=1.0)
    axes.tick_params(which="minor", length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)

    largest = float(np.nanmax(np.abs(data))) if np.isfinite(data).any() else 0.0
    # below the heatmap, a shorter and thinner bar than matplotlib's default
    bar_shape: dict[str, Any] = {} if beside else {"shrink": 0.6, "aspect": 30}
    bar = figure.colorbar(
        image,
        ax=axes,
        location="right" if beside else "bottom",
        extend="both" if largest > limit else "neither",
        format=FuncFormatter(lambda v, _: signed(v)),
        **bar_shape,
    )
    bar.set_label("difference to baseline (points)", fontsize=FONT_SIZE)
    bar.ax.tick_params(labelsize=FONT_SIZE)

    if significant is not None:
        notes.append(f"Hatched: the {level:g}% interval includes 0." if level else "Hatched: not significant.")
    if ranges:
        notes.append(f"In brackets: the {level:g}% interval." if level else "In brackets: the interval.")
    if scale_note:
        notes.append(scale_note)
    if title:
        figure.suptitle(title, fontsize=TITLE_SIZE)
    text_width = max(text.widest(row_names, FONT_SIZE) + heatmap[0], text.width(title, TITLE_SIZE))
    if notes:
        figure.supxlabel(
            "\n".join(text.wrap(note, text_width, FONT_SIZE) for note in notes), x=0.01, ha="left", fontsize=FONT_SIZE
        )

    fit_heatmap(figure, axes, (heatmap[0] + 3.0, heatmap[1] + 1.5), tuple(heatmap))
    short_of_title = text.width(title, TITLE_SIZE) + 2 * CELL_PAD - figure.get_figwidth()
    if short_of_title > 0:  # wider cells rather than a title over several lines
        heatmap[0] += short_of_title
        fit_heatmap(figure, axes, tuple(figure.get_size_inches()), tuple(heatmap))
    lines = 2 if ranges else 1
    size = number_size(figure, axes, (rows, columns), max(widest_number, widest_range), lines)
    small = size * INTERVAL_SIZE / NUMBER_SIZE
    for i in range(rows):
        for j in range(columns):
            value = data[i, j]
            colour = "white" if not math.isnan(value) and abs(value) > 0.6 * limit else "black"
            place: dict[str, Any] = {"ha": "center", "color": colour, "in_layout": False}
            if ranges and ranges[i][j]:
                # in data coordinates a row is 1 high, its centre at i, downwards positive
                axes.text(j, i - 0.05, numbers[i][j], va="bottom", fontsize=size, **place)
                axes.text(j, i + 0.05, ranges[i][j], va="top", fontsize=small, **place)
            else:
                axes.text(j, i, numbers[i][j], va="center", fontsize=size, **place)
    if significant is not None:
        from matplotlib.patches import Rectangle

        flags = significant.reindex(index=matrix.index, columns=matrix.columns)
        for i, config in enumerate(matrix.index):
            for j, column in enumerate(matrix.columns):
                marked = flags.at[config, column]
                if not math.isnan(data[i, j]) and (pd.isna(marked) or not bool(marked)):
                    box = Rectangle(
                        (j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//", edgecolor=(0, 0, 0, 0.3), linewidth=0
                    )
                    axes.add_patch(box)
    return figure


def plot_heatmap(matrix: pd.DataFrame, path, title: str = "", significant: pd.DataFrame | None = None, **options):
    """Draw `matrix` (see `heatmap_figure`, which takes ``options``) to the PNG `path`; returns the Figure."""
    return _save(lambda: heatmap_figure(matrix, title, significant, **options), path)


# ------------------------------------------------------------------------------------- delta vs distance

PANEL_WIDTH = 3.6  # inches, one configuration's scatter
PANEL_HEIGHT = 2.9
PANELS_PER_ROW = 3
POINT_COLOUR = "#2166ac"
LINE_COLOUR = "#b2182b"


def distance_figure(result, title: str = ""):
    """One panel per configuration of ``result`` (`stilts.reports.typology.DistanceFits`) that has a slope: its
    per-language delta (or score) against distance to English, each point labelled with its language and, with
    intervals, its interval as an error bar; the fitted line; the slope (with its interval), R² and the number
    of languages over the panel. The panels share their axes, so that slopes compare by eye. A matplotlib
    Figure, not tied to pyplot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    configs = [config for config, fit in result.fits.items() if fit is not None]
    short, notes = mixture_names(configs)
    columns = min(PANELS_PER_ROW, len(configs))
    rows = math.ceil(len(configs) / columns)
    figure = Figure(dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)
    for axes, config in zip(grid.flat, configs):
        fit, points = result.fits[config], result.points[config]
        x, y = points["distance"].to_numpy(), points["value"].to_numpy()
        if points["low"].notna().all():
            spread = np.vstack([y - points["low"].to_numpy(), points["high"].to_numpy() - y])
            axes.errorbar(x, y, yerr=spread, fmt="o", color=POINT_COLOUR, ecolor="#92c5de", markersize=4, elinewidth=1)
        else:
            axes.plot(x, y, "o", color=POINT_COLOUR, markersize=4)
        for code, (xi, yi) in zip(points.index, zip(x, y)):
            axes.annotate(code, (xi, yi), xytext=(3, 3), textcoords="offset points", fontsize=FONT_SIZE - 1)
        ends = np.array([x.min(), x.max()])
        axes.plot(ends, fit.intercept + fit.slope * ends, color=LINE_COLOUR, linewidth=1.2)
        if result.delta:
            axes.axhline(0, color="grey", linewidth=0.8, linestyle=":")
        axes.margins(x=0.12, y=0.08)  # room for the labels of the outermost points
        slope = cell_text(fit.slope)
        if fit.level is not None:
            slope += f" {interval_text(fit.low, fit.high)}"
        r2 = "-" if math.isnan(fit.r2) else f"{fit.r2:.2f}"
        axes.set_title(
            f"{row_label(config, short)}\nslope {slope}, R² {r2}, {len(fit.languages)} languages", fontsize=FONT_SIZE
        )
        axes.tick_params(labelsize=FONT_SIZE)
    for axes in grid.flat[len(configs) :]:
        axes.set_visible(False)
    for axes in grid[-1]:
        axes.set_xlabel(f"{result.distance} distance to English (URIEL+)", fontsize=FONT_SIZE)
    for axes in grid[-2, len(configs) % columns or columns :] if rows > 1 else []:
        axes.xaxis.set_tick_params(labelbottom=True)  # above an empty panel of the last row: its ticks
    figure.supylabel("difference to baseline (points)" if result.delta else "score", fontsize=FONT_SIZE)
    if result.level is not None:
        notes.insert(0, f"Bars and brackets: {result.level:g}% bootstrap intervals.")
    if result.left_out:
        notes.append("Not fitted: " + ", ".join(f"{code} ({why})" for code, why in result.left_out.items()) + ".")
    text = TextSize(figure)
    width = max(PANEL_WIDTH * columns, text.width(title, TITLE_SIZE) + 2 * CELL_PAD + 0.4)
    if title:
        figure.suptitle(title, fontsize=TITLE_SIZE)
    if notes:
        figure.supxlabel(
            "\n".join(text.wrap(note, width - 0.4, FONT_SIZE) for note in notes), x=0.01, ha="left", fontsize=FONT_SIZE
        )
    figure.set_size_inches(width, PANEL_HEIGHT * rows + 0.5 + 0.16 * len(notes))
    return figure


def plot_distance(result, path, title: str = ""):
    """Draw `distance_figure` to the PNG `path`; returns the Figure."""
    return _save(lambda: distance_figure(result, title), path)


def _save(draw, path):
    path = Path(path)
    if not path.parent.is_dir():
        raise BadInput(f"--plot: {path}: folder {path.parent} does not exist")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise BadInput('--plot: matplotlib is not installed; pip install "stilts[plots]"') from None
    figure = draw()
    try:
        figure.savefig(path)
    except (ValueError, OSError) as error:
        raise BadInput(f"--plot: {path}: cannot write the plot ({error})") from None
    return figure
