"""Readers on the real release files (counts from the MANIFESTs / README) and on small malformed files."""

import collections
import json

import pytest

from stilts.core.errors import BadInput
from stilts.data.readers.multiple_choice import read_commonsenseqa, read_copa, read_cosmosqa, read_hellaswag, read_siqa
from stilts.data.readers.nli_extra import read_anli, read_snli
from stilts.data.readers.pairs import read_pawsx, read_qqp
from stilts.data.readers.qa import read_squad, read_tydiqa
from stilts.data.readers.retrieval import TATOEBA_ISO3_TO_ISO1, read_bucc, read_tatoeba, tatoeba_paths
from stilts.data.readers.tagging import PANX_TAGS, UPOS_TAGS, read_conll, read_conllu_upos, read_panx

XQUAD_LANGUAGES = "ar de el en es hi ru th tr vi zh".split()
MLQA_COUNTS = {"en": 1148, "ar": 517, "de": 512, "es": 500, "hi": 507, "vi": 511, "zh": 504}


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- QA


def test_xquad_all_languages_1190_questions(shared_data):
    ids = None
    for language in XQUAD_LANGUAGES:
        examples = read_squad(shared_data / "xquad" / f"xquad.{language}.json")
        assert len(examples) == 1190
        language_ids = [e["id"] for e in examples]
        assert ids is None or language_ids == ids  # the same questions, translated
        ids = language_ids
    first = read_squad(shared_data / "xquad" / "xquad.en.json")[0]
    assert set(first) == {"id", "title", "context", "question", "answers"}
    start, text = first["answers"]["answer_start"][0], first["answers"]["text"][0]
    assert first["context"][start : start + len(text)] == text == "308"


def test_mlqa_dev_counts(shared_data):
    for language, count in MLQA_COUNTS.items():
        path = shared_data / "mlqa" / "MLQA_V1" / "dev" / f"dev-context-{language}-question-{language}.json"
        examples = read_squad(path)
        assert len(examples) == count
        assert all(e["answers"]["text"] for e in examples)


def test_tydiqa_per_language_files_and_prefix_filter(shared_data, tmp_path):
    folder = shared_data / "tydiqa" / "tydiqa-goldp-v1.1-train"
    for language, count in {"en": 3696, "ko": 1625, "sw": 2755}.items():
        # XTREME's per-language files have the language prefix cut off: nothing is filtered out
        assert len(read_tydiqa(folder / f"tydiqa.goldp.{language}.train.json", language)) == count
    mixed = {
        "version": "1.1",
        "data": [
            {
                "title": "t",
                "paragraphs": [
                    {
                        "context": "abc",
                        "qas": [
                            {"id": "english-1-0", "question": "q", "answers": [{"text": "a", "answer_start": 0}]},
                            {"id": "korean-2-0", "question": "q", "answers": [{"text": "b", "answer_start": 1}]},
                        ],
                    }
                ],
            }
        ],
    }
    path = write(tmp_path, "train.json", json.dumps(mixed))
    assert [e["id"] for e in read_tydiqa(path, "en")] == ["english-1-0"]
    assert len(read_tydiqa(path)) == 2
    with pytest.raises(BadInput, match="no language 'xx'"):
        read_tydiqa(path, "xx")


def test_squad_v2_unanswerable_has_empty_lists(tmp_path):
    data = {
        "version": "v2.0",
        "data": [
            {
                "title": "T",
                "paragraphs": [
                    {
                        "context": "Paris is big.",
                        "qas": [
                            {
                                "id": "q1",
                                "question": "?",
                                "answers": [],
                                "is_impossible": True,
                                "plausible_answers": [{"text": "Paris", "answer_start": 0}],
                            }
                        ],
                    }
                ],
            }
        ],
    }
    [example] = read_squad(write(tmp_path, "dev-v2.0.json", json.dumps(data)))
    assert example["answers"] == {"text": [], "answer_start": []}


def test_squad_bad_json_and_missing_field(tmp_path):
    with pytest.raises(BadInput, match=r"bad\.json: line 2: invalid JSON"):
        read_squad(write(tmp_path, "bad.json", '{"data":\n [,]}'))
    qa = {"question": "q", "answers": []}
    data = {"data": [{"title": "T", "paragraphs": [{"context": "c", "qas": [qa]}]}]}
    with pytest.raises(BadInput, match=r"data\[0\]\.paragraphs\[0\]\.qas\[0\]: missing field 'id'"):
        read_squad(write(tmp_path, "noid.json", json.dumps(data)))


# ----------------------------------------------------------------------------- tagging


def test_ud_conllu_fused_forms_french(shared_data):
    sentences = read_conllu_upos(shared_data / "ud" / "UD_French-GSD" / "fr_gsd-ud-test.conllu")
    assert len(sentences) == 416
    # 10018 syntactic words, 280 two-word multiword tokens -> 280 fewer tokens
    assert sum(len(s["tokens"]) for s in sentences) == 10018 - 280
    pairs = collections.Counter((t.lower(), g) for s in sentences for t, g in zip(s["tokens"], s["tags"]))
    # every fused "du" (de ADP + le DET, siblings: the precedence list puts ADP first) is ADP; the
    # 6 DET "du" are partitive articles, single words in the treebank
    assert pairs[("du", "ADP")] == 111 and pairs[("du", "DET")] == 6
    assert pairs[("de", "ADP")] > 0
    assert all(len(s["tokens"]) == len(s["tags"]) for s in sentences)


def test_ud_conllu_real_files_counts_and_tags(shared_data):
    expected = {
        "UD_English-EWT/en_ewt-ud-test.conllu": 2077,
        "UD_German-GSD/de_gsd-ud-test.conllu": 977,
        "UD_Chinese-GSD/zh_gsd-ud-test.conllu": 500,
        "UD_Turkish-IMST/tr_imst-ud-test.conllu": 1100,
    }
    for name, count in expected.items():
        sentences = read_conllu_upos(shared_data / "ud" / name)
        assert len(sentences) == count
        assert {tag for s in sentences for tag in s["tags"]} <= set(UPOS_TAGS)
    ewt = read_conllu_upos(shared_data / "ud" / "UD_English-EWT" / "en_ewt-ud-test.conllu")
    assert ewt[0]["id"].startswith("weblog-")  # the sent_id comment


CONLLU = """# sent_id = s1
1-2\tzum\t_\t_\t_\t_\t_\t_\t_\t_
1\tzu\tzu\tADP\t_\t_\t3\tcase\t_\t_
2\tdem\tder\tDET\t_\t_\t3\tdet\t_\t_
3\tHaus\tHaus\tNOUN\t_\t_\t0\troot\t_\t_
3.1\tgeht\t_\tVERB\t_\t_\t_\t_\t0:root\t_

# sent_id = s2
1-2\tgibt's\t_\t_\t_\t_\t_\t_\t_\t_
1\tgibt\tgeben\tVERB\t_\t_\t0\troot\t_\t_
2\t's\tes\tPRON\t_\t_\t1\tnsubj\t_\t_

# sent_id = withheld
1\t_\t_\tNOUN\t_\t_\t0\troot\t_\t_
2\t_\t_\tVERB\t_\t_\t1\tdep\t_\t_

# sent_id = zwnj
1\tمی\u200cخواهم\t_\tVERB\t_\t_\t0\troot\t_\t_
2\t10 000\t_\tNUM\t_\t_\t1\tobj\t_\t_
"""


def test_ud_conllu_xtreme_conversion_rules(tmp_path):
    sentences = read_conllu_upos(write(tmp_path, "de_test-ud-test.conllu", CONLLU))
    by_id = {s["id"]: s for s in sentences}
    # zu/dem are siblings under Haus: tie broken by the precedence list (ADP before DET); empty node skipped
    assert (by_id["s1"]["tokens"], by_id["s1"]["tags"]) == (["zum", "Haus"], ["ADP", "NOUN"])
    # gibt is the single highest word of the span: its tag wins
    assert (by_id["s2"]["tokens"], by_id["s2"]["tags"]) == (["gibt's"], ["VERB"])
    assert "withheld" not in by_id  # all forms "_" (Arabic-NYUAD style): dropped
    assert by_id["zwnj"]["tokens"] == ["میخواهم", "10000"]  # ZWNJ and inner spaces removed


def test_ud_conllu_errors_name_line(tmp_path):
    with pytest.raises(BadInput, match=r"bad-ud-test\.conllu: line 2: .*10 tab-separated fields, found 3"):
        read_conllu_upos(write(tmp_path, "bad-ud-test.conllu", "# c\n1\tx\tNOUN\n"))
    with pytest.raises(BadInput, match=r"line 1: unknown UPOS tag 'NOUNS'"):
        read_conllu_upos(write(tmp_path, "tag-ud-test.conllu", "1\tx\tx\tNOUNS\t_\t_\t0\troot\t_\t_\n"))


def test_panx_xtreme_files(shared_data):
    for language, (sentences, tokens) in {"en": (10000, 80536), "hi": (1000, 5808), "sw": (1000, 5609)}.items():
        examples = read_panx(shared_data / "panx" / f"dev-{language}.tsv", language)
        assert len(examples) == sentences
        assert sum(len(e["tokens"]) for e in examples) == tokens
        assert {t for e in examples for t in e["tags"]} == set(PANX_TAGS)
    train = read_panx(shared_data / "panx" / "train-en.tsv")
    assert (len(train), sum(len(e["tokens"]) for e in train)) == (20000, 160394)


def test_panx_original_prefix_stripped(tmp_path):
    path = write(tmp_path, "dev", "en:Sioux\tB-ORG\nen:http://x\tO\n\nen:Paris\tB-LOC\n")
    examples = read_panx(path)
    assert [e["tokens"] for e in examples] == [["Sioux", "http://x"], ["Paris"]]
    # XTREME form: a colon inside a token is left alone
    assert read_panx(write(tmp_path, "dev.tsv", "http://x\tO\n"))[0]["tokens"] == ["http://x"]
    with pytest.raises(BadInput, match=r"line 2: unknown tag 'B-MISC'"):
        read_panx(write(tmp_path, "misc.tsv", "Paris\tB-LOC\nX\tB-MISC\n"))
    with pytest.raises(BadInput, match=r"line 1: expected 'token<TAB>tag'"):
        read_panx(write(tmp_path, "cols.tsv", "Paris\tB-LOC\tx\n"))


def test_generic_conll(tmp_path):
    path = write(tmp_path, "en.dev", "-DOCSTART- O\n\nEU B-ORG\nrejects O\n\n\nPeter B-PER\n")
    examples = read_conll(path, labels=("O", "B-ORG", "B-PER"))
    assert [(e["tokens"], e["tags"]) for e in examples] == [(["EU", "rejects"], ["B-ORG", "O"]), (["Peter"], ["B-PER"])]
    with pytest.raises(BadInput, match="line 1: expected 'word tag'"):
        read_conll(write(tmp_path, "one.dev", "lonely\n"))


# ----------------------------------------------------------------------------- pairs and NLI


def test_pawsx_both_forms(shared_data):
    for language in "de en es fr ja ko zh".split():
        examples = read_pawsx(shared_data / "pawsx" / f"dev-{language}.tsv")
        assert len(examples) == 2000
        assert {e["label"] for e in examples} == {"0", "1"}
    test_de = read_pawsx(shared_data / "pawsx" / "tsv_files" / "test-de.tsv")
    assert len(test_de) == 2000 and test_de[0]["id"] == "10"
    # the Hub export quotes cells csv-style; unquoted, it is row for row the XTREME dev file
    exported = read_pawsx(shared_data / "pawsx" / "tsv_files" / "validation-00000-of-00001.tsv")
    xtreme = read_pawsx(shared_data / "pawsx" / "dev-zh.tsv")
    assert [(e["text_a"], e["text_b"], e["label"]) for e in exported] == [
        (e["text_a"], e["text_b"], e["label"]) for e in xtreme
    ]


def test_pawsx_errors(tmp_path):
    with pytest.raises(BadInput, match=r"line 2: 2 tab-separated fields, line 1 has 3"):
        read_pawsx(write(tmp_path, "dev-en.tsv", "a\tb\t1\na\tb\n"))
    with pytest.raises(BadInput, match=r"line 1: unknown label '2'"):
        read_pawsx(write(tmp_path, "dev-de.tsv", "a\tb\t2\n"))


def test_qqp_glue_tsv(tmp_path):
    text = 'id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n1\t1\t2\tHow "x"?\tWhat x?\t1\n2\t3\t4\tA?\tB?\t0\n'
    examples = read_qqp(write(tmp_path, "dev.tsv", text))
    assert examples[0] == {"id": "1", "text_a": 'How "x"?', "text_b": "What x?", "label": "duplicate"}
    assert examples[1]["label"] == "not_duplicate"
    with pytest.raises(BadInput, match="line 2: 5 tab-separated fields"):
        read_qqp(write(tmp_path, "bad.tsv", text.splitlines()[0] + "\n1\t1\t2\tA\t0\n"))


def test_anli_rounds(shared_data, tmp_path):
    for round_, count in {"R1": 1000, "R2": 1000, "R3": 1200}.items():
        examples = read_anli(shared_data / "intermediate" / "anli" / "anli_v1.0" / round_ / "dev.jsonl")
        assert len(examples) == count
        assert {e["label"] for e in examples} == {"entailment", "neutral", "contradiction"}
    row = {"uid": "1", "context": "c", "hypothesis": "h", "label": "x"}
    with pytest.raises(BadInput, match="line 1: unknown label 'x'"):
        read_anli(write(tmp_path, "a.jsonl", json.dumps(row) + "\n"))
    with pytest.raises(BadInput, match="line 2: invalid JSON"):
        read_anli(write(tmp_path, "b.jsonl", json.dumps(dict(row, label="e")) + "\n{\n"))


def test_snli_drops_no_gold_label(tmp_path):
    text = (
        "gold_label\tsentence1_binary_parse\tsentence1\tsentence2\tpairID\n"
        "neutral\t( x )\tA man.\tA tall man.\tp1\n-\t( y )\tA dog.\tA cat.\tp2\n"
        "contradiction\t( z )\tSun.\tMoon.\tp3\n"
    )
    examples = read_snli(write(tmp_path, "snli_1.0_dev.txt", text))
    assert [(e["id"], e["label"]) for e in examples] == [("p1", "neutral"), ("p3", "contradiction")]
    with pytest.raises(BadInput, match="line 1: missing column"):
        read_snli(write(tmp_path, "x.txt", "label\ts1\n"))


# ----------------------------------------------------------------------------- multiple choice


def test_commonsenseqa_both_schemas(shared_data, tmp_path):
    examples = read_commonsenseqa(shared_data / "intermediate" / "commonsenseqa" / "dev_rand_split.jsonl")
    assert len(examples) == 1221
    assert {e["label"] for e in examples} == {0, 1, 2, 3, 4}
    assert examples[0]["context"].startswith("A revolving door")
    assert examples[0]["choices"][examples[0]["label"]] == "bank"
    original = {
        "answerKey": "B",
        "id": "x",
        "question": {
            "question_concept": "c",
            "stem": "Why?",
            "choices": [{"label": "A", "text": "a"}, {"label": "B", "text": "b"}],
        },
    }
    [example] = read_commonsenseqa(write(tmp_path, "train_rand_split.jsonl", json.dumps(original) + "\n"))
    assert example == {"id": "x", "context": "Why?", "choices": ["a", "b"], "label": 1}
    original["answerKey"] = "F"
    with pytest.raises(BadInput, match="line 1: answerKey 'F'"):
        read_commonsenseqa(write(tmp_path, "bad.jsonl", json.dumps(original) + "\n"))


def test_cosmosqa_csv(shared_data):
    examples = read_cosmosqa(shared_data / "intermediate" / "cosmosqa" / "valid.csv")
    assert len(examples) == 2985
    assert {e["label"] for e in examples} == {0, 1, 2, 3}
    assert all(len(e["choices"]) == 4 for e in examples)
    assert examples[0]["context"].endswith("? Why is this person asking about divorce ?")


def test_hellaswag_int_and_string_labels(tmp_path):
    rows = [
        {"ind": 4, "ctx": "A man", "endings": ["a", "b", "c", "d"], "label": 2},
        {"ind": 5, "ctx": "A dog", "endings": ["a", "b", "c", "d"], "label": "3"},
        {"ind": 6, "ctx": "A cat", "endings": ["a", "b", "c", "d"], "label": ""},
    ]
    path = write(tmp_path, "hellaswag_val.jsonl", "\n".join(json.dumps(r) for r in rows[:2]) + "\n")
    assert [(e["id"], e["context"], e["label"]) for e in read_hellaswag(path)] == [("4", "A man", 2), ("5", "A dog", 3)]
    path = write(tmp_path, "hellaswag_test.jsonl", json.dumps(rows[2]) + "\n")
    assert [(e["id"], e["label"]) for e in read_hellaswag(path)] == [("6", None)]
    # a file is labelled as a whole: the unlabelled row of a labelled file is a bad line, not a wrong answer
    path = write(tmp_path, "mixed.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(BadInput, match="mixed.jsonl: line 3: no label, but line 1 has one"):
        read_hellaswag(path)
    rows[0]["label"] = 7
    with pytest.raises(BadInput, match="line 1: label 7 but only 4 choices"):
        read_hellaswag(write(tmp_path, "bad.jsonl", json.dumps(rows[0]) + "\n"))


# ----------------------------------------------------------------------------- retrieval


def test_tatoeba_36_languages_31692_pairs(shared_data):
    total = 0
    for iso3, iso1 in TATOEBA_ISO3_TO_ISO1.items():
        sources, english = read_tatoeba(shared_data / "tatoeba" / f"tatoeba.{iso3}-eng.{iso3}")
        assert len(sources) == len(english) <= 1000
        total += len(sources)
        assert tatoeba_paths(shared_data / "tatoeba" / f"tatoeba.{iso3}-eng.eng")[2] == iso1
    assert len(TATOEBA_ISO3_TO_ISO1) == 36
    assert total == 31692


def test_tatoeba_misaligned(tmp_path):
    write(tmp_path, "tatoeba.deu-eng.deu", "a\nb\n")
    write(tmp_path, "tatoeba.deu-eng.eng", "a\n")
    with pytest.raises(BadInput, match="2 lines but tatoeba.deu-eng.eng has 1"):
        read_tatoeba(tmp_path / "tatoeba.deu-eng.eng")


def test_bucc_zh_en_sample(shared_data, tmp_path):
    sources, english, gold = read_bucc(shared_data / "bucc2018" / "zh-en.dev.gold")
    assert (len(sources), len(english), len(gold)) == (8624, 13589, 257)
    assert ("zh-000000057", "en-000008530") in gold
    assert sources["zh-000000001"].startswith("辽宁省")
    write(tmp_path, "de-en.sample.de", "de-1\tHallo\n")
    write(tmp_path, "de-en.sample.en", "en-1\tHello\n")
    assert read_bucc(tmp_path / "de-en.sample.de") == ({"de-1": "Hallo"}, {"en-1": "Hello"}, None)
    write(tmp_path, "de-en.sample.gold", "de-1\ten-2\n")
    with pytest.raises(BadInput, match="line 1: id 'en-2' is not in de-en.sample.en"):
        read_bucc(tmp_path / "de-en.sample.gold")


# ----------------------------------------------------------------------------- every reader


def jsonl(*rows) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def squad(answer: dict, question_id="q1") -> str:
    qa = {"id": question_id, "question": "Wo?", "answers": [answer]}
    return json.dumps({"data": [{"title": "t", "paragraphs": [{"context": "in Berlin", "qas": [qa]}]}]})


COPA = {"premise": "p", "choice1": "a", "choice2": "b", "question": "cause", "label": 0}
CSQA = {"id": "x", "question": "Why?", "choices": {"label": ["A", "B"], "text": ["a", "b"]}, "answerKey": "A"}
CSQA_ORIGINAL = {"id": "x", "question": {"stem": "Why?", "choices": [{"label": "A", "text": "a"}]}, "answerKey": "A"}
SIQA = {"context": "c", "question": "q", "answerA": "a", "answerB": "b", "answerC": "c", "correct": "A"}

#: (reader, file name, content, message): a field of the wrong JSON type names the file, line and field
WRONG_TYPES = [
    (
        read_squad,
        "s.json",
        squad({"text": "Berlin", "answer_start": True}),
        "answers[0].answer_start: 'answer_start' should be an integer, found true",
    ),
    (
        read_squad,
        "s.json",
        squad({"text": None, "answer_start": 3}),
        "answers[0].text: 'text' should be a string, found null",
    ),
    (
        read_squad,
        "s.json",
        squad({"text": "Berlin", "answer_start": 3}, question_id=None),
        "qas[0].id: 'id' should be a string or an integer, found null",
    ),
    (
        read_anli,
        "a.jsonl",
        jsonl({"uid": None, "context": "c", "hypothesis": "h", "label": "e"}),
        "line 1: field 'uid' should be a string or an integer, found null",
    ),
    (
        read_anli,
        "a.jsonl",
        jsonl({"uid": "1", "context": None, "hypothesis": "h", "label": "e"}),
        "line 1: field 'context' should be a string, found null",
    ),
    (
        read_hellaswag,
        "h.jsonl",
        jsonl({"ctx": None, "endings": ["a"], "label": 0}),
        "line 1: field 'ctx' should be a string, found null",
    ),
    (
        read_hellaswag,
        "h.jsonl",
        jsonl({"ctx": "c", "endings": ["a", None], "label": 0}),
        "line 1: field 'endings'[1] should be a string, found null",
    ),
    (
        read_hellaswag,
        "h.jsonl",
        jsonl({"ind": [1], "ctx": "c", "endings": ["a"], "label": 0}),
        "line 1: field 'ind' should be a string or an integer, found a list",
    ),
    (
        read_commonsenseqa,
        "c.jsonl",
        jsonl({**CSQA, "choices": {"label": ["A", 2], "text": ["a", "b"]}}),
        "line 1: field 'label'[1] should be a string, found a number",
    ),
    (
        read_commonsenseqa,
        "c.jsonl",
        jsonl({**CSQA_ORIGINAL, "question": {"stem": "Why?", "choices": [{"label": "A", "text": None}]}}),
        "line 1: field 'text' should be a string, found null",
    ),
    (
        read_commonsenseqa,
        "c.jsonl",
        jsonl({**CSQA, "answerKey": 0}),
        "line 1: field 'answerKey' should be a string, found a number",
    ),
    (read_copa, "x.jsonl", jsonl({**COPA, "premise": 3}), "line 1: field 'premise' should be a string, found a number"),
    (read_copa, "x.jsonl", jsonl({**COPA, "label": True}), "line 1: label True is not a choice number"),
    (read_siqa, "s.jsonl", jsonl({**SIQA, "answerB": None}), "line 1: field 'answerB' should be a string, found null"),
]


@pytest.mark.parametrize("reader, name, content, message", WRONG_TYPES)
def test_every_field_a_reader_keeps_is_type_checked(tmp_path, reader, name, content, message):
    """A wrong type is a bad line before any stage runs, not a traceback in the data check or a crash
    in the tokenizer mid-stage (true is not the integer 1 here, though Python says it is)."""
    with pytest.raises(BadInput) as error:
        reader(write(tmp_path, name, content))
    assert f"{name}: " in str(error.value) and message in str(error.value)


COSMOS_HEADER = "id,context,question,answer0,answer1,answer2,answer3,label\n"

#: (reader, file name, content, message): a labelled file with one row without its label
ONE_ROW_UNLABELLED = [
    (read_copa, "x.jsonl", jsonl(COPA, {**COPA, "label": -1}), "line 2: no label, but line 1 has one"),
    (read_copa, "x.jsonl", jsonl({**COPA, "label": -1}, COPA), "line 2: label 0, but line 1 has none"),
    (
        read_hellaswag,
        "h.jsonl",
        jsonl({"ctx": "c", "endings": ["a"], "label": 0}, {"ctx": "c", "endings": ["a"]}),
        "line 2: no label, but line 1 has one",
    ),
    (read_commonsenseqa, "c.jsonl", jsonl(CSQA, {**CSQA, "answerKey": ""}), "line 2: no answerKey, but line 1 has one"),
    (
        read_cosmosqa,
        "c.csv",
        COSMOS_HEADER + "1,c,q,a,b,c,d,0\n2,c,q,a,b,c,d,\n",
        "line 3: no label, but line 2 has one",
    ),
    (
        read_siqa,
        "s.jsonl",
        jsonl(SIQA, {k: v for k, v in SIQA.items() if k != "correct"}),
        "line 2: no 'correct' answer, but line 1 has one",
    ),
]


@pytest.mark.parametrize("reader, name, content, message", ONE_ROW_UNLABELLED)
def test_a_file_is_labelled_or_not_as_a_whole(tmp_path, reader, name, content, message):
    """Readers of formats whose test files come without labels used to decide per row: one missing
    label made its row unlabelled, scored as a wrong answer."""
    with pytest.raises(BadInput, match=f"{name}: {message}"):
        reader(write(tmp_path, name, content))
