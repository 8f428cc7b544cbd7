"""How stilts meets its device (stilts.training.devices): the precision settings, evaluation under the
Accelerator's autocast, evaluation batch sizes. What can be checked without a GPU; tests/test_gpu.py
runs the CUDA side."""

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import xnli_dev_features

from stilts.core.errors import BadInput
from stilts.training.devices import evaluation_batch_size, make_accelerator, mixed_precision_for, set_matmul_precision


def test_evaluation_runs_in_the_accelerators_precision(tiny_model, tiny_nli, fresh_accelerator_state):
    """An evaluate stage's model is not prepared by Accelerate (it is not trained), so only an explicit
    autocast makes it run in the run's precision: bf16 here, on the CPU, as it would on a GPU."""
    from accelerate.state import AcceleratorState

    from stilts.training.evaluation import predict_outputs

    task, model, tokenizer, _, features = xnli_dev_features(tiny_model, tiny_nli)
    dtypes: list[torch.dtype] = []
    linear = next(module for module in model.encoder.modules() if isinstance(module, torch.nn.Linear))
    linear.register_forward_hook(lambda module, inputs, output: dtypes.append(output.dtype))

    full = predict_outputs(make_accelerator("no", cpu=True), model, task, features, tokenizer, 8)
    assert dtypes and set(dtypes) == {torch.float32}
    dtypes.clear()
    AcceleratorState._reset_state(reset_partial_state=True)
    half = predict_outputs(make_accelerator("bf16", cpu=True), model, task, features, tokenizer, 8)
    assert dtypes and set(dtypes) == {torch.bfloat16}
    assert len(half) == len(full) == len(features)
    assert all(output.dtype == np.float32 for output in half)  # handed to the metrics in float32
    assert all(np.allclose(a, b, atol=0.05, rtol=0.05) for a, b in zip(full, half))
    assert any(not np.array_equal(a, b) for a, b in zip(full, half))


@pytest.mark.parametrize(
    ("setting", "accelerate", "matmuls"),
    [("no", "no", "highest"), ("tf32", "no", "high"), ("bf16", "bf16", "highest"), ("fp16", "fp16", "highest")],
)
def test_each_precision_setting(setting, accelerate, matmuls):
    assert mixed_precision_for(setting) == accelerate
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("medium")
        set_matmul_precision(torch.device("cpu"), setting)
        assert torch.get_float32_matmul_precision() == "medium"  # CPU matmuls are left as they are
        set_matmul_precision(torch.device("cuda"), setting)  # setting it needs no GPU
        assert torch.get_float32_matmul_precision() == matmuls
    finally:
        torch.set_float32_matmul_precision(before)


def test_auto_is_bf16_only_on_gpus_that_have_it(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert mixed_precision_for("auto") == "no"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert mixed_precision_for("auto") == "no"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert mixed_precision_for("auto") == "bf16"


def test_evaluation_batch_sizes():
    assert evaluation_batch_size(torch.device("cpu")) == 64
    assert evaluation_batch_size(torch.device("cuda")) == 256
    assert evaluation_batch_size(torch.device("cuda"), 8) == evaluation_batch_size(torch.device("cpu"), 8) == 8


def test_tf32_is_a_training_setting_of_its_own(tiny_nli):
    from stilts.pipeline.config import validate_pipeline
    from stilts.pipeline.engine import plan_pipeline

    def planned(precision):
        raw = {
            "name": "p",
            "model": "model",
            "mixed_precision": precision,
            "data": {task: str(folder) for task, folder in tiny_nli.items()},
            "stages": [
                {"kind": "intermediate", "tasks": ["mnli"]},
                {"kind": "target", "task": "xnli"},
                {"kind": "evaluate", "task": "xnli"},
            ],
        }
        stages, _ = plan_pipeline(validate_pipeline(raw, "p.yaml"), Path("."), Path("runs"), "p.yaml")
        return stages

    auto, tf32 = planned("auto"), planned("tf32")
    assert [stage.settings.get("mixed_precision") for stage in tf32] == ["tf32", "tf32", None]
    assert all(a.fingerprint != b.fingerprint for a, b in zip(auto, tf32))  # the evaluation's upstream moved


def test_predicting_models_of_two_precisions_at_once_is_refused(tiny_nli, tmp_path):
    from stilts.core.catalog import get_task
    from stilts.pipeline.predict import DEFAULT_SETTINGS, Predictor, predict_run

    task = get_task("xnli")

    def predictor(pipeline, precision):
        settings = {**DEFAULT_SETTINGS, "task": "xnli"}
        data = {"xnli": str(tiny_nli["xnli"])}
        return Predictor(task, tmp_path, pipeline, "model", None, settings, data, precision=precision)

    with pytest.raises(BadInput, match=r"different mixed_precision settings \(auto, no\)"):
        predict_run(
            [predictor("a", "auto"), predictor("b", "no")],
            tmp_path / "out",
            split="test",
            languages=None,
            data=({}, []),
            batch_size=None,
        )
    assert not (tmp_path / "out").exists()
