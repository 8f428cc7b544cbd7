"""`stilts prepare` on local data: the table of what a sweep will read, and what cannot be had (exit 2)."""

import yaml
from helpers import run_cli


def _sweep(path, model, data):
    config = {
        "name": "tiny_grid",
        "model": str(model),
        "data": {task: str(folder) for task, folder in data.items()},
        "stages": {"intermediate": {"max_steps": 2}, "target": {"max_steps": 2}},
        "matrix": {"intermediate": ["none", "mnli"], "target": ["xnli"], "seed": [1, 2]},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_prepare_lists_every_split_a_sweep_reads_with_its_source(tmp_path, tiny_model, tiny_nli, capsys):
    sweep = _sweep(tmp_path / "grid.yaml", tiny_model, tiny_nli)
    code, out, err = run_cli(["prepare", sweep, "--output-dir", tmp_path / "runs"], capsys)
    assert code == 0, err
    assert f"model {tiny_model}: local {tiny_model}" in out
    rows = {tuple(line.split()[:2]): line for line in out.splitlines() if " local " in line}
    mnli, xnli = tiny_nli["mnli"].resolve(), tiny_nli["xnli"].resolve()
    # MNLI trains both the intermediate stages and (as XNLI's training task) the targets
    assert rows[("mnli", "train")].split()[2:4] == ["en", "96"] and f"local {mnli}" in rows[("mnli", "train")]
    assert "de en fr" in rows[("xnli", "test")] and f"local {xnli}" in rows[("xnli", "test")]
    # the languages XNLI has and the tiny data lacks (evaluation, over every language, skips them)
    skipped = [line for line in out.splitlines() if "not in the data" in line]
    assert skipped and all(" ar " in line and " de " not in line for line in skipped)
    assert out.strip().endswith("the sweep can now run with HF_HUB_OFFLINE=1")


def test_what_cannot_be_had_is_marked_and_exits_2(tmp_path, tiny_model, tiny_nli, capsys):
    empty = tmp_path / "no-mnli"
    empty.mkdir()
    sweep = _sweep(tmp_path / "grid.yaml", tiny_model, {**tiny_nli, "mnli": empty})
    code, out, err = run_cli(["prepare", sweep, "--output-dir", tmp_path / "runs"], capsys)
    assert code == 2
    mnli = {line.split()[1]: line for line in out.splitlines() if line.startswith("mnli")}
    assert "CANNOT BE HAD (needed)" in mnli["train"]
    assert "not in the data" in mnli["dev"]  # validation can do without it
    line = err.strip().splitlines()[-1]  # after the progress bar
    assert line.startswith(f"error: {sweep}: 1 of ")
    assert f"splits cannot be had (marked above); first: {empty}: no " in line
    assert not (tmp_path / "runs").exists()  # nothing trained, nothing recorded


def test_a_named_language_the_data_lacks_is_refused_as_a_run_refuses_it(tmp_path, tiny_model, tiny_nli, capsys):
    """Only the implicit "every language" may skip one: prepare says so before a run does."""
    sweep = _sweep(tmp_path / "grid.yaml", tiny_model, tiny_nli)
    config = yaml.safe_load(sweep.read_text())
    config["stages"]["evaluate"] = {"languages": ["de", "ar"]}
    sweep.write_text(yaml.safe_dump(config, sort_keys=False))
    code, out, err = run_cli(["prepare", sweep, "--output-dir", tmp_path / "runs"], capsys)
    assert code == 2, err
    assert "languages[1]: 'ar' has no dev data in " in err and "leave it out of languages" in err
    code, _, err = run_cli(["sweep", sweep, "--output-dir", tmp_path / "runs", "--dry-run"], capsys)
    assert code == 2 and "languages[1]: 'ar' has no dev data in " in err
