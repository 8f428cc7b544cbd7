"""Adapter stages (peft): LoRA in intermediate and target stages, handed on merged or kept, exact
resume, frozen weights that stay frozen, and bad settings found before training."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml
from conftest import write_pipeline
from helpers import run_cli

from stilts.training.model import load_encoder

pytest.importorskip("peft")

TRAINING = {"learning_rate": 3e-3, "batch_size": 16, "epochs": 2, "validate_every": 4}


def _pipeline(path, tiny_model, tiny_nli, intermediate_peft, target_peft, name="lora", **training):
    peft = {kind: {"peft": block} for kind, block in (("intermediate", intermediate_peft), ("target", target_peft))}
    return write_pipeline(path, tiny_model, tiny_nli, name=name, stage_settings=peft, **dict(TRAINING, **training))


def _hidden(encoder, tokenizer):
    inputs = tokenizer(["a cat sat on the mat", "dogs run fast"], return_tensors="pt", padding=True)
    with torch.inference_mode():
        return encoder.eval()(**inputs).last_hidden_state


@pytest.fixture(scope="module")
def kept_then_merged(tmp_path_factory, tiny_model, tiny_nli):
    """A pipeline whose intermediate stage keeps its adapter and whose target stage merges its own."""
    folder = tmp_path_factory.mktemp("peft")
    path = _pipeline(folder / "p.yaml", tiny_model, tiny_nli, {"r": 4, "on_end": "keep"}, {"r": 4, "alpha": 16})
    out = folder / "out"
    from stilts.cli import main

    with pytest.raises(SystemExit) as done:
        main(["run", str(path), "--output-dir", str(out)])
    assert done.value.code == 0
    return path, out


@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")  # peft asks it
def test_keep_hands_on_the_adapter_and_merge_a_plain_encoder(kept_then_merged, tiny_model):
    from peft import PeftModel
    from transformers import AutoModel, AutoTokenizer

    _, out = kept_then_merged
    (intermediate,) = out.glob("intermediate-*")
    (target,) = out.glob("target-*")
    # keep: model/ is the adapter alone (a few kB here), on the encoder it started from
    kept = json.loads((intermediate / "model" / "adapter_config.json").read_text())
    assert kept["base_model_name_or_path"] == str(tiny_model) and kept["r"] == 4
    assert not (intermediate / "model" / "model.safetensors").exists()
    metrics = json.loads((intermediate / "metrics.json").read_text())["peft"]
    assert 0 < metrics["trainable_parameters"] < metrics["parameters"] / 10
    # merge: model/ is a plain encoder that AutoModel loads, and adapter/ is peft's own format
    merged = AutoModel.from_pretrained(target / "model")
    tokenizer = AutoTokenizer.from_pretrained(target / "model")
    start, _ = load_encoder(str(intermediate / "model"))  # the target's input: base + kept adapter
    unmerged = PeftModel.from_pretrained(start, str(target / "adapter"))
    assert torch.allclose(_hidden(merged, tokenizer), _hidden(unmerged, tokenizer), atol=1e-5)
    # the encoder's own weights are frozen: only the adapted modules (query, value) changed
    start, _ = load_encoder(str(intermediate / "model"))
    before, after = start.state_dict(), merged.state_dict()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and all(".query." in name or ".value." in name for name in changed), sorted(changed)[:5]
    base, _ = load_encoder(str(tiny_model))
    kept_encoder, _ = load_encoder(str(intermediate / "model"))
    assert not torch.equal(
        base.state_dict()["encoder.layer.0.attention.self.query.weight"],
        kept_encoder.state_dict()["encoder.layer.0.attention.self.query.weight"],
    )
    assert torch.equal(
        base.state_dict()["embeddings.word_embeddings.weight"],
        kept_encoder.state_dict()["embeddings.word_embeddings.weight"],
    )
    assert (out / "scores.csv").read_text().count("\n") == 1 + 6


def test_adapter_settings_are_fingerprinted(kept_then_merged, tiny_model, tiny_nli, tmp_path, capsys):
    path, _ = kept_then_merged
    code, stdout, _ = run_cli(["run", path, "--output-dir", tmp_path / "a", "--dry-run"], capsys)
    code, other, _ = run_cli(
        ["run", path, "--output-dir", tmp_path / "a", "--dry-run", "--set", "stages.target.peft.r=8"], capsys
    )
    assert code == 0 and "peft: {" in stdout
    folders = [line.split()[3] for line in stdout.splitlines() if line.startswith("  stages[")]
    other_folders = [line.split()[3] for line in other.splitlines() if line.startswith("  stages[")]
    assert folders[0] == other_folders[0] and folders[1] != other_folders[1]


@pytest.mark.parametrize(
    "change, message",
    [
        (
            "stages.target.peft.target_modules=[qkv]",
            "stages[1].peft.target_modules: the xlm-roberta encoder has no module 'qkv'",
        ),
        ("stages.target.peft.r=0", "stages[1].peft.r: input should be greater than 0 (got 0)"),
        ("stages.target.peft.method=prefix", "stages[1].peft.method: input should be 'lora'"),
        ("stages.evaluate.peft={r: 4}", "stages[2].peft: unknown field"),
    ],
)
def test_bad_adapter_settings_are_one_line_before_training(kept_then_merged, tmp_path, capsys, change, message):
    path, _ = kept_then_merged
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(["run", path, "--output-dir", out, "--set", change], capsys)
    assert code == 2 and message in stderr and len(stderr.strip().splitlines()[-1:]) == 1, stderr
    assert "running ->" not in stdout  # found before the first stage started


def test_a_killed_adapter_stage_resumes_to_the_same_scores(tiny_model, tiny_nli, tmp_path, capsys):
    path = _pipeline(
        tmp_path / "p.yaml", tiny_model, tiny_nli, {"r": 4}, {"r": 4}, epochs=4, checkpoint_every=2, batch_size=8
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1")

    def command(out):
        return [sys.executable, "-m", "stilts", "run", str(path), "--output-dir", str(out)]

    code, _, stderr = run_cli(["run", path, "--output-dir", tmp_path / "whole"], capsys)  # the reference, here
    assert code == 0, stderr
    out = tmp_path / "killed"
    process = subprocess.Popen(command(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("target-*/checkpoints/step-*/progress.json")):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not list(out.glob("target-*/COMPLETE")), "the target stage finished before it was killed"
    resumed = subprocess.run(command(out), capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from step-" in resumed.stdout
    assert (out / "scores.csv").read_text() == (tmp_path / "whole" / "scores.csv").read_text()


def test_a_sweep_with_adapter_stages(tiny_model, tiny_nli, tmp_path, capsys):
    config = {
        "name": "lora_grid",
        "model": str(tiny_model),
        "data": {task: str(folder) for task, folder in tiny_nli.items()},
        "stages": {
            "intermediate": dict(TRAINING, peft={"r": 4, "on_end": "keep"}),
            "target": dict(TRAINING, peft={"r": 4}),
            "evaluate": {"max_examples": 8},
        },
        "matrix": {"intermediate": ["none", "mnli"], "target": ["xnli"], "seed": [1, 2]},
    }
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(config))
    code, stdout, stderr = run_cli(["sweep", path, "--output-dir", tmp_path / "out"], capsys)
    assert code == 0, stderr
    assert "sweep lora_grid: 4 done, 0 reused (already complete), 0 failed" in stdout
    assert stdout.count("lora adapter:") == 2 + 4  # 2 intermediate stages (2 seeds), 4 target stages
    assert len(list((tmp_path / "out").glob("*/adapter/adapter_model.safetensors"))) == 6


def test_a_kept_adapter_exports_merged(kept_then_merged, tmp_path, capsys):
    from transformers import AutoModelForSequenceClassification

    _, out = kept_then_merged
    (intermediate,) = out.glob("intermediate-*")
    code, stdout, stderr = run_cli(["export", intermediate, "--output", tmp_path / "mnli-model"], capsys)
    assert code == 0 and "with 3 labels" in stdout, stderr
    assert not (tmp_path / "mnli-model" / "adapter_config.json").exists()  # a plain task model
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "mnli-model")
    assert model.config.id2label == {0: "entailment", 1: "neutral", 2: "contradiction"}


def test_a_peft_block_without_peft_installed_is_one_line(kept_then_merged, capsys, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "peft" else find_spec(name, *a))
    path, _ = kept_then_merged
    code, _, stderr = run_cli(["run", path, "--dry-run"], capsys)
    assert code == 2 and 'stages[0].peft: needs the peft package: pip install -e ".[peft]"' in stderr
