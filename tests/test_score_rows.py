"""scores.csv rows name the evaluate stage that wrote them: what a stage's rows replace when they are
written (a pipeline changed and run again, a sweep's pipelines and Slurm jobs sharing the file), and
what reading the file makes of them."""

import csv

import pytest
from conftest import write_pipeline

from stilts.core.errors import BadInput
from stilts.reports import scores as sc
from stilts.reports import scores_file
from stilts.reports.scores_file import SCORE_COLUMNS, upsert_scores


def _rows(pipeline, stage, languages=("de", "en", "fr"), *, seed=1, target="xnli", value=50.0) -> list[dict]:
    return [
        dict(zip(SCORE_COLUMNS, [pipeline, "mnli", False, target, seed, split, language, "accuracy", value, stage]))
        for split in ("dev", "test")
        for language in languages
    ]


def _read(path) -> set[tuple]:
    with open(path, newline="") as handle:
        return {
            (r["pipeline"], r["seed"], r["target"], r["split"], r["language"], r["stage"])
            for r in csv.DictReader(handle)
        }


def _written(rows) -> set[tuple]:
    return {(r["pipeline"], str(r["seed"]), r["target"], r["split"], r["language"], r[scores_file.STAGE]) for r in rows}


def test_a_changed_pipelines_rows_are_replaced_as_a_whole_and_nothing_else(tmp_path):
    path = tmp_path / "scores.csv"
    other_pipeline = _rows("other", "evaluate-00000000")
    other_seed = _rows("p", "evaluate-22222222", seed=2)
    upsert_scores(path, other_pipeline, ["target-99999999", "evaluate-00000000"])
    upsert_scores(path, other_seed, ["evaluate-22222222"])
    upsert_scores(path, _rows("p", "evaluate-11111111"), ["evaluate-11111111"])
    # p (seed 1) changed: two languages now, from another stage; fr must not stay behind from the old one
    new = _rows("p", "evaluate-33333333", ("de", "en"), value=60.0)
    upsert_scores(path, new, ["target-44444444", "evaluate-33333333"])
    assert _read(path) == _written(other_pipeline + other_seed + new)


def test_the_pipelines_other_evaluate_stages_keep_their_rows(tmp_path):
    """A pipeline with two evaluate stages, each run by its own Slurm job (`stilts sweep --stage`), in
    either order: neither takes the other's rows away."""
    path = tmp_path / "scores.csv"
    stages = ["target-44444444", "evaluate-11111111", "evaluate_pawsx-22222222"]
    xnli, pawsx = _rows("p", stages[1]), _rows("p", stages[2], target="pawsx")
    upsert_scores(path, pawsx, stages)
    upsert_scores(path, xnli, stages)
    upsert_scores(path, pawsx, stages)  # run again (reused): the same rows, not twice
    assert _read(path) == _written(xnli + pawsx)
    with open(path) as handle:
        assert len(handle.readlines()) == 1 + len(xnli) + len(pawsx)


def test_rows_of_a_file_without_the_column_are_replaced_by_their_runs_rows(tmp_path):
    path = tmp_path / "scores.csv"
    old = ["p,mnli,false,xnli,1,dev,fr,accuracy,40.0", "p,mnli,false,pawsx,1,dev,de,accuracy,41.0"]
    old += ["q,mnli,false,xnli,1,dev,de,accuracy,42.0"]
    path.write_text(",".join(SCORE_COLUMNS[:-1]) + "\n" + "\n".join(old) + "\n")
    new = _rows("p", "evaluate-11111111", ("de",))
    upsert_scores(path, new, ["evaluate-11111111", "evaluate_pawsx-22222222"])
    # p's xnli run is scored again: its old fr row goes; its pawsx run and pipeline q are not, and stay
    assert _read(path) == _written(new) | {("p", "1", "pawsx", "dev", "de", ""), ("q", "1", "xnli", "dev", "de", "")}
    scores = sc.load_scores(path)
    assert scores.attrs["unstaged"] == 2 and set(scores[scores_file.STAGE]) == {"", "evaluate-11111111"}


def test_a_stage_that_is_not_a_folder_name_is_refused_with_its_line(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text(",".join(SCORE_COLUMNS) + "\np,mnli,false,xnli,1,dev,de,accuracy,40.0,../elsewhere\n")
    with pytest.raises(BadInput, match=r"line 2: 'stage' must name a stage folder of the run folder"):
        sc.load_scores(path)


def test_a_stage_cut_by_sweep_stage_still_knows_every_stage_of_its_pipeline(tmp_path, tiny_nli):
    """A Slurm job runs a pipeline only up to its stage (`only_stage_plans`); its rows must not take
    away those of the pipeline's stages after it."""
    from stilts.pipeline.config import load_pipeline
    from stilts.pipeline.engine import plan_pipeline
    from stilts.pipeline.sweep import only_stage_plans

    extra = [{"kind": "evaluate", "task": "xnli", "name": "evaluate_test", "splits": ["test"]}]
    path = write_pipeline(tmp_path / "p.yaml", tmp_path, tiny_nli, extra_stages=extra)
    pipeline, base_dir = load_pipeline(path, ())
    stages, sources = plan_pipeline(pipeline, base_dir, tmp_path / "run", str(path))
    first_evaluation = next(stage for stage in stages if stage.name == "evaluate")
    [(_, cut, _)] = only_stage_plans([(pipeline, stages, sources)], first_evaluation.fingerprint, str(path))
    assert cut[-1].name == "evaluate" and len(cut) == len(stages) - 1
    assert cut[-1].pipeline_folders == tuple(stage.folder.name for stage in stages)
