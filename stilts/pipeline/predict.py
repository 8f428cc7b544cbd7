"""`stilts predict`: a trained run's models on any split of a task's files, labelled or not, written as
the official prediction files in the submission layout of the task's benchmark: XTREME's
(``<output>/<task>/<split>-<lang>.<suffix>``; BUCC's folder is ``bucc2018``) or, for XGLUE's tasks,
XGLUE's (``<output>/<TASK>/<lang>.prediction``, `stilts.reports.prediction_files.submission_path`).

The task chooses the layout, not an option: each evaluator reads only its own layout, with its own
folder names (XGLUE's nine upper-case ones), and scores a file line by line against its own gold
files, which are the release files the task reads (an XTREME task's predictions follow XTREME's files,
not XGLUE's). So a run folder holding targets of both benchmarks is written in one go, each file where
its evaluator looks; no two files collide (XGLUE's are all ``<lang>.prediction``, XTREME's name the split).

What to predict with comes from stage folders: an evaluate stage (its task, its evaluation settings,
the model it scored, BUCC's per-language thresholds), a target stage (its task's head, default
evaluation settings), or a run folder (each of its complete evaluate stages). Data comes from where the
stage read it (config.json ``data``) unless ``--data`` says otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stilts.core.artifacts import COMPLETE, STAGE_CONFIG_KEYS, read_record, redo_stage, upstream_folder
from stilts.core.catalog import Task, get_task
from stilts.core.errors import BadInput, MissingSplit, did_you_mean
from stilts.data.loading import HUB, load_examples
from stilts.data.readers.layout import SPLITS

#: evaluation settings a stage without any (a target stage) predicts with: EvaluateStage's defaults
DEFAULT_SETTINGS = {"layer": None, "pooling": "mean", "max_length": None}


@dataclass(frozen=True)
class Predictor:
    """A trained model for one task, and how its evaluation ran."""

    task: Task
    stage: Path  # the stage folder it was found in
    pipeline: str
    #: the encoder: a stage's model/ folder, or the pipeline's model for an evaluation straight on it
    model: str
    #: the head's folder; None for a task that trains none (retrieval)
    heads: Path | None
    settings: dict
    #: task name -> local folder or "hub": where the stage read its data
    data: dict[str, str]
    #: per language, what the evaluation carried from split to split (BUCC's threshold)
    states: dict[str, dict] = field(default_factory=dict)
    #: the ``mixed_precision`` of the stage that trained the model (`stilts.training.devices`)
    precision: str = "auto"


def _complete_config(folder: Path) -> dict:
    if not (folder / COMPLETE).is_file() or not (folder / "config.json").is_file():
        raise BadInput(f"{folder}: not a complete stage folder (no {COMPLETE}); finish its run first")
    return read_record(folder / "config.json", redo_stage(folder), STAGE_CONFIG_KEYS)


def _from_evaluate_stage(folder: Path, config: dict) -> Predictor:
    settings = config["settings"]
    task = get_task(settings["task"])
    # the stage whose model and head it scored: beside it (in a copied run folder too, not the original)
    upstream = upstream_folder(folder, config["upstream"]) if config["upstream"] else None
    if upstream:
        model = str(upstream / "model")
    else:  # an evaluation straight on the pipeline's model (retrieval)
        from stilts.pipeline.engine import resolve_model_reference

        model = resolve_model_reference(config["model"], Path.cwd(), str(folder / "config.json"))
    heads = upstream / "heads" if task.format.trains and upstream else None
    # the state carried between splits (BUCC's thresholds) is in metrics.json: predicting without it
    # would write other predictions than the evaluation's
    metrics = read_record(folder / "metrics.json", redo_stage(folder))
    trained_by = {}
    if upstream:  # the precision the model was trained with
        trained_by = read_record(upstream / "config.json", redo_stage(upstream), ["settings"])["settings"]
    return Predictor(
        task,
        folder,
        config["pipeline"],
        model,
        heads,
        settings,
        config.get("data", {}),
        metrics.get("state", {}),
        trained_by.get("mixed_precision", "auto"),
    )


def _from_training_stage(folder: Path, config: dict, task_name: str | None) -> Predictor:
    index = folder / "heads" / "heads.json"
    heads = read_record(index, redo_stage(folder)) if index.is_file() else {}
    if not heads:
        raise BadInput(f"{folder}: the stage trained no head; give a target or evaluate stage")
    if task_name is None:
        if len(heads) != 1:
            raise BadInput(f"--task: {folder.name} trained {len(heads)} heads ({', '.join(heads)}); choose one")
        (task_name,) = heads
    task = get_task(task_name, "--task")
    if task_name not in heads:
        raise BadInput(f"--task {task_name}: {folder.name} has no head for it (it has: {', '.join(heads)})")
    if "evaluate" not in task.phases:
        raise BadInput(f"--task {task_name}: {task_name} is not a target task; stilts predicts target tasks")
    settings = {**DEFAULT_SETTINGS, "task": task_name}
    return Predictor(
        task,
        folder,
        config["pipeline"],
        str(folder / "model"),
        folder / "heads",
        settings,
        config.get("data", {}),
        precision=config["settings"].get("mixed_precision", "auto"),
    )


def predictors_of(path: Path, task_name: str | None = None, pipelines: Sequence[str] = ()) -> list[Predictor]:
    """The predictors a stage folder or run folder holds, at most one per task."""
    if not path.is_dir():
        raise BadInput(f"{path}: no such folder")
    if (path / "config.json").is_file():  # one stage
        config = _complete_config(path)
        if config["kind"] == "evaluate":
            found = [_from_evaluate_stage(path, config)]
        else:
            found = [_from_training_stage(path, config, task_name)]
    else:
        folders = sorted(p.parent for p in path.glob("*/config.json") if (p.parent / COMPLETE).is_file())
        configs = {folder: _complete_config(folder) for folder in folders}
        found = [_from_evaluate_stage(folder, c) for folder, c in configs.items() if c["kind"] == "evaluate"]
        if not found:
            raise BadInput(f"{path}: no complete evaluate stage in this run folder (nor is it a stage folder)")
    if pipelines:
        found = [p for p in found if p.pipeline in pipelines]
        unknown = sorted(set(pipelines) - {p.pipeline for p in found})
        if unknown:
            raise BadInput(f"--pipeline {unknown[0]}: no complete evaluate stage of that pipeline in {path}")
    if task_name is not None:
        get_task(task_name, "--task")
        others = sorted({p.task.name for p in found if p.task.name != task_name})
        found = [p for p in found if p.task.name == task_name]
        if not found:
            raise BadInput(f"--task {task_name}: {path} holds no model for it (it predicts: {', '.join(others)})")
    by_task: dict[str, list[Predictor]] = {}
    for predictor in found:
        by_task.setdefault(predictor.task.name, []).append(predictor)
    for name, predictors in by_task.items():
        if len(predictors) > 1:
            names = ", ".join(sorted(p.pipeline for p in predictors))
            raise BadInput(
                f"{path}: {len(predictors)} evaluate stages score {name} (pipelines {names}); "
                "choose one with --pipeline"
            )
    return [predictors[0] for predictors in by_task.values()]


def data_folders(options: Sequence[str]) -> tuple[dict[str, Path], list[Path]]:
    """``--data`` values: ``TASK=FOLDER`` for one task, or a folder holding one folder per task."""
    by_task: dict[str, Path] = {}
    roots: list[Path] = []
    for option in options:
        name, separator, location = option.partition("=")
        if separator:
            get_task(name, f"--data {option}")
            by_task[name] = Path(location).expanduser()
            folder = by_task[name]
        else:
            folder = Path(option).expanduser()
            roots.append(folder)
        if not folder.is_dir():
            raise BadInput(f"--data {option}: no such folder {folder}")
    return by_task, roots


def data_source(predictor: Predictor, by_task: dict[str, Path], roots: list[Path]) -> tuple[str, str]:
    """Where ``predictor``'s task is read from: --data, else where its stage read it; and how a message
    names it (the folder as the user typed it, or the stage's data.<task> seen from here)."""
    name = predictor.task.name
    if name in by_task:
        return str(by_task[name].resolve()), f"{by_task[name]} (--data)"
    candidates = [name, predictor.task.submission.folder or name]
    for root in roots:
        for candidate in candidates:
            if (root / candidate).is_dir():
                return str((root / candidate).resolve()), f"{root / candidate} (--data)"
    if roots:
        looked = ", ".join(str(root / c) for root in roots for c in dict.fromkeys(candidates))
        raise BadInput(f"--data: no folder for {name} (looked for {looked}); give --data {name}=FOLDER")
    source = predictor.data.get(name, HUB)
    if source == HUB:
        return source, f"the Hub (data.{name} of the run)"
    # the run recorded an absolute path; from the working directory it is usually much shorter
    shown = os.path.relpath(source) if Path(source).is_relative_to(Path.cwd()) else source
    return source, f"{shown} (data.{name} of the run)"


def splits_present(task: Task, sources: dict[str, str]) -> list[str]:
    """The splits that ``task``'s source has files of, in one of its languages (for a message)."""
    source = sources.get(task.name, HUB)
    if source == HUB:
        return [split for split in SPLITS if task.hub and split in task.hub.splits]
    present = []
    # a training split read from another task's data (XNLI's is MNLI's) is not this folder's
    for split in SPLITS if task.train_task is None else [s for s in SPLITS if s != "train"]:
        for language in task.languages:
            try:
                load_examples(task, split, language, sources, unlabelled=True)
            except BadInput:
                continue
            present.append(split)
            break
    return present


def predict_run(
    predictors: Sequence[Predictor],
    output: Path,
    *,
    split: str,
    languages: Sequence[str] | None,
    data: tuple[dict[str, Path], list[Path]],
    batch_size: int | None,
    log: Callable[[str], None] = print,
) -> dict[str, list[str]]:
    """Write every predictor's predictions for ``split``; returns task -> the languages written."""
    import dataclasses

    from stilts.pipeline.local import quiet_libraries
    from stilts.reports.prediction_files import submission_path, write_prediction_file
    from stilts.training.devices import make_accelerator
    from stilts.training.evaluation import predict_examples
    from stilts.training.model import StageModel, load_encoder, load_head
    from stilts.training.weights import check_stage_file, check_weights

    for predictor in predictors:  # every language asked for must be one of the task's, before any work
        for language in languages or ():
            if language not in predictor.task.languages:
                raise BadInput(
                    f"--languages: '{language}' is not a language of {predictor.task.name}"
                    f"{did_you_mean(language, predictor.task.languages)}; its languages: "
                    + ", ".join(predictor.task.languages)
                )
    sources = {predictor.task.name: data_source(predictor, *data) for predictor in predictors}
    precisions = sorted({predictor.precision for predictor in predictors})
    if len(precisions) > 1:  # one Accelerator per process, and it has one precision
        raise BadInput(
            f"the models were trained with different mixed_precision settings ({', '.join(precisions)}); "
            f"predict with each on its own (--pipeline or --task)"
        )
    # every task must have the split before any model loads (minutes for a large one): the languages
    # named must each have it, else one at least; what this reads is kept for the predictions
    first_read: dict[str, dict[str, list[dict]]] = {}
    for predictor in predictors:
        task, (source, shown) = predictor.task, sources[predictor.task.name]
        reading = {**predictor.data, task.name: source}
        read = first_read[task.name] = {}
        for language in languages or task.languages:
            try:
                read[language] = load_examples(task, split, language, reading, unlabelled=True)
            except MissingSplit:
                if languages:  # asked for by name: its file must be there
                    raise
                continue
            if not languages:
                break
        if not read:
            present = splits_present(task, reading)
            suggested = next((s for s in present if s != "train"), present[0]) if present else None
            has = f"it has {', '.join(present)} (--split {suggested})" if present else "it has none of its splits"
            raise BadInput(f"--split {split}: no {split} files of {task.name} in {shown}; {has}")
    for predictor in predictors:  # a damaged model or head fails in one line before any file is written
        check_weights(predictor.model)
        if predictor.heads is not None:
            check_stage_file(predictor.heads / f"{predictor.task.name}.safetensors", predictor.heads.parent)
    quiet_libraries()
    accelerator = make_accelerator(precisions[0])
    written: dict[str, list[str]] = {}
    for predictor in predictors:
        task = dataclasses.replace(predictor.task, format=predictor.task.format.for_evaluation(predictor.settings))
        # the best kernel this machine has for the encoder (the kernels compute the same function)
        encoder, tokenizer = load_encoder(predictor.model, "auto", mixed_precision=accelerator.mixed_precision)
        model = StageModel(encoder, [task]).to(accelerator.device)
        if predictor.heads is not None:
            load_head(model, task, predictor.heads)
        max_length = predictor.settings.get("max_length") or task.format.default_max_length
        reading = {**predictor.data, task.name: sources[task.name][0]}
        written[task.name] = []
        for language in languages or task.languages:
            examples = first_read[task.name].pop(language, None)
            if examples is None:
                try:
                    examples = load_examples(task, split, language, reading, unlabelled=True)
                except MissingSplit:
                    continue
            predictions = predict_examples(
                accelerator,
                model,
                task,
                examples,
                tokenizer,
                max_length=max_length,
                batch_size=batch_size,
                desc=f"{task.name} {split} {language}",
            )
            if accelerator.is_main_process:
                state = predictor.states.get(language, {})
                path = submission_path(output, task, split, language)
                write_prediction_file(path, task, predictions, examples, state)
                log(f"{path}: {len(examples)} {task.name} examples")
            written[task.name].append(language)
    return written
