"""Loading a task's examples for one split and language, from local release files or the Hub."""

from __future__ import annotations

from pathlib import Path

from stilts.errors import BadInput
from stilts.registry import Task, get_task

HUB = "hub"


def training_task(task: Task) -> Task:
    """The task whose data trains ``task`` (XNLI trains on MNLI)."""
    return get_task(task.train_task) if task.train_task else task


def load_examples(task: Task, split: str, language: str, sources: dict[str, str]) -> list[dict]:
    """Examples of ``task`` for ``split`` in ``language``.

    ``sources`` maps task names to a local folder of original release files, or to ``hub``
    (the default for a task not in it). A target task's training split comes from its training task.
    """
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


def _load_from_hub(task: Task, split: str, language: str) -> list[dict]:
    if task.hub is None:
        raise BadInput(f"data.{task.name}: task '{task.name}' is not on the Hub; give a local folder")
    if split not in task.hub.splits:
        raise BadInput(f"data.{task.name}: the Hub dataset {task.hub.dataset_id} has no {split} split")
    import datasets

    config = task.hub.config(language)
    try:
        rows = datasets.load_dataset(task.hub.dataset_id, config, split=task.hub.splits[split])
    except Exception as error:  # the Hub client raises many types: offline, missing config, auth
        where = f"{task.hub.dataset_id}" + (f" ({config})" if config else "")
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise BadInput(f"data.{task.name}: cannot load {where} from the Hub: {first_line}. "
                       f"Give a local folder of the original files under data.{task.name}") from None
    examples = []
    for row in rows:
        example = task.hub.to_example(row)
        if example is not None:
            examples.append(example)
    return examples
