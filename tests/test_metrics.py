"""Metrics against worked examples computed by hand (the expected numbers are derived in comments)."""

import pytest

from stilts.metrics import mlqa, squad, squad_v2
from stilts.metrics.retrieval import bucc_extract, bucc_optimize, bucc_scores, tatoeba_accuracy
from stilts.metrics.tagging import ner_scores, pos_scores, to_seqeval_0_0_tags, token_accuracy

approx = pytest.approx


# ----------------------------------------------------------------------------- SQuAD v1.1


def test_squad_normalize_answer():
    assert squad.normalize_answer("The  Quick, brown fox!") == "quick brown fox"
    assert squad.normalize_answer("an apple-pie") == "applepie"  # '-' is punctuation, deleted
    # only ASCII punctuation: the Spanish inverted question mark stays
    assert squad.normalize_answer("¿Qué?") == "¿qué"


def test_squad_f1_and_exact_match():
    # pred [cat, sat], gold [cat, sat, down]: P = 1, R = 2/3, F1 = 2 * (2/3) / (5/3) = 0.8
    assert squad.f1_score("cat sat", "the cat sat down") == approx(0.8)
    assert squad.exact_match_score("The Broncos.", "broncos")
    assert squad.f1_score("the", "a") == 0.0  # both normalise to nothing: no common token


def test_squad_evaluate_max_over_gold_and_missing_prediction():
    gold = {"q1": ["Denver Broncos", "Broncos"], "q2": ["1990"], "q3": ["red"]}
    predictions = {"q1": "the Broncos", "q2": "in 1990 year"}  # q3 unanswered -> 0
    # q1: EM 1 (matches "Broncos"), F1 1; q2: EM 0, F1: P 1/3, R 1 -> 0.5; q3: 0
    result = squad.evaluate(gold, predictions)
    assert result["exact_match"] == approx(100 / 3)
    assert result["f1"] == approx(100 * 1.5 / 3)


# ----------------------------------------------------------------------------- MLQA


def test_mlqa_zh_mixed_segmentation():
    # punctuation (。, category Po) removed; every CJK character is a token, other runs split on spaces
    assert mlqa.normalize_answer("北京大学。", "zh") == "北 京 大 学"
    assert mlqa.mixed_segmentation("2008年北京 奥运") == ["2008", "年", "北", "京", "奥", "运"]
    # pred 4 characters, gold 2, all gold shared: P = 1/2, R = 1, F1 = 2/3
    assert mlqa.f1_score("北京大学", "北京", "zh") == approx(2 / 3)
    # SQuAD's whitespace tokens would see one token each and score 0
    assert squad.f1_score("北京大学", "北京") == 0.0
    assert mlqa.evaluate({"q": ["北京"]}, {"q": "北京大学"}, "zh") == {"exact_match": 0.0, "f1": approx(200 / 3)}


def test_mlqa_ar_removes_every_al():
    # the script's r'\sال^|ال' removes "ال" wherever it occurs, plus Arabic punctuation (، is Po)
    assert mlqa.normalize_answer("الكتاب،", "ar") == "كتاب"
    assert mlqa.exact_match_score("الكتاب", "كتاب", "ar")
    # pred [في, كتاب, جديد] vs gold [كتاب]: P = 1/3, R = 1, F1 = 0.5
    assert mlqa.f1_score("في الكتاب الجديد", "الكتاب", "ar") == approx(0.5)


def test_mlqa_de_articles():
    assert mlqa.normalize_answer("Der Hund", "de") == "hund"
    # pred [großer, hund] vs gold [hund]: P = 1/2, R = 1, F1 = 2/3
    assert mlqa.f1_score("ein großer Hund", "der Hund", "de") == approx(2 / 3)
    # German articles are not English ones: "the" stays in German
    assert mlqa.normalize_answer("the Hund", "de") == "the hund"


def test_mlqa_vi_articles():
    assert mlqa.normalize_answer("cái bàn của tôi", "vi") == "bàn tôi"
    # pred [xe, đạp] vs gold [xe]: F1 = 2/3
    assert mlqa.f1_score("chiếc xe đạp", "những xe", "vi") == approx(2 / 3)


def test_mlqa_es_en_hi():
    assert mlqa.normalize_answer("¿Los Ángeles?", "es") == "ángeles"  # ¿ is Unicode punctuation
    assert mlqa.normalize_answer("The end", "en") == "end"
    assert mlqa.normalize_answer("भारत।", "hi") == "भारत"  # danda is punctuation; no articles
    with pytest.raises(ValueError):
        mlqa.normalize_answer("x", "fr")


# ----------------------------------------------------------------------------- SQuAD v2.0

V2_GOLD = {"a": ["Paris"], "b": [], "c": ["blue sky"], "d": []}
V2_PRED = {"a": "paris", "b": "", "c": "sky", "d": "something"}


def test_squad_v2_has_ans_no_ans_breakdown():
    # a: EM 1 F1 1; b (no answer, predicted ""): EM 1 F1 1; c: EM 0, F1 P 1 R 1/2 -> 2/3;
    # d (no answer, predicted text): EM 0 F1 0
    result = squad_v2.evaluate(V2_GOLD, V2_PRED)
    assert result["exact_match"] == approx(50.0)
    assert result["f1"] == approx(100 * (1 + 1 + 2 / 3) / 4)
    assert result["total"] == 4
    assert result["has_ans_exact_match"] == approx(50.0)
    assert result["has_ans_f1"] == approx(100 * (1 + 2 / 3) / 2)
    assert result["no_ans_exact_match"] == approx(50.0)
    assert result["no_ans_f1"] == approx(50.0)
    assert result["has_ans_total"] == result["no_ans_total"] == 2
    assert "best_f1" not in result


def test_squad_v2_best_threshold_search():
    na_probs = {"a": 0.1, "b": 0.9, "c": 0.4, "d": 0.6}
    # find_best_thresh starts from "abstain everywhere" = 2 right (b, d) and walks a, c, d, b:
    # EM: a +1 -> 3 (best, thresh 0.1); c +0; d -1 (answered wrongly); b 0 -> best 3/4 = 75 at 0.1
    # F1: a +1 -> 3 (0.1); c +2/3 -> 3.667 (best, thresh 0.4); d -1; b 0 -> best 91.67 at 0.4
    result = squad_v2.evaluate(V2_GOLD, V2_PRED, na_probs)
    assert result["best_exact_match"] == approx(75.0)
    assert result["best_exact_match_threshold"] == approx(0.1)
    assert result["best_f1"] == approx(100 * (3 + 2 / 3) / 4)
    assert result["best_f1_threshold"] == approx(0.4)
    # at na_prob_thresh 0.5, b and d (0.9, 0.6) count as abstentions: both right
    thresholded = squad_v2.evaluate(V2_GOLD, V2_PRED, na_probs, na_prob_thresh=0.5)
    assert thresholded["exact_match"] == approx(75.0)
    assert thresholded["f1"] == approx(100 * (1 + 1 + 2 / 3 + 1) / 4)


def test_squad_v2_best_threshold_ties_follow_the_probability_file_order():
    """find_best_thresh sorts the ids of the na-prob file (a stable sort of its dict order), so equal
    probabilities are walked in the file's order, not the gold file's."""
    gold = {"answerable": ["Paris"], "unanswerable": []}
    predictions = {"answerable": "Paris", "unanswerable": "London"}
    # abstaining everywhere: 1 of 2 right; the file lists "unanswerable" first: answering it -1 (0),
    # then "answerable" +1 (1): never above the start, so the best stays 50 at threshold 0.0
    na_probs = {"unanswerable": 0.5, "answerable": 0.5}
    result = squad_v2.evaluate(gold, predictions, na_probs)
    assert (result["best_exact_match"], result["best_exact_match_threshold"]) == (approx(50.0), 0.0)
    assert (result["best_f1"], result["best_f1_threshold"]) == (approx(50.0), 0.0)
    # the other file order walks "answerable" first: 2 of 2 at 0.5
    result = squad_v2.evaluate(gold, predictions, {"answerable": 0.5, "unanswerable": 0.5})
    assert (result["best_exact_match"], result["best_exact_match_threshold"]) == (approx(100.0), 0.5)


def test_squad_v2_compute_f1_empty_cases():
    assert squad_v2.compute_f1("", "") == 1.0
    assert squad_v2.compute_f1("", "x") == 0.0
    assert squad_v2.compute_exact("The", "")  # both normalise to ""
    with pytest.raises(ValueError, match="no prediction"):
        squad_v2.evaluate(V2_GOLD, {"a": "paris"})


# ----------------------------------------------------------------------------- tagging


def test_seqeval_ner_entity_f1():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    predicted = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]
    # gold entities PER(0-1) LOC(3) ORG; predicted PER(0-1) ORG(3) ORG: 2 right of 3 each way
    assert ner_scores(gold, predicted) == {
        "precision": approx(200 / 3),
        "recall": approx(200 / 3),
        "f1": approx(200 / 3),
    }
    # conlleval-like default mode: an entity starting with I- still counts
    assert ner_scores([["B-PER", "I-PER"]], [["I-PER", "I-PER"]])["f1"] == approx(100.0)
    # a span with the wrong end is wrong
    assert ner_scores([["B-PER", "I-PER", "O"]], [["B-PER", "I-PER", "I-PER"]])["f1"] == 0.0


def test_pos_scores_follow_xtreme_seqeval_chunking():
    # every tag differs from its neighbour: one chunk per token, 6 of 7 right
    gold = [["DET", "NOUN", "VERB", "ADP", "DET", "NOUN", "PUNCT"]]
    predicted = [["DET", "NOUN", "VERB", "ADP", "DET", "ADJ", "PUNCT"]]
    scores = pos_scores(gold, predicted)
    assert scores["f1"] == approx(600 / 7)
    assert scores["accuracy"] == approx(600 / 7)
    # a run of equal tags is one chunk: gold NOUN(0-1) VERB(2), predicted NOUN(0) VERB(1-2): F1 0,
    # while 2 of 3 tokens are right
    scores = pos_scores([["NOUN", "NOUN", "VERB"]], [["NOUN", "VERB", "VERB"]])
    assert scores["f1"] == 0.0
    assert scores["accuracy"] == approx(200 / 3)
    # seqeval 0.0.x (XTREME) types CCONJ and SCONJ apart; seqeval >= 1.0 on raw tags would not
    assert pos_scores([["CCONJ"]], [["SCONJ"]])["f1"] == 0.0
    assert to_seqeval_0_0_tags(["NOUN", "B-PER", "O", "X"]) == ["N-NOUN", "B-PER", "O-O", "X-X"]


def test_tagging_shape_errors():
    with pytest.raises(ValueError):
        token_accuracy([["NOUN"]], [["NOUN", "VERB"]])
    with pytest.raises(ValueError):
        ner_scores([["O"]], [])


# ----------------------------------------------------------------------------- retrieval


def test_tatoeba_top1_accuracy():
    assert tatoeba_accuracy([0, 2, 2, 3]) == approx(75.0)
    assert tatoeba_accuracy([1, 0], gold=[1, 1]) == approx(50.0)


BUCC_GOLD = {("a", "x"), ("b", "y")}
BUCC_CANDIDATES = {("a", "x"): 0.9, ("c", "z"): 0.8, ("b", "y"): 0.7, ("d", "w"): 0.6}


def test_bucc_threshold_search():
    # by score: ax (1/1 right: P 1, R 1/2, F1 2/3, thresh (0.9+0.8)/2), cz (F1 1/2),
    # by (2/3 right: P 2/3, R 1, F1 0.8 -> best, thresh (0.7+0.6)/2 = 0.65), dw (F1 2/3)
    assert bucc_optimize(BUCC_CANDIDATES, BUCC_GOLD) == approx(0.65)
    assert bucc_extract(BUCC_CANDIDATES, 0.65) == {("a", "x"), ("c", "z"), ("b", "y")}
    assert bucc_scores(BUCC_CANDIDATES, BUCC_GOLD) == {
        "precision": approx(200 / 3),
        "recall": approx(100.0),
        "f1": approx(80.0),
        "threshold": approx(0.65),
    }


def test_bucc_given_threshold_and_best_at_last_candidate():
    # at 0.75: ax, cz mined; 1 right: P 1/2, R 1/2, F1 1/2
    assert bucc_scores(BUCC_CANDIDATES, BUCC_GOLD, threshold=0.75) == {
        "precision": approx(50.0),
        "recall": approx(50.0),
        "f1": approx(50.0),
        "threshold": 0.75,
    }
    # every candidate is gold: the best F1 needs the last one, whose score becomes the threshold
    only_gold = {("a", "x"): 0.9, ("b", "y"): 0.7}
    assert bucc_optimize(only_gold, BUCC_GOLD) == approx(0.7)
    assert bucc_scores(only_gold, BUCC_GOLD)["f1"] == approx(100.0)
