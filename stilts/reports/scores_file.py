"""scores.csv, the one module that knows the file: its columns, the writer (`upsert_scores`, what an evaluate
stage writes under the file's lock) and the reader (the rows as the file holds them, each checked: what
`stilts table` tabulates through `stilts.reports.scores.load_scores`, and what a run keeps when it writes
the file again with its own rows). Both read the file here, so that neither tabulates a number it
misread nor writes back a row it could not read (blanked, cut short, or as ``None``). A problem is a
BadInput naming the file and the line. Imports neither pandas nor torch.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Collection
from pathlib import Path

from stilts.core.artifacts import locked, write_text_atomic
from stilts.core.errors import BadInput, RunFailed
from stilts.core.names import base_seed

#: the column naming the evaluate stage that wrote a row: its folder in the run folder,
#: ``<name>-<fingerprint[:8]>``. Last, so that the columns before it keep the places they had in files
#: written before it existed; such files are still read, their rows naming no stage
STAGE = "stage"
#: a column after SCORE_COLUMNS, in files that have a marked row: "true" for a row scored on examples the
#: model trained on, or on translations of them (an evaluate stage with allow_overlap, `stilts.pipeline.overlap`),
#: which is not zero-shot; empty for the others
TRAINED_ON = "trained_on"
#: the columns of scores.csv, in order (docs/concepts.md, "scores.csv")
SCORE_COLUMNS = ("pipeline", "intermediate", "mlm", "target", "seed", "split", "language", "metric", "value", STAGE)
#: a row's identity: a rerun replaces the rows it wrote before instead of duplicating them
SCORE_KEY = ("pipeline", "intermediate", "mlm", "target", "seed", "split", "language", "metric")

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


def upsert_scores(path: Path, rows: list[dict], pipeline_stages: Collection[str]) -> None:
    """Write one evaluate stage's rows (each naming it in ``stage``) into ``scores.csv``, under its lock:
    a sweep's processes and Slurm jobs write the one file at once. ``pipeline_stages``: the folder names
    of every stage the rows' pipeline has now (all of them, also where `stilts sweep --stage` runs only
    one). The rows replace

    - a row with the same key (`SCORE_KEY`: the same thing scored again);
    - every row of the same pipeline and seed (a shot set's rows, seed ``1/set0``, are seed 1's) whose
      stage is not one of ``pipeline_stages``: the pipeline
      was changed and run again, and the rows of what it was go as a whole, so that no run's language
      average pools the new model's rows with the old one's;
    - a row of the same run (pipeline, target, seed) that names no stage (a file written before the
      column existed): nothing says which stage wrote it, and the run is scored again now;
    - every row of the same pipeline and seed that the same stage wrote before under another
      ``intermediate`` (a reused evaluation of a translate-train model, labelled so since): the stage's
      rows are the new ones, not both.

    The rows of other pipelines, and of this pipeline's other seeds, stay."""
    new_keys = {_key(row) for row in rows}
    runs = {(_csv_cell(row["pipeline"]), base_seed(row["seed"])) for row in rows}
    targets = {(_csv_cell(row["pipeline"]), base_seed(row["seed"]), _csv_cell(row["target"])) for row in rows}
    writing = {row[STAGE] for row in rows}
    labels = {_csv_cell(row["intermediate"]) for row in rows}
    current = set(pipeline_stages) | writing

    def replaced(row: dict) -> bool:
        if _key(row) in new_keys:
            return True
        pipeline, target = _csv_cell(row["pipeline"]), _csv_cell(row["target"])
        seed = base_seed(row["seed"])  # a shot set's rows (seed 1/set0) are of seed 1's run
        if (pipeline, seed) not in runs:
            return False
        stage = row[STAGE]  # "": a row of a file written before the column existed
        if stage in writing and _csv_cell(row["intermediate"]) not in labels:
            return True
        return stage not in current if stage else (pipeline, seed, target) in targets

    with locked(path):
        # a row that cannot be read is refused (RunFailed), never dropped or written back blank
        kept = [row for row in rows_to_keep(path) if not replaced(row)]
        marked = any(row.get(TRAINED_ON) for row in kept + rows)
        # the marker column only where a row is marked: zero-shot runs' files keep the plain columns
        columns = SCORE_COLUMNS + ((TRAINED_ON,) if marked else ())
        lines = [",".join(columns)]
        for row in kept + rows:
            cells = [_csv_cell(row[column]) for column in SCORE_COLUMNS]
            if marked:
                cells.append("true" if row.get(TRAINED_ON) else "")
            lines.append(",".join(cells))
        write_text_atomic(path, "\n".join(lines) + "\n")


def _key(row: dict) -> tuple[str, ...]:
    return tuple(_csv_cell(row[column]) for column in SCORE_KEY)


def _csv_cell(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if any(char in text for char in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text
