"""Sentence-pair intermediate tasks: MNLI, QQP, SNLI, ANLI rounds 1-3, and ANLI+ made of them and MNLI.

Every entry reads the Hub (the Parquet datasets named in docs/tasks.md) or a folder of the original
release files. Labels are names, so no integer order leaks from a source: NLI uses
entailment/neutral/contradiction, QQP not_duplicate/duplicate (both the Hub's orders).
"""

from __future__ import annotations

from pathlib import Path

from stilts.core.catalog import HubSource, Task, register_task
from stilts.core.errors import MissingSplit
from stilts.data.readers._io import hub_label
from stilts.data.readers.layout import SPLITS, FileLayout, find_file, ignoring_language
from stilts.data.readers.nli import NLI_LABELS, read_mnli_folder
from stilts.data.readers.nli_extra import read_anli, read_snli
from stilts.data.readers.pairs import QQP_LABELS, read_qqp
from stilts.formats.classification import CLASSIFICATION

ANLI_ROUNDS = (1, 2, 3)


def _glue_nli_row(row: dict) -> dict | None:
    # the Hub's order is entailment, neutral, contradiction; GLUE's test rows have no label (-1)
    label = hub_label(row["label"], NLI_LABELS)
    if label is None:
        return None
    return {"id": str(row["idx"]), "text_a": row["premise"], "text_b": row["hypothesis"], "label": label}


MNLI = register_task(
    Task(
        name="mnli",
        format=CLASSIFICATION,
        phases=frozenset({"intermediate"}),
        languages=("en",),
        metric="accuracy",
        labels=NLI_LABELS,
        description="MultiNLI: premise/hypothesis entailment, 3 classes (dev = matched)",
        read_local=read_mnli_folder,
        hub=HubSource(
            "nyu-mll/glue",
            config=lambda language: "mnli",
            splits={"train": "train", "dev": "validation_matched"},
            to_example=_glue_nli_row,
        ),
        paper_batch_epochs=(24, 2),
    )
)


def _labelled(examples: list[dict], path: Path) -> list[dict]:
    """A file without labels (GLUE test) cannot train or score: treat it as a missing split."""
    if examples and examples[0]["label"] is None:
        raise MissingSplit(f"{path}: no labels in this file (GLUE keeps its test labels private)")
    return examples


# --- QQP -----------------------------------------------------------------------------------------

#: GLUE ``QQP/{train,dev,test}.tsv`` (the folder itself or its ``QQP/`` subfolder)
read_qqp_folder = FileLayout(
    "QQP",
    {split: (f"{split}.tsv", f"QQP/{split}.tsv") for split in SPLITS},
    parse=lambda path, language: _labelled(read_qqp(path), path),
)


def _qqp_row(row: dict) -> dict | None:
    # the Hub's order: not_duplicate, duplicate; GLUE's test rows have no label (-1)
    label = hub_label(row["label"], QQP_LABELS)
    if label is None:
        return None
    return {"id": str(row["idx"]), "text_a": row["question1"], "text_b": row["question2"], "label": label}


QQP = register_task(
    Task(
        name="qqp",
        format=CLASSIFICATION,
        phases=frozenset({"intermediate"}),
        languages=("en",),
        metric="f1",  # the classification format then reports accuracy and F1 of "duplicate"
        labels=QQP_LABELS,
        description="Quora Question Pairs: are two questions duplicates? (accuracy and F1)",
        read_local=read_qqp_folder,
        hub=HubSource(
            "nyu-mll/glue",
            config=lambda language: "qqp",
            splits={"train": "train", "dev": "validation"},
            to_example=_qqp_row,
        ),
        paper_batch_epochs=(24, 3),
    )
)


# --- SNLI ----------------------------------------------------------------------------------------


#: ``snli_1.0_{train,dev,test}.txt`` (the folder itself or its ``snli_1.0/`` subfolder); rows without a
#: gold label are dropped by the reader
read_snli_folder = FileLayout(
    "SNLI",
    {split: (f"snli_1.0_{split}.txt", f"snli_1.0/snli_1.0_{split}.txt") for split in SPLITS},
    parse=ignoring_language(read_snli),
)


def _nli_row(row: dict) -> dict | None:
    """SNLI and ANLI on the Hub share MNLI's order (entailment, neutral, contradiction); -1 = no gold."""
    label = hub_label(row["label"], NLI_LABELS)
    if label is None:
        return None
    return {"id": str(row.get("uid", "")), "text_a": row["premise"], "text_b": row["hypothesis"], "label": label}


SNLI = register_task(
    Task(
        name="snli",
        format=CLASSIFICATION,
        phases=frozenset({"intermediate"}),
        languages=("en",),
        metric="accuracy",
        labels=NLI_LABELS,
        description="Stanford NLI, 3 classes (a part of ANLI+)",
        read_local=read_snli_folder,
        hub=HubSource(
            "stanfordnlp/snli",
            config=lambda language: "plain_text",
            splits={"train": "train", "dev": "validation", "test": "test"},
            to_example=_nli_row,
        ),
    )
)


# --- ANLI ----------------------------------------------------------------------------------------


def anli_folder_reader(round_number: int):
    """A ``read_local`` for one ANLI round: ``R{n}/{train,dev,test}.jsonl`` under an ``anli_v1.0``
    folder, or the ``R{n}`` folder itself (a function: which names count depends on the folder's name)."""

    def read(folder: Path, split: str, language: str | None = None) -> list[dict]:
        round_folder = f"R{round_number}"
        names = [f"{round_folder}/{split}.jsonl"] + ([f"{split}.jsonl"] if folder.name == round_folder else [])
        return read_anli(find_file(Path(folder), names, f"ANLI round {round_number} {split} file"))

    return read


ANLI_ROUND_TASKS = tuple(
    register_task(
        Task(
            name=f"anli_r{n}",
            format=CLASSIFICATION,
            phases=frozenset({"intermediate"}),
            languages=("en",),
            metric="accuracy",
            labels=NLI_LABELS,
            description=f"Adversarial NLI round {n}, 3 classes (a part of ANLI+)",
            read_local=anli_folder_reader(n),
            hub=HubSource(
                "facebook/anli",
                config=lambda language: "plain_text",
                splits={"train": f"train_r{n}", "dev": f"dev_r{n}", "test": f"test_r{n}"},
                to_example=_nli_row,
            ),
        )
    )
    for n in ANLI_ROUNDS
)


ANLI_PLUS = register_task(
    Task(
        name="anli_plus",
        format=CLASSIFICATION,
        phases=frozenset({"intermediate"}),
        languages=("en",),
        metric="accuracy",
        labels=NLI_LABELS,
        description="ANLI+: ANLI rounds 1-3 + MNLI + SNLI training sets with one NLI head; dev = the parts' "
        "dev sets interleaved (each part read from its own data.<part>)",
        parts=("anli_r1", "anli_r2", "anli_r3", "mnli", "snli"),
        paper_batch_epochs=(24, 2),
    )
)
