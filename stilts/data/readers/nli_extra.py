"""ANLI and SNLI, the NLI parts of ANLI+ besides MNLI (which is in ``stilts.data.readers.nli``).

Examples are ``{"id", "text_a", "text_b", "label"}`` with ``entailment``/``neutral``/``contradiction``,
the label order shared by the Hub's SNLI, MNLI and ANLI (docs/tasks.md, ANLI+ note).
"""

from __future__ import annotations

from stilts.core.errors import BadInput
from stilts.data.readers._io import as_path, check_label, field, header_tsv, read_jsonl, row_id
from stilts.data.readers.nli import NLI_LABELS

_ANLI_LABELS = {"e": "entailment", "n": "neutral", "c": "contradiction"}
SNLI_NO_GOLD_LABEL = "-"


def read_anli(path) -> list[dict]:
    """ANLI v1.0 ``R{1,2,3}/{train,dev,test}.jsonl``: ``uid``, ``context`` (the premise),
    ``hypothesis``, ``label`` in e/n/c."""
    path = as_path(path)
    examples = []
    for number, row in read_jsonl(path):
        raw = field(row, "label", path, number, str)
        check_label(raw, tuple(_ANLI_LABELS), path, number)
        examples.append(
            {
                "id": row_id(row, "uid", path, number),
                "text_a": field(row, "context", path, number, str),
                "text_b": field(row, "hypothesis", path, number, str),
                "label": _ANLI_LABELS[raw],
            }
        )
    return examples


def read_snli(path) -> list[dict]:
    """SNLI 1.0 ``snli_1.0_{train,dev,test}.txt``: a TSV with a header naming ``gold_label``,
    ``sentence1``, ``sentence2``, ``pairID``. Rows whose gold label is ``-`` (no annotator majority;
    the Hub's label -1) are dropped."""
    path = as_path(path)
    column, lines = header_tsv(path, ("gold_label", "sentence1", "sentence2"))
    examples = []
    for number, line in lines:
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != len(column):
            raise BadInput(f"{path}: line {number}: {len(cells)} tab-separated fields, the header has {len(column)}")
        raw = cells[column["gold_label"]].strip()
        if raw == SNLI_NO_GOLD_LABEL:
            continue
        examples.append(
            {
                "id": cells[column["pairID"]] if "pairID" in column else f"{path.stem}:{number}",
                "text_a": cells[column["sentence1"]],
                "text_b": cells[column["sentence2"]],
                "label": check_label(raw, NLI_LABELS, path, number),
            }
        )
    return examples
