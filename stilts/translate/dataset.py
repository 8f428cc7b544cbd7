"""The translated data set on disk: ``{split}.jsonl`` + ``metadata.json`` in one folder.

``{split}.jsonl`` holds one example dict per line, in the task's own schema (what the task's readers
return: ids and labels as in the original, texts translated), so the folder is read back without
knowing the task's release formats. Several splits go into the same folder, each file written
atomically (temporary file + rename), then ``metadata.json`` records per split where it came from
(``translated_from``: model, source task, split, target language, count, date, decoding settings).

Given as ``data: {"<task>@<lang>": folder}``, the folder is read by the derived task that
`stilts.core.catalog.get_task` builds (`stilts.translate.variants`) for ``<task>@<lang>``; see `read_translated_split`.
"""

from __future__ import annotations

import json
from pathlib import Path

from stilts.core.artifacts import write_json_atomic, write_text_atomic
from stilts.core.catalog import Task
from stilts.core.errors import BadInput
from stilts.data.readers._io import read_json, read_jsonl
from stilts.data.readers.layout import note_file_read
from stilts.data.readers.qa import training_questions
from stilts.formats.span_qa import SpanQA, SpanQAWithNoAnswer

METADATA = "metadata.json"


def split_file(folder: Path, split: str) -> Path:
    return Path(folder) / f"{split}.jsonl"


def read_metadata(folder: Path) -> dict:
    path = Path(folder) / METADATA
    if not path.is_file():
        return {}
    metadata = read_json(path)
    if not isinstance(metadata, dict):
        raise BadInput(f"{path}: expected a JSON object")
    return metadata


def write_split(folder: Path, split: str, examples: list[dict], *, task: str, language: str, note: dict) -> Path:
    """Write ``{split}.jsonl`` atomically, then record ``note`` under ``translated_from.<split>``."""
    folder = Path(folder)
    metadata = read_metadata(folder)
    for key, value in (("task", task), ("language", language)):
        if metadata.get(key, value) != value:
            raise BadInput(
                f"{folder / METADATA}: {key}: the folder holds '{metadata[key]}' data, "
                f"not '{value}'; choose another --output"
            )
    text = "".join(json.dumps(example, ensure_ascii=False) + "\n" for example in examples)
    write_text_atomic(split_file(folder, split), text)
    metadata.update(task=task, language=language, name=f"{task}@{language}")
    metadata.setdefault("translated_from", {})[split] = note
    write_json_atomic(folder / METADATA, metadata)
    return split_file(folder, split)


def read_translated_split(folder: Path, split: str, task: Task, language: str | None = None) -> list[dict] | None:
    """The examples of ``{split}.jsonl`` in ``folder``, or None when the folder has no such file.
    A folder whose metadata names another task (other than the one whose data trains ``task``: an
    ``mnli`` translation trains XNLI) or another language than ``language`` is refused (it was given
    under the wrong name); each line must be an example of the task's schema
    (`TaskFormat.example_problem`), and a span-QA training file's answers must be at their offsets
    (`stilts.data.readers.qa.training_questions`)."""
    path = split_file(folder, split)
    if not path.is_file():
        return None
    metadata = read_metadata(folder)
    source_task = metadata.get("task")
    if source_task is not None and source_task not in (task.name, task.train_task):
        raise BadInput(
            f"{Path(folder) / METADATA}: task: this folder holds translated '{source_task}' data, not '{task.name}'"
        )
    if language is not None and metadata.get("language", language) != language:
        raise BadInput(
            f"{Path(folder) / METADATA}: language: this folder holds '{metadata['language']}' data, not '{language}'"
        )
    note_file_read(path)
    examples = []
    for number, example in read_jsonl(path):
        problem = task.format.example_problem(example, task)
        if problem is not None:
            raise BadInput(f"{path}: line {number}: {problem}")
        examples.append(example)
    if split == "train" and isinstance(task.format, SpanQA):  # answers at their offsets, as release files'
        examples = training_questions(examples, path, unanswerable=isinstance(task.format, SpanQAWithNoAnswer))
    return examples
