"""Prediction files in the forms the official scripts take, read with errors naming file and line.

- QA: a JSON object ``{question_id: answer_text}`` (SQuAD/MLQA scripts); SQuAD v2 no-answer
  probabilities likewise ``{question_id: probability}``. Ids that are not gold questions are ignored,
  as the official scripts do, and counted.
- classification: one label per line, in gold order (XTREME ``read_label``).
- tagging: one tag per line, a blank line between sentences (XTREME ``read_tag``); a line may also
  be ``token<TAB>tag``, the tag being its last field (XGLUE: the line is the tag; a short sentence is
  padded with ``O``, as its evaluator pads it).
- ranking (XGLUE's WPR): one score a line, in gold order.
- Tatoeba: line i is English sentence i; it holds the 0-based index of the non-English line that
  sentence retrieves (XTREME's ``similarity_search`` indexes the non-English side and queries it
  with the English one; stilts' pipeline does the same).
- BUCC: candidate pairs ``source_id<TAB>target_id<TAB>score``; a pair listed twice keeps its best
  score (``read_candidate2score``). Or the pairs already mined, ``source_id<TAB>target_id``: XTREME's
  submission files, which its evaluate.py scores as a set.

Each format has its writer at the end (what evaluate stages and `stilts predict` write).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Sequence

from stilts.core.errors import BadInput
from stilts.data.readers._io import as_path, numbered_lines, read_text


def _line_of(text: str, key: str) -> int:
    """The line where ``key`` is written as a JSON string (raw or \\u-escaped); 1 if not found."""
    for needle in (json.dumps(key, ensure_ascii=False), json.dumps(key)):
        index = text.find(needle)
        if index >= 0:
            return text.count("\n", 0, index) + 1
    return 1


def _json_object(path) -> tuple[dict, str]:
    path = as_path(path)
    text = read_text(path)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadInput(f"{path}: line {error.lineno}: invalid JSON ({error.msg})") from None
    if not isinstance(document, dict):
        raise BadInput(
            f"{path}: line 1: expected a JSON object {{question_id: answer}}, found {type(document).__name__}"
        )
    return document, text


def _gold_entries(path, document: dict, text: str, gold_ids: Collection[str], language: str) -> tuple[dict, int]:
    """The entries of ``document`` whose id is a gold question id, and how many others there were.

    Every official script skips ids that are not gold questions (it looks up the gold ids only), so a
    file covering more questions (all languages of TyDiQA, say) scores its gold ones; a file with no
    gold question at all is the wrong file and is refused.
    """
    kept = {key: value for key, value in document.items() if key in gold_ids}
    if document and not kept:
        first = next(iter(document))
        raise BadInput(
            f"{path}: line {_line_of(text, first)}: none of its {len(document)} question ids is "
            f"a gold question (--language {language}), e.g. '{first}'"
        )
    return kept, len(document) - len(kept)


def read_qa_predictions(path, gold_ids: Collection[str], language: str) -> tuple[dict[str, str], int]:
    """``{question_id: answer_text}`` of the gold questions, and how many other ids were ignored."""
    path = as_path(path)
    document, text = _json_object(path)
    for question_id, answer in document.items():
        if not isinstance(answer, str):
            raise BadInput(
                f"{path}: line {_line_of(text, question_id)}: the answer to '{question_id}' "
                f"should be a string, found {type(answer).__name__}"
            )
    return _gold_entries(path, document, text, gold_ids, language)


def read_na_probs(path, gold_ids: Collection[str], language: str) -> tuple[dict[str, float], int]:
    """SQuAD v2 ``{question_id: no-answer probability}`` (the official ``--na-prob-file``) of the gold
    questions, in the file's order (it breaks ties of the best-threshold search), and how many other
    ids were ignored."""
    path = as_path(path)
    document, text = _json_object(path)
    for question_id, value in document.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadInput(
                f"{path}: line {_line_of(text, question_id)}: the probability for '{question_id}' should be a number"
            )
    probs, ignored = _gold_entries(path, document, text, gold_ids, language)
    return {question_id: float(value) for question_id, value in probs.items()}, ignored


def _count_error(path, got: int, expected: int, what: str) -> BadInput:
    if got > expected:
        return BadInput(f"{path}: line {expected + 1}: more {what} than the {expected} in the gold file")
    return BadInput(f"{path}: line {got + 1}: the file ends after {got} {what}; the gold file has {expected}")


def _value_lines(path) -> list[tuple[int, str]]:
    """Lines of a one-value-per-line file; trailing blank lines are ignored."""
    lines = list(numbered_lines(path))
    while lines and not lines[-1][1].strip():
        lines.pop()
    return lines


def read_label_predictions(path, expected: int, labels: Sequence[str]) -> list[str]:
    """One label name per line, ``expected`` of them, each one of ``labels``."""
    path = as_path(path)
    lines = _value_lines(path)
    if len(lines) != expected:
        raise _count_error(path, len(lines), expected, "predictions")
    predictions = []
    for number, line in lines:
        label = line.strip()
        if label not in labels:
            raise BadInput(f"{path}: line {number}: unknown label {label!r} (expected one of {', '.join(labels)})")
        predictions.append(label)
    return predictions


def read_tag_predictions(
    path, gold: Sequence[Sequence[str]], labels: Collection[str], *, pad: str | None = None, whole_line: bool = False
) -> list[list[str]]:
    """Sentences of tags shaped like ``gold`` (one list of tags per sentence); blank lines separate
    sentences (several in a row count as one). A line's tag is its last field, or with ``whole_line``
    the whole line (XGLUE's evaluator reads ``line.strip()``). With ``pad``, a predicted sentence
    shorter than its gold one is filled up with ``pad`` tags, as XGLUE's evaluator does with ``O``."""
    path = as_path(path)
    sentences: list[list[str]] = []
    starts: list[int] = []
    current: list[str] = []
    for number, line in numbered_lines(path):
        if not line.strip():
            if current:
                sentences.append(current)
                current = []
            continue
        if not current:
            starts.append(number)
        tag = line.strip() if whole_line else line.split()[-1]
        if tag not in labels:
            raise BadInput(f"{path}: line {number}: unknown tag {tag!r}")
        current.append(tag)
    if current:
        sentences.append(current)
    if len(sentences) != len(gold):
        where = starts[len(gold)] if len(sentences) > len(gold) else (starts[-1] if starts else 1)
        raise BadInput(f"{path}: line {where}: {len(sentences)} sentences, the gold file has {len(gold)}")
    for index, (predicted, expected) in enumerate(zip(sentences, gold)):
        if pad is not None and len(predicted) < len(expected):
            predicted.extend([pad] * (len(expected) - len(predicted)))
        if len(predicted) != len(expected):
            raise BadInput(
                f"{path}: line {starts[index]}: sentence {index + 1} has {len(predicted)} "
                f"tags, the gold sentence has {len(expected)} tokens"
            )
    return sentences


def read_score_predictions(path, expected: int) -> list[float]:
    """One number a line (a ranking score: WPR's), ``expected`` of them; XGLUE's evaluator reads each
    with ``float()``."""
    path = as_path(path)
    lines = _value_lines(path)
    if len(lines) != expected:
        raise _count_error(path, len(lines), expected, "scores")
    scores = []
    for number, line in lines:
        try:
            value = float(line.strip())
        except ValueError:
            raise BadInput(f"{path}: line {number}: {line.strip()!r} is not a number") from None
        if not math.isfinite(value):
            raise BadInput(f"{path}: line {number}: score {line.strip()!r} is not a finite number")
        scores.append(value)
    return scores


#: a line index as XTREME's evaluate.py can match it: it compares the stripped text of each line with
#: the gold index written by str(int), so only plain ASCII decimals without a leading zero ever match
#: ("00", "+1" or a fullwidth "０" never would; int() would read some of them, str.isdigit() takes "²")
_INDEX = re.compile(r"0|[1-9][0-9]*")


def read_index_predictions(path, expected: int, n_targets: int, targets: str = "target file") -> list[int]:
    """One 0-based line index of ``targets`` per line, ``expected`` of them, each below ``n_targets``."""
    path = as_path(path)
    lines = _value_lines(path)
    if len(lines) != expected:
        raise _count_error(path, len(lines), expected, "predictions")
    indices = []
    for number, line in lines:
        text = line.strip()
        if not _INDEX.fullmatch(text):
            raise BadInput(
                f"{path}: line {number}: expected a 0-based line index in ASCII digits without "
                f"a leading zero, found {text!r}"
            )
        if int(text) >= n_targets:
            raise BadInput(f"{path}: line {number}: index {text} is past the last line of {targets} ({n_targets - 1})")
        indices.append(int(text))
    return indices


def bucc_file_has_scores(path) -> bool:
    """Whether a BUCC prediction file holds scored candidates (three fields) or mined pairs (two)."""
    for _, line in numbered_lines(as_path(path)):
        if line.strip():
            return len(line.strip().split("\t")) == 3
    return True


def _bucc_lines(path, fields: int, sources: Collection[str] | None, targets: Collection[str] | None):
    """(line number, cells) of a BUCC prediction file's ``fields``-field lines, ids checked."""
    expected = "source_id<TAB>target_id" + ("<TAB>score" if fields == 3 else "")
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        cells = line.strip().split("\t")
        if len(cells) != fields:
            raise BadInput(f"{path}: line {number}: expected '{expected}', found {len(cells)} field(s)")
        if sources is not None and cells[0] not in sources:
            raise BadInput(f"{path}: line {number}: unknown source id '{cells[0]}'")
        if targets is not None and cells[1] not in targets:
            raise BadInput(f"{path}: line {number}: unknown target id '{cells[1]}'")
        yield number, cells


def read_bucc_candidates(
    path, sources: Collection[str] | None = None, targets: Collection[str] | None = None
) -> dict[tuple[str, str], float]:
    """``source_id<TAB>target_id<TAB>score`` lines -> {(source id, target id): best score}; ids are
    checked against ``sources``/``targets`` when given."""
    path = as_path(path)
    candidates: dict[tuple[str, str], float] = {}
    for number, (source, target, raw_score) in _bucc_lines(path, 3, sources, targets):
        try:
            score = float(raw_score)
        except ValueError:
            raise BadInput(f"{path}: line {number}: score {raw_score!r} is not a number") from None
        if math.isnan(score):
            raise BadInput(f"{path}: line {number}: score is NaN")
        candidates[(source, target)] = max(score, candidates.get((source, target), score))
    if not candidates:
        raise BadInput(f"{path}: no candidate pairs")
    return candidates


def read_bucc_pairs(
    path, sources: Collection[str] | None = None, targets: Collection[str] | None = None
) -> set[tuple[str, str]]:
    """Mined pairs ``source_id<TAB>target_id`` (XTREME's submission files, whose evaluate.py scores the
    set as it is); an empty file is no pair mined."""
    path = as_path(path)
    return {(source, target) for _, (source, target) in _bucc_lines(path, 2, sources, targets)}


# --------------------------------------------------------------------------- writing the same formats


def value_lines(values: Sequence) -> str:
    """One value a line (labels, choice or line indices): what `read_label_predictions` and
    `read_index_predictions` read."""
    return "".join(f"{value}\n" for value in values)


def tag_lines(sentences: Sequence[Sequence[str]]) -> str:
    """One tag a line, a blank line after each sentence: what `read_tag_predictions` reads."""
    return "".join("".join(f"{tag}\n" for tag in tags) + "\n" for tags in sentences)


def qa_json(answers: dict[str, str]) -> str:
    """``{question_id: answer_text}``: what `read_qa_predictions` reads."""
    return json.dumps(answers, ensure_ascii=False, indent=1) + "\n"


def pair_lines(pairs: Sequence[tuple[str, str]]) -> str:
    """Mined BUCC pairs ``source_id<TAB>english_id``, XTREME's submission format (`read_bucc_candidates`
    reads them as pairs already cut at a threshold)."""
    return "".join(f"{source}\t{target}\n" for source, target in pairs)
