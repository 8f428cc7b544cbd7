"""Intermediate tasks in the multiple-choice and tagging formats: HellaSwag, Cosmos QA, CommonsenseQA,
COPA, Social IQa, CCG.

Registered by ``stilts.intermediate.catalog``. The multiple-choice tasks come from the Hub or from
their release files (COPA is also the English training data of the XCOPA target); CCG supertagging
only from local files (CCGbank is LDC-licensed and not on the Hub), in jiant's format (see
``read_ccg_folder`` and docs/tasks.md).

The test splits of these tasks have no public labels (docs/tasks.md), so only train and dev are mapped.
"""

from __future__ import annotations

from pathlib import Path

from stilts.core.catalog import MAIN, PARQUET_CONVERSION, HubSource, Scoring, Task, register_task
from stilts.core.errors import BadInput
from stilts.data.readers._io import numbered_lines, read_json
from stilts.data.readers.layout import FileLayout, ignoring_language
from stilts.data.readers.multiple_choice import (
    copa_row_to_example,
    read_commonsenseqa,
    read_copa,
    read_cosmosqa,
    read_hellaswag,
    read_siqa,
    siqa_row_to_example,
)
from stilts.formats.multiple_choice import MULTIPLE_CHOICE
from stilts.formats.tagging import SUPERTAGGING
from stilts.metrics.scoring import score_copa

MC_SPLITS = {"train": "train", "dev": "validation"}


#: the test splits' labels are not public (docs/tasks.md), so the layouts name train and dev files only
NO_TEST_LABELS = "the test labels are not public"


# --------------------------------------------------------------------------- HellaSwag


def _hellaswag_row(row: dict) -> dict | None:
    if row["label"] in ("", None):  # the test split's label is ""
        return None
    return {
        "id": str(row["ind"]),
        "context": row["ctx"],
        "choices": list(row["endings"]),
        "label": int(row["label"]),
    }  # a string "0"-"3" on the Hub


HELLASWAG = register_task(
    Task(
        name="hellaswag",
        format=MULTIPLE_CHOICE,
        phases=frozenset({"intermediate"}),
        languages=("en",),
        metric="accuracy",
        description="HellaSwag: pick the most plausible of 4 endings (local: hellaswag_{train,val}.jsonl)",
        read_local=FileLayout(
            "HellaSwag",
            {"train": ("hellaswag_train.jsonl",), "dev": ("hellaswag_val.jsonl",)},
            parse=ignoring_language(read_hellaswag),
            split_note=NO_TEST_LABELS,
        ),
        # not confirmed whether main still is a loading script: its Parquet first, then the conversion
        hub=HubSource(
            "Rowan/hellaswag",
            config=lambda language: None,
            splits=MC_SPLITS,
            to_example=_hellaswag_row,
            revisions=(MAIN, PARQUET_CONVERSION),
        ),
        paper_batch_epochs=(24, 7),
    )
)


# --------------------------------------------------------------------------- Cosmos QA


def _cosmosqa_row(row: dict) -> dict | None:
    if row["label"] < 0:  # unlabelled test rows
        return None
    return {
        "id": row["id"],
        "context": row["context"] + " " + row["question"],  # as read_cosmosqa
        "choices": [row[f"answer{i}"] for i in range(4)],
        "label": int(row["label"]),
    }


COSMOSQA = register_task(
    Task(
        name="cosmosqa",
        format=MULTIPLE_CHOICE,
        phases=frozenset({"intermediate"}),
        languages=("en",),
        metric="accuracy",
        description="Cosmos QA: reading comprehension with commonsense, 4 answers (local: train.csv, valid.csv)",
        read_local=FileLayout(
            "Cosmos QA",
            {"train": ("train.csv",), "dev": ("valid.csv",)},
            parse=ignoring_language(read_cosmosqa),
            split_note=NO_TEST_LABELS,
        ),
        # main is a loading script; the Hub's Parquet conversion has it as default/{train,validation,test}
        hub=HubSource(
            "allenai/cosmos_qa",
            config=lambda language: None,
            splits=MC_SPLITS,
            to_example=_cosmosqa_row,
            revisions=(PARQUET_CONVERSION,),
        ),
        paper_batch_epochs=(4, 15),
    )
)


# --------------------------------------------------------------------------- CommonsenseQA


def _commonsenseqa_row(row: dict) -> dict | None:
    letters = list(row["choices"]["label"])
    if not row["answerKey"]:  # the test split's answerKey is ""
        return None
    return {
        "id": row["id"],
        "context": row["question"],
        "choices": list(row["choices"]["text"]),
        "label": letters.index(row["answerKey"]),
    }  # a letter A-E (docs/tasks.md)


COMMONSENSEQA = register_task(
    Task(
        name="commonsenseqa",
        format=MULTIPLE_CHOICE,
        phases=frozenset({"intermediate"}),
        languages=("en",),
        metric="accuracy",
        description="CommonsenseQA: 5-way commonsense questions (local: {train,dev}_rand_split.jsonl, "
        "original or Hub schema)",
        read_local=FileLayout(
            "CommonsenseQA",
            {"train": ("train_rand_split.jsonl",), "dev": ("dev_rand_split.jsonl",)},
            parse=ignoring_language(read_commonsenseqa),
            split_note=NO_TEST_LABELS,
        ),
        hub=HubSource(
            "tau/commonsense_qa", config=lambda language: None, splits=MC_SPLITS, to_example=_commonsenseqa_row
        ),
        paper_batch_epochs=(4, 10),
    )
)


# --------------------------------------------------------------------------- COPA

COPA = register_task(
    Task(
        name="copa",
        format=MULTIPLE_CHOICE,
        phases=frozenset({"intermediate"}),
        languages=("en",),
        metric="accuracy",
        description="COPA: causal commonsense, premise + cause/effect question, 2 choices; XCOPA trains on it "
        "(local: XTREME-R's train-en.jsonl, val-en.jsonl or SuperGLUE's train.jsonl, val.jsonl)",
        read_local=FileLayout(
            "COPA",
            {"train": ("train-en.jsonl", "train.jsonl"), "dev": ("val-en.jsonl", "val.jsonl")},
            parse=ignoring_language(read_copa),
            split_note="the SuperGLUE test labels are not public",
            languages=("en",),
        ),
        # SuperGLUE's COPA: label 0 = choice1, 1 = choice2 (-1 in the unlabelled test split)
        # not confirmed whether main still is a loading script: its Parquet first, then the conversion
        hub=HubSource(
            "aps/super_glue",
            config=lambda language: "copa",
            splits=MC_SPLITS,
            to_example=copa_row_to_example,
            revisions=(MAIN, PARQUET_CONVERSION),
        ),
        scoring=Scoring(score_copa),
    )
)


# --------------------------------------------------------------------------- Social IQa

SIQA = register_task(
    Task(
        name="siqa",
        format=MULTIPLE_CHOICE,
        phases=frozenset({"intermediate"}),
        languages=("en",),
        metric="accuracy",
        description="Social IQa: social commonsense, context + question, 3 answers (local: "
        "socialIQa_v1.4_{trn,dev}.jsonl with 'correct' A-C, or {train,dev}.jsonl + {train,dev}-labels.lst 1-3)",
        read_local=FileLayout(
            "Social IQa",
            {"train": ("socialIQa_v1.4_trn.jsonl", "train.jsonl"), "dev": ("socialIQa_v1.4_dev.jsonl", "dev.jsonl")},
            parse=ignoring_language(read_siqa),
            split_note=NO_TEST_LABELS,
        ),
        # the Hub's label is the 1-based answer number as a string, "1"-"3"
        # main is a loading script; the Hub's Parquet conversion has it as default/{train,validation}
        hub=HubSource(
            "allenai/social_i_qa",
            config=lambda language: None,
            splits=MC_SPLITS,
            to_example=siqa_row_to_example,
            revisions=(PARQUET_CONVERSION,),
        ),
    )
)


# --------------------------------------------------------------------------- CCG supertagging

#: jiant's ``CCGTask``: 1363 supertag ids, the vocabulary of jiant's CCGbank split (train+test+dev)
CCG_NUM_TAGS = 1363
#: the head's labels are the tag ids of ``tags_to_id.json`` (as strings), so a head and its outputs
#: line up with jiant's; the supertag strings themselves only live in that file
CCG_LABELS = tuple(str(index) for index in range(CCG_NUM_TAGS))
CCG_FILES = {"train": "ccg.train", "dev": "ccg.dev", "test": "ccg.test"}
CCG_TAGS_TO_ID = "tags_to_id.json"


def _ccg_lines(path: Path):
    """(line number, words, supertags) of a jiant CCG file: ``words \\t supertags`` per sentence."""
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        text, tab, tags = line.strip().partition("\t")
        words, supertags = text.split(), tags.split()
        if not tab or "\t" in tags:
            raise BadInput(f"{path}: line {number}: expected 'space-tokenized words<TAB>space-separated supertags'")
        if len(words) != len(supertags) or not words:
            raise BadInput(f"{path}: line {number}: {len(words)} words but {len(supertags)} supertags")
        yield number, words, supertags


def ccg_tags_to_id(folder: Path) -> dict[str, int]:
    """``tags_to_id.json`` of the folder; without one, the ids jiant's ``ccg_to_num.py`` assigns: tags
    numbered in order of first appearance over ccg.train, then ccg.test, then ccg.dev."""
    path = folder / CCG_TAGS_TO_ID
    if path.is_file():
        raw = read_json(path)
        if not isinstance(raw, dict):
            raise BadInput(f"{path}: expected a JSON object mapping supertags to ids")
        mapping = {}
        for tag, value in raw.items():
            try:
                mapping[tag] = int(value)
            except (TypeError, ValueError):
                raise BadInput(f"{path}: supertag {tag!r}: id {value!r} is not an integer") from None
    else:
        mapping = {}
        for split in ("train", "test", "dev"):
            if (folder / CCG_FILES[split]).is_file():
                for _, _, supertags in _ccg_lines(folder / CCG_FILES[split]):
                    for tag in supertags:
                        mapping.setdefault(tag, len(mapping))
        path = folder / CCG_FILES["train"]
    out_of_range = [(tag, i) for tag, i in mapping.items() if not 0 <= i < CCG_NUM_TAGS]
    if out_of_range:
        tag, index = out_of_range[0]
        raise BadInput(
            f"{path}: supertag {tag!r} has id {index}; the CCG head has {CCG_NUM_TAGS} tags "
            f"(ids 0-{CCG_NUM_TAGS - 1}, jiant's CCGbank vocabulary)"
        )
    return mapping


def read_ccg_file(path: Path, language: str | None = None) -> list[dict]:
    """One ``ccg.{train,dev,test}`` file of jiant's format (one sentence per line, ``space-tokenized
    words<TAB>space-separated supertags``), with the ids of its folder's ``tags_to_id.json`` (optional,
    see `ccg_tags_to_id`). Tags become their id strings (`CCG_LABELS`)."""
    folder = path.parent
    tags_to_id = ccg_tags_to_id(folder)
    examples = []
    for number, words, supertags in _ccg_lines(path):
        unknown = next((tag for tag in supertags if tag not in tags_to_id), None)
        if unknown is not None:
            raise BadInput(
                f"{path}: line {number}: unknown supertag {unknown!r} (not in "
                f"{CCG_TAGS_TO_ID if (folder / CCG_TAGS_TO_ID).is_file() else 'the vocabulary'})"
            )
        examples.append(
            {"id": f"{path.name}:{number}", "tokens": words, "tags": [str(tags_to_id[tag]) for tag in supertags]}
        )
    return examples


#: CCG supertagging in jiant's format: ``ccg.{train,dev,test}`` and ``tags_to_id.json``
read_ccg_folder = FileLayout("CCG", {split: (name,) for split, name in CCG_FILES.items()}, parse=read_ccg_file)


CCG = register_task(
    Task(
        name="ccg",
        format=SUPERTAGGING,
        phases=frozenset({"intermediate"}),
        languages=("en",),
        metric="accuracy",
        labels=CCG_LABELS,
        description="CCG supertagging (CCGbank, LDC2005T13; local files only) in jiant's format: "
        "ccg.{train,dev,test} with one sentence per line, 'space-tokenized words<TAB>"
        "space-separated supertags', plus tags_to_id.json mapping each supertag to an id "
        "0-1362 (see docs/tasks.md)",
        read_local=read_ccg_folder,
        paper_batch_epochs=(24, 15),
    )
)
