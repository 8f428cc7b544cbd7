"""`stilts table --per-language TASK --group-languages BY` and `--distance NAME`: group means and slopes on
hand-made scores whose answers are known, their bootstrap intervals against the draws written out, the
languages the shipped table lacks, the refusals, and the plots."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest
from helpers import run_cli
from test_bootstrap import _accuracy_rows, _write_run

from stilts.analysis.languages import language
from stilts.reports import aggregate
from stilts.reports import scores as sc
from stilts.reports.bootstrap import cell_draws
from stilts.reports.scores_file import SCORE_COLUMNS

TARGET = "xnli"  # trains on English: en is its source language


def write_scores(path, spec):
    """scores.csv of ``spec``: (intermediate, seed) -> {language: accuracy}."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SCORE_COLUMNS)
        for (intermediate, seed), per_language in spec.items():
            pipeline = f"{intermediate}-{TARGET}-s{seed}"
            for code, value in per_language.items():
                writer.writerow(
                    [
                        pipeline,
                        intermediate,
                        "false",
                        TARGET,
                        seed,
                        "dev",
                        code,
                        "accuracy",
                        value,
                        f"evaluate-{pipeline}",
                    ]
                )
    return path


def table(capsys, *argv):
    code, out, err = run_cli(["table", *argv], capsys)
    assert code == 0, err
    return out, err


def csv_rows(text):
    return {row["intermediate"]: row for row in csv.DictReader(io.StringIO(text))}


def markdown_row(text, intermediate):
    """The cells of the markdown table's row of ``intermediate``."""
    line = next(line for line in text.splitlines() if line.startswith(f"| {intermediate} "))
    return [cell.strip() for cell in line.split("|")]


# Worked numbers. Families: de, fr Indo-European; ja Japonic; sw Atlantic-Congo; xx not in the table (unknown);
# en the source language. none's Indo-European cell is the median over seeds of each seed's mean of de and fr:
# means 80, 65, 75 -> 75 (not the mean of the languages' medians, (80 + 60) / 2 = 70: a group's cell is taken
# as Avg is). Avg: run means 400/6, 370/6, 390/6 -> 65. mnli (every seed the same): Indo-European 78 (+3),
# ja 63 (+3), sw 50 (0), xx 46 (+6), en 92 (+2), Avg 407/6.
GROUPED = {
    ("none", 1): {"en": 90, "de": 70, "fr": 90, "ja": 60, "sw": 50, "xx": 40},
    ("none", 2): {"en": 90, "de": 80, "fr": 50, "ja": 60, "sw": 50, "xx": 40},
    ("none", 3): {"en": 90, "de": 90, "fr": 60, "ja": 60, "sw": 50, "xx": 40},
    **{("mnli", seed): {"en": 92, "de": 80, "fr": 76, "ja": 63, "sw": 50, "xx": 46} for seed in (1, 2, 3)},
}


def test_group_cells_by_hand(tmp_path, capsys):
    scores_csv = write_scores(tmp_path / "scores.csv", GROUPED)
    out, err = table(capsys, scores_csv, "--per-language", TARGET, "--group-languages", "family", "--format", "csv")
    rows = csv_rows(out)
    assert list(rows["none"])[2:] == ["en", "Atlantic-Congo", "Indo-European", "Japonic", "unknown", "avg"]
    none, mnli = rows["none"], rows["mnli"]
    assert float(none["Indo-European"]) == 75 and float(none["Japonic"]) == 60 and float(none["unknown"]) == 40
    assert float(none["en"]) == 90 and float(none["avg"]) == 65
    assert float(mnli["Indo-European"]) == 78 and float(mnli["avg"]) == pytest.approx(407 / 6)
    # never silently dropped: the language the table lacks is a group, named in a note; en is its own column
    assert "note: unknown: xx, not in stilts/analysis/languages.csv" in err
    assert "note: en is in no group: the target trains on it" in err

    out, _ = table(capsys, scores_csv, "--per-language", TARGET, "--group-languages", "family", "--delta")
    header = next(line for line in out.splitlines() if line.startswith("| Intermediate"))
    for label in ("en (source)", "Atlantic-Congo (1)", "Indo-European (2)", "Japonic (1)", "unknown (1)", "Avg"):
        assert f" {label} |" in header
    mnli_row = [
        cell.strip() for cell in next(line for line in out.splitlines() if line.startswith("| mnli")).split("|")
    ]
    assert mnli_row[3:9] == ["+2.0", "0.0", "+3.0", "+3.0", "+6.0", "+2.8"]
    assert "groups: Atlantic-Congo: sw; Indo-European: de, fr; Japonic: ja; unknown: xx." in out

    # by script, Latin is de, fr and sw: seeds' means 70, 60, 200/3 -> 200/3; by resource class, class 5 is
    # de, fr and ja: 220/3, 190/3, 70 -> 70, first (most data first), then class 2 (sw)
    out, _ = table(capsys, scores_csv, "--per-language", TARGET, "--group-languages", "script", "--format", "csv")
    assert float(csv_rows(out)["none"]["Latn"]) == pytest.approx(200 / 3)
    out, _ = table(
        capsys, scores_csv, "--per-language", TARGET, "--group-languages", "resource_class", "--format", "csv"
    )
    none = csv_rows(out)["none"]
    assert list(none)[2:] == ["en", "class 5", "class 2", "unknown", "avg"] and float(none["class 5"]) == 70


def one_seed_systems(examples: int, repeat: int = 1):
    """Per language, the baseline right on a random half and mnli on a random share: independent examples, so
    that a group's mean is surer than each of its languages. ``repeat`` copies each language's examples."""
    rng = np.random.default_rng(4)
    systems = {}
    for name, share in (("none", 0.5), ("mnli", 0.6)):
        per_language = {}
        for code in ("en", "de", "fr", "ja", "sw"):
            correct = list(rng.random(examples) < share)
            per_language[code] = _accuracy_rows(correct * repeat)
        systems[(name, 1)] = per_language
    return systems


def test_a_groups_interval_is_its_mean_recomputed_on_each_draw(tmp_path, capsys):
    """One seed: a group's cell on each draw is the mean of its languages' on that draw, so its interval is the
    percentile interval of those means (written out from the per-language table's draws), narrower than the
    mean of its languages' intervals; a group of one language has that language's interval."""
    languages = ("en", "de", "fr", "ja", "sw")
    scores_csv = _write_run(tmp_path / "run", one_seed_systems(80), languages=languages)
    options = ["--per-language", TARGET, "--delta", "--ci", "90", "--resamples", "300", "--format", "csv"]
    by_language = csv_rows(table(capsys, scores_csv, *options)[0])["mnli"]
    grouped = csv_rows(table(capsys, scores_csv, *options, "--group-languages", "family")[0])["mnli"]

    scores = sc.load_scores(scores_csv)
    values, _ = aggregate.language_cells(scores, TARGET, "dev")
    frames, _ = cell_draws(scores, values, run_dir=scores_csv.parent, split="dev", per_language=TARGET, n_resamples=300)
    draws = aggregate.group_scores(frames[("mnli", False)])
    means = (draws["de"] + draws["fr"]) / 2
    low, high = means.quantile(0.05), means.quantile(0.95)
    assert (float(grouped["Indo-European_low"]), float(grouped["Indo-European_high"])) == pytest.approx((low, high))
    assert low <= float(grouped["Indo-European"]) <= high
    widths = [float(by_language[f"{code}_high"]) - float(by_language[f"{code}_low"]) for code in ("de", "fr")]
    assert high - low < np.mean(widths)  # not the mean of the intervals
    for column in ("_low", "_high", ""):
        assert grouped[f"Japonic{column}"] == by_language[f"ja{column}"]
        assert grouped[f"Atlantic-Congo{column}"] == by_language[f"sw{column}"]
        assert (
            grouped[f"en{column}"] == by_language[f"en{column}"]
            and grouped[f"avg{column}"] == by_language[f"avg{column}"]
        )


def test_group_intervals_over_seeds_hold_their_cells(tmp_path, capsys):
    rng = np.random.default_rng(9)
    languages = ("en", "de", "fr", "hi", "ja")
    systems = {
        (name, seed): {code: _accuracy_rows(rng.random(60) < share) for code in languages}
        for name, share in (("none", 0.5), ("mnli", 0.65))
        for seed in (1, 2, 3)
    }
    scores_csv = _write_run(tmp_path / "run", systems, languages=languages)
    out, _ = table(
        capsys, scores_csv, "--per-language", TARGET, "--group-languages", "family", "--delta", "--ci", "95",
        "--resamples", "200", "--format", "csv",
    )  # fmt: skip
    mnli = csv_rows(out)["mnli"]
    for group in ("Indo-European", "Japonic", "avg"):
        assert float(mnli[f"{group}_low"]) <= float(mnli[group]) <= float(mnli[f"{group}_high"])
        assert float(mnli[f"{group}_sd"]) > 0  # three seeds


# ------------------------------------------------------------------------------------------- distance

FITTED = ("de", "es", "fr", "hi", "ja", "sw")


def line_spec():
    """none 50 everywhere; mnli 50 + 20 - 30 * syntactic distance (slope -30, R² 1); qqp's deltas by hand."""
    qqp = {"de": 2.0, "es": 1.0, "fr": 0.0, "hi": -1.0, "ja": -3.0, "sw": 0.5}
    spec = {}
    for seed in (1, 2):
        spec[("none", seed)] = {"en": 80, **dict.fromkeys(FITTED, 50.0), "xx": 50}
        mnli = {code: 50 + 20 - 30 * language(code).distances["syntactic"] for code in FITTED}
        spec[("mnli", seed)] = {"en": 85, **mnli, "xx": 99}
        spec[("qqp", seed)] = {"en": 81, **{code: 50 + qqp[code] for code in FITTED}, "xx": 50}
    return spec, qqp


def test_the_slope_by_hand(tmp_path, capsys):
    spec, qqp = line_spec()
    scores_csv = write_scores(tmp_path / "scores.csv", spec)
    out, err = table(
        capsys, scores_csv, "--per-language", TARGET, "--distance", "syntactic", "--delta", "--format", "csv"
    )
    rows = csv_rows(out)
    assert set(rows) == {"mnli", "qqp"}  # the baseline's differences to itself are 0: no row
    mnli = rows["mnli"]
    assert float(mnli["slope"]) == pytest.approx(-30) and float(mnli["intercept"]) == pytest.approx(20)
    assert float(mnli["r2"]) == pytest.approx(1) and float(mnli["spearman"]) == pytest.approx(-1)
    assert mnli["languages"] == "6" and mnli["fitted"] == " ".join(FITTED) and mnli["kind"] == "delta"
    x = np.array([language(code).distances["syntactic"] for code in FITTED])
    y = np.array([qqp[code] for code in FITTED])
    dx = x - x.mean()
    assert float(rows["qqp"]["slope"]) == pytest.approx(dx @ (y - y.mean()) / (dx @ dx))
    # en (scored 80-85) and xx (+49) would pull the line: both left out, and said so
    assert "note: en is not in the fits: xnli trains on it, so its score is not zero-shot." in err
    assert "note: no syntactic distance for xx (not in stilts/analysis/languages.csv): not in the fits." in err
    assert "slope_low" not in mnli  # intervals come with --ci

    out, _ = table(capsys, scores_csv, "--per-language", TARGET, "--distance", "syntactic", "--delta")
    mnli_row = [
        cell.strip() for cell in next(line for line in out.splitlines() if line.startswith("| mnli")).split("|")
    ]
    assert mnli_row[3:7] == ["-30.0", "6", "1.00", "-1.00"]
    assert "on its syntactic distance to English" in out and "Note: en is not in the fits" in out

    # without --delta: each configuration's own scores, the baseline's too (flat: no R², no rank correlation)
    out, _ = table(capsys, scores_csv, "--per-language", TARGET, "--distance", "syntactic", "--format", "csv")
    rows = csv_rows(out)
    assert float(rows["none"]["slope"]) == 0 and rows["none"]["r2"] == "" and rows["none"]["kind"] == "absolute"
    assert float(rows["mnli"]["slope"]) == pytest.approx(-30) and float(rows["mnli"]["intercept"]) == pytest.approx(70)


def line_systems(repeat: int):
    """One seed; the baseline right on half of 100 examples per language, mnli on 50 + 40 - 60 * distance of
    them (rounded: near a line of slope -60); ``repeat`` copies of each language's examples."""
    systems = {}
    for name in ("none", "mnli"):
        per_language = {}
        for i, code in enumerate(("en", *FITTED)):
            share = 50 if name == "none" else round(50 + 40 - 60 * language(code).distances["syntactic"])
            # the systems' right answers overlap differently in each language: the paired draws vary
            correct = np.zeros(100, dtype=bool)
            start = 7 * i if name == "mnli" else 0
            correct[(start + np.arange(share)) % 100] = True
            per_language[code] = _accuracy_rows(list(correct) * repeat)
        systems[(name, 1)] = per_language
    return systems


def test_the_slopes_interval_is_the_line_refitted_on_each_draw_and_shrinks_with_examples(tmp_path, capsys):
    def fitted(repeat):
        scores_csv = _write_run(tmp_path / f"run{repeat}", line_systems(repeat), languages=("en", *FITTED))
        out, _ = table(
            capsys, scores_csv, "--per-language", TARGET, "--distance", "syntactic", "--delta", "--ci", "95",
            "--resamples", "200", "--format", "csv",
        )  # fmt: skip
        return scores_csv, csv_rows(out)["mnli"]

    scores_csv, few = fitted(1)
    slope, low, high = (float(few[key]) for key in ("slope", "slope_low", "slope_high"))
    assert low < slope < high < 0 and few["slope_significant"] == "true"
    # written out: the table's draws of each language's delta, the languages fixed, a line fitted to each draw
    scores = sc.load_scores(scores_csv)
    values, _ = aggregate.language_cells(scores, TARGET, "dev")
    frames, _ = cell_draws(scores, values, run_dir=scores_csv.parent, split="dev", per_language=TARGET, n_resamples=200)
    draws = aggregate.group_scores(frames[("mnli", False)])[list(FITTED)].to_numpy()
    x = np.array([language(code).distances["syntactic"] for code in FITTED])
    slopes = [np.polyfit(x, draw, 1)[0] for draw in draws]
    assert (low, high) == pytest.approx(tuple(np.percentile(slopes, [2.5, 97.5])))

    _, many = fitted(16)  # the same answers, 16 times as many examples: the same slope, a narrower interval
    assert float(many["slope"]) == pytest.approx(slope)
    assert float(many["slope_low"]) <= slope <= float(many["slope_high"])
    narrower = (float(many["slope_high"]) - float(many["slope_low"])) / (high - low)
    assert narrower < 0.5  # about 1/4: the examples' noise shrinks as 1/sqrt(n)


def test_one_line_refusals(tmp_path, capsys):
    spec, _ = line_spec()
    scores_csv = write_scores(tmp_path / "scores.csv", spec)
    few = write_scores(
        tmp_path / "few.csv",
        {(name, 1): {"en": 80, "de": 50 + i, "fr": 50, "xx": 50} for i, name in enumerate(("none", "mnli"))},
    )
    cases = [
        (["--distance", "syntactic"], "--distance: is about one target's languages; give --per-language TASK too"),
        (["--group-languages", "family"], "--group-languages: is about one target's languages; give --per-language"),
        (
            ["--per-language", TARGET, "--group-languages", "family", "--distance", "genetic"],
            "--distance: fits languages, not groups; it does not go with --group-languages",
        ),
        (["--per-language", TARGET, "--group-languages", "continent"], "Invalid value for '--group-languages'"),
        (["--per-language", TARGET, "--distance", "phonological"], "Invalid value for '--distance'"),
        (
            ["--per-language", TARGET, "--distance", "genetic", "--plot", tmp_path / "p.png", "--vmax", "3"],
            "--vmax: sets the heatmap's colour scale; --distance --plot draws scatter plots",
        ),
        (["--per-language", TARGET, "--distance", "genetic", "--show-n"], "--show-n: counts seeds in cells"),
    ]
    for options, message in cases:
        code, _, err = run_cli(["table", scores_csv, *options], capsys)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (options, err)
    code, _, err = run_cli(["table", few, "--per-language", TARGET, "--distance", "genetic", "--delta"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert (
        "--distance genetic: a slope needs at least 3 languages at different distances to English; xnli (dev) has "
        "2 besides en (de, fr); xx not in stilts/analysis/languages.csv" in err
    )


def test_the_plots_are_written(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from stilts.reports.plot import distance_figure
    from stilts.reports.typology import distance_fits

    spec, _ = line_spec()
    scores_csv = write_scores(tmp_path / "scores.csv", spec)
    scatter = tmp_path / "distance.png"
    _, err = table(
        capsys, scores_csv, "--per-language", TARGET, "--distance", "syntactic", "--delta", "--plot", scatter
    )
    assert f"wrote {scatter}" in err and scatter.read_bytes()[:4] == b"\x89PNG"

    values, _ = aggregate.language_cells(sc.load_scores(scores_csv), TARGET, "dev")
    result = distance_fits(
        values,
        target=TARGET,
        split="dev",
        distance="syntactic",
        source="en",
        delta=True,
        baseline=("none", False),
        config_keys=["intermediate", "mlm"],
    )
    figure = distance_figure(result, "title")
    panels = [axes for axes in figure.axes if axes.get_visible()]
    assert [axes.get_title().split("\n")[0] for axes in panels] == ["mnli", "qqp"]
    assert "slope −30.0, R² 1.00, 6 languages" in panels[0].get_title()
    labels = sorted(text.get_text() for text in panels[0].texts)
    assert labels == sorted(FITTED)  # every fitted language labelled, en and xx not
    line = panels[0].lines[1]  # the points, then the fitted line
    ends = result.points[("mnli", False)]["distance"].agg(["min", "max"])
    assert list(line.get_ydata()) == pytest.approx(list(20 - 30 * ends))
    assert "Not fitted: en (source), xx (no distance)." in figure.get_supxlabel()
    assert math.isnan(result.fits[("mnli", False)].low)  # no --ci, no interval

    heatmap = tmp_path / "groups.png"
    _, err = table(
        capsys, scores_csv, "--per-language", TARGET, "--group-languages", "family", "--delta", "--plot", heatmap
    )
    assert f"wrote {heatmap}" in err and heatmap.read_bytes()[:4] == b"\x89PNG"


def test_a_qa_target_groups_f1_and_em_and_fits_their_mean(tmp_path, capsys):
    """A QA target keeps F1/EM per group; its slope is over each language's mean(F1, EM), as the heatmap's."""
    with open(tmp_path / "scores.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SCORE_COLUMNS)
        for intermediate in ("none", "squad_v1"):
            pipeline = f"{intermediate}-xquad-s1"
            for code in ("en", *FITTED):
                d = language(code).distances["syntactic"]
                gain = 0 if intermediate == "none" else 10 - 20 * d
                for metric, value in (("f1", 70 + gain + 4), ("exact_match", 60 + gain - 4)):
                    writer.writerow(
                        [
                            pipeline,
                            intermediate,
                            "false",
                            "xquad",
                            1,
                            "dev",
                            code,
                            metric,
                            value,
                            f"evaluate-{pipeline}",
                        ]
                    )
    scores_csv = tmp_path / "scores.csv"
    out, _ = table(capsys, scores_csv, "--per-language", "xquad", "--group-languages", "family", "--format", "csv")
    none = csv_rows(out)["none"]
    assert float(none["Indo-European_f1"]) == 74 and float(none["Indo-European_em"]) == 56
    out, _ = table(
        capsys, scores_csv, "--per-language", "xquad", "--distance", "syntactic", "--delta", "--format", "csv"
    )
    squad = csv_rows(out)["squad_v1"]
    assert float(squad["slope"]) == pytest.approx(-20) and float(squad["intercept"]) == pytest.approx(10)
