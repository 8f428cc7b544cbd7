"""Every command line the README shows works as written.

The commands are read from the README's indented code blocks, so a command added there is checked
without editing this file (and an unknown program fails the test until it is handled here). stilts
commands must exist with every option they show; those that can run offline here do run (a pipeline
as a dry run); the launcher, pytest and pip lines are run or checked against the project's files.
"""

from __future__ import annotations

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
from helpers import run_cli

from stilts.cli import cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: stilts commands that are cheap and offline, so they run for real instead of only `--help`
RUN_AS_IS = {("tasks",), ("models", "list")}


def readme_commands() -> list[str]:
    """Each command of the README's indented code blocks (continuation lines joined, `&&` and `|`
    chains split, trailing comments dropped)."""
    lines, commands, in_fence, previous_was_code = README.read_text().splitlines(), [], False, False
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
        split += [part.strip() for part in re.split(r"\s&&\s|\s\|\s", command)]
    return split


COMMANDS = readme_commands()


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
    assert any(command.startswith("accelerate launch") for command in COMMANDS)


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


@pytest.mark.parametrize("line", [c for c in COMMANDS if c.startswith("stilts ")])
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
    elif path in {("run",), ("sweep",)} and (ROOT / rest[0]).is_file():
        monkeypatch.chdir(ROOT)
        code, stdout, stderr = run_cli(tokens[1:] + ["--dry-run", "--output-dir", tmp_path / "run"], capsys)
        assert "to run" in stdout, stdout
    else:
        code, _, stderr = run_cli([*path, "--help"], capsys)
    assert code == 0, f"{line}: exit {code}: {stderr}"


@pytest.mark.parametrize("line", [c for c in COMMANDS if c.startswith("accelerate launch")])
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


@pytest.mark.parametrize("line", [c for c in COMMANDS if re.match(r"(\w+=\S+ )*python -m pytest", c)])
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


@pytest.mark.parametrize("line", [c for c in COMMANDS if c.startswith("pip install")])
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


@pytest.mark.parametrize("line", [c for c in COMMANDS if c.startswith("tensorboard ")])
def test_each_tensorboard_line_reads_a_run_folders_logs(line):
    """`tensorboard --logdir runs/<pipeline>/logs`: where `tracking: tensorboard` writes (stilts.execution)."""
    tokens = shlex.split(line)
    assert tokens[1] == "--logdir" and re.fullmatch(r"runs/[\w.-]+/logs", tokens[2]), line
    assert (ROOT / "pipelines" / f"{tokens[2].split('/')[1]}.yaml").is_file(), f"{line}: no such pipeline"
    assert shutil.which("tensorboard", path=str(Path(sys.executable).parent)), "tensorboard is not installed"


def test_every_readme_command_is_checked():
    checked = ("stilts ", "accelerate launch", "pip install", "tensorboard ")
    unchecked = [c for c in COMMANDS if not c.startswith(checked) and not re.match(r"(\w+=\S+ )*python -m pytest", c)]
    assert not unchecked, f"README commands no test runs: {unchecked}"


def readme_yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("block", [b for b in readme_yaml_blocks() if "data:" in b], ids=lambda b: b.split("\n")[0])
def test_a_yaml_example_saved_where_it_says_finds_its_data(block, tmp_path):
    """A YAML example's paths are relative to its file: saved where its first line says (a pipeline
    without one goes to pipelines/, beside the shipped ones), its local data folders are found in
    ../shared/data beside the checkout, where the README says the real data is."""
    from stilts.config import load_pipeline
    from stilts.engine import resolve_data_sources
    from stilts.sweep import expand, load_sweep

    named = re.match(r"# (\S+\.yaml)", block)
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


def test_bare_stilts_prints_the_commands_in_the_readmes_order(capsys):
    """`stilts` alone is a request for help (stdout, exit 0), not a usage error; its commands come in
    the order of the work, which is the README's order."""
    code, stdout, stderr = run_cli([], capsys)
    assert code == 0 and stderr == "" and "Commands:" in stdout
    listed = [line.split()[0] for line in stdout.split("Commands:")[1].splitlines() if line.strip()]
    in_readme = [command.split()[1] for command in COMMANDS if command.startswith("stilts ")]
    assert listed == [name for name in dict.fromkeys(in_readme) if name in listed]
    assert set(listed) <= set(in_readme)
