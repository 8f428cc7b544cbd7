"""Intermediate-task catalog (English tasks trained before the target task)."""

from __future__ import annotations

from stilts.readers.nli import NLI_LABELS, read_mnli_folder
from stilts.registry import HubSource, Task, register_task
from stilts.tasks.classification import CLASSIFICATION


def _glue_nli_row(row: dict) -> dict | None:
    if row["label"] < 0:  # GLUE's unlabelled test rows
        return None
    return {"id": str(row["idx"]), "text_a": row["premise"], "text_b": row["hypothesis"],
            "label": NLI_LABELS[row["label"]]}  # the Hub's order is entailment, neutral, contradiction


MNLI = register_task(Task(
    name="mnli",
    format=CLASSIFICATION,
    phases=frozenset({"intermediate"}),
    languages=("en",),
    metric="accuracy",
    labels=NLI_LABELS,
    description="MultiNLI: premise/hypothesis entailment, 3 classes (dev = matched)",
    read_local=read_mnli_folder,
    hub=HubSource("nyu-mll/glue", config=lambda language: "mnli",
                  splits={"train": "train", "dev": "validation_matched"}, to_example=_glue_nli_row),
))

from stilts.intermediate import tagging_mc_tasks  # noqa: F401,E402
from stilts.intermediate import qa_tasks  # noqa: F401,E402
from stilts.intermediate import pair_tasks  # noqa: F401,E402


from stilts.intermediate import mixing  # noqa: E402
from stilts.registry import register_mixer  # noqa: E402

register_mixer(mixing)
