"""Multiple choice: HellaSwag, Cosmos QA, CommonsenseQA.

Examples are ``{"id", "context", "choices": [...], "label": int}``; ``label`` is the 0-based index of
the right choice, or None in test files without answers. What ``context`` holds:

- HellaSwag: ``ctx`` (= ``ctx_a`` + ``ctx_b``, the full prompt); choices = ``endings``. (jiant instead
  prompts with ``ctx_a`` and prepends ``ctx_b`` to every ending; the words seen are the same.)
- Cosmos QA: ``context + " " + question``, as jiant's ``CosmosQATask`` builds the prompt.
- CommonsenseQA: the question stem (there is no passage), as jiant's ``CommonsenseQATask``.

The label formats differ (TASKS.md): HellaSwag an int in the release and a string on the Hub,
Cosmos QA an int, CommonsenseQA a letter mapped with ``choices.label.index(answerKey)``.
"""

from __future__ import annotations

import csv
import io

from stilts.errors import BadInput
from stilts.readers._io import as_path, field, read_jsonl, read_text


def _choice_index(raw, n_choices: int, path, line: int) -> int | None:
    """An int label (or its string form); None for the unlabelled forms ("" or -1)."""
    if raw is None or raw == "" or raw == -1 or raw == "-1":
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, str)) or not str(raw).strip().isdigit():
        raise BadInput(f"{path}: line {line}: label {raw!r} is not a choice number")
    index = int(raw)
    if index >= n_choices:
        raise BadInput(f"{path}: line {line}: label {index} but only {n_choices} choices")
    return index


def read_hellaswag(path) -> list[dict]:
    """HellaSwag ``hellaswag_{train,val,test}.jsonl`` (label int) or a Hub export (label string)."""
    path = as_path(path)
    examples = []
    for number, row in read_jsonl(path):
        endings = field(row, "endings", path, number, list)
        if not all(isinstance(e, str) for e in endings):
            raise BadInput(f"{path}: line {number}: 'endings' should be a list of strings")
        examples.append(
            {
                "id": str(row.get("ind", f"{path.stem}:{number}")),
                "context": field(row, "ctx", path, number, str),
                "choices": endings,
                "label": _choice_index(row.get("label"), len(endings), path, number),
            }
        )
    return examples


COSMOSQA_COLUMNS = ("id", "context", "question", "answer0", "answer1", "answer2", "answer3")


def read_cosmosqa(path) -> list[dict]:
    """Cosmos QA ``train.csv``/``valid.csv``: header ``id,context,question,answer0..answer3,label``
    (quoted CSV; ``label`` absent in test)."""
    path = as_path(path)
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise BadInput(f"{path}: empty file") from None
    missing = [c for c in COSMOSQA_COLUMNS if c not in header]
    if missing:
        raise BadInput(f"{path}: line 1: missing column(s) {', '.join(missing)}")
    column = {name: header.index(name) for name in header}
    examples = []
    start = reader.line_num + 1  # a record may span lines: name the line it starts on
    try:
        for row in reader:
            number, start = start, reader.line_num + 1
            if not row:
                continue
            if len(row) != len(header):
                raise BadInput(f"{path}: line {number}: {len(row)} fields, the header has {len(header)}")
            label = row[column["label"]].strip() if "label" in column else None
            examples.append(
                {
                    "id": row[column["id"]],
                    "context": row[column["context"]] + " " + row[column["question"]],
                    "choices": [row[column[f"answer{i}"]] for i in range(4)],
                    "label": _choice_index(label, 4, path, number),
                }
            )
    except csv.Error as error:
        raise BadInput(f"{path}: line {start}: bad CSV ({error})") from None
    return examples


def read_commonsenseqa(path) -> list[dict]:
    """CommonsenseQA jsonl in the original nested form (``{"answerKey", "id", "question": {"stem",
    "choices": [{"label", "text"}]}}``) or the Hub's flat form (``{"id", "question", "choices":
    {"label": [...], "text": [...]}, "answerKey"}``), told apart per line as jiant does."""
    path = as_path(path)
    examples = []
    for number, row in read_jsonl(path):
        question = field(row, "question", path, number, (dict, str))
        if isinstance(question, dict):  # original release
            stem = field(question, "stem", path, number, str)
            choices = field(question, "choices", path, number, list)
            try:
                letters = [c["label"] for c in choices]
                texts = [c["text"] for c in choices]
            except (KeyError, TypeError):
                raise BadInput(
                    f"{path}: line {number}: question.choices should be [{{'label', 'text'}}, ...]"
                ) from None
        else:  # Hugging Face datasets schema
            stem = question
            choices = field(row, "choices", path, number, dict)
            letters = field(choices, "label", path, number, list)
            texts = field(choices, "text", path, number, list)
        if len(letters) != len(texts):
            raise BadInput(f"{path}: line {number}: {len(letters)} choice labels for {len(texts)} texts")
        answer = row.get("answerKey") or None
        if answer is not None and answer not in letters:
            raise BadInput(f"{path}: line {number}: answerKey {answer!r} is not one of the choice labels {letters}")
        examples.append(
            {
                "id": str(field(row, "id", path, number)),
                "context": stem,
                "choices": texts,
                "label": letters.index(answer) if answer is not None else None,
            }
        )
    return examples
