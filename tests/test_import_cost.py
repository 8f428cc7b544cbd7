"""Quick commands stay quick: reading the catalog and the stage kinds, planning a pipeline, `stilts tasks`,
`--dry-run` and refusing bad input import neither torch nor datasets nor transformers (seconds of
start-up each). Only what trains, evaluates, or reads the Hub imports them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "datasets", "transformers")
#: appended to the code run: the heavy modules it imported, on the last line of stdout
REPORT_HEAVY = f"\nimport sys\nprint('heavy:', *[name for name in {HEAVY!r} if name in sys.modules])\n"

READ_EVERY_REGISTRY = """
from pathlib import Path

from stilts.core.catalog import TASK_FAMILIES, TASKS, get_task
from stilts.pipeline.config import load_pipeline
from stilts.pipeline.engine import plan_pipeline
from stilts.training.mixing import MIXING_RULES
from stilts.offline.registry import OFFLINE_MODELS
from stilts.pipeline.stage_kinds import STAGE_KINDS

for registry in (TASKS, TASK_FAMILIES, STAGE_KINDS, MIXING_RULES, OFFLINE_MODELS):
    assert dict(registry.items())
for name in ("mnli", "xnli", "squad_v2", "tydiqa", "hellaswag", "udpos", "tatoeba", "bucc", "mlm", "hellaswag@de"):
    task = get_task(name)
    assert task.format.name and task.format.default_max_length > 0
pipeline, base_dir = load_pipeline(Path("pipelines/demo.yaml"))
stages, _ = plan_pipeline(pipeline, base_dir, Path("{run_dir}"), "pipelines/demo.yaml")
assert [stage.kind for stage in stages] == ["intermediate", "target", "evaluate"]
"""

#: `stilts ARGS` in this interpreter, then the report (SystemExit is how `stilts.cli.main` ends)
RUN_CLI = """
import sys
from stilts.cli import main
try:
    main(sys.argv[1:])
except SystemExit as done:
    print('exit:', done.code)
"""


def run_python(code: str, *args: str, cwd: Path = ROOT) -> tuple[list[str], str]:
    """(stdout lines, stderr) of ``python -c CODE ARGS`` with the heavy-module report appended."""
    done = subprocess.run(
        [sys.executable, "-c", code + REPORT_HEAVY, *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines(), done.stderr


def imported_heavy(lines: list[str]) -> list[str]:
    assert lines[-1].startswith("heavy:"), lines[-3:]
    return lines[-1].split()[1:]


def test_reading_every_registry_and_planning_a_pipeline_imports_nothing_heavy(tmp_path):
    lines, _ = run_python(READ_EVERY_REGISTRY.format(run_dir=tmp_path / "run"))
    assert imported_heavy(lines) == []


#: commands that read the catalog, the stage kinds and the demo's local data, and train nothing
QUICK_COMMANDS = {
    "tasks": ["tasks"],
    "tasks -v": ["tasks", "-v"],
    "run --dry-run": ["run", "--dry-run", "pipelines/demo.yaml", "--output-dir", "{tmp}/demo"],
    "sweep --dry-run": ["sweep", "--dry-run", "pipelines/demo_grid.yaml", "--output-dir", "{tmp}/demo_grid"],
}


@pytest.mark.parametrize("args", QUICK_COMMANDS.values(), ids=QUICK_COMMANDS)
def test_quick_commands_import_nothing_heavy(args, tmp_path):
    lines, stderr = run_python(RUN_CLI, *[arg.format(tmp=tmp_path) for arg in args])
    assert "exit: 0" in lines, stderr[-3000:]
    assert imported_heavy(lines) == []


def test_a_config_error_is_one_line_and_imports_nothing_heavy():
    lines, stderr = run_python(RUN_CLI, "run", "--dry-run", "pipelines/demo.yaml", "--set", "stages.target.task=xnlii")
    assert "exit: 2" in lines
    assert stderr.splitlines() == [
        "error: pipelines/demo.yaml: stages[1].task: unknown task 'xnlii' (did you mean 'xnli'?)"
    ]
    assert imported_heavy(lines) == []


def test_stilts_tasks_lists_every_task_with_its_format_phases_and_origin():
    from stilts.core.catalog import TASKS

    lines, _ = run_python(RUN_CLI, "tasks")
    output = lines[: lines.index("exit: 0")]
    listing = output[: output.index("")]  # the tasks; the benchmarks follow (tests/test_tasks_cli.py)
    assert listing[0].split() == ["task", "format", "phases", "langs", "metric", "trains", "on", "hub", "from"]
    rows = {line.split()[0]: line for line in listing[1:]}
    assert sorted(rows) == sorted(TASKS.names())
    xnli = ["xnli", "classification", "target,evaluate", "15", "accuracy", "mnli", "facebook/xnli", "stilts"]
    assert rows["xnli"].split() == xnli
    assert rows["mlm"].split() == ["mlm", "masked_lm", "intermediate", "40", "accuracy", "-", "-", "stilts"]
    # intermediate tasks first, then the rest, each group by name
    intermediate = [name for name in rows if "intermediate" in TASKS.get(name).phases]
    assert list(rows) == sorted(intermediate) + sorted(set(rows) - set(intermediate))


def test_the_command_list_is_clicks_own_without_importing_the_commands():
    import click

    from stilts.cli import COMMAND_TARGETS, cli

    def command_list(format_commands) -> str:
        formatter = click.HelpFormatter(width=80)
        format_commands(cli, click.Context(cli, info_name="stilts"), formatter)
        return formatter.getvalue()

    # click's own listing imports every command for its help; stilts' reads their docstrings
    expected = command_list(click.Group.format_commands)
    assert command_list(type(cli).format_commands) == expected and expected.count("\n") == len(COMMAND_TARGETS) + 1
    lines, _ = run_python(
        RUN_CLI + "print('imported:', *[m for m in ('pandas', 'numpy', 'pydantic') if m in sys.modules])", "--help"
    )
    assert "Commands:" in lines and lines[-2] == "imported:"
    assert imported_heavy(lines) == []


def test_a_catalog_imported_directly_reads_the_installed_distributions_once():
    """Each entry a catalog module imported directly registers is attributed to its distribution; the
    file lists of every installed distribution, half a second to read, are read once, not per module."""
    count_scans = """
import importlib.metadata as metadata
scans, real = [], metadata.packages_distributions
metadata.packages_distributions = lambda: scans.append(1) or real()
import stilts.target.catalog
print('scans:', len(scans))
"""
    lines, _ = run_python(count_scans)
    assert lines[-2] == "scans: 1"
