"""The task catalog: every task the toolkit knows, registered by the stage packages.

Core code looks tasks up here by name; the catalogs in ``stilts.intermediate`` and ``stilts.target``
register them when first needed. Nothing in core branches on task names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stilts.errors import BadInput, did_you_mean
from stilts.tasks.base import TaskFormat

CATALOG_MODULES = ("stilts.intermediate.catalog", "stilts.target.catalog")
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class HubSource:
    """Where a task lives on the Hugging Face Hub and how its rows become our examples."""

    dataset_id: str
    #: config name for a language (tasks with one config ignore the language)
    config: Callable[[str], str | None]
    #: our split name -> the Hub's split name
    splits: dict[str, str]
    #: Hub row -> example dict, or None to drop the row (e.g. no gold label)
    to_example: Callable[[dict], dict | None]


@dataclass(frozen=True)
class Task:
    name: str
    format: TaskFormat
    #: which stage kinds may use the task: "intermediate", "target", "evaluate"
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
    extra: dict = field(default_factory=dict)


_TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    if task.name in _TASKS:
        raise ValueError(f"task '{task.name}' registered twice")
    _TASKS[task.name] = task
    return task


def _load_catalogs() -> None:
    for module in CATALOG_MODULES:
        importlib.import_module(module)


def all_tasks() -> dict[str, Task]:
    _load_catalogs()
    return dict(_TASKS)


def get_task(name: str, where: str = "task") -> Task:
    tasks = all_tasks()
    if name not in tasks:
        raise BadInput(f"{where}: unknown task '{name}'{did_you_mean(name, tasks)}")
    return tasks[name]
