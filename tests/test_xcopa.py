"""XCOPA (XTREME-R) as a target trained on English COPA, and Social IQa as an intermediate task: the
readers on the real files in ../shared/data, the Hub rows and their label orders, bad input, `stilts
score --task xcopa`, and Social IQa -> XCOPA end to end on the tiny model."""

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import run_cli

from stilts.core.catalog import get_task
from stilts.core.errors import BadInput, MissingSplit, Unlabelled
from stilts.data.loading import load_examples
from stilts.data.readers.multiple_choice import read_copa, read_siqa, read_xcopa
from stilts.target.multiple_choice_tasks import XCOPA_LANGUAGES

# ----------------------------------------------------------------------------- files the tests write


def copa_row(
    idx: int, label: int, question: str = "effect", premise: str = "The man turned on the faucet.", swap=False
) -> dict:
    choices = ["The toilet filled with water.", "Water flowed from the spout."]
    first, second = choices[::-1] if swap else choices
    return {"premise": premise, "choice1": first, "choice2": second, "question": question, "label": label, "idx": idx}


def write_jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def siqa_row(correct: str | None = "C") -> dict:
    row = {
        "context": "Tracy didn't go home that evening.",
        "question": "What does Tracy need to do before this?",
        "answerA": "make a new plan",
        "answerB": "go home",
        "answerC": "find somewhere to go",
    }
    return row if correct is None else {**row, "correct": correct}


# ----------------------------------------------------------------------------- readers, real files


def test_copa_and_xcopa_readers_on_the_real_files(shared_data):
    folder = shared_data / "xcopa"
    copa, xcopa = get_task("copa"), get_task("xcopa")
    train, dev = copa.read_local(folder, "train", "en"), copa.read_local(folder, "dev", "en")
    assert len(train) == 400 and len(dev) == 100
    # train-en.jsonl line 1: "cause", label 0 = choice1
    assert train[0] == {
        "id": "0",
        "context": "My body cast a shadow over the grass. What was the cause?",
        "choices": ["The sun was rising.", "The grass was cut."],
        "label": 0,
    }
    # val-en.jsonl line 1: "effect", label 1 = choice2
    assert dev[0]["context"] == "The man turned on the faucet. What was the effect?"
    assert dev[0]["choices"][dev[0]["label"]] == "Water flowed from the spout."
    assert xcopa.read_local(folder, "dev", "en") == dev  # COPA dev validates the target stage
    # line 1 of every language translates the faucet question; its answer is choice2
    answers = {"et": "Tilast voolas vett.", "it": "Dell'acqua fluì dal beccuccio.", "zh": "水从水龙头喷口流出。"}
    for language in XCOPA_LANGUAGES:
        examples = xcopa.read_local(folder, "dev", language)
        assert len(examples) == 100, language
        assert examples[0]["label"] == 1 and examples[0]["context"].endswith(" What was the effect?")
        if language in answers:
            assert examples[0]["choices"][1] == answers[language]
        # XCOPA translates COPA dev question by question: the same answers, in the same order
        assert [e["label"] for e in examples] == [e["label"] for e in dev], language
    assert sum(e["label"] for e in dev) == 45
    with pytest.raises(
        MissingSplit, match=r"no XCOPA test file for 'et' \(looked for et/test.et.jsonl, test-et.jsonl\)"
    ):
        xcopa.read_local(folder, "test", "et")
    with pytest.raises(MissingSplit, match="COPA has no 'et' data"):
        copa.read_local(folder, "train", "et")


def test_siqa_reader_on_the_real_dev(shared_data):
    folder = shared_data / "intermediate" / "siqa"
    dev = get_task("siqa").read_local(folder, "dev", "en")
    assert len(dev) == 1954
    # line 1: "correct": "C"
    assert (
        dev[0]["context"]
        == "Tracy didn't go home that evening and resisted Riley's attacks. What does Tracy need to do before this?"
    )
    assert dev[0]["label"] == 2 and dev[0]["choices"][dev[0]["label"]] == "Find somewhere to go"
    assert dev[1]["choices"][dev[1]["label"]] == "sympathetic"  # line 2: "correct": "A"
    assert [sum(e["label"] == i for e in dev) for i in range(3)] == [643, 654, 657]
    with pytest.raises(MissingSplit, match=r"looked for socialIQa_v1.4_trn.jsonl, train.jsonl"):
        get_task("siqa").read_local(folder, "train", "en")


def test_siqa_leaderboard_release_reads_its_labels_file(tmp_path):
    """socialiqa-train-dev.zip: dev.jsonl without answers, dev-labels.lst with 1-based numbers."""
    write_jsonl(tmp_path / "dev.jsonl", [siqa_row(None), siqa_row(None)])
    (tmp_path / "dev-labels.lst").write_text("2\n3\n")
    examples = get_task("siqa").read_local(tmp_path, "dev", "en")
    assert [e["label"] for e in examples] == [1, 2] and examples[0]["choices"][1] == "go home"
    (tmp_path / "dev-labels.lst").write_text("2\n")
    with pytest.raises(BadInput, match=r"dev-labels.lst: 1 labels for the 2 questions of dev.jsonl"):
        read_siqa(tmp_path / "dev.jsonl")
    (tmp_path / "dev-labels.lst").write_text("2\n0\n")
    with pytest.raises(BadInput, match=r"dev-labels.lst: line 2: label '0' is not 1, 2 or 3"):
        read_siqa(tmp_path / "dev.jsonl")
    (tmp_path / "dev-labels.lst").unlink()
    assert [e["label"] for e in read_siqa(tmp_path / "dev.jsonl")] == [None, None]


# ----------------------------------------------------------------------------- Hub rows


def test_hub_rows_map_with_their_label_orders():
    xcopa, copa, siqa = (get_task(name).hub for name in ("xcopa", "copa", "siqa"))
    assert (xcopa.dataset_id, copa.dataset_id, siqa.dataset_id) == (
        "cambridgeltl/xcopa",
        "aps/super_glue",
        "allenai/social_i_qa",
    )
    # cambridgeltl/xcopa: one config per language, label 0 = choice1, 1 = choice2
    row = {"premise": "Mees keeras kraani lahti.", "choice1": "Tualett täitus veega.", "choice2": "Tilast voolas vett."}
    row |= {"question": "effect", "label": 1, "idx": 0, "changed": False}
    assert xcopa.to_example(row) == {
        "id": "0",
        "context": "Mees keeras kraani lahti. What was the effect?",
        "choices": ["Tualett täitus veega.", "Tilast voolas vett."],
        "label": 1,
    }
    assert xcopa.config("et") == "et" and xcopa.splits == {"dev": "validation", "test": "test"}
    with pytest.raises(MissingSplit, match="cambridgeltl/xcopa has no 'en' config"):
        xcopa.config("en")
    # SuperGLUE's COPA: the same fields; its test split is unlabelled (-1)
    row = dict(copa_row(3, 0, "cause"))
    assert copa.to_example(row)["label"] == 0 and copa.to_example(row)["context"].endswith("What was the cause?")
    assert copa.to_example(dict(row, label=-1)) is None
    assert copa.config("en") == "copa" and copa.splits == {"train": "train", "dev": "validation"}
    # allenai/social_i_qa: the label is the 1-based answer number as a string
    row = siqa_row(None) | {"label": "3"}
    example = siqa.to_example(row)
    assert example["label"] == 2 and example["choices"][2] == "find somewhere to go"
    assert example["context"] == "Tracy didn't go home that evening. What does Tracy need to do before this?"
    assert siqa.to_example(dict(row, label="1"))["label"] == 0 and siqa.to_example(dict(row, label="")) is None


def test_xcopa_hub_loading_path(tmp_path):
    """load_examples through `datasets` on a local folder laid out like cambridgeltl/xcopa's parquet."""
    import dataclasses

    folder = tmp_path / "xcopa"
    (folder / "et").mkdir(parents=True)
    rows = [copa_row(0, 1, premise="Mees keeras kraani lahti."), copa_row(1, 0, "cause")]
    pd.DataFrame([dict(r, changed=False) for r in rows]).to_parquet(folder / "et" / "validation-00000-of-00001.parquet")
    (folder / "README.md").write_text(
        "---\nconfigs:\n- config_name: et\n  data_files:\n  - split: validation\n"
        "    path: et/validation-*.parquet\n---\n"
    )
    task = get_task("xcopa")
    local = dataclasses.replace(task, hub=dataclasses.replace(task.hub, dataset_id=str(folder)))
    examples = load_examples(local, "dev", "et", {})
    assert [e["label"] for e in examples] == [1, 0]
    assert examples[0]["context"] == "Mees keeras kraani lahti. What was the effect?"


# ----------------------------------------------------------------------------- bad input


def test_malformed_files_name_file_and_line(tmp_path):
    good = json.dumps(copa_row(0, 1))
    path = tmp_path / "val-et.jsonl"
    path.write_text(good + '\n{"premise": "x",\n')
    with pytest.raises(BadInput, match=r"val-et.jsonl: line 2: invalid JSON"):
        get_task("xcopa").read_local(tmp_path, "dev", "et")
    write_jsonl(path, [copa_row(0, 1), copa_row(1, 1, question="because")])
    with pytest.raises(BadInput, match=r"val-et.jsonl: line 2: question 'because' is neither 'cause' nor 'effect'"):
        read_copa(path)
    write_jsonl(path, [copa_row(0, 2)])
    with pytest.raises(BadInput, match=r"val-et.jsonl: line 1: label 2 but only 2 choices"):
        read_copa(path)
    write_jsonl(path, [{k: v for k, v in copa_row(0, 1).items() if k != "choice2"}])
    with pytest.raises(BadInput, match=r"val-et.jsonl: line 1: missing field 'choice2'"):
        read_copa(path)
    write_jsonl(tmp_path / "socialIQa_v1.4_dev.jsonl", [siqa_row("B"), siqa_row("D")])
    with pytest.raises(BadInput, match=r"socialIQa_v1.4_dev.jsonl: line 2: 'correct' is 'D', not one of A, B, C"):
        get_task("siqa").read_local(tmp_path, "dev", "en")


def test_xtreme_r_test_copies_without_labels_are_unlabelled(tmp_path):
    """XTREME-R's test-xx.jsonl hold label 0 for every question: a missing split to evaluation (never
    scored as answers), questions without labels to prediction; the XCOPA release's labelled
    xx/test.xx.jsonl is read first."""
    write_jsonl(tmp_path / "test-et.jsonl", [copa_row(i, 0) for i in range(3)])
    with pytest.raises(MissingSplit, match=r"test-et.jsonl: every label is 0: XTREME-R's XCOPA test files") as error:
        get_task("xcopa").read_local(tmp_path, "test", "et")
    assert isinstance(error.value, Unlabelled)
    assert [(e["id"], e["label"]) for e in error.value.examples] == [("0", None), ("1", None), ("2", None)]
    write_jsonl(tmp_path / "et" / "test.et.jsonl", [copa_row(0, 0), copa_row(1, 1)])
    assert [e["label"] for e in get_task("xcopa").read_local(tmp_path, "test", "et")] == [0, 1]
    # a dev file whose answers all happen to be choice1 is data, not a stripped copy
    assert [e["label"] for e in read_xcopa(write_jsonl(tmp_path / "val-et.jsonl", [copa_row(0, 0)] * 2))] == [0, 0]


# ----------------------------------------------------------------------------- stilts score


def stilts_score(capsys, *args):
    code, out, err = run_cli(["score", *args], capsys)
    return code, out, err


def test_score_xcopa_worked_example_and_bad_prediction_files(tmp_path, capsys):
    gold = write_jsonl(tmp_path / "val-et.jsonl", [copa_row(i, label) for i, label in enumerate([0, 1, 1, 0])])
    args = ["--task", "xcopa", "--language", "et", "--gold", gold, "--predictions"]
    predictions = tmp_path / "dev-et.tsv"
    predictions.write_text("0\n1\n0\n0\n")  # the third is wrong: 3 of 4
    code, out, err = stilts_score(capsys, *args, predictions)
    assert code == 0, err
    assert json.loads(out) == {"accuracy": 75.0, "count": 4}

    def bad(text, *other):
        predictions.write_text(text)
        code, out, err = stilts_score(capsys, *(other or args), predictions)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err
        return err

    assert f"{predictions}: line 4: the file ends after 3 predictions; the gold file has 4" in bad("0\n1\n0\n")
    assert f"{predictions}: line 5: more predictions than the 4 in the gold file" in bad("0\n1\n0\n0\n1\n")
    assert f"{predictions}: line 2: unknown label '2' (expected one of 0, 1)" in bad("0\n2\n0\n0\n")
    wrong_language = ["--task", "xcopa", "--language", "tr", "--gold", gold, "--predictions"]
    assert "this is et data, but --language is tr" in bad("0\n1\n0\n0\n", *wrong_language)
    stripped = write_jsonl(tmp_path / "test-et.jsonl", [copa_row(i, 0) for i in range(4)])
    assert "every label is 0" in bad(
        "0\n1\n0\n0\n", "--task", "xcopa", "--language", "et", "--gold", stripped, "--predictions"
    )
    assert "'en' is not a xcopa language" in bad(
        "0\n", "--task", "xcopa", "--language", "en", "--gold", gold, "--predictions"
    )

    code, out, _ = stilts_score(capsys, "--help")
    assert code == 0 and "xcopa/copa: one line per question, the 0-based index of the chosen" in " ".join(out.split())


def test_score_on_the_real_files(shared_data, tmp_path, capsys):
    gold = shared_data / "xcopa" / "val-zh.jsonl"
    predictions = tmp_path / "p.tsv"
    predictions.write_text("".join(f"{e['label']}\n" for e in read_copa(gold)))
    code, out, err = stilts_score(
        capsys, "--task", "xcopa", "--language", "zh", "--gold", gold, "--predictions", predictions
    )
    assert code == 0 and json.loads(out) == {"accuracy": 100.0, "count": 100}, err
    # COPA dev has 45 choice2 answers: always choosing choice1 scores 55
    predictions.write_text("0\n" * 100)
    gold = shared_data / "xcopa" / "val-en.jsonl"
    code, out, err = stilts_score(
        capsys, "--task", "copa", "--language", "en", "--gold", gold, "--predictions", predictions
    )
    assert code == 0 and json.loads(out) == {"accuracy": 55.0, "count": 100}, err


# ----------------------------------------------------------------------------- end to end, tiny model


def write_tiny_data(folder: Path) -> dict[str, Path]:
    """Social IQa v1.4 (train and dev), COPA in XTREME-R's layout (train-en, val-en) and XCOPA: et and zh
    validation, a labelled zh test in the release's layout, and XTREME-R's label-less et test."""
    siqa = folder / "siqa"
    write_jsonl(siqa / "socialIQa_v1.4_trn.jsonl", [siqa_row("ABC"[i % 3]) for i in range(6)])
    write_jsonl(siqa / "socialIQa_v1.4_dev.jsonl", [siqa_row("ABC"[i % 3]) for i in range(3)])
    xcopa = folder / "xcopa"
    write_jsonl(xcopa / "train-en.jsonl", [copa_row(i, i % 2, ("cause", "effect")[i % 2]) for i in range(8)])
    write_jsonl(xcopa / "val-en.jsonl", [copa_row(i, i % 2) for i in range(4)])
    # the alternatives swap places from question to question, so predictions vary by index
    et = [copa_row(i, label, premise="Mees keeras kraani lahti.", swap=i % 2) for i, label in enumerate([1, 1, 0, 1])]
    write_jsonl(xcopa / "val-et.jsonl", et)
    zh = [copa_row(i, label, premise="那人打开水龙头。", swap=i % 3 == 0) for i, label in enumerate([0, 1, 1, 0, 1, 1])]
    write_jsonl(xcopa / "val-zh.jsonl", zh[:4])
    write_jsonl(xcopa / "zh" / "test.zh.jsonl", zh)
    write_jsonl(xcopa / "test-et.jsonl", [copa_row(i, 0) for i in range(4)])
    return {"siqa": siqa, "copa": xcopa, "xcopa": xcopa}


def test_siqa_then_xcopa_trained_on_copa_end_to_end(tmp_path, tiny_model, capsys):
    data = write_tiny_data(tmp_path / "data")
    training = {"learning_rate": 1e-3, "batch_size": 4, "max_steps": 2, "validate_every": 1, "max_length": 48}
    config = {
        "name": "siqa_to_xcopa",
        "model": str(tiny_model),
        "seed": 1,
        "data": {task: str(path) for task, path in data.items()},
        "stages": [
            dict(kind="intermediate", tasks=["siqa"], **training),
            dict(kind="target", task="xcopa", **training),
            dict(kind="evaluate", task="xcopa", max_length=48),
        ],
    }
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(["run", tmp_path / "p.yaml", "--output-dir", out], capsys)
    assert code == 0, stdout + stderr

    stages = {path.name.split("-")[0]: path for path in out.iterdir() if path.is_dir()}
    assert set(stages) == {"intermediate", "target", "evaluate"}
    assert all((stage / "COMPLETE").is_file() for stage in stages.values())
    assert (stages["intermediate"] / "heads" / "siqa.safetensors").is_file()
    assert (stages["target"] / "heads" / "xcopa.safetensors").is_file()  # a fresh 2-choice head
    target = json.loads((stages["target"] / "metrics.json").read_text())
    assert "accuracy" in target["training"]["validations"][-1]["tasks"]["xcopa"]  # on COPA dev (val-en)

    with open(out / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["intermediate"], r["target"], r["metric"]) for r in rows} == {("siqa", "xcopa", "accuracy")}
    # et and zh validation, zh's labelled test; et's XTREME-R test copy (all label 0) is skipped
    assert {(r["split"], r["language"]) for r in rows} == {("dev", "et"), ("dev", "zh"), ("test", "zh")}
    assert all(0 <= float(r["value"]) <= 100 for r in rows)

    # the evaluate stage's predictions (stilts.reports.prediction_files), scored by `stilts score` against the
    # release files, give the accuracy the stage reported
    gold = {("dev", "et"): "val-et.jsonl", ("dev", "zh"): "val-zh.jsonl", ("test", "zh"): "zh/test.zh.jsonl"}
    for (split, language), name in gold.items():
        predictions = stages["evaluate"] / "predictions" / f"{split}-{language}.tsv"
        args = ["--task", "xcopa", "--language", language, "--gold", data["xcopa"] / name, "--predictions", predictions]
        code, scored, err = stilts_score(capsys, *args)
        reported = next(float(r["value"]) for r in rows if (r["split"], r["language"]) == (split, language))
        assert code == 0 and json.loads(scored)["accuracy"] == pytest.approx(reported), err

    # XCOPA scores no English: the stage keeps COPA's English dev (its model selection's) unscored, with each
    # choice's probability, and `stilts table --calibration` fits the temperature there
    kept = stages["evaluate"] / "predictions" / "dev-en.calibration.jsonl"
    calibration_rows = [json.loads(line) for line in kept.read_text().splitlines()]
    assert len(calibration_rows) == 4 and all(set(r["probabilities"]) == {"0", "1"} for r in calibration_rows)
    assert not (stages["evaluate"] / "predictions" / "dev-en.examples.jsonl").exists()
    code, table, err = run_cli(["table", out / "scores.csv", "--calibration", "--format", "csv"], capsys)
    assert code == 0, err
    runs = list(csv.DictReader(table.splitlines()))
    assert {r["language"] for r in runs} == {"et", "zh"}
    assert all(0 < float(r["temperature"]) < float("inf") and r["ece_scaled"] != "" for r in runs)


def test_the_real_data_pipeline_reads_every_split_it_needs(shared_data, tmp_path, capsys, monkeypatch):
    """pipelines/real_siqa_to_xcopa.yaml as a dry run: SIQA dev, COPA train, COPA dev through XCOPA's
    folder, and XCOPA dev and test in 11 languages (the test files are absent: skipped)."""
    monkeypatch.setenv("STILTS_CACHE", str(tmp_path / "cache"))  # a dry run installs no model
    pipeline = Path(__file__).resolve().parents[1] / "pipelines" / "real_siqa_to_xcopa.yaml"
    code, stdout, stderr = run_cli(["run", pipeline, "--dry-run", "--output-dir", tmp_path / "run"], capsys)
    assert code == 0, stderr
    assert "data: read 25 splits" in stdout + stderr
    assert [line.split()[1] for line in stdout.splitlines() if line.strip().startswith("stages[")] == [
        "intermediate",
        "target",
        "evaluate",
    ]
