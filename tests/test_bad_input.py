"""Bad input across the commands: each case gives exit 2, one line on stderr that names the file and
the field or line, no traceback, and no stage marked complete.

Each case is (command line, files to write, what the message must contain). Paths are relative to a
fresh folder that also holds a working tiny pipeline (`ok.yaml`), tiny NLI data (`data/`), the tiny
model (`model/`) and a valid `scores.csv`, so that each case breaks exactly one thing.
"""

import json
import shutil

import pytest
import yaml
from helpers import run_cli

from stilts.catalog import get_task
from stilts.testing import write_tiny_nli

GOOD_STAGE = {"learning_rate": 1e-3, "batch_size": 8, "max_steps": 1, "validate_every": 1}


def pipeline(**changes) -> str:
    config = {
        "name": "bad",
        "model": "model",
        "seed": 1,
        "data": {"mnli": "data/mnli", "xnli": "data/xnli"},
        "stages": [
            {"kind": "intermediate", "tasks": ["mnli"], **GOOD_STAGE},
            {"kind": "target", "task": "xnli", **GOOD_STAGE},
            {"kind": "evaluate", "task": "xnli", "max_examples": 4},
        ],
    }
    for key, value in changes.items():
        node, *path = key.split(".")
        target = config
        for part in [node, *path][:-1]:
            target = target[int(part)] if isinstance(target, list) else target[part]
        last = [node, *path][-1]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return yaml.safe_dump(config)


#: a safetensors file cut short: its header names 400 bytes of weights that are not there
_HEADER = b'{"weight":{"dtype":"F32","shape":[100],"data_offsets":[0,400]}}'
TRUNCATED_SAFETENSORS = len(_HEADER).to_bytes(8, "little") + _HEADER


def pickled_module() -> bytes:
    """A whole module pickled (torch.save(model)): loading it would run the classes it names."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(torch.nn.Linear(2, 2), buffer)
    return buffer.getvalue()


SCORES_HEADER = "pipeline,intermediate,mlm,target,seed,split,language,metric,value\n"
GOOD_SCORES = SCORES_HEADER + "p,none,false,xnli,1,dev,de,accuracy,50.0\np,mnli,false,xnli,1,dev,de,accuracy,60.0\n"

SQUAD_GOLD = {
    "version": "1.1",
    "data": [
        {
            "title": "t",
            "paragraphs": [
                {
                    "context": "Sie lebt in Berlin.",
                    "qas": [{"id": "q1", "question": "Wo?", "answers": [{"text": "Berlin", "answer_start": 12}]}],
                }
            ],
        }
    ],
}

CASES = [
    # --- stilts run: the YAML ---
    ("yaml-syntax", ["run", "p.yaml"], {"p.yaml": "name: x\nstages: [\n"}, "p.yaml: line 3: YAML syntax error"),
    ("yaml-not-mapping", ["run", "p.yaml"], {"p.yaml": "- 1\n- 2\n"}, "p.yaml: expected a mapping"),
    ("yaml-empty", ["run", "p.yaml"], {"p.yaml": ""}, "p.yaml: expected a mapping"),
    ("yaml-missing", ["run", "none.yaml"], {}, "none.yaml: no such file"),
    (
        "yaml-duplicate-top-key",
        ["run", "p.yaml"],
        {"p.yaml": "name: a\n" + pipeline()},
        "duplicate key 'name' (first given on line 1)",
    ),
    (
        "yaml-duplicate-stage-key",
        ["run", "p.yaml"],
        {"p.yaml": pipeline().replace("max_steps: 1\n", "max_steps: 1\n  max_steps: 2\n", 1)},
        "duplicate key 'max_steps' (first given on line",
    ),
    (
        "sweep-duplicate-key",
        ["sweep", "s.yaml"],
        {"s.yaml": "name: s\nmodel: model\nmatrix: {target: [xnli], target: [pawsx]}\n"},
        "s.yaml: line 3: duplicate key 'target' (first given on line 3)",
    ),
    ("unknown-top-key", ["run", "p.yaml"], {"p.yaml": pipeline(modle="x")}, "p.yaml: modle: unknown field"),
    (
        "unknown-stage-key",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.1.lr": 1})},
        "p.yaml: stages[1].lr: unknown field",
    ),
    (
        "wrong-type",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.1.epochs": "two"})},
        "p.yaml: stages[1].epochs: input should be a valid number",
    ),
    (
        "negative-lr",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.0.learning_rate": -1})},
        "p.yaml: stages[0].learning_rate: input should be greater than 0",
    ),
    (
        "missing-model",
        ["run", "p.yaml"],
        {"p.yaml": "name: x\nstages:\n  - kind: evaluate\n    task: xnli\n"},
        "p.yaml: model: required field is missing",
    ),
    (
        "bad-kind",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.2.kind": "evalute"})},
        "p.yaml: stages[2]: kind must be one of intermediate, target, evaluate, not 'evalute' (did you mean "
        "'evaluate'?)",
    ),
    (
        "unknown-task",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.0.tasks": ["mnlli"]})},
        "p.yaml: stages[0].tasks[0]: unknown task 'mnlli' (did you mean 'mnli'?)",
    ),
    (
        "task-wrong-phase",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.0.tasks": ["xnli"]})},
        "p.yaml: stages[0].tasks[0]: task 'xnli' cannot be used in a intermediate stage",
    ),
    (
        "unknown-language",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.2.languages": ["de", "klingon"]})},
        "p.yaml: stages[2].languages[1]: 'klingon' is not a language of xnli; its languages: "
        + ", ".join(get_task("xnli").languages),
    ),
    (
        "unknown-split",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.2.splits": ["validation"]})},
        "p.yaml: stages[2].splits[0]: input should be 'dev' or 'test'",
    ),
    (
        "evaluate-without-target",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.1": {"kind": "evaluate", "task": "xnli"}})},
        "p.yaml: stages[1].task: evaluating 'xnli' needs a target stage",
    ),
    (
        "duplicate-stage-names",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.1.name": "intermediate"})},
        "p.yaml: stages[1].name: two stages are named 'intermediate'",
    ),
    (
        "name-escapes-run-dir",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(name="../../etc")},
        "p.yaml: name: string should match pattern",
    ),
    (
        "stage-name-escapes",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.0.name": "../x"})},
        "p.yaml: stages[0].name: string should match pattern",
    ),
    (
        "unknown-data-task",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(data={"mnlii": "data/mnli"})},
        "p.yaml: data.mnlii: unknown task (did you mean 'mnli'?)",
    ),
    (
        "missing-data-folder",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(data={"mnli": "nowhere", "xnli": "data/xnli"})},
        "p.yaml: data.mnli: no such folder",
    ),
    (
        "missing-model-folder",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(model="./no-model")},
        "p.yaml: model: no such folder",
    ),
    (
        "unknown-offline-model",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(model="offline/multilingual-e5-smal")},
        "p.yaml: model: unknown offline model 'offline/multilingual-e5-smal' (did you mean",
    ),
    (
        "unknown-mixing-rule",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.0.mixing": "caped"})},
        "p.yaml: stages[0].mixing: unknown mixing rule 'caped' (did you mean 'capped'?)",
    ),
    (
        "mixing-weights-tasks",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.0.mixing_weights": {"qqp": 1}})},
        "p.yaml: stages[0].mixing_weights: give a weight for exactly the stage's tasks",
    ),
    ("set-without-equals", ["run", "ok.yaml", "--set", "seed"], {}, "--set seed: expected key.path=value"),
    ("set-bad-index", ["run", "ok.yaml", "--set", "stages.7.epochs=1"], {}, "--set stages.7: index 7 out of range"),
    # --- stilts run: the data and the model, found while running ---
    (
        "model-without-weights",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(model="empty-model"), "empty-model/config.json": "{}"},
        "empty-model: model folder has no weights",
    ),
    # weights that cannot be loaded are found before any stage trains, not as a traceback in the first
    (
        "model-weights-empty",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(model="zero-model"), "zero-model/config.json": "{}", "zero-model/model.safetensors": b""},
        "zero-model/model.safetensors: empty (0 bytes)",
    ),
    (
        "model-weights-truncated",
        ["run", "p.yaml"],
        {"model/model.safetensors": TRUNCATED_SAFETENSORS},
        "model/model.safetensors: not a whole safetensors file (Error while deserializing header: incomplete "
        "metadata, file not fully covered)",
    ),
    (
        "model-weights-pickled-module",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(model="pickled"), "pickled/config.json": "{}", "pickled/pytorch_model.bin": pickled_module},
        "pickled/pytorch_model.bin: torch will not load it as plain weights (Unsupported global: GLOBAL "
        "torch.nn.modules.linear.Linear",
    ),
    ("empty-train-file", ["run", "p.yaml"], {"data/mnli/multinli_1.0_train.jsonl": ""}, "data.mnli: no train examples"),
    (
        "corrupt-jsonl",
        ["run", "p.yaml"],
        {
            "data/mnli/multinli_1.0_train.jsonl": '{"gold_label": "neutral", "sentence1": "a", "sentence2": "b"}\n'
            "{broken\n"
        },
        "multinli_1.0_train.jsonl: line 2: invalid JSON",
    ),
    (
        "missing-jsonl-field",
        ["run", "p.yaml"],
        {"data/mnli/multinli_1.0_train.jsonl": '{"gold_label": "neutral", "sentence1": "a"}\n'},
        "multinli_1.0_train.jsonl: line 1: missing field sentence2",
    ),
    (
        "label-outside-set",
        ["run", "p.yaml"],
        {"data/xnli/dev-en.tsv": "a\tb\tneutral\nc\td\tparaphrase\n"},
        "dev-en.tsv: line 2: label 'paraphrase' is not one of",
    ),
    (
        "wrong-field-count",
        ["run", "p.yaml"],
        {"data/xnli/test-de.tsv": "a\tb\tneutral\nc\td\n"},
        "test-de.tsv: line 2: expected 3 tab-separated fields",
    ),
    (
        "missing-tsv-column",
        ["run", "p.yaml", "--set", "data.mnli=glue"],
        {"glue/train.tsv": "index\tsentence1\tsentence2\n0\ta\tb\n"},
        "train.tsv: line 1: missing column(s) pairID, gold_label",
    ),
    ("not-utf8", ["run", "p.yaml"], {"data/xnli/dev-fr.tsv": b"caf\xe9\tb\tneutral\n"}, "dev-fr.tsv: not UTF-8 text"),
    # --- stilts sweep ---
    (
        "sweep-unknown-matrix-key",
        ["sweep", "s.yaml"],
        {"s.yaml": "name: s\nmodel: model\nmatrix:\n  target: [xnli]\n  seeds: [1]\n"},
        "s.yaml: matrix.seeds: unknown field",
    ),
    (
        "sweep-unknown-target",
        ["sweep", "s.yaml"],
        {"s.yaml": "name: s\nmodel: model\nmatrix:\n  target: [xnil]\n"},
        "s.yaml: matrix.target: unknown task 'xnil'",
    ),
    (
        "sweep-stage-kind",
        ["sweep", "s.yaml"],
        {"s.yaml": "name: s\nmodel: model\nstages: {pretrain: {epochs: 1}}\nmatrix:\n  target: [xnli]\n"},
        "s.yaml: stages.pretrain: unknown stage kind",
    ),
    (
        "sweep-seed-type",
        ["sweep", "s.yaml"],
        {"s.yaml": "name: s\nmodel: model\nmatrix:\n  target: [xnli]\n  seed: [one]\n"},
        "s.yaml: matrix.seed[0]: input should be a valid integer",
    ),
    # --- stilts table ---
    ("table-missing-file", ["table", "nothere.csv"], {}, "nothere.csv"),
    ("table-missing-columns", ["table", "t.csv"], {"t.csv": "pipeline,target,value\np,xnli,1\n"}, "t.csv"),
    (
        "table-non-numeric",
        ["table", "t.csv"],
        {"t.csv": SCORES_HEADER + "p,none,false,xnli,1,dev,de,accuracy,high\n"},
        "t.csv: line 2",
    ),
    ("table-unknown-target", ["table", "scores.csv", "--per-language", "xnlii"], {}, "did you mean 'xnli'"),
    (
        "table-no-baseline",
        ["table", "t.csv", "--delta"],
        {"t.csv": SCORES_HEADER + "p,mnli,false,xnli,1,dev,de,accuracy,60.0\n"},
        "t.csv",
    ),
    # --- stilts score ---
    (
        "score-unknown-task",
        ["score", "--task", "xnl", "--language", "de", "--gold", "data/xnli/dev-de.tsv", "--predictions", "pred.txt"],
        {"pred.txt": "neutral\n"},
        "did you mean 'xnli'",
    ),
    (
        "score-wrong-count",
        ["score", "--task", "xnli", "--language", "de", "--gold", "data/xnli/dev-de.tsv", "--predictions", "pred.txt"],
        {"pred.txt": "neutral\n"},
        "pred.txt",
    ),
    (
        "score-unknown-label",
        ["score", "--task", "xnli", "--language", "de", "--gold", "data/xnli/dev-de.tsv", "--predictions", "pred.txt"],
        {"pred.txt": "maybe\n" * 4},
        "pred.txt: line 1",
    ),
    (
        "score-qa-not-json",
        ["score", "--task", "xquad", "--language", "de", "--gold", "g.json", "--predictions", "pred.json"],
        {"g.json": json.dumps(SQUAD_GOLD), "pred.json": "{not json"},
        "pred.json: line 1: invalid JSON",
    ),
    # ids that are not gold questions are ignored, as the official scripts do; none matching is refused
    (
        "score-qa-no-gold-id",
        ["score", "--task", "xquad", "--language", "de", "--gold", "g.json", "--predictions", "pred.json"],
        {"g.json": json.dumps(SQUAD_GOLD), "pred.json": json.dumps({"q8": "Berlin", "q9": "x"})},
        "pred.json",
    ),
    (
        "score-gold-missing",
        ["score", "--task", "xnli", "--language", "de", "--gold", "nope.tsv", "--predictions", "pred.txt"],
        {"pred.txt": "neutral\n"},
        "nope.tsv",
    ),
    # --- stilts translate ---
    (
        "translate-qa-refused",
        ["translate", "--task", "squad_v1", "--model", "model", "--to", "de", "--output", "t"],
        {},
        "squad_v1",
    ),
    (
        "translate-unknown-task",
        ["translate", "--task", "hellaswg", "--model", "model", "--to", "de", "--output", "t"],
        {},
        "did you mean 'hellaswag'",
    ),
    (
        "translate-bad-language",
        ["translate", "--task", "mnli", "--model", "model", "--to", "german", "--output", "t"],
        {},
        "german",
    ),
    # --- stilts mlm-corpus ---
    (
        "mlm-corpus-missing-input",
        ["mlm-corpus", "--input", "no-such-folder", "--output", "corpus"],
        {},
        "no-such-folder",
    ),
    (
        "mlm-corpus-unknown-language",
        ["mlm-corpus", "--input", "sentences", "--output", "corpus"],
        {"sentences/klingon-news.txt": "a sentence\n"},
        "klingon-news.txt",
    ),
    (
        "mlm-corpus-not-utf8",
        ["mlm-corpus", "--input", "sentences", "--output", "corpus"],
        {"sentences/de.txt": b"gut\n\xff\xfe kaputt\n"},
        "de.txt: line 2",
    ),
    # --- options and arguments click checks ---
    ("sweep-jobs-not-a-number", ["sweep", "s.yaml", "--jobs", "many"], {}, "stilts sweep: Invalid value for '--jobs'"),
    ("sweep-jobs-zero", ["sweep", "s.yaml", "--jobs", "0"], {}, "--jobs: 0 is not a number of processes"),
    ("run-unknown-option", ["run", "p.yaml", "--epochs", "3"], {}, "stilts run: No such option '--epochs'"),
    # --- stilts models ---
    (
        "models-unknown",
        ["models", "install", "multilingual-e5-smal"],
        {},
        "unknown offline model 'multilingual-e5-smal'",
    ),
]


@pytest.fixture
def workspace(tmp_path, tiny_model, monkeypatch):
    write_tiny_nli(tmp_path / "data", train=16, dev=4)
    shutil.copytree(tiny_model, tmp_path / "model")
    (tmp_path / "ok.yaml").write_text(pipeline())
    (tmp_path / "p.yaml").write_text(pipeline())
    (tmp_path / "scores.csv").write_text(GOOD_SCORES)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STILTS_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_the_table_has_at_least_40_cases():
    assert len(CASES) >= 40
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("name, args, files, expected", CASES, ids=[case[0] for case in CASES])
def test_bad_input(workspace, capsys, name, args, files, expected):
    for relative, content in files.items():
        content = content() if callable(content) else content  # made when the case runs (torch)
        path = workspace / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    code, _, stderr = run_cli(args + (["--output-dir", "out"] if args[0] in ("run", "sweep") else []), capsys)
    assert code == 2, stderr
    # progress bars of stages that ran before the bad input was met also go to stderr
    errors = [line[line.index("error: ") :] for line in stderr.splitlines() if "error: " in line]
    assert len(errors) == 1, stderr
    assert expected in errors[0]
    assert "Traceback" not in stderr and "Usage:" not in stderr
    # bad config and bad data are found before any stage runs: nothing is complete
    assert not list(workspace.glob("out/*/COMPLETE")) and not (workspace / "out" / "scores.csv").exists()


@pytest.mark.parametrize("command", [["run", "p.yaml"], ["run", "p.yaml", "--dry-run"], ["sweep", "s.yaml"]])
def test_bad_data_of_the_last_stage_is_found_before_any_training(workspace, capsys, command):
    """Only the evaluate stage reads XNLI's German test file; its malformed line must stop the run
    before the intermediate and target stages train, and --dry-run must find it too."""
    (workspace / "s.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "s",
                "model": "model",
                "data": {"mnli": "data/mnli", "xnli": "data/xnli"},
                "stages": {"intermediate": GOOD_STAGE, "target": GOOD_STAGE, "evaluate": {"max_examples": 4}},
                "matrix": {"intermediate": ["mnli"], "target": ["xnli"]},
            }
        )
    )
    with open(workspace / "data/xnli/test-de.tsv", "a") as handle:
        handle.write("only one field\n")
    bad_line = len((workspace / "data/xnli/test-de.tsv").read_text().splitlines())
    code, stdout, stderr = run_cli(command + ["--output-dir", "out"], capsys)
    assert code == 2, stderr
    assert f"test-de.tsv: line {bad_line}: expected 3 tab-separated fields" in stderr
    assert "running" not in stdout and not list(workspace.glob("out/*-*"))


def test_messages_and_the_listing_name_a_stage_alike(workspace, capsys):
    """An error names a stage by its place in `stages:` (stages[2], counted from 0 as --set stages.2
    counts); --dry-run lists each stage under the same name, not as [3]."""
    code, stdout, stderr = run_cli(["run", "ok.yaml", "--output-dir", "out", "--dry-run"], capsys)
    assert code == 0, stderr
    assert "  stages[2] evaluate " in stdout and "[3]" not in stdout
    code, _, stderr = run_cli(["run", "ok.yaml", "--output-dir", "out", "--set", "stages.2.languages=[xx]"], capsys)
    assert code == 2 and "stages[2].languages[0]: 'xx' is not a language of xnli" in stderr
