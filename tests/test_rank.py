"""`stilts rank` on a tiny sweep (2 intermediate configurations, a baseline, 2 seeds): refused in one line
while an intermediate stage is missing, training-free scores before any stage ran, LogME and H-score from the
intermediate models afterwards (checked against features computed here with transformers directly), kept
scores reused, and the rankings measured against the sweep's results; and each format's transfer rows."""

import csv
import json
import math
import re
import shlex

import numpy as np
import pytest
import yaml
from helpers import run_cli, write_tiny_qqp

from stilts.analysis.transferability import logme_classification, shrinkage_h_score
from stilts.core.catalog import get_task
from stilts.data.loading import load_examples
from stilts.reports.ranking import RANK_COLUMNS


@pytest.fixture(scope="module")
def grid(tmp_path_factory, tiny_model, tiny_nli):
    folder = tmp_path_factory.mktemp("rank")
    qqp = write_tiny_qqp(folder / "qqp")
    settings = {"learning_rate": 1e-3, "batch_size": 16, "epochs": 1, "validate_every": 100}
    config = {
        "name": "rank_grid",
        "model": str(tiny_model),
        "data": {"mnli": str(tiny_nli["mnli"]), "xnli": str(tiny_nli["xnli"]), "qqp": str(qqp)},
        "stages": {"intermediate": settings, "target": settings, "evaluate": {"max_examples": 8}},
        "matrix": {"intermediate": ["none", "mnli", "qqp"], "target": ["xnli"], "seed": [1, 2]},
    }
    path = folder / "grid.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, folder / "out"


def _rank_rows(out) -> list[dict]:
    with open(out / "rank.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_rank_refuses_missing_intermediate_stages_then_ranks_and_measures_itself(grid, capsys, tiny_model):
    path, out = grid
    # before any stage: the training-free methods need none
    code, stdout, stderr = run_cli(
        ["rank", path, "--output-dir", out, "--examples", "12", "--method", "textemb", "--method", "size"], capsys
    )
    assert code == 0, stderr
    rows = _rank_rows(out)
    assert list(rows[0]) == RANK_COLUMNS
    assert {(r["intermediate"], r["method"]) for r in rows} == {
        (i, m) for i in ("mnli", "qqp") for m in ("textemb", "size")
    }
    size = {r["intermediate"]: float(r["score"]) for r in rows if r["method"] == "size"}
    assert size == {"mnli": 96.0, "qqp": 16.0}  # the tiny MNLI's and QQP's training examples
    # XNLI trains on MNLI: its sample is a sample of MNLI's training data, so the two data sets are one
    textemb = {r["intermediate"]: float(r["score"]) for r in rows if r["method"] == "textemb"}
    assert textemb["mnli"] == pytest.approx(1.0) and -1 <= textemb["qqp"] < textemb["mnli"]
    assert "| mnli         | 96 (#1) |" in stdout and "no results yet" in stderr

    # LogME needs the intermediate models: one line naming the first missing stage and its command
    code, _, stderr = run_cli(["rank", path, "--output-dir", out, "--examples", "12"], capsys)
    assert code == 2 and len(stderr.strip().splitlines()) == 1, stderr
    assert "the intermediate stage of mnli (seed 1) is not complete" in stderr
    assert "3 more intermediate stages are not complete either" in stderr
    command = re.search(r"run it first: (stilts sweep .*? --stage [0-9a-f]{8})", stderr).group(1)
    # the command it names runs that stage
    code, _, stderr = run_cli(shlex.split(command)[1:], capsys)
    assert code == 0, stderr
    fingerprint = command.split()[-1]
    assert (out / f"intermediate-{fingerprint}" / "COMPLETE").is_file()

    code, _, stderr = run_cli(["sweep", path, "--output-dir", out], capsys)
    assert code == 0, stderr
    code, stdout, stderr = run_cli(["rank", path, "--output-dir", out, "--examples", "12"], capsys)
    assert code == 0, stderr
    assert "rank: 4 (intermediate model, target) pairs to score, 0 kept from before" in stderr
    rows = _rank_rows(out)
    assert len(rows) == 2 * 4  # mnli and qqp (the baseline is no candidate) x 4 methods, for xnli
    for row in rows:
        assert math.isfinite(float(row["score"])), row
        assert row["rank"] in ("1", "2")
    logme = {r["intermediate"]: r for r in rows if r["method"] == "logme"}
    assert logme["mnli"]["seeds"] == "2" and logme["mnli"]["examples"] == "12" and logme["mnli"]["rows"] == "12"
    assert "logme: LogME (You et al. 2021)" in stdout and "hscore: shrinkage H-score" in stdout
    # the sweep's results are there: each ranking beside the truth, its quality, and the noise ceiling
    assert "xnli (dev): result = mean over seeds" in stdout
    assert "| Intermediate | result | true rank | regret % | logme rank | hscore rank | textemb rank | size rank |" in (
        stdout
    )
    assert re.search(r"\| noise ceiling +\| +[0-9.]+ \|", stdout)
    assert "Regret@3 not shown: with 2 configurations the top 3 hold them all." in stdout

    # everything is kept: a second run computes nothing, and prints the same
    code, again, stderr = run_cli(["rank", path, "--output-dir", out, "--examples", "12"], capsys)
    assert code == 0 and "0 (intermediate model, target) pairs to score, 4 kept from before" in stderr
    assert again == stdout
    # the same measurement from the table command
    code, table_out, stderr = run_cli(["table", out / "scores.csv", "--rank", out / "rank.csv"], capsys)
    assert code == 0, stderr
    assert table_out.strip() == stdout[stdout.index("xnli (dev): result") :].strip()
    code, csv_out, _ = run_cli(["table", out / "scores.csv", "--rank", out / "rank.csv", "--format", "csv"], capsys)
    quality = list(csv.DictReader(csv_out.splitlines()))
    assert {row["method"] for row in quality} == {"logme", "hscore", "textemb", "size", "noise ceiling"}


def test_logme_of_a_pair_is_that_of_the_first_token_states_computed_directly(grid, capsys):
    """rank's LogME and H-score of one intermediate model for XNLI are those of its first-token states of the
    sampled examples, computed here with transformers' AutoModel (no stilts code in between)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from stilts.cli.common import plan_sweep_file
    from stilts.pipeline.rank import Ranker, sweep_pairs, target_sample

    path, out = grid
    if not (out / "rank.csv").is_file():
        code, _, stderr = run_cli(["sweep", path, "--output-dir", out], capsys)
        assert code == 0, stderr
    code, _, stderr = run_cli(["rank", path, "--output-dir", out, "--examples", "12", "--seed", "1"], capsys)
    assert code == 0, stderr
    pairs = sweep_pairs(plan_sweep_file(path, (), out).plans, seeds=[1])
    pair = next(p for p in pairs if p.intermediate == "mnli")
    sample = target_sample(pair, 12, 0)
    labels = [get_task("xnli").labels.index(example["label"]) for example in sample.examples]
    folder = pair.stage.folder / "model"
    tokenizer, encoder = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
    states = []
    with torch.no_grad():
        for example in sample.examples:
            inputs = tokenizer(example["text_a"], example["text_b"], truncation=True, max_length=sample.max_length)
            output = encoder(**{key: torch.tensor([value]) for key, value in inputs.items()})
            states.append(output.last_hidden_state[0, 0].numpy())
    features = np.stack(states).astype(np.float64)
    ranker = Ranker(out, "", "", None, examples=12)
    kept = json.loads(ranker.cache("pair", {"stage": pair.stage.fingerprint, **sample.identity}).read_text())
    assert kept["logme"] == pytest.approx(logme_classification(features, np.array(labels)).score, abs=1e-4)
    assert kept["hscore"] == pytest.approx(shrinkage_h_score(features, np.array(labels)), rel=1e-3)
    # the sample is seeded: the same examples again, other ones with another seed
    assert target_sample(pair, 12, 0).examples == sample.examples
    assert target_sample(pair, 12, 1).examples != sample.examples
    training = load_examples(get_task("mnli"), "train", "en", pair.sources)
    assert all(example in training for example in sample.examples)


def test_rank_refuses_what_it_cannot_rank_in_one_line(grid, capsys):
    path, out = grid
    code, _, stderr = run_cli(["rank", path, "--output-dir", out, "--seed", "7", "--method", "size"], capsys)
    assert code == 2 and "--seed 7: not a seed of" in stderr and len(stderr.strip().splitlines()) == 1
    code, _, stderr = run_cli(
        ["rank", path, "--output-dir", out, "--set", "matrix.intermediate=[none]", "--method", "size"], capsys
    )
    assert code == 2 and "no intermediate configuration to rank, only the baseline" in stderr
    code, _, stderr = run_cli(["table", out / "nowhere.csv", "--rank", out / "rank.csv"], capsys)
    assert code == 2 and len(stderr.strip().splitlines()) == 1


# --- each format's rows -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def encoder(tiny_model):
    from stilts.training.devices import make_accelerator
    from stilts.training.model import load_encoder

    model, tokenizer = load_encoder(str(tiny_model))
    return make_accelerator("no", cpu=True), model, tokenizer


def _rows(encoder, task_name, examples, max_length=64):
    from stilts.training.transfer_features import labelled_features

    accelerator, model, tokenizer = encoder
    task = get_task(task_name)
    return labelled_features(accelerator, model, tokenizer, task, examples, max_length=max_length, batch_size=3)


def test_tagging_rows_are_the_words_first_sub_words_with_their_tags(encoder, tmp_path):
    from stilts.testing import write_panx

    task = get_task("panx")
    examples = load_examples(task, "train", "en", {"panx": str(write_panx(tmp_path / "panx"))})
    rows = _rows(encoder, "panx", examples)
    words = [tag for example in examples for tag in example["tags"]]
    assert rows.features.shape == (len(words), encoder[1].config.hidden_size)
    # batches are sorted by length, so compare the tags as multisets
    assert sorted(rows.labels.tolist()) == sorted(task.labels.index(tag) for tag in words)


def test_multiple_choice_rows_are_each_choice_with_one_answer_per_question(encoder, tmp_path):
    from stilts.testing import write_hellaswag

    task = get_task("hellaswag")
    examples = load_examples(task, "train", "en", {"hellaswag": str(write_hellaswag(tmp_path / "hellaswag"))})
    rows = _rows(encoder, "hellaswag", examples)
    choices = sum(len(example["choices"]) for example in examples)
    assert rows.features.shape[0] == choices and rows.labels.sum() == len(examples)


def test_span_qa_rows_are_every_token_with_the_answer_inside_its_window(encoder, tmp_path):
    from stilts.analysis.transferability import logme_span_qa
    from stilts.testing import write_squad_folder

    task = get_task("squad_v1")
    examples = load_examples(task, "train", "en", {"squad_v1": str(write_squad_folder(tmp_path / "squad"))})
    rows = _rows(encoder, "squad_v1", examples, max_length=96)
    lengths, starts, ends = rows.spans
    assert rows.labels is None and rows.features.shape[0] == lengths.sum()
    assert np.all((0 <= starts) & (starts <= ends) & (ends < lengths))
    assert (starts > 0).any()  # answers inside the windows, not only the first token
    assert math.isfinite(logme_span_qa(rows.features, lengths, starts, ends).score)


def test_rank_is_submitted_to_slurm_after_the_intermediate_stages_jobs(grid, capsys, tmp_path, monkeypatch):
    """`--submit slurm`: one sbatch job running the same `stilts rank`, after the queued jobs of the intermediate
    stages it needs (a fake sbatch records what it is given); a needed stage without a job is refused."""
    import os

    from stilts.cli.common import plan_sweep_file
    from stilts.pipeline.rank import sweep_pairs
    from stilts.pipeline.slurm import submit

    path, _ = grid
    out = tmp_path / "queued"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path / "sbatch.args"}\necho 4242\n')
    (bin_dir / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    args = ["rank", path, "--output-dir", out, "--examples", "12", "--submit", "slurm"]

    code, _, stderr = run_cli(args, capsys)
    assert code == 2 and "is not complete" in stderr and len(stderr.strip().splitlines()) == 1

    fingerprints = sorted({p.stage.fingerprint for p in sweep_pairs(plan_sweep_file(path, (), out).plans)})
    queued = {fingerprint: str(100 + i) for i, fingerprint in enumerate(fingerprints)}
    monkeypatch.setattr(submit, "active_jobs", lambda run_dir: (queued, {}))
    code, stdout, stderr = run_cli(args, capsys)
    assert code == 0, stderr
    assert "submitted stilts rank as Slurm job 4242, after jobs 100, 101, 102, 103" in stdout
    given = (tmp_path / "sbatch.args").read_text().splitlines()
    assert "--dependency=afterok:100:101:102:103" in given and "--kill-on-invalid-dep=yes" in given
    assert f"--output={out / 'logs' / 'slurm' / 'rank-%j.out'}" in given
    wrapped = shlex.split(next(arg for arg in given if arg.startswith("--wrap="))[len("--wrap=") :])
    assert wrapped[1:4] == ["-m", "stilts", "rank"] and "--submit" not in " ".join(wrapped)
    assert wrapped[wrapped.index("--output-dir") + 1] == str(out) and "--examples=12" in wrapped
    assert not (out / "rank.csv").exists()  # nothing ran here


def test_pairs_of_a_sweep_with_few_shot_stages_and_seed_averages(tmp_path):
    """Stages after the evaluation (few-shot) and the seeds' average pipelines add no pair, and an intermediate
    model that several seeds share (its own seed fixed, as averaging needs) is one pair per target."""
    from stilts.pipeline.engine import plan_pipeline
    from stilts.pipeline.rank import sweep_pairs
    from stilts.pipeline.sweep import SweepConfig, expand

    sweep = SweepConfig.model_validate(
        {
            "name": "grid",
            "model": "some/hub-model",
            "average_seeds": True,
            "stages": {"intermediate": {"seed": 1}, "target": {"init_seed": 7}},
            "matrix": {
                "intermediate": ["none", "mnli", "qqp"],
                "target": ["xnli", "tatoeba"],
                "seed": [1, 2],
                "shots": [4],
            },
        }
    )
    pipelines = expand(sweep, "grid.yaml")
    plans = [(p, *plan_pipeline(p, tmp_path, tmp_path / "out", "grid.yaml")) for p in pipelines]
    assert any(stage.kind == "few_shot" for _, stages, _ in plans for stage in stages)
    assert any(stage.kind == "average" for _, stages, _ in plans for stage in stages)
    pairs = sweep_pairs(plans)
    assert sorted((p.intermediate, p.target, p.seed) for p in pairs) == sorted(
        (i, t, 1) for i in ("mnli", "qqp") for t in ("xnli", "tatoeba")
    )
    for pair in pairs:
        assert pair.stage.kind == "intermediate" and pair.evaluation.kind == "evaluate"
        if pair.target == "xnli":
            assert pair.trains_target.kind == "target" and pair.trains_target.upstream is pair.stage
        else:  # retrieval: the evaluation reads the intermediate model itself
            assert pair.trains_target is None and pair.evaluation.upstream is pair.stage
    assert [(p.intermediate, p.seed) for p in sweep_pairs(plans, seeds=[2])] == [("mnli", 2)] * 2 + [("qqp", 2)] * 2
