"""How good a ranking is (`stilts.reports.ranking`), against a known grid: the paper's published Table 2 (Phang
et al. 2020, tests/fixtures/phang2020_table2.csv) ranked by the training-free data-size baseline (the published
training-set sizes; TextEmb would need the intermediate tasks' data, which is not here), checked by hand and
against scipy's rank correlations; and the noise ceiling's report on a grid with seeds."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stilts.reports.ranking import rank_frame, ranking_quality, target_split

FIXTURES = Path(__file__).parent / "fixtures"
QA = ("xquad", "mlqa", "tydiqa")
#: the paper's targets and each one's main metric in scores.csv
METRICS = {"xnli": "accuracy", "pawsx": "accuracy", "udpos": "f1", "panx": "f1", "bucc": "f1", "tatoeba": "accuracy"}
SINGLE = ["anli_plus", "mnli", "qqp", "squad_v1", "squad_v2", "hellaswag", "ccg", "cosmosqa", "commonsenseqa"]


def _read(name: str) -> list[dict]:
    with open(FIXTURES / name, newline="") as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


def paper_scores() -> pd.DataFrame:
    """Table 2 as scores.csv rows of one seed: each configuration's absolute dev score (baseline + delta),
    one 'language' per target (the published cells are language averages already)."""
    table = _read("phang2020_table2.csv")
    baseline = next(row for row in table if row["intermediate"] == "none")
    rows = []
    for row in table:
        for column, value in row.items():
            if column in ("intermediate", "mlm"):
                continue
            target, _, part = column.partition("_")
            metric = {"f1": "f1", "em": "exact_match"}[part] if target in QA else METRICS[target]
            absolute = float(value) if row is baseline else float(baseline[column]) + float(value)
            rows.append(
                {
                    "pipeline": f"{row['intermediate']}-{target}-s1",
                    "intermediate": row["intermediate"],
                    "mlm": row["mlm"] == "true",
                    "target": target,
                    "seed": "1",
                    "split": "dev",
                    "language": "avg",
                    "metric": metric,
                    "value": absolute,
                    "stage": "",
                    "trained_on": False,
                }
            )
    frame = pd.DataFrame(rows)
    frame.attrs["path"] = "phang2020_table2.csv"
    return frame


def size_ranking() -> pd.DataFrame:
    """rank.csv's rows for the data-size baseline on every target of the paper, single tasks without MLM."""
    sizes = {row["intermediate"]: float(row["train"]) for row in _read("intermediate_train_sizes.csv")}
    per_seed = pd.DataFrame(
        [
            {"intermediate": name, "mlm": False, "target": target, "seed": 1, "examples": 0, "rows": np.nan}
            | {"size": sizes[name]}
            for target in ["xnli", "pawsx", "udpos", "panx", *QA, "bucc", "tatoeba"]
            for name in SINGLE
        ]
    )
    return rank_frame(per_seed, ["size"])


@pytest.fixture(scope="module")
def report():
    return {quality.target: quality for quality in ranking_quality(size_ranking(), paper_scores())}


def test_data_size_on_panx_by_hand(report):
    panx = report["panx"]
    size = panx.metrics.loc["size"]
    # best: hellaswag 62.8 + 1.6 = 64.4; data size puts anli_plus (59.3) first, then mnli (63.3) and qqp (17.4)
    assert size["regret@1"] == pytest.approx((64.4 - 59.3) / 64.4)
    assert size["regret@3"] == pytest.approx((64.4 - 63.3) / 64.4)
    # of the best gain over the baseline (+1.6): all of it and 3.5 more lost, then 1.1 of it
    assert size["delta_regret@1"] == pytest.approx((1.6 + 3.5) / 1.6)
    assert size["delta_regret@3"] == pytest.approx((1.6 - 0.5) / 1.6)
    side = panx.side_by_side
    assert side.loc["hellaswag", "true rank"] == 1 and side.loc["anli_plus", "size rank"] == 1
    assert side.loc["qqp", "true rank"] == 9
    assert panx.split == "dev"
    assert any("one seed per configuration: no noise ceiling" in note for note in panx.notes)


def test_a_qa_target_counts_the_mean_of_f1_and_em_by_hand(report):
    size = report["tydiqa"].metrics.loc["size"]
    # baseline (65.6 + 48.2) / 2 = 56.9; best squad_v2 +(10.4 + 11.3) / 2 = +10.85; anli_plus -(0.6 + 3.0) / 2
    best, anli, mnli = 56.9 + 10.85, 56.9 - 1.8, 56.9 - 1.3
    assert size["regret@1"] == pytest.approx((best - anli) / best)
    assert size["regret@3"] == pytest.approx((best - mnli) / best)
    assert size["delta_regret@1"] == pytest.approx((10.85 + 1.8) / 10.85)


def test_no_gain_to_lose_where_every_intermediate_task_hurts(report):
    size = report["xnli"].metrics.loc["size"]
    assert size["regret@1"] == 0.0  # anli_plus, the largest, is the least harmful (-0.8)
    assert np.isnan(size["delta_regret@1"]) and np.isnan(size["ndcg"])  # no configuration beats the baseline


def test_rank_correlations_agree_with_scipy_on_every_target(report):
    stats = pytest.importorskip("scipy.stats")
    scores, sizes = (
        paper_scores(),
        {r["intermediate"]: float(r["train"]) for r in _read("intermediate_train_sizes.csv")},
    )
    for target, quality in report.items():
        truth = scores[(scores["target"] == target) & scores["intermediate"].isin(SINGLE) & ~scores["mlm"]]
        truth = truth.groupby("intermediate")["value"].mean()
        predicted = [sizes[name] for name in truth.index]
        assert quality.metrics.loc["size", "spearman"] == pytest.approx(stats.spearmanr(predicted, truth).statistic)
        assert quality.metrics.loc["size", "kendall"] == pytest.approx(stats.kendalltau(predicted, truth).statistic)


def _seeded_scores(results: dict[str, list[float]]) -> pd.DataFrame:
    rows = [
        {
            "pipeline": f"{name}-xnli-s{seed}",
            "intermediate": name,
            "mlm": False,
            "target": "xnli",
            "seed": str(seed),
            "split": "dev",
            "language": language,
            "metric": "accuracy",
            "value": value + offset,
            "stage": "",
            "trained_on": False,
        }
        for name, values in results.items()
        for seed, value in enumerate(values, start=1)
        for language, offset in (("en", 1.0), ("de", -1.0))  # a run's score is its languages' mean
    ]
    return pd.DataFrame(rows)


def test_a_ranking_that_matches_the_truth_is_not_called_better_than_the_seeds_agree():
    results = {"a": [70, 74, 71, 75], "b": [72, 70, 73, 69], "c": [60, 61, 62, 59], "d": [65, 64, 66, 63]}
    means = {name: float(np.mean(values)) for name, values in results.items()}
    per_seed = pd.DataFrame(
        [{"intermediate": n, "mlm": False, "target": "xnli", "seed": 1, "examples": 8, "rows": 8.0} for n in means]
    )
    per_seed["logme"] = per_seed["intermediate"].map(means)  # the truth itself
    per_seed["size"] = per_seed["intermediate"].map({"a": 1.0, "b": 4.0, "c": 3.0, "d": 2.0})
    [quality] = ranking_quality(rank_frame(per_seed, ["logme", "size"]), _seeded_scores(results))
    assert list(quality.metrics.index) == ["logme", "size", "noise ceiling"]
    assert quality.metrics.loc["logme", "spearman"] == 1.0 and quality.metrics.loc["logme", "regret@1"] == 0.0
    ceiling = quality.metrics.loc["noise ceiling"]
    assert 0 < ceiling["regret@1"] and ceiling["spearman"] < 1  # the seed halves disagree
    assert any(note.startswith("logme is at or above the noise ceiling") for note in quality.notes)
    assert any("2 and 2 seeds, averaged over 6 splits" in note for note in quality.notes)
    assert quality.side_by_side.loc["a", "result"] == pytest.approx(72.5)


def test_each_target_is_measured_on_dev_or_its_one_split():
    scores = _seeded_scores({"a": [70], "b": [60]})
    test_only = scores.assign(target="topics", split="test")
    both = pd.concat([scores, test_only])
    assert target_split(both, "xnli", None) == "dev" and target_split(both, "topics", None) == "test"
    assert target_split(both, "topics", "dev") is None and target_split(both, "xnli", "test") is None


def test_a_rank_file_is_read_back_as_written_and_a_wrong_one_is_refused_naming_it(tmp_path):
    from stilts.core.errors import BadInput
    from stilts.pipeline.rank import write_rank_file
    from stilts.reports.ranking import read_rank_file

    written = size_ranking()
    write_rank_file(written, tmp_path / "rank.csv")
    assert "anli_plus,false,xnli,size," in (tmp_path / "rank.csv").read_text()
    read = read_rank_file(tmp_path / "rank.csv")
    pd.testing.assert_frame_equal(read, written, check_dtype=False)
    (tmp_path / "bad.csv").write_text("intermediate,mlm,target,method,score\nmnli,false,xnli,logme,1.0\n")
    with pytest.raises(BadInput, match="bad.csv: not a rank table: no column rank, seeds, examples, rows"):
        read_rank_file(tmp_path / "bad.csv")
    (tmp_path / "bad.csv").write_text((tmp_path / "rank.csv").read_text().replace(",size,", ",sise,", 1))
    with pytest.raises(BadInput, match="bad.csv: unknown method 'sise'"):
        read_rank_file(tmp_path / "bad.csv")
