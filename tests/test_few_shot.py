"""Few-shot fine-tuning on the tiny model (a `few_shot` stage after the target stage): the shot sets are
drawn from a seed of their own and written down, the same for every run, other for another draw seed;
shots drawn from dev are never scored; a stage stopped midway goes on with the next set and ends as an
uninterrupted one; the table shows k-shot rows beside zero-shot ones, the mean over sets with their
spread, never the sets pooled as seeds; a k the data cannot give is refused before anything trains."""

import csv
import io
import json
import shutil

import numpy as np
import pytest
import yaml
from helpers import run_cli

from stilts.target.few_shot import FewShotStageRunner, shot_order
from stilts.testing import write_tiny_topics

TRAINING = {"learning_rate": 1e-3, "batch_size": 16, "epochs": 1, "validate_every": 4}
#: 24 dev examples per language in the tiny XNLI, no training split of its own (it trains on MNLI)
SHOTS = {"kind": "few_shot", "task": "xnli", "k": 4, "sets": 2, "epochs": 2, "languages": ["de"]}


def _pipeline(folder, tiny_model, data, *, seed=1, shots=(SHOTS,), task="xnli", name="p"):
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "name": name,
        "model": str(tiny_model),
        "seed": seed,
        "data": {task: str(path) for task, path in data.items()},
        "stages": [
            {"kind": "target", "task": task, **TRAINING},
            {"kind": "evaluate", "task": task},
            *shots,
        ],
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _rows(out) -> list[dict]:
    with open(out / "scores.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _shot_files(out, name="few_shot") -> dict[str, dict]:
    (stage,) = out.glob(f"{name}-*")
    return {path.name: json.loads(path.read_text()) for path in sorted((stage / "shots").iterdir())}


@pytest.fixture(scope="module")
def shots_run(tmp_path_factory, tiny_model, tiny_nli):
    """A target stage, its zero-shot evaluation, and 2 sets of 4 German shots from XNLI's dev."""
    folder = tmp_path_factory.mktemp("few-shot")
    path = _pipeline(folder, tiny_model, tiny_nli)
    from stilts.cli import main

    with pytest.raises(SystemExit) as done:
        main(["run", str(path), "--output-dir", str(folder / "out")])
    assert done.value.code == 0
    return path, folder / "out"


def test_each_set_is_the_first_k_of_a_permutation_drawn_from_its_own_seed():
    first = shot_order(24, 0, 0, "de")
    assert sorted(first) == list(range(24))
    assert np.array_equal(first, shot_order(24, 0, 0, "de"))  # a function of its arguments only
    assert not np.array_equal(first, shot_order(24, 0, 1, "de"))  # another set
    assert not np.array_equal(first, shot_order(24, 1, 0, "de"))  # another draw seed
    assert not np.array_equal(first, shot_order(24, 0, 0, "fr"))  # another language


def test_the_shot_files_are_the_same_for_every_run_and_other_for_another_draw_seed(
    shots_run, tiny_model, tiny_nli, tmp_path, capsys
):
    from stilts.core.catalog import get_task
    from stilts.data.loading import load_examples

    _, out = shots_run
    files = _shot_files(out)
    assert list(files) == ["de-set0.json", "de-set1.json"]
    dev = load_examples(get_task("xnli"), "dev", "de", {"xnli": str(tiny_nli["xnli"])})
    for index, shots in enumerate(files.values()):
        assert (shots["task"], shots["language"], shots["split"], shots["k"], shots["set"]) == (
            "xnli",
            "de",
            "dev",
            4,
            index,
        )
        positions = [example["position"] for example in shots["examples"]]
        assert positions == sorted(int(p) for p in shot_order(len(dev), 0, index, "de")[:4])
        assert [example["id"] for example in shots["examples"]] == [dev[p]["id"] for p in positions]
    assert files["de-set0.json"]["examples"] != files["de-set1.json"]["examples"]

    # another seed of the pipeline (another target model) draws the same sets; another draw seed others
    other = {**SHOTS, "name": "other_draws", "draw_seed": 1}
    path = _pipeline(tmp_path, tiny_model, tiny_nli, seed=2, shots=(SHOTS, other))
    code, _, stderr = run_cli(["run", path, "--output-dir", tmp_path / "out"], capsys)
    assert code == 0, stderr
    assert _shot_files(tmp_path / "out") == files
    redrawn = _shot_files(tmp_path / "out", "other_draws")
    assert [shots["examples"] for shots in redrawn.values()] != [shots["examples"] for shots in files.values()]


def test_shots_drawn_from_dev_are_never_scored(shots_run):
    _, out = shots_run
    (stage,) = out.glob("few_shot-*")
    for index, shots in enumerate(_shot_files(out).values()):
        chosen = {example["id"] for example in shots["examples"]}
        folder = stage / "predictions" / f"set{index}"
        dev = [json.loads(line) for line in (folder / "dev-de.examples.jsonl").read_text().splitlines()]
        test = [json.loads(line) for line in (folder / "test-de.examples.jsonl").read_text().splitlines()]
        assert len(dev) == 24 - 4 and not chosen & {row["id"] for row in dev}
        assert len(test) == 24  # the test split holds no shots: all of it is scored
    rows = [row for row in _rows(out) if row["intermediate"] == "none/4-shot"]
    assert {(row["seed"], row["split"], row["language"]) for row in rows} == {
        (seed, split, "de") for seed in ("1/set0", "1/set1") for split in ("dev", "test")
    }
    metrics = json.loads((stage / "metrics.json").read_text())
    assert metrics["pools"] == {"de": "dev"} and set(metrics["set_scores"]["de"]) == {"0", "1"}
    mean = np.mean([metrics["set_scores"]["de"][s]["test"]["accuracy"] for s in ("0", "1")])
    assert metrics["average"]["test"]["accuracy"] == pytest.approx(mean)


def test_a_stopped_stage_goes_on_with_the_next_set_and_ends_as_an_uninterrupted_one(
    shots_run, tmp_path, capsys, monkeypatch
):
    path, whole = shots_run
    out = tmp_path / "out"
    shutil.copytree(whole, out, ignore=shutil.ignore_patterns("few_shot-*"))
    real_score, calls = FewShotStageRunner._score, []

    def failing_score(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # set 1's dev: set 0 is scored and kept
            raise OSError(5, "Input/output error")
        return real_score(*args, **kwargs)

    monkeypatch.setattr(FewShotStageRunner, "_score", staticmethod(failing_score))
    assert run_cli(["run", path, "--output-dir", out], capsys)[0] == 1
    monkeypatch.setattr(FewShotStageRunner, "_score", staticmethod(real_score))
    code, stdout, stderr = run_cli(["run", path, "--output-dir", out], capsys)
    assert code == 0, stderr
    assert "de set 0: scored before, kept" in stdout and "de set 1: 4 shots from dev" in stdout
    assert (out / "scores.csv").read_text() == (whole / "scores.csv").read_text()


def test_the_table_shows_k_shot_rows_beside_zero_shot_with_the_spread_over_sets(shots_run, capsys):
    _, out = shots_run
    code, stdout, _ = run_cli(["table", out / "scores.csv", "--split", "test", "--show-n"], capsys)
    assert code == 0
    cells = {line.split("|")[1].strip(): line.split("|")[3].strip() for line in stdout.splitlines() if "| none" in line}
    assert list(cells) == ["none", "none/4-shot"]
    assert "±" not in cells["none"] and "±" in cells["none/4-shot"] and cells["none/4-shot"].endswith("(n=1)")
    rows = [row for row in _rows(out) if row["split"] == "test" and row["intermediate"] == "none/4-shot"]
    sets = [float(row["value"]) for row in rows]
    assert cells["none/4-shot"].startswith(f"{np.mean(sets):.1f} ±{np.std(sets, ddof=1):.1f}")
    assert "mean over its 2 sets of shots, never the sets taken as seeds" in stdout
    # a k-shot row of German only beside a zero-shot one of three languages: said under the table
    assert "none/4-shot scored xnli in de; none in de, en, fr: their averages are not over the same languages" in stdout
    code, stdout, stderr = run_cli(["table", out / "scores.csv", "--split", "test", "--delta", "--ci", "95"], capsys)
    assert code == 0, stderr
    (k_shot,) = [line for line in stdout.splitlines() if line.startswith("| none/4-shot ")]
    assert "[" in k_shot and "±" in k_shot  # an interval, and the spread over the sets


def test_sets_are_averaged_before_the_median_over_seeds(tmp_path, capsys):
    """Two seeds, three sets each: the cell is the median over seeds of each seed's mean over its sets,
    and its spread the median over seeds of each seed's standard deviation over sets."""
    header = "pipeline,intermediate,mlm,target,seed,split,language,metric,value,stage\n"
    values = {"1": [60.0, 70.0, 80.0], "2": [50.0, 52.0, 54.0], "3": [90.0, 91.0, 98.0]}
    lines = [f"p{seed},mnli,false,xnli,{seed},test,de,accuracy,40.0,evaluate-{seed}\n" for seed in values]
    lines += [
        f"p{seed},mnli/10-shot,false,xnli,{seed}/set{i},test,de,accuracy,{value},10-shot-{seed}\n"
        for seed, sets in values.items()
        for i, value in enumerate(sets)
    ]
    (tmp_path / "scores.csv").write_text(header + "".join(lines))
    code, stdout, _ = run_cli(["table", tmp_path / "scores.csv", "--format", "csv", "--show-n"], capsys)
    assert code == 0
    table = {row["intermediate"]: row for row in csv.DictReader(io.StringIO(stdout))}
    means = [np.mean(sets) for sets in values.values()]  # 70, 52, 93
    assert float(table["mnli/10-shot"]["xnli"]) == pytest.approx(np.median(means))
    assert table["mnli/10-shot"]["xnli_n"] == "3"  # seeds, not seeds x sets
    spreads = [np.std(sets, ddof=1) for sets in values.values()]
    assert float(table["mnli/10-shot"]["xnli_sets_sd"]) == pytest.approx(np.median(spreads))
    assert table["mnli"]["xnli_sets_sd"] == "" and float(table["mnli"]["xnli"]) == 40.0


def test_shots_come_from_the_training_split_of_a_language_that_has_one(tiny_model, tmp_path, capsys):
    topics = write_tiny_topics(tmp_path / "topics", train=24, test=8)
    (topics / "train-de.tsv").write_text((topics / "test-de.tsv").read_text() * 2, encoding="utf-8")
    shots = {"kind": "few_shot", "task": "topics", "k": 4, "sets": 1, "epochs": 1, "languages": ["de"]}
    path = _pipeline(tmp_path, tiny_model, {"topics": topics}, shots=(shots,), task="topics")
    code, _, stderr = run_cli(["run", path, "--output-dir", tmp_path / "out"], capsys)
    assert code == 0, stderr
    (files,) = _shot_files(tmp_path / "out").values()
    assert files["split"] == "train"
    (stage,) = (tmp_path / "out").glob("few_shot-*")
    scored = (stage / "predictions" / "set0" / "test-de.examples.jsonl").read_text().splitlines()
    assert len(scored) == 8  # nothing left out of test


@pytest.mark.parametrize(
    ("shots", "message"),
    [
        (
            {"k": 100},
            "stages[2].k: 100 shots per set, but xnli has 24 dev examples in 'de' (no train split there); lower k, "
            "or leave the language out of languages",
        ),
        (
            {"k": 24},
            "stages[2].k: 24 shots per set, but xnli has 24 dev examples in 'de' (no train split there), leaving "
            "none of its dev to score; lower k, or leave the language out of languages",
        ),
        ({"languages": ["xx"]}, "stages[2].languages[0]: 'xx' is not a language of xnli"),
        (
            {"languages": ["es"]},
            "stages[2].languages[0]: xnli has no train or dev data in 'es' to draw shots from",
        ),
        ({"k": 0}, "stages[2].k: input should be greater than 0"),
    ],
)
def test_shots_the_data_cannot_give_are_refused_in_one_line_before_training(
    shots, message, tiny_model, tiny_nli, tmp_path, capsys
):
    path = _pipeline(tmp_path, tiny_model, tiny_nli, shots=({**SHOTS, **shots},))
    code, stdout, stderr = run_cli(["run", path, "--output-dir", tmp_path / "out"], capsys)
    (error,) = [line for line in stderr.replace("\r", "\n").splitlines() if line.startswith("error:")]
    assert code == 2 and message in error, stderr
    assert "running ->" not in stdout and not (tmp_path / "out").exists()


def test_a_few_shot_stage_needs_the_target_stage_of_its_task_before_it(tiny_model, tmp_path, capsys):
    config = {
        "name": "p",
        "model": str(tiny_model),
        "stages": [{"kind": "target", "task": "pawsx"}, {**SHOTS, "task": "xnli"}],
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(config))
    code, _, stderr = run_cli(["run", path, "--output-dir", tmp_path / "out", "--dry-run"], capsys)
    assert code == 2 and "stages[1].task: fine-tuning 'xnli' on shots needs a target stage that trains 'xnli'" in stderr


def test_the_sweep_axis_of_k_adds_a_few_shot_stage_per_k(tmp_path):
    from stilts.core.errors import BadInput
    from stilts.pipeline.sweep import SweepConfig, expand, load_sweep

    sweep = SweepConfig.model_validate(
        {
            "name": "shots",
            "model": "some/hub-model",
            "stages": {"few_shot": {"sets": 3, "languages": ["de"]}},
            "matrix": {"intermediate": ["none"], "target": ["xnli", "tatoeba"], "seed": [1, 2], "shots": [10, 100]},
        }
    )
    pipelines = {pipeline.name: pipeline for pipeline in expand(sweep, "shots.yaml")}
    stages = pipelines["none-xnli-s2"].stages
    assert [(stage.kind, stage.name) for stage in stages] == [
        ("target", None),
        ("evaluate", None),
        ("few_shot", "10-shot"),
        ("few_shot", "100-shot"),
    ]
    assert [(stage.k, stage.sets, stage.languages) for stage in stages[2:]] == [(10, 3, ["de"]), (100, 3, ["de"])]
    assert [stage.kind for stage in pipelines["none-tatoeba-s1"].stages] == ["evaluate"]  # trains nothing

    path = tmp_path / "shots.yaml"
    path.write_text(yaml.safe_dump({**sweep.model_dump(exclude_unset=True), "stages": {"few_shot": {"k": 5}}}))
    with pytest.raises(BadInput, match="stages.few_shot.k: set by the matrix, not here"):
        load_sweep(path)
