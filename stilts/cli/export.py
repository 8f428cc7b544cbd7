"""`stilts export STAGE_DIR --output DIR`: a trained stage as a standard transformers task model."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("stage_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--output", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to write it to."
)
@click.option("--task", "task_name", default=None, help="The head to export, for a stage that trained several.")
def export(stage_dir: Path, output: Path, task_name: str | None) -> None:
    """Write a target (or intermediate) stage's encoder and head as the matching transformers task model
    (AutoModelForSequenceClassification, ...ForTokenClassification, ...ForQuestionAnswering), with its
    labels, tokenizer and a model card; only if its logits equal stilts' own."""
    from stilts.training.export import export_stage

    if not stage_dir.is_dir():
        from stilts.core.errors import BadInput

        raise BadInput(f"{stage_dir}: no such stage folder")
    summary = export_stage(stage_dir, output, task_name)
    click.echo(
        f"{output}: {summary['task_model']}"
        + (f" with {len(summary['labels'])} labels" if summary["labels"] else "")
        + f" (largest logit difference to stilts: {summary['max_logit_difference']:.1e})"
    )
