"""The import structure docs/concepts.md ("The code") promises: no import circle among stilts' modules (counting imports
inside functions too), imports go one way through the layers (command line -> stage packages -> pipeline -> training ->
formats, reports, analysis -> metrics -> data -> core), stage packages do not import each other, and the engine names no
stage kind."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: installed module prefix -> folder
PACKAGES = {"stilts": ROOT / "stilts"}
STAGE_PACKAGES = ("stilts.intermediate", "stilts.target", "stilts.mlm", "stilts.translate")
#: the layers, lowest first: a module imports from its own layer and the ones below, never from one above
#: (``stilts.testing``, the tests' own code, stands outside them)
LAYERS = (
    ("stilts.core",),
    ("stilts.data", "stilts.offline"),
    ("stilts.metrics",),
    ("stilts.formats", "stilts.reports", "stilts.analysis"),
    ("stilts.training",),
    ("stilts.pipeline",),
    STAGE_PACKAGES,
    ("stilts.cli", "stilts.docs_reference", "stilts.__main__"),
)


def modules() -> dict[str, Path]:
    found = {}
    for prefix, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([prefix, *parts])] = path
    return found


def _runtime_nodes(tree: ast.AST):
    """Every node, leaving out ``if TYPE_CHECKING:`` blocks (imports for annotations only)."""
    pending = [tree]
    while pending:
        node = pending.pop()
        yield node
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))


def imports_of(path: Path, known: set[str]) -> set[str]:
    names = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name in known}


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(path, set(found)) - {name} for name, path in found.items()}


def test_no_import_circle():
    edges = graph()
    # package __init__ modules are imported on the way to any submodule; they hold no code here
    edges = {name: {t for t in targets if t not in PACKAGES} for name, targets in edges.items()}
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = "open"
        path.append(name)
        for target in sorted(edges.get(name, ())):
            assert state.get(target) != "open", "import circle: " + " -> ".join(path[path.index(target) :] + [target])
            if target not in state:
                visit(target)
        path.pop()
        state[name] = "done"

    for name in sorted(edges):
        if name not in state:
            visit(name)


def layer_of(module: str) -> int | None:
    for level, packages in enumerate(LAYERS):
        if any(module == package or module.startswith(package + ".") for package in packages):
            return level
    return None


def test_every_module_has_a_layer():
    outside = sorted(name for name in modules() if layer_of(name) is None and not name.startswith("stilts.testing"))
    assert outside == ["stilts"], f"modules in no layer of LAYERS: {outside}"


def test_imports_go_down_the_layers():
    upward = [
        f"{name} imports {target}"
        for name, targets in sorted(graph().items())
        if (level := layer_of(name)) is not None
        for target in sorted(targets)
        if (target_level := layer_of(target)) is not None and target_level > level
    ]
    assert not upward, "imports against the layers' direction:\n" + "\n".join(upward)


def test_stage_packages_do_not_import_each_other():
    for name, targets in graph().items():
        own = next((package for package in STAGE_PACKAGES if name.startswith(package)), None)
        if own is not None:
            siblings = sorted(t for t in targets if t.startswith(STAGE_PACKAGES) and not t.startswith(own))
            assert not siblings, f"{name} imports its sibling stage packages {siblings}: move it into the core"


def test_core_imports_no_stage_package():
    for name, targets in graph().items():
        if not name.startswith(STAGE_PACKAGES) and name != "stilts.testing":
            wrong = sorted(t for t in targets if t.startswith(STAGE_PACKAGES))
            assert not wrong, f"{name} (core) imports stage packages {wrong}: register through a registry instead"


def test_the_engine_and_config_name_no_stage_kind():
    """No branch on a kind's name (``kind == "target"``, ``STAGE_RUNNERS["evaluate"]``, a kind list)."""
    kind_use = re.compile(
        r"(kind|KINDS?|RUNNERS|MODELS)\W{1,8}[\"'](intermediate|target|evaluate)[\"']"
        r"|\(\"intermediate\", \"target\""
    )
    for module in (
        "pipeline/engine",
        "pipeline/config",
        "pipeline/preflight",
        "pipeline/local",
        "pipeline/stage_kinds",
        "pipeline/training_stage",
        "pipeline/sweep",
        "cli/run",
    ):
        text = (ROOT / "stilts" / f"{module}.py").read_text()
        if module == "pipeline/sweep":  # the matrix expands into the STILTs stages by design; it only adds them
            text = text[: text.index("def expand(")]
        found = kind_use.search(text)
        assert not found, f"stilts/{module}.py branches on a stage kind: {found.group(0)}"
