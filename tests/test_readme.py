"""Every command line the README and the documentation pages show works as written.

The commands are read from the indented code blocks of README.md and docs/**/*.md, so a command added
there is checked without editing this file. stilts commands must exist with every option they show;
those that can run offline here do run (a pipeline or sweep as a dry run); the launcher, pytest, pip
and tensorboard lines are run or checked against the project's files, and the scripts and modules
other lines run must exist. Every README command is checked (an unknown program fails the test until it
is handled here); a YAML example is loaded as the pipeline or sweep it shows.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
import tomllib
import yaml
from helpers import run_cli

from stilts.cli import cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: the documentation site's pages (mkdocs.yml); the generated references hold no indented commands
DOCS = sorted((ROOT / "docs").rglob("*.md"))
#: the page whose command list `stilts` (bare) and `stilts --help` follow
COMMANDS_PAGE, COMMANDS_SECTION = ROOT / "docs" / "index.md", "\n## The commands\n"
#: stilts commands that are cheap and offline, so they run for real instead of only `--help`
RUN_AS_IS = {("tasks",), ("models", "list")}


def code_commands(markdown: str) -> list[str]:
    """Each command of the Markdown's indented code blocks (continuation lines joined, `&&` and `|`
    chains split, trailing comments dropped)."""
    lines, commands, in_fence, previous_was_code = markdown.splitlines(), [], False, False
    for line in lines:
        if line.startswith("```"):
            in_fence = not in_fence
            continue
        is_code = not in_fence and line.startswith("    ") and line.strip()
        if is_code and previous_was_code and line.startswith("     "):
            commands[-1] += " " + line.strip()  # a wrapped command: more indented than its first line
        elif is_code:
            commands.append(line.strip())
        previous_was_code = bool(is_code)
    split = []
    for command in commands:
        command = re.sub(r"\s+#.*$", "", command)
        command = re.sub(r"\s+\\\s+", " ", command)  # a shell line continuation, joined above
        split += [part.strip() for part in re.split(r"\s&&\s|\s\|\s", command)]
    return split


COMMANDS = code_commands(README.read_text())
#: (where, command) for the README's commands and every docs page's
SHOWN = [("README.md", c) for c in COMMANDS] + [
    (str(path.relative_to(ROOT)), c) for path in DOCS for c in code_commands(path.read_text())
]


def shown(prefix: str | None = None, pattern: str | None = None) -> list:
    """pytest parameters of the shown commands that start with ``prefix`` (or match ``pattern``),
    each with its file in its id."""
    return [
        pytest.param(command, id=f"{where}: {command}")
        for where, command in SHOWN
        if (prefix and command.startswith(prefix)) or (pattern and re.match(pattern, command))
    ]


def test_the_readme_shows_the_commands_a_new_user_needs():
    assert COMMANDS[:3] == [
        # PyTorch's CPU index first, so the CPU build is what a plain machine gets; one retry where it
        # cannot be reached (pip's default 5 cost a minute and more); a current pip with it (an old one
        # cannot build seqeval, which has no wheel)
        "pip install --upgrade pip torch==2.13.0 --extra-index-url https://download.pytorch.org/whl/cpu --retries 1",
        "pip install -e .",
        "stilts run pipelines/demo.yaml",
    ]
    assert "HF_HUB_OFFLINE=1 python -m pytest -q" in COMMANDS
    # several GPUs: how to launch stilts under accelerate (docs/pipelines.md)
    assert any(command.startswith("accelerate launch") for _, command in SHOWN)


def stilts_command(tokens: list[str]) -> tuple[tuple[str, ...], click.Command, list[str]]:
    """The (sub)command path a `stilts ...` line names, its click command, and the rest."""
    command, path = cli, []
    rest = tokens[1:]
    context = click.Context(cli)
    while isinstance(command, click.Group) and rest and rest[0] in command.list_commands(context):
        command = command.get_command(context, rest[0])
        path.append(rest.pop(0))
    return tuple(path), command, rest


def shown_options(rest: list[str]) -> list[str]:
    """The options a synopsis line shows: `--set`, `-v`, `[--split dev|test]` -> `--split`."""
    return [match.group(1) for token in rest for match in [re.match(r"\[?(--?[a-z][a-z-]*)", token)] if match]


def dry_runs_here(tokens: list[str]) -> bool:
    """Plan ``stilts run|sweep FILE [--set ...]`` as the command does (its file and --set values are
    checked; no data is read), and say whether its dry run runs here: offline (the model is an offline
    or local one and every split is read from a local folder) and quickly (the folders are in the
    checkout; a dry run reads every split, a minute for the real sets in ../shared/data, which the
    planning has found). A dry run of anything else would ask the Hub, or wait for it."""
    from stilts.core.errors import BadInput
    from stilts.data.loading import HUB
    from stilts.offline.registry import OFFLINE_PREFIX
    from stilts.pipeline.config import load_pipeline, local_model_folder, override_from_command_line
    from stilts.pipeline.engine import plan_pipeline
    from stilts.pipeline.preflight import planned_reads
    from stilts.pipeline.sweep import expand, load_sweep

    command, path = tokens[1], ROOT / tokens[2]
    overrides = tuple(override_from_command_line(tokens[i + 1]) for i, t in enumerate(tokens) if t == "--set")
    if command == "sweep":
        config, base_dir = load_sweep(path, overrides)
        pipelines = expand(config, str(path))
    else:
        pipeline, base_dir = load_pipeline(path, overrides)
        pipelines = [pipeline]
    try:
        plans = [plan_pipeline(pipeline, base_dir, ROOT / "runs" / "check", str(path)) for pipeline in pipelines]
    except BadInput as error:
        if "no such folder" in str(error):  # real data (../shared/data) that this machine does not have
            return False
        raise
    model = pipelines[0].model
    if not model.startswith(OFFLINE_PREFIX) and local_model_folder(model, base_dir) is None:
        return False
    reads, _ = planned_reads(plans)
    # a read is (task, split, language, the pipeline's data sources as pairs); a task not there is the Hub's
    folders = [dict(sources).get(task, HUB) for task, _, _, sources in reads]
    return all(folder != HUB and Path(folder).is_relative_to(ROOT) for folder in folders)


@pytest.mark.parametrize("line", shown("stilts "))
def test_each_stilts_command_exists_with_the_options_it_shows(line, capsys, tmp_path, monkeypatch):
    tokens = shlex.split(line)
    path, command, rest = stilts_command(tokens)
    assert path and not isinstance(command, click.Group), f"{line}: no such stilts command"
    known = {opt for param in command.params for opt in param.opts + param.secondary_opts}
    for option in shown_options(rest):
        assert option in known, f"{line}: `stilts {' '.join(path)}` has no option {option}"
    monkeypatch.setenv("STILTS_CACHE", str(tmp_path / "cache"))  # nothing is installed by a dry run
    if path in RUN_AS_IS:  # with the flags it shows: `stilts tasks [-v]` runs `stilts tasks -v`
        code, _, stderr = run_cli([*path, *shown_options(rest)], capsys)
    elif path in {("run",), ("sweep",)} and (ROOT / rest[0]).is_file() and dry_runs_here(tokens):
        monkeypatch.chdir(ROOT)
        code, stdout, stderr = run_cli(tokens[1:] + ["--dry-run", "--output-dir", tmp_path / "run"], capsys)
        assert "to run" in stdout, stdout
    else:
        code, _, stderr = run_cli([*path, "--help"], capsys)
    assert code == 0, f"{line}: exit {code}: {stderr}"


@pytest.mark.parametrize("line", shown("accelerate launch"))
def test_the_accelerate_launch_line_starts_stilts(line, tmp_path):
    launcher = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or shutil.which("accelerate")
    if launcher is None:
        pytest.skip("the accelerate launcher is not on PATH")
    tokens = shlex.split(line)
    # one CPU process: this checks that the launcher finds stilts, not the devices
    tokens[2:2] = [
        "--num_processes",
        "1",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--cpu",
    ]
    result = subprocess.run(
        [launcher, *tokens[1:], "--dry-run", "--output-dir", str(tmp_path / "run")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "STILTS_CACHE": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "pipeline demo" in result.stdout


@pytest.mark.parametrize("line", shown(pattern=r"(\w+=\S+ )*python -m pytest"))
def test_each_pytest_line_selects_tests(line):
    tokens = shlex.split(line)
    env = dict(os.environ)
    while "=" in tokens[0]:
        key, _, value = tokens.pop(0).partition("=")
        env[key] = value
    if tokens == ["python", "-m", "pytest", "-q"]:  # the suite itself: CI must run exactly this line
        assert line in (ROOT / ".ci" / "run").read_text()
        return
    # a marker selection is collected from the files that use the marker only: collecting the whole
    # suite imports every test module (about 20 s), and the answer is the same
    options = tokens[3:]  # after python -m pytest
    marker = options[options.index("-m") + 1] if "-m" in options else None
    files = [str(p) for p in sorted((ROOT / "tests").glob("test_*.py")) if marker and f"mark.{marker}" in p.read_text()]
    result = subprocess.run(
        [sys.executable, *tokens[1:], "--collect-only", "-q", *files],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    selected = re.search(r"^(\d+)(?:/\d+)? tests? collected", result.stdout, re.M)
    assert selected and int(selected.group(1)) > 0, result.stdout[-500:]


@pytest.mark.parametrize("line", shown("pip install"))
def test_each_pip_line_names_what_the_project_has(line):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    tokens = shlex.split(line)[2:]
    if tokens[:2] == ["--upgrade", "pip"]:
        del tokens[:2]
    if "--extra-index-url" in tokens:  # torch's CPU build from PyTorch's own index (its install docs)
        at = tokens.index("--extra-index-url")
        assert tokens[at + 1] == "https://download.pytorch.org/whl/cpu" and tokens[at + 2 : at + 4] == [
            "--retries",
            "1",
        ]
        del tokens[at : at + 4]
    for token in tokens:
        extras = re.fullmatch(r"\.(?:\[([\w,]+)\])?", token)
        if extras and extras.group(1):
            for extra in extras.group(1).split(","):
                assert extra in project["optional-dependencies"], f"{line}: no extra [{extra}]"
        elif token.startswith("torch=="):
            # the torch pinned in the README satisfies the project's requirement
            assert any(dep.startswith("torch") for dep in project["dependencies"])
        else:
            assert token in ("-e", "."), f"{line}: unexpected pip argument {token}"


@pytest.mark.parametrize("line", shown("tensorboard "))
def test_each_tensorboard_line_reads_a_run_folders_logs(line):
    """`tensorboard --logdir runs/<pipeline>/logs`: where `tracking: tensorboard` writes (stilts.pipeline.local)."""
    tokens = shlex.split(line)
    assert tokens[1] == "--logdir" and re.fullmatch(r"runs/[\w.-]+/logs", tokens[2]), line
    assert (ROOT / "pipelines" / f"{tokens[2].split('/')[1]}.yaml").is_file(), f"{line}: no such pipeline"
    assert shutil.which("tensorboard", path=str(Path(sys.executable).parent)), "tensorboard is not installed"


def test_every_readme_command_is_checked():
    checked = ("stilts ", "accelerate launch", "pip install", "tensorboard ")
    unchecked = [c for c in COMMANDS if not c.startswith(checked) and not re.match(r"(\w+=\S+ )*python -m pytest", c)]
    assert not unchecked, f"README commands no test runs: {unchecked}"


def test_each_script_or_module_a_docs_command_runs_exists():
    """`python benchmarks/x.py`, `bash tests/x.sh` and `python -m module` lines of any page name a
    script of the checkout or a module that can be imported here."""
    for where, command in SHOWN:
        words = [word for word in command.split() if not re.fullmatch(r"[A-Z_]+=\S*", word)]  # no VAR=value
        if len(words) < 2 or words[0] not in ("python", "bash"):
            continue
        tokens = [token for token in shlex.split(command) if not re.fullmatch(r"[A-Z_]+=\S*", token)]
        if tokens[1] == "-m":
            assert importlib.util.find_spec(tokens[2]) is not None, f"{where}: {command}: no module {tokens[2]}"
        elif tokens[1].endswith((".py", ".sh")):
            assert (ROOT / tokens[1]).is_file(), f"{where}: {command}: no file {tokens[1]}"


def yaml_blocks() -> list:
    """The YAML examples of the README and the docs pages, with the file each is in."""
    return [
        pytest.param(block, id=f"{path.name}: {block.splitlines()[0]}")
        for path in [README, *DOCS]
        for block in re.findall(r"```yaml\n(.*?)```", path.read_text(), flags=re.S)
        if "data:" in block
    ]


@pytest.mark.parametrize("block", yaml_blocks())
def test_a_yaml_example_saved_where_it_says_finds_its_data(block, tmp_path):
    """A YAML example's paths are relative to its file: saved where its first line says (a pipeline
    without one goes to pipelines/, beside the shipped ones), its local data folders are found in
    ../shared/data beside the checkout, where the README says the real data is. An example that shows
    a shipped file (its first line names one) shows its content."""
    from stilts.pipeline.config import load_pipeline
    from stilts.pipeline.engine import resolve_data_sources
    from stilts.pipeline.sweep import expand, load_sweep

    named = re.match(r"# (\S+\.yaml)", block)
    if named and (ROOT / named.group(1)).is_file():
        assert yaml.safe_load(block) == yaml.safe_load((ROOT / named.group(1)).read_text()), named.group(1)
        return
    path = tmp_path / "checkout" / (named.group(1) if named else "pipelines/example.yaml")
    path.parent.mkdir(parents=True)
    path.write_text(block)
    shared = tmp_path / "shared" / "data"
    for task in ("mnli", "xnli"):
        (shared / task).mkdir(parents=True, exist_ok=True)
    if "matrix:" in block:
        sweep, base_dir = load_sweep(path)
        pipelines = expand(sweep, str(path))
    else:
        pipeline, base_dir = load_pipeline(path)
        pipelines = [pipeline]
    for pipeline in pipelines:
        sources = resolve_data_sources(pipeline, base_dir, str(path))
        local = [Path(folder) for folder in sources.values() if folder != "hub"]
        assert local and all(folder.parent == shared for folder in local), sources


def test_bare_stilts_prints_the_commands_in_the_order_the_docs_list_them(capsys):
    """`stilts` alone is a request for help (stdout, exit 0), not a usage error; its commands come in
    the order of the work, which is the order of the command list on the docs' home page."""
    code, stdout, stderr = run_cli([], capsys)
    assert code == 0 and stderr == "" and "Commands:" in stdout
    listed = [line.split()[0] for line in stdout.split("Commands:")[1].splitlines() if line.strip()]
    section = COMMANDS_PAGE.read_text().split(COMMANDS_SECTION, 1)[1].split("\n## ", 1)[0]
    in_docs = [command.split()[1] for command in code_commands(section) if command.startswith("stilts ")]
    assert listed == [name for name in dict.fromkeys(in_docs) if name in listed]
    assert set(listed) <= set(in_docs)


def test_follow_one_run_names_the_demos_stage_folders():
    """docs/follow-one-run.md names the folders `stilts run pipelines/demo.yaml` makes: the demo's
    stages with their fingerprints as planned now."""
    from stilts.pipeline.config import load_pipeline
    from stilts.pipeline.engine import plan_pipeline

    pipeline, base_dir = load_pipeline(ROOT / "pipelines" / "demo.yaml")
    stages, _ = plan_pipeline(pipeline, base_dir, ROOT / "runs" / "demo", "pipelines/demo.yaml")
    page = (ROOT / "docs" / "follow-one-run.md").read_text()
    named = set(re.findall(r"\b(?:intermediate|target|evaluate)-[0-9a-f]{8}\b", page))
    assert named == {stage.folder.name for stage in stages}
