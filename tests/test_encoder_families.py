"""The architecture matrix: a tiny random encoder of each family researchers fine-tune for cross-lingual
transfer (`stilts.testing.encoders`: XLM-R, a large-vocabulary XLM-R, BERT, DeBERTa-v2, ModernBERT,
RemBERT), each with a tokenizer of its kind, runs every task format through `stilts run`, resumes
exactly, trains LoRA and exports; and each family's known trap is handled (docs/encoders.md).

One pipeline per family covers the formats: an intermediate stage mixing pair classification, multiple
choice, span QA and MLM, a LoRA target stage on tagging and single-sentence classification, then
evaluations of tagging and of retrieval pooling.
"""

import contextlib
import csv
import io
import json
import re
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from helpers import run_cli

from stilts import testing as tiny
from stilts.cli import main
from stilts.core.catalog import get_task
from stilts.formats.batching import Batcher
from stilts.formats.tokenize import featurize
from stilts.reports.prediction_files import PREDICTIONS_FOLDER, read_example_rows
from stilts.testing.encoders import FAMILIES
from stilts.training.checkpoints import CheckpointStore
from stilts.training.model import StageModel, load_encoder

pytest.importorskip("peft")

TRAINING = {"learning_rate": 1e-3, "batch_size": 4}
#: families whose input embeddings are narrower than the hidden states: no tied MLM head
NO_MLM = {"rembert"}
#: families peft has no default LoRA modules for: the matrix names their attention projections
LORA_MODULES = {"modernbert": ["Wqkv"], "rembert": ["query", "value"]}
#: what `stilts export` makes of each family's heads: task -> None (exported, logits equal), or the
#: one line that refuses it. DeBERTa classifies through a GELU context pooler; ModernBERT puts a
#: dense + norm head before each classifier, which the export's own comparison of logits catches
REFUSED = "cannot convert exactly"
EXPORTS = {
    "xlm-roberta": {"topics": None, "panx": None},
    "xlm-roberta-large-vocab": {"topics": None, "panx": None},
    "bert": {"topics": None, "panx": None},
    "rembert": {"topics": None, "panx": None},
    "deberta-v2": {"topics": REFUSED, "panx": None},
    "modernbert": {"topics": REFUSED, "panx": "the exported model's logits differ from stilts'"},
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("family-data")
    sentences = folder / "sentences"
    sentences.mkdir()
    shipped = tiny.shipped_sentences()
    (sentences / "en.txt").write_text("".join(f"{s}\n" for s in shipped[:30]), encoding="utf-8")
    with contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit) as done:
        main(["mlm-corpus", "--input", str(sentences), "--sentences", "32", "--dev-sentences", "8",
              "--output", str(folder / "mlm")])  # fmt: skip
    assert done.value.code == 0
    return {
        "mnli": tiny.write_mnli(folder / "mnli", train=8, dev=4),
        "hellaswag": tiny.write_hellaswag(folder / "hellaswag"),
        "squad_v1": tiny.write_squad_folder(folder / "squad1", "1.1", train_copies=1),
        "mlm": folder / "mlm",
        "panx": tiny.write_panx(folder / "panx"),
        "topics": tiny.write_tiny_topics(folder / "topics", train=16, test=8),
        "tatoeba": tiny.write_tatoeba(folder / "tatoeba"),
    }


def _pipeline(path: Path, family: str, model: Path, data: dict) -> Path:
    intermediate = ["mnli", "hellaswag", "squad_v1"] + ([] if family in NO_MLM else ["mlm"])
    peft = {"r": 4, **({"target_modules": LORA_MODULES[family]} if family in LORA_MODULES else {})}
    config = {
        "name": f"matrix-{family}",
        "model": str(model),
        "seed": 1,
        "mixed_precision": "no",
        "data": {task: str(folder) for task, folder in data.items()},
        "stages": [
            dict(kind="intermediate", tasks=intermediate, mixing="uniform", max_steps=12, validate_every=12,
                 **TRAINING),
            dict(kind="target", tasks=["panx", "topics"], mixing="uniform", max_steps=4, validate_every=4,
                 checkpoint_every=1, peft=peft, **TRAINING),
            dict(kind="evaluate", name="evaluate_panx", task="panx"),
            dict(kind="evaluate", name="evaluate_tatoeba", task="tatoeba"),
        ],
    }  # fmt: skip
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@contextlib.contextmanager
def _target_save_fails_once(monkeypatch):
    """The target stage's second checkpoint save raises an I/O error (a full disk), once."""
    real_save = CheckpointStore.save
    saves: list[int] = []

    def save(self, step, progress):
        if "target-" in str(self.folder):
            saves.append(step)
            if len(saves) == 2:
                raise OSError(28, "No space left on device")
        return real_save(self, step, progress)

    monkeypatch.setattr(CheckpointStore, "save", save)
    yield saves
    monkeypatch.setattr(CheckpointStore, "save", real_save)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_format_trains_evaluates_resumes_and_exports(family, tiny_encoders, data, tmp_path, capsys, monkeypatch):
    path = _pipeline(tmp_path / "p.yaml", family, tiny_encoders[family], data)
    out = tmp_path / "out"
    with _target_save_fails_once(monkeypatch) as saves:
        code, stdout, stderr = run_cli(["run", path, "--output-dir", out], capsys)
    assert code == 1 and len(saves) == 2, stdout + stderr
    code, stdout, stderr = run_cli(["run", path, "--output-dir", out], capsys)
    assert code == 0, stdout + stderr
    assert "resuming from step-" in stdout

    (intermediate,) = out.glob("intermediate-*")
    (target,) = out.glob("target-*")
    validations = json.loads((intermediate / "metrics.json").read_text())["training"]["validations"]
    trained = set(validations[-1]["tasks"])
    assert trained == {"mnli", "hellaswag", "squad_v1"} | (set() if family in NO_MLM else {"mlm"})
    for stage, tasks in ((intermediate, trained), (target, {"panx", "topics"})):
        heads = json.loads((stage / "heads" / "heads.json").read_text())
        assert set(heads) == tasks
    with open(out / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["target"] for r in rows} == {"panx", "tatoeba"}
    assert all(0 <= float(r["value"]) <= 100 for r in rows)

    # tagging: one predicted tag per gold word, for every sentence
    (evaluate,) = out.glob("evaluate_panx-*")
    for language in ("en", "de"):
        for row in read_example_rows(evaluate / PREDICTIONS_FOLDER, "dev", language):
            assert len(row["prediction"]) == len(row["gold"]) == len(row["text"]["tokens"])

    # exact resume: the target stage again, uninterrupted, from the same intermediate stage
    again = tmp_path / "again"
    again.mkdir()
    shutil.copytree(intermediate, again / intermediate.name)
    code, stdout, stderr = run_cli(["run", path, "--output-dir", again], capsys)
    assert code == 0, stdout + stderr
    assert (again / "scores.csv").read_text() == (out / "scores.csv").read_text()

    # export: exact where the family's transformers task model takes the head, one line where not
    for task, refusal in EXPORTS[family].items():
        code, stdout, stderr = run_cli(["export", target, "--task", task, "--output", tmp_path / task], capsys)
        if refusal is None:
            assert code == 0, stderr
            difference = float(re.search(r"largest logit difference to stilts: (\S+)\)", stdout).group(1))
            assert difference < 1e-4
        else:
            assert code in (1, 2) and refusal in stderr, stderr
            assert len(stderr.strip().splitlines()) == 1 and not (tmp_path / task).exists()


# --- each family's trap ---------------------------------------------------------------------------


def _refused_before_training(path: Path, out: Path, capsys) -> str:
    code, stdout, stderr = run_cli(["run", path, "--output-dir", out], capsys)
    # progress bars also go to stderr
    errors = [line[line.index("error: ") :] for line in stderr.splitlines() if "error: " in line]
    assert code == 2 and len(errors) == 1 and "Traceback" not in stderr, stdout + stderr
    assert not list(out.glob("*/COMPLETE")) and not list(out.glob("*/checkpoints/step-*"))
    return errors[0]


def _change(path: Path, change) -> None:
    config = yaml.safe_load(path.read_text())
    change(config)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def test_fp16_on_deberta_is_refused_before_training(tiny_encoders, data, tmp_path, capsys):
    path = _pipeline(tmp_path / "p.yaml", "deberta-v2", tiny_encoders["deberta-v2"], data)
    _change(path, lambda config: config.update(mixed_precision="fp16"))
    stderr = _refused_before_training(path, tmp_path / "out", capsys)
    assert f"{path}: mixed_precision: fp16 trains the deberta-v2 model to nothing" in stderr
    assert "set mixed_precision: bf16" in stderr


def test_lora_without_target_modules_where_peft_has_no_default_is_refused_before_training(
    tiny_encoders, data, tmp_path, capsys
):
    path = _pipeline(tmp_path / "p.yaml", "modernbert", tiny_encoders["modernbert"], data)
    _change(path, lambda config: config["stages"][1]["peft"].pop("target_modules"))
    stderr = _refused_before_training(path, tmp_path / "out", capsys)
    assert "stages[1].peft.target_modules: peft has no default modules for the modernbert encoder" in stderr
    assert "Wqkv" in stderr


def test_mlm_on_embeddings_narrower_than_the_hidden_states_is_one_line(tiny_encoders, data, tmp_path, capsys):
    config = {
        "name": "mlm",
        "model": str(tiny_encoders["rembert"]),
        "data": {"mlm": str(data["mlm"])},
        "stages": [dict(kind="intermediate", tasks=["mlm"], max_steps=2, **TRAINING)],
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(config))
    stderr = _refused_before_training(path, tmp_path / "out", capsys)
    assert "the mlm task needs input embeddings as wide as the hidden states" in stderr


@pytest.mark.parametrize("family", FAMILIES)
def test_tagging_reads_words_as_in_running_text_and_gives_their_tags_back(family, tiny_encoders):
    """Word-level alignment for tokenizers that mark word starts differently (ModernBERT's byte-level
    BPE without a prefix space): the words reach the model as the pieces of running text, and the
    tag predicted at each word's first piece comes back for that word."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_encoders[family])
    task = get_task("panx")
    sentences = [[word for word, _ in sentence] for sentence in tiny.ner_sentences(3, 0)]
    gold = [[tag for _, tag in sentence] for sentence in tiny.ner_sentences(3, 0)]
    examples = {"id": ["a", "b", "c"], "tokens": sentences, "tags": gold, "example_index": [0, 1, 2]}
    features = task.format.featurize(examples, tokenizer, task, 64)
    for words, input_ids in zip(sentences, features["input_ids"]):
        assert input_ids == tokenizer(" ".join(words))["input_ids"], tokenizer.convert_ids_to_tokens(input_ids)
    # logits that put each gold tag on its word's first piece give the gold tags back, word by word
    outputs = []
    for labels in features["labels"]:
        logits = torch.zeros(len(labels), len(task.labels))
        for position, label in enumerate(labels):
            if label >= 0:
                logits[position, label] = 1.0
        outputs.append(logits.numpy())
    rows = [{"tokens": words, "tags": tags} for words, tags in zip(sentences, gold)]
    assert task.format.predict(outputs, features, rows, task) == gold


def _outputs(model: StageModel, task_name: str, batch: dict) -> torch.Tensor:
    with torch.inference_mode():
        return model.tasks[task_name].format.forward(model.encoder, model.heads[task_name], batch)[1]


@pytest.mark.parametrize("family", FAMILIES)
def test_an_example_gets_the_same_outputs_alone_and_in_any_batch(family, tiny_encoders, data):
    """Positions and padding: with a tokenizer that pads on the left (as tokenizers of decoder-derived
    vocabularies do), each example's outputs in a padded batch, through the fast padding path and
    through the format's collate, equal its outputs alone, for every family's position scheme
    (RoBERTa's after the padding index, BERT's and RemBERT's absolute, DeBERTa's relative, ModernBERT's
    rotary)."""
    from stilts.data.loading import load_examples

    encoder, tokenizer = load_encoder(str(tiny_encoders[family]))
    tokenizer.padding_side = "left"
    for name in ("topics", "panx"):
        task = get_task(name)
        examples = load_examples(task, "dev", "en", {name: str(data[name])})[:4]
        features = featurize(task, examples, tokenizer, 64, cache=False)
        model = StageModel(encoder, [task]).eval()
        batcher = Batcher(task, features, tokenizer)

        alone = [_outputs(model, name, batcher([i])) for i in range(len(features))]
        batches = [batcher(range(len(features))), task.format.collate(batcher.rows(range(len(features))), tokenizer)]
        for batch in batches:
            together = _outputs(model, name, batch)
            for i, single in enumerate(alone):
                width = single.shape[1] if single.dim() == 3 else None
                mine = together[i, :width] if width else together[i]
                assert torch.allclose(mine, single[0], atol=1e-5), (name, i)


def test_the_docs_name_the_model_of_every_pipeline():
    root = Path(__file__).resolve().parents[1]
    page = (root / "docs" / "encoders.md").read_text()
    for path in sorted((root / "pipelines").glob("*.yaml")):
        model = yaml.safe_load(path.read_text())["model"]
        assert f"| `pipelines/{path.name}` | `{model}` |" in page, path.name
