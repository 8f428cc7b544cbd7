"""benchmarks/gpu_check.sh end to end on the CPU (``--cpu``), the way a GPU machine without pip runs it.

The run gets a Python that has only what such a machine has: ``python -S`` (no site-packages, so not
the editable install of stilts either) with PYTHONPATH on a folder of links to the distributions
torch, transformers, accelerate, peft and pandas need. What else the check imports must come from the
carried wheels: the pure-Python ones of tools/gpu_wheels.txt are rebuilt here as wheels from
.venv's installed files (the real ones are for CPython 3.12) and the check unpacks them; the compiled
ones (pyarrow, xxhash, sentencepiece, protobuf) stand in as links. stilts itself comes from the tree
through the site the check builds, its plugins through the dist-info it generates.
"""

import json
import lzma
import os
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path += [str(REPO / "benchmarks"), str(REPO / "tools")]

import gpu_check  # noqa: E402
import gpu_site  # noqa: E402

#: what such a machine has installed, with everything these need
DEVICE_PACKAGES = ("torch", "transformers", "accelerate", "peft", "pandas")


def _closure(roots) -> set[str]:
    from packaging.requirements import Requirement

    seen, todo = set(), [gpu_site.normalize(root) for root in roots]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(gpu_site.normalize(requirement.name))
    return seen


def _installed() -> dict[str, metadata.Distribution]:
    return {gpu_site.normalize(dist.metadata["Name"]): dist for dist in metadata.distributions()}


def _top_level(dist) -> set[str]:
    return {file.parts[0] for file in dist.files or [] if not file.parts[0].startswith("..") and file.suffix != ".pth"}


def _is_pure(dist) -> bool:
    return "Root-Is-Purelib: true" in (dist.read_text("WHEEL") or "")


def _rewheel(dist, folder: Path) -> Path:
    """A wheel of an installed distribution, from the files its RECORD lists."""
    root = Path(dist.locate_file(""))
    tag = next(line.split(": ", 1)[1] for line in dist.read_text("WHEEL").splitlines() if line.startswith("Tag: "))
    name = dist.metadata["Name"].replace("-", "_")
    path = folder / f"{name}-{dist.version}-{tag}.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as wheel:
        for file in dist.files:
            if file.parts[0].startswith("..") or "__pycache__" in file.parts:
                continue
            wheel.write(root / file, str(file))
    return path


@pytest.fixture(scope="module")
def device_python(tmp_path_factory, tiny_model):
    """(PYTHONPATH of the machine's packages, carry folder, the distributions the check must unpack)."""
    tmp = tmp_path_factory.mktemp("device")
    # a machine's packages are in a folder named site-packages (dill, in datasets' fingerprints, pickles
    # modules from anywhere else by value, which fails for pyarrow's)
    machine, carry = tmp / "machine" / "site-packages", tmp / "carry"
    (carry / "wheels").mkdir(parents=True)
    machine.mkdir(parents=True)
    installed = _installed()
    has = _closure(DEVICE_PACKAGES) - {"stilts"}
    unpack = set()
    for name in gpu_site.read_pins():
        if name in has:
            continue
        if _is_pure(installed[name]):
            _rewheel(installed[name], carry / "wheels")
            unpack.add(name)
        else:  # compiled for CPython 3.12 in the real carry: linked from .venv instead
            has.add(name)
    # the list with the versions installed here (the pins are .venv's; a fresh install may be newer)
    (carry / "wheels.txt").write_text("".join(f"{name}=={installed[name].version}\n" for name in gpu_site.read_pins()))
    for name in has:
        dist = installed[name]
        root = Path(dist.locate_file(""))
        for entry in _top_level(dist):
            if (root / entry).exists() and not (machine / entry).exists():
                (machine / entry).symlink_to(root / entry)
    # the carried assets: the tiny model's tokenizer stands in for XLM-R's, tiny NLI pairs for XNLI-en
    (carry / gpu_site.TOKENIZER_FOLDER).mkdir()
    tokenizer = (tiny_model / "tokenizer.json").read_bytes()
    (carry / gpu_site.TOKENIZER_FOLDER / "tokenizer.json.xz").write_bytes(lzma.compress(tokenizer))
    (carry / gpu_site.TOKENIZER_FOLDER / "tokenizer_config.json").write_bytes(
        (tiny_model / "tokenizer_config.json").read_bytes()
    )
    from stilts.testing import tiny_nli_examples

    (carry / gpu_site.XNLI_FOLDER).mkdir()
    rows = tiny_nli_examples("en", 96, 5)
    (carry / gpu_site.XNLI_FOLDER / "dev-en.tsv").write_text("".join(f"{p}\t{h}\t{y}\n" for p, h, y in rows))
    return machine, carry, unpack


@pytest.fixture(scope="module")
def cpu_run(device_python, tmp_path_factory):
    machine, carry, unpack = device_python
    out = tmp_path_factory.mktemp("results")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "PYTEST", "STILTS"))}
    env.update(PYTHON=f"{sys.executable} -S", PYTHONPATH=str(machine), GPU_CHECK_CARRY=str(carry), OUT=str(out))
    env["GPU_CHECK_WHEEL_LIST"] = str(carry / "wheels.txt")
    done = subprocess.run(
        ["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--cpu"],
        env=env,
        cwd=out,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done, out, unpack


def test_the_cpu_run_passes_and_prints_the_summary(cpu_run):
    done, out, _ = cpu_run
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "=== summary (cpu) ===" in done.stdout
    table = done.stdout.split("=== summary (cpu) ===", 1)[1]
    rows = (
        "| figure | value | target | |",
        "stilts / floor",
        "stilts / Trainer-128",
        "stilts packed (sdpa) / grouped (sdpa), real tokens/s (bf16 on a GPU)",
        "evaluation:",
        "MFU XLM-R",
    )
    for row in (*rows, "verdict"):
        assert row in table
    assert (out / "summary.md").read_text().strip() in table


def test_the_json_has_every_figure(cpu_run):
    done, out, _ = cpu_run
    results = json.loads((out / "gpu_check.json").read_text())
    for figure in gpu_check.FIGURES:
        gpu_check.dig(results, figure)
    assert results["passed"] is True and results["problems"] == []
    tests = results["gpu_tests"]
    assert tests["passed"] == tests["failed"] == 0 and tests["skipped"] >= 5
    assert all("needs a CUDA device" in outcome for outcome in tests["tests"].values())
    rates = results["throughput"]
    for contender in ("floor", "stilts", "trainer_128", "trainer_dynamic"):
        assert rates[f"{contender}_tokens_per_s"] > 0
    assert rates["trainer_128_padding_fraction"] > rates["stilts_padding_fraction"]  # padded to 128
    # packed against length-grouped batches: the packed ones hold no padding (sdpa lets the CPU run pack)
    assert rates["stilts_packed_padding_fraction"] == 0 < rates["stilts_grouped_padding_fraction"]
    assert rates["stilts_packed_attention"] == rates["stilts_grouped_attention"] == "sdpa"
    assert rates["packed_vs_grouped"] > 0
    evaluated = results["evaluation"]["settings"]
    assert [(e["mixed_precision"], e["batch_size"]) for e in evaluated] == [("no", 8), ("auto", 64)]
    assert all(e["examples_per_s"] > 0 and e["autocast"] == "no" for e in evaluated)  # no bf16 on CPU
    by_attention = results["mfu"]["by_attention"]
    assert by_attention["eager"]["mfu"] > 0 and by_attention["sdpa"]["mfu"] > 0
    assert by_attention["eager"]["attn_implementation"] == "eager"
    assert by_attention["flash_attention_2"] == {"skipped": "needs a CUDA device"}
    resume = results["pipeline_resume"]
    assert resume["passed"] and resume["drift"] == 0.0 and resume["validation_score_difference"] == 0.0
    assert resume["resumed_from_step"] == resume["killed_after_checkpoint"]
    assert results["targets"]["stilts_vs_floor"]["met"] is None  # targets are for the GPU


def test_stilts_came_from_the_tree_and_the_rest_from_the_wheels(cpu_run):
    done, out, unpack = cpu_run
    results = json.loads((out / "gpu_check.json").read_text())
    site, environment = results["site"], results["environment"]
    assert environment["no_site"] is True
    assert environment["stilts_from"] == f"{site['site']}/stilts/__init__.py"
    assert environment["stilts_intermediate_from"] == f"{site['site']}/stilts/intermediate/__init__.py"
    assert environment["plugins_from"] == environment["stilts_distributions"] == [site["site"]]
    assert sorted(environment["plugins"]) == sorted(
        gpu_site._pyproject(REPO)["project"]["entry-points"]["stilts.plugins"]
    )
    assert set(site["wheels"]["unpacked"]) == unpack and {"datasets", "pytest"} <= unpack
    assert not site["wheels"]["not_usable"]
    assert set(environment["imports"].values()) == {"ok"}


def test_the_wheel_tags_are_read_as_pip_reads_them():
    major, minor = sys.version_info[:2]
    fits = gpu_site.incompatibility
    assert fits(gpu_site.parse_wheel_name("a-1-py3-none-any.whl")[2]) is None
    assert fits(gpu_site.parse_wheel_name(f"a-1-py{major}{minor}-none-any.whl")[2]) is None
    assert fits(gpu_site.parse_wheel_name(f"a-1-py{major}{minor + 1}-none-any.whl")[2])
    assert fits(gpu_site.parse_wheel_name(f"a-1-cp{major}{minor}-cp{major}{minor}-manylinux2014_x86_64.whl")[2]) is None
    assert fits(gpu_site.parse_wheel_name(f"a-1-cp{major}{minor + 1}-cp{major}{minor + 1}-manylinux2014_x86_64.whl")[2])
    assert fits(gpu_site.parse_wheel_name("a-1-cp310-abi3-manylinux_2_17_x86_64.whl")[2]) is None
    assert fits(gpu_site.parse_wheel_name("a-1-cp310-abi3-manylinux_2_99_x86_64.whl")[2])  # newer glibc
    assert fits(gpu_site.parse_wheel_name("a-1-cp310-abi3-macosx_11_0_arm64.whl")[2])


def test_the_listed_wheels_fit_in_what_travels():
    carry = gpu_site.CARRY
    if not (carry / "wheels").is_dir():
        pytest.skip(f"no wheels fetched into {carry} (python tools/gpu_site.py fetch)")
    found, missing, unlisted = gpu_site.listed_wheels(carry, gpu_site.read_pins())
    assert not missing and not unlisted
    for path in found.values():  # the machine: CPython 3.12 on x86_64, glibc 2.28 or later
        assert gpu_site.incompatibility(gpu_site.parse_wheel_name(path.name)[2], (3, 12), "x86_64", (2, 28)) is None
    listed_mib = sum(path.stat().st_size for path in found.values()) / 2**20
    assert listed_mib <= gpu_site.WHEELS_BUDGET_MIB
    assert gpu_site.carried_size(REPO, carry)["total_mib"] <= gpu_site.CARRY_LIMIT_MIB
