"""Sentence-pair classification TSVs: PAWS-X and QQP (GLUE), and XTREME's translate-train TSVs of XNLI and
PAWS-X.

Examples are ``{"id", "text_a", "text_b", "label"}`` with the label as its name: PAWS-X ``"0"``/``"1"``
(1 = paraphrase; the Hub's ClassLabel names), QQP ``not_duplicate``/``duplicate`` (the Hub's order).
A file without labels (XTREME's stripped test files, GLUE test) gives ``label`` None.
"""

from __future__ import annotations

from stilts.core.errors import BadInput
from stilts.data.readers._io import as_path, check_label, header_tsv, numbered_lines, tsv_cells
from stilts.data.readers.layout import note

PAWSX_LABELS = ("0", "1")
QQP_LABELS = ("not_duplicate", "duplicate")
_PAWSX_HEADER = ["id", "sentence1", "sentence2", "label"]


def read_pawsx(path) -> list[dict]:
    """PAWS-X in either form:

    - original ``x-final/{lang}/{train,dev_2k,test_2k}.tsv``: header ``id sentence1 sentence2 label``
      (the Hub exports of it quote cells csv-style; both are read);
    - XTREME per-language ``{split}-{lang}.tsv``: ``sentence1\\tsentence2\\tlabel`` without header
      (``pawsx_preprocess`` writes it with ``csv.writer``), or without the label column for test.

    Every row must have the same number of fields (docs/tasks.md: the Hub's ``google/xtreme`` parser silently
    drops rows that do not have 4; here that is an error naming the line).
    """
    path = as_path(path)
    lines = [(n, line) for n, line in numbered_lines(path) if line.strip()]
    if not lines:
        raise BadInput(f"{path}: empty file")
    header = lines[0][1].split("\t")
    if header[:3] == _PAWSX_HEADER[:3]:
        return _read_pawsx_original(path, header, lines[1:])
    width = len(lines[0][1].split("\t"))
    if width not in (2, 3):
        raise BadInput(
            f"{path}: line {lines[0][0]}: expected 'sentence1<TAB>sentence2<TAB>label' "
            f"or a header '{' '.join(_PAWSX_HEADER)}', found {width} field(s)"
        )
    examples = []
    for number, line in lines:
        cells = tsv_cells(line, unquote=True)
        if len(cells) != width:
            raise BadInput(f"{path}: line {number}: {len(cells)} tab-separated fields, line {lines[0][0]} has {width}")
        label = check_label(cells[2].strip(), PAWSX_LABELS, path, number) if width == 3 else None
        examples.append({"id": f"{path.stem}:{number}", "text_a": cells[0], "text_b": cells[1], "label": label})
    return examples


def _read_pawsx_original(path, header: list[str], rows) -> list[dict]:
    if header not in (_PAWSX_HEADER, _PAWSX_HEADER[:3]):
        raise BadInput(f"{path}: line 1: header should be '{chr(9).join(_PAWSX_HEADER)}'")
    examples = []
    for number, line in rows:
        cells = tsv_cells(line, unquote=True)
        if len(cells) != len(header):
            raise BadInput(f"{path}: line {number}: {len(cells)} tab-separated fields, the header has {len(header)}")
        label = check_label(cells[3].strip(), PAWSX_LABELS, path, number) if len(header) == 4 else None
        examples.append({"id": cells[0], "text_a": cells[1], "text_b": cells[2], "label": label})
    return examples


def read_qqp(path) -> list[dict]:
    """GLUE QQP TSV (``QQP/{train,dev,test}.tsv``): header ``id qid1 qid2 question1 question2
    is_duplicate`` (test: ``id question1 question2``). Cells are not quoted (the Hub's GLUE loader
    reads them with ``csv.QUOTE_NONE``)."""
    path = as_path(path)
    column, lines = header_tsv(path, ("id", "question1", "question2"))
    labelled = "is_duplicate" in column
    examples = []
    for number, line in lines:
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != len(column):
            raise BadInput(f"{path}: line {number}: {len(cells)} tab-separated fields, the header has {len(column)}")
        label = None
        if labelled:
            raw = check_label(cells[column["is_duplicate"]].strip(), ("0", "1"), path, number)
            label = QQP_LABELS[int(raw)]
        examples.append(
            {
                "id": cells[column["id"]],
                "text_a": cells[column["question1"]],
                "text_b": cells[column["question2"]],
                "label": label,
            }
        )
    return examples


#: a translated training file with more than this share of its lines skipped is refused: its lines are
#: not what the reader takes them for
MAX_SKIPPED_SHARE = 0.5


def read_translated_pairs(path, labels, aliases=None) -> list[dict]:
    """XTREME's translate-train files of sentence pairs (``en-{lang}-translated.tsv`` of XNLI and PAWS-X):
    no header, cells not quoted, each line ``english1<TAB>english2<TAB>translated1<TAB>translated2<TAB>label``
    (the English pair kept beside its translation); files of three fields a line
    (``translated1<TAB>translated2<TAB>label``) are read too. ``aliases`` maps a file's label to ours
    (XNLI's ``contradictory``). Lines with another number of fields than the first, or a label outside
    ``labels`` (PAWS-X's files have a few such lines, which TFDS's loader drops as well), are skipped and
    counted in a note; a file with more than half of its lines skipped is refused."""
    path = as_path(path)
    aliases = aliases or {}
    lines = [(number, line) for number, line in numbered_lines(path) if line.strip()]
    if not lines:
        raise BadInput(f"{path}: empty file")
    width = len(lines[0][1].split("\t"))
    if width not in (3, 5):
        raise BadInput(
            f"{path}: line {lines[0][0]}: expected 5 tab-separated fields (english1, english2, translated1, "
            f"translated2, label) or 3 (translated1, translated2, label), found {width}"
        )
    examples, skipped = [], []
    for number, line in lines:
        cells = line.split("\t")
        label = aliases.get(cells[-1].strip(), cells[-1].strip())
        if len(cells) != width or label not in labels:
            skipped.append(number)
            continue
        first, second = cells[-3], cells[-2]
        examples.append({"id": f"{path.stem}:{number}", "text_a": first, "text_b": second, "label": label})
    if skipped:
        what = f"lines without {width} fields or with a label other than {', '.join(labels)} (first: line {skipped[0]})"
        if len(skipped) > MAX_SKIPPED_SHARE * len(lines):
            raise BadInput(f"{path}: {len(skipped)} of {len(lines)} {what}: is this an XTREME translate-train file?")
        note(f"{path}: skipped {len(skipped)} of {len(lines)} {what}")
    return examples
