"""A pipeline's ``attention`` (`stilts.training.attention`): ``auto`` loads every family of the
architecture matrix with the best kernel its class and this machine have; eager and sdpa compute the
same logits; a kernel the family or the machine lacks is refused in one line before any stage runs
(in a dry run too); each stage's metrics.json records the kernel it ran; and neither the setting nor
``packing`` changes a stage's fingerprint."""

import json

import pytest
import torch
import yaml
from helpers import run_cli

from stilts.core.catalog import get_task
from stilts.core.errors import BadInput
from stilts.data.loading import load_examples
from stilts.formats.batching import Batcher
from stilts.formats.tokenize import featurize
from stilts.testing.encoders import FAMILIES
from stilts.training.attention import Machine, attention_problem, resolve_attention
from stilts.training.model import StageModel, load_encoder

#: what each family's transformers class has besides eager (transformers 5): the matrix's expectation
HAS_SDPA = {"xlm-roberta", "xlm-roberta-large-vocab", "bert", "modernbert"}
CPU = Machine(cuda=False, flash_attn=False, flex=True, half_precision=False)
GPU = Machine(cuda=True, flash_attn=True, flex=True, half_precision=True)


@pytest.mark.parametrize("family", FAMILIES)
def test_auto_loads_each_family_with_the_best_kernel_it_has_here(tiny_encoders, family):
    encoder, _ = load_encoder(str(tiny_encoders[family]))
    expected = "sdpa" if family in HAS_SDPA else "eager"
    if torch.cuda.is_available():  # flash_attention_2 where flash-attn is installed, else as on the CPU
        expected = encoder.config._attn_implementation if family in HAS_SDPA else expected
    assert encoder.config._attn_implementation == expected


@pytest.mark.parametrize("family", sorted(HAS_SDPA))
def test_eager_and_sdpa_give_the_same_logits(tiny_encoders, tiny_nli, family):
    """Padded pairs of different lengths through the classification head, on the same weights."""
    task = get_task("mnli")
    examples = load_examples(task, "train", "en", {"mnli": str(tiny_nli["mnli"])})[:12]
    logits = {}
    for kernel in ("eager", "sdpa"):
        encoder, tokenizer = load_encoder(str(tiny_encoders[family]), kernel)
        assert encoder.config._attn_implementation == kernel
        torch.manual_seed(0)
        model = StageModel(encoder, [task]).eval()
        batch = Batcher(task, featurize(task, examples, tokenizer, 64, cache=False), tokenizer)(range(len(examples)))
        with torch.no_grad():
            logits[kernel] = model("mnli", batch)[1]
    torch.testing.assert_close(logits["sdpa"], logits["eager"], atol=1e-5, rtol=1e-4)


def test_auto_prefers_flash_attention_then_sdpa_then_eager(tiny_encoders):
    from transformers import AutoConfig

    from stilts.training.encoder_class import base_model_class

    bert = base_model_class(AutoConfig.from_pretrained(tiny_encoders["bert"]))
    deberta = base_model_class(AutoConfig.from_pretrained(tiny_encoders["deberta-v2"]))
    assert resolve_attention("auto", bert, GPU) == "flash_attention_2"
    assert resolve_attention("auto", bert, CPU) == "sdpa"
    assert resolve_attention("auto", bert, Machine(True, True, True, half_precision=False)) == "sdpa"  # float32
    assert resolve_attention("auto", deberta, GPU) == "eager"
    assert resolve_attention("auto", bert, GPU, packing=True) == "flash_attention_2"
    assert resolve_attention("auto", bert, Machine(True, False, True, True), packing=True) == "flex_attention"
    assert resolve_attention("flex", bert, CPU) == "flex_attention"
    # a sweep submitted to Slurm checks the class here and the machine in each job
    assert attention_problem("flash_attention_2", bert, "bert", packing=False, machine=None) is None
    assert attention_problem("flash_attention_2", bert, "bert", packing=False, machine=CPU) is not None
    assert attention_problem("flash_attention_2", deberta, "deberta-v2", packing=False, machine=None) is not None


def _pipeline(folder, model, data, **top) -> str:
    config = {
        "name": "attention",
        "model": str(model),
        "seed": 1,
        "data": {task: str(path) for task, path in data.items()},
        "stages": [
            {"kind": "intermediate", "tasks": ["mnli"], "max_steps": 2, "batch_size": 8, "validate_every": 2},
            {"kind": "target", "task": "xnli", "max_steps": 2, "batch_size": 8, "validate_every": 2},
            {"kind": "evaluate", "task": "xnli", "languages": ["de"], "splits": ["dev"]},
        ],
        **top,
    }
    path = folder / "p.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.mark.parametrize(
    ("family", "setting", "expected"),
    [
        ("deberta-v2", "sdpa", "the deberta-v2 model (DebertaV2Model) has no sdpa kernel in transformers"),
        ("rembert", "flex", "the rembert model (RemBertModel) has no flex kernel in transformers"),
        ("deberta-v2", "flash_attention_2", "the deberta-v2 model (DebertaV2Model) has no flash_attention_2 kernel in"),
    ],
)
def test_a_kernel_the_family_lacks_is_refused_in_one_line(
    tmp_path, tiny_encoders, tiny_nli, capsys, family, setting, expected
):
    pipeline = _pipeline(tmp_path, tiny_encoders[family], tiny_nli, attention=setting)
    for dry_run in (["--dry-run"], []):
        code, _, err = run_cli(["run", pipeline, "--output-dir", tmp_path / "run", *dry_run], capsys)
        line = err.strip().splitlines()[-1]
        assert code == 2 and line.startswith(f"error: {pipeline}: attention: {setting}: {expected}")
        assert line.endswith("(it has eager)")
        assert not list((tmp_path / "run").glob("*/model")), "no stage may have trained"


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine without CUDA")
def test_flash_attention_without_a_gpu_is_refused_in_one_line(tmp_path, tiny_model, tiny_nli, capsys):
    pipeline = _pipeline(tmp_path, tiny_model, tiny_nli, attention="flash_attention_2")
    code, _, err = run_cli(["run", pipeline, "--dry-run"], capsys)
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        f"error: {pipeline}: attention: flash_attention_2 needs a CUDA GPU and the flash-attn package "
        "(this machine has no CUDA GPU)"
    )
    # where a stage loads the model (a Slurm job on a node without it): the same line, without the file
    with pytest.raises(BadInput, match=r"^attention: flash_attention_2 needs a CUDA GPU"):
        load_encoder(str(tiny_model), "flash_attention_2")


def test_each_stage_records_the_kernel_it_ran(tmp_path, tiny_model, tiny_nli, capsys):
    runs = {}
    for setting in ("eager", "auto"):
        pipeline = _pipeline(tmp_path, tiny_model, tiny_nli, attention=setting)
        code, out, err = run_cli(["run", pipeline, "--output-dir", tmp_path / setting], capsys)
        assert code == 0, err
        runs[setting] = {
            folder.name: json.loads((folder / "metrics.json").read_text())["attention"]
            for folder in sorted((tmp_path / setting).glob("*-*"))
            if (folder / "metrics.json").is_file()
        }
        assert "  attention: " + ("eager" if setting == "eager" else "sdpa (auto)") in out
    assert runs["eager"].keys() == runs["auto"].keys()  # the same folders: not fingerprinted
    assert len(runs["eager"]) == 3
    assert all(record == {"setting": "eager", "implementation": "eager"} for record in runs["eager"].values())
    assert all(record == {"setting": "auto", "implementation": "sdpa"} for record in runs["auto"].values())


def test_attention_and_packing_leave_fingerprints_alone(tmp_path, tiny_model, tiny_nli):
    from stilts.pipeline.config import load_pipeline
    from stilts.pipeline.engine import plan_pipeline

    def fingerprints(**top):
        pipeline, base = load_pipeline(_pipeline(tmp_path, tiny_model, tiny_nli, **top))
        return [stage.fingerprint for stage in plan_pipeline(pipeline, base, tmp_path / "run", "p.yaml")[0]]

    assert fingerprints() == fingerprints(attention="eager") == fingerprints(attention="flex", packing=True)


def test_a_sweep_passes_attention_and_packing_to_its_pipelines(tmp_path):
    from stilts.pipeline.sweep import expand, load_sweep

    sweep = tmp_path / "s.yaml"
    sweep.write_text(
        yaml.safe_dump(
            {
                "name": "s",
                "model": "m",
                "attention": "eager",
                "packing": True,
                "matrix": {"intermediate": ["mnli"], "target": ["xnli"], "seed": [1]},
            }
        )
    )
    config, _ = load_sweep(sweep)
    assert {(p.attention, p.packing) for p in expand(config, str(sweep))} == {("eager", True)}
