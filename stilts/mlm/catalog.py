"""The `mlm` task: multilingual masked language modelling on a corpus built by `stilts mlm-corpus`.

It co-trains in intermediate stages (``tasks: [mnli, mlm]``; the engine then uses the paper's
learning rate 5e-6). There is no Hub source: the corpus is sampled from the user's sentence files
(Wikipedia in the paper) with alpha-smoothed language probabilities, see `stilts.mlm.corpus`.
"""

from __future__ import annotations

from pathlib import Path

from stilts.core.catalog import Task, declare_table_order, register_task
from stilts.core.errors import BadInput, MissingSplit
from stilts.core.names import MLM_TASK, XTREME_LANGUAGES
from stilts.data.readers.layout import note_file_read
from stilts.formats.masked_lm import MASKED_LM
from stilts.mlm.corpus import DEV_FILE, MANIFEST_FILE, SHARD_GLOB

#: the "language" that means every language of the corpus (ISO 639-2 `mul`, multiple languages): the
#: MLM task trains and validates on the whole mixture
MIXTURE = "mul"


def read_corpus_lines(path: Path, language: str) -> list[dict]:
    """Examples ``{"id", "text", "language"}`` from ``language<TAB>sentence`` lines (every language for
    `MIXTURE`)."""
    examples = []
    with open(path, encoding="utf-8", newline="\n") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\n")
            if not line:
                continue
            line_language, tab, text = line.partition("\t")
            if not tab or not text.strip():
                raise BadInput(f"{path}: line {number}: expected language<TAB>sentence")
            if language in (MIXTURE, line_language):
                examples.append({"id": f"{path.stem}:{number}", "text": text, "language": line_language})
    return examples


def read_corpus_folder(folder: Path, split: str, language: str) -> list[dict]:
    """train: every shard, in order; dev: ``dev.txt``. MissingSplit for test, and for a split or
    language the corpus does not have."""
    folder = Path(folder)
    if not (folder / MANIFEST_FILE).is_file():
        raise BadInput(
            f"data.mlm: {folder} is not an MLM corpus folder (no {MANIFEST_FILE}); build one "
            f"with: stilts mlm-corpus --input SENTENCE_FILES --output {folder}"
        )
    if split == "train":
        paths = sorted(folder.glob(SHARD_GLOB))
    elif split == "dev":
        paths = [folder / DEV_FILE] if (folder / DEV_FILE).is_file() else []
    else:
        paths = []
    for path in paths:
        note_file_read(path)
    examples = [example for path in paths for example in read_corpus_lines(path, language)]
    if not examples:
        which = "" if language == MIXTURE else f" in language '{language}'"
        raise MissingSplit(f"{folder}: the MLM corpus has no {split} sentences{which}")
    return examples


MLM = register_task(
    Task(
        name=MLM_TASK,
        format=MASKED_LM,
        phases=frozenset({"intermediate"}),
        languages=XTREME_LANGUAGES,
        metric="accuracy",
        description="multilingual masked LM (15% masked, 80/10/10) on a corpus built by stilts mlm-corpus "
        "(alpha-smoothed language sampling); masked-token accuracy; local only: the corpus folder",
        read_local=read_corpus_folder,
        source_language=MIXTURE,
        # the paper's batch size; its epochs are those of the tasks it co-trains with
        paper_batch_epochs=(8, None),
    )
)
# tables list MLM after the other intermediate tasks
declare_table_order(MLM)
