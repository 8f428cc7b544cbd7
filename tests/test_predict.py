"""`stilts predict`: which stages it takes, and bad input refused with one line before any model loads.

That its files form XTREME's submission layout and re-score to the run's scores, for every target, is
tested end to end in tests/test_every_task.py (`_assert_predict_writes_a_submission`).
"""

import json

import pytest
from helpers import run_cli

from stilts.core.errors import BadInput
from stilts.pipeline.predict import data_folders, predictors_of


def _stage(run, name, kind, settings, pipeline="p", upstream=None, complete=True):
    folder = run / name
    folder.mkdir(parents=True)
    config = {"kind": kind, "pipeline": pipeline, "model": "m", "upstream": upstream, "settings": settings, "data": {}}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "metrics.json").write_text(json.dumps({"state": {"de": {"threshold": 1.1}}}))
    if complete:
        (folder / "COMPLETE").write_text("")
    return folder


def _evaluate(run, name, task, pipeline="p"):
    target = _stage(run, f"target-{name}", "target", {"tasks": [task]}, pipeline)
    (target / "heads").mkdir()
    (target / "heads" / "heads.json").write_text(json.dumps({task: {}}))
    return _stage(run, f"evaluate-{name}", "evaluate", {"task": task, "max_length": 64}, pipeline, str(target))


def test_a_run_folder_gives_one_predictor_per_evaluated_task(tmp_path):
    _evaluate(tmp_path, "a", "xnli", "p-xnli")
    _evaluate(tmp_path, "b", "pawsx", "p-pawsx")
    _stage(tmp_path, "evaluate-c", "evaluate", {"task": "xnli"}, "unfinished", complete=False)
    predictors = {p.task.name: p for p in predictors_of(tmp_path)}
    assert set(predictors) == {"xnli", "pawsx"}
    assert predictors["xnli"].model == str(tmp_path / "target-a" / "model")
    assert predictors["xnli"].heads == tmp_path / "target-a" / "heads"
    assert predictors["xnli"].settings["max_length"] == 64
    assert predictors["xnli"].states == {"de": {"threshold": 1.1}}
    assert [p.task.name for p in predictors_of(tmp_path, "pawsx")] == ["pawsx"]
    # a target stage predicts its own task with the default evaluation settings
    (from_target,) = predictors_of(tmp_path / "target-b")
    assert (from_target.task.name, from_target.settings["max_length"]) == ("pawsx", None)


def test_two_pipelines_scoring_one_task_need_a_choice(tmp_path):
    _evaluate(tmp_path, "a", "xnli", "seed1")
    _evaluate(tmp_path, "b", "xnli", "seed2")
    with pytest.raises(BadInput, match=r"2 evaluate stages score xnli \(pipelines seed1, seed2\); choose one"):
        predictors_of(tmp_path)
    (chosen,) = predictors_of(tmp_path, pipelines=["seed2"])
    assert chosen.stage.name == "evaluate-b"


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["RUN", "--task", "pawsx"], "--task pawsx: RUN holds no model for it (it predicts: xnli)"),
        (["RUN", "--task", "nosuch"], "--task: unknown task 'nosuch'"),
        (["RUN/target-a", "--task", "pawsx"], "--task pawsx: target-a has no head for it (it has: xnli)"),
        (["RUN", "--pipeline", "other"], "--pipeline other: no complete evaluate stage of that pipeline"),
        (["RUN/empty"], "RUN/empty: no complete evaluate stage in this run folder"),
        (["RUN/nowhere"], "RUN/nowhere: no such folder"),
        (["RUN", "--data", "xnli=RUN/nowhere"], "--data xnli=RUN/nowhere: no such folder"),
        (["RUN", "--data", "xnlii=RUN"], "--data xnlii=RUN: unknown task 'xnlii'"),
        (["RUN", "--data", "RUN/empty"], "--data: no folder for xnli (looked for RUN/empty/xnli)"),
        (["RUN", "--languages", "de,xx"], "--languages: 'xx' is not a language of xnli"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, arguments, message):
    run = tmp_path / "run"
    _evaluate(run, "a", "xnli")
    (run / "empty").mkdir()
    arguments = [argument.replace("RUN", str(run)) for argument in arguments]
    code, _, stderr = run_cli(["predict", *arguments, "--output", tmp_path / "out"], capsys)
    assert code == 2
    assert message.replace("RUN", str(run)) in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_data_options_are_task_folders_or_roots(tmp_path):
    (tmp_path / "panx").mkdir()
    by_task, roots = data_folders([f"xnli={tmp_path}", str(tmp_path)])
    assert by_task == {"xnli": tmp_path} and roots == [tmp_path]


def test_a_split_the_data_lacks_is_refused_before_any_model_loads(tmp_path, capsys, monkeypatch):
    """The default split is test; a folder with dev files only is said to be one, by the path the user
    sees, with the splits it has, before the model (here one that does not exist) would load."""
    topics = tmp_path / "data" / "topics"
    topics.mkdir(parents=True)
    (topics / "dev-en.tsv").write_text("sports\tThe match ended in a draw.\n")
    run = tmp_path / "run"
    folder = _evaluate(run, "a", "topics")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(dict(config, data={"topics": str(topics)})))
    monkeypatch.chdir(tmp_path)
    code, _, stderr = run_cli(["predict", "run", "--output", "out"], capsys)
    assert code == 2, stderr
    assert stderr.strip().splitlines() == [
        "error: --split test: no test files of topics in data/topics (data.topics of the run); it has dev (--split dev)"
    ]
    code, _, stderr = run_cli(
        ["predict", "run", "--split", "test", "--data", "topics=data/topics", "--output", "out"], capsys
    )
    assert code == 2 and "no test files of topics in data/topics (--data); it has dev" in stderr
