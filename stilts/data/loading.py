"""Loading a task's examples for one split and language, from local release files or the Hub."""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from itertools import chain, zip_longest
from pathlib import Path

from stilts.core.catalog import Task, get_task
from stilts.core.collector import Collector
from stilts.core.errors import BadInput, MissingSplit, Unlabelled
from stilts.data.content import file_sha256
from stilts.data.readers.layout import noting_files_read

HUB = "hub"
#: fixed shuffle of a composite task's concatenated training parts (see `_load_parts`)
PARTS_SHUFFLE_SEED = 0


@dataclass(frozen=True)
class DataRead:
    """One call of `load_examples` that a stage makes: what a run must be able to read."""

    task: Task
    split: str
    language: str
    #: the stage goes on without it when the data has no such split or language (MissingSplit)
    optional: bool = False


def training_task(task: Task) -> Task:
    """The task whose data trains ``task`` (XNLI trains on MNLI)."""
    return get_task(task.train_task) if task.train_task else task


def load_examples(
    task: Task, split: str, language: str, sources: dict[str, str], *, unlabelled: bool = False
) -> list[dict]:
    """Examples of ``task`` for ``split`` in ``language``.

    ``sources`` maps task names to a local folder of original release files, or to ``hub``
    (the default for a task not in it). A target task's training split comes from its training task.
    A file without labels is missing (`Unlabelled`) unless ``unlabelled`` takes it (`stilts predict`).
    """
    try:
        return _load_examples(task, split, language, sources)
    except Unlabelled as error:
        if not unlabelled:
            raise
        return error.examples


def data_source(task: Task, sources: dict[str, str]) -> str:
    """Where ``task``'s data is read from: its own ``data.<task>``, else the first of its `Task.data_from`
    that the pipeline gives (``pawsx@de``: ``data.pawsx@all``), else the Hub."""
    for name in (task.name, *task.data_from):
        if name in sources:
            return sources[name]
    return HUB


def _load_examples(task: Task, split: str, language: str, sources: dict[str, str]) -> list[dict]:
    if task.parts:
        return _load_parts(task, split, language, sources)
    if split == "train" and task.train_task:
        task = training_task(task)
    source = data_source(task, sources)
    if source == HUB:
        examples = _load_from_hub(task, split, language)
    else:
        if task.read_local is None:
            raise BadInput(f"data.{task.name}: task '{task.name}' has no reader for local files")
        with noting_files_read() as files:
            examples = task.read_local(Path(source), split, language)
        if _ORIGINS.active:  # hashing the files read is for a record someone keeps
            _note_origin(task, split, language, local_origin(Path(source), files))
    if not examples:
        raise BadInput(f"data.{task.name}: no {split} examples for language '{language}' in {source}")
    return examples


# --- where each split came from -------------------------------------------------------------------

_ORIGINS: Collector[dict] = Collector("origins")


def recording_origins() -> contextlib.AbstractContextManager[list[dict]]:
    """Where each split that `load_examples` reads inside comes from, once per (task, split, language):
    ``{"task", "split", "language"}`` with, for a local folder, ``local`` and ``files`` (path -> sha256),
    or for the Hub, ``hub``, ``config``, ``split`` (the Hub's), ``revision`` and the commit ``sha``
    served. A stage records it in its config.json (``sources``); `stilts prepare` prints it."""
    return _ORIGINS.collecting()


def _note_origin(task: Task, split: str, language: str, origin: dict) -> None:
    _ORIGINS.add({"task": task.name, "split": split, "language": language, "from": origin})


def local_origin(folder: Path, files: list[Path]) -> dict:
    """A local folder and the sha256 of each file read from it (relative names where they are inside it)."""
    folder = folder.resolve()
    hashes, size = {}, 0
    for path in dict.fromkeys(file.resolve() for file in files):
        name = str(path.relative_to(folder)) if path.is_relative_to(folder) else str(path)
        hashes[name] = file_sha256(path)
        size += path.stat().st_size
    return {"local": str(folder), "files": hashes, "bytes": size}


def _load_parts(task: Task, split: str, language: str, sources: dict[str, str]) -> list[dict]:
    """Examples of a task made of other tasks' data, each part from its own ``data.<part>`` source.

    - train: every part's training set, concatenated, then shuffled once with a fixed seed. jiant
      trains ANLI+ multi-task over its parts with examples-proportional sampling and one head, which in
      expectation is training on the shuffled concatenation (docs/tasks.md); the loader reshuffles every
      epoch with the pipeline's seed, and the fixed shuffle makes a truncated run (max_train_examples)
      see every part in proportion. Every part must have it.
    - dev (and test): the parts' sets interleaved round-robin (first of each part, then second, ...),
      so the first 500 dev examples used for early stopping hold 100 of each of 5 parts, and their
      accuracy is the mean over the parts, as jiant's multi-task validation averages the tasks'
      scores. A part without the split is left out; MissingSplit when no part has it.
    """
    if sources.get(task.name, HUB) != HUB:
        raise BadInput(
            f"data.{task.name}: {task.name} is read from its parts; give "
            + ", ".join(f"data.{part}" for part in task.parts)
            + " instead"
        )
    if split == "train":
        examples = list(
            chain.from_iterable(load_examples(get_task(part), split, language, sources) for part in task.parts)
        )
        random.Random(PARTS_SHUFFLE_SEED).shuffle(examples)
        return examples
    per_part, missing = [], []
    for part in task.parts:
        try:
            per_part.append(load_examples(get_task(part), split, language, sources))
        except MissingSplit as error:
            missing.append(str(error))
    if not per_part:
        raise MissingSplit(f"data.{task.name}: no part has a {split} split ({'; '.join(missing)})")
    return [example for row in zip_longest(*per_part) for example in row if example is not None]


def _load_from_hub(task: Task, split: str, language: str) -> list[dict]:
    if task.hub is None and task.data_from:  # a translation: there is no data until a folder is given
        folders = " or ".join(f"data.{name}" for name in (task.name, *task.data_from))
        raise MissingSplit(f"data.{task.name}: {task.name} is not on the Hub; give a local folder as {folders}")
    if task.hub is None:
        raise BadInput(f"data.{task.name}: task '{task.name}' is not on the Hub; give a local folder")
    if split not in task.hub.splits:
        raise MissingSplit(f"data.{task.name}: the Hub dataset {task.hub.dataset_id} has no {split} split")
    from stilts.data.hub import read_hub_split

    hub_split = task.hub.splits[split].format(language=language)
    rows, origin = read_hub_split(task.hub, language, hub_split, f"data.{task.name}")
    _note_origin(task, split, language, origin.record())
    examples = []
    for number, row in enumerate(rows):
        example = task.hub.to_example(row)
        if example is None:
            continue
        # a Hub column may hold nulls: found here, not as a crash in the tokenizer mid-stage
        problem = task.format.example_problem(example, task)
        if problem is not None:
            raise BadInput(f"data.{task.name}: {task.hub.dataset_id} {hub_split} row {number}: {problem}")
        examples.append(example)
    return examples
