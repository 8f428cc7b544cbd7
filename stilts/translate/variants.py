"""The task family ``<task>@<lang>``: a task's training data machine-translated into another language;
and the package's stage kind, ``translate_test`` (`stilts.translate.evaluation`): this module is the
package's entry point (``stilts.plugins``), which registers both.

- Of an intermediate task: ``hellaswag@de`` has HellaSwag's format, labels and metric, with German data,
  used as an intermediate task.
- Of a target task: ``pawsx@de`` is PAWS-X's English training data translated into German (XNLI's is
  MNLI's, XQuAD's and MLQA's SQuAD v1.1's, XCOPA's COPA's), which trains the target instead of the
  English data (translate-train): a target stage's ``translate_train: de``, or ``train_tasks: [pawsx@de]``.

Either reads, from a local folder (there is no Hub source, except where the task's own release holds
the translations: PAWS-X's per-language Hub configs), the first of:

1. ``<lang>/{split}.jsonl`` or ``{split}.jsonl`` as `stilts translate` writes them (its metadata.json must
   name the task, or the task whose data trains it, and the language);
2. the translations a benchmark released (`stilts.core.catalog.ReleasedTranslations`, the task's or its
   training task's: XTREME's translate-train files, XNLI-MT's, PAWS-X's ``translated_train.tsv``);
3. for an intermediate task, its own release files in that language (XNLI-MT's ``multinli.train.de.tsv``
   for ``mnli@de``).

The folder is ``data.<task>@<lang>``, else ``data.<task>@all`` (the folder of every language's
translations: one subfolder per language, or a release's files), else, where the task's own release
holds the translations, ``data.<task>`` (`stilts.core.catalog.Task.data_from`). A language the folder
lacks is one line naming what was looked for, and, where a release is known not to have that language,
saying so.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from stilts.core.catalog import TASK_FAMILIES, TASKS, ReleasedTranslations, Task, TaskFamily
from stilts.core.errors import BadInput, MissingSplit, did_you_mean
from stilts.core.names import ALL_LANGUAGES, TRANSLATED_MARK
from stilts.pipeline.stage_kinds import register_stage_kind
from stilts.translate.dataset import read_translated_split
from stilts.translate.evaluation import TRANSLATE_TEST_KIND

__all__ = ["TRANSLATED_MARK", "released_translations", "translated_task"]

_MADE: dict[str, Task] = {}


def translated_task(name: str, where: str = "task") -> Task:
    if name in _MADE:
        return _MADE[name]
    base_name, _, language = name.partition(TRANSLATED_MARK)
    if base_name not in TASKS:
        raise BadInput(f"{where}: unknown task '{base_name}' in '{name}'{did_you_mean(base_name, TASKS.names())}")
    base = TASKS.get(base_name)
    if language == ALL_LANGUAGES:
        task = _every_translation(base, where)
    elif not re.fullmatch(r"[a-z]{2}", language):
        raise BadInput(
            f"{where}: '{name}': the language after '{TRANSLATED_MARK}' must be a 2-letter "
            f"ISO 639-1 code (e.g. '{base_name}{TRANSLATED_MARK}de') or '{ALL_LANGUAGES}'"
        )
    elif "intermediate" in base.phases:
        task = _intermediate_variant(base, language)
    elif _trains_target(base) and not base.format.text_fields and released_translations(base) is None:
        raise BadInput(
            f"{where}: '{name}': {base.name}'s {base.format.name} labels belong to the original words, so its "
            "training data cannot be machine-translated, and no translations of it were released"
        )
    elif _trains_target(base):
        task = _target_variant(base, language)
    else:
        raise BadInput(
            f"{where}: '{name}': translated variants are of intermediate tasks and of targets that train, "
            f"and '{base_name}' is neither"
        )
    _MADE[name] = task
    return task


def _trains_target(base: Task) -> bool:
    return "target" in base.phases and base.format.trains


def _all_name(base: Task) -> str:
    return f"{base.name}{TRANSLATED_MARK}{ALL_LANGUAGES}"


def released_translations(base: Task) -> ReleasedTranslations | None:
    """The released translations of ``base``'s training data: its own declaration's, else those of the
    task whose data trains it (XQuAD's and MLQA's are SQuAD v1.1's)."""
    if base.released_translations is not None:
        return base.released_translations
    if base.train_task and base.train_task in TASKS:
        return TASKS.get(base.train_task).released_translations
    return None


def _intermediate_variant(base: Task, language: str) -> Task:
    return Task(
        name=f"{base.name}{TRANSLATED_MARK}{language}",
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
        data_from=(_all_name(base),),
        extra=dict(base.extra, translated_from=base.name),
    )


def _target_variant(base: Task, language: str) -> Task:
    """``pawsx@de``: the target's training data in German; it only trains (a target stage's
    ``train_tasks``), so it has no evaluation splits and no stage kind of its own."""
    released = released_translations(base)
    in_task_data = released is not None and released.in_task_data and language in released.languages
    trained_on = f"{base.train_task}'s" if base.train_task else "its"
    return Task(
        name=f"{base.name}{TRANSLATED_MARK}{language}",
        format=base.format,
        phases=frozenset(),
        languages=(language,),
        metric=base.metric,
        labels=base.labels,
        source_language=language,
        description=f"{base.name}'s training data ({trained_on} English) machine-translated into {language} "
        "(translate-train)",
        read_local=functools.partial(_read_translated, base, language),
        # PAWS-X's Hub configs hold its released translations as their training split
        hub=base.hub if in_task_data else None,
        eval_splits=(),
        variant_of=base.name,
        paper_batch_epochs=base.paper_batch_epochs,
        data_from=(_all_name(base),) + ((base.name,) if in_task_data else ()),
        extra=dict(base.extra, translated_from=base.name),
    )


def _every_translation(base: Task, where: str) -> Task:
    """``pawsx@all``: the name of the folder of every language's translations (``data.pawsx@all``), read
    through the variant of each language; it names no data of its own."""
    if "intermediate" not in base.phases and not _trains_target(base):
        raise BadInput(
            f"{where}: '{_all_name(base)}': translated variants are of intermediate tasks and of targets that "
            f"train, and '{base.name}' is neither"
        )

    def refuse(folder: Path, split: str, language: str) -> list[dict]:
        raise BadInput(
            f"{_all_name(base)} names the folder of {base.name}'s translations into each language (data."
            f"{_all_name(base)}); train on one language's ({base.name}{TRANSLATED_MARK}de), or on all of them "
            f"with a target stage's translate_train: {ALL_LANGUAGES}"
        )

    return Task(
        name=_all_name(base),
        format=base.format,
        phases=frozenset(),
        languages=(),
        metric=base.metric,
        labels=base.labels,
        description=f"the folder of {base.name}'s translations into each language",
        read_local=refuse,
        eval_splits=(),
        variant_of=base.name,
    )


def _read_translated(base: Task, language: str, folder: Path, split: str, requested: str) -> list[dict]:
    name = f"{base.name}{TRANSLATED_MARK}{language}"
    if requested != language:
        raise MissingSplit(f"{folder}: {name} has only '{language}' data, not '{requested}'")
    folder = Path(folder)
    # stilts translate output: one language's folder, or its subfolder of a folder of every language's
    for place in (folder / language, folder):
        examples = read_translated_split(place, split, base, language)
        if examples is not None:
            return examples
    looked = [f"{language}/{split}.jsonl", f"{split}.jsonl"]
    released = released_translations(base)
    if split == "train" and released is not None and language in released.languages:
        try:
            return released.read_local(folder, language)
        except MissingSplit as missing:
            looked.append(str(missing).partition("(looked for ")[2].rstrip(")") or str(missing))
    if "intermediate" in base.phases and base.read_local is not None:
        try:
            return base.read_local(folder, split, language)
        except MissingSplit as missing:
            raise MissingSplit(f"no {split}.jsonl (stilts translate output) and {missing}") from None
    gap = _gap(base, split, language)
    raise MissingSplit(f"{folder}: no {split} data of {name} (looked for {', '.join(looked)}){gap}")


def _gap(base: Task, split: str, language: str) -> str:
    """What the releases lack, said where a translation is missing: a language outside the released
    translations (a known gap of the release), or a task none were released for."""
    make = f"; make it with: stilts translate --task {base.name} --split {split} --to {language}"
    if split != "train":
        return make
    released = released_translations(base)
    if released is None:
        return f"; no translations of {base.name}'s training data were released{make}"
    if language not in released.languages:
        return f"; {released.release} have no '{language}' (only {', '.join(released.languages)}){make}"
    return make


TASK_FAMILIES.add(TRANSLATED_MARK, TaskFamily(mark=TRANSLATED_MARK, resolve=translated_task))
register_stage_kind(TRANSLATE_TEST_KIND)
