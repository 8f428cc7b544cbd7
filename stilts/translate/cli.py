"""`stilts translate`: machine-translate a task's data set for use as ``<task>@<lang>``: an intermediate
task, or a target's translated training data (translate-train: ``--task pawsx``, then a target stage's
``translate_train: de``).

    stilts translate --task hellaswag --split train --split dev \\
        --model Helsinki-NLP/opus-mt-en-de --to de --output data/hellaswag.de

writes ``data/hellaswag.de/{train,dev}.jsonl`` + ``metadata.json``; a pipeline then trains on
``hellaswag@de`` with ``data: {"hellaswag@de": data/hellaswag.de}``. Translations are cached in
``data/.translation-cache/`` (beside the output; ``--cache-dir`` to move it), so an interrupted run
picks up where it stopped. ``--eval-bleu SRC REF`` first reports the model's sacreBLEU on a parallel
sample; with no ``--task`` it does only that.
"""

from __future__ import annotations

import re
from pathlib import Path

import click

from stilts.core.errors import BadInput

_LANGUAGE = re.compile(r"[a-z]{2}")


def _sources(values: tuple[str, ...], task_names: tuple[str, ...]) -> dict[str, str]:
    """``--data FOLDER`` (the task's release folder; for a target, also that of the task whose data trains
    it, XNLI's MNLI) or ``--data PART=FOLDER`` (a composite task's part, e.g. ``anli_r1=...``, or
    ``mnli=...``); ``hub`` for the Hub."""
    sources = {}
    for value in values:
        name, equals, location = value.partition("=")
        if not equals:
            name, location = task_names[0], value
        if location != "hub":
            folder = Path(location).expanduser().resolve()
            if not folder.is_dir():
                raise BadInput(f"--data {value}: no such folder {folder}")
            location = str(folder)
        sources.update(dict.fromkeys(task_names if not equals else (name,), location))
    return sources


@click.command()
@click.option(
    "--model", "model", required=True, help="seq2seq MT model: Hub id or local folder (e.g. Helsinki-NLP/opus-mt-en-de)"
)
@click.option("--revision", default=None, help="Hub revision (branch, tag or commit) of --model")
@click.option(
    "--task",
    "task_name",
    default=None,
    help="task whose examples to translate: an intermediate task (e.g. hellaswag) or a target, whose training "
    "split is its training data (xnli: MNLI's) and whose QA answers are marked and found again",
)
@click.option(
    "--split",
    "splits",
    multiple=True,
    help="split to translate (train, dev); repeatable; default "
    "train (translate dev too: intermediate training stops early on it)",
)
@click.option("--to", "language", default=None, help="target language, 2-letter ISO 639-1 code (e.g. de)")
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="folder for {split}.jsonl + metadata.json (use it as data.<task>@<lang>; as <folder>/<lang>, <folder> "
    "is data.<task>@all)",
)
@click.option(
    "--data",
    "data",
    multiple=True,
    metavar="FOLDER|PART=FOLDER",
    help="local release folder of the task (default: the Hub)",
)
@click.option(
    "--beams",
    default=None,
    type=int,
    help="beam size; 1 = greedy search, faster  [default: the model's own (OPUS-MT: its Marian "
    "decoder.yml beam size), else 4]",
)
@click.option(
    "--max-length",
    default=512,
    show_default=True,
    type=int,
    help="longest source text and translation, in tokens (Marian models have 512 positions)",
)
@click.option("--batch-size", default=32, show_default=True, type=int, help="strings per generate call")
@click.option(
    "--prefix", default="", help="text put before every source string, e.g. '>>deu<< ' for multilingual OPUS-MT models"
)
@click.option(
    "--dtype",
    type=click.Choice(["float32", "float16", "bfloat16"]),
    default="float32",
    show_default=True,
    help="model weights' precision (half precision: GPU only)",
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="translation cache folder [default: .translation-cache beside --output]",
)
@click.option("--max-examples", type=int, default=None, help="translate only the first N examples (trials)")
@click.option(
    "--eval-bleu",
    nargs=2,
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    metavar="SOURCE REFERENCE",
    help="report sacreBLEU on line-aligned parallel files first",
)
@click.option("--bleu-sample", type=int, default=None, help="use only the first N pairs for --eval-bleu")
def translate(
    model,
    revision,
    task_name,
    splits,
    language,
    output,
    data,
    beams,
    max_length,
    batch_size,
    prefix,
    dtype,
    cache_dir,
    max_examples,
    eval_bleu,
    bleu_sample,
):
    """Machine-translate a task's examples (Marian/OPUS-MT or any seq2seq model)."""
    if task_name is None and not eval_bleu:
        raise BadInput("translate: give --task (with --to and --output) or --eval-bleu SOURCE REFERENCE")
    if language is not None and not _LANGUAGE.fullmatch(language):
        raise BadInput(f"--to: '{language}' is not a 2-letter ISO 639-1 code (e.g. de)")
    task = sources = None
    if task_name is not None:
        from stilts.core.catalog import get_task
        from stilts.translate.fields import check_translatable

        if "@" in task_name:
            raise BadInput(f"--task: '{task_name}' is already translated; translate from the original task")
        task = get_task(task_name, "--task")
        check_translatable(task)  # before loading the model: a refusal comes back at once
        if language is None or output is None:
            raise BadInput("translate: --task needs --to LANGUAGE and --output FOLDER")
        if Path(output).expanduser().exists() and not Path(output).expanduser().is_dir():
            raise BadInput(f"--output: {output} exists and is not a folder")
        sources = _sources(data, tuple(filter(None, (task.name, task.train_task))))
    if max_examples is not None and max_examples < 1:
        raise BadInput(f"--max-examples: must be at least 1, got {max_examples}")
    if eval_bleu:
        from stilts.translate.bleu import require_sacrebleu

        require_sacrebleu()  # before loading the model

    from stilts.translate.cache import TranslationCache
    from stilts.translate.translation import (
        default_cache_folder,
        load_translator,
        translate_task,
        translate_texts,
    )

    translator = load_translator(
        model, revision=revision, beams=beams, max_length=max_length, batch_size=batch_size, prefix=prefix, dtype=dtype
    )
    if cache_dir is None and output is not None:
        cache_dir = default_cache_folder(output)
    cache = TranslationCache(cache_dir, model, translator.identity)
    click.echo(
        f"model {model} on {translator.device}; beams {translator.beams}, max length {max_length}, "
        f"batch {batch_size}" + (f"; cache {cache.path} ({len(cache)} translations)" if cache.path else "")
    )

    bleu_note = None
    if eval_bleu:
        from stilts.translate.bleu import corpus_bleu, read_parallel

        source_path, reference_path = eval_bleu
        source_lines, reference_lines = read_parallel(source_path, reference_path, bleu_sample)
        translations = translate_texts(translator, source_lines, cache, desc="BLEU sample", log=click.echo)
        score, signature = corpus_bleu([translations[line] for line in source_lines], reference_lines, language)
        click.echo(
            f"BLEU = {score:.2f} on {len(source_lines)} sentences "
            f"({source_path.name} -> {reference_path.name}); sacreBLEU {signature}"
        )
        bleu_note = {
            "score": score,
            "sentences": len(source_lines),
            "source": str(source_path.resolve()),
            "reference": str(reference_path.resolve()),
            "signature": signature,
        }

    if task is not None:
        for split in splits or ("train",):
            path, count = translate_task(
                translator,
                task,
                split,
                language,
                sources,
                Path(output).expanduser(),
                cache,
                max_examples=max_examples,
                bleu=bleu_note,
                log=click.echo,
            )
            use = f"use it as data.{task.name}@{language}"
            if Path(output).name == language:  # <folder>/<lang>: the folder holds every language's
                use += f" (or {Path(output).expanduser().resolve().parent} as data.{task.name}@all)"
            if "target" in task.phases:
                use += f", with a target stage's translate_train: {language}"
            click.echo(f"wrote {count} examples to {path}; {use}")
