"""Bad input across the commands: each case gives exit 2, one line on stderr that names the file and
the field or line, no traceback, and no stage marked complete.

Each case is (command line, files to write, what the message must contain). Paths are relative to a
fresh folder that also holds a working tiny pipeline (`ok.yaml`), tiny NLI data (`data/`), the tiny
model (`model/`) and a valid `scores.csv`, so that each case breaks exactly one thing.
"""

import json
import shutil
import struct

import pytest
import yaml
from helpers import run_cli

from stilts.core.catalog import get_task
from stilts.testing import write_tiny_nli
from stilts.training.model import load_tokenizer

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


def squad_train(*answers) -> str:
    """A SQuAD v1.1 training file of one paragraph, one question per answer (``text``, ``answer_start``)."""
    context = "Sie lebt in Berlin."
    qas = [
        {"id": f"q{number}", "question": "Wo?", "answers": [{"text": text, "answer_start": start}]}
        for number, (text, start) in enumerate(answers, start=1)
    ]
    return json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}]})


def one_stage(kind_and_task: dict, data: dict, model: str = "model") -> str:
    """A pipeline of one training stage (``{"kind": ..., "task"/"tasks": ...}``) on ``data``."""
    stage = {**kind_and_task, **GOOD_STAGE}
    return yaml.safe_dump({"name": "bad", "model": model, "seed": 1, "data": data, "stages": [stage]})


SQUAD_PIPELINE = one_stage({"kind": "intermediate", "tasks": ["squad_v1"]}, {"squad_v1": "squad"})
TOPICS_PIPELINE = one_stage({"kind": "target", "task": "topics"}, {"topics": "topics"})
#: an anchored value that holds an alias of itself (safe_load builds a list that contains itself)
RECURSIVE = "name: x\nstages: &stages\n  - kind: evaluate\n    task: *stages\n"
#: "billion laughs": each level lists the one before ten times, 10^8 values in 511 bytes
LAUGHS = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 10)}]\n" for level in range(1, 9)
)

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
        "p.yaml: stages[2]: kind must be one of intermediate, target, evaluate, average, few_shot, translate_test, "
        "not 'evalute' (did you mean 'evaluate'?)",
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
        "multinli_1.0_train.jsonl: line 1: missing field 'sentence2'",
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
        "translate-tagging-refused",
        ["translate", "--task", "panx", "--model", "model", "--to", "de", "--output", "t"],
        {},
        "cannot translate 'panx'",
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
    # --- issue 29: data files and models ---
    # a file is labelled or not as a whole: one empty label would score its row as wrong
    (
        "one-empty-label",
        ["run", "p.yaml"],
        {"data/xnli/dev-de.tsv": "a\tb\tneutral\nc\td\t\n"},
        "dev-de.tsv: line 2: no label, but line 1 has one",
    ),
    # every field a reader keeps is type-checked (JSON types named as JSON names them)
    (
        "jsonl-label-not-a-string",
        ["run", "p.yaml"],
        {"data/mnli/multinli_1.0_train.jsonl": '{"gold_label": 1, "sentence1": "a", "sentence2": "b"}\n'},
        "multinli_1.0_train.jsonl: line 1: field 'gold_label' should be a string, found a number",
    ),
    (
        "jsonl-null-sentence",
        ["run", "p.yaml"],
        {"data/mnli/multinli_1.0_train.jsonl": '{"gold_label": "neutral", "sentence1": null, "sentence2": "b"}\n'},
        "multinli_1.0_train.jsonl: line 1: field 'sentence1' should be a string, found null",
    ),
    (
        "squad-answer-start-bool",
        ["run", "p.yaml"],
        {"p.yaml": SQUAD_PIPELINE, "squad/train-v1.1.json": squad_train(("Berlin", True))},
        "train-v1.1.json: data[0].paragraphs[0].qas[0].answers[0].answer_start: 'answer_start' should be an integer, "
        "found true",
    ),
    # SQuAD training answers: offsets outside the context are bad lines; texts not at their offset are
    # skipped and counted (as XTREME's preprocessing skips them), an error when they are most of the file
    (
        "squad-answer-beyond-context",
        ["run", "p.yaml"],
        {"p.yaml": SQUAD_PIPELINE, "squad/train-v1.1.json": squad_train(("Berlin", 12), ("Berlin", 40))},
        "train-v1.1.json: question 'q2': answer_start 40 is outside the context (19 characters)",
    ),
    (
        "squad-answer-negative",
        ["run", "p.yaml"],
        {"p.yaml": SQUAD_PIPELINE, "squad/train-v1.1.json": squad_train(("Berlin", -3))},
        "train-v1.1.json: question 'q1': answer_start -3 is outside the context",
    ),
    (
        "squad-most-answers-not-found",
        ["run", "p.yaml"],
        {
            "p.yaml": SQUAD_PIPELINE,
            "squad/train-v1.1.json": squad_train(("Berlin", 12), ("Berlin", 4), ("lebt", 0), ("", 3)),
        },
        "train-v1.1.json: 3 of 4 training questions with no answer at the answer_start given (first: question 'q2')",
    ),
    # a second tab in a label<TAB>text line would end up inside the text
    (
        "label-text-extra-tab",
        ["run", "p.yaml"],
        {"p.yaml": TOPICS_PIPELINE, "topics/train-en.tsv": "sports\tthe team won\nfood\twe cooked\trice\n"},
        "train-en.tsv: line 2: expected 'label<TAB>text', found 3 tab-separated field(s)",
    ),
    # transformers builds a tokenizer of 5 special tokens from tokenizer_config.json alone
    (
        "model-without-tokenizer",
        ["run", "p.yaml"],
        {
            "p.yaml": pipeline(model="notok"),
            "notok/config.json": json.dumps({"model_type": "xlm-roberta"}),
            # a whole safetensors file of no tensors: the weights pass their check, the tokenizer is next
            "notok/model.safetensors": struct.pack("<Q", 8) + b"{}      ",
            "notok/tokenizer_config.json": json.dumps({"tokenizer_class": "XLMRobertaTokenizer"}),
        },
        "notok: the tokenizer reads text as unknown tokens only",
    ),
    # --- issue 29: config and command line ---
    # a language the stage names but the data lacks (only "every language" may skip one)
    (
        "languages-missing-in-data",
        ["run", "p.yaml"],
        {
            "p.yaml": pipeline(data={"mnli": "data/mnli", "xnli": "xnli-de"}, **{"stages.2.languages": ["de", "fr"]}),
            "xnli-de/dev-de.tsv": "a\tb\tneutral\n",
            "xnli-de/test-de.tsv": "a\tb\tneutral\n",
        },
        "p.yaml: stages[2].languages[1]: 'fr' has no dev data in",
    ),
    (
        "sweep-tasks-typo",
        ["sweep", "s.yaml"],
        {"s.yaml": "name: s\nmodel: model\ntasks: {xnil: {epochs: 1}}\nmatrix:\n  target: [xnli]\n"},
        "s.yaml: tasks.xnil: unknown task 'xnil' (did you mean 'xnli'?)",
    ),
    ("yaml-recursive-alias", ["run", "p.yaml"], {"p.yaml": RECURSIVE}, "p.yaml: line 2: the value anchored here"),
    (
        "yaml-recursive-alias-dry-run",
        ["run", "p.yaml", "--dry-run"],
        {"p.yaml": RECURSIVE},
        "p.yaml: line 2: the value anchored here contains an alias of itself",
    ),
    ("yaml-billion-laughs", ["run", "p.yaml"], {"p.yaml": LAUGHS}, "p.yaml: line 5: this value holds more than"),
    (
        "yaml-billion-laughs-dry-run",
        ["run", "p.yaml", "--dry-run"],
        {"p.yaml": LAUGHS},
        "p.yaml: line 5: this value holds more than 100,000 values once its aliases are expanded",
    ),
    (
        "yaml-brackets-too-deep",
        ["run", "p.yaml"],
        {"p.yaml": "a: " + "[" * 500 + "]" * 500},
        "p.yaml: line 1: brackets nested more than 100 deep",
    ),
    ("seed-past-numpy", ["run", "p.yaml"], {"p.yaml": pipeline(seed=2**32)}, "p.yaml: seed: input should be less than"),
    ("seed-negative", ["run", "p.yaml"], {"p.yaml": pipeline(seed=-1)}, "p.yaml: seed: input should be greater than"),
    (
        "max-length-huge",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.1.max_length": 10**20})},
        "p.yaml: stages[1].max_length: input should be less than or equal to 65536",
    ),
    (
        "max-length-past-the-model",
        ["run", "p.yaml", "--dry-run"],
        {"p.yaml": pipeline(**{"stages.2.max_length": 513})},
        "p.yaml: stages[2].max_length: 513 is longer than the xlm-roberta model takes (512 tokens",
    ),
    (
        "layer-past-the-model",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.2.layer": 3})},
        "p.yaml: stages[2].layer: 3 is past the last layer of the xlm-roberta encoder (2 layers",
    ),
    (
        "lora-rank-past-the-model",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.1.peft": {"r": 65}})},
        "p.yaml: stages[1].peft.r: 65 is above the hidden size of the xlm-roberta encoder (64)",
    ),
    (
        "epochs-inf",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.1.epochs": float("inf")})},
        "p.yaml: stages[1].epochs: input should be a finite number",
    ),
    (
        "learning-rate-inf",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.0.learning_rate": float("inf")})},
        "p.yaml: stages[0].learning_rate: input should be a finite number",
    ),
    (
        "learning-rate-nan",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.1.learning_rate": float("nan")})},
        "p.yaml: stages[1].learning_rate: input should be a finite number",
    ),
    (
        "learning-rate-huge",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.1.learning_rate": 1e300})},
        "p.yaml: stages[1].learning_rate: input should be less than or equal to 1",
    ),
    (
        "weight-decay-inf",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.1.weight_decay": float("inf")})},
        "p.yaml: stages[1].weight_decay: input should be a finite number",
    ),
    (
        "batch-size-huge",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.2.batch_size": 10**20})},
        "p.yaml: stages[2].batch_size: input should be less than or equal to 2147483647",
    ),
    (
        "gradient-accumulation-huge",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.1.gradient_accumulation_steps": 10**20})},
        "p.yaml: stages[1].gradient_accumulation_steps: input should be less than or equal to 2147483647",
    ),
    (
        "mixing-weights-zero",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.0.mixing": "weights", "stages.0.mixing_weights": {"mnli": 0}})},
        "p.yaml: stages[0].mixing_weights: the weights sum to 0",
    ),
    (
        "mixing-weights-inf",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.0.mixing": "weights", "stages.0.mixing_weights": {"mnli": float("inf")}})},
        "p.yaml: stages[0].mixing_weights.mnli: input should be a finite number",
    ),
    (
        "language-ratio-inf",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.1.language_ratios": {"en": float("inf")}})},
        "p.yaml: stages[1].language_ratios.en: input should be a finite number",
    ),
    # booleans are not numbers (YAML reads yes as true; pydantic would take it as 1)
    (
        "max-steps-true",
        ["run", "p.yaml"],
        {"p.yaml": pipeline().replace("max_steps: 1", "max_steps: true", 1)},
        "p.yaml: stages[0].max_steps: expected a number, got true",
    ),
    (
        "batch-size-yes",
        ["run", "p.yaml"],
        {"p.yaml": pipeline().replace("batch_size: 8", "batch_size: yes", 1)},
        "p.yaml: stages[0].batch_size: expected a number, got true",
    ),
    (
        "learning-rate-true",
        ["run", "p.yaml"],
        {"p.yaml": pipeline(**{"stages.1.learning_rate": True})},
        "p.yaml: stages[1].learning_rate: expected a number, got true",
    ),
    (
        "sweep-seed-true",
        ["sweep", "s.yaml"],
        {"s.yaml": "name: s\nmodel: model\nmatrix:\n  target: [xnli]\n  seed: [true]\n"},
        "s.yaml: matrix.seed[0]: expected a number, got true",
    ),
    (
        "slurm-gpus-true",
        ["sweep", "s.yaml", "--dry-run", "--submit", "slurm"],
        {"s.yaml": "name: s\nmodel: model\nslurm: {gpus_per_job: true}\nmatrix:\n  target: [xnli]\n"},
        "s.yaml: slurm.gpus_per_job: expected a number, got true",
    ),
    # said twice
    (
        "set-duplicate-key",
        ["run", "ok.yaml", "--set", "stages.0={a: 1, a: 2}"],
        {},
        "--set stages.0: line 1: duplicate key 'a' (first given on line 1)",
    ),
    (
        "sweep-seed-twice",
        ["sweep", "s.yaml"],
        {"s.yaml": "name: s\nmodel: model\nmatrix:\n  target: [xnli]\n  seed: [1, 1]\n"},
        "s.yaml: matrix.seed: 1 is listed twice",
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


def test_a_model_folder_without_its_vocabulary_is_refused_before_any_stage(workspace, capsys):
    """Without tokenizer.json transformers builds a tokenizer of 5 special tokens from tokenizer_config.json
    and every text becomes <unk>: stages would train and evaluate on nothing, with plausible scores."""
    shutil.copytree(workspace / "model", workspace / "no-vocabulary")
    (workspace / "no-vocabulary" / "tokenizer.json").unlink()
    (workspace / "p.yaml").write_text(pipeline(model="no-vocabulary"))
    code, stdout, stderr = run_cli(["run", "p.yaml", "--output-dir", "out"], capsys)
    assert code == 2, stderr
    assert "Traceback" not in stderr
    assert [line[line.index("error: ") :] for line in stderr.splitlines() if "error: " in line] == [
        f"error: {workspace / 'no-vocabulary'}: the tokenizer reads text as unknown tokens only ('The cat sleeps "
        "in the garden.' becomes <unk> <unk> <unk> <unk> <unk> <unk>): the folder has no tokenizer.json (nor another "
        "vocabulary file such as sentencepiece.bpe.model or vocab.txt): copy the tokenizer files of the model it was "
        "saved from"
    ]
    assert "running" not in stdout and not list(workspace.glob("out/*-*"))
    load_tokenizer(str(workspace / "model"))  # the folder it was copied from reads every script of the check


def _without_french(workspace):
    """XNLI data with German and English files only, and a sweep over it that names both languages."""
    for split in ("dev", "test"):
        (workspace / f"data/xnli/{split}-fr.tsv").unlink()
    (workspace / "s.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "s",
                "model": "model",
                "data": {"mnli": "data/mnli", "xnli": "data/xnli"},
                "stages": {"intermediate": GOOD_STAGE, "target": GOOD_STAGE, "evaluate": {"languages": ["de", "fr"]}},
                "matrix": {"intermediate": ["mnli"], "target": ["xnli"]},
            }
        )
    )


@pytest.mark.parametrize(
    "command",
    [
        ["run", "p.yaml", "--set", "stages.2.languages=[de,fr]"],
        ["run", "p.yaml", "--dry-run", "--set", "stages.2.languages=[de,fr]"],
        ["sweep", "s.yaml"],
        ["sweep", "s.yaml", "--dry-run"],
    ],
)
def test_a_named_language_the_data_lacks_is_refused_before_any_training(workspace, capsys, command):
    """`languages: [de, fr]` without French files evaluated German alone, and its average was German's;
    only the implicit every-language evaluation may leave a language out. The message lists the
    languages the files have."""
    _without_french(workspace)
    code, stdout, stderr = run_cli(command + ["--output-dir", "out"], capsys)
    assert code == 2, stderr
    (line,) = [line for line in stderr.splitlines() if "error: " in line]
    assert "stages[2].languages[1]: 'fr' has no dev data in" in line
    assert line.endswith("(its dev data is in: de, en); leave it out of languages, or add its data")
    assert "running" not in stdout and not list(workspace.glob("out/*-*"))
    # without languages, the evaluation is of the languages the data has
    if command[0] == "run":
        code, _, stderr = run_cli(["run", "p.yaml", "--dry-run", "--output-dir", "out"], capsys)
        assert code == 0, stderr


def test_a_named_language_found_missing_while_evaluating_stops_the_stage(workspace, capsys, monkeypatch):
    """Where the data could not be read before the stages ran (a Hub split found missing only when the
    evaluation reads it; here the check is skipped), the evaluation stops there, not completing with an
    average that leaves the language out."""
    import stilts.pipeline.preflight

    _without_french(workspace)
    monkeypatch.setattr(stilts.pipeline.preflight, "check_data", lambda plans, log: 0)
    code, _, stderr = run_cli(["run", "p.yaml", "--output-dir", "out", "--set", "stages.2.languages=[de,fr]"], capsys)
    assert code == 2, stderr
    assert "stages[2].languages[1]: 'fr' has no dev data in" in stderr and "Traceback" not in stderr
    assert len(list(workspace.glob("out/*/COMPLETE"))) == 2  # the intermediate and target stages
    assert not list(workspace.glob("out/evaluate-*/COMPLETE")) and not (workspace / "out/scores.csv").exists()


@pytest.mark.parametrize(
    "command",
    [["run", "p.yaml"], ["run", "p.yaml", "--dry-run"], ["sweep", "s.yaml"], ["sweep", "s.yaml", "--dry-run"]],
)
def test_an_output_dir_under_a_file_is_bad_input_naming_the_option(workspace, capsys, command):
    (workspace / "s.yaml").write_text("name: s\nmodel: model\ndata: {xnli: data/xnli}\nmatrix: {target: [xnli]}\n")
    (workspace / "notes.txt").write_text("a file, not a folder\n")
    code, _, stderr = run_cli(command + ["--output-dir", "notes.txt/runs"], capsys)
    assert code == 2, stderr
    assert stderr.strip().splitlines()[-1] == (
        f"error: --output-dir notes.txt/runs: {workspace / 'notes.txt'} is a file, not a folder"
    )
    assert (workspace / "notes.txt").read_text() == "a file, not a folder\n"


def test_a_file_named_runs_in_the_way_of_the_default_run_folder_says_so(workspace, capsys):
    (workspace / "runs").write_text("")
    code, _, stderr = run_cli(["run", "p.yaml", "--dry-run"], capsys)
    assert code == 2, stderr
    assert f"{workspace / 'runs'} is a file, not a folder" in stderr and "--output-dir" in stderr
