"""`stilts export`: each format's stage becomes the matching transformers task model, whose logits
equal stilts' own, which `transformers.pipeline` runs, with labels and a model card; heads without
an exact standard counterpart are refused in one line."""

import json
from pathlib import Path

import pytest
import torch
import yaml
from helpers import run_cli
from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel, pipeline

from stilts import testing as tiny
from stilts.core.catalog import get_task
from stilts.training.export import model_card
from stilts.training.model import HEADS_FOLDER, StageModel, load_encoder, load_head

TRAINING = {"learning_rate": 3e-3, "batch_size": 4, "max_steps": 3, "validate_every": 100}
TEXTS = ["the cat sleeps in the garden", "die Katze schläft nicht, sagt mein Bruder"]


def _run(tmp_path, model, data, stages, capsys, name="export"):
    config = {"name": name, "model": str(model), "data": {k: str(v) for k, v in data.items()}, "stages": stages}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    code, _, stderr = run_cli(["run", path, "--output-dir", tmp_path / "run"], capsys)
    assert code == 0, stderr
    return tmp_path / "run"


def _stilts_logits(stage_dir, task_name):
    task = get_task(task_name)
    encoder, tokenizer = load_encoder(str(stage_dir / "model"))
    model = StageModel(encoder, [task]).eval()
    load_head(model, task, stage_dir / HEADS_FOLDER)
    batch = dict(tokenizer(TEXTS, padding=True, return_tensors="pt"))
    with torch.inference_mode():
        return task.format.forward(model.encoder, model.heads[task_name], batch)[1], batch


def _exported_logits(folder, auto_class, batch):
    import transformers

    model = getattr(transformers, auto_class).from_pretrained(folder).eval()
    with torch.inference_mode():
        outputs = model(**batch)
    if auto_class == "AutoModelForQuestionAnswering":
        return torch.stack([outputs.start_logits, outputs.end_logits], dim=-1)
    return outputs.logits


def test_classification_exports_with_labels_and_a_model_card(tmp_path, tiny_model, tiny_nli, capsys, monkeypatch):
    run = _run(
        tmp_path,
        tiny_model,
        tiny_nli,
        [
            dict(kind="intermediate", tasks=["mnli"], **TRAINING),
            dict(kind="target", task="xnli", **TRAINING),
            dict(kind="evaluate", task="xnli", languages=["en", "de"]),
        ],
        capsys,
    )
    (stage,) = run.glob("target-*")
    (intermediate,) = run.glob("intermediate-*")
    # the README's form: a path relative to where the user is, not the absolute one the run recorded
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = run_cli(["export", f"run/{stage.name}", "--output", "xnli-model"], capsys)
    assert code == 0, stderr
    assert "XLMRobertaForSequenceClassification with 3 labels" in stdout
    ours, batch = _stilts_logits(stage, "xnli")
    theirs = _exported_logits(tmp_path / "xnli-model", "AutoModelForSequenceClassification", batch)
    assert torch.allclose(ours, theirs, atol=1e-5) and ours.abs().sum() > 0
    classify = pipeline("text-classification", model=str(tmp_path / "xnli-model"))
    predicted = classify("Ein Satz.")[0]
    assert predicted["label"] in ("entailment", "neutral", "contradiction")
    card = (tmp_path / "xnli-model" / "README.md").read_text()
    assert "pipeline_tag: text-classification" in card and "| en |" in card and "| de |" in card
    # the stages it was trained in, the intermediate one included, from the local model (no base_model)
    assert f"1. intermediate stage `{intermediate.name}`: mnli" in card
    assert f"2. target stage `{stage.name}`: xnli (this model)" in card
    assert f"the local model `{tiny_model}`" in card and "base_model:" not in card

    # a run from a Hub model or an offline copy of one: the card's metadata names it as base_model
    config = json.loads((intermediate / "config.json").read_text())
    for model, sha, base in [
        ("FacebookAI/xlm-roberta-base", "e" * 40, "FacebookAI/xlm-roberta-base"),
        ("offline/multilingual-e5-small", None, "intfloat/multilingual-e5-small"),
    ]:
        (intermediate / "config.json").write_text(json.dumps(dict(config, model=model, model_sha=sha)))
        card = model_card(Path("run") / stage.name, "xnli", "AutoModelForSequenceClassification", [])
        assert f"\nbase_model: {base}\n" in card.split("---")[1], card


def test_a_bert_architecture_maps_the_head_onto_its_pooler(tmp_path, tiny_model, tiny_nli, capsys):
    """multilingual-e5-small is a BERT: its classification head is BERT's pooler plus classifier."""
    xlmr = AutoModel.from_pretrained(tiny_model).config
    bert = tmp_path / "tiny-bert"
    torch.manual_seed(0)
    BertModel(
        BertConfig(
            vocab_size=xlmr.vocab_size,
            hidden_size=xlmr.hidden_size,
            num_hidden_layers=xlmr.num_hidden_layers,
            num_attention_heads=xlmr.num_attention_heads,
            intermediate_size=xlmr.intermediate_size,
            pad_token_id=xlmr.pad_token_id,
        )
    ).save_pretrained(bert)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(bert)
    run = _run(tmp_path, bert, tiny_nli, [dict(kind="target", task="xnli", **TRAINING)], capsys)
    (stage,) = run.glob("target-*")
    code, stdout, stderr = run_cli(["export", stage, "--output", tmp_path / "out"], capsys)
    assert code == 0 and "BertForSequenceClassification" in stdout, stderr
    ours, batch = _stilts_logits(stage, "xnli")
    theirs = _exported_logits(tmp_path / "out", "AutoModelForSequenceClassification", batch)
    assert torch.allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize(
    "task, data, auto_class, pipeline_task",
    [
        ("panx", lambda f: {"panx": tiny.write_panx(f / "panx")}, "AutoModelForTokenClassification", "ner"),
        (
            "squad_v1",
            lambda f: {"squad_v1": tiny.write_squad_folder(f / "squad1", "1.1", train_copies=1)},
            "AutoModelForQuestionAnswering",
            None,  # transformers 5 removed the question-answering pipeline
        ),
    ],
)
def test_tagging_and_span_qa_export(tmp_path, tiny_model, capsys, task, data, auto_class, pipeline_task):
    kind = "target" if task == "panx" else "intermediate"
    stage = dict(kind=kind, **({"task": task} if kind == "target" else {"tasks": [task]}), **TRAINING)
    run = _run(tmp_path, tiny_model, data(tmp_path), [stage], capsys)
    (folder,) = run.glob(f"{kind}-*")
    code, stdout, stderr = run_cli(["export", folder, "--output", tmp_path / "out"], capsys)
    assert code == 0, stderr
    ours, batch = _stilts_logits(folder, task)
    theirs = _exported_logits(tmp_path / "out", auto_class, batch)
    assert torch.allclose(ours, theirs, atol=1e-5)
    if pipeline_task:
        entities = pipeline(pipeline_task, model=str(tmp_path / "out"))("Angela Merkel lebt in Berlin.")
        labels = set(get_task(task).labels)
        assert all(entity["entity"] in labels for entity in entities)


def test_heads_without_an_exact_counterpart_are_refused(tmp_path, tiny_model, capsys):
    stage = dict(kind="intermediate", tasks=["hellaswag"], **TRAINING)
    run = _run(tmp_path, tiny_model, {"hellaswag": tiny.write_hellaswag(tmp_path / "hellaswag")}, [stage], capsys)
    (folder,) = run.glob("intermediate-*")
    code, _, stderr = run_cli(["export", folder, "--output", tmp_path / "out"], capsys)
    assert code == 2 and "cannot convert exactly to AutoModelForMultipleChoice" in stderr
    assert len(stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
    code, _, stderr = run_cli(["export", tmp_path / "nowhere", "--output", tmp_path / "out"], capsys)
    assert code == 2 and "no such stage folder" in stderr
