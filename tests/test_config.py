"""Config validation: one line naming the YAML file and the field, exit 2, no traceback."""

import shutil
import subprocess
import sys
import types
import typing
from typing import Annotated

import pytest
from conftest import write_pipeline
from helpers import run_cli
from pydantic import BaseModel, TypeAdapter, ValidationError

from stilts.data.content import folder_sha256
from stilts.pipeline.config import load_pipeline, override_from_command_line, pipeline_model, read_yaml_mapping
from stilts.pipeline.engine import plan_pipeline
from stilts.pipeline.sweep import SweepConfig


@pytest.fixture
def pipeline_file(tmp_path, tiny_nli):
    return write_pipeline(tmp_path / "p.yaml", tmp_path, tiny_nli)


@pytest.mark.parametrize(
    "override, message",
    [
        ("stages.0.tasks=[mnlj]", "p.yaml: stages[0].tasks[0]: unknown task 'mnlj' (did you mean 'mnli'?)"),
        ("stages.1.epoch=2", "p.yaml: stages[1].epoch: unknown field (did you mean 'epochs'?)"),
        ("stages.target.epochs=abc", "p.yaml: stages[1].epochs: input should be a valid number"),
        ("stages.target.learning_rate=-1", "p.yaml: stages[1].learning_rate: input should be greater than 0"),
        ("stages.1.kind=finetune", "p.yaml: stages[1]: kind must be one of intermediate, target, evaluate"),
        ("stages.1.task=mnli", "p.yaml: stages[1].task: task 'mnli' cannot be used in a target stage"),
        ("stages.2.languages=[de,xx]", "p.yaml: stages[2].languages[1]: 'xx' is not a language of xnli"),
        ("stages.2.languages=[de,fr,de]", "p.yaml: stages[2].languages: a language is listed twice"),
        ("data.xnli=/no/such/folder", "p.yaml: data.xnli: no such folder /no/such/folder"),
        ("data.xnly=/tmp", "p.yaml: data.xnly: unknown task (did you mean 'xnli'?)"),
        ("model=./missing-model", "p.yaml: model: no such folder"),
        ("name=../escape", "p.yaml: name: string should match pattern"),
        ("stages.5.task=x", "--set stages.5: index 5 out of range (there are 3)"),
        ("stages.nosuch.epochs=1", "--set stages.nosuch: no stage named 'nosuch'"),
        ("seed=one", "p.yaml: seed: input should be a valid integer"),
    ],
)
def test_bad_config_gives_one_line_and_exit_2(pipeline_file, override, message, capsys):
    code, stdout, stderr = run_cli(["run", pipeline_file, "--set", override, "--dry-run"], capsys)
    assert code == 2
    assert stderr.count("\n") == 1 and stderr.startswith("error: ")
    assert message in stderr
    assert "Traceback" not in stderr


def test_evaluate_without_its_target_stage_is_refused(pipeline_file, capsys):
    code, _, stderr = run_cli(
        [
            "run",
            pipeline_file,
            "--set",
            "stages.1.task=xnli",
            "--set",
            "stages.2.task=xnli",
            "--set",
            "stages.1.kind=intermediate",
            "--dry-run",
        ],
        capsys,
    )
    assert code == 2


def test_yaml_syntax_error_names_the_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nstages: [\n")
    code, _, stderr = run_cli(["run", bad], capsys)
    assert code == 2 and "bad.yaml: line 3: YAML syntax error" in stderr


def test_missing_file_and_non_mapping(tmp_path, capsys):
    assert run_cli(["run", tmp_path / "none.yaml"], capsys)[2] == f"error: {tmp_path / 'none.yaml'}: no such file\n"
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    code, _, stderr = run_cli(["run", listed], capsys)
    assert code == 2 and "expected a mapping" in stderr


def test_real_command_line_has_no_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodel: m\nstages:\n  - kind: target\n    task: xnlii\n")
    done = subprocess.run(
        [sys.executable, "-m", "stilts", "run", str(bad), "--dry-run"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: {bad}: stages[0].task: unknown task 'xnlii' (did you mean 'xnli'?)"
    ]


def _fingerprints(path, *overrides):
    pipeline, base = load_pipeline(path, overrides)
    stages, _ = plan_pipeline(pipeline, base, path.parent / "out", str(path))
    return [stage.fingerprint for stage in stages]


def test_fingerprints_are_stable_and_follow_what_changes_results(pipeline_file):
    base = _fingerprints(pipeline_file)
    assert base == _fingerprints(pipeline_file)
    assert len(set(base)) == 3
    # a target setting changes the target stage and everything after it, not what comes before
    changed = _fingerprints(pipeline_file, "stages.target.learning_rate=0.5")
    assert changed[0] == base[0] and changed[1] != base[1] and changed[2] != base[2]
    # the seed changes every stage
    assert all(a != b for a, b in zip(base, _fingerprints(pipeline_file, "seed=2")))
    # evaluation batch size and stage names change only speed and labels: same results, same fingerprint
    assert _fingerprints(pipeline_file, "stages.2.batch_size=7") == base
    # writing the paper's default explicitly is the same stage as leaving it out
    assert _fingerprints(pipeline_file, "stages.target.warmup_ratio=0.1") == base


def test_paper_defaults_fill_unset_fields(pipeline_file):
    pipeline, base = load_pipeline(
        pipeline_file,
        (
            "stages.0.learning_rate=null",
            "stages.0.batch_size=null",
            "stages.0.epochs=null",
            "stages.1.learning_rate=null",
            "stages.1.batch_size=null",
            "stages.1.epochs=null",
        ),
    )
    stages, _ = plan_pipeline(pipeline, base, pipeline_file.parent, str(pipeline_file))
    assert (stages[0].settings["learning_rate"], stages[0].settings["batch_sizes"], stages[0].settings["epochs"]) == (
        1e-5,
        {"mnli": 24},
        2,
    )
    assert (stages[1].settings["learning_rate"], stages[1].settings["batch_sizes"], stages[1].settings["epochs"]) == (
        3e-6,
        {"xnli": 4},
        2,
    )


def test_train_tasks_must_share_the_targets_labels(pipeline_file, capsys):
    code, _, stderr = run_cli(["run", pipeline_file, "--set", "stages.target.train_tasks=[qqp]", "--dry-run"], capsys)
    assert code == 2
    assert "p.yaml: stages[1].train_tasks[0]: 'qqp' cannot train 'xnli': its format or labels differ" in stderr


def test_set_paths_are_relative_to_the_working_directory(tmp_path, tiny_model, tiny_nli, monkeypatch, capsys):
    """A --set path means what it means in the shell, also where the YAML's folder has one of that name."""
    shutil.copytree(tiny_model, tmp_path / "exp" / "model")  # a dry run checks the model's weights too
    pipeline_file = write_pipeline(tmp_path / "exp" / "p.yaml", tmp_path / "exp" / "model", tiny_nli)
    shutil.copytree(tiny_nli["xnli"], tmp_path / "exp" / "xnli")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for override, missing in [("data.xnli=xnli", work / "xnli"), ("model=./model", work / "model")]:
        code, _, stderr = run_cli(["run", pipeline_file, "--set", override, "--dry-run"], capsys)
        assert code == 2 and f"no such folder {missing}" in stderr, stderr
    shutil.copytree(tiny_nli["xnli"], work / "xnli")
    (work / "xnli" / "dev-de.tsv").write_text("Ein Satz.\tNoch einer.\tneutral\n")  # other data than exp/xnli
    code, stdout, stderr = run_cli(["run", pipeline_file, "--set", "data.xnli=xnli", "--dry-run"], capsys)
    assert code == 0, stderr
    assert f"'xnli': 'sha256:{folder_sha256(work / 'xnli')}'" in stdout


def test_set_makes_model_and_data_paths_absolute_for_the_processes_it_starts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model").mkdir()
    assert override_from_command_line("data.xnli=../x") == f'data.xnli="{tmp_path.parent / "x"}"'
    assert (
        override_from_command_line("data={xnli: x, mnli: hub}") == f'data={{"xnli": "{tmp_path / "x"}", "mnli": "hub"}}'
    )
    assert override_from_command_line("model=model") == f'model="{tmp_path / "model"}"'
    for unchanged in ["data.xnli=hub", "model=FacebookAI/xlm-roberta-base", "model=offline/multilingual-e5-small"]:
        assert override_from_command_line(unchanged) == unchanged
    assert override_from_command_line("stages.target.task=x/y") == "stages.target.task=x/y"


def _numbers(annotation, where: str):
    """(field path, annotation) of each number a config field holds, through optional values, lists,
    mappings and nested models. A number beside free text (a Slurm flag's value) is the text's."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        if args[0] in (int, float):
            yield where, annotation
        else:
            yield from _numbers(args[0], where)
    elif annotation in (int, float):
        yield where, annotation
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, field in annotation.model_fields.items():
            yield from _numbers(field.rebuild_annotation(), f"{annotation.__name__}.{name}")
    elif origin in (typing.Union, types.UnionType):
        if str not in args:
            for member in args:
                yield from _numbers(member, where)
    elif origin in (list, dict):
        yield from _numbers(args[-1], f"{where}[]")


def test_every_number_of_a_config_has_real_bounds():
    """Every int and float field of the pipeline and its stage kinds, the sweep with its matrix, the
    Slurm and peft settings: no boolean (YAML's yes is true, which pydantic takes as 1), no inf or
    nan, and no integer past what the libraries take (a seed past 2^32 crashed numpy's seeding,
    counts past sys.maxsize islice, after the stages before had trained)."""
    numbers = dict(_numbers(pipeline_model(), "pipeline")) | dict(_numbers(SweepConfig, "sweep"))
    assert {"PipelineConfig.seed", "SweepMatrix.seed[]", "TargetStage.language_ratios[]", "PeftSettings.r"} <= set(
        numbers
    )
    for where, annotation in numbers.items():
        number = TypeAdapter(annotation)
        refused = [True, False, 2**64, -(2**64)] + (
            [float("inf"), float("-inf"), float("nan")] * (float in typing.get_args(annotation))
        )
        for value in refused:
            with pytest.raises(ValidationError):
                number.validate_python(value)
                pytest.fail(f"{where} takes {value!r}")


def test_anchors_and_merges_still_read_as_yaml_reads_them(tmp_path, tiny_nli):
    """The walk that refuses duplicate keys, recursion and billion laughs visits a shared value once:
    a value given through several aliases is no repeat."""
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: anchors\nmodel: m\nseed: 1\n"
        f"data: {{mnli: {tiny_nli['mnli']}, xnli: {tiny_nli['xnli']}}}\n"
        "settings: &settings {learning_rate: 1.0e-3, batch_size: 8}\n"
        "stages:\n"
        "  - {kind: intermediate, tasks: [mnli], <<: *settings}\n"
        "  - {kind: target, task: xnli, <<: *settings, batch_size: 4}\n"
        "  - {kind: evaluate, task: xnli, languages: &languages [de, fr]}\n"
    )
    raw = read_yaml_mapping(path)
    assert raw["stages"][0]["batch_size"] == 8 and raw["stages"][1]["batch_size"] == 4
    assert raw["stages"][1]["learning_rate"] == 1.0e-3


def test_a_learning_rate_written_as_yaml_writes_it_is_a_number(tmp_path, tiny_model, tiny_nli):
    """YAML 1.1 (PyYAML) reads ``5e-4`` (no dot) as a string: the way most people write a learning
    rate, so a number type that refuses strings (to refuse booleans) would refuse it."""
    path = write_pipeline(tmp_path / "p.yaml", tiny_model, tiny_nli)
    path.write_text(path.read_text().replace("learning_rate: 0.001", "learning_rate: 5e-4"))
    assert "learning_rate: 5e-4" in path.read_text()
    pipeline, _ = load_pipeline(path)
    assert [stage.learning_rate for stage in pipeline.stages[:2]] == [0.0005, 0.0005]
