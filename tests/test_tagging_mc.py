"""Token tagging and multiple choice: features, windows, heads, catalog readers and tiny pipelines."""

import csv
import json

import numpy as np
import pytest
import torch
import yaml
from helpers import run_cli
from transformers import AutoModel, AutoTokenizer

from stilts.core.catalog import Task, get_task
from stilts.core.errors import BadInput, MissingSplit
from stilts.formats.batching import make_loader
from stilts.formats.multiple_choice import MULTIPLE_CHOICE
from stilts.formats.tagging import IGNORE_INDEX, NER_TAGGING, word_windows
from stilts.formats.tokenize import featurize
from stilts.testing import (
    conllu,
    write_commonsenseqa,
    write_hellaswag,
    write_panx,
    write_ud,
)


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    return AutoTokenizer.from_pretrained(tiny_model)


# ----------------------------------------------------------------------------- tagging features


def test_first_sub_word_carries_the_label(tokenizer):
    task = get_task("panx")
    examples = [{"id": "s1", "tokens": ["Hello", "wonderfulness", "x"], "tags": ["B-PER", "I-PER", "O"]}]
    [feature] = featurize(task, examples, tokenizer, max_length=64)
    pieces = tokenizer.convert_ids_to_tokens(feature["input_ids"])
    # the tiny sentencepiece model cuts both long words into many pieces
    assert pieces == [
        "<s>",
        "▁H",
        "e",
        "ll",
        "o",
        "▁w",
        "on",
        "d",
        "er",
        "f",
        "u",
        "l",
        "n",
        "e",
        "ss",
        "▁",
        "x",
        "</s>",
    ]
    B_PER, I_PER, O, __ = 1, 2, 0, IGNORE_INDEX  # PANX_TAGS order: O, B-PER, I-PER, ...
    assert feature["labels"] == [__, B_PER, __, __, __, I_PER, __, __, __, __, __, __, __, __, __, O, __, __]
    assert feature["label_positions"] == [1, 5, 15] and feature["word_offset"] == 0


def test_word_windows_cover_every_word_once_and_even_out():
    assert word_windows([1] * 130, 126) == [(0, 65), (65, 130)]
    assert word_windows([3] * 10, 10) == [(0, 2), (2, 5), (5, 7), (7, 10)]
    assert word_windows([1, 200, 1], 10) == [(0, 1), (1, 2), (2, 3)]  # an over-long word stands alone
    assert word_windows([], 10) == []


def _word_index_task() -> Task:
    """A tagging task whose tag of word i is "i": a prediction says which word it was made for."""
    return Task(
        name="words",
        format=NER_TAGGING,
        phases=frozenset({"target"}),
        languages=("en",),
        metric="f1",
        description="test",
        labels=tuple(str(i) for i in range(200)),
    )


def test_long_sentence_is_split_into_windows_and_every_word_predicted_once(tokenizer):
    task = _word_index_task()
    words = [["Hello", "wonderfulness", "x", "", "\u200b", "y" * 40][i % 6] for i in range(90)]
    examples = [
        {"id": "long", "tokens": words, "tags": [str(i) for i in range(90)]},
        {"id": "short", "tokens": ["a", "b"], "tags": ["0", "1"]},
    ]
    features = featurize(task, examples, tokenizer, max_length=16)
    long_features = [f for f in features if f["example_index"] == 0]
    assert len(long_features) > 10
    assert all(len(f["input_ids"]) <= 16 for f in long_features)
    # contiguous word ranges, in order, covering the sentence exactly once
    spans = [(f["word_offset"], len(f["label_positions"])) for f in long_features]
    assert spans[0][0] == 0 and all(a + n == b for (a, n), (b, _) in zip(spans, spans[1:]))
    assert sum(n for _, n in spans) == 90

    # model outputs that put all mass on the gold tag at each word's first sub-word and garbage on
    # every other position, padded past the feature's length as a batch pads it
    outputs = []
    for feature in features:
        logits = np.full((len(feature["input_ids"]) + 5, len(task.labels)), 0.0, dtype=np.float32)
        logits[:, 199] = 5.0  # what a non-first sub-word or padding position "predicts"
        for position, label in enumerate(feature["labels"]):
            if label != IGNORE_INDEX:
                logits[position, label] = 10.0
        outputs.append(logits)
    predictions = task.format.predict(outputs, features, examples, task)
    assert predictions == [example["tags"] for example in examples]


def test_unknown_tag_is_bad_input_naming_the_example(tokenizer):
    examples = [{"id": "dev-de.tsv:7", "tokens": ["Paris"], "tags": ["B-MISC"]}]
    with pytest.raises(BadInput, match=r"dev-de\.tsv:7.*B-MISC"):
        featurize(get_task("panx"), examples, tokenizer, max_length=32)


def test_tagging_forward_and_loss(tiny_model, tokenizer):
    task = get_task("udpos")
    examples = [
        {"id": "a", "tokens": ["the", "cat", "sleeps"], "tags": ["DET", "NOUN", "VERB"]},
        {"id": "b", "tokens": ["wonderfulness"], "tags": ["NOUN"]},
    ]
    features = featurize(task, examples, tokenizer, max_length=32)
    batch = next(iter(make_loader(task, features, tokenizer, batch_size=2, shuffle=False)))
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    encoder = AutoModel.from_pretrained(tiny_model)
    head = task.format.build_head(task, encoder.config.hidden_size)
    loss, logits = task.format.forward(encoder, head, batch)
    assert logits.shape == (*batch["input_ids"].shape, 17)
    assert torch.isfinite(loss)
    # padding positions of the shorter feature are ignored by the loss
    assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE_INDEX).all()


# ----------------------------------------------------------------------------- multiple choice


def test_multiple_choice_collate_forward_shapes(tiny_model, tokenizer):
    task = get_task("hellaswag")
    examples = [
        {"id": "q1", "context": "the cat sat on", "choices": ["the mat", "a dog", "water", "it"], "label": 0},
        {"id": "q2", "context": "a man plays", "choices": ["the guitar well", "no", "yes"], "label": 2},
    ]
    features = featurize(task, examples, tokenizer, max_length=32)
    assert [len(f["input_ids"]) for f in features] == [4, 3]  # (choices, length) per feature
    batch = next(iter(make_loader(task, features, tokenizer, batch_size=2, shuffle=False)))
    width = batch["input_ids"].shape[-1]
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (2, 4, width)
    assert batch["choice_mask"].tolist() == [[True] * 4, [True, True, True, False]]
    assert batch["labels"].tolist() == [0, 2]
    # each pair is "<s> context </s></s> choice </s>"
    first = tokenizer.decode(batch["input_ids"][0, 1][batch["attention_mask"][0, 1].bool()])
    assert "the cat sat on" in first and "a dog" in first

    encoder = AutoModel.from_pretrained(tiny_model)
    head = MULTIPLE_CHOICE.build_head(task, encoder.config.hidden_size)
    loss, scores = MULTIPLE_CHOICE.forward(encoder, head, batch)
    assert scores.shape == (2, 4) and loss.dim() == 0 and torch.isfinite(loss)
    assert scores[1, 3] == torch.finfo(scores.dtype).min  # the missing fourth choice of q2
    predictions = MULTIPLE_CHOICE.predict(list(scores.detach().numpy()), features, examples, task)
    assert len(predictions) == 2 and predictions[1] in (0, 1, 2)
    assert MULTIPLE_CHOICE.score([0, 1], examples, task, "en") == {"accuracy": 50.0}


# ----------------------------------------------------------------------------- catalog readers, real files


def test_catalog_readers_on_real_files(shared_data):
    udpos, panx, csqa = get_task("udpos"), get_task("panx"), get_task("commonsenseqa")
    assert len(udpos.read_local(shared_data / "ud", "test", "de")) == 977  # UD_German-GSD
    assert len(udpos.read_local(shared_data / "ud", "test", "en")) == 2077  # EWT (LinES has no test)
    english_train = udpos.read_local(shared_data / "ud", "train", "en")
    assert english_train[0]["id"].startswith("en_lines")  # LinES stands in for EWT train
    with pytest.raises(MissingSplit):
        udpos.read_local(shared_data / "ud", "test", "af")
    assert len(panx.read_local(shared_data / "panx", "dev", "de")) == 10000
    with pytest.raises(MissingSplit):
        panx.read_local(shared_data / "panx", "test", "de")
    dev = csqa.read_local(shared_data / "intermediate" / "commonsenseqa", "dev", "en")
    assert len(dev) == 1221 and all(len(e["choices"]) == 5 for e in dev)
    with pytest.raises(MissingSplit):
        csqa.read_local(shared_data / "intermediate" / "commonsenseqa", "train", "en")
    cosmosqa = get_task("cosmosqa").read_local(shared_data / "intermediate" / "cosmosqa", "dev", "en")
    assert len(cosmosqa) == 2985


def test_hub_rows_map_to_examples_with_the_catalog_label_orders():
    hellaswag, cosmosqa, csqa = (get_task(name).hub for name in ("hellaswag", "cosmosqa", "commonsenseqa"))
    row = {"ind": 4, "ctx": "A man", "endings": ["a", "b", "c", "d"], "label": "2"}
    assert hellaswag.to_example(row) == {"id": "4", "context": "A man", "choices": ["a", "b", "c", "d"], "label": 2}
    assert hellaswag.to_example(dict(row, label="")) is None  # unlabelled test rows
    row = {
        "id": "c1",
        "context": "Text.",
        "question": "Why?",
        "answer0": "a",
        "answer1": "b",
        "answer2": "c",
        "answer3": "d",
        "label": 3,
    }
    assert cosmosqa.to_example(row)["context"] == "Text. Why?" and cosmosqa.to_example(row)["label"] == 3
    assert cosmosqa.to_example(dict(row, label=-1)) is None
    row = {
        "id": "q",
        "question": "Where?",
        "choices": {"label": list("ABCDE"), "text": list("vwxyz")},
        "answerKey": "D",
    }
    assert csqa.to_example(row)["label"] == 3 and csqa.to_example(dict(row, answerKey="")) is None
    assert hellaswag.splits == cosmosqa.splits == csqa.splits == {"train": "train", "dev": "validation"}

    udpos, panx = get_task("udpos"), get_task("panx")
    assert udpos.hub.dataset_id == panx.hub.dataset_id == "google/xtreme"
    assert udpos.hub.config("zh") == "udpos.Chinese" and udpos.hub.config("fa") == "udpos.Persian"
    assert panx.hub.config("de") == "PAN-X.de"
    assert udpos.hub.to_example({"tokens": ["I", "run"], "pos_tags": [10, 15]})["tags"] == ["PRON", "VERB"]
    assert panx.hub.to_example({"tokens": ["Paris"], "ner_tags": [5], "langs": ["fr"]})["tags"] == ["B-LOC"]
    assert len(udpos.languages) == 33 and len(panx.languages) == 40
    assert panx.labels == ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")


def test_ud_folder_concatenates_a_languages_treebanks(tmp_path):
    for treebank, word in (("de_two", "Tschüss"), ("de_one", "Hallo")):
        folder = tmp_path / f"UD_{treebank}"
        folder.mkdir()
        (folder / f"{treebank}-ud-test.conllu").write_text(conllu([[(word, "INTJ")]]), encoding="utf-8")
    (tmp_path / "deu_x-ud-test.conllu").write_text(conllu([[("x", "X")]]), encoding="utf-8")  # not 'de'
    sentences = get_task("udpos").read_local(tmp_path, "test", "de")
    assert [s["tokens"] for s in sentences] == [["Hallo"], ["Tschüss"]]  # by file name


def test_panx_folder_reads_original_release_layout(tmp_path):
    (tmp_path / "de").mkdir()
    (tmp_path / "de" / "test").write_text("de:Anna\tB-PER\nde:lebt\tO\n\n", encoding="utf-8")
    [example] = get_task("panx").read_local(tmp_path, "test", "de")
    assert example["tokens"] == ["Anna", "lebt"] and example["tags"] == ["B-PER", "O"]
    (tmp_path / "dev-de.tsv").write_text("Anna\tB-PER\nX\tB-MISC\n", encoding="utf-8")
    with pytest.raises(BadInput, match=r"dev-de\.tsv: line 2: unknown tag 'B-MISC'"):
        get_task("panx").read_local(tmp_path, "dev", "de")


def test_ccg_reader_jiant_format(tmp_path):
    ccg = get_task("ccg")
    (tmp_path / "ccg.train").write_text("Pierre Vinken ,\tN/N N ,\nHe sleeps\tNP S\\NP\n", encoding="utf-8")
    (tmp_path / "ccg.dev").write_text("She runs\tNP S\\NP\n", encoding="utf-8")
    (tmp_path / "ccg.test").write_text("It rains .\tNP S\\NP .\n", encoding="utf-8")
    # without tags_to_id.json: jiant's ccg_to_num.py order (train, then test, then dev)
    assert ccg.read_local(tmp_path, "dev", "en")[0]["tags"] == ["3", "4"]
    assert ccg.read_local(tmp_path, "test", "en")[0]["tags"] == ["3", "4", "5"]
    (tmp_path / "tags_to_id.json").write_text(json.dumps({"N/N": 0, "N": 1, ",": 2, "NP": 3, "S\\NP": 4}))
    [first, _] = ccg.read_local(tmp_path, "train", "en")
    assert first == {"id": "ccg.train:1", "tokens": ["Pierre", "Vinken", ","], "tags": ["0", "1", "2"]}
    with pytest.raises(BadInput, match=r"ccg\.test: line 1: unknown supertag '\.'"):
        ccg.read_local(tmp_path, "test", "en")
    (tmp_path / "ccg.dev").write_text("She runs\tNP\n", encoding="utf-8")
    with pytest.raises(BadInput, match=r"ccg\.dev: line 1: 2 words but 1 supertags"):
        ccg.read_local(tmp_path, "dev", "en")
    (tmp_path / "tags_to_id.json").write_text(json.dumps({"N": 1363}))
    with pytest.raises(BadInput, match="1363"):
        ccg.read_local(tmp_path, "train", "en")


# ----------------------------------------------------------------------------- tiny pipelines


def _write_yaml(path, model, intermediate, target, data):
    settings = dict(learning_rate=1e-3, batch_size=4, max_steps=2, max_length=32)
    config = {
        "name": path.stem,
        "model": str(model),
        "seed": 1,
        "data": {task: str(folder) for task, folder in data.items()},
        "stages": [
            dict(kind="intermediate", tasks=[intermediate], **settings),
            dict(kind="target", task=target, **settings),
            dict(kind="evaluate", task=target, max_length=32),
        ],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _scores(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_hellaswag_to_panx_pipeline(tmp_path, tiny_model, capsys):
    data = {"hellaswag": write_hellaswag(tmp_path / "hellaswag"), "panx": write_panx(tmp_path / "panx")}
    yaml_path = _write_yaml(tmp_path / "hellaswag_to_panx.yaml", tiny_model, "hellaswag", "panx", data)
    code, stdout, stderr = run_cli(["run", yaml_path, "--output-dir", tmp_path / "out"], capsys)
    assert code == 0, stderr
    rows = _scores(tmp_path / "out" / "scores.csv")
    f1 = {(r["split"], r["language"]) for r in rows if r["metric"] == "f1"}
    assert f1 == {("dev", "en"), ("dev", "de"), ("test", "de")}  # the unlabelled en test is skipped
    assert {(r["intermediate"], r["target"]) for r in rows} == {("hellaswag", "panx")}
    assert {r["metric"] for r in rows} == {"f1", "precision", "recall"}
    assert all(0 <= float(r["value"]) <= 100 for r in rows)
    assert "panx (dev)" in stdout and "panx (test)" in stdout  # the per-language table
    intermediate = json.loads(next((tmp_path / "out").glob("intermediate-*/metrics.json")).read_text())
    assert "accuracy" in intermediate["training"]["validations"][-1]["tasks"]["hellaswag"]


def test_commonsenseqa_to_udpos_pipeline(tmp_path, tiny_model, capsys):
    data = {"commonsenseqa": write_commonsenseqa(tmp_path / "csqa"), "udpos": write_ud(tmp_path / "ud")}
    yaml_path = _write_yaml(tmp_path / "csqa_to_udpos.yaml", tiny_model, "commonsenseqa", "udpos", data)
    code, stdout, stderr = run_cli(["run", yaml_path, "--output-dir", tmp_path / "out"], capsys)
    assert code == 0, stderr
    rows = _scores(tmp_path / "out" / "scores.csv")
    f1 = {(r["split"], r["language"]) for r in rows if r["metric"] == "f1"}
    assert f1 == {("dev", "en"), ("test", "de")}
    assert {r["metric"] for r in rows} == {"f1", "precision", "recall", "accuracy"}
    assert {(r["intermediate"], r["target"]) for r in rows} == {("commonsenseqa", "udpos")}
    assert "udpos (test)" in stdout
