"""`stilts tasks`: what the catalog holds."""

from __future__ import annotations

import click

# A label set longer than this (CCG has 1,363 supertag ids) is shown as a count and its first few.
LABELS_SHOWN_IN_FULL = 20
LABELS_SHOWN_WHEN_SUMMARISED = 10


def labels_line(labels) -> str:
    """`labels: a b c`, or `labels (1363): 0 1 ... 9 ... (1353 more)` for a large set."""
    labels = list(labels)
    if len(labels) <= LABELS_SHOWN_IN_FULL:
        return f"labels: {' '.join(labels)}"
    first = labels[:LABELS_SHOWN_WHEN_SUMMARISED]
    return f"labels ({len(labels)}): {' '.join(first)} ... ({len(labels) - len(first)} more)"


@click.command()
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Also list every language and the labels (a count and the first few of a large label set).",
)
def tasks(verbose: bool) -> None:
    """Every task: format, phases, languages, metric, data source and the package it comes from; then
    the benchmarks and their tasks."""
    from stilts.core.catalog import BENCHMARKS, TASKS
    from stilts.pipeline.stage_kinds import STAGE_KINDS

    kinds = STAGE_KINDS.names()
    click.echo(f"{'task':<15}{'format':<16}{'phases':<28}{'langs':>5}  {'metric':<10}{'trains on':<11}{'hub':<34}from")
    for name, task in sorted(TASKS.items(), key=lambda item: (("intermediate" not in item[1].phases), item[0])):
        phases = ",".join([p for p in kinds if p in task.phases] + sorted(set(task.phases) - set(kinds)))
        hub = task.hub.dataset_id if task.hub else "-"
        origin = TASKS.origin(name).split(" (")[0]
        click.echo(
            f"{task.name:<15}{task.format.name:<16}{phases:<28}{len(task.languages):>5}  "
            f"{task.metric:<10}{task.train_task or '-':<11}{hub:<34}{origin}"
        )
        if verbose:
            click.echo(f"    {task.description}")
            click.echo(f"    languages: {' '.join(task.languages)}")
            if task.labels:
                click.echo(f"    {labels_line(task.labels)}")
            member_of = [benchmark.label for _, benchmark in BENCHMARKS.items() if name in benchmark.targets]
            if member_of:
                click.echo(f"    benchmarks: {', '.join(member_of)}")
    click.echo()
    click.echo(f"{'benchmark':<15}tasks (`stilts table --best` scores each benchmark)")
    for name, benchmark in BENCHMARKS.items():
        absent = f"; not in stilts: {' '.join(benchmark.absent)}" if benchmark.absent else ""
        click.echo(f"{name:<15}{' '.join(benchmark.targets)}{absent}")
