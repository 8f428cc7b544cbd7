"""The rows of a scores.csv as the file holds them, each checked: what `stilts table` tabulates
(`stilts.reports.scores.load_scores`) and what a run keeps when it writes the file again with its own
rows (`stilts.artifacts.upsert_scores`). Both read the file here, so that neither tabulates a number it
misread nor writes back a row it could not read (blanked, cut short, or as ``None``). A problem is a
BadInput naming the file and the line. Imports neither pandas nor torch.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from stilts.errors import BadInput, RunFailed
from stilts.names import SCORE_COLUMNS, STAGE, TRAINED_ON

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}
#: the key each row read keeps the number of its line under (a row with a quoted line break: its last)
LINE = "line"
#: the columns read: a file without `stage` (written before it existed) or `trained_on` is still read
_READ = (*SCORE_COLUMNS, TRAINED_ON)
_OPTIONAL = (STAGE, TRAINED_ON)


def read_score_rows(path: Path) -> list[dict] | None:
    """The rows of the scores.csv at ``path``, in file order: SCORE_COLUMNS (`mlm` a bool, `value` a
    float, the others stripped text; `stage` "" in a file without the column), TRAINED_ON (a bool) and
    LINE. None for a file without a header (empty, or blank lines only). Other columns are ignored."""
    data = path.read_bytes()
    try:
        # decoded whole (a scores.csv is small), so that a byte that is not UTF-8 is found on its line
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise BadInput(f"{path}: line {line}: not UTF-8 text (scores.csv is a CSV text file)") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header, rows = None, []
    try:
        for fields in reader:
            if not any(field.strip() for field in fields):
                continue  # blank line
            if header is None:
                header = [field.strip() for field in fields]
                index = _column_index(path, reader.line_num, header)
                continue
            if len(fields) != len(header):
                raise BadInput(f"{path}: line {reader.line_num}: expected {len(header)} fields, got {len(fields)}")
            rows.append(_parse_row(path, reader.line_num, fields, index))
    except csv.Error as error:
        raise BadInput(f"{path}: line {reader.line_num}: not a CSV line ({error})") from None
    return None if header is None else rows


def rows_to_keep(path: Path) -> list[dict]:
    """The rows of a run folder's scores.csv (none while there is no file) for a run that writes the file
    again with its own rows. RunFailed naming the file and the line where a row cannot be read: the run
    would lose it, and nothing is written."""
    if not path.exists():
        return []
    try:
        return read_score_rows(path) or []
    except BadInput as error:
        raise RunFailed(
            f"{error}; a run rewrites scores.csv with its rows and would lose what it cannot read: "
            "mend that line or move the file away"
        ) from None


def _column_index(path: Path, line: int, header: list[str]) -> dict[str, int | None]:
    """Where each column read is in ``header``; None for an optional column the file lacks."""
    required = [column for column in SCORE_COLUMNS if column not in _OPTIONAL]
    missing = [column for column in required if column not in header]
    if len(missing) == len(required):
        raise BadInput(f"{path}: not a scores CSV: line {line} has none of the columns {','.join(SCORE_COLUMNS)}")
    if missing:
        raise BadInput(f"{path}: line {line}: missing column(s): {', '.join(missing)}")
    for column in _READ:
        if header.count(column) > 1:  # which of the two holds the number?
            raise BadInput(f"{path}: line {line}: column '{column}' appears twice")
    return {column: header.index(column) if column in header else None for column in _READ}


def _parse_row(path: Path, line: int, fields: list[str], index: dict[str, int | None]) -> dict:
    row: dict = {column: "" if at is None else fields[at].strip() for column, at in index.items()}
    for column in ("intermediate", "target", "split", "language", "metric"):
        if not row[column]:
            raise BadInput(f"{path}: line {line}: empty '{column}'")
    mlm = row["mlm"].lower()
    if mlm not in _TRUE | _FALSE:
        raise BadInput(f"{path}: line {line}: 'mlm' must be true or false, got {row['mlm']!r}")
    row["mlm"] = mlm in _TRUE
    try:
        value = float(row["value"])
    except ValueError:
        raise BadInput(f"{path}: line {line}: 'value' is not a number: {row['value']!r}") from None
    if not math.isfinite(value):
        raise BadInput(f"{path}: line {line}: 'value' is not a finite number: {row['value']!r}")
    if not 0.0 <= value <= 100.0:
        raise BadInput(f"{path}: line {line}: 'value' {value} is outside 0-100 (scores are percentages)")
    row["value"] = value
    stage = row[STAGE]
    if stage and (Path(stage).name != stage or stage in (".", "..")):
        raise BadInput(f"{path}: line {line}: 'stage' must name a stage folder of the run folder, got {stage!r}")
    marked = row[TRAINED_ON].lower()
    if marked not in ("", *_TRUE):
        raise BadInput(f"{path}: line {line}: '{TRAINED_ON}' must be true or empty, got {row[TRAINED_ON]!r}")
    row[TRAINED_ON] = bool(marked)
    row[LINE] = line
    return row
