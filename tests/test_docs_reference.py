"""The documentation's generated references are current, and every shipped pipeline and sweep is valid
under the JSON Schema it names in its first line (the schema YAML editors check it with)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from stilts import docs_reference
from stilts.core.errors import BadInput
from stilts.pipeline.config import load_pipeline
from stilts.pipeline.sweep import load_sweep

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "pipelines").glob("*.yaml"))
#: the first line of every shipped pipeline (``{kind}``: pipeline or sweep); the path is relative to
#: pipelines/, where yaml-language-server resolves it from
SCHEMA_COMMENT = "# yaml-language-server: $schema=../schemas/{kind}.schema.json"


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return docs_reference.generated_files()


@pytest.mark.parametrize(
    "name",
    [
        docs_reference.CONFIGURATION_MD,
        docs_reference.COMMANDS_MD,
        docs_reference.PIPELINE_SCHEMA,
        docs_reference.SWEEP_SCHEMA,
    ],
)
def test_the_generated_file_is_current(name, generated):
    path = ROOT / name
    assert path.is_file(), f"{name} is missing: run python -m stilts.docs_reference"
    assert path.read_text(encoding="utf-8") == generated[name], (
        f"{name} is out of date: run python -m stilts.docs_reference"
    )


def test_the_configuration_reference_lists_every_field_of_every_model(generated):
    """Every field of the pipeline, of each stage kind, of the sweep and of the blocks they nest."""
    from stilts.pipeline.config import pipeline_model
    from stilts.pipeline.slurm.settings import JobSettings, SlurmConfig
    from stilts.pipeline.stage_kinds import STAGE_KINDS
    from stilts.pipeline.sweep import SweepConfig, SweepMatrix
    from stilts.training.adapters import PeftSettings

    text = generated[docs_reference.CONFIGURATION_MD]
    models = [pipeline_model(), PeftSettings, SweepConfig, SweepMatrix, SlurmConfig, JobSettings]
    models += [kind.config for _, kind in STAGE_KINDS.items()]
    for model in models:
        for field in model.model_fields:
            assert f"| `{field}` |" in text, f"{model.__name__}.{field} is not in the configuration reference"


def _fields_without_description(schema, where: str) -> list[str]:
    """Every field (an entry of a ``properties``) anywhere in ``schema`` whose description is missing or empty."""
    missing = []
    if isinstance(schema, dict):
        for field, value in (schema.get("properties") or {}).items():
            if not str(value.get("description", "")).strip():
                missing.append(f"{where}.{field}")
        for key, value in schema.items():
            missing += _fields_without_description(value, f"{where}.{key}" if key != "properties" else where)
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            missing += _fields_without_description(value, f"{where}[{i}]")
    return missing


@pytest.mark.parametrize("name", [docs_reference.PIPELINE_SCHEMA, docs_reference.SWEEP_SCHEMA])
def test_every_field_has_a_description(name, generated):
    """Each field of every model the references document says what it does: the reference's description
    column and an editor's hover come from its ``Field(description=...)``. A new field without one fails."""
    missing = _fields_without_description(json.loads(generated[name]), name)
    assert not missing, f"give these fields a Field(description=...): {missing}"


def test_a_field_without_a_description_is_found():
    schema = {
        "properties": {"a": {"description": "A."}, "b": {"type": "integer"}},
        "$defs": {"M": {"properties": {"c": {"description": " "}}}},
    }
    assert _fields_without_description(schema, "x") == ["x.b", "x.$defs.M.c"]


def test_the_command_reference_has_every_command(generated):
    from stilts.cli import COMMANDS

    text = generated[docs_reference.COMMANDS_MD]
    for name in COMMANDS.names():
        assert f"## `stilts {name}`" in text
        assert f"Usage: stilts {name} [OPTIONS]" in text


def test_the_schemas_are_valid_json_schemas(generated):
    for name in (docs_reference.PIPELINE_SCHEMA, docs_reference.SWEEP_SCHEMA):
        jsonschema.Draft202012Validator.check_schema(json.loads(generated[name]))


def schema_kind(path: Path) -> str:
    """A sweep is a file with a `matrix:` (as `stilts prepare` tells them apart), else a pipeline."""
    return "sweep" if "matrix" in yaml.safe_load(path.read_text(encoding="utf-8")) else "pipeline"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_a_shipped_file_names_its_schema_in_its_first_line(path):
    first_line = path.read_text(encoding="utf-8").splitlines()[0]
    assert first_line == SCHEMA_COMMENT.format(kind=schema_kind(path))
    named = (path.parent / first_line.partition("$schema=")[2]).resolve()
    assert named == ROOT / f"schemas/{schema_kind(path)}.schema.json" and named.is_file()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_a_shipped_file_is_valid_under_its_schema_and_loads(path, generated):
    kind = schema_kind(path)
    schema = json.loads(generated[docs_reference.SWEEP_SCHEMA if kind == "sweep" else docs_reference.PIPELINE_SCHEMA])
    errors = [
        error.message for error in jsonschema.Draft202012Validator(schema).iter_errors(yaml.safe_load(path.read_text()))
    ]
    assert not errors, f"{path.name}: {errors[:3]}"
    # and stilts reads it as the same kind of file (the schema is no looser than the loader here)
    if kind == "sweep":
        load_sweep(path)
    else:
        load_pipeline(path)


BAD = [
    ("pipeline", {"stages": [{"kind": "target", "task": "xnli", "epochz": 1}]}, "'epochz' was unexpected"),
    ("pipeline", {"stages": [{"kind": "evaluate", "task": "xnli", "pooling": "max"}]}, "'max' is not one of"),
    ("pipeline", {"mixed_precision": "fp8"}, "'fp8' is not one of"),
    ("sweep", {"stages": {"target": {"epochz": 1}}}, "'epochz' was unexpected"),
    ("sweep", {"stages": {"target": {"task": "xnli"}}}, "'task' was unexpected"),
    ("sweep", {"stages": {"targett": {}}}, "'targett' was unexpected"),
    ("sweep", {"tasks": {"xnli": {"batch_sise": 8}}}, "'batch_sise' was unexpected"),
    (
        "sweep",
        {"matrix": {"target": ["xnli"], "variant": {"de": {"target": {"train_language": ["de"]}}}}},
        "'train_language' was unexpected",
    ),
    ("sweep", {"slurm": {"stages": {"evaluation": {"time": "1:00:00"}}}}, "'evaluation' is not one of"),
    # a sweep's pipeline-wide settings take the pipeline's values, refused when the sweep is read
    ("sweep", {"mixed_precision": "fp8"}, "'fp8' is not one of"),
    ("sweep", {"tracking": "tensorbord"}, "'tensorbord' is not one of"),
    # the bounds of numbers reach the schema (a validator function between a type and its bounds hid them)
    ("pipeline", {"seed": 2**32}, "is greater than or equal to the maximum of 4294967296"),
    (
        "pipeline",
        {"stages": [{"kind": "target", "task": "xnli", "learning_rate": 0}]},
        "less than or equal to the minimum of 0",
    ),
    ("pipeline", {"stages": [{"kind": "target", "task": "xnli", "batch_size": True}]}, "True is not of type 'integer'"),
    (
        "pipeline",
        {"stages": [{"kind": "target", "task": "xnli", "max_steps": 2**31}]},
        "greater than the maximum of 2147483647",
    ),
]


@pytest.mark.parametrize(
    "kind, change, message", BAD, ids=lambda value: json.dumps(value) if isinstance(value, dict) else None
)
def test_the_schema_refuses_what_stilts_refuses(kind, change, message, generated, tmp_path):
    """What an editor marks is what `stilts run`/`sweep` refuse: a misspelt field in a stage or in a
    sweep's settings blocks, a value outside a field's choices, a field the matrix sets."""
    base = "demo_grid.yaml" if kind == "sweep" else "demo.yaml"
    raw = yaml.safe_load((ROOT / "pipelines" / base).read_text())
    raw.update(change)
    schema = json.loads(generated[docs_reference.SWEEP_SCHEMA if kind == "sweep" else docs_reference.PIPELINE_SCHEMA])
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(raw))
    assert any(message in text for text in _messages(errors)), errors
    path = tmp_path / base
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(BadInput):
        load_sweep(path) if kind == "sweep" else load_pipeline(path)


def _messages(errors) -> list[str]:
    """Each error's message and those of the branches of a union it stands for (a stage is one of the
    kinds: the reason it fails as its own kind is among the branches')."""
    return [text for error in errors for text in [error.message, *_messages(error.context or [])]]


def test_check_names_a_stale_file_and_write_makes_it_current(tmp_path, monkeypatch, capsys):
    for name in docs_reference.generated_files():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "mkdocs.yml").write_text("site_name: stilts\n")
    (tmp_path / docs_reference.SWEEP_SCHEMA).write_text("{}\n")
    monkeypatch.setattr(docs_reference, "ROOT", tmp_path)
    assert docs_reference.main(["--check"]) == 1
    stderr = capsys.readouterr().err
    assert f"{docs_reference.SWEEP_SCHEMA}: out of date" in stderr and docs_reference.COMMANDS_MD in stderr
    assert docs_reference.main([]) == 0
    assert docs_reference.main(["--check"]) == 0
    assert docs_reference.stale_files(tmp_path) == []


def test_every_docs_path_the_code_names_exists():
    """Comments, messages and scripts point readers to documentation pages by path (docs/tasks.md,
    docs/performance.md, ...): each such page exists."""
    named = set()
    for folder in ("stilts", "tests", "benchmarks", "pipelines", ".ci"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in (".py", ".sh", ".yaml", ".md", "") and "__pycache__" not in path.parts:
                named |= set(re.findall(r"\bdocs/[\w./-]*\w\.(?:md|png)\b", path.read_text(errors="ignore")))
    assert named, "no documentation path found in the code"
    missing = sorted(name for name in named if not (ROOT / name).is_file())
    assert not missing, f"the code names documentation pages that do not exist: {missing}"
