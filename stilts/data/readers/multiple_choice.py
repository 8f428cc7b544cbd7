"""Multiple choice: HellaSwag, Cosmos QA, CommonsenseQA, COPA/XCOPA, Social IQa.

Examples are ``{"id", "context", "choices": [...], "label": int}``; ``label`` is the 0-based index of
the right choice, or None in test files without answers. What ``context`` holds:

- HellaSwag: ``ctx`` (= ``ctx_a`` + ``ctx_b``, the full prompt); choices = ``endings``. (jiant instead
  prompts with ``ctx_a`` and prepends ``ctx_b`` to every ending; the words seen are the same.)
- Cosmos QA: ``context + " " + question``, as jiant's ``CosmosQATask`` builds the prompt.
- CommonsenseQA: the question stem (there is no passage), as jiant's ``CommonsenseQATask``.
- COPA and XCOPA: the premise and the question word as a question (``"... What was the cause?"``,
  ``"... What was the effect?"``), as XTREME-R's ``run_xcopa.py`` builds the prompt; see `copa_context`.
- Social IQa: ``context + " " + question``, as XTREME-R's ``run_xcopa.py`` and jiant's
  ``SocialIQATask`` build it.

The label formats differ (docs/tasks.md): HellaSwag an int in the release and a string on the Hub,
Cosmos QA an int, CommonsenseQA a letter mapped with ``choices.label.index(answerKey)``, COPA/XCOPA an
int (0 = ``choice1``), Social IQa a letter ``A``-``C`` in v1.4's ``correct`` field or a 1-based number
``1``-``3`` in the leaderboard release's separate ``*-labels.lst`` file and on the Hub. A file is
labelled on every line or on none (`WholeFileLabels`): a row without a label in a labelled file is a bad
line, not a question scored as wrong.
"""

from __future__ import annotations

import csv
import io

from stilts.core.errors import BadInput, Unlabelled
from stilts.data.readers._io import (
    WholeFileLabels,
    as_path,
    field,
    numbered_lines,
    read_jsonl,
    read_text,
    row_id,
    string_list,
)


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
    labels = WholeFileLabels(path)
    for number, row in read_jsonl(path):
        endings = string_list(row, "endings", path, number)
        examples.append(
            {
                "id": row_id(row, "ind", path, number, default=f"{path.stem}:{number}"),
                "context": field(row, "ctx", path, number, str),
                "choices": endings,
                "label": labels.agree(_choice_index(row.get("label"), len(endings), path, number), number),
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
    labels = WholeFileLabels(path)
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
                    "label": labels.agree(_choice_index(label, 4, path, number), number),
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
    labels = WholeFileLabels(path, "answerKey")
    for number, row in read_jsonl(path):
        question = field(row, "question", path, number, (dict, str))
        if isinstance(question, dict):  # original release
            stem = field(question, "stem", path, number, str)
            choices = field(question, "choices", path, number, list)
            if not all(isinstance(choice, dict) for choice in choices):
                raise BadInput(f"{path}: line {number}: question.choices should be [{{'label', 'text'}}, ...]")
            letters = [field(choice, "label", path, number, str) for choice in choices]
            texts = [field(choice, "text", path, number, str) for choice in choices]
        else:  # Hugging Face datasets schema
            stem = question
            choices = field(row, "choices", path, number, dict)
            letters = string_list(choices, "label", path, number)
            texts = string_list(choices, "text", path, number)
        if len(letters) != len(texts):
            raise BadInput(f"{path}: line {number}: {len(letters)} choice labels for {len(texts)} texts")
        # absent or "": an unlabelled (test) question
        raw_answer = field(row, "answerKey", path, number, str) if "answerKey" in row else ""
        answer = labels.agree(raw_answer or None, number)
        if answer is not None and answer not in letters:
            raise BadInput(f"{path}: line {number}: answerKey {answer!r} is not one of the choice labels {letters}")
        examples.append(
            {
                "id": row_id(row, "id", path, number),
                "context": stem,
                "choices": texts,
                "label": letters.index(answer) if answer is not None else None,
            }
        )
    return examples


# --------------------------------------------------------------------------- COPA, XCOPA

#: a COPA/XCOPA row's ``question`` -> the question put after the premise. The encoder sees the question
#: as words rather than as a bare "cause"/"effect" tag, phrased as XTREME-R's ``run_xcopa.py`` phrases
#: it (``f"{premise} What was the {question}?"``), so scores are comparable with XTREME-R's XCOPA.
#: (jiant's ``CopaTask`` asks "What was the cause of this?"/"What happened as a result?".) The phrase
#: stays English in every XCOPA language, as in XTREME-R: the files give the question only as the
#: English word.
COPA_QUESTIONS = {"cause": "What was the cause?", "effect": "What was the effect?"}
COPA_CHOICES = ("choice1", "choice2")


def copa_context(premise: str, question: str) -> str:
    return f"{premise} {COPA_QUESTIONS[question]}"


def copa_row_to_example(row: dict) -> dict | None:
    """A COPA/XCOPA row as the Hub serves it (``aps/super_glue`` copa, ``cambridgeltl/xcopa``: label
    0 = choice1, 1 = choice2; -1 in SuperGLUE's unlabelled test); None for an unlabelled row."""
    if row["label"] is None or int(row["label"]) < 0:
        return None
    return {
        "id": str(row["idx"]),
        "context": copa_context(row["premise"], row["question"]),
        "choices": [row[key] for key in COPA_CHOICES],
        "label": int(row["label"]),
    }


def read_copa(path) -> list[dict]:
    """COPA and XCOPA JSONL, one ``{"premise", "choice1", "choice2", "question", "label", "idx"}`` per
    line (XTREME-R's ``train-en.jsonl``/``val-xx.jsonl``, the XCOPA release's ``xx/val.xx.jsonl``,
    SuperGLUE's COPA ``train.jsonl``/``val.jsonl``); ``question`` is ``cause`` or ``effect``, ``label``
    0 (choice1) or 1 (choice2), absent or -1 when unlabelled. XCOPA's ``changed`` flag is not kept."""
    path = as_path(path)
    examples = []
    labels = WholeFileLabels(path)
    for number, row in read_jsonl(path):
        premise = field(row, "premise", path, number, str)
        choices = [field(row, key, path, number, str) for key in COPA_CHOICES]
        question = field(row, "question", path, number, str)
        if question not in COPA_QUESTIONS:
            raise BadInput(f"{path}: line {number}: question {question!r} is neither 'cause' nor 'effect'")
        examples.append(
            {
                "id": row_id(row, "idx", path, number, default=f"{path.stem}:{number}"),
                "context": copa_context(premise, question),
                "choices": choices,
                "label": labels.agree(_choice_index(row.get("label"), len(choices), path, number), number),
            }
        )
    return examples


def read_xcopa(path, language: str | None = None) -> list[dict]:
    """`read_copa`, telling XTREME-R's test copies (``test-xx.jsonl``) from labelled files: XTREME-R's
    script wrote label 0 for every test question (the labels are withheld), which would read as real
    answers. Such a file is `Unlabelled`: evaluation skips it as missing, `stilts predict` takes its
    questions with labels None. The labelled XCOPA test sets are the release's ``xx/test.xx.jsonl``
    and the Hub's ``cambridgeltl/xcopa``."""
    path = as_path(path)
    examples = read_copa(path)
    if path.name.startswith("test-") and len(examples) > 1 and all(e["label"] == 0 for e in examples):
        raise Unlabelled(
            f"{path}: every label is 0: XTREME-R's XCOPA test files have their labels withheld (the labelled "
            f"test sets: the XCOPA release's <lang>/test.<lang>.jsonl, or the Hub's cambridgeltl/xcopa)",
            [{**example, "label": None} for example in examples],
        )
    return examples


# --------------------------------------------------------------------------- Social IQa

SIQA_ANSWERS = ("answerA", "answerB", "answerC")
SIQA_LETTERS = ("A", "B", "C")


def siqa_row_to_example(row: dict) -> dict | None:
    """A row of the Hub's ``allenai/social_i_qa``: its label is the 1-based answer number as a string
    ("1"-"3", as the leaderboard release's labels file); None for a row without one."""
    if not str(row.get("label") or "").strip():
        return None
    return {
        "id": "",
        "context": row["context"] + " " + row["question"],
        "choices": [row[key] for key in SIQA_ANSWERS],
        "label": int(row["label"]) - 1,
    }


def _siqa_labels(path) -> list[tuple[int, int]]:
    """(line number, 0-based answer index) of a leaderboard ``*-labels.lst`` (1-based, one per line)."""
    labels = []
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        if line.strip() not in ("1", "2", "3"):
            raise BadInput(f"{path}: line {number}: label {line.strip()!r} is not 1, 2 or 3")
        labels.append((number, int(line.strip()) - 1))
    return labels


def read_siqa(path) -> list[dict]:
    """Social IQa JSONL, ``{"context", "question", "answerA", "answerB", "answerC"}`` per line, in either
    release: v1.4 (``socialIQa_v1.4_{trn,dev,tst}.jsonl``) with the answer letter inline (``"correct":
    "A"``-``"C"``), or the leaderboard's ``socialiqa-train-dev.zip`` (``train.jsonl``, ``dev.jsonl``)
    whose answers are 1-based numbers, one per line, in the labels file beside it
    (``dev-labels.lst`` for ``dev.jsonl``). Neither: the labels are None."""
    path = as_path(path)
    rows = list(read_jsonl(path))
    labels_path = path.with_name(f"{path.stem}-labels.lst")
    labels = _siqa_labels(labels_path) if labels_path.is_file() else None
    if labels is not None and len(labels) != len(rows):
        raise BadInput(f"{labels_path}: {len(labels)} labels for the {len(rows)} questions of {path.name}")
    examples = []
    inline = WholeFileLabels(path, "'correct' answer")  # v1.4's answers, on every line or none
    for index, (number, row) in enumerate(rows):
        context = field(row, "context", path, number, str)
        question = field(row, "question", path, number, str)
        choices = [field(row, key, path, number, str) for key in SIQA_ANSWERS]
        letter = inline.agree(row.get("correct"), number)
        if letter is not None:
            if letter not in SIQA_LETTERS:
                raise BadInput(f"{path}: line {number}: 'correct' is {letter!r}, not one of A, B, C")
            label: int | None = SIQA_LETTERS.index(letter)
        else:
            label = labels[index][1] if labels is not None else None
        examples.append(
            {"id": f"{path.stem}:{number}", "context": context + " " + question, "choices": choices, "label": label}
        )
    return examples
