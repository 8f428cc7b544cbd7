"""Loading a task's examples for one split and language, from local release files or the Hub."""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import chain, zip_longest
from pathlib import Path

from stilts.catalog import Task, get_task
from stilts.errors import BadInput, MissingSplit, RunFailed, Unlabelled, is_hub_outage

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


def _load_examples(task: Task, split: str, language: str, sources: dict[str, str]) -> list[dict]:
    if task.parts:
        return _load_parts(task, split, language, sources)
    if split == "train" and task.train_task:
        task = training_task(task)
    source = sources.get(task.name, HUB)
    if source == HUB:
        examples = _load_from_hub(task, split, language)
    else:
        if task.read_local is None:
            raise BadInput(f"data.{task.name}: task '{task.name}' has no reader for local files")
        examples = task.read_local(Path(source), split, language)
    if not examples:
        raise BadInput(f"data.{task.name}: no {split} examples for language '{language}' in {source}")
    return examples


def _load_parts(task: Task, split: str, language: str, sources: dict[str, str]) -> list[dict]:
    """Examples of a task made of other tasks' data, each part from its own ``data.<part>`` source.

    - train: every part's training set, concatenated, then shuffled once with a fixed seed. jiant
      trains ANLI+ multi-task over its parts with examples-proportional sampling and one head, which in
      expectation is training on the shuffled concatenation (TASKS.md); the loader reshuffles every
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
    if task.hub is None:
        raise BadInput(f"data.{task.name}: task '{task.name}' is not on the Hub; give a local folder")
    if split not in task.hub.splits:
        raise MissingSplit(f"data.{task.name}: the Hub dataset {task.hub.dataset_id} has no {split} split")
    import datasets

    config = task.hub.config(language)
    hub_split = task.hub.splits[split].format(language=language)
    try:
        if task.hub.parquet_files is not None:
            files = task.hub.parquet_files(config, hub_split)
            rows = datasets.load_dataset("parquet", data_files={hub_split: files}, split=hub_split)
        else:
            rows = datasets.load_dataset(task.hub.dataset_id, config, split=hub_split)
    # what datasets documents: FileNotFoundError (DatasetNotFoundError) for an unknown or unreachable
    # dataset, ValueError for an unknown config or split, ConnectionError when the Hub is down
    except (OSError, ValueError) as error:
        where = f"{task.hub.dataset_id}" + (f" ({config})" if config else "")
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if is_hub_outage(error):
            raise RunFailed(f"data.{task.name}: the Hub did not answer for {where}: {first_line}") from None
        raise BadInput(
            f"data.{task.name}: cannot load {where} from the Hub: {first_line}. "
            f"Give a local folder of the original files under data.{task.name}"
        ) from None
    examples = []
    for row in rows:
        example = task.hub.to_example(row)
        if example is not None:
            examples.append(example)
    return examples
