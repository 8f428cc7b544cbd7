"""End to end: MNLI -> XNLI on the tiny model, offline; reruns reuse complete stages."""

import csv
import hashlib
import importlib
import json
import re
import shutil

import pytest
from conftest import write_pipeline
from helpers import run_cli
from safetensors.torch import load_file
from transformers import AutoModel

from stilts.cli import main
from stilts.core.artifacts import umask
from stilts.reports.scores_file import SCORE_COLUMNS


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_model, tiny_nli):
    """One complete run, shared by the tests below (they only read it)."""
    folder = tmp_path_factory.mktemp("run")
    yaml_path = write_pipeline(folder / "tiny.yaml", tiny_model, tiny_nli)
    return yaml_path, folder / "out"


def _run(capsys, yaml_path, out, *extra):
    return run_cli(["run", yaml_path, "--output-dir", out, *extra], capsys)


def test_first_run_writes_every_artifact_and_scores(finished_run, capsys):
    yaml_path, out = finished_run
    code, stdout, _ = _run(capsys, yaml_path, out)
    assert code == 0
    stage_folders = sorted(path.name.split("-")[0] for path in out.iterdir() if path.is_dir())
    assert stage_folders == ["evaluate", "intermediate", "target"]
    for folder in out.iterdir():
        if folder.is_dir():
            assert (folder / "COMPLETE").is_file() and (folder / "config.json").is_file()
            assert json.loads((folder / "metrics.json").read_text())
    with open(out / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == SCORE_COLUMNS
    # every language the tiny data has, both splits, one accuracy each
    assert {(r["split"], r["language"]) for r in rows} == {(s, l) for s in ("dev", "test") for l in ("de", "en", "fr")}
    assert {(r["intermediate"], r["mlm"], r["target"], r["seed"], r["metric"]) for r in rows} == {
        ("mnli", "false", "xnli", "1", "accuracy")
    }
    assert all(0 <= float(r["value"]) <= 100 for r in rows)
    # as readable as any file the umask makes (a lab's shared filesystem), not tempfile's private 0600
    (target,) = out.glob("target-*")
    for path in (out / "scores.csv", target / "config.json", target / "model" / "model.safetensors"):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask(), path
    # the per-language table is printed at the end
    assert "xnli (dev)" in stdout and "accuracy" in stdout


def test_second_run_skips_every_stage(finished_run, capsys):
    yaml_path, out = finished_run
    before = (out / "scores.csv").read_text()
    code, stdout, _ = _run(capsys, yaml_path, out)
    assert code == 0
    assert stdout.count("complete, skipping") == 3
    assert "running ->" not in stdout
    assert "[3/3] stages[2] evaluate 'evaluate'" in stdout  # named as an error about it would name it
    assert (out / "scores.csv").read_text() == before  # no duplicated rows


def test_each_stage_records_the_files_it_read_with_their_sha256(finished_run, tiny_nli):
    _, out = finished_run
    (intermediate,) = out.glob("intermediate-*")
    sources = json.loads((intermediate / "config.json").read_text())["sources"]
    read = {(entry["task"], entry["split"], entry["language"]): entry["from"] for entry in sources}
    assert set(read) == {("mnli", "train", "en"), ("mnli", "dev", "en")}
    train = tiny_nli["mnli"] / "multinli_1.0_train.jsonl"
    assert read[("mnli", "train", "en")] == {
        "local": str(tiny_nli["mnli"].resolve()),
        "files": {"multinli_1.0_train.jsonl": hashlib.sha256(train.read_bytes()).hexdigest()},
        "bytes": train.stat().st_size,
    }
    (evaluate,) = out.glob("evaluate-*")
    evaluated = json.loads((evaluate / "config.json").read_text())
    # every language the data has, in both splits; the model was a local folder
    assert {(e["split"], e["language"]) for e in evaluated["sources"]} == {
        (s, l) for s in ("dev", "test") for l in ("de", "en", "fr")
    }
    assert evaluated["model_sha"] is None


def test_every_stage_model_loads_with_automodel(finished_run):
    _, out = finished_run
    for folder in out.glob("*-*/model"):
        model = AutoModel.from_pretrained(folder)
        assert model.config.model_type == "xlm-roberta"
        assert not any(key.startswith("heads") for key in model.state_dict())


def test_target_heads_are_fresh_not_carried_over(finished_run):
    _, out = finished_run
    (intermediate,) = out.glob("intermediate-*")
    (target,) = out.glob("target-*")
    mnli_head = load_file(intermediate / "heads" / "mnli.safetensors")
    xnli_head = load_file(target / "heads" / "xnli.safetensors")
    assert mnli_head.keys() == xnli_head.keys()
    assert any(not (mnli_head[k] == xnli_head[k]).all() for k in mnli_head)
    config = json.loads((target / "config.json").read_text())
    assert config["upstream"] == str(intermediate)


def test_incomplete_stage_is_rerun_with_everything_after_it(finished_run, capsys):
    yaml_path, out = finished_run
    (target,) = out.glob("target-*")
    (target / "COMPLETE").unlink()
    code, stdout, _ = _run(capsys, yaml_path, out)
    assert code == 0
    assert stdout.count("complete, skipping") == 1  # only the intermediate stage is reused
    assert "target 'target'" in stdout and "running ->" in stdout
    assert (target / "COMPLETE").is_file()


def test_dry_run_prints_fingerprints_and_runs_nothing(finished_run, tmp_path, capsys):
    yaml_path, _ = finished_run
    code, stdout, _ = _run(capsys, yaml_path, tmp_path / "fresh", "--dry-run")
    assert code == 0
    assert stdout.count("to run") == 3
    assert not (tmp_path / "fresh").exists()
    # each stage names the code that plans it and the runner that runs it, and both are there to read
    code_lines = re.findall(r"^ +code: (\S+) \(plans\), (\S+)\.(\w+) \(runs\)$", stdout, re.M)
    assert [line[0] for line in code_lines] == [
        "stilts.intermediate.stage",
        "stilts.target.stages",
        "stilts.target.stages",
    ]
    for _, module, runner in code_lines:
        assert hasattr(importlib.import_module(module), runner)


def test_training_on_other_tasks_and_splits(tmp_path, tiny_model, tiny_nli, capsys):
    """XNLI trained on MNLI's dev split instead of its train split; MNLI trained on dev is not
    validated on it."""
    yaml_path = write_pipeline(tmp_path / "p.yaml", tiny_model, tiny_nli, max_steps=2)
    code, stdout, _ = _run(
        capsys,
        yaml_path,
        tmp_path / "out",
        "--set",
        "stages.intermediate.train_splits=[dev]",
        "--set",
        "stages.target.train_tasks=[mnli]",
        "--set",
        "stages.target.train_splits=[dev]",
    )
    assert code == 0
    assert "mnli: trains on its dev split, so it is not validated on it" in stdout
    assert stdout.count("24 training examples") == 2  # the tiny MNLI dev split, for both stages


def _rows(scores_csv) -> list[dict]:
    with open(scores_csv, newline="") as handle:
        return list(csv.DictReader(handle))


def _exit_code(args) -> int:
    """``stilts ARGS`` in-process, for a module fixture (which has no capsys); its output is pytest's."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(arg) for arg in args])
    return exit_info.value.code


#: the changes `changed_rerun` runs the pipeline again with
CHANGES = ("--set", "stages.target.max_steps=1", "--set", "stages.evaluate.languages=[en, de]")


@pytest.fixture(scope="module")
def changed_rerun(finished_run, tmp_path_factory):
    """The finished run copied, then its pipeline changed (a shorter target stage, two of its three
    languages evaluated) and run again into the copy: (the copy, the old evaluate stage, the new one)."""
    yaml_path, out = finished_run
    assert _exit_code(["run", yaml_path, "--output-dir", out]) == 0  # complete, whatever ran before
    copy = tmp_path_factory.mktemp("rerun") / "out"
    shutil.copytree(out, copy)
    (old,) = [folder.name for folder in copy.glob("evaluate-*")]
    assert _exit_code(["run", yaml_path, "--output-dir", copy, *CHANGES]) == 0
    (new,) = {folder.name for folder in copy.glob("evaluate-*")} - {old}
    return yaml_path, copy, old, new


def test_a_changed_pipeline_run_again_replaces_its_rows_as_a_whole(changed_rerun, capsys):
    """Before, the rerun replaced en and de and left fr from the old model, and the table averaged the
    three as one run: a number no model scored."""
    _, out, old, new = changed_rerun
    rows = _rows(out / "scores.csv")
    assert {(row["split"], row["language"]) for row in rows} == {(s, l) for s in ("dev", "test") for l in ("de", "en")}
    assert {row["stage"] for row in rows} == {new}
    scored = json.loads((out / new / "metrics.json").read_text())["average"]["test"]["accuracy"]
    code, stdout, stderr = run_cli(["table", out / "scores.csv", "--split", "test", "--format", "csv"], capsys)
    assert code == 0 and "warning" not in stderr, stderr
    [cell] = csv.DictReader(stdout.splitlines())
    assert float(cell["xnli"]) == pytest.approx(scored)
    # --ci resamples the examples of the stage that wrote the rows, not those of the old one beside it
    assert (out / old / "COMPLETE").is_file()
    code, stdout, stderr = run_cli(["table", out / "scores.csv", "--split", "test", "--ci", "95"], capsys)
    assert code == 0 and "95% paired bootstrap" in stdout, stderr


def test_a_run_whose_rows_come_from_two_stages_is_refused_naming_both(changed_rerun, tmp_path, capsys):
    _, out, old, new = changed_rerun
    rows = _rows(out / "scores.csv")
    french = [dict(row, language="fr", stage=old, value="95.0") for row in rows if row["language"] == "de"]
    french = [row for row in french if row["split"] == "test"]
    mixed = tmp_path / "scores.csv"
    with open(mixed, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=SCORE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows + french)
    code, stdout, stderr = run_cli(["table", mixed, "--split", "test"], capsys)
    assert code == 2 and not stdout and len(stderr.strip().splitlines()) == 1, stderr
    assert "pipeline 'tiny' scored xnli with seed 1 (test) in more than one evaluate stage" in stderr
    assert (
        f"evaluate stage {new} (2 languages: en, de)" in stderr and f"evaluate stage {old} (1 language: fr)" in stderr
    )


def test_a_scores_csv_without_the_stage_column_is_read_and_rewritten_with_it(changed_rerun, capsys):
    """A file from before the column: tabulated as before, with a warning after the table; running the
    pipeline again (every stage reused) rewrites the run's rows with their stage, none twice."""
    yaml_path, out, _, new = changed_rerun
    rows = _rows(out / "scores.csv")
    with open(out / "scores.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=SCORE_COLUMNS[:-1], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    code, stdout, stderr = run_cli(["table", out / "scores.csv", "--split", "test"], capsys)
    assert code == 0 and "| mnli" in stdout
    assert f"warning: {out / 'scores.csv'}: 4 of 4 rows name no evaluate stage" in stderr

    code, stdout, _ = _run(capsys, yaml_path, out, *CHANGES)
    assert code == 0 and stdout.count("complete, skipping") == 3
    in_order = sorted(rows, key=lambda row: (row["split"], row["language"]))
    assert sorted(_rows(out / "scores.csv"), key=lambda row: (row["split"], row["language"])) == in_order
    code, _, stderr = run_cli(["table", out / "scores.csv", "--split", "test"], capsys)
    assert code == 0 and "warning" not in stderr
