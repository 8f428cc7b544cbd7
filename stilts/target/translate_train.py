"""translate-train and translate-train-all (XTREME's baselines, Hu et al. 2020): a target stage trained on
its English training data machine-translated into a target language, or on English and every language's
translation merged, and evaluated per language as the zero-shot runs are.

A target stage's ``translate_train`` names the languages (`expand`): ``de`` is the stage's
``train_tasks: [<task>@de]``, ``all`` English and each language of the task, ``[en, de]`` those; the
translations are the tasks ``<task>@<lang>`` (`stilts.translate.variants`: `stilts translate` output or
a benchmark's released files). Before anything trains, every language's translation is read, and a
language without one is refused in one line (`TargetStageRunner.check_found`). The model is selected
as in any target stage: on the task's English dev by default (translate-train has no dev set in the
target languages; ``model_selection`` says otherwise).

The rows of an evaluation of such a model name it (`translation_setting`): ``intermediate`` is
``<configuration>/translate-train-de`` (``translate-train-en+de`` for several, ``translate-train-all``
for English and every language of the task), never the configuration's own, so `stilts table` shows
them as rows of their own and leaves them out of its zero-shot benchmark scores. Training data a
release declares machine-translated counts as such however it is named (PAWS-X's other languages'
training sets, read by ``train_languages``).
"""

from __future__ import annotations

import dataclasses

from stilts.core.catalog import Task, get_task
from stilts.core.errors import BadInput, MissingSplit, did_you_mean
from stilts.core.names import ALL_LANGUAGES, TRANSLATE_TRAIN, TRANSLATED_MARK
from stilts.data.loading import DataRead, load_examples, training_task
from stilts.pipeline.stage_kinds import Found, PlannedStage
from stilts.pipeline.training_stage import TrainingStageRunner

#: a target stage's ``translate_train``: a language, several, or `ALL_LANGUAGES`
TranslateTrain = str | list[str]


def expand(task: Task, value: TranslateTrain, where: str) -> list[str]:
    """The ``train_tasks`` that ``translate_train: value`` stands for in a target stage of ``task``: the
    task itself for its source language (its English training data), ``<task>@<lang>`` for the others."""
    source = task.source_language
    if value == ALL_LANGUAGES:
        languages = [source, *(language for language in task.languages if language != source)]
    else:
        languages = [value] if isinstance(value, str) else list(value)
        for i, language in enumerate(languages):
            at = where if isinstance(value, str) else f"{where}[{i}]"
            if language == ALL_LANGUAGES:
                raise BadInput(f"{at}: '{ALL_LANGUAGES}' stands alone (translate_train: {ALL_LANGUAGES})")
            if language != source and language not in task.languages:
                raise BadInput(
                    f"{at}: '{language}' is not a language of {task.name}{did_you_mean(language, task.languages)} "
                    f"(its languages: {', '.join(task.languages)})"
                )
            if language in languages[:i]:
                raise BadInput(f"{at}: '{language}' is listed twice")
        if languages == [source]:
            raise BadInput(
                f"{where}: '{source}' alone is {task.name}'s own training data: leave translate_train out for "
                "the zero-shot setting"
            )
    return [task.name if language == source else f"{task.name}{TRANSLATED_MARK}{language}" for language in languages]


def is_translation(task: Task) -> bool:
    """Whether ``task`` is a machine translation of another task's data (``<task>@<lang>``)."""
    return task.variant_of is not None and TRANSLATED_MARK in task.name


def translated_languages(target: Task, settings: dict) -> tuple[list[str], list[str]]:
    """(the languages a target stage of ``target`` with ``settings`` trains on machine translations
    in, those it trains on original data in): a translated source (``<task>@<lang>``), or a source's own
    data in a language its release declares machine-translated (PAWS-X's ``train_languages: [de]``)."""
    translated: list[str] = []
    original: list[str] = []
    names = settings.get("train_tasks") or [training_task(target).name]
    for source in (get_task(name) for name in names):
        released = source.released_translations
        for language in settings.get("train_languages") or [source.source_language]:
            machine = is_translation(source) or (
                released is not None
                and released.in_task_data
                and language != source.source_language
                and language in released.languages
            )
            (translated if machine else original).append(language)
    return list(dict.fromkeys(translated)), list(dict.fromkeys(original))


def translation_setting(settings: dict) -> str:
    """The setting a target stage with ``settings`` puts after the configuration in its evaluations' rows
    (`stilts.core.names.TRANSLATE_TRAIN`): '' for a stage that trains on no machine translation."""
    if len(settings.get("tasks") or []) != 1:
        return ""
    target = get_task(settings["tasks"][0])
    translated, original = translated_languages(target, settings)
    if not translated:
        return ""
    source = target.source_language
    languages = sorted(set(translated) | set(original), key=lambda language: (language != source, language))
    if set(languages) == {source, *target.languages}:
        return f"{TRANSLATE_TRAIN}-{ALL_LANGUAGES}"
    return f"{TRANSLATE_TRAIN}-{'+'.join(languages)}"


class TargetStageRunner(TrainingStageRunner):
    """A target stage runs as any training stage; before anything trains, every language of its
    translated training data must be there, all of them checked and the missing ones refused in one line."""

    def data_reads(self, stage: PlannedStage) -> list[DataRead]:
        return [
            dataclasses.replace(read, optional=True) if read.split == "train" and is_translation(read.task) else read
            for read in super().data_reads(stage)
        ]

    def check_found(self, stage: PlannedStage, found: Found, sources: dict[str, str]) -> None:
        missing = [
            (name, language)
            for (name, split, language), there in found.items()
            if not there and split == "train" and is_translation(get_task(name))
        ]
        if not missing:
            return
        translated = [key for key, _ in found.items() if key[1] == "train" and is_translation(get_task(key[0]))]
        name, language = missing[0]
        task = get_task(name)
        try:  # the first one's reason: what was looked for where, and what the releases lack
            load_examples(task, "train", language, sources)
            reason = "not found"
        except MissingSplit as error:
            reason = str(error)
        field = "translate_train" if getattr(stage.config, "translate_train", None) is not None else "train_tasks"
        where = f"{stage.where}.{field}" if stage.where else f"stages[{stage.index}].{field}"
        target = stage.settings["tasks"][0]
        languages = ", ".join(each for _, each in missing)
        raise BadInput(
            f"{where}: no translated {target} training data in {len(missing)} of {len(translated)} languages "
            f"({languages}), refused before anything trains; {language}: {reason}"
        )
