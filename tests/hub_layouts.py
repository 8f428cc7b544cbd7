"""Small copies of the Hugging Face Hub data set repos that the catalog's tasks read, laid out as they are
on the Hub today, for `stilts.testing.hub.TestHub`: 2-3 rows per split, with the real column names and
dtypes (ClassLabel columns as their int ids, with the features in the Parquet files' ``huggingface``
metadata as the Hub's files carry them).

Two layouts occur:

* Parquet on main, declared by the README's ``configs:`` YAML: ``<config>/<split>-00000-of-00001.parquet``
  (``data/<split>-...`` for a data set without named configs), what ``datasets.load_dataset(repo, config,
  split=...)`` reads;
* main holding only the old loading script (``<name>.py`` and a README without ``configs:``), the data on
  the Hub's Parquet conversion branch ``refs/convert/parquet`` as ``<config or default>/<split>/0000.parquet``.

`write_hub` writes the repos that the given tasks read and returns, per task, what loading it must give
(`Expect`). Every catalog task with a Hub source needs an entry in `LAYOUTS` (tests/test_hub_sources.py
fails for one without). Each row's first text names its config and split (``(de/validation)``), so a
read of the wrong config or split shows.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from stilts.testing.hub import readme_with_configs, write_dataset_repo

MAIN = "main"
CONVERSION = "refs/convert/parquet"
#: the name of a split's one Parquet shard on main
SHARD = "-00000-of-00001.parquet"
GITATTRIBUTES = "*.parquet filter=lfs diff=lfs merge=lfs -text\n"
#: a repo whose main is only a loading script and that has no Parquet conversion
SCRIPT_ONLY = "someorg/script_only"
#: MLQA's own repo: only a loading script, no conversion (stilts reads MLQA from google/xtreme)
MLQA_SCRIPT = "facebook/mlqa"


@dataclass(frozen=True)
class Expect:
    """What `stilts.data.loading.load_examples(task, split, language, {})` must give from the test Hub."""

    hub: str
    split: str
    language: str
    #: the config as the origin record names it (the conversion's folder: ``default`` for none)
    config: str | None
    hub_split: str
    revision: str
    #: the first example, every field
    first: dict
    #: how many examples (rows without a gold label are dropped)
    count: int


# --- writing repos -----------------------------------------------------------------------------------

#: config -> (features, split -> rows); features as ``datasets.Features`` takes them
Configs = dict[str, tuple[dict, dict[str, list[dict]]]]


def _parquet(rows: list[dict], features: dict) -> bytes:
    """A Parquet file of ``rows`` with ``features`` in its schema metadata, as ``datasets`` writes the Hub's."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Features

    schema = Features(features).arrow_schema
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), buffer)
    return buffer.getvalue()


def _main_repo(root: Path, repo_id: str, configs: Configs, folder: Callable[[str], str] = lambda config: config):
    """Parquet on main, one file per config and split, declared in the README's ``configs:``."""
    files: dict[str, bytes | str] = {".gitattributes": GITATTRIBUTES}
    declared = {}
    for config, (features, splits) in configs.items():
        declared[config] = {split: f"{folder(config)}/{split}-*" for split in splits}
        for split, rows in splits.items():
            files[f"{folder(config)}/{split}{SHARD}"] = _parquet(rows, features)
    files["README.md"] = readme_with_configs(declared)
    write_dataset_repo(root, repo_id, files)


def _script_repo(root: Path, repo_id: str, conversion: Configs | None = None) -> None:
    """main: the loading script ``<name>.py`` and a README without ``configs:``; ``conversion``: the
    Hub's Parquet conversion of it (``<config>/<split>/0000.parquet``)."""
    name = repo_id.split("/")[1]
    readme = f"---\npretty_name: {name}\nlanguage:\n- en\n---\n\n# {name}\n\nLoaded by its script, {name}.py.\n"
    script = f'"""The loading script of {repo_id} (``datasets`` >= 4 runs none)."""\n\nimport datasets\n'
    write_dataset_repo(root, repo_id, {".gitattributes": GITATTRIBUTES, "README.md": readme, f"{name}.py": script})
    if conversion is not None:
        files: dict[str, bytes | str] = {".gitattributes": GITATTRIBUTES}
        for config, (features, splits) in conversion.items():
            for split, rows in splits.items():
                files[f"{config}/{split}/0000.parquet"] = _parquet(rows, features)
        write_dataset_repo(root, repo_id, files, revision=CONVERSION)


# --- features ----------------------------------------------------------------------------------------


def _string():
    from datasets import Value

    return Value("string")


def _int(bits: int = 32):
    from datasets import Value

    return Value(f"int{bits}")


def _bool():
    from datasets import Value

    return Value("bool")


def _labels(*names: str):
    from datasets import ClassLabel

    return ClassLabel(names=list(names))


def _list(feature):
    from datasets import List

    return List(feature)


NLI_NAMES = ("entailment", "neutral", "contradiction")
#: google/xtreme's udpos and microsoft/xglue's pos ClassLabel
UPOS = tuple("ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split())
PANX_NAMES = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
CONLL_NAMES = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")


def _squad_features(title: bool = True) -> dict:
    answers = {"text": _list(_string()), "answer_start": _list(_int())}
    return {
        "id": _string(),
        **({"title": _string()} if title else {}),
        "context": _string(),
        "question": _string(),
        "answers": answers,
    }


# --- rows ----------------------------------------------------------------------------------------------

_PAIRS = [
    ("A man plays a guitar.", "Nobody plays music."),
    ("A woman reads a book.", "Someone is reading."),
    ("Kids run in a park.", "The kids are outside."),
]


def _nli(tag: str, labels=(2, 0, 1), **extra) -> list[dict]:
    """premise, hypothesis, label (NLI ClassLabel ids), the first row's premise marked with ``tag``."""
    return [
        {"premise": f"{premise} ({tag})", "hypothesis": hypothesis, "label": label, **extra}
        for (premise, hypothesis), label in zip(_PAIRS, labels)
    ]


#: "Berlin" starts at 14, "Siemens" at 35; a question about food has no answer
_CONTEXT = "Anna lives in Berlin. She works at Siemens."
_QUESTIONS = [
    ("Where does Anna live?", ["Berlin"], [14]),
    ("Where does Anna work?", ["Siemens"], [35]),
    ("What does Anna eat?", [], []),
]


def _squad(tag: str, ids: list[str], title: bool = True, first: int = 0) -> list[dict]:
    """SQuAD-schema rows (answers a struct of lists), ``first`` the index of the first row's question."""
    questions = (_QUESTIONS[first:] + _QUESTIONS[:first])[: len(ids)]
    return [
        {
            "id": row_id,
            **({"title": "Anna"} if title else {}),
            "context": f"{_CONTEXT} ({tag})",
            "question": question,
            "answers": {"text": texts, "answer_start": starts},
        }
        for row_id, (question, texts, starts) in zip(ids, questions)
    ]


def _squad_example(tag: str, row_id: str, question: int = 0, title: str = "Anna") -> dict:
    text, texts, starts = _QUESTIONS[question]
    return {
        "id": row_id,
        "title": title,
        "context": f"{_CONTEXT} ({tag})",
        "question": text,
        "answers": {"text": texts, "answer_start": starts},
    }


# --- the repos -----------------------------------------------------------------------------------------


def _xnli(root: Path) -> None:
    features = {"premise": _string(), "hypothesis": _string(), "label": _labels(*NLI_NAMES)}
    _main_repo(
        root,
        "facebook/xnli",
        {
            language: (features, {split: _nli(f"{language}/{split}") for split in ("train", "test", "validation")})
            for language in ("de", "en")
        },
    )


def _pawsx(root: Path) -> None:
    features = {"id": _int(), "sentence1": _string(), "sentence2": _string(), "label": _labels("0", "1")}

    def rows(tag: str) -> list[dict]:
        return [
            {"id": number + 1, "sentence1": f"{first} ({tag})", "sentence2": second, "label": label}
            for number, ((first, second), label) in enumerate(zip(_PAIRS, (1, 0, 1)))
        ]

    _main_repo(
        root,
        "google-research-datasets/paws-x",
        {
            language: (features, {split: rows(f"{language}/{split}") for split in ("train", "test", "validation")})
            for language in ("de", "en", "fr")
        },
    )


def _xtreme(root: Path) -> None:
    panx = {"tokens": _list(_string()), "ner_tags": _list(_labels(*PANX_NAMES)), "langs": _list(_string())}
    udpos = {"tokens": _list(_string()), "pos_tags": _list(_labels(*UPOS))}
    tatoeba = {
        "source_sentence": _string(),
        "target_sentence": _string(),
        "source_lang": _string(),
        "target_lang": _string(),
    }

    def panx_rows(tag: str) -> list[dict]:
        tokens = ["Anna", "Smith", "arbeitet", "bei", "Siemens", "in", "Berlin", f"({tag})"]
        return [
            {"tokens": tokens, "ner_tags": [1, 2, 0, 0, 3, 0, 5, 0], "langs": ["de"] * len(tokens)},
            {"tokens": ["Paul", "lebt", "in", "Rom"], "ner_tags": [1, 0, 0, 5], "langs": ["de"] * 4},
        ]

    def udpos_rows(tag: str, tokens=("Die", "Katze", "schläft")) -> list[dict]:
        return [
            {"tokens": [*tokens, f"({tag})"], "pos_tags": [5, 7, 15, 12]},  # DET NOUN VERB PUNCT
            {"tokens": ["Ein", "Hund", "läuft", "schnell"], "pos_tags": [5, 7, 15, 2]},  # DET NOUN VERB ADV
        ]

    def tatoeba_rows(tag: str) -> list[dict]:
        pairs = [("Die Katze schläft.", "The cat sleeps."), ("Es regnet.", "It is raining.")]
        return [
            {
                "source_sentence": f"{source} ({tag})\n" if number == 0 else f"{source}\n",
                "target_sentence": f"{target}\n",
                "source_lang": "deu",
                "target_lang": "eng",
            }
            for number, (source, target) in enumerate(pairs)
        ]

    configs: Configs = {
        "MLQA.de.de": (
            _squad_features(),
            {
                split: _squad(f"MLQA.de.de/{split}", [f"{split}de{n:036x}" for n in range(2)])
                for split in ("test", "validation")
            },
        ),
        "MLQA.en.en": (
            _squad_features(),
            {
                split: _squad(f"MLQA.en.en/{split}", [f"{split}en{n:036x}" for n in range(2)])
                for split in ("test", "validation")
            },
        ),
        "PAN-X.de": (panx, {split: panx_rows(f"PAN-X.de/{split}") for split in ("train", "validation", "test")}),
        "tatoeba.deu": (tatoeba, {"validation": tatoeba_rows("tatoeba.deu/validation")}),
        "udpos.German": (
            udpos,
            {split: udpos_rows(f"udpos.German/{split}") for split in ("train", "validation", "test")},
        ),
        # as on the Hub: these treebanks have no train or validation part (Kazakh no validation)
        "udpos.Kazakh": (udpos, {split: udpos_rows(f"udpos.Kazakh/{split}") for split in ("train", "test")}),
        "udpos.Tagalog": (udpos, {"test": udpos_rows("udpos.Tagalog/test")}),
        "udpos.Thai": (udpos, {"test": udpos_rows("udpos.Thai/test", ("แมว", "ตัว", "นอน"))}),
        "udpos.Yoruba": (udpos, {"test": udpos_rows("udpos.Yoruba/test")}),
    }
    _main_repo(root, "google/xtreme", configs)


def _xquad(root: Path) -> None:
    rows = _squad("xquad.de/validation", ["56beb4343aeaaa14008c925b", "56beb4343aeaaa14008c925c"], title=False)
    _main_repo(root, "google/xquad", {"xquad.de": (_squad_features(title=False), {"validation": rows})})


def _tydiqa(root: Path) -> None:
    ids = {"train": ["english-1", "swahili-2", "english-3"], "validation": ["english-7", "swahili-8", "swahili-9"]}
    splits = {split: _squad(f"secondary_task/{split}", row_ids) for split, row_ids in ids.items()}
    _main_repo(root, "google-research-datasets/tydiqa", {"secondary_task": (_squad_features(), splits)})


def _glue(root: Path) -> None:
    nli = {"premise": _string(), "hypothesis": _string(), "label": _labels(*NLI_NAMES), "idx": _int()}
    qqp = {
        "question1": _string(),
        "question2": _string(),
        "label": _labels("not_duplicate", "duplicate"),
        "idx": _int(),
    }

    def indexed(rows: list[dict]) -> list[dict]:
        return [{**row, "idx": number} for number, row in enumerate(rows)]

    def qqp_rows(tag: str, labels=(1, 0)) -> list[dict]:
        questions = [
            ("How do I learn Python?", "What is the best way to learn Python?"),
            ("Is tea healthy?", "Why is the sky blue?"),
        ]
        return [
            {"question1": f"{first} ({tag})", "question2": second, "label": label, "idx": number}
            for number, ((first, second), label) in enumerate(zip(questions, labels))
        ]

    mnli_splits = ("train", "validation_matched", "validation_mismatched")
    configs: Configs = {
        "mnli": (
            nli,
            {
                **{split: indexed(_nli(f"mnli/{split}")) for split in mnli_splits},
                # GLUE's test splits have no labels: -1
                **{
                    split: indexed(_nli(f"mnli/{split}", (-1, -1, -1))) for split in ("test_matched", "test_mismatched")
                },
            },
        ),
        "qqp": (
            qqp,
            {
                "train": qqp_rows("qqp/train"),
                "validation": qqp_rows("qqp/validation"),
                "test": qqp_rows("qqp/test", (-1, -1)),
            },
        ),
    }
    _main_repo(root, "nyu-mll/glue", configs)


def _snli(root: Path) -> None:
    features = {"premise": _string(), "hypothesis": _string(), "label": _labels(*NLI_NAMES)}
    # -1: no gold label (the annotators did not agree)
    splits = {split: _nli(f"plain_text/{split}", (0, -1, 2)) for split in ("test", "train", "validation")}
    _main_repo(root, "stanfordnlp/snli", {"plain_text": (features, splits)})


def _anli(root: Path) -> None:
    features = {
        "uid": _string(),
        "premise": _string(),
        "hypothesis": _string(),
        "label": _labels(*NLI_NAMES),
        "reason": _string(),
    }
    splits = {}
    for round_number in (1, 2, 3):
        for part in ("train", "dev", "test"):
            split = f"{part}_r{round_number}"
            rows = _nli(f"plain_text/{split}", (1, 2, 0), reason="")
            splits[split] = [{"uid": f"{split}-{n}", **row} for n, row in enumerate(rows)]
    _main_repo(root, "facebook/anli", {"plain_text": (features, splits)})


def _squad_repos(root: Path) -> None:
    ids = ["5733be284776f41900661182", "5733be284776f4190066117f", "5733be284776f41900661180"]
    for repo_id, config, count, first in (
        ("rajpurkar/squad", "plain_text", 2, 0),
        ("rajpurkar/squad_v2", "squad_v2", 3, 2),
    ):
        splits = {split: _squad(f"{config}/{split}", ids[:count], first=first) for split in ("train", "validation")}
        _main_repo(root, repo_id, {config: (_squad_features(), splits)})


def _commonsense_qa(root: Path) -> None:
    features = {
        "id": _string(),
        "question": _string(),
        "question_concept": _string(),
        "choices": {"label": _list(_string()), "text": _list(_string())},
        "answerKey": _string(),
    }

    def rows(tag: str, keys=("C", "A")) -> list[dict]:
        choices = {"label": list("ABCDE"), "text": ["car", "shoe", "fridge", "sky", "book"]}
        return [
            {
                "id": f"075e483d21c29a511267ef62bedc0461{number}",
                "question": f"Where do you keep milk? ({tag})" if number == 0 else "What is above us?",
                "question_concept": "milk",
                "choices": choices,
                "answerKey": key,
            }
            for number, key in enumerate(keys)
        ]

    splits = {"train": rows("train"), "validation": rows("validation"), "test": rows("test", ("", ""))}
    _main_repo(root, "tau/commonsense_qa", {"default": (features, splits)}, folder=lambda config: "data")


def _xcopa(root: Path) -> None:
    features = {
        "premise": _string(),
        "choice1": _string(),
        "choice2": _string(),
        "question": _string(),
        "label": _int(),
        "idx": _int(),
        "changed": _bool(),
    }

    def rows(tag: str) -> list[dict]:
        return [
            {
                "premise": f"Mees kukkus. ({tag})",
                "choice1": "Ta naeris.",
                "choice2": "Ta libises.",
                "question": "cause",
                "label": 1,
                "idx": 0,
                "changed": False,
            },
            {
                "premise": "Vihma sadas.",
                "choice1": "Tänav sai märjaks.",
                "choice2": "Päike paistis.",
                "question": "effect",
                "label": 0,
                "idx": 1,
                "changed": False,
            },
        ]

    _main_repo(
        root, "cambridgeltl/xcopa", {"et": (features, {"validation": rows("et/validation"), "test": rows("et/test")})}
    )


def _hellaswag(root: Path) -> None:
    features = {
        "ind": _int(),
        "activity_label": _string(),
        "ctx_a": _string(),
        "ctx_b": _string(),
        "ctx": _string(),
        "endings": _list(_string()),
        "source_id": _string(),
        "split": _string(),
        "split_type": _string(),
        "label": _string(),
    }

    def rows(tag: str, labels=("3", "0")) -> list[dict]:
        return [
            {
                "ind": 24 + number,
                "activity_label": "Cooking",
                "ctx_a": f"A man is cooking. ({tag})",
                "ctx_b": "he",
                "ctx": f"A man is cooking. ({tag}) he",
                "endings": ["flies away.", "sings.", "sleeps.", "stirs the pot."],
                "source_id": "activitynet~v_-1IBHYS3L-Y",
                "split": tag,
                "split_type": "indomain",
                "label": label,  # a string on the Hub, "" in test
            }
            for number, label in enumerate(labels)
        ]

    splits = {"train": rows("train"), "validation": rows("validation"), "test": rows("test", ("", ""))}
    _main_repo(root, "Rowan/hellaswag", {"default": (features, splits)}, folder=lambda config: "data")


def _social_i_qa(root: Path) -> None:
    features = {key: _string() for key in ("context", "question", "answerA", "answerB", "answerC", "label")}

    def rows(tag: str) -> list[dict]:
        return [
            {
                "context": f"Tracy gave Bailey her umbrella. ({tag})",
                "question": "How would Bailey feel?",
                "answerA": "annoyed",
                "answerB": "thankful",
                "answerC": "sleepy",
                "label": "2",  # 1-based, a string
            },
            {
                "context": "Kai ate the whole cake.",
                "question": "What will Kai want next?",
                "answerA": "water",
                "answerB": "more cake",
                "answerC": "a nap",
                "label": "1",
            },
        ]

    _script_repo(
        root, "allenai/social_i_qa", {"default": (features, {"train": rows("train"), "validation": rows("validation")})}
    )


def _cosmos_qa(root: Path) -> None:
    features = {
        "id": _string(),
        "context": _string(),
        "question": _string(),
        **{f"answer{n}": _string() for n in range(4)},
        "label": _int(),
    }

    def rows(tag: str, labels=(1, 3)) -> list[dict]:
        answers = ["They stayed dry.", "The weather was bad.", "They went skiing.", "None of the above choices."]
        return [
            {
                "id": f"3Q9SPIIRWJKVQ8244310E8TUS6YWAO##{number}",
                "context": f"We went to the beach and it rained all day. ({tag})",
                "question": "Why was the day a letdown?",
                **{f"answer{n}": answer for n, answer in enumerate(answers)},
                "label": label,
            }
            for number, label in enumerate(labels)
        ]

    splits = {"train": rows("train"), "validation": rows("validation"), "test": rows("test", (-1, -1))}
    _script_repo(root, "allenai/cosmos_qa", {"default": (features, splits)})


def _super_glue(root: Path) -> None:
    features = {
        "premise": _string(),
        "choice1": _string(),
        "choice2": _string(),
        "question": _string(),
        "idx": _int(),
        "label": _labels("choice1", "choice2"),
    }

    def rows(tag: str, labels=(1, 0)) -> list[dict]:
        return [
            {
                "premise": f"My body cast a shadow over the grass. ({tag})",
                "choice1": "The sun was rising.",
                "choice2": "The grass was cut.",
                "question": "cause",
                "idx": 0,
                "label": labels[0],
            },
            {
                "premise": "The woman tolerated her friend's difficult behavior.",
                "choice1": "The woman knew her friend was going through a hard time.",
                "choice2": "The woman felt that her friend took advantage of her kindness.",
                "question": "cause",
                "idx": 1,
                "label": labels[1],
            },
        ]

    splits = {"train": rows("train"), "validation": rows("validation"), "test": rows("test", (-1, -1))}
    _script_repo(root, "aps/super_glue", {"copa": (features, splits)})


def _xglue(root: Path) -> None:
    """microsoft/xglue's conversion: splits ``train``, ``validation.<lang>``, ``test.<lang>`` per config."""
    splits = ("train", "validation.de", "validation.en", "validation.fr", "test.de")

    def tagging(column: str, names, sentence: list[tuple[str, int]], marker: int) -> tuple[dict, dict]:
        """``sentence`` and the split's name as one more word, tagged ``marker``; then a short one."""
        features = {"words": _list(_string()), column: _list(_labels(*names))}
        return features, {
            split: [
                {
                    "words": [word for word, _ in sentence] + [f"({split})"],
                    column: [tag for _, tag in sentence] + [marker],
                },
                {"words": ["Paul", "sleeps"], column: [0, 0]},
            ]
            for split in splits
        }

    def pairs(features: dict, rows: list[dict]) -> tuple[dict, dict]:
        first = next(iter(features))
        return features, {split: [{**rows[0], first: f"{rows[0][first]} ({split})"}, *rows[1:]] for split in splits}

    conversion: Configs = {
        # IOB1: Anna Smith (I-PER I-PER) works for Siemens (I-ORG)
        "ner": tagging("ner", CONLL_NAMES, [("Anna", 2), ("Smith", 2), ("works", 0), ("for", 0), ("Siemens", 4)], 0),
        # the cat sleeps . : DET NOUN VERB PUNCT (PUNCT for the marker too)
        "pos": tagging("pos", UPOS, [("the", 5), ("cat", 7), ("sleeps", 15), (".", 12)], 12),
        "nc": pairs(
            {
                "news_title": _string(),
                "news_body": _string(),
                "news_category": _labels(
                    "foodanddrink",
                    "sports",
                    "travel",
                    "finance",
                    "lifestyle",
                    "news",
                    "entertainment",
                    "health",
                    "video",
                    "autos",
                ),
            },
            [
                {"news_title": "Team wins the cup", "news_body": "The home team won the final.", "news_category": 1},
                {"news_title": "Markets rise", "news_body": "Shares rose on Monday.", "news_category": 3},
            ],
        ),
        "qadsm": pairs(
            {
                "query": _string(),
                "ad_title": _string(),
                "ad_description": _string(),
                "relevance_label": _labels("Bad", "Good"),
            },
            [
                {
                    "query": "cheap flights",
                    "ad_title": "Flights from 19 EUR",
                    "ad_description": "Book now.",
                    "relevance_label": 1,
                },
                {
                    "query": "cheap flights",
                    "ad_title": "Garden chairs",
                    "ad_description": "Chairs.",
                    "relevance_label": 0,
                },
            ],
        ),
        "wpr": pairs(
            {
                "query": _string(),
                "web_page_title": _string(),
                "web_page_snippet": _string(),
                "relavance_label": _labels("Bad", "Fair", "Good", "Excellent", "Perfect"),  # sic
            },
            [
                {
                    "query": "weather berlin",
                    "web_page_title": "Berlin weather today",
                    "web_page_snippet": "Rain and wind.",
                    "relavance_label": 3,
                },
                {
                    "query": "weather berlin",
                    "web_page_title": "Weather in Paris",
                    "web_page_snippet": "Sunny.",
                    "relavance_label": 0,
                },
            ],
        ),
        "qam": pairs(
            {"question": _string(), "answer": _string(), "label": _labels("False", "True")},
            [
                {"question": "where does anna live", "answer": "Anna lives in Berlin.", "label": 1},
                {"question": "where does anna live", "answer": "The train leaves at noon.", "label": 0},
            ],
        ),
    }
    _script_repo(root, "microsoft/xglue", conversion)


REPOS: dict[str, Callable[[Path], None]] = {
    "facebook/xnli": _xnli,
    "google-research-datasets/paws-x": _pawsx,
    "google/xtreme": _xtreme,
    "google/xquad": _xquad,
    "google-research-datasets/tydiqa": _tydiqa,
    "nyu-mll/glue": _glue,
    "stanfordnlp/snli": _snli,
    "facebook/anli": _anli,
    "rajpurkar/squad": _squad_repos,
    "rajpurkar/squad_v2": _squad_repos,
    "tau/commonsense_qa": _commonsense_qa,
    "cambridgeltl/xcopa": _xcopa,
    "Rowan/hellaswag": _hellaswag,
    "allenai/social_i_qa": _social_i_qa,
    "allenai/cosmos_qa": _cosmos_qa,
    "aps/super_glue": _super_glue,
    "microsoft/xglue": _xglue,
    MLQA_SCRIPT: lambda root: _script_repo(root, MLQA_SCRIPT),
    SCRIPT_ONLY: lambda root: _script_repo(root, SCRIPT_ONLY),
}


# --- what each task must read ----------------------------------------------------------------------------


def _classified(text_a: str, text_b: str, label: str, example_id: str = "") -> dict:
    return {"id": example_id, "text_a": text_a, "text_b": text_b, "label": label}


def _anli_expect(round_number: int, part: str, split: str) -> Expect:
    hub_split = f"{part}_r{round_number}"
    first = _classified(
        f"A man plays a guitar. (plain_text/{hub_split})", "Nobody plays music.", "neutral", f"{hub_split}-0"
    )
    return Expect("facebook/anli", split, "en", "plain_text", hub_split, MAIN, first, 3)


_SQUAD_IDS = ["5733be284776f41900661182", "5733be284776f4190066117f", "5733be284776f41900661180"]


LAYOUTS: dict[str, Expect] = {
    "anli_r1": _anli_expect(1, "dev", "dev"),
    "anli_r2": _anli_expect(2, "test", "test"),
    "anli_r3": _anli_expect(3, "train", "train"),
    "commonsenseqa": Expect(
        "tau/commonsense_qa",
        "dev",
        "en",
        None,
        "validation",
        MAIN,
        {
            "id": "075e483d21c29a511267ef62bedc04610",
            "context": "Where do you keep milk? (validation)",
            "choices": ["car", "shoe", "fridge", "sky", "book"],
            "label": 2,  # answerKey C
        },
        2,
    ),
    "copa": Expect(
        "aps/super_glue",
        "dev",
        "en",
        "copa",
        "validation",
        CONVERSION,
        {
            "id": "0",
            "context": "My body cast a shadow over the grass. (validation) What was the cause?",
            "choices": ["The sun was rising.", "The grass was cut."],
            "label": 1,
        },
        2,
    ),
    "cosmosqa": Expect(
        "allenai/cosmos_qa",
        "dev",
        "en",
        "default",
        "validation",
        CONVERSION,
        {
            "id": "3Q9SPIIRWJKVQ8244310E8TUS6YWAO##0",
            "context": "We went to the beach and it rained all day. (validation) Why was the day a letdown?",
            "choices": ["They stayed dry.", "The weather was bad.", "They went skiing.", "None of the above choices."],
            "label": 1,
        },
        2,
    ),
    "hellaswag": Expect(
        "Rowan/hellaswag",
        "dev",
        "en",
        None,
        "validation",
        MAIN,
        {
            "id": "24",
            "context": "A man is cooking. (validation) he",
            "choices": ["flies away.", "sings.", "sleeps.", "stirs the pot."],
            "label": 3,  # "3" on the Hub
        },
        2,
    ),
    "mlqa": Expect(
        "google/xtreme",
        "test",
        "de",
        "MLQA.de.de",
        "test",
        MAIN,
        _squad_example("MLQA.de.de/test", f"testde{0:036x}"),
        2,
    ),
    "mnli": Expect(
        "nyu-mll/glue",
        "dev",
        "en",
        "mnli",
        "validation_matched",
        MAIN,
        _classified("A man plays a guitar. (mnli/validation_matched)", "Nobody plays music.", "contradiction", "0"),
        3,
    ),
    "panx": Expect(
        "google/xtreme",
        "dev",
        "de",
        "PAN-X.de",
        "validation",
        MAIN,
        {
            "id": "",
            "tokens": ["Anna", "Smith", "arbeitet", "bei", "Siemens", "in", "Berlin", "(PAN-X.de/validation)"],
            "tags": ["B-PER", "I-PER", "O", "O", "B-ORG", "O", "B-LOC", "O"],
        },
        2,
    ),
    "pawsx": Expect(
        "google-research-datasets/paws-x",
        "test",
        "de",
        "de",
        "test",
        MAIN,
        _classified("A man plays a guitar. (de/test)", "Nobody plays music.", "1", "1"),
        3,
    ),
    "qqp": Expect(
        "nyu-mll/glue",
        "dev",
        "en",
        "qqp",
        "validation",
        MAIN,
        _classified(
            "How do I learn Python? (qqp/validation)", "What is the best way to learn Python?", "duplicate", "0"
        ),
        2,
    ),
    "siqa": Expect(
        "allenai/social_i_qa",
        "dev",
        "en",
        "default",
        "validation",
        CONVERSION,
        {
            "id": "",
            "context": "Tracy gave Bailey her umbrella. (validation) How would Bailey feel?",
            "choices": ["annoyed", "thankful", "sleepy"],
            "label": 1,  # "2" on the Hub
        },
        2,
    ),
    "snli": Expect(
        "stanfordnlp/snli",
        "test",
        "en",
        "plain_text",
        "test",
        MAIN,
        _classified("A man plays a guitar. (plain_text/test)", "Nobody plays music.", "entailment"),
        2,  # the row without a gold label is dropped
    ),
    "squad_v1": Expect(
        "rajpurkar/squad",
        "dev",
        "en",
        "plain_text",
        "validation",
        MAIN,
        _squad_example("plain_text/validation", _SQUAD_IDS[0]),
        2,
    ),
    "squad_v2": Expect(
        "rajpurkar/squad_v2",
        "dev",
        "en",
        "squad_v2",
        "validation",
        MAIN,
        _squad_example("squad_v2/validation", _SQUAD_IDS[0], question=2),  # unanswerable: empty answers
        3,
    ),
    "tatoeba": Expect(
        "google/xtreme",
        "test",
        "de",
        "tatoeba.deu",
        "validation",
        MAIN,
        {"id": "", "text_a": "Die Katze schläft. (tatoeba.deu/validation)", "text_b": "The cat sleeps."},
        2,
    ),
    "tydiqa": Expect(
        "google-research-datasets/tydiqa",
        "test",
        "sw",
        "secondary_task",
        "validation",
        MAIN,
        _squad_example("secondary_task/validation", "swahili-8", question=1),  # the English row is left out
        2,
    ),
    "udpos": Expect(
        "google/xtreme",
        "dev",
        "de",
        "udpos.German",
        "validation",
        MAIN,
        {
            "id": "",
            "tokens": ["Die", "Katze", "schläft", "(udpos.German/validation)"],
            "tags": ["DET", "NOUN", "VERB", "PUNCT"],
        },
        2,
    ),
    "xcopa": Expect(
        "cambridgeltl/xcopa",
        "test",
        "et",
        "et",
        "test",
        MAIN,
        {
            "id": "0",
            "context": "Mees kukkus. (et/test) What was the cause?",
            "choices": ["Ta naeris.", "Ta libises."],
            "label": 1,
        },
        2,
    ),
    "xglue_mlqa": Expect(
        "google/xtreme",
        "dev",
        "en",
        "MLQA.en.en",
        "validation",
        MAIN,
        _squad_example("MLQA.en.en/validation", f"validationen{0:036x}"),
        2,
    ),
    "xglue_nc": Expect(
        "microsoft/xglue",
        "dev",
        "de",
        "nc",
        "validation.de",
        CONVERSION,
        _classified("Team wins the cup (validation.de)", "The home team won the final.", "sports"),
        2,
    ),
    "xglue_ner": Expect(
        "microsoft/xglue",
        "test",
        "de",
        "ner",
        "test.de",
        CONVERSION,
        {
            "id": "",
            "tokens": ["Anna", "Smith", "works", "for", "Siemens", "(test.de)"],
            "tags": ["I-PER", "I-PER", "O", "O", "I-ORG", "O"],
        },
        2,
    ),
    "xglue_pawsx": Expect(
        "google-research-datasets/paws-x",
        "dev",
        "fr",
        "fr",
        "validation",
        MAIN,
        _classified("A man plays a guitar. (fr/validation)", "Nobody plays music.", "1", "1"),
        3,
    ),
    "xglue_pos": Expect(
        "microsoft/xglue",
        "dev",
        "de",
        "pos",
        "validation.de",
        CONVERSION,
        {
            "id": "",
            "tokens": ["the", "cat", "sleeps", ".", "(validation.de)"],
            "tags": ["DET", "NOUN", "VERB", "PUNCT", "PUNCT"],
        },
        2,
    ),
    "xglue_qadsm": Expect(
        "microsoft/xglue",
        "dev",
        "fr",
        "qadsm",
        "validation.fr",
        CONVERSION,
        _classified("cheap flights (validation.fr)", "Flights from 19 EUR Book now.", "Good"),
        2,
    ),
    "xglue_qam": Expect(
        "microsoft/xglue",
        "dev",
        "de",
        "qam",
        "validation.de",
        CONVERSION,
        _classified("where does anna live (validation.de)", "Anna lives in Berlin.", "1"),  # True on the Hub
        2,
    ),
    "xglue_wpr": Expect(
        "microsoft/xglue",
        "dev",
        "de",
        "wpr",
        "validation.de",
        CONVERSION,
        _classified("weather berlin (validation.de)", "Berlin weather today Rain and wind.", "3"),  # Excellent
        2,
    ),
    "xglue_xnli": Expect(
        "facebook/xnli",
        "train",
        "en",
        "en",
        "train",
        MAIN,
        _classified("A man plays a guitar. (en/train)", "Nobody plays music.", "contradiction"),
        3,
    ),
    "xnli": Expect(
        "facebook/xnli",
        "dev",
        "de",
        "de",
        "validation",
        MAIN,
        _classified("A man plays a guitar. (de/validation)", "Nobody plays music.", "contradiction"),
        3,
    ),
    "xquad": Expect(
        "google/xquad",
        "test",
        "de",
        "xquad.de",
        "validation",
        MAIN,
        {**_squad_example("xquad.de/validation", "56beb4343aeaaa14008c925b"), "title": ""},
        2,
    ),
}


def write_hub(root: Path, tasks: Iterable[str] | None = None) -> dict[str, Expect]:
    """Write under ``root`` (a `TestHub` root) the repos that ``tasks`` read (None: every repo here, the
    script-only ones too); returns each task's `Expect`. A task without a layout is a KeyError."""
    if tasks is None:
        chosen = dict(LAYOUTS)
        repos = set(REPOS)
    else:
        missing = [task for task in tasks if task not in LAYOUTS]
        if missing:
            raise KeyError(f"no Hub layout for {', '.join(missing)}: add one to tests/hub_layouts.py")
        chosen = {task: LAYOUTS[task] for task in tasks}
        repos = {expect.hub for expect in chosen.values()}
    writers = {REPOS[repo] for repo in repos}  # rajpurkar/squad's writer writes squad_v2 too
    for writer in sorted(writers, key=lambda writer: writer.__name__):
        writer(Path(root))
    return chosen
