"""`stilts run`: one pipeline, its stages run here (or under `accelerate launch`)."""

from __future__ import annotations

from pathlib import Path

import click

from stilts.cli.common import (
    DETECT_ANOMALY,
    DRY_RUN,
    OUTPUT_DIR,
    OVERRIDES,
    check_and_record,
    plan_pipeline_file,
    print_stages,
)


@click.command()
@click.argument("pipeline_file", type=click.Path(dir_okay=False, path_type=Path))
@OUTPUT_DIR
@OVERRIDES
@DRY_RUN
@DETECT_ANOMALY
def run(
    pipeline_file: Path, output_dir: Path | None, overrides: tuple[str, ...], dry_run: bool, detect_anomaly: bool
) -> None:
    """Run a pipeline: intermediate stage(s), target fine-tuning, zero-shot evaluation.

    Completed stages (same fingerprint, COMPLETE present) are reused, not rerun.
    """
    from stilts.pipeline.engine import resolve_model_reference

    planned = plan_pipeline_file(pipeline_file, overrides, output_dir)
    pipeline, base_dir, run_dir = planned.config, planned.base_dir, planned.run_dir
    [(_, stages, data_sources)] = planned.plans
    model_path = resolve_model_reference(pipeline.model, base_dir, str(pipeline_file), install=not dry_run)
    check_and_record(planned.plans, model_path, run_dir, dry_run)
    if dry_run:
        kernel = f"  attention {pipeline.attention}" if pipeline.attention != "auto" else ""  # the defaults: unsaid
        packing = "  packing" if pipeline.packing else ""
        where = f"  run dir {run_dir}"
        click.echo(f"pipeline {pipeline.name}  model {pipeline.model}  seed {pipeline.seed}{kernel}{packing}{where}")
        print_stages(stages, with_settings=True)
        return
    from stilts.pipeline.engine import run_stages
    from stilts.pipeline.local import evaluation_metrics, make_context, per_language_table

    context = make_context(pipeline, model_path, data_sources, run_dir, detect_anomaly)
    processes = context.accelerator.num_processes
    on = f"device {context.accelerator.device}" + (f" ({processes} processes)" if processes > 1 else "")
    context.log(f"pipeline {pipeline.name}: {len(stages)} stages, {on}, run dir {run_dir}")
    run_stages(stages, context)
    for metrics in evaluation_metrics(stages):
        context.log(per_language_table(metrics))
    context.log(f"scores: {context.scores_path}")
