"""Span-extraction QA: windows and labels, post-processing back to the context's characters,
no-answer thresholds, the QA catalog's readers on the real release files, and squad_v1 -> xquad end to end."""

import csv
import json
import math

import numpy as np
import pytest
import torch
import yaml
from helpers import run_cli

from stilts.core.catalog import get_task
from stilts.core.errors import BadInput, MissingSplit
from stilts.data.readers.layout import collecting_notes
from stilts.formats.span_qa import (
    CLS_INDEX,
    MAX_ANSWER_TOKENS,
    NOT_CONTEXT,
    SPAN_QA,
    SPAN_QA_NO_ANSWER,
    SpanPrediction,
    SpanQAWithNoAnswer,
)
from stilts.formats.tokenize import featurize
from stilts.testing import TINY_QA, write_squad

XQUAD_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


def qa_example(question, context, answer, question_id="q", occurrence=0):
    """A SQuAD-schema example whose answer is the ``occurrence``-th ``answer`` in ``context``
    (None = unanswerable)."""
    if answer is None:
        return {
            "id": question_id,
            "title": "",
            "context": context,
            "question": question,
            "answers": {"text": [], "answer_start": []},
        }
    start = -1
    for _ in range(occurrence + 1):
        start = context.index(answer, start + 1)
    return {
        "id": question_id,
        "title": "",
        "context": context,
        "question": question,
        "answers": {"text": [answer], "answer_start": [start]},
    }


def gold_logits(features, padding=3):
    """Per-feature outputs as the model would give them if it had learnt the labels: high at the
    labelled start/end of windows that hold the answer, high at CLS in the others. Each array is
    ``padding`` rows longer than its feature, with very high logits there, as when the feature ran
    in a batch of longer ones: post-processing must ignore them."""
    outputs = []
    for ids, start, end in zip(features["input_ids"], features["start_positions"], features["end_positions"]):
        logits = np.full((len(ids) + padding, 2), -5.0, dtype=np.float32)
        logits[len(ids) :] = 100.0
        if start == CLS_INDEX:
            logits[CLS_INDEX] = 10.0
        else:
            logits[start, 0] = logits[end, 1] = 10.0
        outputs.append(logits)
    return outputs


def round_trip(task, examples, tokenizer, max_length):
    features = featurize(task, examples, tokenizer, max_length)
    return features, task.format.predict(gold_logits(features), features, examples, task)


# --- windows, labels and the way back to the context --------------------------------------------

MULTILINGUAL = [
    ("en", "Where did the cat sit?", "The cat sat on the mat near the door.", "the mat"),
    ("zh", "中国的首都是哪里？", "北京是中国的首都。上海是一个城市。", "首都"),
    ("ar", "ما هي عاصمة مصر؟", "القاهرة هي عاصمة مصر وأكبر مدنها.", "عاصمة مصر"),
    ("hi", "भारत की राजधानी क्या है?", "नई दिल्ली भारत की राजधानी है।", "भारत"),
    ("emoji", "What do I love?", "I love 🐈 cats 👍🏽 and 🎉 parties a lot", "🎉 parties"),
]


@pytest.mark.parametrize("language, question, context, answer", MULTILINGUAL, ids=[m[0] for m in MULTILINGUAL])
def test_gold_answers_round_trip_exactly(language, question, context, answer, tokenizer):
    task = get_task("squad_v1")
    example = qa_example(question, context, answer)
    features, (prediction,) = round_trip(task, [example], tokenizer, 384)
    assert len(features) == 1 and features["start_positions"][0] != CLS_INDEX
    start = example["answers"]["answer_start"][0]
    assert prediction.text == answer == context[start : start + len(answer)]


def long_context(answer: str, filler_sentences: int = 30) -> str:
    filler = " ".join(f"Sentence number {i} talks about the weather and the sea." for i in range(filler_sentences))
    return f"{filler} The treasure is hidden under {answer} behind the house. {filler}"


@pytest.mark.parametrize("answer", ["the old oak tree", "北京", "🐈 cats"])
def test_answer_in_a_later_window(answer, tokenizer):
    task = get_task("squad_v1")
    context = long_context(answer)
    example = qa_example("Where is the treasure?", context, answer)
    features, (prediction,) = round_trip(task, [example], tokenizer, 64)
    starts = features["start_positions"]
    assert len(features) > 5 and set(features["example_index"]) == {0}
    assert starts[0] == CLS_INDEX  # the first window does not hold the answer
    holding = [i for i, start in enumerate(starts) if start != CLS_INDEX]
    assert holding and holding[0] > 0
    assert prediction.text == answer


def test_window_labels_and_offsets(tokenizer):
    task = get_task("squad_v1")
    context = long_context("the old oak tree")
    example = qa_example("Where is the treasure?", context, "the old oak tree")
    features = featurize(task, [example], tokenizer, 64)
    for ids, offsets, start, end in zip(
        features["input_ids"], features["offset_mapping"], features["start_positions"], features["end_positions"]
    ):
        assert len(ids) <= 64 and len(offsets) == len(ids)
        assert tuple(offsets[CLS_INDEX]) == NOT_CONTEXT  # CLS and the question are never answers
        if start != CLS_INDEX:
            assert start <= end
            assert context[offsets[start][0] : offsets[end][1]] == "the old oak tree"
    # neighbouring windows share context: every window but the first starts before the last one ended
    context_starts = [next(o[0] for o in offsets if tuple(o) != NOT_CONTEXT) for offsets in features["offset_mapping"]]
    context_ends = [max(o[1] for o in offsets) for offsets in features["offset_mapping"]]
    assert all(context_starts[i + 1] < context_ends[i] for i in range(len(context_starts) - 1))
    assert context_ends[-1] == len(context)


def test_several_examples_keep_their_own_windows(tokenizer):
    task = get_task("squad_v1")
    examples = [
        qa_example("Where?", long_context("the old oak tree"), "the old oak tree", "a"),
        qa_example("Who sat?", "The cat sat on the mat.", "The cat", "b"),
        qa_example("Where?", long_context("a red box", 12), "a red box", "c"),
    ]
    features, predictions = round_trip(task, examples, tokenizer, 64)
    assert sorted(set(features["example_index"])) == [0, 1, 2]
    assert [p.text for p in predictions] == ["the old oak tree", "The cat", "a red box"]
    assert task.format.score(predictions, examples, task, "en") == {"exact_match": 100.0, "f1": 100.0}


def test_long_question_is_cut_and_leaves_room_for_context(tokenizer):
    task = get_task("squad_v1")
    question = "why " * 300
    example = qa_example(question, "The cat sat on the mat.", "the mat")
    features, (prediction,) = round_trip(task, [example], tokenizer, 64)
    assert prediction.text == "the mat"
    with pytest.raises(BadInput, match="max_length"):
        featurize(task, [example], tokenizer, 5)


def test_collate_gives_the_model_only_tensors_padded_on_the_right(tokenizer):
    task = get_task("squad_v1")
    examples = [
        qa_example("Who sat?", "The cat sat on the mat.", "The cat"),
        qa_example("Where is the treasure?", long_context("x marks", 3), "x marks"),
    ]
    features = featurize(task, examples, tokenizer, 64)
    rows = [{k: v for k, v in features[i].items() if k != "example_index"} for i in range(len(features))]
    tokenizer.padding_side = "left"  # must not move tokens away from their labels and offsets
    try:
        batch = task.format.collate(rows, tokenizer)
    finally:
        tokenizer.padding_side = "right"
    assert set(batch) == {"input_ids", "attention_mask", "start_positions", "end_positions"}
    assert all(isinstance(value, torch.Tensor) for value in batch.values())
    first = features["input_ids"][0]
    assert batch["input_ids"][0, : len(first)].tolist() == first
    assert batch["attention_mask"][0].tolist() == [1] * len(first) + [0] * (batch["input_ids"].shape[1] - len(first))


def test_forward_gives_start_and_end_logits_per_token(tiny_model, tokenizer):
    from transformers import AutoModel

    task = get_task("squad_v1")
    encoder = AutoModel.from_pretrained(tiny_model, add_pooling_layer=False)
    head = task.format.build_head(task, encoder.config.hidden_size)
    features = featurize(task, [qa_example("Who sat?", "The cat sat on the mat.", "The cat")], tokenizer, 64)
    batch = task.format.collate([{k: v for k, v in features[0].items() if k != "example_index"}], tokenizer)
    loss, logits = task.format.forward(encoder, head, batch)
    assert logits.shape == (1, len(features["input_ids"][0]), 2)
    assert torch.isfinite(loss)
    loss.backward()
    assert head.qa_outputs.weight.grad is not None


# --- no answer (SQuAD v2.0) ----------------------------------------------------------------------


def no_answer_case(tokenizer):
    task = get_task("squad_v2")
    examples = [
        qa_example("Who sat?", "The cat sat on the mat.", "The cat", "has"),
        qa_example("Who flew?", "The cat sat on the mat.", None, "none"),
    ]
    features = featurize(task, examples, tokenizer, 64)
    assert features["start_positions"][1] == features["end_positions"][1] == CLS_INDEX
    outputs = gold_logits(features)
    # the unanswerable question: "the mat" scores 5 + 5 = 10 against a null score of 8 + 8 = 16
    offsets = [tuple(o) for o in features["offset_mapping"][1]]
    start_char = examples[1]["context"].index("the mat")
    mat_start = next(i for i, o in enumerate(offsets) if o != NOT_CONTEXT and o[0] == start_char)
    mat_end = next(i for i, o in enumerate(offsets) if o != NOT_CONTEXT and o[1] == start_char + len("the mat"))
    outputs[1][CLS_INDEX] = 8.0
    outputs[1][mat_start, 0] = outputs[1][mat_end, 1] = 5.0
    return task, examples, features, outputs


def test_no_answer_when_null_beats_best_span_by_more_than_threshold(tokenizer):
    task, examples, features, outputs = no_answer_case(tokenizer)
    answered, unanswered = SPAN_QA_NO_ANSWER.predict(outputs, features, examples, task)
    assert answered.text == "The cat" and answered.null_score_diff == pytest.approx(-10 - 20)
    assert unanswered == SpanPrediction("", "the mat", pytest.approx(6.0))
    scores = SPAN_QA_NO_ANSWER.score([answered, unanswered], examples, task, "en")
    assert scores["exact_match"] == scores["f1"] == 100.0
    assert scores["has_ans_f1"] == scores["no_ans_f1"] == 100.0
    assert {"best_f1", "best_f1_threshold", "best_exact_match", "best_exact_match_threshold"} <= set(scores)

    # a threshold above the difference answers the unanswerable question (wrongly)
    lenient = SpanQAWithNoAnswer(null_score_diff_threshold=7.0)
    predictions = lenient.predict(outputs, features, examples, task)
    assert [p.text for p in predictions] == ["The cat", "the mat"]
    scores = lenient.score(predictions, examples, task, "en")
    assert scores["f1"] == 50.0
    # the tuned threshold recovers the best score: answer only below the unanswerable one's difference
    assert scores["best_f1"] == 100.0 and scores["best_f1_threshold"] < 6.0


def test_no_answer_needs_the_null_score_of_every_window(tokenizer):
    """The null score is the lowest CLS score over an example's windows (HF, BERT)."""
    task = get_task("squad_v2")
    example = qa_example("Where?", long_context("the old oak tree"), "the old oak tree")
    features = featurize(task, [example], tokenizer, 64)
    outputs = gold_logits(features)
    for logits in outputs:
        logits[CLS_INDEX] = 12.0  # every window would rather abstain (24 > 20) ...
    (prediction,) = SPAN_QA_NO_ANSWER.predict(outputs, features, [example], task)
    assert prediction.text == "" and prediction.best_span == "the old oak tree"
    outputs[-1][CLS_INDEX] = 1.0  # ... until one window's null score is low
    (prediction,) = SPAN_QA_NO_ANSWER.predict(outputs, features, [example], task)
    assert prediction.text == "the old oak tree" and prediction.null_score_diff == pytest.approx(2 - 20)


def test_squad_v1_answers_even_when_cls_scores_higher(tokenizer):
    task = get_task("squad_v1")
    example = qa_example("Who sat?", "The cat sat on the mat.", "The cat")
    features = featurize(task, [example], tokenizer, 64)
    outputs = gold_logits(features)
    outputs[0][CLS_INDEX] = 50.0
    (prediction,) = SPAN_QA.predict(outputs, features, [example], task)
    assert prediction.text == "The cat"


# --- scoring -------------------------------------------------------------------------------------


def test_scores_follow_each_tasks_official_script():
    examples = [qa_example("?", "北京是中国的首都。", "中国的首都"), qa_example("?", "The cat sat.", "The cat")]
    predictions = [SpanPrediction("首都", "首都", -1.0), SpanPrediction("cat", "cat", -1.0)]
    mlqa, xquad = get_task("mlqa"), get_task("xquad")
    # MLQA splits Chinese into characters: "首都" shares 2 of 5 characters; SQuAD v1.1 sees one token each
    assert mlqa.format.score(predictions[:1], examples[:1], mlqa, "zh")["f1"] == pytest.approx(100 * 2 * 0.4 / 1.4)
    assert xquad.format.score(predictions[:1], examples[:1], xquad, "zh") == {"exact_match": 0.0, "f1": 0.0}
    # articles are dropped by both: "The cat" == "cat"
    assert xquad.format.score(predictions[1:], examples[1:], xquad, "en") == {"exact_match": 100.0, "f1": 100.0}
    assert mlqa.format.score(predictions[1:], examples[1:], mlqa, "en") == {"exact_match": 100.0, "f1": 100.0}


def test_repeated_question_ids_are_scored_separately():
    task = get_task("tydiqa")
    examples = [qa_example("?", "The cat sat.", "cat", "1"), qa_example("?", "The dog ran.", "dog", "1")]
    predictions = [SpanPrediction("cat", "cat", 0.0), SpanPrediction("ran", "ran", 0.0)]
    assert task.format.score(predictions, examples, task, "en") == {"exact_match": 50.0, "f1": 50.0}


def test_unanswered_gold_is_bad_input_for_answer_only_tasks():
    task = get_task("xquad")
    examples = [qa_example("?", "The cat sat.", None, "blank")]
    with pytest.raises(BadInput, match="blank.*no gold answer"):
        task.format.score([SpanPrediction("", "", math.inf)], examples, task, "en")


# --- the catalog's readers on the real release files ----------------------------------------------


def test_xquad_release_files(shared_data):
    task = get_task("xquad")
    for language in XQUAD_LANGUAGES:
        examples = task.read_local(shared_data / "xquad", "test", language)
        assert len(examples) == 1190, language
        first = examples[0]
        start = first["answers"]["answer_start"][0]
        assert first["context"][start : start + len(first["answers"]["text"][0])] == first["answers"]["text"][0]
    assert task.eval_splits == ("test",) and task.train_task == "squad_v1"
    with pytest.raises(MissingSplit):
        task.read_local(shared_data / "xquad", "dev", "en")


def test_mlqa_release_files(shared_data):
    task = get_task("mlqa")
    for folder in (shared_data / "mlqa", shared_data / "mlqa" / "MLQA_V1"):  # MLQA_V1 or its parent
        assert len(task.read_local(folder, "dev", "en")) == 1148
    for language in task.languages:
        assert task.read_local(shared_data / "mlqa", "dev", language)
    with pytest.raises(MissingSplit):  # the test files are not in the shared data
        task.read_local(shared_data / "mlqa", "test", "en")


def test_tydiqa_release_files(shared_data):
    task = get_task("tydiqa")
    train = task.read_local(shared_data / "tydiqa", "train", "en")
    assert len(train) == 3696 and task.train_task is None and task.source_language == "en"
    with pytest.raises(MissingSplit):  # the dev files are the test set
        task.read_local(shared_data / "tydiqa", "dev", "en")
    with pytest.raises(MissingSplit):  # and they are not in the shared data
        task.read_local(shared_data / "tydiqa", "test", "ko")


@pytest.mark.parametrize("language", ["zh", "ar", "hi", "th", "ru"])
def test_real_answers_survive_the_round_trip(language, shared_data, tokenizer):
    """On real XQuAD text the predicted span is a piece of the context that covers the gold answer,
    and it is the answer exactly whenever the answer starts and ends on token boundaries (the tiny
    vocabulary here splits words in odd places; a real one has fewer mismatches)."""
    task = get_task("xquad")
    examples = task.read_local(shared_data / "xquad", "test", language)[:60]
    features, predictions = round_trip(task, examples, tokenizer, 384)
    starts_by_example, ends_by_example = {}, {}
    for example_index, offsets in zip(features["example_index"], features["offset_mapping"]):
        context_offsets = [o for o in offsets if tuple(o) != NOT_CONTEXT]
        # a lone "▁" before an unknown word carries the offsets of that word's first character only
        context_offsets = [
            o for o, after in zip(context_offsets, context_offsets[1:] + [[math.inf] * 2]) if after[0] >= o[1]
        ]
        starts_by_example.setdefault(example_index, set()).update(o[0] for o in context_offsets)
        ends_by_example.setdefault(example_index, set()).update(o[1] for o in context_offsets)
    # gold spans longer than 30 tokens (common with a character-level vocabulary) are never predicted
    short = {
        i
        for i, s, e in zip(features["example_index"], features["start_positions"], features["end_positions"])
        if s != CLS_INDEX and e - s + 1 <= MAX_ANSWER_TOKENS
    }
    assert len(short) >= 40
    aligned = 0
    for index, (example, prediction) in enumerate(zip(examples, predictions)):
        if index not in short:
            continue
        answer, start = example["answers"]["text"][0], example["answers"]["answer_start"][0]
        assert answer in prediction.text and prediction.text in example["context"]
        if start in starts_by_example[index] and start + len(answer) in ends_by_example[index]:
            aligned += 1
            assert prediction.text == answer
    assert aligned >= 10


def test_blanked_xtreme_test_file_is_bad_input(tmp_path):
    write_squad(tmp_path / "xquad.de.json", [("Kontext.", "Was?", None)])
    with pytest.raises(BadInput, match="xquad.de.json.*no gold answer"):
        get_task("xquad").read_local(tmp_path, "test", "de")


def test_tydiqa_layouts(tmp_path):
    """Official combined train file (filtered on the id prefix) and per-language dev files."""
    rows = [("Paris is big.", "What?", "Paris", "english-1"), ("Helsinki on iso.", "Mikä?", "Helsinki", "finnish-2")]
    write_squad(tmp_path / "tydiqa-goldp-v1.1-train.json", rows)
    write_squad(tmp_path / "tydiqa-goldp-v1.1-dev" / "tydiqa-goldp-dev-finnish.json", rows[1:])
    task = get_task("tydiqa")
    assert [e["id"] for e in task.read_local(tmp_path, "train", "en")] == ["english-1"]
    assert [e["id"] for e in task.read_local(tmp_path, "test", "fi")] == ["finnish-2"]
    with pytest.raises(MissingSplit):
        task.read_local(tmp_path, "test", "sw")


def test_tydiqa_hub_rows_are_kept_per_language():
    hub = get_task("tydiqa").hub
    row = {
        "id": "korean-7",
        "title": "t",
        "context": "c",
        "question": "q",
        "answers": {"text": ["c"], "answer_start": [0]},
    }
    assert hub.config("ko") == "secondary_task" and hub.to_example(row)["id"] == "korean-7"
    assert hub.config("en") == "secondary_task" and hub.to_example(row) is None


def test_squad_folders(tmp_path):
    write_squad(tmp_path / "train-v2.0.json", [("The cat sat.", "Who?", "The cat"), ("The cat sat.", "Why?", None)])
    task = get_task("squad_v2")
    examples = task.read_local(tmp_path, "train", "en")
    assert [e["answers"]["text"] for e in examples] == [["The cat"], []]
    with pytest.raises(MissingSplit):
        task.read_local(tmp_path, "dev", "en")
    with pytest.raises(MissingSplit):
        task.read_local(tmp_path, "train", "de")


# --- training answers: located, skipped and counted, or refused ----------------------------------


def shift_answers(path, question_ids, by: int) -> None:
    """Move the first answer of ``question_ids`` by ``by`` characters in a SQuAD file, as offsets
    computed on other texts (another normalisation, a translation) would be."""
    document = json.loads(path.read_text(encoding="utf-8"))
    for article in document["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                if qa["id"] in question_ids:
                    qa["answers"][0]["answer_start"] += by
    path.write_text(json.dumps(document), encoding="utf-8")


def test_training_skips_and_counts_the_questions_whose_answer_is_not_at_its_offset(tmp_path, capsys):
    """As XTREME's preprocessing does ("Could not find answer"), and said once per file; evaluation
    scores answer texts only, so a dev file keeps every question."""
    rows = TINY_QA["en"] * 2  # q0..q5
    for split in ("train", "dev"):
        shift_answers(write_squad(tmp_path / f"{split}-v1.1.json", rows), {"q1", "q4"}, by=1)
    task = get_task("squad_v1")
    with collecting_notes() as notes:
        examples = task.read_local(tmp_path, "train", "en")
    assert [e["id"] for e in examples] == ["q0", "q2", "q3", "q5"]
    assert notes == [
        f"{tmp_path / 'train-v1.1.json'}: skipped 2 of 6 training questions with no answer at the answer_start "
        "given (first: question 'q1')"
    ]
    assert len(task.read_local(tmp_path, "dev", "en")) == 6
    # read where nothing collects the notes: the count goes to stderr, never unsaid
    task.read_local(tmp_path, "train", "en")
    assert "note: " in capsys.readouterr().err


def test_an_empty_or_missing_answer_cannot_be_trained_on_where_every_question_has_one(tmp_path):
    rows = [("The cat sat.", "Who?", "The cat")] * 3 + [("The cat sat.", "Why?", None)]
    write_squad(tmp_path / "train-v1.1.json", rows)
    document = json.loads((tmp_path / "train-v1.1.json").read_text())
    document["data"][0]["paragraphs"][1]["qas"][0]["answers"][0]["text"] = ""
    (tmp_path / "train-v1.1.json").write_text(json.dumps(document))
    with collecting_notes() as notes:
        assert [e["id"] for e in get_task("squad_v1").read_local(tmp_path, "train", "en")] == ["q0", "q2"]
    assert "skipped 2 of 4 training questions" in notes[0] and "(first: question 'q1')" in notes[0]
    # SQuAD v2.0 trains its unanswerable questions on the no-answer position
    write_squad(tmp_path / "train-v2.0.json", rows, version="2.0")
    with collecting_notes() as notes:
        assert len(get_task("squad_v2").read_local(tmp_path, "train", "en")) == 4
    assert notes == []


def test_most_answers_not_at_their_offsets_is_a_bad_file(tmp_path):
    shift_answers(write_squad(tmp_path / "train-v1.1.json", TINY_QA["en"]), {"q0", "q2"}, by=2)
    with pytest.raises(
        BadInput, match=r"train-v1.1.json: 2 of 3 training questions with no answer at the answer_start"
    ):
        get_task("squad_v1").read_local(tmp_path, "train", "en")


@pytest.mark.parametrize(
    "by, message",
    [
        (-100, r"question 'q1': answer_start -86 is outside the context \(38 characters\)"),
        (100, r"question 'q1': answer_start 114 is outside the context \(38 characters\)"),
        (
            20,
            r"question 'q1': the answer 'Berlin' at answer_start 34 runs past the end of the context \(38 characters\)",
        ),
    ],
)
def test_an_answer_outside_its_context_is_a_bad_line_naming_the_question(tmp_path, by, message):
    shift_answers(write_squad(tmp_path / "train-v1.1.json", TINY_QA["en"]), {"q1"}, by=by)
    with pytest.raises(BadInput, match=f"train-v1.1.json: {message}"):
        get_task("squad_v1").read_local(tmp_path, "train", "en")


def test_tydiqa_training_skips_and_counts_too(tmp_path):
    rows = [("Paris is big.", "What?", "Paris", f"english-{n}") for n in range(3)]
    shift_answers(write_squad(tmp_path / "tydiqa-goldp-v1.1-train.json", rows), {"english-1"}, by=1)
    with collecting_notes() as notes:
        assert [e["id"] for e in get_task("tydiqa").read_local(tmp_path, "train", "en")] == ["english-0", "english-2"]
    assert "skipped 1 of 3 training questions" in notes[0]


# --- end to end ----------------------------------------------------------------------------------


def test_squad_to_xquad_pipeline_writes_f1_and_exact_match(tmp_path, tiny_model, capsys):
    # one training answer not where its offset says: skipped, and said before training and by each stage
    # that trains on it (the target stage trains XQuAD on SQuAD v1.1)
    shift_answers(write_squad(tmp_path / "squad" / "train-v1.1.json", TINY_QA["en"] * 3), {"q4"}, by=1)
    write_squad(tmp_path / "squad" / "dev-v1.1.json", TINY_QA["en"])
    for language, rows in TINY_QA.items():
        write_squad(tmp_path / "xquad" / f"xquad.{language}.json", rows)
    training = dict(learning_rate=1e-3, batch_size=4, max_steps=2, validate_every=1)
    config = {
        "name": "tiny_qa",
        "model": str(tiny_model),
        "seed": 1,
        "data": {"squad_v1": str(tmp_path / "squad"), "xquad": str(tmp_path / "xquad")},
        "stages": [
            dict(kind="intermediate", tasks=["squad_v1"], **training),
            dict(kind="target", task="xquad", **training),
            dict(kind="evaluate", task="xquad"),
        ],
    }
    (tmp_path / "tiny_qa.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    code, stdout, stderr = run_cli(["run", tmp_path / "tiny_qa.yaml", "--output-dir", tmp_path / "out"], capsys)
    assert code == 0, stderr
    skipped = "train-v1.1.json: skipped 1 of 9 training questions with no answer at the answer_start given"
    assert [line.split(": ", 1)[0] for line in stdout.splitlines() if skipped in line] == [
        "data",
        "  squad_v1",
        "  xquad",
    ]
    with open(tmp_path / "out" / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["split"], r["language"], r["metric"]) for r in rows} == {
        ("test", language, metric) for language in TINY_QA for metric in ("f1", "exact_match")
    }
    assert {(r["intermediate"], r["target"]) for r in rows} == {("squad_v1", "xquad")}
    assert all(0 <= float(r["value"]) <= 100 for r in rows)
    (intermediate,) = (tmp_path / "out").glob("intermediate-*")
    history = json.loads((intermediate / "metrics.json").read_text())["training"]["validations"]
    assert history and set(history[0]["tasks"]["squad_v1"]) == {"f1", "exact_match"}
    assert "xquad (test)" in stdout
