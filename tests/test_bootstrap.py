"""`stilts table --ci`: paired bootstrap intervals on hand-built run folders whose answers are known."""

import csv
import json

import numpy as np
import pytest
from helpers import run_cli

from stilts.metrics.per_example import chunk_counts, metric_value, right
from stilts.reports import aggregate
from stilts.reports import scores as sc
from stilts.reports.bootstrap import _Units, table_intervals
from stilts.reports.plot import heatmap_figure
from stilts.reports.scores_file import SCORE_COLUMNS


def _write_run(run, systems, target="xnli", languages=("de", "fr"), metric="accuracy"):
    """A run folder as a sweep leaves it: scores.csv and one complete evaluate stage per pipeline, whose
    per-example rows are ``systems[(intermediate, seed)][language]`` (lists of rows' metrics). A key
    (intermediate, seed, pipeline) names the pipeline, as `stilts run` does: its seeds keep the name, each
    evaluate stage records its seed (the sweep-named ones record none)."""
    run.mkdir(parents=True, exist_ok=True)
    records = []
    for (intermediate, seed, *named), per_language in systems.items():
        pipeline = named[0] if named else f"{intermediate}-{target}-s{seed}"
        stage = run / (f"evaluate-{pipeline}-s{seed}" if named else f"evaluate-{pipeline}")
        (stage / "predictions").mkdir(parents=True)
        settings = {"task": target} | ({"seed": seed} if named else {})
        config = {"kind": "evaluate", "pipeline": pipeline, "fingerprint": stage.name, "settings": settings}
        (stage / "config.json").write_text(json.dumps(config))
        (stage / "COMPLETE").write_text("")
        for language in languages:
            rows = [{"id": str(i), "metrics": metrics} for i, metrics in enumerate(per_language[language])]
            (stage / "predictions" / f"dev-{language}.examples.jsonl").write_text(
                "".join(json.dumps(row) + "\n" for row in rows)
            )
            for name in rows[0]["metrics"]:
                value = metric_value(rows, name)
                records.append(
                    [pipeline, intermediate, "false", target, str(seed), "dev", language, name, repr(value), stage.name]
                )
    with open(run / "scores.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SCORE_COLUMNS)
        writer.writerows(records)
    return run / "scores.csv"


def _accuracy_rows(correct):
    return [{"accuracy": right(bool(c))} for c in correct]


def _intervals(scores_csv, seed=0, delta=True):
    scores = sc.load_scores(scores_csv)
    values, _ = aggregate.transfer_cells(scores, "dev")
    values = aggregate.with_average(values)
    return table_intervals(
        scores, values, run_dir=scores_csv.parent, split="dev", level=95, delta=delta, n_resamples=400, seed=seed
    )


RNG = np.random.default_rng(7)
HALF = [i % 2 for i in range(100)]


def test_identical_systems_give_an_interval_containing_zero(tmp_path):
    same = {language: _accuracy_rows(RNG.integers(0, 2, 100)) for language in ("de", "fr")}
    systems = {(name, seed): same for name in ("none", "mnli") for seed in (1, 2, 3)}
    intervals = _intervals(_write_run(tmp_path, systems))
    low, high = (
        intervals.low.at[("mnli", False), ("xnli", "accuracy")],
        intervals.high.at[("mnli", False), ("xnli", "accuracy")],
    )
    assert low <= 0 <= high
    assert not intervals.significant().at[("mnli", False), ("xnli", "accuracy")]


def test_a_system_right_where_the_other_is_wrong_is_far_from_zero(tmp_path):
    baseline = {language: _accuracy_rows(HALF) for language in ("de", "fr")}  # right on every other example
    better = {language: _accuracy_rows([1] * 100) for language in ("de", "fr")}  # and on the ones it misses
    systems = {("none", seed): baseline for seed in (1, 2)} | {("mnli", seed): better for seed in (1, 2)}
    intervals = _intervals(_write_run(tmp_path, systems))
    config, column = ("mnli", False), ("xnli", "accuracy")
    # the delta is +50 on every draw of the seeds; the example draws move it by a few points only
    assert 40 < intervals.low.at[config, column] <= 50 <= intervals.high.at[config, column] < 60
    assert intervals.significant().at[config, column]
    assert intervals.group_significant().at[config, "xnli"] and intervals.significant().at[config, ("avg", "score")]


def test_a_small_unpaired_difference_is_not_significant(tmp_path):
    rng = np.random.default_rng(3)
    systems = {}
    for seed in (1, 2, 3):
        systems[("none", seed)] = {lang: _accuracy_rows(rng.random(100) < 0.50) for lang in ("de", "fr")}
        systems[("mnli", seed)] = {lang: _accuracy_rows(rng.random(100) < 0.53) for lang in ("de", "fr")}
    intervals = _intervals(_write_run(tmp_path, systems))
    config, column = ("mnli", False), ("xnli", "accuracy")
    assert intervals.low.at[config, column] < 0 < intervals.high.at[config, column]


def test_the_same_seed_gives_the_same_interval(tmp_path):
    rng = np.random.default_rng(5)
    systems = {
        (n, s): {lang: _accuracy_rows(rng.random(60) < 0.6) for lang in ("de", "fr")}
        for n in ("none", "qqp")
        for s in (1, 2)
    }
    scores_csv = _write_run(tmp_path, systems)
    first, again, other = _intervals(scores_csv, 0), _intervals(scores_csv, 0), _intervals(scores_csv, 1)
    assert first.low.equals(again.low) and first.high.equals(again.high)
    assert not (first.low.equals(other.low) and first.high.equals(other.high))


def test_the_per_language_avg_is_the_main_tables_cell_interval_included(tmp_path, capsys):
    """The per-language table's Avg column is the main table's cell: the same interval for the same
    --bootstrap-seed (before, each column drew its own seeds from one generator in turn, so the Avg's
    draws depended on the columns before it)."""
    rng = np.random.default_rng(5)
    systems = {
        (n, s): {lang: _accuracy_rows(rng.random(60) < 0.6) for lang in ("de", "fr")}
        for n in ("none", "qqp", "mnli")
        for s in (1, 2, 3)
    }
    scores_csv = _write_run(tmp_path, systems)
    scores = sc.load_scores(scores_csv)
    main = _intervals(scores_csv)
    values, _ = aggregate.language_cells(scores, "xnli", "dev")
    per_language = table_intervals(
        scores, values, run_dir=tmp_path, split="dev", level=95, per_language="xnli", n_resamples=400
    )
    for end in ("low", "high"):
        cells = getattr(main, end)[("xnli", "accuracy")]
        assert cells.equals(getattr(per_language, end)[("avg", "accuracy")].rename(("xnli", "accuracy")))

    def printed(*extra):
        code, out, err = run_cli(["table", scores_csv, "--delta", "--ci", "95", "--format", "csv", *extra], capsys)
        assert code == 0, err
        return list(csv.DictReader(out.splitlines()))

    by_language = printed("--per-language", "xnli")
    for row, in_main in zip(by_language, printed()):
        assert (row["avg_low"], row["avg_high"]) == (in_main["xnli_low"], in_main["xnli_high"])
    assert by_language[1]["avg_low"]  # a delta row, with an interval


def test_entity_f1_resamples_sentences_exactly():
    """A draw of sentences scores micro F1 from their summed counts: all weights 1 is the split's F1, and a
    draw of one sentence twice is that sentence's F1."""
    rows = [{"id": "a", "metrics": chunk_counts(2, 3, 2)}, {"id": "b", "metrics": chunk_counts(0, 1, 2)}]
    units = _Units({("run",): rows}, ["f1", "precision", "recall"])
    draws = units.replicates(np.array([[1, 1], [2, 0], [0, 2]]))[("run",)]
    assert draws["f1"][0] == pytest.approx(100 * 2 * 2 / (4 + 4))  # tp 2, predicted 4, gold 4
    assert draws["f1"][1] == pytest.approx(100 * 4 / 5) and draws["f1"][2] == 0.0
    assert draws["precision"][0] == pytest.approx(50.0) and draws["recall"][0] == pytest.approx(50.0)


def test_table_ci_prints_intervals_marks_and_the_method(tmp_path, capsys):
    baseline = {language: _accuracy_rows(HALF) for language in ("de", "fr")}
    better = {language: _accuracy_rows([1] * 100) for language in ("de", "fr")}
    systems = {("none", s): baseline for s in (1, 2)} | {("mnli", s): better for s in (1, 2)}
    scores_csv = _write_run(tmp_path / "run", systems)
    code, out, err = run_cli(["table", scores_csv, "--delta", "--ci", "95", "--resamples", "200"], capsys)
    assert code == 0, err
    assert "95% paired bootstrap intervals (200 draws" in out
    mnli_row = next(line for line in out.splitlines() if line.startswith("| mnli"))
    assert "+50.0* [" in mnli_row
    assert "± the standard deviation over seeds" in out

    code, out, err = run_cli(["table", scores_csv, "--delta", "--ci", "95", "--format", "csv"], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(out.splitlines()))
    assert rows[1]["xnli_significant"] == "true" and float(rows[1]["xnli_low"]) > 40
    assert rows[0]["kind"] == "absolute" and rows[0]["xnli_sd"] == "0.0"

    code, out, err = run_cli(["table", scores_csv, "--delta", "--ci", "95", "--format", "latex"], capsys)
    assert code == 0 and r"+50.0* [" in out and r"$\pm$" in out, err

    plot = tmp_path / "heat.png"
    code, out, err = run_cli(["table", scores_csv, "--per-language", "xnli", "--ci", "90", "--plot", plot], capsys)
    assert code == 0, err and plot.is_file()


def test_hatching_marks_the_cells_whose_interval_includes_zero():
    import pandas as pd

    index = pd.MultiIndex.from_tuples([("mnli", False), ("qqp", False)], names=["intermediate", "mlm"])
    matrix = pd.DataFrame({"xnli": [2.0, 0.3], "avg": [2.0, 0.3]}, index=index)
    significant = pd.DataFrame({"xnli": [True, False], "avg": [True, False]}, index=index)
    figure = heatmap_figure(matrix, "t", significant)
    hatched = [patch for patch in figure.axes[0].patches if patch.get_hatch()]
    assert len(hatched) == 2 and {patch.get_xy()[1] for patch in hatched} == {0.5}


def test_ci_without_per_example_files_is_one_line(tmp_path, capsys):
    scores_csv = _write_run(
        tmp_path / "run", {("none", 1): {"de": _accuracy_rows([1, 0]), "fr": _accuracy_rows([1, 1])}}
    )
    for folder in (tmp_path / "run").glob("evaluate-*/predictions"):
        for path in folder.iterdir():
            path.unlink()
    code, _, err = run_cli(["table", scores_csv, "--ci", "95"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "examples.jsonl: no such file" in err


def test_ci_refuses_rows_that_disagree_with_scores_csv(tmp_path, capsys):
    scores_csv = _write_run(
        tmp_path / "run", {("none", 1): {"de": _accuracy_rows([1, 0]), "fr": _accuracy_rows([1, 1])}}
    )
    text = scores_csv.read_text().replace(",de,accuracy,50.0", ",de,accuracy,75.0")
    scores_csv.write_text(text)
    code, _, err = run_cli(["table", scores_csv, "--ci", "95"], capsys)
    assert code == 2 and "per-example rows give accuracy 50.0000, scores.csv has 75.0000" in err


def test_a_k_shot_cell_is_the_mean_over_its_sets_on_each_draw_of_the_examples_they_scored(tmp_path, capsys):
    """Two sets of shots drawn from dev, each scored on dev without its own shots: set 0 right on every
    example it scored, set 1 wrong on every one. On every draw of the examples the run's score is the mean
    of the sets', 50, so the cell's interval is [50, 50]; sets taken as seeds would draw 0 or 100."""
    ids = [str(i) for i in range(60)]
    zero_shot = {"de": _accuracy_rows(HALF[:60])}
    scores_csv = _write_run(tmp_path, {("none", 1): zero_shot}, languages=("de",))
    stage = tmp_path / "few_shot-10"
    (stage / "COMPLETE").parent.mkdir()
    (stage / "COMPLETE").write_text("")
    lines = []
    for index, (shots, right_answers) in enumerate(((ids[:10], True), (ids[10:20], False))):
        rows = [{"id": i, "metrics": {"accuracy": right(right_answers)}} for i in ids if i not in shots]
        folder = stage / "predictions" / f"set{index}"
        folder.mkdir(parents=True)
        (folder / "dev-de.examples.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
        value = metric_value(rows, "accuracy")
        lines.append(f"none-xnli-s1,none/10-shot,false,xnli,1/set{index},dev,de,accuracy,{value!r},{stage.name}\n")
    with open(scores_csv, "a") as handle:
        handle.writelines(lines)

    intervals = _intervals(scores_csv, delta=False)
    column = ("xnli", "accuracy")
    assert intervals.low.at[("none/10-shot", False), column] == intervals.high.at[("none/10-shot", False), column] == 50
    assert np.isnan(intervals.sd.at[("none/10-shot", False), column])  # its ± is the sets' spread, shown apart
    # and through the command, per language and with deltas to zero-shot (all of dev: 50% right)
    code, stdout, stderr = run_cli(["table", scores_csv, "--per-language", "xnli", "--delta", "--ci", "95"], capsys)
    assert code == 0, stderr
    (k_shot,) = [line for line in stdout.splitlines() if line.startswith("| none/10-shot ")]
    low, high = (float(end) for end in k_shot.split("|")[3].split("[")[1].split("]")[0].split(","))
    assert low < 0 < high  # against zero-shot's draws, which vary
    assert "±70.7" in k_shot  # the spread over the sets, 100 and 0
    # a set's rows that do not give its scores.csv value: found, not tabulated
    (stage / "predictions" / "set1" / "dev-de.examples.jsonl").write_text(
        json.dumps({"id": "30", "metrics": {"accuracy": right(True)}}) + "\n"
    )
    code, _, stderr = run_cli(["table", scores_csv, "--ci", "95"], capsys)
    assert code == 2 and "set1/dev-de: its per-example rows give accuracy 100.0000, scores.csv has 0.0000" in stderr
