"""XGLUE's understanding tasks in their original release layout (``xglue_full_dataset.tar.gz`` ->
``xglue_full_dataset/{NER,POS,NC,MLQA,XNLI,PAWSX,QADSM,WPR,QAM}/``), and their label vocabularies.

- NER and POS: ``{lang}.{train,dev,test}``, one ``word tag`` line per token, a blank line between
  sentences (`read_xglue_tagging`). NER is CoNLL-2002/2003 with IOB1 tags (an entity starts with
  ``I-``; ``B-`` only splits two adjacent entities of one type), POS the 17 UPOS tags.
- NC, QADSM, WPR, QAM: ``xglue.{task}.{lang}.{train,dev,test}``, tab-separated text columns then the
  label, no header (`XglueTsv`). Train files exist for English only.
- MLQA, XNLI, PAWS-X are the original data sets (read by stilts.data.readers.qa, .nli and .pairs).

A label is read as ``xglue_evaluate.py`` reads the gold one, the last field of the line, and is kept
as the name the files (and the submissions) use. The label vocabularies differ between the files, the
Hub's ClassLabels and Unicoder's code (XGLUE's baseline), so every mapping goes through names:

=========  ===========================  ================================  ===============================
task       files and submissions        Hub ClassLabel ids 0..n           Unicoder ``get_labels()``
=========  ===========================  ================================  ===============================
NC         the ten category names       foodanddrink sports travel        foodanddrink sports news
                                        finance lifestyle news            entertainment health video
                                        entertainment health video autos  finance travel lifestyle autos
QADSM      Bad, Good                    Bad Good                          Bad Good
WPR        grades 0-4                   Bad Fair Good Excellent Perfect   "0" ... "4"
QAM        0, 1                         False True                        "0" "1"
PAWS-X     0, 1                         different same                    "0" "1"
XNLI       entailment neutral           entailment neutral contradiction  contradiction entailment
           contradiction                                                  neutral
NER        the 9 IOB1 tags              O B-PER I-PER B-ORG I-ORG B-LOC   (its own label file)
                                        I-LOC B-MISC I-MISC
=========  ===========================  ================================  ===============================

The tasks' ``labels`` are the Hub's order (so a Hub id is an index into them), with the files' names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stilts.core.errors import BadInput
from stilts.data.readers._io import as_path, check_label, numbered_lines

#: CoNLL-2002/2003 NER in XGLUE: the Hub's ClassLabel order
XGLUE_NER_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")
#: NC's categories in the Hub's ClassLabel order (Unicoder lists them in another)
NC_LABELS = (
    "foodanddrink",
    "sports",
    "travel",
    "finance",
    "lifestyle",
    "news",
    "entertainment",
    "health",
    "video",
    "autos",
)
QADSM_LABELS = ("Bad", "Good")
#: WPR's relevance grades as the files write them; the Hub's names for them are `WPR_HUB_NAMES`
WPR_GRADES = ("0", "1", "2", "3", "4")
WPR_HUB_NAMES = ("Bad", "Fair", "Good", "Excellent", "Perfect")
#: QAM: 1 = the passage answers the question; the Hub calls them False, True
QAM_LABELS = ("0", "1")
QAM_HUB_NAMES = ("False", "True")

DOCSTART = "-DOCSTART-"


def read_xglue_tagging(path, labels: Sequence[str]) -> list[dict]:
    """Sentences ``{"id", "tokens", "tags"}`` of an XGLUE NER or POS file, split as xglue_evaluate.py
    splits the gold file: the word is a line's first whitespace-separated field, the tag its last; a
    blank line or a ``-DOCSTART-`` line ends a sentence. A file of words only (one field on every
    line) has ``tags`` None."""
    path = as_path(path)
    examples: list[dict] = []
    tokens: list[str] = []
    tags: list[str] = []
    first_line = 0
    labelled: bool | None = None  # decided by the first token line

    def close() -> None:
        nonlocal tokens, tags
        if tokens:
            examples.append({"id": f"{path.name}:{first_line}", "tokens": tokens, "tags": tags if labelled else None})
        tokens, tags = [], []

    for number, line in numbered_lines(path):
        if not line.strip() or line.startswith(DOCSTART):
            close()
            continue
        cells = line.split()
        if labelled is None:
            labelled = len(cells) > 1
        if labelled != (len(cells) > 1):
            expected = "'word tag'" if labelled else "a word alone (the file's first token line has no tag)"
            raise BadInput(f"{path}: line {number}: expected {expected}, found {len(cells)} field(s)")
        if not tokens:
            first_line = number
        tokens.append(cells[0])
        if labelled:
            tags.append(check_label(cells[-1], labels, path, number, "tag"))
    close()
    return examples


@dataclass(frozen=True)
class XglueTsv:
    """One of the ``xglue.{task}.{lang}.{split}`` files: its text columns, then the label column."""

    #: the task's name in XGLUE ("NC")
    what: str
    #: the text columns, in file order
    columns: tuple[str, ...]
    labels: tuple[str, ...]
    #: the text columns' values -> (text_a, text_b), the pair the encoder reads
    pair: Callable[[Sequence[str]], tuple[str, str]]

    def read(self, path, language: str | None = None) -> list[dict]:
        """``{"id", "text_a", "text_b", "label"}`` per line; ``label`` None in a file without the label
        column (every line one field short). A blank line before the end is refused: the official
        script would count it as an example (and a query, in WPR)."""
        path = as_path(path)
        lines = list(numbered_lines(path))
        while lines and not lines[-1][1].strip():
            lines.pop()
        if not lines:
            raise BadInput(f"{path}: empty file")
        width = len(lines[0][1].split("\t"))
        if width not in (len(self.columns), len(self.columns) + 1):
            raise BadInput(
                f"{path}: line {lines[0][0]}: expected {len(self.columns) + 1} tab-separated fields "
                f"({', '.join(self.columns)}, label) for XGLUE {self.what}, found {width}"
            )
        labelled = width == len(self.columns) + 1
        examples = []
        for number, line in lines:
            if not line.strip():
                raise BadInput(f"{path}: line {number}: blank line (XGLUE's evaluator would count it as an example)")
            cells = line.split("\t")
            if len(cells) != width:
                raise BadInput(
                    f"{path}: line {number}: {len(cells)} tab-separated fields, line {lines[0][0]} has {width}"
                )
            text_a, text_b = self.pair(cells[: len(self.columns)])
            label = check_label(cells[-1].strip(), self.labels, path, number) if labelled else None
            examples.append({"id": f"{path.name}:{number}", "text_a": text_a, "text_b": text_b, "label": label})
        return examples


def _joined(first: str, second: str) -> str:
    """Two text fields read as one segment, as Unicoder joins QADSM's and WPR's title and description."""
    return f"{first} {second}"


#: News Classification: title and body -> category
NC = XglueTsv("NC", ("news_title", "news_body"), NC_LABELS, lambda cells: (cells[0], cells[1]))
#: Query-Ad Matching: the query against the ad's title and description -> Bad/Good
QADSM = XglueTsv(
    "QADSM", ("query", "ad_title", "ad_description"), QADSM_LABELS, lambda cells: (cells[0], _joined(*cells[1:]))
)
#: Web Page Ranking: the query against the page's title and snippet -> grade 0-4
WPR = XglueTsv(
    "WPR", ("query", "web_page_title", "web_page_snippet"), WPR_GRADES, lambda cells: (cells[0], _joined(*cells[1:]))
)
#: QA Matching: question and passage -> 1 if the passage answers it
QAM = XglueTsv("QAM", ("question", "answer"), QAM_LABELS, lambda cells: (cells[0], cells[1]))
