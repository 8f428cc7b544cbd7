"""The task family ``<task>@<lang>``: an intermediate task's data in another language; and the
package's stage kind, ``translate_test`` (`stilts.translate.evaluation`): this module is the package's
entry point (``stilts.plugins``), which registers both.

``hellaswag@de`` has HellaSwag's format, labels and metric, with German data read only from a local
folder (``data.hellaswag@de``; there is no Hub source): ``{split}.jsonl`` as `stilts translate` writes
it, else the task's own release files in that language (XNLI-MT's ``multinli.train.de.tsv`` for
``mnli@de``).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from stilts.core.catalog import TASK_FAMILIES, TASKS, Task, TaskFamily
from stilts.core.errors import BadInput, MissingSplit, did_you_mean
from stilts.pipeline.stage_kinds import register_stage_kind
from stilts.translate.dataset import read_translated_split
from stilts.translate.evaluation import TRANSLATE_TEST_KIND

TRANSLATED_MARK = "@"
_MADE: dict[str, Task] = {}


def translated_task(name: str, where: str = "task") -> Task:
    if name in _MADE:
        return _MADE[name]
    base_name, _, language = name.partition(TRANSLATED_MARK)
    if base_name not in TASKS:
        raise BadInput(f"{where}: unknown task '{base_name}' in '{name}'{did_you_mean(base_name, TASKS.names())}")
    if not re.fullmatch(r"[a-z]{2}", language):
        raise BadInput(
            f"{where}: '{name}': the language after '{TRANSLATED_MARK}' must be a 2-letter "
            f"ISO 639-1 code (e.g. '{base_name}{TRANSLATED_MARK}de')"
        )
    base = TASKS.get(base_name)
    if "intermediate" not in base.phases:
        raise BadInput(f"{where}: '{name}': translated variants are intermediate tasks, and '{base_name}' is not one")
    task = Task(
        name=name,
        format=base.format,
        phases=frozenset({"intermediate"}),
        languages=(language,),
        metric=base.metric,
        labels=base.labels,
        source_language=language,
        description=f"{base.description}; in {language} (local folder: stilts translate output "
        "or translated release files)",
        read_local=functools.partial(_read_translated, base, language),
        eval_splits=base.eval_splits,
        variant_of=base.name,
        # a translation trains with its task's paper settings
        paper_batch_epochs=base.paper_batch_epochs,
        extra=dict(base.extra, translated_from=base.name),
    )
    _MADE[name] = task
    return task


def _read_translated(base: Task, language: str, folder: Path, split: str, requested: str) -> list[dict]:
    name = f"{base.name}{TRANSLATED_MARK}{language}"
    if requested != language:
        raise MissingSplit(f"{folder}: {name} has only '{language}' data, not '{requested}'")
    examples = read_translated_split(folder, split, base)
    if examples is not None:
        return examples
    if base.read_local is None:
        raise MissingSplit(f"{folder}: no {split}.jsonl (stilts translate output) for {name}")
    try:
        return base.read_local(folder, split, language)
    except MissingSplit as missing:
        raise MissingSplit(f"no {split}.jsonl (stilts translate output) and {missing}") from None


TASK_FAMILIES.add(TRANSLATED_MARK, TaskFamily(mark=TRANSLATED_MARK, resolve=translated_task))
register_stage_kind(TRANSLATE_TEST_KIND)
