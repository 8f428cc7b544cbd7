"""Readers for MultiNLI and XNLI in their original release formats.

Every reader returns pair-classification examples ``{"id", "text_a", "text_b", "label"}`` with the
label as its name (``entailment``/``neutral``/``contradiction``), so no integer label order leaks out
of a file format: the task's label list alone decides the ids (docs/tasks.md: XTREME and jiant use another
order than the Hub).

Formats:
- MultiNLI jsonl (``multinli_1.0_{train,dev_matched}.jsonl``): ``sentence1``, ``sentence2``,
  ``gold_label`` (``-`` = no consensus, dropped), ``pairID``.
- GLUE MNLI TSV (``train.tsv``, ``dev_matched.tsv``): header row with ``sentence1``, ``sentence2``,
  ``gold_label``; text is not quoted, so quote characters are literal.
- XNLI-1.0 (``xnli.{dev,test}.tsv``): every language in one file, header with ``language``,
  ``gold_label``, ``sentence1``, ``sentence2``, ``pairID``; filtered by language.
- XTREME's per-language form (``dev-xx.tsv``, ``test-xx.tsv``): ``premise\\thypothesis\\tlabel``, no header
  (XTREME's test files: no label).
- XNLI-MT (``multinli.train.{en,de,...}.tsv``): header ``premise hypo label``; ``contradictory`` means
  contradiction. The other languages are MNLI machine-translated, read as ``mnli@<lang>``.
"""

from __future__ import annotations

from pathlib import Path

from stilts.core.errors import BadInput, MissingSplit
from stilts.data.readers._io import WholeFileLabels, field, header_tsv, numbered_lines, read_jsonl, row_id, tsv_cells
from stilts.data.readers.layout import SPLITS, FileLayout, find_file, labelled

NLI_LABELS = ("entailment", "neutral", "contradiction")
_LABEL_ALIASES = {"contradictory": "contradiction"}
NO_GOLD_LABEL = "-"


def _label(raw: str, path: Path, line: int) -> str:
    label = _LABEL_ALIASES.get(raw.strip(), raw.strip())
    if label not in NLI_LABELS:
        raise BadInput(f"{path}: line {line}: label '{raw}' is not one of {', '.join(NLI_LABELS)}")
    return label


def read_multinli_jsonl(path: Path) -> list[dict]:
    examples = []
    for number, row in read_jsonl(path):
        raw_label = field(row, "gold_label", path, number, str)
        premise = field(row, "sentence1", path, number, str)
        hypothesis = field(row, "sentence2", path, number, str)
        if raw_label == NO_GOLD_LABEL:
            continue
        example_id = row_id(row, "pairID", path, number, default=f"{path.name}:{number}")
        examples.append(
            {"id": example_id, "text_a": premise, "text_b": hypothesis, "label": _label(raw_label, path, number)}
        )
    return examples


def _read_header_tsv(path: Path, columns: dict[str, str], language: str | None = None) -> list[dict]:
    """A TSV with a header row; ``columns`` maps our field names to the file's column names."""
    wanted = dict(columns, language="language") if language else columns
    column, lines = header_tsv(path, wanted.values())
    index = {field: column[name] for field, name in wanted.items()}
    examples = []
    for number, line in lines:
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != len(column):  # a field too many shifts nothing here, but a stray tab is a damaged line
            raise BadInput(f"{path}: line {number}: {len(cells)} tab-separated fields, the header has {len(column)}")
        if language and cells[index["language"]] != language:
            continue
        raw_label = cells[index["label"]]
        if raw_label == NO_GOLD_LABEL:
            continue
        example_id = cells[index["id"]] if "id" in index else f"{path.name}:{number}"
        examples.append(
            {
                "id": example_id,
                "text_a": cells[index["text_a"]],
                "text_b": cells[index["text_b"]],
                "label": _label(raw_label, path, number),
            }
        )
    return examples


def read_glue_mnli_tsv(path: Path) -> list[dict]:
    return _read_header_tsv(path, {"id": "pairID", "text_a": "sentence1", "text_b": "sentence2", "label": "gold_label"})


def read_xnli_mt_tsv(path: Path) -> list[dict]:
    return _read_header_tsv(path, {"text_a": "premise", "text_b": "hypo", "label": "label"})


def read_xnli_original_tsv(path: Path, language: str | None) -> list[dict]:
    """XNLI-1.0's ``xnli.{dev,test}.tsv``: the lines of ``language``, or of every language for None."""
    return _read_header_tsv(
        path, {"id": "pairID", "text_a": "sentence1", "text_b": "sentence2", "label": "gold_label"}, language=language
    )


def read_xtreme_nli_tsv(path: Path) -> list[dict]:
    """XTREME per-language files: premise, hypothesis, label; no header. The test files XTREME hands out
    have no labels (two fields on every line, or an empty third): their ``label`` is None. A file is
    labelled or not as a whole (`WholeFileLabels`): one empty label in a labelled file is a bad line."""
    examples = []
    width = 0  # the first line's: 3 with labels, 2 without
    labels = WholeFileLabels(path)
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        # XTREME wrote these with csv.writer, which quotes cells that contain a quote character
        cells = tsv_cells(line, unquote=True)
        width = width or (len(cells) if len(cells) == 2 else 3)
        if len(cells) != width:
            fields = "premise, hypothesis, label" if width == 3 else "premise, hypothesis: an unlabelled file"
            raise BadInput(
                f"{path}: line {number}: expected {width} tab-separated fields ({fields}), found {len(cells)}"
            )
        label = labels.agree(cells[2] if width == 3 and cells[2].strip() else None, number)
        examples.append(
            {
                "id": f"{path.stem}:{number}",
                "text_a": cells[0],
                "text_b": cells[1],
                "label": None if label is None else _label(label, path, number),
            }
        )
    return examples


_MNLI_FILES = {
    "train": ["multinli_1.0_train.jsonl", "train.tsv", "multinli.train.en.tsv"],
    "dev": ["multinli_1.0_dev_matched.jsonl", "dev_matched.tsv"],
}


def _mnli_file_names(split: str, language: str | None) -> list[str]:
    """English: every release's names. Another language: XNLI-MT's machine-translated training set
    ``multinli.train.{language}.tsv`` (XNLI-MT translated no dev set), read as ``mnli@{language}``."""
    if language in (None, "en"):
        return _MNLI_FILES.get(split, [])
    return [f"multinli.train.{language}.tsv"] if split == "train" else []


def read_mnli_folder(folder: Path, split: str, language: str | None = None) -> list[dict]:
    """MNLI from a MultiNLI-1.0, GLUE MNLI or XNLI-MT folder (the first file found wins). A function,
    not a `FileLayout`: English and the translated languages have different file sets."""
    english = language in (None, "en")
    what = f"MNLI {split} file" + ("" if english else f" in '{language}'")
    names = _mnli_file_names(split, language)
    if not names:
        nothing = "nothing: unknown split" if english else "nothing: XNLI-MT translated only train"
        raise MissingSplit(f"{folder}: no {what} (looked for {nothing})")
    path = find_file(Path(folder), names, what)
    if path.suffix == ".jsonl":
        return read_multinli_jsonl(path)
    if path.name.startswith("multinli.train."):
        return read_xnli_mt_tsv(path)
    return read_glue_mnli_tsv(path)


def read_xnli_file(path: Path, language: str | None) -> list[dict]:
    """One language of an XNLI file: XNLI-1.0's ``xnli.{dev,test}.tsv`` (every language, a header row
    starting with ``language``) or XTREME's per-language ``{split}-{language}.tsv`` (no header)."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        first_line = handle.readline()
    if first_line.split("\t", 1)[0] == "language":
        return read_xnli_original_tsv(path, language)
    return read_xtreme_nli_tsv(path)


def read_labelled_xnli_file(path: Path, language: str | None) -> list[dict]:
    """`read_xnli_file`; a file without labels (XTREME's test files) is `Unlabelled`: evaluation skips it."""
    return labelled(read_xnli_file(path, language), path, why="XTREME strips them from its test files")


#: XNLI dev/test for one language from XTREME's per-language files or an XNLI-1.0 folder
read_xnli_folder = FileLayout(
    "XNLI",
    {split: (f"{split}-{{language}}.tsv", f"xnli.{split}.tsv") for split in SPLITS},
    parse=read_labelled_xnli_file,
)
