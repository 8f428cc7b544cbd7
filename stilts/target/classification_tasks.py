"""Sentence classification targets: XNLI, and the small topic set of the demo."""

from __future__ import annotations

from pathlib import Path

from stilts.core.catalog import HubSource, Parallel, ReleasedTranslations, Scoring, Task, register_task
from stilts.data.readers._io import hub_label
from stilts.data.readers.layout import FileLayout
from stilts.data.readers.nli import NLI_LABELS, read_xnli_folder, read_xnli_mt_tsv
from stilts.data.readers.pairs import read_translated_pairs
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


def _read_xnli_translation(path: Path, language: str | None = None) -> list[dict]:
    if path.name.startswith("multinli.train."):
        return read_xnli_mt_tsv(path)
    return read_translated_pairs(path, NLI_LABELS, {"contradictory": "contradiction"})


#: MNLI's training set machine-translated into XNLI's languages: XTREME's translate-train files
#: (``xtreme_translations/XNLI/translate-train/en-{lang}-translated.tsv``) or XNLI-MT 1.0's
#: (``XNLI-MT-1.0/multinli/multinli.train.{lang}.tsv``)
_read_xnli_translations = FileLayout(
    "XNLI translated training",
    {
        "train": (
            "en-{language}-translated.tsv",
            "translate-train/en-{language}-translated.tsv",
            "XNLI/translate-train/en-{language}-translated.tsv",
            "multinli.train.{language}.tsv",
            "multinli/multinli.train.{language}.tsv",
            "XNLI-MT-1.0/multinli/multinli.train.{language}.tsv",
        )
    },
    parse=_read_xnli_translation,
)

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
        released_translations=ReleasedTranslations(
            "XTREME's XNLI translate-train files and XNLI-MT 1.0",
            tuple(language for language in XNLI_LANGUAGES if language != "en"),
            read_local=lambda folder, language: _read_xnli_translations(folder, "train", language),
        ),
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
