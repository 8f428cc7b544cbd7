"""`stilts score` on real dev files: gold as predictions gives 100; perturbed predictions give the
numbers worked out in the comments; bad prediction files exit 2 with one line naming file and line."""

import json

import pytest

from stilts.cli import main
from stilts.data.readers.pairs import read_pawsx
from stilts.data.readers.qa import read_squad
from stilts.data.readers.tagging import read_conllu_upos, read_panx

approx = pytest.approx


def stilts_score(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(["score", *[str(a) for a in args]])
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def scored(capsys, *args) -> dict:
    code, out, err = stilts_score(capsys, *args)
    assert code == 0, err
    assert len(out.strip().splitlines()) == 1  # one JSON object
    return json.loads(out)


def bad_input(capsys, *args) -> str:
    code, out, err = stilts_score(capsys, *args)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    return err


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def write_json(tmp_path, name, data):
    return write(tmp_path, name, json.dumps(data, ensure_ascii=False))


# ----------------------------------------------------------------------------- QA


def test_xquad_gold_answers_score_100(shared_data, tmp_path, capsys):
    gold = shared_data / "xquad" / "xquad.de.json"
    answers = {e["id"]: e["answers"]["text"][0] for e in read_squad(gold)}
    predictions = write_json(tmp_path, "pred.json", answers)
    assert scored(capsys, "--task", "xquad", "--language", "de", "--gold", gold, "--predictions", predictions) == {
        "exact_match": 100.0,
        "f1": 100.0,
        "count": 1190,
    }


def test_xquad_perturbed(shared_data, tmp_path, capsys):
    gold = shared_data / "xquad" / "xquad.en.json"
    examples = read_squad(gold)
    predictions = {e["id"]: e["answers"]["text"][0] for e in examples}
    assert examples[0]["answers"]["text"] == ["308"]
    predictions[examples[0]["id"]] = "308 points"  # EM 0; F1: P 1/2, R 1 -> 2/3
    for example in examples[1:11]:
        predictions[example["id"]] = "zzz"  # 10 wrong: EM 0, F1 0
    del predictions[examples[11]["id"]]  # unanswered: 0, with a warning
    code, out, err = stilts_score(
        capsys,
        "--task",
        "xquad",
        "--language",
        "en",
        "--gold",
        gold,
        "--predictions",
        write_json(tmp_path, "pred.json", predictions),
    )
    assert code == 0 and "1 of 1190 questions have no prediction" in err
    result = json.loads(out)
    assert result["exact_match"] == approx(100 * (1190 - 12) / 1190)
    assert result["f1"] == approx(100 * (1190 - 12 + 2 / 3) / 1190)
    assert result["unanswered"] == 1


def test_mlqa_zh_perturbed_uses_character_tokens(shared_data, tmp_path, capsys):
    gold = shared_data / "mlqa" / "MLQA_V1" / "dev" / "dev-context-zh-question-zh.json"
    examples = read_squad(gold)
    predictions = {e["id"]: e["answers"]["text"][0] for e in examples}
    assert (
        scored(
            capsys,
            "--task",
            "mlqa",
            "--language",
            "zh",
            "--gold",
            gold,
            "--predictions",
            write_json(tmp_path, "gold.json", predictions),
        )["f1"]
        == 100.0
    )
    assert examples[1]["answers"]["text"] == ["伊斯兰教"]
    assert examples[4]["answers"]["text"] == ["BFG 9000和电锯"]
    predictions[examples[1]["id"]] = "伊斯兰教徒"  # 5 characters vs 4: P 4/5, R 1 -> F1 8/9
    predictions[examples[4]["id"]] = "BFG 9000"  # [bfg, 9000] vs [bfg, 9000, 和, 电, 锯]: F1 4/7
    result = scored(
        capsys,
        "--task",
        "mlqa",
        "--language",
        "zh",
        "--gold",
        gold,
        "--predictions",
        write_json(tmp_path, "pred.json", predictions),
    )
    assert result["exact_match"] == approx(100 * 502 / 504)
    assert result["f1"] == approx(100 * (502 + 8 / 9 + 4 / 7) / 504)


def test_tydiqa_gold_answers_score_100(shared_data, tmp_path, capsys):
    gold = shared_data / "tydiqa" / "tydiqa-goldp-v1.1-train" / "tydiqa.goldp.en.train.json"
    examples = read_squad(gold)[:50]  # XTREME's per-language ids repeat over the whole file
    small = write_json(
        tmp_path,
        "tydiqa.json",
        {
            "version": "1.1",
            "data": [
                {
                    "title": "",
                    "paragraphs": [
                        {
                            "context": e["context"],
                            "qas": [
                                {
                                    "id": f"english-{i}",
                                    "question": e["question"],
                                    "answers": [
                                        {"text": t, "answer_start": s}
                                        for t, s in zip(e["answers"]["text"], e["answers"]["answer_start"])
                                    ],
                                }
                            ],
                        }
                        for i, e in enumerate(examples)
                    ],
                }
            ],
        },
    )
    predictions = write_json(
        tmp_path, "pred.json", {f"english-{i}": e["answers"]["text"][0] for i, e in enumerate(examples)}
    )
    assert scored(capsys, "--task", "tydiqa", "--language", "en", "--gold", small, "--predictions", predictions) == {
        "exact_match": 100.0,
        "f1": 100.0,
        "count": 50,
    }


def test_squad_v2_with_no_answer_probabilities(tmp_path, capsys):
    qas = [
        {"id": "a", "question": "?", "answers": [{"text": "Paris", "answer_start": 0}]},
        {"id": "b", "question": "?", "answers": [], "is_impossible": True},
        {"id": "c", "question": "?", "answers": [{"text": "blue sky", "answer_start": 10}]},
        {"id": "d", "question": "?", "answers": [], "is_impossible": True},
    ]
    gold = write_json(
        tmp_path,
        "dev-v2.0.json",
        {
            "version": "v2.0",
            "data": [{"title": "T", "paragraphs": [{"context": "Paris is a blue sky city.", "qas": qas}]}],
        },
    )
    predictions = write_json(tmp_path, "pred.json", {"a": "paris", "b": "", "c": "sky", "d": "something"})
    na_probs = write_json(tmp_path, "na.json", {"a": 0.1, "b": 0.9, "c": 0.4, "d": 0.6})
    result = scored(
        capsys,
        "--task",
        "squad_v2",
        "--language",
        "en",
        "--gold",
        gold,
        "--predictions",
        predictions,
        "--na-probs",
        na_probs,
    )
    # worked out in tests/test_metrics.py::test_squad_v2_*
    assert result["exact_match"] == approx(50.0)
    assert result["has_ans_f1"] == approx(100 * (1 + 2 / 3) / 2)
    assert result["best_f1"] == approx(100 * (3 + 2 / 3) / 4)
    assert result["best_f1_threshold"] == approx(0.4)
    result = scored(
        capsys,
        "--task",
        "squad_v2",
        "--language",
        "en",
        "--gold",
        gold,
        "--predictions",
        predictions,
        "--na-probs",
        na_probs,
        "--threshold",
        "0.5",
    )
    assert result["exact_match"] == approx(75.0)


def squad_file(tmp_path, name, questions):
    """A one-paragraph SQuAD JSON of {question id: [gold answers]} ([] = unanswerable)."""
    context = "Paris is a blue sky city."
    qas = [
        {
            "id": question_id,
            "question": "?",
            "is_impossible": not answers,
            "answers": [{"text": a, "answer_start": context.find(a)} for a in answers],
        }
        for question_id, answers in questions.items()
    ]
    return write_json(
        tmp_path, name, {"version": "v2.0", "data": [{"title": "T", "paragraphs": [{"context": context, "qas": qas}]}]}
    )


def test_squad_v2_best_threshold_ties_follow_the_na_prob_file_order(tmp_path, capsys):
    # evaluate-v2.0.py walks sorted(na_probs, key=na_probs.get): ties keep the probability file's order
    gold = squad_file(tmp_path, "dev-v2.0.json", {"answerable": ["Paris"], "unanswerable": []})
    predictions = write_json(tmp_path, "pred.json", {"answerable": "Paris", "unanswerable": "London"})
    na_probs = write(tmp_path, "na.json", '{"unanswerable": 0.5, "answerable": 0.5}')
    result = scored(
        capsys,
        "--task",
        "squad_v2",
        "--language",
        "en",
        "--gold",
        gold,
        "--predictions",
        predictions,
        "--na-probs",
        na_probs,
    )
    assert result["best_exact_match"] == approx(50.0) and result["best_exact_match_threshold"] == 0.0
    assert result["best_f1"] == approx(50.0) and result["best_f1_threshold"] == 0.0


def test_prediction_ids_not_in_the_gold_are_ignored_with_one_line(tmp_path, capsys):
    """As every official script: predictions for other ids are skipped, not an error."""
    gold = squad_file(tmp_path, "gold.json", {"q1": ["Paris"], "q2": ["blue sky"]})
    predictions = write_json(tmp_path, "pred.json", {"q1": "Paris", "other": "x", "q2": "sky", "more": "y"})
    code, out, err = stilts_score(
        capsys, "--task", "xquad", "--language", "en", "--gold", gold, "--predictions", predictions
    )
    assert code == 0, err
    assert json.loads(out) == {"exact_match": 50.0, "f1": approx(100 * (1 + 2 / 3) / 2), "count": 2, "ignored": 2}
    assert err.strip().splitlines() == [
        f"warning: {predictions}: ignored 2 of its question ids: not gold questions (--language en)"
    ]
    strangers = write_json(tmp_path, "strangers.json", {"other": "x"})
    assert (
        "strangers.json: line 1: none of its 1 question ids is a gold question (--language en), e.g. 'other'"
        in bad_input(capsys, "--task", "xquad", "--language", "en", "--gold", gold, "--predictions", strangers)
    )


def test_combined_tydiqa_gold_scores_one_language(tmp_path, capsys):
    gold = squad_file(
        tmp_path,
        "tydiqa-goldp-v1.1-dev.json",
        {"english-1": ["Paris"], "korean-2": ["Paris"], "korean-3": ["blue sky"]},
    )
    predictions = write_json(tmp_path, "pred.json", {"english-1": "x", "korean-2": "Paris", "korean-3": "blue sky"})
    code, out, err = stilts_score(
        capsys, "--task", "tydiqa", "--language", "ko", "--gold", gold, "--predictions", predictions
    )
    assert code == 0, err
    assert json.loads(out) == {"exact_match": 100.0, "f1": 100.0, "count": 2, "ignored": 1}
    assert "ignored 1 of its question ids: not gold questions (--language ko)" in err


def test_squad_v2_ignores_extra_no_answer_probabilities(tmp_path, capsys):
    gold = squad_file(tmp_path, "dev-v2.0.json", {"a": ["Paris"], "b": []})
    predictions = write_json(tmp_path, "pred.json", {"a": "Paris", "b": ""})
    args = ["--task", "squad_v2", "--language", "en", "--gold", gold, "--predictions", predictions, "--na-probs"]
    plain = scored(capsys, *args, write_json(tmp_path, "na.json", {"a": 0.2, "b": 0.7}))
    extra = write_json(tmp_path, "extra.json", {"zz": 0.0, "a": 0.2, "b": 0.7})
    code, out, err = stilts_score(capsys, *args, extra)
    assert code == 0, err
    assert json.loads(out) == {**plain, "na_probs_ignored": 1}
    assert err.strip().splitlines() == [
        f"warning: {extra}: ignored 1 of its question ids: not gold questions (--language en)"
    ]
    assert "strange.json: line 1: none of its 1 question ids is a gold question (--language en)" in bad_input(
        capsys, *args, write_json(tmp_path, "strange.json", {"zz": 0.0})
    )


# ----------------------------------------------------------------------------- classification


def test_xnli_gold_labels_and_perturbed(shared_data, tmp_path, capsys):
    gold = shared_data / "xnli" / "dev-en.tsv"
    labels = [line.rstrip("\n").split("\t")[2] for line in gold.open(encoding="utf-8")]
    assert len(labels) == 2490
    args = ["--task", "xnli", "--language", "en", "--gold", gold, "--predictions"]
    assert scored(capsys, *args, write(tmp_path, "p.txt", "\n".join(labels) + "\n")) == {
        "accuracy": 100.0,
        "count": 2490,
    }
    flip = {"entailment": "neutral", "neutral": "contradiction", "contradiction": "entailment"}
    perturbed = [flip[label] for label in labels[:249]] + labels[249:]  # 249 of 2490 wrong: 90.0
    assert scored(capsys, *args, write(tmp_path, "q.txt", "\n".join(perturbed)))["accuracy"] == approx(90.0)


def test_pawsx_original_test_file(shared_data, tmp_path, capsys):
    gold = shared_data / "pawsx" / "tsv_files" / "test-de.tsv"
    labels = [e["label"] for e in read_pawsx(gold)]
    perturbed = [("1" if label == "0" else "0") for label in labels[:500]] + labels[500:]  # 75.0
    result = scored(
        capsys,
        "--task",
        "pawsx",
        "--language",
        "de",
        "--gold",
        gold,
        "--predictions",
        write(tmp_path, "p.txt", "\n".join(perturbed) + "\n"),
    )
    assert result == {"accuracy": approx(75.0), "count": 2000}


# ----------------------------------------------------------------------------- tagging


def tag_file(tmp_path, name, sentences):
    return write(tmp_path, name, "".join("\n".join(tags) + "\n\n" for tags in sentences))


def test_udpos_conllu_gold_tags_score_100(shared_data, tmp_path, capsys):
    gold = shared_data / "ud" / "UD_French-GSD" / "fr_gsd-ud-test.conllu"
    sentences = [s["tags"] for s in read_conllu_upos(gold)]
    result = scored(
        capsys,
        "--task",
        "udpos",
        "--language",
        "fr",
        "--gold",
        gold,
        "--predictions",
        tag_file(tmp_path, "p.txt", sentences),
    )
    assert result == {"precision": 100.0, "recall": 100.0, "f1": 100.0, "accuracy": 100.0, "count": 416}


def test_panx_real_dev_and_hand_computed(shared_data, tmp_path, capsys):
    gold = shared_data / "panx" / "dev-sw.tsv"
    sentences = [s["tags"] for s in read_panx(gold)]
    assert (
        scored(
            capsys,
            "--task",
            "panx",
            "--language",
            "sw",
            "--gold",
            gold,
            "--predictions",
            tag_file(tmp_path, "p.txt", sentences),
        )["f1"]
        == 100.0
    )
    small = write(tmp_path, "dev-de.tsv", "Angela\tB-PER\nMerkel\tI-PER\nin\tO\nBerlin\tB-LOC\n\nDie\tO\nUNO\tB-ORG\n")
    # gold PER LOC ORG; predicted PER (right), ORG at Berlin (wrong), nothing for UNO:
    # P 1/2, R 1/3, F1 2 * 1/6 / (5/6) = 0.4
    predictions = tag_file(tmp_path, "q.txt", [["B-PER", "I-PER", "O", "B-ORG"], ["O", "O"]])
    result = scored(capsys, "--task", "panx", "--language", "de", "--gold", small, "--predictions", predictions)
    assert result == {"precision": approx(50.0), "recall": approx(100 / 3), "f1": approx(40.0), "count": 2}


# ----------------------------------------------------------------------------- retrieval


def test_tatoeba_identity_and_perturbed(shared_data, tmp_path, capsys):
    gold = shared_data / "tatoeba" / "tatoeba.deu-eng.deu"
    args = ["--task", "tatoeba", "--language", "de", "--gold", gold, "--predictions"]
    identity = write(tmp_path, "p.txt", "".join(f"{i}\n" for i in range(1000)))
    assert scored(capsys, *args, identity) == {"accuracy": 100.0, "count": 1000}
    shifted = write(tmp_path, "q.txt", "".join(f"{(i + 1) if i < 100 else i}\n" for i in range(1000)))
    assert scored(capsys, *args, shifted)["accuracy"] == approx(90.0)  # first 100 wrong
    assert "this is de data, but --language is fr" in bad_input(
        capsys, "--task", "tatoeba", "--language", "fr", "--gold", gold, "--predictions", identity
    )


def test_bucc_threshold_search_and_given_threshold(shared_data, tmp_path, capsys):
    gold_file = shared_data / "bucc2018" / "zh-en.dev.gold"
    gold = [line.split() for line in gold_file.read_text(encoding="utf-8").splitlines()]
    gold_targets = {en for _, en in gold}
    distractors = [f"en-{n:09d}" for n in range(1, 200) if f"en-{n:09d}" not in gold_targets][:100]
    lines = [f"{zh}\t{en}\t2.0" for zh, en in gold] + [f"{gold[0][0]}\t{en}\t1.0" for en in distractors]
    candidates = write(tmp_path, "candidates.tsv", "\n".join(lines) + "\n")
    args = ["--task", "bucc", "--language", "zh", "--gold", gold_file, "--predictions", candidates]
    # best F1 after the 257 gold pairs: threshold halfway to the distractors' 1.0
    assert scored(capsys, *args) == {"precision": 100.0, "recall": 100.0, "f1": 100.0, "threshold": 1.5, "count": 257}
    # at 0.5 all 357 candidates are mined: P 257/357, R 1, F1 = 2 * 257 / (357 + 257)
    result = scored(capsys, *args, "--threshold", "0.5")
    assert result["precision"] == approx(100 * 257 / 357)
    assert result["f1"] == approx(100 * 514 / 614)
    assert result["threshold"] == 0.5
    unknown = write(tmp_path, "unknown.tsv", "zh-000000057\ten-999999999\t1.0\n")
    assert "unknown.tsv: line 1: unknown target id 'en-999999999'" in bad_input(
        capsys, "--task", "bucc", "--language", "zh", "--gold", gold_file, "--predictions", unknown
    )


def tatoeba_gold(tmp_path, count=3):
    (tmp_path / "tatoeba.deu-eng.deu").write_text("".join(f"Satz {i}.\n" for i in range(count)), encoding="utf-8")
    (tmp_path / "tatoeba.deu-eng.eng").write_text("".join(f"Sentence {i}.\n" for i in range(count)), encoding="utf-8")
    return tmp_path / "tatoeba.deu-eng.deu"


@pytest.mark.parametrize("line", ["\u00b2", "\uff10", "00", "01", "+1", "-1", "1.0", "[1]"])
def test_tatoeba_index_is_ascii_digits_without_leading_zeros(tmp_path, capsys, line):
    """XTREME's evaluate.py compares the stripped text of each line with the gold index's text, so
    only the plain decimal form can ever match; any other spelling is refused, naming file and line."""
    predictions = write(tmp_path, "p.txt", f"0\n1\n{line}\n")
    err = bad_input(
        capsys, "--task", "tatoeba", "--language", "de", "--gold", tatoeba_gold(tmp_path), "--predictions", predictions
    )
    assert err.startswith(f"error: {predictions}: line 3: ")


def test_tatoeba_lines_are_english_sentences_holding_non_english_indices(tmp_path, capsys):
    gold = tatoeba_gold(tmp_path)
    args = ["--task", "tatoeba", "--language", "de", "--gold", gold, "--predictions"]
    assert scored(capsys, *args, write(tmp_path, "p.txt", " 0 \n2\n2\n")) == {"accuracy": approx(200 / 3), "count": 3}
    assert "p.txt: line 2: index 3 is past the last line of tatoeba.deu-eng.deu (2)" in bad_input(
        capsys, *args, write(tmp_path, "p.txt", "0\n3\n2\n")
    )
    code, out, _ = stilts_score(capsys, "--help")
    assert code == 0
    assert (
        "tatoeba: one line per English sentence, the 0-based index of the non-English sentence it retrieves"
    ) in " ".join(out.split())


def test_tatoeba_pipeline_predictions_score_the_same(tmp_path, capsys):
    """What the evaluate stage predicts (SentenceRetrieval.predict), written one per line, is what
    `stilts score` reads: same accuracy."""
    import numpy as np

    from stilts.core.catalog import get_task
    from stilts.data.loading import load_examples
    from stilts.formats.retrieval import RETRIEVAL
    from stilts.testing import write_tatoeba

    folder = write_tatoeba(tmp_path / "tatoeba")
    task = get_task("tatoeba")
    examples = load_examples(task, "test", "de", {"tatoeba": str(folder)})
    count = len(examples)
    # English 1 is closest to non-English 0 (wrong); non-English 1 is still closest to English 1, so
    # the other direction would score differently
    source = np.eye(count, dtype=np.float32)
    english = np.eye(count, dtype=np.float32)
    english[1] = [1.0, 0.9] + [0.0] * (count - 2)
    features = {"side": [0] * count + [1] * count, "example_index": list(range(count)) * 2}
    predicted = RETRIEVAL.predict(list(source) + list(english), features, examples, task)
    assert predicted[1] == 0
    expected = RETRIEVAL.score(predicted, examples, task, "de")
    predictions = write(tmp_path, "p.txt", "".join(f"{p}\n" for p in predicted))
    result = scored(
        capsys,
        "--task",
        "tatoeba",
        "--language",
        "de",
        "--gold",
        folder / "tatoeba.deu-eng.eng",
        "--predictions",
        predictions,
    )
    assert result == {**expected, "count": count} and expected["accuracy"] == approx(100 * (count - 1) / count)


def bucc_files(tmp_path, sources, english, gold):
    for name, rows in (("de-en.dev.de", sources), ("de-en.dev.en", english)):
        write(tmp_path, name, "".join(f"{i}\t{text}\n" for i, text in rows.items()))
    return write(tmp_path, "de-en.dev.gold", "".join(f"{s}\t{e}\n" for s, e in gold))


def test_bucc_drops_candidates_of_repeated_sentences(tmp_path, capsys):
    """XTREME maps candidates to ids through the sentence text (read_sent2id) and a sentence occurring
    twice on its side (after stripping) has no id: its candidates are dropped, as the pipeline does."""
    gold = bucc_files(
        tmp_path,
        {"de-1": "eins", "de-2": "zwei", "de-3": "zwei ", "de-4": "vier"},
        {"en-1": "one", "en-2": "two", "en-4": "four", "en-5": "four"},
        [("de-1", "en-1"), ("de-2", "en-2"), ("de-4", "en-4")],
    )
    candidates = write(
        tmp_path, "c.tsv", "de-1\ten-1\t2.0\nde-2\ten-2\t1.9\nde-3\ten-2\t1.8\nde-4\ten-4\t1.7\nde-1\ten-5\t0.5\n"
    )
    # left: de-1/en-1 only (de-2, de-3 share a sentence; en-4, en-5 too): P 1, R 1/3, F1 1/2
    assert scored(capsys, "--task", "bucc", "--language", "de", "--gold", gold, "--predictions", candidates) == {
        "precision": 100.0,
        "recall": approx(100 / 3),
        "f1": approx(50.0),
        "threshold": 2.0,
        "count": 3,
    }
    code, out, _ = stilts_score(capsys, "--help")
    assert code == 0 and "a sentence that occurs twice on its side" in " ".join(out.split())


def test_bucc_score_and_pipeline_agree_on_the_real_zh_files(shared_data, tmp_path, capsys):
    """An id-based miner that embeds each distinct sentence once (as the pipeline does) writes every
    mined pair under the first id of its sentences; `stilts score` drops the pairs of sentences that
    occur twice and so finds the pipeline's F1 (zh-en dev has 9 repeated zh and 14 repeated en)."""
    from collections import Counter

    import numpy as np

    from stilts.core.catalog import get_task
    from stilts.data.loading import load_examples
    from stilts.formats.retrieval import BITEXT_MINING, mine_candidates

    task = get_task("bucc")
    examples = load_examples(task, "dev", "zh", {"bucc": str(shared_data / "bucc2018")})
    rng = np.random.default_rng(0)
    by_text = {}  # one vector per distinct sentence, as an encoder gives
    for example in examples:
        by_text.setdefault((example["side"], example["text"]), rng.normal(size=64).astype(np.float32))
    english_text = {e["id"]: e["text"] for e in examples if e["side"] == "english"}
    for example in examples:  # gold pairs close, not identical: an imperfect miner
        for english_id in example["gold"]:
            by_text[("english", english_text[english_id])] = by_text[("source", example["text"])] + rng.normal(
                scale=0.9, size=64
            ).astype(np.float32)
    # short repeated sentences get near-identical vectors across languages: repeated zh sentence k
    # lies next to repeated en sentence k, closer than any gold pair, so the pair is mined
    counts = {side: Counter(e["text"].strip() for e in examples if e["side"] == side) for side in ("source", "english")}
    repeated = {side: sorted(t for t, n in counts[side].items() if n > 1) for side in counts}
    anchors = rng.normal(size=(len(repeated["english"]), 64)).astype(np.float32)
    for side, scale in (("source", 0.0), ("english", 0.1)):
        for example in examples:
            if example["side"] == side and example["text"].strip() in repeated[side]:
                k = repeated[side].index(example["text"].strip())
                by_text[(side, example["text"])] = anchors[k] + rng.normal(scale=scale, size=64).astype(np.float32)
    vectors = [by_text[(e["side"], e["text"])] for e in examples]
    rows = {side: {} for side in ("source", "english")}  # distinct text -> first id
    for example in examples:
        rows[example["side"]].setdefault(example["text"], example["id"])
    ids = {side: list(texts.values()) for side, texts in rows.items()}
    mined = mine_candidates(
        np.stack([by_text[("source", t)] for t in rows["source"]]),
        np.stack([by_text[("english", t)] for t in rows["english"]]),
    )
    lines = [f"{ids['source'][i]}\t{ids['english'][j]}\t{score!r}" for i, j, score in mined]
    candidates = write(tmp_path, "candidates.tsv", "\n".join(lines) + "\n")
    pipeline = BITEXT_MINING.score(vectors, examples, task, "zh")
    result = scored(
        capsys,
        "--task",
        "bucc",
        "--language",
        "zh",
        "--gold",
        shared_data / "bucc2018" / "zh-en.dev.gold",
        "--predictions",
        candidates,
    )
    assert 0 < pipeline["f1"] < 100
    assert (result["f1"], result["precision"], result["recall"]) == (
        approx(pipeline["f1"]),
        approx(pipeline["precision"]),
        approx(pipeline["recall"]),
    )


# ----------------------------------------------------------------------------- bad input


def test_wrong_prediction_count_exits_2(shared_data, tmp_path, capsys):
    gold = shared_data / "pawsx" / "dev-en.tsv"
    short = write(tmp_path, "short.txt", "1\n" * 1999)
    assert "short.txt: line 2000: the file ends after 1999 predictions; the gold file has 2000" in bad_input(
        capsys, "--task", "pawsx", "--language", "en", "--gold", gold, "--predictions", short
    )
    long = write(tmp_path, "long.txt", "1\n" * 2001)
    assert "long.txt: line 2001: more predictions" in bad_input(
        capsys, "--task", "pawsx", "--language", "en", "--gold", gold, "--predictions", long
    )
    labels = write(tmp_path, "labels.txt", "1\n" * 5 + "yes\n" + "1\n" * 1994)
    assert "labels.txt: line 6: unknown label 'yes'" in bad_input(
        capsys, "--task", "pawsx", "--language", "en", "--gold", gold, "--predictions", labels
    )


def test_bad_qa_predictions_exit_2(shared_data, tmp_path, capsys):
    gold = shared_data / "xquad" / "xquad.en.json"
    args = ["--task", "xquad", "--language", "en", "--gold", gold, "--predictions"]
    broken = write(tmp_path, "broken.json", '{\n"a": "x",\n}')
    assert "broken.json: line 3: invalid JSON" in bad_input(capsys, *args, broken)
    not_text = write(tmp_path, "number.json", '{"56beb4343aeaaa14008c925b": 308}')
    assert "should be a string" in bad_input(capsys, *args, not_text)


def test_bad_tag_predictions_exit_2(shared_data, tmp_path, capsys):
    gold = shared_data / "ud" / "UD_French-GSD" / "fr_gsd-ud-test.conllu"
    sentences = [s["tags"] for s in read_conllu_upos(gold)]
    args = ["--task", "udpos", "--language", "fr", "--gold", gold, "--predictions"]
    sentences[1] = sentences[1][:-1]
    predictions = tag_file(tmp_path, "p.txt", sentences)
    second_start = len(sentences[0]) + 2
    assert f"p.txt: line {second_start}: sentence 2 has" in bad_input(capsys, *args, predictions)
    assert "unknown tag 'NOUNS'" in bad_input(capsys, *args, tag_file(tmp_path, "q.txt", [["NOUNS"]]))


def test_unknown_task_language_and_files_exit_2(shared_data, tmp_path, capsys):
    gold = shared_data / "xnli" / "dev-en.tsv"
    predictions = write(tmp_path, "p.txt", "neutral\n")
    assert "unknown task 'xnlli' (did you mean 'xnli'?)" in bad_input(
        capsys, "--task", "xnlli", "--language", "en", "--gold", gold, "--predictions", predictions
    )
    assert "'eng' is not a xnli language (did you mean 'en'?)" in bad_input(
        capsys, "--task", "xnli", "--language", "eng", "--gold", gold, "--predictions", predictions
    )
    assert "missing.txt: no such file" in bad_input(
        capsys, "--task", "xnli", "--language", "en", "--gold", gold, "--predictions", tmp_path / "missing.txt"
    )
    assert "--threshold: only bucc, squad_v2 take a threshold" in bad_input(
        capsys, "--task", "xnli", "--language", "en", "--gold", gold, "--predictions", predictions, "--threshold", "0.5"
    )
