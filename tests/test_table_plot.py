"""`stilts table --plot`: a paper-sized heatmap (Table 2 of Phang et al. 2020: 19 configurations x 9
targets) must read well: every text inside the figure, no overlapping tick labels, cell numbers inside
their cells, a short label for the nine-task mixture, and a colour scale that shows small deltas."""

from __future__ import annotations

import csv
import itertools
import random

import numpy as np
import pytest

from stilts.cli import main
from stilts.core.catalog import BENCHMARKS, get_task
from stilts.core.names import QA_METRICS
from stilts.reports import scores_file

#: XTREME's nine targets in table order, and its QA targets, as their declarations say
XTREME_TARGETS = BENCHMARKS.get("xtreme").targets
QA_TARGETS = {target for target in XTREME_TARGETS if get_task(target).main_metrics == QA_METRICS}

pytest.importorskip("matplotlib")

from stilts.reports import plot  # noqa: E402  (after the skip: plot needs matplotlib to draw)

TASKS = ("anli_plus", "mnli", "qqp", "squad_v1", "squad_v2", "hellaswag", "ccg", "cosmosqa", "commonsenseqa")
MIXTURE = "+".join(TASKS)
# 19 configurations: the baseline, nine single tasks, the mixture, and eight of them with MLM co-training
CONFIGS = (
    [("none", False)]
    + [(task, False) for task in TASKS]
    + [(MIXTURE, False)]
    + [(task, True) for task in ("anli_plus", "mnli", "qqp", "squad_v1", "squad_v2", "hellaswag", "cosmosqa")]
    + [(MIXTURE, True)]
)
BASELINE = {
    "xnli": 79.2,
    "pawsx": 86.4,
    "udpos": 74.9,
    "panx": 62.8,
    "xquad": 76.6,
    "mlqa": 71.3,
    "tydiqa": 65.1,
    "bucc": 56.8,
    "tatoeba": 31.0,
}
# deltas as large as the paper's: retrieval gains up to +48 (Tatoeba), a +10 TyDiQA gain from SQuAD,
# a three-digit cell width (+19.4, -10.5); every other cell a small delta within +-3
LARGE = {
    ("squad_v1", "tydiqa"): 10.2,
    ("squad_v2", "tydiqa"): 8.7,
    ("ccg", "udpos"): -10.5,
    ("mnli", "bucc"): 19.4,
    ("anli_plus", "bucc"): 17.3,
    ("qqp", "bucc"): 14.8,
}
TYDIQA_LANGUAGES = ("en", "ar", "bn", "fi", "id", "ko", "ru", "sw", "te")


def delta(config, target, rng):
    intermediate, _ = config
    if intermediate == "none":
        return 0.0
    if target == "tatoeba":
        return 48.0 if intermediate == MIXTURE else round(rng.uniform(20, 45), 1)
    return LARGE.get((intermediate, target), round(rng.uniform(-3, 3), 1))


def paper_sized_rows():
    rng = random.Random(2020)
    rows = []
    for config, target in itertools.product(CONFIGS, XTREME_TARGETS):
        intermediate, mlm = config
        value = BASELINE[target] + delta(config, target, rng)
        languages = TYDIQA_LANGUAGES if target == "tydiqa" else ("en", "de")
        # languages differ a little (the per-language table is not one delta in every column), by
        # offsets with mean 0, so the language average, the main table's cell, is the delta above
        offsets = np.array([0.0 if intermediate == "none" else rng.uniform(-1.5, 1.5) for _ in languages])
        for language, offset in zip(languages, offsets - offsets.mean()):
            shown = value + offset
            metrics = (
                {"f1": shown, "exact_match": shown - 15}
                if target in QA_TARGETS
                else {get_task(target).main_metrics[0]: shown}
            )
            for metric, number in metrics.items():
                rows.append(
                    [
                        f"{intermediate}-{target}",
                        intermediate,
                        str(mlm).lower(),
                        target,
                        1,
                        "dev",
                        language,
                        metric,
                        number,
                        f"evaluate-{intermediate}-{target}",
                    ]
                )
    return rows


@pytest.fixture
def paper_scores(tmp_path):
    path = tmp_path / "scores.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(scores_file.SCORE_COLUMNS)
        writer.writerows(paper_sized_rows())
    return path


@pytest.fixture
def drawn(monkeypatch):
    """The Figure(s) `stilts table --plot` draws, kept for inspection."""
    figures = []
    original = plot.plot_heatmap

    def keep(*args, **kwargs):
        figure = original(*args, **kwargs)
        figures.append(figure)
        return figure

    monkeypatch.setattr(plot, "plot_heatmap", keep)
    return figures


def draw(capsys, drawn, *argv):
    with pytest.raises(SystemExit) as done:
        main(["table", *map(str, argv)])
    _, err = capsys.readouterr()
    assert done.value.code == 0, err
    assert len(drawn) == 1
    return drawn[0]


def overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def drawn_at(text, renderer) -> bool:
    """False for the tick labels matplotlib keeps beyond an axis' range: they are not drawn (no position)."""
    return bool(np.isfinite(text.get_window_extent(renderer).get_points()).all())


def assert_reads_well(figure, texts_at_least=100):
    """Every text inside the figure, no two tick labels overlapping, every cell number inside its cell."""
    from matplotlib.text import Text

    renderer = figure.canvas.get_renderer()
    figure.draw(renderer)
    page = figure.bbox
    texts = [t for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip() and drawn_at(t, renderer)]
    assert len(texts) > texts_at_least
    for text in texts:
        box = text.get_window_extent(renderer)
        inside = (
            box.x0 >= page.x0 - 0.5 and box.y0 >= page.y0 - 0.5 and box.x1 <= page.x1 + 0.5 and box.y1 <= page.y1 + 0.5
        )
        assert inside, f"{text.get_text()!r} at {box.bounds} is not inside the figure {page.bounds}"

    heatmap = figure.axes[0]
    ticks = [
        label
        for axes in figure.axes
        for label in axes.get_xticklabels() + axes.get_yticklabels()
        if label.get_visible() and label.get_text() and drawn_at(label, renderer)
    ]
    boxes = [(label.get_text(), label.get_window_extent(renderer)) for label in ticks]
    for (name_a, a), (name_b, b) in itertools.combinations(boxes, 2):
        assert not overlap(a, b), f"tick labels {name_a!r} and {name_b!r} overlap"

    for number in heatmap.texts:
        column, row = number.get_position()
        corners = heatmap.transData.transform([(column - 0.5, row - 0.5), (column + 0.5, row + 0.5)])
        (left, bottom), (right, top) = corners.min(axis=0), corners.max(axis=0)
        box = number.get_window_extent(renderer)
        assert left <= box.x0 and box.x1 <= right and bottom <= box.y0 and box.y1 <= top, (
            f"cell number {number.get_text()!r} overflows its cell"
        )
    return texts


def test_paper_sized_heatmap_reads_well(paper_scores, tmp_path, capsys, drawn):
    png = tmp_path / "transfer.png"
    figure = draw(capsys, drawn, paper_scores, "--plot", png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    texts = assert_reads_well(figure)
    heatmap = figure.axes[0]

    rows = [label.get_text() for label in heatmap.get_yticklabels()]
    assert len(rows) == 18 and len(heatmap.get_xticklabels()) == 10  # 9 targets and Avg.
    assert "anli_plus" in rows and "squad_v1 + MLM" in rows
    mixture_labels = [row for row in rows if "multi-task" in row]
    assert len(mixture_labels) == 2 and max(len(row) for row in rows) <= 20  # short, with and without MLM
    assert any(" + ".join(TASKS) in text.get_text().replace("\n", " ") for text in texts)  # named in a note

    numbers = {number.get_text() for number in heatmap.texts}
    assert {"+19.4", "\N{MINUS SIGN}10.5", "+48.0"} <= numbers  # a minus sign, as wide as the plus

    # a 2-point delta, typical on most targets, takes at least a third of its side of the colour
    # range, though Tatoeba's +48 is in the same table (a scale up to 48 would give it 4%)
    image = heatmap.images[0]
    assert float(image.norm(2.0)) - 0.5 >= 0.5 / 3 and 0.5 - float(image.norm(-2.0)) >= 0.5 / 3
    assert "Colours clipped at ±" in _note(figure) and "percentile" in _note(figure)


def test_per_language_heatmap_reads_well(paper_scores, tmp_path, capsys, drawn):
    figure = draw(capsys, drawn, paper_scores, "--per-language", "tydiqa", "--plot", tmp_path / "tydiqa.png")
    assert_reads_well(figure)
    heatmap = figure.axes[0]
    assert [label.get_text() for label in heatmap.get_xticklabels()] == list(TYDIQA_LANGUAGES) + ["Avg"]
    assert "anli_plus" in [label.get_text() for label in heatmap.get_yticklabels()]


def _note(figure) -> str:
    """The text under the figure (what the hatching, the brackets and the colour scale mean)."""
    return figure.get_supxlabel().replace("\n", " ")


def one_row(deltas, half_width):
    import pandas as pd

    index = pd.MultiIndex.from_tuples([("mnli", False)], names=["intermediate", "mlm"])
    columns = ["ar", "de", "en", "es", "fr", "hi", "ru", "tr", "zh", "Avg"]
    matrix = pd.DataFrame([deltas], index=index, columns=columns)
    return matrix, (matrix - half_width, matrix + half_width)


def test_a_one_row_heatmap_of_deltas_inside_their_intervals():
    """The demo's per-language table: one row, deltas of a point or two, intervals of ±13. The colour
    scale is at least the intervals' median half-width, so none of these cells is dark; each cell shows
    its interval; the figure is as short as one row allows; the title is one line."""
    matrix, intervals = one_row([1.0, -2.5, 0.0, 2.5, -1.0, 0.0, 1.5, -2.5, 0.5, 0.0], 13.0)
    significant = (intervals[0] > 0) | (intervals[1] < 0)
    title = "topics: difference to baseline (test)"
    figure = plot.heatmap_figure(matrix, title, significant, intervals=intervals, level=95)
    assert_reads_well(figure, texts_at_least=30)
    heatmap = figure.axes[0]
    norm = heatmap.images[0].norm
    assert norm.vmax == pytest.approx(13.0)
    assert max(abs(float(norm(value)) - 0.5) for value in matrix.iloc[0]) < 0.1  # pale: +2.5 of ±13
    texts = [text.get_text() for text in heatmap.texts]
    assert "[\N{MINUS SIGN}12.0, +14.0]" in texts and "\N{MINUS SIGN}2.5" in texts
    assert not any(text.startswith("-") and text != "-" for text in texts)
    assert len([patch for patch in heatmap.patches if patch.get_hatch()]) == 10
    assert figure.get_suptitle() == title  # not wrapped
    assert figure.get_figheight() < 2.5  # one row, not stretched to a vertical colour bar's height
    note = _note(figure)
    assert "Hatched: the 95% interval includes 0" in note and "median half-width" in note

    # --vmax fixes the scale, whatever the intervals: figures drawn with it compare
    fixed = plot.heatmap_figure(matrix, title, significant, intervals=intervals, level=95, vmax=2.0)
    assert fixed.axes[0].images[0].norm.vmax == 2.0 and "fixed at ±2 (--vmax)" in _note(fixed)


def test_the_table_command_plots_intervals_and_takes_vmax(tmp_path, capsys, drawn):
    """`stilts table --ci --plot` passes each cell's interval to the heatmap and keeps the title short;
    `--vmax` fixes the scale and needs --plot."""
    from test_bootstrap import _accuracy_rows, _write_run

    rng = np.random.default_rng(0)
    systems = {
        (name, 1): {language: _accuracy_rows(rng.random(40) < 0.5) for language in ("de", "fr")}
        for name in ("none", "mnli")
    }
    scores_csv = _write_run(tmp_path / "run", systems)
    png = tmp_path / "xnli.png"
    argv = ["--per-language", "xnli", "--ci", "95", "--resamples", "200", "--plot", png, "--vmax", "4"]
    figure = draw(capsys, drawn, scores_csv, *argv)
    heatmap = figure.axes[0]
    assert heatmap.images[0].norm.vmax == 4.0
    assert figure.get_suptitle() == "xnli: difference to baseline (dev)"
    assert sum(text.get_text().startswith("[") for text in heatmap.texts) == 3  # de, fr, Avg
    with pytest.raises(SystemExit) as done:
        main(["table", str(scores_csv), "--vmax", "4"])
    assert done.value.code == 2 and "--vmax" in capsys.readouterr().err
