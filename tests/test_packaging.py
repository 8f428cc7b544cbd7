"""The built distributions hold the whole package: every package under stilts/, every file the code reads at
run time, the entry points, the version written in pyproject.toml and the license. Built once, offline
(no build isolation), from a copy of the build's inputs, so that no build/ or stale egg-info folder of
the checkout gets in. `.ci/run` then installs the wheel into a fresh environment (tests/wheel_smoke.sh)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
#: what the build reads besides stilts/ (the sdist carries these; the wheel is built from the sdist)
BUILD_INPUTS = ("pyproject.toml", "README.md", "LICENSE", "setup.py", "setup.cfg", "MANIFEST.in")


def source_files() -> list[str]:
    """Files under stilts/ a checkout has (tracked, or new and not ignored), relative to the root."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "stilts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if listed.returncode == 0 and listed.stdout.strip():
        return sorted(line for line in listed.stdout.splitlines() if (ROOT / line).is_file())
    paths = (p for p in (ROOT / "stilts").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return sorted(str(p.relative_to(ROOT)) for p in paths)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(wheel file names, sdist file names, wheel .dist-info folder name, the build's output)."""
    tmp = tmp_path_factory.mktemp("packaging")
    source = tmp / "source"
    source.mkdir()
    for name in BUILD_INPUTS:
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, source / name)
    for name in source_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    (wheel,) = (tmp / "dist").glob("*.whl")
    (sdist,) = (tmp / "dist").glob("*.tar.gz")
    with zipfile.ZipFile(wheel) as archive:
        wheel_files = {name: archive.read(name) for name in archive.namelist() if ".dist-info/" in name}
        wheel_names = set(archive.namelist())
    with tarfile.open(sdist) as archive:
        top = f"{sdist.name.removesuffix('.tar.gz')}/"
        sdist_names = {member.name.removeprefix(top) for member in archive.getmembers()}
    (info,) = {name.split("/")[0] for name in wheel_files}
    return wheel_names, sdist_names, info, wheel_files, done.stdout + done.stderr


def test_every_package_under_stilts_is_in_the_wheel(built):
    wheel_names, sdist_names, _, _, _ = built
    packages = sorted(name for name in source_files() if name.endswith("/__init__.py"))
    assert "stilts/__init__.py" in packages and "stilts/pipeline/slurm/__init__.py" in packages
    assert [name for name in packages if name not in wheel_names] == []
    assert [name for name in packages if name not in sdist_names] == []
    # and every module of them
    modules = [name for name in source_files() if name.endswith(".py")]
    assert [name for name in modules if name not in wheel_names] == []


def test_every_file_the_code_reads_is_in_the_wheel(built):
    """Package data: every non-.py file under stilts/ (stilts/resources/tiny_corpus.txt, which
    stilts.testing trains the tiny models' tokenizers on, ...)."""
    wheel_names, sdist_names, _, _, _ = built
    data = [name for name in source_files() if not name.endswith(".py")]
    assert "stilts/resources/tiny_corpus.txt" in data
    assert [name for name in data if name not in wheel_names] == []
    assert [name for name in data if name not in sdist_names] == []


def test_the_entry_points_are_in_the_wheels_metadata_and_name_modules_it_has(built):
    wheel_names, _, info, wheel_files, _ = built
    entry_points = configparser.ConfigParser(delimiters=("=",))
    entry_points.optionxform = str  # type: ignore[assignment,method-assign]  # names are case-sensitive
    entry_points.read_string(wheel_files[f"{info}/entry_points.txt"].decode())
    groups = {group: dict(entry_points[group]) for group in entry_points.sections()}
    assert groups["console_scripts"] == PROJECT["scripts"] == {"stilts": "stilts.cli:main"}
    assert groups["stilts.plugins"] == PROJECT["entry-points"]["stilts.plugins"]
    assert len(groups["stilts.plugins"]) >= 6
    for target in [*groups["console_scripts"].values(), *groups["stilts.plugins"].values()]:
        module = target.partition(":")[0].replace(".", "/")
        assert f"{module}.py" in wheel_names or f"{module}/__init__.py" in wheel_names, target


def test_the_version_is_pyprojects_and_the_license_is_in_the_dist_info(built):
    _, sdist_names, info, wheel_files, _ = built
    metadata = Parser().parsestr(wheel_files[f"{info}/METADATA"].decode())
    assert metadata["Name"] == "stilts" and metadata["Version"] == PROJECT["version"]
    assert info == f"stilts-{PROJECT['version']}.dist-info"
    assert metadata["License-Expression"] == "MIT" and metadata.get_all("License-File") == ["LICENSE"]
    license_text = (ROOT / "LICENSE").read_bytes()
    assert wheel_files[f"{info}/licenses/LICENSE"] == license_text
    assert b"MIT License" in license_text and b"Copyright (c) 2026 the stilts authors" in license_text
    assert "LICENSE" in sdist_names


def test_the_build_gives_no_deprecation_warning(built):
    output = built[-1]
    assert "deprecat" not in output.lower(), [line for line in output.splitlines() if "eprecat" in line]


def test_stilts_version_prints_the_installed_version_and_imports_nothing_heavy(tmp_path):
    """`stilts --version` reads importlib.metadata: as quick as --help (no pandas, numpy, pydantic, torch)."""
    code = """
import sys
from stilts.cli import main
try:
    main(['--version'])
except SystemExit as done:
    print('exit:', done.code)
print('imported:', *[m for m in ('pandas', 'numpy', 'pydantic', 'torch', 'transformers') if m in sys.modules])
import importlib.metadata
print('installed:', importlib.metadata.version('stilts'))
"""
    # outside the checkout: a stale stilts.egg-info from an old in-tree build must not answer for the install
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    version, exit_line, imported, installed = done.stdout.splitlines()
    assert exit_line == "exit: 0" and imported == "imported:"
    assert version == f"stilts {installed.split()[1]}"


def test_citation_and_changelog_name_the_version_pyproject_has():
    """CITATION.cff (Citation File Format 1.2.0: the keys GitHub and Zenodo read) and the changelog's
    newest entry follow the version written in pyproject.toml, so a release cannot leave them behind."""
    import yaml

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0"
    assert {"message", "title", "authors", "version", "preferred-citation"} <= set(citation)
    assert str(citation["version"]) == version
    for work in [citation["preferred-citation"], *citation["references"]]:
        assert work["title"] and work["authors"] and work["type"], work
    newest = next(line for line in (ROOT / "CHANGELOG.md").read_text().splitlines() if line.startswith("## ["))
    assert newest.startswith(f"## [{version}]"), newest
