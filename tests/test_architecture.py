"""The import structure docs/concepts.md ("The code") promises: no import circle among stilts' modules (counting imports
inside functions too), core imports no stage package, and the engine names no stage kind."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: installed module prefix -> folder
PACKAGES = {"stilts": ROOT / "stilts"}
STAGE_PACKAGES = ("stilts.intermediate", "stilts.target", "stilts.mlm", "stilts.translate")


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
    for module in ("engine", "config", "preflight", "execution", "stage_kinds", "training_stage", "commands", "sweep"):
        text = (ROOT / "stilts" / f"{module}.py").read_text()
        if module == "sweep":  # the matrix expands into the STILTs stages by design; it only adds them
            text = text[: text.index("def expand(")]
        found = kind_use.search(text)
        assert not found, f"stilts/{module}.py branches on a stage kind: {found.group(0)}"
