"""Sentence classification targets: XNLI, and the small topic set of the demo."""

from __future__ import annotations

from stilts.core.catalog import HubSource, Parallel, Scoring, Task, register_task
from stilts.data.readers._io import hub_label
from stilts.data.readers.nli import NLI_LABELS, read_xnli_folder
from stilts.data.readers.text_classification import label_text_folder_reader
from stilts.formats.classification import CLASSIFICATION
from stilts.metrics.scoring import score_xnli

#: ISO 639-1 codes, alphabetical, as XTREME evaluates the task (docs/tasks.md)
XNLI_LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")


def _xnli_row(row: dict) -> dict | None:
    # facebook/xnli uses the Hub's NLI order (entailment, neutral, contradiction); -1: no gold label
    # (an index of -1 would have read as the last class)
    label = hub_label(row["label"], NLI_LABELS)
    return None if label is None else {"id": "", "text_a": row["premise"], "text_b": row["hypothesis"], "label": label}


#: XNLI's dev and test sets are the same sentence pairs translated into each language (line by line in
#: XTREME's files), with the same labels
XNLI_PARALLEL = Parallel("xnli", {"dev": "line", "test": "line"})

XNLI = register_task(
    Task(
        name="xnli",
        format=CLASSIFICATION,
        phases=frozenset({"target", "evaluate"}),
        languages=XNLI_LANGUAGES,
        metric="accuracy",
        labels=NLI_LABELS,
        description="Cross-lingual NLI, 15 languages; trains on English MNLI",
        read_local=read_xnli_folder,
        parallel=XNLI_PARALLEL,
        hub=HubSource(
            "facebook/xnli",
            config=lambda language: language,
            splits={"dev": "validation", "test": "test"},
            to_example=_xnli_row,
        ),
        train_task="mnli",
        main_metrics=("accuracy",),
        paper_batch_epochs=(4, 2),
        scoring=Scoring(score_xnli),
    )
)


TOPIC_LABELS = ("sports", "food", "weather", "technology")

TOPICS = register_task(
    Task(
        name="topics",
        format=CLASSIFICATION,
        phases=frozenset({"target", "evaluate"}),
        languages=("en", "de", "fr", "es", "ru", "zh", "ar", "hi", "tr"),
        metric="accuracy",
        labels=TOPIC_LABELS,
        description="Small topic classification set shipped for the demo (pipelines/demo_data/topics); not a benchmark",
        read_local=label_text_folder_reader(TOPIC_LABELS),
        eval_splits=("test",),
    )
)
