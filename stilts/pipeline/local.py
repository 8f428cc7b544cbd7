"""Running planned pipelines in this process: the run context (one Accelerator per process), one
pipeline of a sweep, a sweep's pipelines one after another, and the per-language summary.

`stilts run`, `stilts sweep` (sequential and ``--jobs`` workers) all run stages through here, so
they behave the same; the click commands (`stilts.cli.run`, `stilts.cli.sweep`) only parse and print.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from stilts.core.artifacts import read_record, redo_stage
from stilts.core.errors import BadInput, RunFailed
from stilts.pipeline.engine import blocking_failure, failure_reason, run_stages
from stilts.pipeline.stage_kinds import PlannedStage, RunContext


def run_one_by_one(plans, model_path: str, run_dir: Path, detect_anomaly: bool) -> list[tuple[str, str, str]]:
    context = None
    failed_stages: dict[str, str] = {}
    outcomes: list[tuple[str, str, str]] = []
    for number, (pipeline, stages, data_sources) in enumerate(plans, start=1):
        blocked = blocking_failure(stages, failed_stages)
        if blocked:
            outcomes.append((pipeline.name, "failed", blocked))
            continue
        context, status, reason, failed_fingerprint = run_sweep_pipeline(
            context,
            pipeline,
            stages,
            data_sources,
            model_path,
            run_dir,
            detect_anomaly,
            announce=f"=== [{number}/{len(plans)}] {pipeline.name}",
        )
        outcomes.append((pipeline.name, status, reason))
        if failed_fingerprint:
            failed_stages[failed_fingerprint] = reason
            click.echo(f"error: {pipeline.name}: {reason}", err=True)
    return outcomes


#: what one pipeline of a sweep may fail with without stopping the others
PIPELINE_FAILURES = (BadInput, RunFailed, RuntimeError, ValueError, OSError)


def run_sweep_pipeline(
    context,
    pipeline,
    stages,
    data_sources,
    model_path: str,
    run_dir: Path,
    detect_anomaly: bool,
    announce: str | None = None,
):
    """One pipeline of a sweep in this process. Returns (the context, for the next pipeline of this
    process; "done" | "reused" | "failed"; the reason; the fingerprint of the stage that failed)."""
    if context is None:
        context = make_context(pipeline, model_path, data_sources, run_dir, detect_anomaly)
    context.pipeline, context.data_sources = pipeline, data_sources
    reused = all(stage.complete for stage in stages)
    if announce and not reused:
        context.log(announce)
    try:
        # a reused pipeline still runs: its skipped evaluations re-add their rows to scores.csv
        run_stages(stages, context)
    except PIPELINE_FAILURES as error:
        stage, reason = failure_reason(stages, error)
        return context, "failed", reason, stage.fingerprint
    return context, "reused" if reused else "done", "", None


def quiet_libraries() -> None:
    """stilts' own progress bars and messages only: none of transformers' or datasets'."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import datasets
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()


def make_context(pipeline, model_path: str, data_sources, run_dir: Path, detect_anomaly: bool = False):
    """Quiet libraries, one Accelerator for the process, and the context stages run in."""
    import torch

    from stilts.training.devices import make_accelerator

    quiet_libraries()
    torch.autograd.set_detect_anomaly(detect_anomaly)
    tracking = {}
    if pipeline.tracking != "none":  # each training stage is one tracked run, under <run_dir>/logs/
        tracking = {"log_with": pipeline.tracking, "project_dir": str(run_dir / "logs")}
    accelerator = make_accelerator(pipeline.mixed_precision, **tracking)

    def log(message: str) -> None:
        if accelerator.is_main_process:
            click.echo(message)

    return RunContext(
        pipeline=pipeline,
        model_path=model_path,
        data_sources=data_sources,
        run_dir=run_dir,
        accelerator=accelerator,
        log=log,
    )


def evaluation_metrics(stages: list[PlannedStage]) -> list[dict]:
    """The metrics of the stages that scored languages (their metrics.json has ``scores``)."""
    found = []
    for stage in stages:
        path = stage.folder / "metrics.json"
        if path.is_file():
            metrics = read_record(path, redo_stage(stage.folder))
            if "scores" in metrics:
                found.append(metrics)
    return found


#: after a score in the per-language table: the model gave every example of that language one answer
CONSTANT_MARK = "!"


def per_language_table(metrics: dict) -> str:
    """A plain-text table: one row per split and metric, one column per language, average last; a
    language whose predictions were all one answer has `CONSTANT_MARK` after its scores, explained
    under the table."""
    lines = []
    for split, by_language in metrics["scores"].items():
        languages = list(by_language)
        constant = metrics.get("constant_predictions", {}).get(split, {})
        lines.append(f"{metrics.get('label', metrics['task'])} ({split})")
        lines.append("  " + f"{'metric':<12}" + "".join(f"{name:>8}" for name in languages + ["avg"]))
        for metric in next(iter(by_language.values())):
            cells = [
                f"{by_language[lang][metric]:7.1f}" + (CONSTANT_MARK if lang in constant else " ") for lang in languages
            ]
            cells.append(f"{metrics['average'][split][metric]:7.1f} ")
            lines.append("  " + f"{metric:<12}" + "".join(cells).rstrip())
        if constant:
            answers = ", ".join(f"{language} {constant[language]!r}" for language in languages if language in constant)
            lines.append(f"  {CONSTANT_MARK} every example got the same prediction: {answers}")
    return "\n".join(lines)
