"""`stilts prepare`: fetch every data split and model a pipeline or sweep will read, so it can run offline."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click

from stilts.cli.common import OUTPUT_DIR, OVERRIDES, is_sweep_file, plan_pipeline_file, plan_sweep_file
from stilts.core.errors import BadInput, MissingSplit, RunFailed, one_line


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@OUTPUT_DIR
@OVERRIDES
def prepare(file: Path, output_dir: Path | None, overrides: tuple[str, ...]) -> None:
    """Fetch every data split and model a pipeline or sweep will read.

    Run it where the Hub can be reached (a cluster's login node), then `stilts run` or `stilts sweep`
    with HF_HUB_OFFLINE=1 (compute nodes often have no internet). Each split the stages to run will read
    is read as the run reads it, into the normal Hugging Face caches; the table says where each came
    from (a local folder, or the Hub id and the revision sha served) and its size. What cannot be had
    is marked in the table, and the exit code is 2.
    """
    from tqdm.auto import tqdm

    from stilts.data.loading import load_examples, recording_origins
    from stilts.pipeline.preflight import check_found, planned_reads

    plans, model, base_dir, what = _plan(file, overrides, output_dir)
    model_line = "\n".join([_fetch_model(model, base_dir, str(file)), *_fetch_stage_models(plans)])
    reads, stages_of = planned_reads(plans)
    rows: dict[tuple, _Row] = {}
    problems = []
    #: how many examples each read found (0: a missing optional split is left to `check_found`, as a run does)
    found = {}
    for key, (read, sources) in tqdm(reads.items(), desc="fetching data", unit="split", leave=False):
        task_name, split, language, _ = key
        try:
            with recording_origins() as origins:
                examples = load_examples(read.task, split, language, sources)
            found[key] = len(examples)
        except MissingSplit as error:
            found[key] = 0
            if not read.optional:
                problems.append(one_line(error))
                _row(rows, task_name, split, "CANNOT BE HAD (needed)").languages.append(language)
                continue
            _row(rows, task_name, split, "not in the data").languages.append(language)
            continue
        except (BadInput, RunFailed) as error:
            problems.append(one_line(error))
            _row(rows, task_name, split, "CANNOT BE HAD").languages.append(language)
            continue
        sizes = {}
        for origin in origins:  # a composite task (ANLI+) reads several parts, each with its own origin
            source = origin["from"]
            described = _describe(source)
            sizes[described] = source.get("bytes", 0)
        row = _row(rows, task_name, split, " + ".join(sizes))
        row.languages.append(language)
        row.examples += len(examples)
        row.bytes += sum(sizes.values())
    if not problems:
        try:  # a language a stage names that the data lacks is refused, as `stilts run` refuses it
            check_found(stages_of, found)
        except BadInput as error:
            problems.append(one_line(error))
    click.echo(model_line)
    click.echo(_table(sorted(rows.values(), key=lambda row: (row.task, row.split, row.source))))
    if problems:
        raise BadInput(
            f"{file}: {len(problems)} of {len(reads)} splits cannot be had (marked above); first: {problems[0]}"
        )
    click.echo(
        f"prepared: {len(reads)} splits and the model are in this machine's caches; "
        f"the {what} can now run with HF_HUB_OFFLINE=1"
    )


@dataclass
class _Row:
    task: str
    split: str
    source: str
    languages: list[str] = field(default_factory=list)
    examples: int = 0
    bytes: int = 0


def _row(rows: dict, task: str, split: str, source: str) -> _Row:
    return rows.setdefault((task, split, source), _Row(task, split, source))


def _describe(source: dict) -> str:
    if "local" in source:
        return f"local {source['local']}"
    sha = (source.get("sha") or "sha unknown")[:12]
    return f"{source['hub']} @ {source['revision']} {sha}"


def _size(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]
    return ""


def _table(rows: list[_Row]) -> str:
    header = ("task", "split", "languages", "rows", "source", "size")
    lines = [
        (
            row.task,
            row.split,
            " ".join(sorted(row.languages)),
            str(row.examples) if row.examples else "-",
            row.source,
            _size(row.bytes) if row.bytes else "-",
        )
        for row in rows
    ]
    widths = [max(len(line[column]) for line in [header, *lines]) for column in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in [header, *lines]
    )


def _plan(file: Path, overrides: tuple[str, ...], output_dir: Path | None):
    """(stages, data sources) of every pipeline of ``file``, its model reference, the YAML's folder and
    whether it is a sweep or a pipeline: planned as `stilts run` and `stilts sweep` plan them."""
    sweep = is_sweep_file(file)
    planned = (plan_sweep_file if sweep else plan_pipeline_file)(file, overrides, output_dir)
    plans = [(stages, sources) for _, stages, sources in planned.plans]
    return plans, planned.config.model, planned.base_dir, "sweep" if sweep else "pipeline"


def _fetch_stage_models(plans) -> list[str]:
    """Fetch the Hub models stages to run load besides the pipeline's (`StageRunner.hub_models`: a
    translate_test stage's MT models); a line for each."""
    from stilts.data.hub import fetch_model
    from stilts.pipeline.preflight import stages_to_run
    from stilts.pipeline.stage_kinds import STAGE_KINDS

    lines, fetched = [], set()
    for stages, _ in plans:
        for stage in stages_to_run(stages):
            for where, model_id in STAGE_KINDS.get(stage.kind).runner.hub_models(stage):
                if model_id in fetched:
                    continue
                fetched.add(model_id)
                folder, sha = fetch_model(model_id, where)
                size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
                lines.append(f"{where}: {model_id} @ main {sha[:12]} ({_size(size)})")
    return lines


def _fetch_model(reference: str, base_dir: Path, where: str) -> str:
    """Install or fetch the pipeline's model; a line saying what it is and where it came from."""
    from stilts.data.hub import fetch_model
    from stilts.pipeline.engine import resolve_model_reference

    resolved = resolve_model_reference(reference, base_dir, where)
    if Path(resolved).is_dir():
        return f"model {reference}: local {resolved}"
    folder, sha = fetch_model(resolved, f"{where}: model")
    size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    return f"model {reference}: {resolved} @ main {sha[:12]} ({_size(size)})"
