"""`stilts run`: one pipeline, end to end."""

from __future__ import annotations

import os
from pathlib import Path

import click

from stilts.config import load_pipeline


@click.command()
@click.argument("pipeline_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run folder (default: runs/<pipeline name>). Stages and scores.csv go here.")
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="Override a YAML field, e.g. --set stages.target.epochs=1 (repeatable).")
@click.option("--dry-run", is_flag=True, help="Print the resolved stages and their fingerprints; run nothing.")
def run(pipeline_file: Path, output_dir: Path | None, overrides: tuple[str, ...], dry_run: bool) -> None:
    """Run a pipeline: intermediate stage(s), target fine-tuning, zero-shot evaluation.

    Completed stages (same fingerprint, COMPLETE present) are reused, not rerun.
    """
    from stilts.engine import plan_pipeline, resolve_model_reference

    pipeline, base_dir = load_pipeline(pipeline_file, overrides)
    run_dir = (output_dir or Path("runs") / pipeline.name).resolve()
    stages, data_sources = plan_pipeline(pipeline, base_dir, run_dir, str(pipeline_file))
    model_path = resolve_model_reference(pipeline.model, base_dir, str(pipeline_file), install=not dry_run)
    if dry_run:
        _print_plan(pipeline, stages, run_dir)
        return
    _run(pipeline, stages, data_sources, model_path, run_dir)


def _print_plan(pipeline, stages, run_dir: Path) -> None:
    click.echo(f"pipeline {pipeline.name}  model {pipeline.model}  seed {pipeline.seed}  run dir {run_dir}")
    for stage in stages:
        status = "complete (will be reused)" if stage.complete else "to run"
        click.echo(f"  [{stage.index + 1}] {stage.kind:<12} {stage.name:<14} {stage.fingerprint[:8]}  {status}")
        for key in sorted(stage.settings):
            click.echo(f"        {key}: {stage.settings[key]}")


def _run(pipeline, stages, data_sources, model_path: str, run_dir: Path) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import datasets
    import transformers
    from accelerate import Accelerator

    from stilts.engine import RunContext, run_stages
    from stilts.stages import evaluation_metrics, per_language_table

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    accelerator = Accelerator(mixed_precision=_mixed_precision(pipeline.mixed_precision))

    def log(message: str) -> None:
        if accelerator.is_main_process:
            click.echo(message)

    context = RunContext(pipeline=pipeline, model_path=model_path, data_sources=data_sources,
                         run_dir=run_dir, accelerator=accelerator, log=log)
    log(f"pipeline {pipeline.name}: {len(stages)} stages, device {accelerator.device}, run dir {run_dir}")
    run_stages(stages, context)
    for metrics in evaluation_metrics(stages):
        log(per_language_table(metrics))
    log(f"scores: {context.scores_path}")


def _mixed_precision(setting: str) -> str:
    """`auto`: bf16 where the GPU supports it, otherwise full precision (CPU autocast is slower)."""
    if setting != "auto":
        return setting
    import torch

    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
