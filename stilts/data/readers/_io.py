"""Shared plumbing for the release-file readers: reading text, JSON and TSV with errors that name the
file and line (``path: line N: ...``), as ``stilts.core.errors.BadInput`` wants."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from stilts.core.errors import BadInput


def as_path(path) -> Path:
    return path if isinstance(path, Path) else Path(path)


def read_text(path) -> str:
    path = as_path(path)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise BadInput(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise BadInput(f"{path}: cannot read ({error.strerror or error})") from None


def numbered_lines(path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its line break) for every line of a UTF-8 text file."""
    path = as_path(path)
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            for number, line in enumerate(handle, start=1):
                yield number, line.rstrip("\n").rstrip("\r")
    except UnicodeDecodeError as error:
        raise BadInput(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise BadInput(f"{path}: cannot read ({error.strerror or error})") from None


def read_json(path):
    path = as_path(path)
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise BadInput(f"{path}: line {error.lineno}: invalid JSON ({error.msg})") from None


def read_jsonl(path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line of a JSON-lines file."""
    path = as_path(path)
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise BadInput(f"{path}: line {number}: invalid JSON ({error.msg})") from None
        if not isinstance(row, dict):
            raise BadInput(f"{path}: line {number}: expected a JSON object, found {type(row).__name__}")
        yield number, row


def field(row: dict, key: str, path, line: int, kind: type | tuple[type, ...] | None = None):
    """``row[key]``, or BadInput naming the file, line and field (missing, or not of ``kind``)."""
    if key not in row:
        raise BadInput(f"{path}: line {line}: missing field '{key}'")
    value = row[key]
    if kind is not None and not is_kind(value, kind):
        raise BadInput(f"{path}: line {line}: field '{key}' should be {kind_name(kind)}, found {json_type(value)}")
    return value


def string_list(row: dict, key: str, path, line: int) -> list[str]:
    """``row[key]``, a list of strings (choices, endings), or BadInput naming the file, line and field."""
    values = field(row, key, path, line, list)
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise BadInput(f"{path}: line {line}: field '{key}'[{index}] should be a string, found {json_type(value)}")
    return values


def row_id(row: dict, key: str, path, line: int, default: str | None = None) -> str:
    """The row's id ``row[key]`` (a string or an integer in the file) as a string; ``default`` where the
    row has none (required when ``default`` is None)."""
    if default is not None and key not in row:
        return default
    return str(field(row, key, path, line, (str, int)))


def is_kind(value, kind: type | tuple[type, ...]) -> bool:
    """``isinstance``, except that true/false is not an int (bool is a subclass of int in Python, so
    ``"answer_start": true`` would pass as offset 1)."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        return False
    return isinstance(value, kinds)


#: what JSON calls the values a reader may ask for
_JSON_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "an object",
}


def kind_name(kind: type | tuple[type, ...]) -> str:
    """``(str, int)`` -> "a string or an integer"."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_JSON_NAMES.get(k, k.__name__) for k in kinds)


def json_type(value) -> str:
    """How a value read from JSON is named in messages: null, true, a number, a string, ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return "a number"
    return _JSON_NAMES.get(type(value), type(value).__name__)


# A field written by Python's csv.writer / pandas.to_csv when it contains a quote: wrapped in
# quotes, inner quotes doubled. Raw release files (PAWS-X x-final, GLUE) are not quoted at all.
_CSV_QUOTED = re.compile(r'^"((?:[^"]|"")*)"$', re.DOTALL)


def unquote_csv_field(cell: str) -> str:
    """Undo csv-style quoting of one tab-separated cell; a cell that is not csv-quoted is returned as is.

    XTREME writes its per-language TSVs with ``csv.writer(delimiter='\\t')`` and the Hub exports with
    pandas, both of which quote cells that contain a quote character; the original releases do not quote.
    Splitting on tabs and unquoting only cells of the exact quoted shape reads both kinds of file.
    """
    match = _CSV_QUOTED.match(cell)
    return match.group(1).replace('""', '"') if match else cell


def tsv_cells(line: str, unquote: bool = False) -> list[str]:
    cells = line.split("\t")
    return [unquote_csv_field(cell) for cell in cells] if unquote else cells


def check_label(label: str, allowed, path, line: int, what: str = "label") -> str:
    if label not in allowed:
        shown = ", ".join(repr(a) for a in allowed)
        raise BadInput(f"{path}: line {line}: unknown {what} {label!r} (expected one of {shown})")
    return label


class WholeFileLabels:
    """Whether a file is labelled, decided once by its first row; a later row that disagrees is a bad line.

    Test files come without labels (XTREME strips them), so the readers of such formats take a missing
    label as "unlabelled". Decided row by row, one empty label field in a labelled file would make that
    row unlabelled, and evaluation would score it as a wrong answer; so a file is labelled or not as a
    whole, and every reader with optional labels passes each row's label through `agree`.
    """

    def __init__(self, path, what: str = "label"):
        self.path = path
        self.what = what
        self.first: tuple[int, bool] | None = None  # (line, labelled) of the first row

    def agree(self, label, line: int):
        """``label`` as given (None: this row has none), once the row agrees with the file's first row."""
        if self.first is None:
            self.first = (line, label is not None)
        first_line, labelled = self.first
        if labelled and label is None:
            raise BadInput(
                f"{self.path}: line {line}: no {self.what}, but line {first_line} has one "
                f"(a file is labelled on every line or on none)"
            )
        if not labelled and label is not None:
            raise BadInput(
                f"{self.path}: line {line}: {self.what} {label!r}, but line {first_line} has none "
                f"(a file is labelled on every line or on none)"
            )
        return label


def header_tsv(path, required) -> tuple[dict[str, int], Iterator[tuple[int, str]]]:
    """Open a TSV whose first line names the columns: (column name -> index, the remaining numbered
    lines). BadInput when the file is empty or a required column is missing."""
    path = as_path(path)
    lines = numbered_lines(path)
    try:
        _, header_line = next(lines)
    except StopIteration:
        raise BadInput(f"{path}: empty file") from None
    header = header_line.split("\t")
    missing = [name for name in required if name not in header]
    if missing:
        raise BadInput(f"{path}: line 1: missing column(s) {', '.join(missing)}")
    return {name: index for index, name in enumerate(header)}, lines


def hub_label(value, labels: Sequence[str], hub_names: Sequence[str] | None = None, what: str = "label") -> str | None:
    """A Hub label as the files' name: a ClassLabel id indexes the Hub's order (which ``labels``
    follow); a string is one of ``hub_names`` (the Hub's names, where they differ from the files') or
    of ``labels``. -1 or None (no label) -> None."""
    if value is None or (isinstance(value, int) and value < 0):
        return None
    if isinstance(value, int) and value < len(labels):
        return labels[value]
    if hub_names is not None and value in hub_names:
        return labels[list(hub_names).index(value)]
    if value in labels:
        return str(value)
    raise BadInput(
        f"unknown {what} {value!r} in a Hub row (expected an id below {len(labels)} or one of {', '.join(labels)})"
    )
