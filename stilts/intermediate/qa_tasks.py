"""SQuAD v1.1 and v2.0 as intermediate tasks (span extraction; English only).

Local folders hold the release files as rajpurkar/SQuAD-explorer publishes them:
``train-v1.1.json`` / ``dev-v1.1.json`` and ``train-v2.0.json`` / ``dev-v2.0.json``.
"""

from __future__ import annotations

from stilts.core.catalog import HubSource, Scoring, Task, register_task
from stilts.data.readers.layout import FileLayout, ignoring_language
from stilts.data.readers.qa import read_squad, training_questions
from stilts.formats.span_qa import SPAN_QA, SPAN_QA_NO_ANSWER, squad_example
from stilts.metrics.scoring import score_squad_v1, score_squad_v2


def squad_folder_reader(version: str) -> FileLayout:
    """``read_local`` for a folder holding ``{train,dev}-v{version}.json``; training skips (and counts) the
    questions whose answer is not where its offset says (`training_questions`)."""
    unanswerable = version.startswith("2")  # SQuAD v2.0's unanswerable questions train the no-answer position
    return FileLayout(
        f"SQuAD v{version}",
        {split: (f"{split}-v{version}.json",) for split in ("train", "dev")},
        parse=ignoring_language(read_squad),
        split_note="the test set is not public",
        languages=("en",),
        trainable=lambda examples, path: training_questions(examples, path, unanswerable=unanswerable),
    )


SQUAD_V1 = register_task(
    Task(
        name="squad_v1",
        format=SPAN_QA,
        phases=frozenset({"intermediate"}),
        languages=("en",),
        metric="f1",
        description="SQuAD v1.1: extractive QA on Wikipedia paragraphs, every question answerable "
        "(EM/F1 of evaluate-v1.1.py; dev = the official dev set)",
        read_local=squad_folder_reader("1.1"),
        hub=HubSource(
            "rajpurkar/squad",
            config=lambda language: "plain_text",
            splits={"train": "train", "dev": "validation"},
            to_example=squad_example,
        ),
        paper_batch_epochs=(8, 3),
        scoring=Scoring(score_squad_v1),
    )
)

SQUAD_V2 = register_task(
    Task(
        name="squad_v2",
        format=SPAN_QA_NO_ANSWER,
        phases=frozenset({"intermediate"}),
        languages=("en",),
        metric="f1",
        description="SQuAD v2.0: SQuAD v1.1 plus unanswerable questions; no answer when the CLS score beats "
        "the best span (EM/F1 of evaluate-v2.0.py, with the best null-score threshold)",
        read_local=squad_folder_reader("2.0"),
        hub=HubSource(
            "rajpurkar/squad_v2",
            config=lambda language: "squad_v2",
            splits={"train": "train", "dev": "validation"},
            to_example=squad_example,
        ),
        paper_batch_epochs=(8, 3),
        scoring=Scoring(score_squad_v2, takes_threshold=True, takes_na_probs=True),
    )
)
