"""The task catalog: every task the toolkit knows, registered by the stage packages.

Core code looks tasks up here by name; the catalogs in ``stilts.intermediate`` and ``stilts.target``
register them when first needed. Nothing in core branches on task names.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stilts.errors import BadInput, did_you_mean
from stilts.tasks.base import TaskFormat

CATALOG_MODULES = ("stilts.intermediate.catalog", "stilts.target.catalog", "stilts.mlm.catalog")
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
    #: tasks whose data together make this one, each read from its own ``data.<part>`` source
    #: (ANLI+ = ANLI rounds 1-3 + MNLI + SNLI with one head); see `stilts.data.load_examples`
    parts: tuple[str, ...] = ()
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
        if TRANSLATED_MARK in name:
            return translated_task(name, where)
        raise BadInput(f"{where}: unknown task '{name}'{did_you_mean(name, tasks)}")
    return tasks[name]


# --- translated variants: `<task>@<lang>` -------------------------------------------------------

#: ``hellaswag@de`` = HellaSwag's data in German (made by `stilts translate`, or translated releases)
TRANSLATED_MARK = "@"
_TRANSLATED: dict[str, Task] = {}


def base_task_name(name: str) -> str:
    """``hellaswag@de`` -> ``hellaswag`` (a translated variant trains with its task's paper settings)."""
    return name.partition(TRANSLATED_MARK)[0]


def translated_task(name: str, where: str = "task") -> Task:
    """The task ``<task>@<lang>``: ``task``'s format, labels and metric, with data in ``lang`` read only
    from a local folder (``data.<task>@<lang>``, there is no Hub source): ``{split}.jsonl`` as `stilts
    translate` writes it, else the task's own release files in that language (XNLI-MT's
    ``multinli.train.de.tsv`` for ``mnli@de``)."""
    if name in _TRANSLATED:
        return _TRANSLATED[name]
    base_name, _, language = name.partition(TRANSLATED_MARK)
    tasks = all_tasks()
    if base_name not in tasks:
        raise BadInput(f"{where}: unknown task '{base_name}' in '{name}'{did_you_mean(base_name, tasks)}")
    if not re.fullmatch(r"[a-z]{2}", language):
        raise BadInput(f"{where}: '{name}': the language after '{TRANSLATED_MARK}' must be a 2-letter "
                       f"ISO 639-1 code (e.g. '{base_name}{TRANSLATED_MARK}de')")
    base = tasks[base_name]
    if "intermediate" not in base.phases:
        raise BadInput(f"{where}: '{name}': translated variants are intermediate tasks, and "
                       f"'{base_name}' is not one")
    task = Task(name=name, format=base.format, phases=frozenset({"intermediate"}), languages=(language,),
                metric=base.metric, labels=base.labels, source_language=language,
                description=f"{base.description}; in {language} (local folder: stilts translate output "
                            "or translated release files)",
                read_local=functools.partial(_read_translated, base, language), eval_splits=base.eval_splits,
                extra=dict(base.extra, translated_from=base.name))
    _TRANSLATED[name] = task
    return task


def _read_translated(base: Task, language: str, folder: Path, split: str, requested: str) -> list[dict]:
    from stilts.readers.nli import MissingSplit
    from stilts.translate.dataset import read_translated_split

    name = f"{base.name}{TRANSLATED_MARK}{language}"
    if requested != language:
        raise MissingSplit(f"{folder}: {name} has only '{language}' data, not '{requested}'")
    examples = read_translated_split(folder, split, base.name)
    if examples is not None:
        return examples
    if base.read_local is None:
        raise MissingSplit(f"{folder}: no {split}.jsonl (stilts translate output) for {name}")
    try:
        return base.read_local(folder, split, language)
    except MissingSplit as missing:
        raise MissingSplit(f"no {split}.jsonl (stilts translate output) and {missing}") from None


# --- multi-task mixing, provided by the intermediate package ------------------------------------

_MIXER = []


def register_mixer(mixer) -> None:
    """``mixer`` provides ``mixing_rates``, ``mixture_batches`` and ``TaskSampler`` (see
    ``stilts.intermediate.mixing``)."""
    _MIXER[:] = [mixer]


def mixer():
    _load_catalogs()
    if not _MIXER:
        raise RuntimeError("no multi-task mixer registered (is stilts.intermediate installed?)")
    return _MIXER[0]
