"""MNLI/XNLI readers on the real files in ../shared/data and on each original format."""

import json

import pytest

from stilts.core.errors import BadInput, MissingSplit, Unlabelled
from stilts.data.readers.nli import NLI_LABELS, read_mnli_folder, read_xnli_file, read_xnli_folder
from stilts.target.classification_tasks import XNLI_LANGUAGES


def test_xtreme_xnli_dev_files_all_15_languages(shared_data):
    for language in XNLI_LANGUAGES:
        examples = read_xnli_folder(shared_data / "xnli", "dev", language)
        assert len(examples) == 2490
        counts = {label: sum(e["label"] == label for e in examples) for label in NLI_LABELS}
        assert counts == {"entailment": 830, "neutral": 830, "contradiction": 830}
    german = read_xnli_folder(shared_data / "xnli", "dev", "de")
    assert german[0]["text_a"] == "und er hat gesagt, Mama ich bin daheim."
    assert german[0]["label"] == "neutral"


def test_missing_split_names_folder_and_files(shared_data):
    with pytest.raises(MissingSplit, match=r"no XNLI test file for 'de' \(looked for test-de.tsv, xnli.test.tsv\)"):
        read_xnli_folder(shared_data / "xnli", "test", "de")


def test_xnli_original_combined_file_filters_language(tmp_path):
    header = (
        "language\tgold_label\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\t"
        "sentence2_parse\tsentence1\tsentence2\tpromptID\tpairID\n"
    )
    rows = [
        'de\tcontradiction\t_\t_\t_\t_\tEr "kam"\tEr ging\t1\t11\n',
        "en\tentailment\t_\t_\t_\t_\tHe came\tHe was there\t1\t12\n",
    ]
    (tmp_path / "xnli.test.tsv").write_text(header + "".join(rows))
    (example,) = read_xnli_folder(tmp_path, "test", "de")
    assert example == {"id": "11", "text_a": 'Er "kam"', "text_b": "Er ging", "label": "contradiction"}


def test_multinli_jsonl_drops_no_consensus_and_glue_tsv(tmp_path):
    lines = [
        {"gold_label": "neutral", "sentence1": "a", "sentence2": "b", "pairID": "1"},
        {"gold_label": "-", "sentence1": "c", "sentence2": "d", "pairID": "2"},
    ]
    (tmp_path / "multinli_1.0_train.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert [e["id"] for e in read_mnli_folder(tmp_path, "train")] == ["1"]

    glue = tmp_path / "glue"
    glue.mkdir()
    (glue / "dev_matched.tsv").write_text(
        "index\tpromptID\tpairID\tgenre\tsentence1\tsentence2\tlabel1\tgold_label\n"
        '0\t7\t7e\tfiction\tShe said "hi\tShe spoke\tentailment\tentailment\n'
    )
    (example,) = read_mnli_folder(glue, "dev")
    assert example["text_a"] == 'She said "hi' and example["label"] == "entailment"

    # a stray tab makes a line one field longer than the header: a damaged line, not a row to read
    with open(glue / "dev_matched.tsv", "a") as handle:
        handle.write("1\t8\t8e\tfiction\tA\tB\t\tneutral\tneutral\n")
    with pytest.raises(BadInput, match=r"dev_matched.tsv: line 3: 9 tab-separated fields, the header has 8"):
        read_mnli_folder(glue, "dev")


def test_xnli_mt_train_file_maps_contradictory(tmp_path):
    (tmp_path / "multinli.train.en.tsv").write_text("premise\thypo\tlabel\nA\tB\tcontradictory\n")
    assert read_mnli_folder(tmp_path, "train")[0]["label"] == "contradiction"


@pytest.mark.parametrize(
    "content, message",
    [
        ("a\tb\tmaybe\n", r"dev-xx.tsv: line 1: label 'maybe' is not one of entailment, neutral, contradiction"),
        ("ok\tok\tneutral\nonly two\tfields\n", r"dev-xx.tsv: line 2: expected 3 tab-separated fields"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, content, message):
    (tmp_path / "dev-xx.tsv").write_text(content)
    with pytest.raises(BadInput, match=message):
        read_xnli_folder(tmp_path, "dev", "xx")


def test_bad_json_line_is_reported(tmp_path):
    (tmp_path / "multinli_1.0_dev_matched.jsonl").write_text('{"gold_label": "neutral"}\n{oops\n')
    with pytest.raises(BadInput, match=r"line 1: missing field 'sentence1'"):
        read_mnli_folder(tmp_path, "dev")


@pytest.mark.parametrize(
    "content, message",
    [
        ("a\tb\tneutral\nc\td\t\n", r"test-xx.tsv: line 2: no label, but line 1 has one"),
        ("a\tb\t\nc\td\tneutral\n", r"test-xx.tsv: line 2: label 'neutral', but line 1 has none"),
    ],
)
def test_an_xtreme_file_is_labelled_or_not_as_a_whole(tmp_path, content, message):
    """One empty label field must not turn its row into an unlabelled one, scored as a wrong answer."""
    (tmp_path / "test-xx.tsv").write_text(content)
    with pytest.raises(BadInput, match=message):
        read_xnli_file(tmp_path / "test-xx.tsv", "xx")


@pytest.mark.parametrize("content", ["a\tb\nc\td\n", "a\tb\t\nc\td\t\n"], ids=["two-fields", "empty-third"])
def test_an_unlabelled_xnli_file_is_skipped_not_scored_as_wrong(tmp_path, content):
    """XTREME's XNLI test files come without labels: evaluation skips such a file (Unlabelled, a
    MissingSplit) rather than scoring every answer as wrong; `stilts predict` takes its pairs."""
    (tmp_path / "test-de.tsv").write_text(content)
    with pytest.raises(Unlabelled, match="test-de.tsv: no labels in this file") as error:
        read_xnli_folder(tmp_path, "test", "de")
    assert [(e["text_a"], e["label"]) for e in error.value.examples] == [("a", None), ("c", None)]


@pytest.mark.parametrize(
    "row, message",
    [
        (
            {"gold_label": 1, "sentence1": "a", "sentence2": "b"},
            "field 'gold_label' should be a string, found a number",
        ),
        (
            {"gold_label": "neutral", "sentence1": None, "sentence2": "b"},
            "field 'sentence1' should be a string, found null",
        ),
        (
            {"gold_label": "neutral", "sentence1": "a", "sentence2": ["b"]},
            "field 'sentence2' should be a string, found a list",
        ),
        (
            {"gold_label": "neutral", "sentence1": "a", "sentence2": "b", "pairID": None},
            "field 'pairID' should be a string or an integer, found null",
        ),
    ],
)
def test_multinli_jsonl_fields_are_type_checked(tmp_path, row, message):
    """A label that is not a string crashed the data check; a null sentence passed it and crashed the tokenizer."""
    good = {"gold_label": "neutral", "sentence1": "a", "sentence2": "b"}
    (tmp_path / "multinli_1.0_train.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(BadInput, match=f"multinli_1.0_train.jsonl: line 2: {message}"):
        read_mnli_folder(tmp_path, "train")


@pytest.mark.parametrize(
    "name, last_class",
    [("xnli", "contradiction"), ("xglue_xnli", "contradiction"), ("mnli", "contradiction"), ("snli", "contradiction")]
    + [("pawsx", "1"), ("qqp", "duplicate")],
)
def test_a_hub_pair_row_without_gold_is_dropped_not_read_as_the_last_class(name, last_class):
    """The Hub marks a row without a gold label with -1; as a list index that is the last class
    (contradiction, paraphrase), so an unlabelled row was scored as if its gold were that class."""
    from stilts.core.catalog import get_task
    from stilts.core.errors import BadInput

    to_example = get_task(name).hub.to_example
    row = {"premise": "p", "hypothesis": "h", "sentence1": "a", "sentence2": "b", "question1": "q", "question2": "r"}
    row = {**row, "idx": 0, "uid": "u", "id": 1}
    assert to_example({**row, "label": len(get_task(name).labels) - 1})["label"] == last_class
    assert to_example({**row, "label": -1}) is None
    with pytest.raises(BadInput, match="unknown label 3"):
        to_example({**row, "label": 3})
