"""XGLUE's nine understanding tasks: the nDCG of Web Page Ranking on worked examples, the readers of
XGLUE's release layout, the Hub rows and their label orders, `stilts score` on XGLUE's prediction
files, the XGLUE score of `stilts table --best`, the pipelines, and WPR then NER end to end on the
tiny model (XGLUE's submission layout from `stilts predict`)."""

from __future__ import annotations

import csv
import io
import json
import math
import random
import shutil
from pathlib import Path

import pytest
import yaml
from helpers import run_cli, split_scores

from stilts import testing as tiny
from stilts.core.catalog import BENCHMARKS, get_task
from stilts.core.errors import BadInput, MissingSplit, Unlabelled
from stilts.core.names import QA_METRICS
from stilts.data.loading import load_examples
from stilts.data.readers.xglue import NC, WPR, read_xglue_tagging
from stilts.metrics.ranking import mean_ndcg, ndcg, query_groups
from stilts.metrics.scoring import score
from stilts.reports import order
from stilts.reports.prediction_files import PREDICTIONS_FOLDER, prediction_path, read_example_rows
from stilts.reports.scores_file import SCORE_COLUMNS
from stilts.target.xglue_tasks import XGLUE_PAWSX_LANGUAGES, XGLUE_POS_LANGUAGES

#: XGLUE's nine targets, in its paper's table order (the benchmark's declaration)
XGLUE_TARGETS = BENCHMARKS.get("xglue").targets

ROOT = Path(__file__).resolve().parents[1]
LOG2_3 = math.log2(3)  # the discount of rank 2 is 1 / log2(3); rank 1's is 1, rank 3's 1/2


@pytest.fixture
def xglue(tmp_path) -> Path:
    return tiny.write_xglue(tmp_path / "data")


# ----------------------------------------------------------------------------- nDCG, worked examples


def test_ndcg_worked_examples():
    # no ties: the scores rank the grades 3 2 1 2 0 3; ideal order 3 3 2 2 1 0
    dcg = 3 + 2 / LOG2_3 + 1 / 2 + 2 / math.log2(5) + 0 + 3 / math.log2(7)
    ideal = 3 + 3 / LOG2_3 + 2 / 2 + 2 / math.log2(5) + 1 / math.log2(6)
    assert ndcg([3, 2, 3, 0, 1, 2], [0.9, 0.8, 0.1, 0.2, 0.5, 0.3]) == pytest.approx(dcg / ideal)
    assert dcg / ideal == pytest.approx(0.937101, abs=1e-6)
    # a tie: the first two pages share ranks 1 and 2, each with their mean gain (2 + 0) / 2 = 1
    assert ndcg([2, 0, 1], [1.0, 1.0, 0.0]) == pytest.approx((1 * (1 + 1 / LOG2_3) + 1 / 2) / (2 + 1 / LOG2_3))
    assert ndcg([2, 0, 1], [5, 5, 5]) == pytest.approx(1 * (1 + 1 / LOG2_3 + 1 / 2) / (2 + 1 / LOG2_3))
    assert ndcg([0, 1, 4], [0.1, 0.2, 0.3]) == 1.0  # the ideal ranking
    assert ndcg([0, 1], [0.9, 0.1]) == pytest.approx((1 / LOG2_3) / 1)  # reversed: the only gain at rank 2
    assert ndcg([0, 0, 0], [0.3, 0.2, 0.1]) == 0.0  # nothing relevant: 0, as scikit-learn gives
    with pytest.raises(ValueError):
        ndcg([1, 2], [0.5])


def test_ndcg_is_scikit_learns_ndcg_score():
    from sklearn.metrics import ndcg_score

    rng = random.Random(0)
    for _ in range(300):
        n = rng.randint(2, 8)
        grades = [rng.randint(0, 4) for _ in range(n)]
        scores = [rng.choice([0.0, 0.5, 1.0, rng.random()]) for _ in range(n)]  # many ties
        assert ndcg(grades, scores) == pytest.approx(ndcg_score([grades], [scores]), abs=1e-12)


def test_queries_are_runs_of_the_same_query_as_the_official_script_walks_them():
    queries = ["a", "a", "b", "a", "a", "c"]
    assert query_groups(queries) == [[0, 1], [2], [3, 4], [5]]  # "a" again after "b": another query
    grades, scores = [1, 0, 4, 0, 2, 3], [0.1, 0.9, 0.5, 0.2, 0.8, 0.5]
    # queries "b" and "c" have one page each: skipped; the two "a" queries: reversed (1/log2 3), ideal (1)
    value, scored = mean_ndcg(queries, grades, scores)
    assert scored == 2 and value == pytest.approx(100 * (1 / LOG2_3 + 1) / 2)
    assert mean_ndcg(["a", "b"], [1, 2], [0.1, 0.2]) == (0.0, 0)


# ----------------------------------------------------------------------------- the release layout


def test_every_task_reads_its_release_files_from_its_folder_or_the_dataset_folder(xglue):
    counts = {}
    for task_name in XGLUE_TARGETS:
        task = get_task(task_name)
        for folder in (xglue, xglue / get_task(task_name).submission.folder):
            sources = {task_name: str(folder), "squad_v1": str(xglue / "MLQA" / "squad1.1")}
            counts[task_name] = [
                len(load_examples(task, split, language, sources))
                for split, language in (("train", "en"), ("dev", "en"), ("dev", "de"), ("test", "de"))
            ]
    assert counts == {
        "xglue_ner": [6, 2, 2, 2],
        "xglue_pos": [6, 2, 2, 2],
        "xglue_nc": [9, 3, 3, 3],
        "xglue_mlqa": [9, 3, 2, 2],  # train: XGLUE's MLQA/squad1.1/train-v1.1.json as data.squad_v1
        "xglue_xnli": [18, 6, 6, 6],
        "xglue_pawsx": [8, 8, 8, 8],
        "xglue_qadsm": [6, 2, 2, 2],
        "xglue_wpr": [18, 6, 6, 6],
        "xglue_qam": [6, 2, 2, 2],
    }
    wpr = get_task("xglue_wpr").read_local(xglue, "dev", "de")
    assert wpr[0] == {
        "id": "xglue.wpr.de.dev:1",
        "text_a": "weather berlin",
        "text_b": "Berlin weather today Rain and wind in Berlin.",  # title + snippet, as Unicoder joins them
        "label": "4",
    }
    ner = get_task("xglue_ner").read_local(xglue, "dev", "de")
    assert ner[1]["tags"] == ["I-PER", "B-PER", "O", "I-LOC", "O", "I-MISC"]  # IOB1, kept as it is
    with pytest.raises(MissingSplit, match=r"no XGLUE NC test file for 'fr' \(looked for xglue.nc.fr.test, "):
        get_task("xglue_nc").read_local(xglue, "test", "fr")


def test_tagging_files_split_as_the_official_evaluator_splits_the_gold(tmp_path):
    path = tmp_path / "de.dev"
    # -DOCSTART- ends a sentence even without a blank line; the tag is the last field
    path.write_text("-DOCSTART- O\nAnna X I-PER\nlebt O\n-DOCSTART- O\nin O\nBerlin I-LOC\n\n\nx O\n")
    sentences = read_xglue_tagging(path, get_task("xglue_ner").labels)
    assert [s["tokens"] for s in sentences] == [["Anna", "lebt"], ["in", "Berlin"], ["x"]]
    assert sentences[0]["tags"] == ["I-PER", "O"] and sentences[0]["id"] == "de.dev:2"
    path.write_text("Anna\nlebt\n\nhier\n")  # words only: an unlabelled test file
    assert [s["tags"] for s in read_xglue_tagging(path, ())] == [None, None]
    path.write_text("Anna I-PER\nlebt\n")
    with pytest.raises(BadInput, match=r"de.dev: line 2: expected 'word tag', found 1 field"):
        read_xglue_tagging(path, get_task("xglue_ner").labels)
    path.write_text("Anna B-PERSON\n")
    with pytest.raises(BadInput, match=r"de.dev: line 1: unknown tag 'B-PERSON'"):
        read_xglue_tagging(path, get_task("xglue_ner").labels)


def test_unlabelled_files_are_skipped_by_evaluation_and_read_by_predict(xglue):
    for path in (xglue / "WPR").glob("*.de.test"):
        path.write_text("".join("\t".join(line.split("\t")[:3]) + "\n" for line in path.read_text().splitlines()))
    (xglue / "NER" / "de.test").write_text("Anna\nlebt\n\nhier\n")
    for task_name in ("xglue_wpr", "xglue_ner"):
        task = get_task(task_name)
        with pytest.raises(Unlabelled, match="no labels in this file"):
            task.read_local(xglue, "test", "de")
        examples = load_examples(task, "test", "de", {task_name: str(xglue)}, unlabelled=True)
        assert examples and all(e.get("label", e.get("tags")) is None for e in examples)


def test_malformed_tsv_files_name_file_and_line(tmp_path):
    path = tmp_path / "xglue.nc.de.dev"
    path.write_text("title\tbody\tsports\ntitle\tbody\n")
    with pytest.raises(BadInput, match=r"xglue.nc.de.dev: line 2: 2 tab-separated fields, line 1 has 3"):
        NC.read(path)
    path.write_text("title\tbody\tweather\n")
    with pytest.raises(BadInput, match=r"line 1: unknown label 'weather' \(expected one of 'foodanddrink'"):
        NC.read(path)
    path.write_text("only one field\n")
    with pytest.raises(BadInput, match=r"line 1: expected 3 tab-separated fields \(news_title, news_body, label\)"):
        NC.read(path)
    path.write_text("q\tt\ts\t1\n\nq\tt\ts\t2\n\n")  # a blank line inside: the official script counts it
    with pytest.raises(BadInput, match=r"line 2: blank line"):
        WPR.read(path)
    path.write_text("q\tt\ts\t5\n")
    with pytest.raises(BadInput, match=r"line 1: unknown label '5'"):
        WPR.read(path)


# ----------------------------------------------------------------------------- the Hub


def test_hub_rows_map_through_the_hubs_label_orders():
    def hub(task_name):
        return get_task(task_name).hub

    # NC: Hub id 2 is 'travel' (Unicoder's label list has 'news' there)
    row = {"news_title": "t", "news_body": "b", "news_category": 2}
    assert hub("xglue_nc").to_example(row) == {"id": "", "text_a": "t", "text_b": "b", "label": "travel"}
    assert hub("xglue_nc").to_example(dict(row, news_category="autos"))["label"] == "autos"
    # QADSM: Bad 0, Good 1; query against title + description
    row = {"query": "q", "ad_title": "t", "ad_description": "d", "relevance_label": 1}
    assert hub("xglue_qadsm").to_example(row) == {"id": "", "text_a": "q", "text_b": "t d", "label": "Good"}
    # WPR: the ids are the grades (Bad 0 ... Perfect 4); the script's features name the title wed_page_title
    row = {"query": "q", "wed_page_title": "t", "web_page_snippet": "s", "relavance_label": 3}
    assert hub("xglue_wpr").to_example(row)["label"] == "3" and hub("xglue_wpr").to_example(row)["text_b"] == "t s"
    assert hub("xglue_wpr").to_example(dict(row, relavance_label="Perfect"))["label"] == "4"
    # QAM: False 0, True 1 -> the files' and submissions' 0/1; the script spells the passage annswer
    row = {"question": "q", "annswer": "a", "label": "True"}
    assert hub("xglue_qam").to_example(row) == {"id": "", "text_a": "q", "text_b": "a", "label": "1"}
    assert hub("xglue_qam").to_example(dict(row, label=-1)) is None  # no label: dropped
    # NER: O B-PER I-PER B-ORG I-ORG B-LOC I-LOC B-MISC I-MISC; POS: the 17 UPOS, alphabetical
    row = {"words": ["EU", "rejects", "German"], "ner": [3, 0, 7]}
    assert hub("xglue_ner").to_example(row)["tags"] == ["B-ORG", "O", "B-MISC"]
    assert hub("xglue_pos").to_example({"words": ["a"], "pos": [5]})["tags"] == ["DET"]
    # XNLI, PAWS-X and MLQA read the original data sets' Hub copies, in their orders
    assert hub("xglue_xnli").dataset_id == "facebook/xnli" and hub("xglue_xnli").splits["train"] == "train"
    assert hub("xglue_xnli").to_example({"premise": "p", "hypothesis": "h", "label": 2})["label"] == "contradiction"
    assert hub("xglue_pawsx") is get_task("pawsx").hub and hub("xglue_mlqa") is get_task("mlqa").hub
    # microsoft/xglue was a loading script: its six own tasks read main's Parquet, else the Hub's conversion
    assert hub("xglue_wpr").revisions == ("main", "refs/convert/parquet")
    with pytest.raises(BadInput, match=r"unknown tag 'X-FOO' in a Hub row"):
        hub("xglue_ner").to_example({"words": ["a"], "ner": ["X-FOO"]})
    # the Hub's loading script has 17 POS languages, not pt: a missing split, which evaluation skips
    with pytest.raises(MissingSplit, match=r"microsoft/xglue has no 'pt' split of pos"):
        load_examples(get_task("xglue_pos"), "dev", "pt", {})


# ----------------------------------------------------------------------------- stilts score


def stilts_score(capsys, task, language, gold, predictions):
    code, out, err = run_cli(
        ["score", "--task", task, "--language", language, "--gold", gold, "--predictions", predictions], capsys
    )
    return code, (json.loads(out) if code == 0 else None), err


def test_score_wpr_worked_example(tmp_path, capsys):
    gold = tmp_path / "xglue.wpr.de.dev"
    rows = [("q1", 4), ("q1", 1), ("q1", 0), ("q2", 3), ("q2", 0), ("q2", 2), ("q3", 2), ("q1", 1), ("q1", 0)]
    gold.write_text("".join(f"{q}\ttitle {i}\tsnippet\t{grade}\n" for i, (q, grade) in enumerate(rows)))
    predictions = tmp_path / "de.prediction"
    predictions.write_text("0.2\n0.9\n0.1\n1\n1\n0\n7\n0.5\n0.5\n")
    code, result, err = stilts_score(capsys, "xglue_wpr", "de", gold, predictions)
    assert code == 0, err
    # q1: ranked 1, 4, 0; q2: 3 and 0 tied at ranks 1-2, then 2; q3: one page, skipped; q1 again (a new
    # query: not next to the first): 1 and 0 tied
    q1 = (1 + 4 / LOG2_3) / (4 + 1 / LOG2_3)
    q2 = (1.5 * (1 + 1 / LOG2_3) + 2 / 2) / (3 + 2 / LOG2_3)
    q1_again = 0.5 * (1 + 1 / LOG2_3) / 1
    assert result == {"ndcg": pytest.approx(100 * (q1 + q2 + q1_again) / 3), "count": 9, "queries": 3}

    def bad(text):
        predictions.write_text(text)
        code, _, err = stilts_score(capsys, "xglue_wpr", "de", gold, predictions)
        assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
        return err

    assert "line 9: the file ends after 8 scores; the gold file has 9" in bad("1\n" * 8)
    assert "line 2: 'Good' is not a number" in bad("1\nGood\n" + "1\n" * 7)
    assert "line 1: score 'nan' is not a finite number" in bad("nan\n" + "1\n" * 8)
    predictions.write_text("1\n" * 9)
    code, _, err = stilts_score(capsys, "xglue_wpr", "fr", gold, predictions)
    assert code == 2 and "this is de data, but --language is fr" in err


def test_score_tagging_worked_examples_with_the_official_padding(tmp_path, capsys):
    gold = tmp_path / "de.test"
    gold.write_text(
        "-DOCSTART- O\n\nAnna I-PER\nSmith I-PER\nworks O\nfor O\nSiemens I-ORG\n. O\n\n"
        "Paul I-PER\nMaria B-PER\nvisit O\nBerlin I-LOC\nin O\nMay I-MISC\n"
    )
    predictions = tmp_path / "de.prediction"
    # sentence 1 stops after 4 tags: padded with O (Siemens' ORG is missed); sentence 2 reads
    # "Paul Maria" as one person. Chunks: gold 2 + 4, predicted 1 + 3, right 1 + 2
    predictions.write_text("I-PER\nI-PER\nO\nO\n\nI-PER\nI-PER\nO\nI-LOC\nO\nI-MISC\n")
    code, result, err = stilts_score(capsys, "xglue_ner", "de", gold, predictions)
    assert code == 0, err
    assert result == {"precision": 75.0, "recall": 50.0, "f1": pytest.approx(60.0), "count": 2}

    gold = tmp_path / "en.test"
    gold.write_text("the DET\ncat NOUN\nsleeps VERB\n. PUNCT\n\na DET\ndog NOUN\nruns VERB\nfast ADV\n")
    predictions.write_text("DET\nNOUN\nNOUN\nPUNCT\n\nDET\nADJ\nVERB\nADV\n")
    code, result, err = stilts_score(capsys, "xglue_pos", "en", gold, predictions)
    assert code == 0, err
    # XGLUE's POS score is seqeval precision, not accuracy: NOUN NOUN is one predicted chunk, so 5 of the
    # 7 predicted chunks are right (71.4), while 6 of the 8 tokens are (75.0)
    assert result["precision"] == pytest.approx(100 * 5 / 7) and result["accuracy"] == 75.0
    predictions.write_text("DET NOUN\n")  # the whole line is the tag, as the official script reads it
    code, _, err = stilts_score(capsys, "xglue_pos", "en", gold, predictions)
    assert code == 2 and "line 1: unknown tag 'DET NOUN'" in err
    predictions.write_text("DET\nNOUN\nNOUN\nPUNCT\nX\n\nDET\n")
    code, _, err = stilts_score(capsys, "xglue_pos", "en", gold, predictions)
    assert code == 2 and "sentence 1 has 5 tags, the gold sentence has 4 tokens" in err


def test_score_classification_tasks(xglue, tmp_path, capsys):
    predictions = tmp_path / "de.prediction"
    cases = [
        ("xglue_nc", xglue / "NC" / "xglue.nc.de.test", "sports\nfoodanddrink\nsports\n", 100 * 2 / 3),
        ("xglue_qadsm", xglue / "QADSM" / "xglue.qadsm.de.dev", "Good\nGood\n", 50.0),
        ("xglue_qam", xglue / "QAM" / "xglue.qam.de.test", "1\n0\n", 100.0),
        ("xglue_pawsx", xglue / "PAWSX" / "de" / "test_2k.tsv", "1\n0\n" * 4, 100.0),
    ]
    gold_xnli = [line.split("\t")[-1] for line in (xglue / "XNLI" / "de.test").read_text().splitlines()]
    cases.append(("xglue_xnli", xglue / "XNLI" / "de.test", "".join(f"{g}\n" for g in gold_xnli), 100.0))
    for task, gold, text, expected in cases:
        predictions.write_text(text)
        code, result, err = stilts_score(capsys, task, "de", gold, predictions)
        assert code == 0, (task, err)
        assert result["accuracy"] == pytest.approx(expected), task
    predictions.write_text("1\n2\n")
    code, _, err = stilts_score(capsys, "xglue_qam", "de", xglue / "QAM" / "xglue.qam.de.test", predictions)
    assert code == 2 and "line 2: unknown label '2' (expected one of 0, 1)" in err


def test_score_mlqa_reports_f1_the_xglue_score(xglue, tmp_path, capsys):
    gold = xglue / "MLQA" / "MLQA_V1" / "test" / "test-context-de-question-de.json"
    questions = [q for article in json.loads(gold.read_text())["data"] for p in article["paragraphs"] for q in p["qas"]]
    predictions = tmp_path / "de.prediction"
    predictions.write_text(json.dumps({questions[0]["id"]: "Katze", questions[1]["id"]: "in Berlin"}))
    code, result, err = stilts_score(capsys, "xglue_mlqa", "de", gold, predictions)
    assert code == 0, err
    # "Die Katze" vs "Katze": German articles are removed by the MLQA script, so both are exact
    assert result["f1"] == 100.0 and result["exact_match"] == 100.0


def test_every_xglue_task_declares_its_scorer_metric_and_submission_folder():
    for task_name in XGLUE_TARGETS:
        task = get_task(task_name)
        assert task.main_metrics == (task.metric,)  # XGLUE's MLQA counts F1 alone
        assert task.scoring is not None and task.submission.folder is not None
        assert "target" in task.phases and "evaluate" in task.phases
    assert len(XGLUE_POS_LANGUAGES) == 18 and {"pt", "pl"} <= set(XGLUE_POS_LANGUAGES)
    assert XGLUE_PAWSX_LANGUAGES == ("de", "en", "es", "fr")
    assert QA_METRICS not in {get_task(name).main_metrics for name in XGLUE_TARGETS}


# ----------------------------------------------------------------------------- stilts table


def scores_csv(path: Path, rows) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SCORE_COLUMNS)
        writer.writerows(rows)
    return path


def xglue_rows(task_scores: dict[str, float]) -> list[list]:
    """The baseline with ``score`` on dev and test for each target; 'mnli' 10 better on dev, 10 worse on
    test (so --best picks it and reports the lower test score). MLQA's EM and POS's accuracy are 30
    lower: the XGLUE score must not count them."""
    rows = []
    for target, value in task_scores.items():
        for intermediate, dev, test in (("none", value, value), ("mnli", value + 10, value - 10)):
            for split, number in (("dev", dev), ("test", test)):
                metrics = {order.target_metrics(target)[0]: number}
                if target in ("xglue_mlqa", "xglue_pos"):
                    metrics["exact_match" if target == "xglue_mlqa" else "accuracy"] = number - 30
                for language in ("en", "de"):
                    for metric, v in metrics.items():
                        rows.append(
                            [f"{intermediate}-{target}", intermediate, "false", target, 1, split, language, metric, v]
                            + [f"evaluate-{intermediate}-{target}"]
                        )
    return rows


def read_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_table_best_reports_the_xglue_score(tmp_path, capsys):
    task_scores = dict(zip(XGLUE_TARGETS, [80, 90, 70, 60, 75, 85, 65, 55, 45]))
    path = scores_csv(tmp_path / "scores.csv", xglue_rows(task_scores) + xglue_rows({"xnli": 50}))
    code, out, err = run_cli(["table", path, "--best", "--format", "csv"], capsys)
    assert code == 0, err
    table = read_csv(out)
    # XTREME's target first, then XGLUE's in its paper's order; a score row for each benchmark present
    assert [r["target"] for r in table] == ["xnli", *XGLUE_TARGETS, "xtreme", "xglue"]
    by_target = {r["target"]: r for r in table}
    assert by_target["xglue_wpr"]["intermediate"] == "mnli" and float(by_target["xglue_wpr"]["test"]) == 45
    mean = sum(task_scores.values()) / 9 - 10  # mnli is chosen everywhere, 10 below on test
    assert float(by_target["xglue"]["test"]) == pytest.approx(mean)
    assert float(by_target["xglue"]["dev"]) == pytest.approx(mean + 20)
    assert float(by_target["xtreme"]["test"]) == 40

    code, out, _ = run_cli(["table", path, "--best"], capsys)
    assert "| XGLUE " in out and "XTREME (1 of 9 tasks)" in out and "XGLUE (" not in out
    assert "XGLUE score: mean over XGLUE's 9 understanding tasks" in out

    code, out, _ = run_cli(["table", path, "--best", "--benchmark", "xglue", "--format", "csv"], capsys)
    assert [r["target"] for r in read_csv(out)] == [*XGLUE_TARGETS, "xglue"]
    # the main table keeps WPR's nDCG (and the other XGLUE metrics) as each target's column
    code, out, _ = run_cli(["table", path, "--split", "test", "--benchmark", "xglue", "--format", "csv"], capsys)
    row = {r["intermediate"]: r for r in read_csv(out)}["none"]
    assert float(row["xglue_wpr"]) == 55 and float(row["xglue_pos"]) == 90 and float(row["xglue_mlqa"]) == 60
    assert float(row["avg"]) == pytest.approx(sum(task_scores.values()) / 9)


def test_table_with_part_of_xglue_says_so(tmp_path, capsys):
    path = scores_csv(tmp_path / "scores.csv", xglue_rows({"xglue_wpr": 55, "xglue_ner": 80}))
    code, out, _ = run_cli(["table", path, "--best"], capsys)
    assert code == 0 and "XGLUE (2 of 9 tasks)" in out and "XTREME" not in out
    assert "missing: xglue_pos, xglue_nc, xglue_mlqa, xglue_xnli, xglue_pawsx, xglue_qadsm, xglue_qam" in out
    code, _, err = run_cli(["table", path, "--best", "--benchmark", "xtreme"], capsys)
    assert code == 2 and "--benchmark xtreme: no rows of its targets" in err


# ----------------------------------------------------------------------------- pipelines


def test_the_xglue_pipelines_plan(tmp_path):
    from stilts.pipeline.config import load_pipeline
    from stilts.pipeline.engine import plan_pipeline
    from stilts.pipeline.sweep import expand, load_sweep

    covered = set()
    for path in sorted((ROOT / "pipelines").glob("*_to_xglue_*.yaml")):
        pipeline, base = load_pipeline(path)
        stages, _ = plan_pipeline(pipeline, base, tmp_path / path.stem, str(path))
        covered |= {stage.settings["task"] for stage in stages if stage.config.kind == "evaluate"}
    assert covered == set(XGLUE_TARGETS)
    sweep, _ = load_sweep(ROOT / "pipelines" / "xglue_grid.yaml")
    pipelines = expand(sweep, "xglue_grid.yaml")
    assert len(pipelines) == 9 * 9 * 3 and set(sweep.matrix.target) == set(XGLUE_TARGETS)


# ----------------------------------------------------------------------------- end to end, tiny model


def _strip_labels(folder: Path) -> None:
    """XGLUE-style test files without labels: WPR's label column dropped, NER's words only."""
    for path in folder.glob("WPR/*.test"):
        path.write_text("".join("\t".join(line.split("\t")[:3]) + "\n" for line in path.read_text().splitlines()))
    for path in folder.glob("NER/*.test"):
        path.write_text(
            "".join((line.split()[0] if line.strip() else "") + "\n" for line in path.read_text().splitlines())
        )


def _run_two_targets(tmp_path, tiny_model, capsys, data: dict, first: str, second: str, max_length: int):
    """``stilts run`` of target + evaluate for ``first``, then for ``second`` on from its encoder (stages
    named by the part after ``xglue_``); returns the run folder and its scores.csv rows."""
    training = {"learning_rate": 1e-3, "batch_size": 4, "max_steps": 2, "validate_every": 2, "max_length": max_length}
    stages = []
    for task in (first, second):
        short = task.removeprefix("xglue_")
        stages.append(dict(kind="target", name=f"{short}_target", task=task, **training))
        stages.append(dict(kind="evaluate", name=f"{short}_evaluate", task=task, max_length=max_length))
    config = {"name": "xglue_tiny", "model": str(tiny_model), "seed": 1, "data": data, "stages": stages}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(["run", tmp_path / "p.yaml", "--output-dir", out], capsys)
    assert code == 0, stdout + stderr
    with open(out / "scores.csv", newline="") as handle:
        return out, list(csv.DictReader(handle))


def test_wpr_then_ner_end_to_end_with_an_xglue_submission(xglue, tmp_path, tiny_model, capsys):
    data = {"xglue_wpr": str(xglue / "WPR"), "xglue_ner": str(xglue)}
    out, rows = _run_two_targets(tmp_path, tiny_model, capsys, data, "xglue_wpr", "xglue_ner", max_length=32)
    assert {(r["target"], r["metric"]) for r in rows} == {
        ("xglue_wpr", "ndcg"),
        *(("xglue_ner", metric) for metric in ("f1", "precision", "recall")),
    }
    scored = {(r["split"], r["language"]) for r in rows}
    assert scored == {("dev", "en"), ("dev", "de"), ("test", "de")}
    assert all(0 <= float(r["value"]) <= 100 for r in rows)
    stages = {path.name.split("-")[0]: path for path in out.iterdir() if path.is_dir()}  # not the lock files
    assert set(stages) == {"wpr_target", "wpr_evaluate", "ner_target", "ner_evaluate"}
    wpr_target = stages["wpr_target"]
    validation = json.loads((wpr_target / "metrics.json").read_text())["training"]["validations"][-1]
    assert "ndcg" in validation["tasks"]["xglue_wpr"]  # early stopping watches nDCG on English dev

    # each evaluation's predictions score as scores.csv has them, in XGLUE's formats, and its per-query
    # (WPR) and per-sentence (NER) rows add up to them
    gold = {
        "xglue_wpr": lambda s, l: xglue / "WPR" / f"xglue.wpr.{l}.{s}",
        "xglue_ner": lambda s, l: xglue / "NER" / f"{l}.{s}",
    }
    for evaluate in (stages["wpr_evaluate"], stages["ner_evaluate"]):
        task = get_task(json.loads((evaluate / "config.json").read_text())["settings"]["task"])
        for split, language in scored:
            expected = {
                r["metric"]: float(r["value"])
                for r in rows
                if (r["target"], r["split"], r["language"]) == (task.name, split, language)
            }
            predictions = prediction_path(evaluate / PREDICTIONS_FOLDER, task, split, language)
            rescored = score(task.name, language, gold[task.name](split, language), predictions)
            assert {m: rescored[m] for m in expected} == pytest.approx(expected, abs=1e-9), (task.name, split)
            per_example = read_example_rows(evaluate / PREDICTIONS_FOLDER, split, language)
            assert split_scores(per_example) == pytest.approx(expected, abs=1e-9)
        if task.name == "xglue_wpr":  # one row per query of two or more pages, with the query and its pages
            per_query = read_example_rows(evaluate / PREDICTIONS_FOLDER, "dev", "de")
            assert len(per_query) == 2
            assert all(row["text"]["query"] and len(row["text"]["pages"]) == len(row["gold"]) for row in per_query)

    # stilts predict on label-less copies writes XGLUE's submission layout, which scores as the evaluation
    unlabelled = tmp_path / "unlabelled"
    shutil.copytree(xglue, unlabelled)
    _strip_labels(unlabelled)
    submission = tmp_path / "submission"
    code, stdout, stderr = run_cli(
        ["predict", out, "--split", "test", "--data", unlabelled, "--output", submission], capsys
    )
    assert code == 0, stdout + stderr
    assert sorted(str(p.relative_to(submission)) for p in submission.rglob("*.prediction")) == [
        "NER/de.prediction",
        "WPR/de.prediction",
    ]
    for task_name, folder in (("xglue_wpr", "WPR"), ("xglue_ner", "NER")):
        rescored = score(task_name, "de", gold[task_name]("test", "de"), submission / folder / "de.prediction")
        metric = get_task(task_name).main_metrics[0]
        reported = next(
            float(r["value"])
            for r in rows
            if (r["target"], r["split"], r["language"], r["metric"]) == (task_name, "test", "de", metric)
        )
        assert rescored[metric] == pytest.approx(reported, abs=1e-9), task_name


def test_the_multitask_pipeline_trains_five_targets_and_selects_on_every_language(xglue, tmp_path, tiny_model, capsys):
    """pipelines/xglue_multitask.yaml as shipped, on the tiny model and data: one target stage, five
    heads, each task evaluated; the model kept by the dev score averaged over each task's languages."""
    five = ["xglue_xnli", "xglue_pawsx", "xglue_nc", "xglue_qam", "xglue_qadsm"]
    training = {"max_steps": 6, "batch_size": 4, "learning_rate": 1e-3, "validate_every": 3, "max_length": 32}
    sets = [f"model={tiny_model}", *(f"data.{task}={xglue}" for task in five)]
    sets += [f"stages.target.{key}={value}" for key, value in training.items()]
    out = tmp_path / "out"
    command = ["run", ROOT / "pipelines" / "xglue_multitask.yaml", "--output-dir", out]
    code, stdout, stderr = run_cli([*command, *(arg for s in sets for arg in ("--set", s))], capsys)
    assert code == 0, stdout + stderr
    with open(out / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    scored = {(r["target"], r["split"], r["language"]) for r in rows}
    assert {task for task, _, _ in scored} == set(five)
    assert all({(task, "dev", "en"), (task, "dev", "de"), (task, "test", "de")} <= scored for task in five)
    (target,) = out.glob("target-*")
    metrics = json.loads((target / "metrics.json").read_text())
    assert metrics["model_selection"] == {"rule": "average_dev", "validated_on": {task: ["de", "en"] for task in five}}
    drawn = metrics["training"]["batches_drawn"]
    assert set(drawn) <= set(five) and len(drawn) > 1 and sum(drawn.values()) == 6
    assert {path.stem for path in (target / "heads").glob("*.safetensors")} == set(five)
    for validation in metrics["training"]["validations"]:
        per_task = [
            sum(scores[get_task(task).metric] for scores in validation["languages"][task].values()) / 2 for task in five
        ]
        assert validation["score"] == pytest.approx(sum(per_task) / 5)


def test_pos_and_mlqa_run_end_to_end_from_the_release_layout(xglue, tmp_path, tiny_model, capsys):
    data = {"xglue_pos": str(xglue), "xglue_mlqa": str(xglue), "squad_v1": str(xglue / "MLQA" / "squad1.1")}
    _, rows = _run_two_targets(tmp_path, tiny_model, capsys, data, "xglue_pos", "xglue_mlqa", max_length=64)
    assert {(r["target"], r["metric"]) for r in rows} >= {
        ("xglue_pos", "precision"),
        ("xglue_pos", "accuracy"),
        ("xglue_mlqa", "f1"),
        ("xglue_mlqa", "exact_match"),
    }
    assert {(r["target"], r["split"], r["language"]) for r in rows} >= {
        (task, split, language)
        for task in ("xglue_pos", "xglue_mlqa")
        for split, language in (("dev", "en"), ("dev", "de"))
    }
    assert all(0 <= float(r["value"]) <= 100 for r in rows)
