"""The `translate_test` stage kind: the model the target stage trained on English, scored on each target
language's evaluation sets machine-translated into English (translate-test, the baseline XTREME reports
beside zero-shot), against the original labels.

A stage of its own rather than a setting of ``evaluate``, as ``few_shot`` is: it sits beside the
zero-shot evaluation of the same target model (``target``, ``evaluate``, ``translate_test``), has its
own folder, fingerprint and rows, and a pipeline or sweep gets both rows from one training. It is
``stilts.pipeline.evaluation_stage``'s runner with the examples translated first:

1. every split and language to score is read as ``evaluate`` reads it (the first ``max_examples``);
2. per language, every distinct string of the format's text fields (a pair's two sentences; multiple
   choice: the premise or question and each choice, `stilts.translate.fields`) is translated into the
   task's source language by the language's MT model (``mt_model``, ``{lang}`` replaced by the
   language's code, e.g. ``Helsinki-NLP/opus-mt-{lang}-en``; ``mt_models`` per language), longest first
   in length-sorted batches, as `stilts translate` does (`stilts.translate.translation`);
3. the translations replace the texts in copies of the examples (ids, labels and everything else kept)
   and are scored as an evaluation scores: per-example rows, predictions, scores.csv.

The source language itself (English) is not translated: its examples are scored as they are, so the
translate-test row has the languages (and the language average) of the zero-shot row, and its English
cell is the zero-shot English score (as XTREME's translate-test tables have it).

Translations are cached outside the run, per MT model and decoding settings, by source text
(`stilts.translate.cache`, one JSON-lines file a model, each batch appended and fsync'd as it is done):
``$STILTS_TRANSLATION_CACHE``, else ``$STILTS_CACHE/translations``, else
``~/.cache/stilts/translations`` (``off``: none). Every seed, configuration, pipeline and run folder
that scores the same data with the same MT model translates it once; a stage stopped midway goes on
from the last batch saved. Processes sharing the cache take turns on a model's file (a lock beside it).
The translated sets a stage scored are kept in its ``translations/`` folder.

Rows in scores.csv: ``intermediate`` ``<configuration>/translate-test`` (`stilts.core.names.TRANSLATE_TEST`),
``seed`` the run's, so `stilts table` shows a translate-test row beside the zero-shot one, and their
per-example rows pair up for ``--ci``.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr

from stilts.core.artifacts import locked, write_text_atomic
from stilts.core.caches import cache_folder
from stilts.core.catalog import Task, get_task
from stilts.core.errors import BadInput, MissingSplit, did_you_mean
from stilts.core.names import TRANSLATE_TEST
from stilts.core.numbers import Count, MaxLength
from stilts.data.content import folder_sha256
from stilts.data.loading import load_examples
from stilts.pipeline.config import StageConfig, local_model_folder
from stilts.pipeline.evaluation_stage import EvaluationRunner, ExamplesOf
from stilts.pipeline.stage_kinds import (
    PlanContext,
    PlannedStage,
    RunContext,
    StageKind,
    StagePlan,
    fingerprinted_settings,
)
from stilts.pipeline.training_stage import check_languages, check_task
from stilts.translate.cache import TranslationCache, cache_key
from stilts.translate.fields import apply_translations, collect_texts

TRANSLATE_TEST_KIND_NAME = "translate_test"
#: why formats that are not `TaskFormat.scored_translated` are refused, by format name
_REFUSALS = {
    "span_qa": "its answers are character spans of the context, which a translated context does not keep",
    "span_qa_v2": "its answers are character spans of the context, which a translated context does not keep",
    "tagging": "its tags belong to the original words, which translation changes",
    "graded_ranking": "its scores are per query over pages ranked together, not per example",
    "retrieval": "it finds each sentence's translation among the other language's, with no trained head",
    "bitext_mining": "it finds each sentence's translation among the other language's, with no trained head",
}
#: the placeholder ``mt_model`` and ``prefix`` may hold: the code of the language translated
LANGUAGE_PLACEHOLDER = "{lang}"
TRANSLATIONS_FOLDER = "translations"
DEFAULT_TRANSLATION_BATCH_SIZE = 32
DEFAULT_TRANSLATION_LENGTH = 512


def translation_cache_folder() -> Path | None:
    """Where translations are cached, shared by every run (None: ``STILTS_TRANSLATION_CACHE=off``)."""
    return cache_folder("STILTS_TRANSLATION_CACHE", "translations")


class TranslateTestStage(StageConfig):
    """Scores the model of the target stage before it on the task's evaluation sets machine-translated
    into English (translate-test); rows go to scores.csv as ``<configuration>/translate-test``."""

    kind: Literal["translate_test"] = Field(
        description="`translate_test`: score the model on each language's evaluation data machine-translated "
        "into English (the task's source language), against the original labels."
    )
    task: str = Field(
        description="The task to score (classification, sentence pairs or multiple choice), trained by the "
        "target stage right before this one."
    )
    mt_model: str = Field(
        description="The MT model that translates each language into English: a Hub id or a local folder (a "
        "seq2seq model, e.g. OPUS-MT/Marian); `{lang}` in it is replaced by the language's code, so "
        "`Helsinki-NLP/opus-mt-{lang}-en` names one model per language, as OPUS-MT publishes them, and "
        "`Helsinki-NLP/opus-mt-mul-en` one for all. Part of the fingerprint: a Hub id as written, a local "
        "folder by its content."
    )
    mt_models: dict[str, str] | None = Field(
        default=None,
        description="Language -> MT model, for languages that `mt_model` does not fit (OPUS-MT has no model "
        "of that name for them). Unset: `mt_model` for every language.",
    )
    beams: Count | None = Field(
        default=None,
        description="Beam size of the translation (1: greedy). Unset: the MT model's own (OPUS-MT: its "
        "Marian decoder.yml's), else 4.",
    )
    prefix: str = Field(
        default="",
        description="Text put before every source string, for MT models that take the target language in it; "
        "`{lang}` is replaced by the language's code.",
    )
    max_translation_length: MaxLength = Field(
        default=DEFAULT_TRANSLATION_LENGTH,
        description="Longest source text and translation, in tokens (Marian models have 512 positions).",
    )
    translation_batch_size: Count = Field(
        default=DEFAULT_TRANSLATION_BATCH_SIZE,
        description="Strings per generate call of the MT model. Not fingerprinted.",
    )
    splits: list[Literal["dev", "test"]] | None = Field(
        default=None, description="The splits to score. Unset: the task's evaluation splits that the data has."
    )
    languages: list[str] | None = Field(
        default=None,
        description="The languages to score, each a language of the task and present in the data. Unset: every "
        "language of the task that the data has. The source language (English) is scored as it is, untranslated.",
    )
    max_length: MaxLength | None = Field(
        default=None,
        description="Longest input to the scored model in tokens; longer ones are truncated. Unset: the task "
        "format's default (128).",
    )
    max_examples: Count | None = Field(
        default=None,
        description="Translate and score the first N examples of each language only (quick runs). Unset: all.",
    )
    batch_size: Count | None = Field(
        default=None,
        description="Evaluation batch size of the scored model. Unset: 64 on CPU, 256 on a GPU. Not fingerprinted.",
    )
    allow_overlap: bool = Field(
        default=False,
        description="Score splits and languages that a training stage before it trained on (or on translations "
        "of them), marked in scores.csv's `trained_on` column; without it such an evaluation is refused before "
        "anything trains. Not fingerprinted.",
    )
    #: language -> where its MT model is loaded from (a Hub id, or a local folder resolved against the
    #: pipeline's folder), set by planning: not a setting (the fingerprint has the model's identity)
    _locations: dict[str, str] = PrivateAttr(default_factory=dict)


NOT_FINGERPRINTED = frozenset(
    {"name", "batch_size", "allow_overlap", "translation_batch_size", "mt_model", "mt_models"}
)


def check_translate_test_format(task: Task, where: str) -> None:
    """BadInput (one line) for a task whose examples cannot be scored translated: span QA, tagging,
    retrieval, ranking."""
    if task.format.scored_translated and task.format.trains:
        return
    reason = _REFUSALS.get(task.format.name, f"it is a {task.format.name} task")
    raise BadInput(
        f"{where}: translate-test scores classification, sentence-pair and multiple-choice tasks, not "
        f"'{task.name}' ({task.format.name}): {reason}"
    )


def _model_for(stage: TranslateTestStage, language: str) -> tuple[str, str]:
    """(the MT model of ``language`` as written, where it was given: ``mt_model`` or ``mt_models.<lang>``)."""
    if stage.mt_models and language in stage.mt_models:
        return stage.mt_models[language], f"mt_models.{language}"
    return stage.mt_model.replace(LANGUAGE_PLACEHOLDER, language), "mt_model"


def _check_placeholders(text: str, where: str) -> None:
    for placeholder in re.findall(r"\{[^{}]*\}", text):
        if placeholder != LANGUAGE_PLACEHOLDER:
            raise BadInput(
                f"{where}: '{placeholder}' in '{text}' is no placeholder; {LANGUAGE_PLACEHOLDER} (the language's "
                "code) is the only one"
            )


def _model_identity(reference: str, base_dir: Path | None, where: str, remedy: str = "") -> tuple[str, str]:
    """(where the MT model loads from, its identity for the fingerprint): a local folder (relative to the
    pipeline's folder) by its content, checked to be a seq2seq model's; else a Hub id, as written."""
    local = local_model_folder(reference, base_dir or Path.cwd())
    if local is None:
        return reference, reference
    if not local.is_dir():
        raise BadInput(f"{where}: no such folder {local}{remedy}")
    config = local / "config.json"
    try:
        encoder_decoder = json.loads(config.read_text(encoding="utf-8")).get("is_encoder_decoder")
    except (OSError, ValueError):
        raise BadInput(f"{where}: {local} has no readable config.json (not a transformers model folder)") from None
    if not encoder_decoder:
        raise BadInput(f"{where}: {local} is not a seq2seq (encoder-decoder) model, which translation needs")
    return str(local), f"sha256:{folder_sha256(local)}"


def plan_translate_test(stage: TranslateTestStage, context: PlanContext) -> StagePlan:
    where, previous = context.where, context.previous
    task = check_task(stage.task, "evaluate", f"{where}.task")
    check_translate_test_format(task, f"{where}.task")
    if previous is None or task.name not in previous.settings.get("tasks", ()):
        raise BadInput(
            f"{where}.task: translate-test of '{task.name}' needs a target stage that trains "
            f"'{task.name}' right before it (its head is trained there)"
        )
    check_languages(stage.languages, task, where)
    for language in stage.mt_models or {}:
        at = f"{where}.mt_models.{language}"
        if language not in task.languages:
            raise BadInput(
                f"{at}: '{language}' is not a language of {task.name}"
                f"{did_you_mean(language, task.languages)}; its languages: {', '.join(task.languages)}"
            )
        if language == task.source_language:
            raise BadInput(f"{at}: {language} is {task.name}'s source language, scored as it is, untranslated")
    _check_placeholders(stage.mt_model, f"{where}.mt_model")
    _check_placeholders(stage.prefix, f"{where}.prefix")
    locations, identities = {}, {}
    for language in stage.languages or task.languages:
        if language == task.source_language:
            continue
        reference, field = _model_for(stage, language)
        shown = f"{where}.{field}" + (f" ({language})" if field == "mt_model" else "")
        remedy = (
            f"; give {language}'s model in mt_models, or name the languages to score in languages"
            if field == "mt_model" and not stage.languages
            else ""
        )
        locations[language], identities[language] = _model_identity(reference, context.base_dir, shown, remedy)
    stage._locations = locations
    settings = fingerprinted_settings(stage, NOT_FINGERPRINTED)
    settings.update(
        seed=context.pipeline.seed,
        max_length=stage.max_length or task.format.default_max_length,
        # language -> the MT model that translates it: a Hub id, or a local folder's content
        mt_models=identities,
    )
    return StagePlan(settings, frozenset({task.name}))


class TranslateTestRunner(EvaluationRunner):
    """An evaluation (`EvaluationRunner`) of the examples translated into the task's source language."""

    setting = TRANSLATE_TEST

    def __init__(self):
        #: stage folder -> what each language was translated with, for its metrics.json
        self._records: dict[Path, dict] = {}

    def run(self, stage: PlannedStage, context: RunContext) -> dict:
        metrics = super().run(stage, context)
        metrics["translated"] = self._records.pop(stage.folder, {})
        metrics["untranslated"] = get_task(stage.settings["task"]).source_language
        return metrics

    def examples_of(self, stage: PlannedStage, context: RunContext, task) -> ExamplesOf:
        """Every split and language to score read and translated first (one MT model loaded at a time,
        before the scored model is), then handed out from memory."""
        settings = stage.settings
        by_language: dict[str, dict[str, list[dict] | None]] = {}
        for read in self.data_reads(stage):
            try:
                examples = load_examples(task, read.split, read.language, context.data_sources)
            except MissingSplit:
                if not read.optional:
                    raise
                examples = None
            if examples is not None and settings["max_examples"]:
                examples = examples[: settings["max_examples"]]
            by_language.setdefault(read.language, {})[read.split] = examples
        records = self._records[stage.folder] = {}
        translator = None
        for language, splits in by_language.items():
            present = {split: examples for split, examples in splits.items() if examples is not None}
            if language == task.source_language or not present:
                continue
            location = stage.config._locations[language]
            prefix = settings["prefix"].replace(LANGUAGE_PLACEHOLDER, language)
            if translator is None or (translator.model_name, translator.prefix) != (location, prefix):
                translator = None  # let go of the one before first: one MT model in memory at a time
                translator = self._load(stage, context, language, location, prefix)
            records[language] = self._translate(stage, context, task, language, translator, present)
            splits.update(present)
        del translator
        _free_accelerator_memory()

        def examples_of(split: str, language: str) -> list[dict]:
            examples = by_language.get(language, {}).get(split)
            if examples is None:
                raise MissingSplit(f"{task.name}: no {split} data in '{language}'")
            return examples

        return examples_of

    @staticmethod
    def _load(stage: PlannedStage, context: RunContext, language: str, location: str, prefix: str):
        from stilts.translate.translation import load_translator

        config: TranslateTestStage = stage.config
        _, field = _model_for(config, language)
        return load_translator(
            location,
            beams=stage.settings["beams"],
            max_length=stage.settings["max_translation_length"],
            batch_size=config.translation_batch_size,
            prefix=prefix,
            accelerator=context.accelerator,
            where=f"{stage.where}.{field}",
        )

    def _translate(self, stage, context, task, language, translator, present: dict[str, list[dict]]) -> dict:
        """``present`` (split -> examples) with their texts translated, in place; returns the record of it."""
        from stilts.translate.translation import translate_texts

        accelerator, log = context.accelerator, context.log
        fields = task.format.text_fields
        texts = collect_texts([example for examples in present.values() for example in examples], fields)
        folder = translation_cache_folder()
        log(
            f"  {task.name} {language} -> {task.source_language}: {sum(map(len, present.values()))} examples "
            f"({', '.join(present)}), fields {', '.join(fields)}; MT model {translator.model_name}"
        )
        desc = f"{task.name} {language} -> {task.source_language}"
        # the main process translates (one writer of the cache file); the others read what it wrote
        if accelerator.is_main_process:
            with locked(folder / cache_key(translator.identity)) if folder else contextlib.nullcontext():
                cache = TranslationCache(folder, translator.model_name, translator.identity)
                before = len(cache)
                translations = translate_texts(
                    translator,
                    texts,
                    cache,
                    desc=desc,
                    log=lambda line: log(f"  {line}"),
                    length_setting=f"{stage.where}.max_translation_length",
                )
                added = len(cache) - before
        accelerator.wait_for_everyone()
        if not accelerator.is_main_process:
            cache = TranslationCache(folder, translator.model_name, translator.identity)
            translations = translate_texts(translator, texts, cache, desc=desc, log=lambda line: None)
            added = 0
        for split, examples in present.items():
            present[split] = apply_translations(examples, fields, translations)
            if accelerator.is_main_process:
                write_text_atomic(
                    stage.folder / TRANSLATIONS_FOLDER / f"{split}-{language}.jsonl",
                    "".join(json.dumps(example, ensure_ascii=False) + "\n" for example in present[split]),
                )
        return {
            "mt_model": translator.model_name,
            "identity": translator.identity,
            "strings": len(texts),
            "translated_now": added,
            "cache": str(cache.path) if cache.path else None,
        }

    def hub_models(self, stage: PlannedStage) -> list[tuple[str, str]]:
        """The MT models named by Hub id (each checked before anything trains, fetched by `stilts prepare`)."""
        config: TranslateTestStage = stage.config
        return [
            (f"{stage.where}.{_model_for(config, language)[1]} ({language})", location)
            for language, location in config._locations.items()
            if not Path(location).is_absolute()
        ]

    def kept_when_stopped(self, stage: PlannedStage) -> str | None:
        folder = translation_cache_folder()
        if folder is None:
            return (
                "nothing of it is kept (STILTS_TRANSLATION_CACHE is off, so translations are not cached): "
                "the same command translates and scores again from the start"
            )
        return (
            f"kept: every batch of translations finished, in {folder}; run the same command again to go on "
            "from there (nothing is translated twice)"
        )


def _free_accelerator_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


#: registered by `stilts.translate.variants`, the package's entry point
TRANSLATE_TEST_KIND = StageKind(
    name=TRANSLATE_TEST_KIND_NAME,
    config=TranslateTestStage,
    plan=plan_translate_test,
    runner=TranslateTestRunner(),
    produces_model=False,
    not_fingerprinted=NOT_FINGERPRINTED,
)
