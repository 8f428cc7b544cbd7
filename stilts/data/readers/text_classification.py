"""Single-text classification files in the MLDoc style: ``label<TAB>text`` per line, no header,
one file per split and language (``train-en.tsv``, ``dev-en.tsv``, ``test-de.tsv``, ...)."""

from __future__ import annotations

from pathlib import Path

from stilts.core.errors import BadInput
from stilts.data.readers._io import numbered_lines
from stilts.data.readers.layout import SPLITS, FileLayout, ignoring_language


def read_label_text_tsv(path: Path, labels: tuple[str, ...]) -> list[dict]:
    examples = []
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        cells = line.split("\t")
        # a second tab would otherwise end up inside the text, unnoticed
        if len(cells) != 2:
            raise BadInput(
                f"{path}: line {number}: expected 'label<TAB>text', found {len(cells)} tab-separated field(s)"
            )
        label, text = cells
        if not text.strip():
            raise BadInput(f"{path}: line {number}: expected 'label<TAB>text', found no text")
        if label not in labels:
            raise BadInput(f"{path}: line {number}: label '{label}' is not one of {', '.join(labels)}")
        examples.append({"id": f"{path.stem}:{number}", "text_a": text, "text_b": None, "label": label})
    return examples


def label_text_folder_reader(labels: tuple[str, ...]) -> FileLayout:
    """A ``read_local`` for a catalog entry: ``{split}-{language}.tsv`` files of ``label<TAB>text``."""
    return FileLayout(
        "",
        {split: (f"{split}-{{language}}.tsv",) for split in SPLITS},
        parse=ignoring_language(lambda path: read_label_text_tsv(path, labels)),
    )
