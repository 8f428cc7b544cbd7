"""`stilts table --by pipeline` and `--baseline`: rows that are pipelines, on a hand-built run folder whose
numbers are known (per-example rows, so that --ci re-scores them as for a real run)."""

import csv
import json

import pytest
from helpers import run_cli
from test_bootstrap import HALF, _accuracy_rows, _write_run

from stilts.reports.aggregate import transfer_cells
from stilts.reports.plot import heatmap_figure
from stilts.reports.scores import load_scores, pipeline_row


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
# By intermediate, plain, copy and rerun would each give none a run of seed 1: refused (not seeds).
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


def test_by_intermediate_pipelines_of_one_seed_are_not_pooled_as_seeds(scores_csv, capsys):
    line = _error(capsys, scores_csv)
    assert "pipelines 'plain', 'copy', 'rerun' each ran intermediate=none, mlm=false on xnli with seed 1" in line
    assert "--by pipeline makes a row of each" in line
    assert _error(capsys, scores_csv, "--best") == line  # every table, not only the main one


@pytest.fixture
def one_pipeline_per_seed(tmp_path):
    """mnli_first and rerun alone: by intermediate, none is rerun's seeds (median 70) and mnli 100."""
    return _write_run(
        tmp_path / "run", {key: rows for key, rows in SYSTEMS.items() if key[2] in ("mnli_first", "rerun")}
    )


def test_by_intermediate_names_a_baseline_task(one_pipeline_per_seed, capsys):
    rows = list(csv.DictReader(_table(capsys, one_pipeline_per_seed, "--format", "csv").splitlines()))
    assert [(row["intermediate"], float(row["xnli"])) for row in rows] == [("none", 70.0), ("mnli", 100.0)]
    # --baseline mnli: the none row is 70 - 100
    options = ("--baseline", "mnli", "--delta")
    rows = list(csv.DictReader(_table(capsys, one_pipeline_per_seed, *options, "--format", "csv").splitlines()))
    assert [(row["intermediate"], row["kind"], float(row["xnli"])) for row in rows] == [
        ("mnli", "absolute", 100.0),
        ("none", "delta", -30.0),
    ]
    out = _table(capsys, one_pipeline_per_seed, *options)
    assert "(intermediate mnli, MLM off)" in out and "the baseline row (mnli, MLM no)" in out
    # the defaults, said out loud, change nothing
    assert _table(capsys, one_pipeline_per_seed, "--delta", "--by", "intermediate", "--baseline", "none") == _table(
        capsys, one_pipeline_per_seed, "--delta"
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


def test_an_unknown_baseline_pipeline_is_one_line_with_a_suggestion(scores_csv, capsys):
    line = _error(capsys, scores_csv, "--by", "pipeline", "--baseline", "plian", "--delta")
    assert "--baseline" in line and "'plian'" in line and "did you mean 'plain'" in line and "rerun" in line


def test_an_unknown_baseline_task_is_one_line_with_a_suggestion(one_pipeline_per_seed, capsys):
    line = _error(capsys, one_pipeline_per_seed, "--baseline", "mnlj", "--delta")
    assert "intermediate task 'mnlj'" in line and "did you mean 'mnli'" in line
    assert "--best" in _error(capsys, one_pipeline_per_seed, "--best", "--baseline", "mnli")


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


@pytest.mark.parametrize(
    "name, run, row",
    [
        ("mnli-panx-de-s1", ("mnli", False, "panx", "1"), "mnli-de"),  # a sweep's variant
        ("mnli+qqp+mlm-xnli-s3", ("mnli+qqp", True, "xnli", "3"), "mnli+qqp+mlm"),  # no variants
        ("none-panx-en+de-s2", ("none", False, "panx", "2"), "none-en+de"),
        ("none-panx-de-s1", ("none", False, "panx", "2"), "none-panx-de-s1"),  # another seed's name
        ("none-panx-s1", ("none", False, "xnli", "1"), "none-panx-s1"),  # another target's
        ("mnli-panx-s1", ("none", False, "panx", "1"), "mnli-panx-s1"),  # another configuration's
        ("real_panx_pivot_de", ("none", False, "panx", "1"), "real_panx_pivot_de"),  # `stilts run`'s
    ],
)
def test_a_sweeps_pipeline_is_a_row_without_its_target_and_seed(name, run, row):
    assert pipeline_row(name, *run) == row


# A sweep with variants en and de, intermediate none over seeds 1 and 2, and mnli with seed 1, on xnli
# (de and fr): none-en 50/60 -> median 55, none-de 70/90 -> 80, mnli-de 100.
VARIANT_SWEEP = {
    ("none", 1, "none-xnli-en-s1"): _both(HALF),
    ("none", 2, "none-xnli-en-s2"): _both(_share(60)),
    ("none", 1, "none-xnli-de-s1"): _both(_share(70)),
    ("none", 2, "none-xnli-de-s2"): _both(_share(90)),
    ("mnli", 1, "mnli-xnli-de-s1"): _both([1] * 100),
}


def test_a_variant_sweeps_rows_pool_their_seeds_and_find_their_stages(tmp_path, capsys):
    scores_csv = _write_run(tmp_path / "run", VARIANT_SWEEP)
    options = ("--by", "pipeline", "--baseline", "none-en", "--delta")
    rows = _csv_rows(capsys, scores_csv, *options, "--show-n")
    assert {name: (row["kind"], float(row["xnli"]), row["xnli_n"]) for name, row in rows.items()} == {
        "none-en": ("absolute", 55.0, "2"),
        "none-de": ("delta", 25.0, "2"),
        "mnli-de": ("delta", 45.0, "1"),
    }
    # --ci reads each run's predictions from its own pipeline's evaluate stage
    rows = _csv_rows(capsys, scores_csv, *options, "--ci", "95", "--resamples", "200")
    assert rows["mnli-de"]["xnli_significant"] == "true"
    line = _error(capsys, scores_csv)  # by intermediate, none's variants would pool as seeds
    assert "pipelines 'none-xnli-en-s1', 'none-xnli-de-s1' each ran intermediate=none" in line


def test_two_names_for_one_row_and_seed_are_refused(tmp_path, capsys):
    systems = {("mnli", 1, "mnli-xnli-s1"): _both(HALF), ("mnli", 1, "mnli"): _both([1] * 100)}
    line = _error(capsys, _write_run(tmp_path / "run", systems), "--by", "pipeline")
    assert "pipelines 'mnli-xnli-s1', 'mnli' each ran pipeline=mnli on xnli with seed 1" in line
    assert "give one another name" in line
    # one name for two intermediate configurations with the same seed (with other seeds: a warning)
    (tmp_path / "again.csv").write_text(
        "pipeline,intermediate,mlm,target,seed,split,language,metric,value\n"
        "reused,none,false,xnli,1,dev,de,accuracy,50\nreused,mnli,false,xnli,1,dev,de,accuracy,100\n"
    )
    line = _error(capsys, tmp_path / "again.csv", "--by", "pipeline")
    assert "pipeline 'reused' ran xnli after 2 intermediate configurations (none, mnli) with seed 1" in line
