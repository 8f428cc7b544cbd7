"""translate-train and translate-train-all for targets: `stilts translate` of a target's training data
(answers of QA marked and found again), XTREME's released translations read as ``<task>@<lang>``, a
target stage's ``translate_train``, every language checked before anything trains, rows that name the
setting, resume, export and predict, sweeps and tables."""

import csv
import json
import re

import pytest
import yaml
from helpers import run_cli, second_checkpoint_save_fails

from stilts.core.catalog import get_task
from stilts.core.errors import BadInput, MissingSplit
from stilts.data.loading import load_examples
from stilts.data.readers.layout import collecting_notes
from stilts.pipeline.config import PipelineConfig
from stilts.pipeline.engine import plan_pipeline
from stilts.pipeline.overlap import overlaps
from stilts.target.translate_train import translation_setting
from stilts.testing import TINY_QA, tiny_nli_examples, write_pawsx, write_squad, write_squad_folder, write_xquad
from stilts.translate import spans, translation
from stilts.translate.cache import TranslationCache

# short outputs and greedy search keep the random model fast
FAST = ["--beams", "1", "--max-length", "8", "--batch-size", "4"]
SETTINGS = {"learning_rate": 1e-3, "batch_size": 8, "epochs": 1, "validate_every": 4}
XNLI_RELEASED = ("ar", "bg", "de", "el", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")


@pytest.fixture(scope="module")
def tiny_marian(tmp_path_factory):
    from stilts.testing import build_tiny_marian

    return build_tiny_marian(tmp_path_factory.mktemp("tiny-marian"))


def _read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _xtreme_nli(path, language, count=24, seed=7, width=5):
    """XTREME's translate-train TSV: English pair, translated pair, label (``contradictory``)."""
    english = tiny_nli_examples("en", count, seed)
    translated = tiny_nli_examples(language, count, seed)
    lines = []
    for (en_a, en_b, _), (a, b, label) in zip(english, translated):
        label = "contradictory" if label == "contradiction" else label
        lines.append("\t".join([en_a, en_b, a, b, label] if width == 5 else [a, b, label]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return translated


def _xnli_mt(path, language, count=24, seed=8):
    rows = tiny_nli_examples(language, count, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("premise\thypo\tlabel\n" + "".join(f"{a}\t{b}\t{label}\n" for a, b, label in rows))
    return rows


def _write(tmp_path, name, model, data, stages):
    config = {"name": name, "model": str(model), "seed": 1, "data": {k: str(v) for k, v in data.items()}}
    config["stages"] = stages
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _rows(out):
    with open(out / "scores.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _plan(tmp_path, stages, data=None):
    pipeline = PipelineConfig.model_validate(
        {"name": "p", "model": "m", "seed": 1, "data": data or {}, "stages": stages}
    )
    return plan_pipeline(pipeline, tmp_path, tmp_path / "run", "p.yaml")[0]


# ----------------------------------------------------------------------------- translate_train


def test_translate_train_stands_for_train_tasks_and_names_the_rows(tmp_path):
    def target(**fields):
        return _plan(tmp_path, [{"kind": "target", "task": "xnli", **fields}])[0]

    one = target(translate_train="de")
    assert one.settings["train_tasks"] == ["xnli@de"] and "translate_train" not in one.settings
    # the same training data spelt as train_tasks is the same stage, trained once
    assert one.fingerprint == target(train_tasks=["xnli@de"]).fingerprint
    assert target(translate_train=["en", "de"]).settings["train_tasks"] == ["xnli", "xnli@de"]
    every = target(translate_train="all")
    assert every.settings["train_tasks"] == ["xnli", *(f"xnli@{language}" for language in XNLI_RELEASED)]
    assert one.fingerprint != target().fingerprint != every.fingerprint

    assert translation_setting(one.settings) == "translate-train-de"
    assert translation_setting(target(translate_train=["de", "en", "fr"]).settings) == "translate-train-en+de+fr"
    assert translation_setting(every.settings) == "translate-train-all"
    assert translation_setting(target().settings) == ""
    # the same data read otherwise is named the same: MNLI translated (XNLI-MT), and PAWS-X's own
    # training split in German, which its release declares machine-translated
    assert translation_setting(target(train_tasks=["mnli@es"]).settings) == "translate-train-es"
    pawsx = _plan(tmp_path, [{"kind": "target", "task": "pawsx", "train_languages": ["de"]}])[0]
    assert translation_setting(pawsx.settings) == "translate-train-de"


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"translate_train": "en"}, "'en' alone is xnli's own training data: leave translate_train out"),
        ({"translate_train": "it"}, "translate_train: 'it' is not a language of xnli"),
        ({"translate_train": ["de", "all"]}, r"translate_train\[1\]: 'all' stands alone"),
        ({"translate_train": ["de", "de"]}, r"translate_train\[1\]: 'de' is listed twice"),
        ({"translate_train": "de", "train_tasks": ["xnli@de"]}, "give translate_train or train_tasks, not both"),
        ({"translate_train": "de", "train_languages": ["de"]}, "give translate_train or train_languages, not both"),
        ({"train_tasks": ["xnli@all"]}, "names the folder of every language's translations; .* translate_train: all"),
        ({"task": "xnli@de"}, "give task: xnli with translate_train: de"),
        ({"task": "panx", "translate_train": "de"}, "translate_train: 'panx@de': panx's tagging labels belong to the"),
    ],
)
def test_bad_translate_train_settings_are_one_line(tmp_path, fields, message):
    with pytest.raises(BadInput, match=message):
        _plan(tmp_path, [{"kind": "target", "task": "xnli", **fields}])


def test_translated_training_data_is_no_stage_of_its_own(tmp_path):
    with pytest.raises(BadInput, match=r"stages\[0\].tasks\[0\]: task 'xnli@de' only trains another task"):
        _plan(tmp_path, [{"kind": "intermediate", "tasks": ["xnli@de"]}])


def test_translated_training_data_stays_apart_from_what_is_scored(tmp_path):
    # the translations of XNLI's training data (MNLI's) are no XNLI dev or test data: zero overlap
    stages = _plan(
        tmp_path,
        [{"kind": "target", "task": "xnli", "translate_train": "all"}, {"kind": "evaluate", "task": "xnli"}],
    )
    assert overlaps(stages) == []
    # a translated dev set that trains, then PAWS-X dev scored in any language: refused, naming why
    with pytest.raises(
        BadInput, match=r"scores pawsx dev in '\w\w', but stages\[0\] \(target\) trained on pawsx@de dev"
    ):
        _plan(
            tmp_path,
            [
                {"kind": "target", "task": "pawsx", "train_tasks": ["pawsx@de"], "train_splits": ["dev"]},
                {"kind": "evaluate", "task": "pawsx", "splits": ["dev"]},
            ],
        )


# ----------------------------------------------------------------------------- released translations


def test_xtreme_and_xnli_mt_translations_are_read_as_xnli_at_lang(tmp_path):
    german = _xtreme_nli(tmp_path / "XNLI" / "translate-train" / "en-de-translated.tsv", "de")
    french = _xnli_mt(tmp_path / "XNLI-MT-1.0" / "multinli" / "multinli.train.fr.tsv", "fr")
    sources = {"xnli@all": str(tmp_path)}
    de = load_examples(get_task("xnli@de"), "train", "de", sources)
    assert [(e["text_a"], e["text_b"], e["label"]) for e in de] == german  # the translated columns
    assert [e["text_a"] for e in load_examples(get_task("xnli@fr"), "train", "fr", sources)] == [
        a for a, _, _ in french
    ]
    # three fields a line (the translated pair and the label), in a folder of French alone
    three = _xtreme_nli(tmp_path / "three" / "en-fr-translated.tsv", "fr", seed=9, width=3)
    examples = load_examples(get_task("xnli@fr"), "train", "fr", {"xnli@fr": str(tmp_path / "three")})
    assert [(e["text_a"], e["label"]) for e in examples] == [(a, label) for a, _, label in three]
    with pytest.raises(MissingSplit, match=r"no train data of xnli@sw \(looked for sw/train.jsonl, .*en-sw-translated"):
        load_examples(get_task("xnli@sw"), "train", "sw", sources)


def test_pawsx_translations_from_xtreme_or_the_release_folder_and_bad_lines(tmp_path):
    pawsx = write_pawsx(tmp_path / "pawsx")
    release = pawsx / "x-final" / "de"
    (release / "translated_train.tsv").write_text(
        "id\tsentence1\tsentence2\tlabel\n1\tEin Satz.\tEin anderer Satz.\t0\n2\tZwei.\tZwei.\t1\n", encoding="utf-8"
    )
    # no data.pawsx@de or @all: the release folder of PAWS-X itself holds its translated training sets
    examples = load_examples(get_task("pawsx@de"), "train", "de", {"pawsx": str(pawsx)})
    assert [(e["text_a"], e["label"]) for e in examples] == [("Ein Satz.", "0"), ("Zwei.", "1")]
    # and pivot fine-tuning (train_languages: [de]) reads the same file
    assert load_examples(get_task("pawsx"), "train", "de", {"pawsx": str(pawsx)}) == examples
    assert get_task("pawsx@de").hub == get_task("pawsx").hub  # the Hub's de config: its translated train

    xtreme = tmp_path / "PAWSX" / "translate-train" / "en-fr-translated.tsv"
    xtreme.parent.mkdir(parents=True)
    lines = [f"English {n}\tEnglish {n}b\tFrançais {n}\tFrançais {n}b\t{n % 2}" for n in range(6)]
    lines[2] = "English 2\tEnglish 2b\tFrançais 2\tFrançais 2b\tparaphrase"  # a wrongly populated line
    xtreme.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with collecting_notes() as notes:
        examples = load_examples(get_task("pawsx@fr"), "train", "fr", {"pawsx@all": str(tmp_path)})
    assert [e["text_a"] for e in examples] == [f"Français {n}" for n in (0, 1, 3, 4, 5)]
    assert notes == [f"{xtreme}: skipped 1 of 6 lines without 5 fields or with a label other than 0, 1 (first: line 3)"]
    xtreme.write_text("a\tb\tc\td\tx\n" * 3 + "a\tb\tc\td\t1\n", encoding="utf-8")
    with pytest.raises(BadInput, match="3 of 4 lines .*: is this an XTREME translate-train file"):
        load_examples(get_task("pawsx@fr"), "train", "fr", {"pawsx@all": str(tmp_path)})


def test_translated_squad_and_tydiqa_keep_the_questions_whose_answers_are_found(tmp_path):
    rows = [(*row, f"q{n}") for n, row in enumerate(TINY_QA["de"])]
    path = write_squad(tmp_path / "SQuAD" / "translate-train" / "squad.translate.train.en-de.json", rows)
    document = json.loads(path.read_text())
    document["data"][0]["paragraphs"][1]["qas"][0]["answers"][0]["answer_start"] = 0  # lost in translation
    path.write_text(json.dumps(document, ensure_ascii=False))
    for task in ("xquad@de", "mlqa@de"):  # both train on SQuAD v1.1
        with collecting_notes() as notes:
            examples = load_examples(get_task(task), "train", "de", {f"{task.split('@')[0]}@all": str(tmp_path)})
        assert [e["id"] for e in examples] == ["q0"] and "skipped 1 of 2 training questions" in notes[0]
    write_squad(tmp_path / "tydiqa.translate.train.en-sw.json", [(*row, "s1") for row in TINY_QA["de"][:1]])
    (example,) = load_examples(get_task("tydiqa@sw"), "train", "sw", {"tydiqa@sw": str(tmp_path)})
    assert example["answers"] == {"text": ["Die Katze"], "answer_start": [0]}


def test_stilts_translate_output_folders_are_checked_by_task_and_language(tmp_path):
    row = {"id": "1", "text_a": "a", "text_b": "b", "label": "neutral"}
    for language, task in (("de", "xnli"), ("fr", "mnli")):  # MNLI's translation trains XNLI too
        (tmp_path / language).mkdir()
        (tmp_path / language / "train.jsonl").write_text(json.dumps(row) + "\n")
        (tmp_path / language / "metadata.json").write_text(json.dumps({"task": task, "language": language}))
    sources = {"xnli@all": str(tmp_path)}
    assert load_examples(get_task("xnli@de"), "train", "de", sources) == [row]
    assert load_examples(get_task("xnli@fr"), "train", "fr", sources) == [row]
    with pytest.raises(BadInput, match=r"de/metadata.json: language: this folder holds 'de' data, not 'es'"):
        load_examples(get_task("xnli@es"), "train", "es", {"xnli@es": str(tmp_path / "de")})
    with pytest.raises(BadInput, match="holds translated 'xnli' data, not 'pawsx'"):
        load_examples(get_task("pawsx@de"), "train", "de", {"pawsx@all": str(tmp_path)})
    with pytest.raises(MissingSplit, match="give a local folder as data.xnli@de or data.xnli@all"):
        load_examples(get_task("xnli@de"), "train", "de", {})


# ----------------------------------------------------------------------------- coverage, before training


@pytest.mark.parametrize(
    "target, translate_train, present, message",
    [
        (
            "xnli",
            "all",
            {"de", "fr"},
            r"stages\[0\].translate_train: no translated xnli training data in 12 of 14 languages "
            r"\(ar, bg, el, es, hi, ru, sw, th, tr, ur, vi, zh\), refused before anything trains; ar: "
            r".*no train data of xnli@ar \(looked for ar/train.jsonl, train.jsonl, en-ar-translated.tsv, ",
        ),
        # XTREME-R released no translations of XCOPA's training data (COPA's): a known gap, said
        (
            "xcopa",
            "et",
            set(),
            r"no translated xcopa training data in 1 of 1 languages \(et\).*no translations of xcopa's training "
            r"data were released; make it with: stilts translate --task xcopa --split train --to et$",
        ),
    ],
)
def test_missing_translations_are_refused_in_one_line_before_training(
    tmp_path, tiny_model, tiny_nli, capsys, target, translate_train, present, message
):
    mt = tmp_path / "mt"
    mt.mkdir()
    for language in present:
        _xtreme_nli(mt / f"en-{language}-translated.tsv", language)
    data = {"mnli": tiny_nli["mnli"], "xnli": tiny_nli["xnli"], f"{target}@all": mt}
    if target == "xcopa":
        data = {"copa": tmp_path, "xcopa": tmp_path, "xcopa@all": mt}
    stages = [{"kind": "target", "task": target, "translate_train": translate_train, **SETTINGS}]
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(
        ["run", _write(tmp_path, "gap", tiny_model, data, stages), "--output-dir", out], capsys
    )
    errors = [line for line in stderr.replace("\r", "\n").splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and re.search(message, errors[0]), stderr
    assert "running ->" not in stdout and not list(out.glob("target-*"))


def test_a_language_outside_a_release_is_named_as_its_gap(tmp_path):
    with pytest.raises(
        MissingSplit,
        match=r"XTREME's PAWS-X translate-train files and PAWS-X's translated_train.tsv have no 'it' "
        r"\(only de, es, fr, ja, ko, zh\); make it with: stilts translate --task pawsx --split train --to it",
    ):
        load_examples(get_task("pawsx@it"), "train", "it", {"pawsx@all": str(tmp_path)})


# ----------------------------------------------------------------------------- end to end, tiny Marian


def test_translate_xnli_training_data_then_train_on_it_end_to_end(tmp_path, tiny_marian, tiny_model, tiny_nli, capsys):
    mt = tmp_path / "mt"
    command = ["translate", "--task", "xnli", "--to", "de", "--output", mt / "de", "--data", tiny_nli["mnli"]]
    code, stdout, stderr = run_cli([*command, "--max-examples", "32", "--model", tiny_marian, *FAST], capsys)
    assert code == 0, stderr
    assert "xnli train: 32 examples" in stdout
    assert f"use it as data.xnli@de (or {mt} as data.xnli@all), with a target stage's translate_train: de" in stdout
    translated = _read_jsonl(mt / "de" / "train.jsonl")
    english = get_task("mnli").read_local(tiny_nli["mnli"], "train", "en")[:32]
    assert [(e["id"], e["label"]) for e in translated] == [(e["id"], e["label"]) for e in english]
    assert not {e["text_a"] for e in translated} & {e["text_a"] for e in english}  # really translated
    assert json.loads((mt / "de" / "metadata.json").read_text())["name"] == "xnli@de"

    data = {"mnli": tiny_nli["mnli"], "xnli": tiny_nli["xnli"], "xnli@all": mt}
    stages = [
        {"kind": "target", "task": "xnli", "translate_train": "de", **SETTINGS},
        {"kind": "evaluate", "task": "xnli", "languages": ["en", "de"], "max_examples": 8},
    ]
    path = _write(tmp_path, "tt", tiny_model, data, stages)
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(["run", path, "--output-dir", out], capsys)
    assert code == 0, stderr
    assert "xnli: 32 training examples" in stdout  # the German translation only, not MNLI's English
    (stage,) = out.glob("target-*")
    metrics = json.loads((stage / "metrics.json").read_text())
    assert metrics["train_examples"] == {"xnli": 32}
    # translate-train has no German dev set: the model is selected on English dev, as the zero-shot one
    assert metrics["model_selection"] == {"rule": "english_dev", "validated_on": {"xnli": ["en"]}}
    read = json.loads((stage / "config.json").read_text())["sources"]
    assert {(r["task"], r["language"]) for r in read} == {("xnli@de", "de"), ("xnli", "en")}
    assert [list(r["from"]["files"]) for r in read if r["task"] == "xnli@de"] == [["de/train.jsonl"]]
    rows = _rows(out)
    assert {row["intermediate"] for row in rows} == {"none/translate-train-de"}
    assert {row["language"] for row in rows} == {"en", "de"}

    code, table, _ = run_cli(["table", out / "scores.csv", "--split", "test"], capsys)
    assert code == 0 and "| none/translate-train-de |" in table and "translate-train rows" in table
    code, _, stderr = run_cli(["export", stage, "--output", tmp_path / "exported"], capsys)
    assert code == 0, stderr
    assert (tmp_path / "exported" / "config.json").is_file()
    (evaluation,) = out.glob("evaluate-*")
    code, _, stderr = run_cli(["predict", evaluation, "--output", tmp_path / "predicted"], capsys)
    assert code == 0, stderr
    assert {"test-de.tsv", "test-en.tsv"} <= {p.name for p in (tmp_path / "predicted" / "xnli").iterdir()}

    code, stdout, _ = run_cli(["run", path, "--output-dir", out], capsys)  # a rerun trains nothing again
    assert code == 0 and stdout.count("complete, skipping") == 2
    assert sorted(map(str, _rows(out))) == sorted(map(str, rows))


def test_translate_train_all_of_released_files_resumes_to_the_same_scores(
    tmp_path, tiny_model, tiny_nli, capsys, monkeypatch
):
    """English, XTREME's German and XNLI-MT's French merged; a stage killed midway goes on from its
    checkpoint and ends as one never stopped."""
    mt = tmp_path / "xtreme_translations"
    _xtreme_nli(mt / "XNLI" / "translate-train" / "en-de-translated.tsv", "de", count=40)
    _xnli_mt(mt / "XNLI-MT-1.0" / "multinli" / "multinli.train.fr.tsv", "fr", count=40)
    data = {"mnli": tiny_nli["mnli"], "xnli": tiny_nli["xnli"], "xnli@all": mt}
    stages = [
        {"kind": "target", "task": "xnli", "translate_train": ["en", "de", "fr"], "checkpoint_every": 4, **SETTINGS},
        {"kind": "evaluate", "task": "xnli", "languages": ["de", "fr"], "max_examples": 8},
    ]
    whole = tmp_path / "whole"
    whole.mkdir()
    code, stdout, stderr = run_cli(
        ["run", _write(whole, "all", tiny_model, data, stages), "--output-dir", whole / "out"], capsys
    )
    assert code == 0, stderr
    assert "training examples by language: en 96, de 40, fr 40" in stdout

    path = _write(tmp_path, "all", tiny_model, data, stages)
    with second_checkpoint_save_fails(monkeypatch) as calls:
        assert run_cli(["run", path, "--output-dir", tmp_path / "out"], capsys)[0] == 1
    code, stdout, _ = run_cli(["run", path, "--output-dir", tmp_path / "out"], capsys)
    assert code == 0 and f"resuming from step-{calls[0]}" in stdout
    assert (tmp_path / "out" / "scores.csv").read_text() == (whole / "out" / "scores.csv").read_text()
    assert {row["intermediate"] for row in _rows(tmp_path / "out")} == {"none/translate-train-en+de+fr"}


# ----------------------------------------------------------------------------- QA: answers marked and found


def test_answers_are_marked_and_found_again():
    example = {
        "id": "1",
        "context": "Anna lives in Berlin.",
        "question": "Where?",
        "answers": {"text": ["Berlin"], "answer_start": [14]},
    }
    marked = spans.mark(example)
    assert marked.context == "Anna lives in [Berlin]." and marked.markers == ("[", "]")
    assert spans.unmark("Anna wohnt in [ Berlin ].", ("[", "]")) == ("Anna wohnt in Berlin.", "Berlin", 14)
    for lost in ("Anna wohnt in Berlin.", "Anna [wohnt] in [Berlin].", "Anna ]wohnt[ in Berlin.", "Anna [ ] Berlin."):
        assert spans.unmark(lost, ("[", "]")) is None
    # a context holding brackets gets another pair; a question without an answer is left unmarked
    bracketed = dict(example, context="Anna [a] lives in Berlin.", answers={"text": ["Berlin"], "answer_start": [18]})
    assert spans.mark(bracketed).context == "Anna [a] lives in {Berlin}."
    assert spans.mark(dict(example, answers={"text": [], "answer_start": []})).markers is None


def test_qa_training_data_translated_with_its_answers_kept(tmp_path, tiny_marian, monkeypatch):
    squad = write_squad_folder(tmp_path / "squad", train_copies=1)

    def fake_batch(translator, texts):  # keeps markers, except in one context where it drops them
        return [text.upper().replace("]", "") if "NOON" in text.upper() else text.upper() for text in texts]

    monkeypatch.setattr(translation, "translate_batch", fake_batch)
    translator = translation.load_translator(str(tiny_marian), beams=1, max_length=8, batch_size=4)
    log = []
    path, count = translation.translate_task(
        translator,
        get_task("xquad"),
        "train",
        "de",
        {"squad_v1": str(squad)},
        tmp_path / "mt" / "de",
        TranslationCache(tmp_path / "cache", "tiny", translator.identity),
        log=log.append,
    )
    assert count == 2 and any("1 of 3 questions left out" in line for line in log)
    translated = _read_jsonl(path)
    for example in translated:
        (answer,), (start,) = example["answers"]["text"], example["answers"]["answer_start"]
        assert example["context"][start : start + len(answer)] == answer and "[" not in example["context"]
    assert [e["answers"]["text"] for e in translated] == [["THE CAT"], ["BERLIN"]]
    assert translated[1]["question"] == "WHERE DOES ANNA LIVE?"
    note = json.loads((tmp_path / "mt" / "de" / "metadata.json").read_text())["translated_from"]["train"]
    assert note["answers"]["lost"] == 1
    # read back as XQuAD's German training data
    examples = load_examples(get_task("xquad@de"), "train", "de", {"xquad@all": str(tmp_path / "mt")})
    assert [e["id"] for e in examples] == [e["id"] for e in translated]


def test_qa_answers_lost_by_the_model_are_refused_in_one_line(tmp_path, tiny_marian, capsys):
    squad = write_squad_folder(tmp_path / "squad", train_copies=1)
    write_xquad(tmp_path / "xquad")
    out = tmp_path / "mt" / "de"
    command = ["translate", "--task", "xquad", "--to", "de", "--output", out, "--data", f"squad_v1={squad}"]
    code, stdout, stderr = run_cli([*command, "--model", tiny_marian, *FAST], capsys)
    (error,) = [line for line in stderr.replace("\r", "\n").splitlines() if line.startswith("error:")]
    assert code == 2 and "the answer markers [ ] came through the translation of none of the first 3 answered" in error
    assert "3 distinct strings: 0 already translated (cache), 3 to translate" in stdout  # the probe alone
    assert not (out / "train.jsonl").exists()


# ----------------------------------------------------------------------------- sweeps and tables


def test_a_sweep_compares_zero_shot_and_translate_train_as_variants(tmp_path, tiny_model, tiny_nli, capsys):
    mt = tmp_path / "mt"
    _xtreme_nli(mt / "en-de-translated.tsv", "de")
    sweep = {
        "name": "grid",
        "model": str(tiny_model),
        "data": {"mnli": str(tiny_nli["mnli"]), "xnli": str(tiny_nli["xnli"]), "xnli@all": str(mt)},
        "stages": {"target": SETTINGS},
        "matrix": {
            "target": ["xnli"],
            "variant": {"zeroshot": {}, "de": {"target": {"translate_train": "de"}}},
        },
    }
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(sweep))
    code, stdout, stderr = run_cli(["sweep", path, "--dry-run", "--output-dir", tmp_path / "out"], capsys)
    assert code == 0, stderr
    assert "none-xnli-zeroshot-s1" in stdout and "none-xnli-de-s1" in stdout


def test_tables_keep_translate_train_rows_apart_and_out_of_the_benchmark(tmp_path, capsys):
    lines = ["pipeline,intermediate,mlm,target,seed,split,language,metric,value,stage"]
    for intermediate, pipeline, dev, test in (
        ("none", "none-xnli-zeroshot-s1", 70, 60),
        ("none/translate-train-de", "none-xnli-de-s1", 90, 80),
    ):
        for split, value in (("dev", dev), ("test", test)):
            for language in ("en", "de"):
                lines.append(f"{pipeline},{intermediate},false,xnli,1,{split},{language},accuracy,{value},e-{pipeline}")
    (tmp_path / "scores.csv").write_text("\n".join(lines) + "\n")
    code, table, _ = run_cli(["table", tmp_path / "scores.csv"], capsys)
    assert code == 0 and re.search(r"\| none +\| no +\| 70.0 \|", table)
    assert re.search(r"\| none/translate-train-de \| no +\| 90.0 \|", table)
    assert "translate-train rows (<configuration>/translate-train-<languages>)" in table
    code, best, stderr = run_cli(["table", tmp_path / "scores.csv", "--best"], capsys)
    assert code == 0 and "--best leaves out the translate-train rows (none/translate-train-de)" in stderr
    assert re.search(r"\| xnli +\| none +\| no +\| 70.0 \| 60.0 \|", best)  # not its 90 / 80


def test_a_reused_evaluation_labelled_anew_leaves_no_stale_rows(tmp_path):
    """An evaluation of a model trained on translated data, made before such rows were labelled, is
    reused and writes its rows under the new label: its old ones go, other pipelines' stay."""
    from stilts.reports.scores_file import upsert_scores

    row = {
        "pipeline": "p",
        "intermediate": "mnli",
        "mlm": False,
        "target": "xnli",
        "seed": 1,
        "split": "dev",
        "language": "es",
        "metric": "accuracy",
        "value": 50.0,
        "stage": "evaluate-1",
    }
    path = tmp_path / "scores.csv"
    upsert_scores(path, [row, dict(row, language="de")], ["evaluate-1"])
    upsert_scores(path, [dict(row, pipeline="q")], ["evaluate-1"])  # another pipeline sharing the stage
    relabelled = [dict(row, intermediate="mnli/translate-train-es", language=language) for language in ("es", "de")]
    upsert_scores(path, relabelled, ["evaluate-1"])
    with open(path, newline="") as handle:
        kept = {(r["pipeline"], r["intermediate"], r["language"]) for r in csv.DictReader(handle)}
    assert kept == {("q", "mnli", "es"), ("p", "mnli/translate-train-es", "es"), ("p", "mnli/translate-train-es", "de")}
