"""The task catalog: what a task is (`Task`), and the one registry of them.

Tasks are registered by plugins (stilts' own stage packages register the paper's tasks; other
installed packages add theirs, see `stilts.registry`). Core code looks tasks up here by name and
never branches on task names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stilts.registry import Registry
from stilts.tasks.base import TaskFormat

SPLITS = ("train", "dev", "test")


#: the branch a Hub data set's own files are on
MAIN = "main"
#: the branch where the Hub keeps its Parquet conversion of a data set (``<config>/<split>/*.parquet``;
#: ``default`` for a data set without named configs): the only form ``datasets`` >= 4 can read of a
#: data set whose main is still a loading script
PARQUET_CONVERSION = "refs/convert/parquet"


@dataclass(frozen=True)
class HubSource:
    """Where a task lives on the Hugging Face Hub and how its rows become our examples.

    The layout facts (which branch holds readable files, which configs lack which splits) are the
    Hub's as it is today, declared here rather than discovered by trial, so that a missing split is
    known to be missing and a missing file is known to be a fault.
    """

    dataset_id: str
    #: config name for a language (tasks with one config ignore the language)
    config: Callable[[str], str | None]
    #: our split name -> the Hub's split name; ``{language}`` in it is the language asked for (XGLUE's
    #: splits are ``validation.de``, ``test.de``)
    splits: dict[str, str]
    #: Hub row -> example dict, or None to drop the row (e.g. no gold label)
    to_example: Callable[[dict], dict | None]
    #: the branches to read, in order: `MAIN` (the repo's own data files, as its README's ``configs:``
    #: declare them, read by ``datasets``) and/or `PARQUET_CONVERSION`; a later one is read when an
    #: earlier one holds only a loading script
    revisions: tuple[str, ...] = (MAIN,)
    #: Hub config -> the only Hub splits it has, for configs that lack some of ``splits``
    #: (google/xtreme's ``udpos.Thai`` has only ``test``): asking for another is a missing split
    config_splits: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Parallel:
    """A data set whose evaluation splits are translations of one another across its languages, so that
    training on one language of a split and evaluating another is not zero-shot (`stilts.overlap`)."""

    #: the data's name, shared by tasks that read the same release (``xnli`` and ``xglue_xnli``)
    data: str
    #: split -> how its languages align: ``line`` (the n-th example of each file) or ``id``
    splits: Mapping[str, str]
    #: split -> the (task, split) of the English data it was translated from (XQuAD's test from SQuAD
    #: v1.1's dev)
    translated_from: Mapping[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    name: str
    format: TaskFormat
    #: which stage kinds may use the task, e.g. "intermediate", "target", "evaluate"
    phases: frozenset[str]
    languages: tuple[str, ...]
    #: the main metric, used for early stopping and in tables
    metric: str
    description: str
    labels: tuple[str, ...] = ()
    #: reader of a local folder holding the original release files: (folder, split, language) -> examples
    read_local: Callable[[Path, str, str], list[dict]] | None = None
    hub: HubSource | None = None
    #: the task whose (English) training data trains this one, e.g. XNLI trains on MNLI
    train_task: str | None = None
    #: the language of the training and validation data
    source_language: str = "en"
    #: the splits evaluation reports by default
    eval_splits: tuple[str, ...] = ("dev", "test")
    #: tasks whose data together make this one, each read from its own ``data.<part>`` source
    #: (ANLI+ = ANLI rounds 1-3 + MNLI + SNLI with one head); see `stilts.data.load_examples`
    parts: tuple[str, ...] = ()
    #: the task this one is a variant of (``hellaswag@de`` of ``hellaswag``): it trains with that
    #: task's paper settings
    variant_of: str | None = None
    #: for a data set whose evaluation splits translate one another across languages
    parallel: Parallel | None = None
    extra: dict = field(default_factory=dict)

    @property
    def paper_name(self) -> str:
        """The name the paper's defaults (batch size, epochs) are listed under."""
        return self.variant_of or self.name


TASKS: Registry[Task] = Registry("task")


@dataclass(frozen=True)
class TaskFamily:
    """Tasks made on demand from a name that holds ``mark`` (``hellaswag@de``: HellaSwag in German)."""

    mark: str
    #: (name, where) -> the task, or BadInput naming ``where``
    resolve: Callable[[str, str], Task]


#: mark -> family; a name that is not a registered task but holds a family's mark is made by it
TASK_FAMILIES: Registry[TaskFamily] = Registry("task family")


def register_task(task: Task) -> Task:
    return TASKS.add(task.name, task)


def get_task(name: str, where: str = "task") -> Task:
    if name not in TASKS:
        for _, family in TASK_FAMILIES.items():
            if family.mark in name:
                return family.resolve(name, where)
    return TASKS.get(name, where)
