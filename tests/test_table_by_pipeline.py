"""`stilts table --by pipeline` and `--baseline`: rows that are pipelines, on a hand-built run folder whose
numbers are known (per-example rows, so that --ci re-scores them as for a real run)."""

import csv
import json

import pytest
from helpers import run_cli
from test_bootstrap import HALF, _accuracy_rows, _write_run

from stilts.reports.plot import heatmap_figure
from stilts.reports.scores import load_scores, transfer_cells


def _both(correct):
    """The same rows in xnli's two languages here."""
    return {language: _accuracy_rows(correct) for language in ("de", "fr")}


def _share(percent, size=100):
    return [1] * percent + [0] * (size - percent)


# Four pipelines, in this order in scores.csv (not alphabetical: rows keep it). Worked numbers, xnli dev
# accuracy, each run's mean over de and fr, then the median over the pipeline's seeds:
#   plain       intermediate none, seed 1: 50 and 50 -> 50                        (the baseline)
#   copy        intermediate none, seed 1: plain's very rows -> 50                (delta 0, on every draw)
#   mnli_first  intermediate mnli, seed 1: 100 and 100 -> 100                     (delta +50)
#   rerun       intermediate none, seeds 1 2 3: 60/60, 70/70, 80/100 -> 60 70 90 -> median 70 (mean 73.3)
#               (delta +20; per language de 60 70 80 -> 70, fr 60 70 100 -> 70; sd over seeds 15.3)
# By intermediate, none pools plain, copy and rerun's 5 runs: 50 50 60 70 90 -> 60; mnli 100.
SYSTEMS = {
    ("none", 1, "plain"): _both(HALF),
    ("none", 1, "copy"): _both(HALF),
    ("mnli", 1, "mnli_first"): _both([1] * 100),
    ("none", 1, "rerun"): _both(_share(60)),
    ("none", 2, "rerun"): _both(_share(70)),
    ("none", 3, "rerun"): {"de": _accuracy_rows(_share(80)), "fr": _accuracy_rows(_share(100))},
}
PIPELINES = ["plain", "copy", "mnli_first", "rerun"]


@pytest.fixture
def scores_csv(tmp_path):
    return _write_run(tmp_path / "run", SYSTEMS)


def _table(capsys, scores_csv, *options):
    code, out, err = run_cli(["table", scores_csv, *options], capsys)
    assert code == 0, err
    return out


def _csv_rows(capsys, scores_csv, *options):
    return {
        row["pipeline"]: row
        for row in csv.DictReader(_table(capsys, scores_csv, *options, "--format", "csv").splitlines())
    }


def _md_rows(out):
    """A markdown table's rows: first cell -> the other cells, stripped."""
    cells = [line.strip("|").split("|") for line in out.splitlines() if line.startswith("| ")]
    return {row[0].strip(): [cell.strip() for cell in row[1:]] for row in cells}


def _error(capsys, scores_csv, *options):
    code, out, err = run_cli(["table", scores_csv, *options], capsys)
    assert code == 2 and not out and len(err.strip().splitlines()) == 1, (code, out, err)
    assert err.startswith("error: ")
    return err.strip()


def test_rows_are_pipelines_in_file_order_and_seeds_pool_as_a_median(scores_csv, capsys):
    values, counts = transfer_cells(load_scores(scores_csv), "dev", ["pipeline"])
    assert list(values.index) == PIPELINES and values.index.name == "pipeline"
    assert values[("xnli", "accuracy")].to_dict() == {"plain": 50.0, "copy": 50.0, "mnli_first": 100.0, "rerun": 70.0}
    assert counts["xnli"].to_dict() == {"plain": 1, "copy": 1, "mnli_first": 1, "rerun": 3}

    rows = _csv_rows(capsys, scores_csv, "--by", "pipeline")
    assert list(rows) == PIPELINES and "mlm" not in rows["plain"]
    assert float(rows["rerun"]["xnli"]) == 70.0 and float(rows["rerun"]["avg"]) == 70.0
    rows = _md_rows(_table(capsys, scores_csv, "--by", "pipeline", "--show-n"))
    assert list(rows) == ["pipeline", *PIPELINES] and rows["pipeline"] == ["xnli", "Avg."]
    assert rows["rerun"] == ["70.0 (n=3)", "70.0"] and rows["mnli_first"] == ["100.0 (n=1)", "100.0"]


def test_by_intermediate_pools_the_pipelines_and_names_a_baseline_task(scores_csv, capsys):
    rows = list(csv.DictReader(_table(capsys, scores_csv, "--format", "csv").splitlines()))
    assert [(row["intermediate"], float(row["xnli"])) for row in rows] == [("none", 60.0), ("mnli", 100.0)]
    # --baseline mnli: the none row is 60 - 100
    rows = list(
        csv.DictReader(_table(capsys, scores_csv, "--baseline", "mnli", "--delta", "--format", "csv").splitlines())
    )
    assert [(row["intermediate"], row["kind"], float(row["xnli"])) for row in rows] == [
        ("mnli", "absolute", 100.0),
        ("none", "delta", -40.0),
    ]
    out = _table(capsys, scores_csv, "--baseline", "mnli", "--delta")
    assert "(intermediate mnli, MLM off)" in out and "the baseline row (mnli, MLM no)" in out
    # the defaults, said out loud, change nothing
    assert _table(capsys, scores_csv, "--delta", "--by", "intermediate", "--baseline", "none") == _table(
        capsys, scores_csv, "--delta"
    )


def test_deltas_to_the_named_pipeline(scores_csv, capsys):
    rows = _csv_rows(capsys, scores_csv, "--by", "pipeline", "--baseline", "plain", "--delta")
    assert list(rows) == PIPELINES  # the baseline first, with its absolute score
    assert rows["plain"]["kind"] == "absolute" and float(rows["plain"]["xnli"]) == 50.0
    assert {name: float(row["xnli"]) for name, row in rows.items() if row["kind"] == "delta"} == {
        "copy": 0.0,
        "mnli_first": 50.0,
        "rerun": 20.0,
    }
    rows = _csv_rows(capsys, scores_csv, "--by", "pipeline", "--baseline", "rerun", "--delta")
    assert float(rows["rerun"]["xnli"]) == 70.0 and float(rows["mnli_first"]["xnli"]) == 30.0

    out = _table(capsys, scores_csv, "--by", "pipeline", "--baseline", "plain", "--delta")
    assert "differences to the baseline (pipeline plain)" in out
    assert "the baseline row (plain) shows absolute scores" in out
    assert _md_rows(out)["mnli_first"] == ["+50.0", "+50.0"] and _md_rows(out)["rerun"] == ["+20.0", "+20.0"]

    per_language = _csv_rows(
        capsys, scores_csv, "--by", "pipeline", "--baseline", "plain", "--delta", "--per-language", "xnli"
    )
    assert (float(per_language["rerun"]["de"]), float(per_language["rerun"]["fr"])) == (20.0, 20.0)
    assert float(per_language["rerun"]["avg"]) == 20.0 and float(per_language["mnli_first"]["de"]) == 50.0


@pytest.mark.parametrize(
    "fmt, header, row",
    [
        ("latex", r"pipeline & xnli & Avg. \\", r"mnli\_first & +50.0 & +50.0 \\"),
        ("html", "<th>pipeline</th>", "<td>mnli_first</td>"),
    ],
)
def test_every_format_has_the_pipeline_column(scores_csv, capsys, fmt, header, row):
    out = _table(capsys, scores_csv, "--by", "pipeline", "--baseline", "plain", "--delta", "--format", fmt)
    assert header in out and row in out


def test_ci_marks_the_better_pipeline_and_not_the_identical_one(scores_csv, capsys):
    options = ["--by", "pipeline", "--baseline", "plain", "--delta", "--ci", "95", "--resamples", "200"]
    rows = _csv_rows(capsys, scores_csv, *options)
    better, same, rerun = rows["mnli_first"], rows["copy"], rows["rerun"]
    assert better["xnli_significant"] == "true" and 40 < float(better["xnli_low"]) <= 50 <= float(better["xnli_high"])
    # the same examples are drawn for both: the delta of identical rows is 0 on every draw
    assert same["xnli_significant"] == "false" and float(same["xnli_low"]) == float(same["xnli_high"]) == 0.0
    # rerun's three seeds are resampled as its seeds, each re-scored from its own evaluate stage
    assert float(rerun["xnli_sd"]) == pytest.approx(15.275, abs=1e-3)
    rows = _md_rows(_table(capsys, scores_csv, *options))
    assert rows["mnli_first"][0].startswith("+50.0* [") and rows["copy"] == ["0.0 [0.0, 0.0]"] * 2
    assert rows["rerun"][0].endswith("±15.3")


def test_plot_and_best_by_pipeline(scores_csv, tmp_path, capsys):
    plot = tmp_path / "heat.png"
    _table(capsys, scores_csv, "--by", "pipeline", "--baseline", "plain", "--plot", plot)
    assert plot.is_file()
    values, _ = transfer_cells(load_scores(scores_csv), "dev", ["pipeline"])
    figure = heatmap_figure(values.drop(index="plain"), "t")
    assert [label.get_text() for label in figure.axes[0].get_yticklabels()] == PIPELINES[1:]

    best = list(
        csv.DictReader(_table(capsys, scores_csv, "--by", "pipeline", "--best", "--format", "csv").splitlines())
    )
    assert list(best[0]) == ["target", "pipeline", "dev", "test"]
    assert (best[0]["pipeline"], float(best[0]["dev"])) == ("mnli_first", 100.0)


def test_a_pipeline_baseline_must_be_named(scores_csv, capsys):
    for option in (["--delta"], ["--plot", "x.png"]):
        line = _error(capsys, scores_csv, "--by", "pipeline", *option)
        assert option[0] in line and "--baseline" in line and "plain, copy, mnli_first, rerun" in line
    # nothing is subtracted: no baseline needed
    assert "| rerun" in _table(capsys, scores_csv, "--by", "pipeline", "--ci", "90", "--resamples", "100")


def test_an_unknown_baseline_is_one_line_with_a_suggestion(scores_csv, capsys):
    line = _error(capsys, scores_csv, "--by", "pipeline", "--baseline", "plian", "--delta")
    assert "--baseline" in line and "'plian'" in line and "did you mean 'plain'" in line and "rerun" in line
    line = _error(capsys, scores_csv, "--baseline", "mnlj", "--delta")
    assert "intermediate task 'mnlj'" in line and "did you mean 'mnli'" in line
    assert "--best" in _error(capsys, scores_csv, "--best", "--baseline", "mnli")


def test_a_stage_without_a_recorded_seed_still_serves_its_pipeline(scores_csv, capsys):
    # folders written before evaluate stages recorded their seed: one stage per pipeline and target
    config_path = scores_csv.parent / "evaluate-mnli_first-s1" / "config.json"
    config = json.loads(config_path.read_text())
    del config["settings"]["seed"]
    config_path.write_text(json.dumps(config))
    rows = _csv_rows(
        capsys, scores_csv, "--by", "pipeline", "--baseline", "plain", "--delta", "--ci", "95", "--resamples", "100"
    )
    assert rows["mnli_first"]["xnli_significant"] == "true"


def test_a_name_reused_for_another_intermediate_task_is_warned_about(tmp_path, capsys):
    systems = {("none", 1, "reused"): _both(HALF), ("mnli", 2, "reused"): _both([1] * 100)}
    code, out, err = run_cli(["table", _write_run(tmp_path / "run", systems), "--by", "pipeline"], capsys)
    assert code == 0 and _md_rows(out)["reused"] == ["75.0", "75.0"]  # pooled: median of 50 and 100
    assert "warning:" in err and "pipeline 'reused' has runs of 2 intermediate configurations (none, mnli)" in err
