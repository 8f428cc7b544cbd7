"""stilts on a CUDA device: bf16 autocast and fused AdamW in the real training loop, evaluation and
retrieval on the GPU against the CPU, a crashed stage resumed on the GPU. Marked ``gpu``: skipped (with
the reason) where torch sees no CUDA device; `bash benchmarks/gpu_check.sh` runs them on a GPU machine."""

import contextlib
import io

import numpy as np
import pytest
import torch
import yaml

pytestmark = pytest.mark.gpu

#: GPU against CPU in float32 (an Accelerator without mixed precision): matmuls differ in summation
#: order only (TF32 stays off unless a pipeline sets mixed_precision: tf32)
FLOAT32 = {"atol": 1e-4, "rtol": 1e-3}
#: a resumed stage's final weights against an uninterrupted one's, relative to how far that stage moved
#: them (benchmarks/gpu_check.py: RESUME_TOLERANCE): bf16 autocast and non-deterministic kernels
RESUME_DRIFT = 0.05


def _pipeline(folder, model, data, *, max_steps, checkpoint_every=1000):
    stage = {
        "kind": "intermediate",
        "tasks": ["mnli"],
        "learning_rate": 1e-3,
        "batch_size": 8,
        "max_steps": max_steps,
        "validate_every": max_steps,  # one validation, at the end: the last step's weights are kept
        "checkpoint_every": checkpoint_every,
    }
    config = {"name": "gpu", "model": str(model), "seed": 1, "data": {"mnli": str(data["mnli"])}, "stages": [stage]}
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _run(pipeline, out) -> tuple[int, str]:
    """``stilts run`` in this process: its exit code and what it printed."""
    from stilts.cli import main

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), pytest.raises(SystemExit) as done:
        main(["run", str(pipeline), "--output-dir", str(out)])
    return done.value.code, printed.getvalue()


def _weights(folder) -> dict:
    from safetensors.numpy import load_file

    tensors = {}
    for path in sorted(folder.glob("*.safetensors")):
        tensors.update({name: value.astype(np.float64) for name, value in load_file(str(path)).items()})
    return tensors


def test_bf16_autocast_training_steps_through_stilts(tiny_model, tiny_nli, tmp_path, monkeypatch):
    import stilts.training.loop
    from stilts.training.devices import mixed_precision_for

    if not torch.cuda.is_bf16_supported():
        pytest.skip(f"{torch.cuda.get_device_name()} has no bf16")
    assert mixed_precision_for("auto") == "bf16"
    seen = {"optimizers": [], "dtypes": [], "autocast": [], "devices": set()}
    build = stilts.training.loop._build_optimizer

    def observed_build(model, plan):
        made = build(model, plan)
        seen["optimizers"].append(made[0])
        linear = next(module for module in model.encoder.modules() if isinstance(module, torch.nn.Linear))

        def hook(module, inputs, output):
            seen["dtypes"].append(output.dtype)
            seen["autocast"].append(torch.is_autocast_enabled("cuda"))
            seen["devices"].add(output.device.type)

        linear.register_forward_hook(hook)
        return made

    monkeypatch.setattr(stilts.training.loop, "_build_optimizer", observed_build)
    out = tmp_path / "out"
    code, printed = _run(_pipeline(tmp_path, tiny_model, tiny_nli, max_steps=3), out)
    assert code == 0, printed
    (optimizer,) = seen["optimizers"]
    assert optimizer.defaults.get("fused") is True
    assert all(p.is_cuda for group in optimizer.param_groups for p in group["params"])
    # the training forwards (and the validation at the end, through the prepared model) ran in bf16
    assert seen["devices"] == {"cuda"}
    assert seen["dtypes"] and set(seen["dtypes"]) == {torch.bfloat16}
    assert all(seen["autocast"])
    (stage,) = out.glob("intermediate-*")
    before, after = _weights(tiny_model), _weights(stage / "model")
    assert set(before) == set(after)
    assert any(not np.allclose(before[name], after[name]) for name in before)
    assert all(np.isfinite(value).all() for value in after.values())


def test_stilts_picks_fused_adamw_on_cuda():
    from stilts.training.loop import _adamw

    parameter = torch.nn.Parameter(torch.randn(64, 64, device="cuda"))
    optimizer = _adamw([{"params": [parameter], "weight_decay": 0.01}], lr=1e-3, eps=1e-8)
    assert optimizer.defaults.get("fused") is True
    before = parameter.detach().clone()
    parameter.grad = torch.ones_like(parameter)
    optimizer.step()
    assert optimizer.state[parameter]["exp_avg"].is_cuda
    assert not torch.equal(before, parameter.detach())


def test_batches_reach_the_gpu_through_pinned_memory(monkeypatch):
    from stilts.training.devices import to_device

    pinned = []
    pin_memory = torch.Tensor.pin_memory

    def recording_pin_memory(self, *args, **kwargs):
        made = pin_memory(self, *args, **kwargs)
        pinned.append(made.is_pinned())
        return made

    monkeypatch.setattr(torch.Tensor, "pin_memory", recording_pin_memory)
    batch = {"input_ids": torch.arange(12).view(3, 4), "labels": torch.tensor([0, 1, 2])}
    moved = to_device(batch, torch.device("cuda"))
    torch.cuda.synchronize()
    assert pinned == [True, True]
    assert all(moved[key].is_cuda and torch.equal(moved[key].cpu(), batch[key]) for key in batch)


def test_evaluation_on_the_gpu_matches_the_cpu(tiny_model, tiny_nli, fresh_accelerator_state):
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from helpers import xnli_dev_features

    from stilts.training.evaluation import predict_outputs

    task, model, tokenizer, examples, features = xnli_dev_features(tiny_model, tiny_nli)
    on_cpu = predict_outputs(Accelerator(cpu=True), model, task, features, tokenizer, 8)
    AcceleratorState._reset_state(reset_partial_state=True)
    accelerator = Accelerator()
    assert accelerator.device.type == "cuda"
    model.to(accelerator.device)
    on_gpu = predict_outputs(accelerator, model, task, features, tokenizer, 8)
    assert len(on_cpu) == len(on_gpu) == len(examples)
    assert all(np.allclose(a, b, **FLOAT32) for a, b in zip(on_cpu, on_gpu))
    predictions = task.format.predict(on_gpu, features, examples, task)
    assert predictions == task.format.predict(on_cpu, features, examples, task)


def test_knn_and_mining_on_the_gpu_match_the_cpu(monkeypatch):
    import stilts.formats.retrieval as retrieval

    generator = torch.Generator().manual_seed(0)
    source = torch.randn(300, 64, generator=generator)
    noise, others = torch.randn(100, 64, generator=generator), torch.randn(250, 64, generator=generator)
    english = torch.cat((source[:100] + 0.05 * noise, others))
    x, y = (torch.nn.functional.normalize(side, dim=1) for side in (source, english))
    on_cpu = retrieval.knn(x, y, 4, both=True, chunk_size=64)
    on_gpu = retrieval.knn(x.cuda(), y.cuda(), 4, both=True, chunk_size=64)
    for cpu_part, gpu_part in zip(on_cpu, on_gpu):
        assert gpu_part.is_cuda
        if cpu_part.dtype == torch.long:
            assert torch.equal(cpu_part, gpu_part.cpu())
        else:
            assert torch.allclose(cpu_part, gpu_part.cpu(), atol=1e-5)
    assert retrieval.search_device().type == "cuda"  # stilts mines on the GPU when there is one
    mined_gpu = retrieval.mine_candidates(source.numpy(), english.numpy())
    neighbours_gpu = retrieval.nearest_neighbours(english.numpy(), source.numpy())
    monkeypatch.setattr(retrieval, "search_device", lambda: torch.device("cpu"))
    mined_cpu = retrieval.mine_candidates(source.numpy(), english.numpy())
    neighbours_cpu = retrieval.nearest_neighbours(english.numpy(), source.numpy())
    # the same pairs with the same margins (their order may differ where two margins differ by less
    # than the devices' rounding)
    gpu_pairs, cpu_pairs = {(i, j): s for i, j, s in mined_gpu}, {(i, j): s for i, j, s in mined_cpu}
    assert gpu_pairs.keys() == cpu_pairs.keys()
    assert np.allclose([gpu_pairs[pair] for pair in cpu_pairs], list(cpu_pairs.values()), atol=1e-5)
    assert {(i, i) for i in range(100)} <= gpu_pairs.keys()  # the planted pairs
    assert neighbours_gpu == neighbours_cpu


@pytest.mark.parametrize("task_name", ["tatoeba", "bucc"])
def test_retrieval_evaluation_on_the_gpu_matches_the_cpu(
    task_name, tiny_model, tmp_path, monkeypatch, fresh_accelerator_state
):
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from helpers import evaluate_examples

    import stilts.formats.retrieval as retrieval
    from stilts.core.catalog import get_task
    from stilts.data.loading import load_examples
    from stilts.testing import write_bucc, write_tatoeba
    from stilts.training.model import StageModel, load_encoder

    folder = (write_tatoeba if task_name == "tatoeba" else write_bucc)(tmp_path / task_name)
    task = get_task(task_name)
    splits = ["test"] if task_name == "tatoeba" else ["dev", "test"]  # BUCC: dev sets the threshold
    examples = {split: load_examples(task, split, "de", {task_name: str(folder)}) for split in splits}
    encoder, tokenizer = load_encoder(str(tiny_model))
    model = StageModel(encoder, [task])

    def scores(accelerator):
        state: dict = {}
        return {
            split: evaluate_examples(
                accelerator,
                model,
                task,
                examples[split],
                tokenizer,
                max_length=64,
                batch_size=8,
                language="de",
                split=split,
                state=state,
            )
            for split in splits
        }

    with monkeypatch.context() as cpu_only:
        cpu_only.setattr(retrieval, "search_device", lambda: torch.device("cpu"))
        on_cpu = scores(Accelerator(cpu=True))
    AcceleratorState._reset_state(reset_partial_state=True)
    accelerator = Accelerator()
    model.to(accelerator.device)
    on_gpu = scores(accelerator)
    assert on_gpu.keys() == on_cpu.keys()
    for split in splits:
        assert on_gpu[split] == pytest.approx(on_cpu[split], abs=1e-6)


class SimulatedCrash(Exception):
    pass


def test_a_stage_crashed_on_the_gpu_resumes_where_an_uninterrupted_one_ends(
    tiny_model, tiny_nli, tmp_path, monkeypatch
):
    from stilts.training.checkpoints import CheckpointStore

    pipeline = _pipeline(tmp_path, tiny_model, tiny_nli, max_steps=8, checkpoint_every=4)
    code, printed = _run(pipeline, tmp_path / "whole")
    assert code == 0, printed
    save = CheckpointStore.save

    def save_then_crash(self, *args, **kwargs):
        save(self, *args, **kwargs)
        raise SimulatedCrash("after the first checkpoint")

    with monkeypatch.context() as crashing:
        crashing.setattr(CheckpointStore, "save", save_then_crash)
        with pytest.raises(SimulatedCrash):
            _run(pipeline, tmp_path / "resumed")
    (stage,) = (tmp_path / "resumed").glob("intermediate-*")
    assert not (stage / "COMPLETE").exists() and list((stage / "checkpoints").glob("step-4"))
    code, printed = _run(pipeline, tmp_path / "resumed")
    assert code == 0, printed
    assert "resuming from step-4" in printed
    (whole,) = (tmp_path / "whole").glob("intermediate-*")
    start, a, b = _weights(tiny_model), _weights(whole / "model"), _weights(stage / "model")
    apart = sum(np.sum((a[name] - b[name]) ** 2) for name in a) ** 0.5
    moved = sum(np.sum((a[name] - start[name]) ** 2) for name in a) ** 0.5
    assert moved > 0 and apart / moved <= RESUME_DRIFT


#: packed against padded on the GPU: flex in float32 (rounding only); flash_attention_2 in bf16, packed
#: against its own padded path (which unpads to the same variable-length kernel). First settings for
#: the first GPU run to confirm; a wrong mask or first position moves the tiny encoders' states by 1e-3
#: and more (tests/test_packing.py)
PACKED = {"flex": {"atol": 1e-4, "rtol": 1e-3}, "flash_attention_2": {"atol": 2e-3, "rtol": 1e-2}}


@pytest.mark.parametrize("kernel", ["flex", "flash_attention_2"])
@pytest.mark.parametrize("family", ["xlm-roberta", "bert", "modernbert"])
def test_a_packed_row_on_the_gpu_gives_what_the_padded_batch_gives(tiny_encoders, tiny_nli, family, kernel):
    """The kernels that pack (flex's block mask, flash's cu_seq_lens): every token's state of a packed
    row equals the padded batch's, as sdpa and eager masks do on the CPU (tests/test_packing.py)."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from stilts.core.catalog import get_task
    from stilts.data.loading import load_examples
    from stilts.formats.batching import Batcher
    from stilts.formats.packing import packed_encoder_inputs, position_offset
    from stilts.formats.tokenize import featurize
    from stilts.training.attention import IMPLEMENTATIONS, Machine, attention_problem, resolve_attention
    from stilts.training.encoder_class import base_model_class, without_pooler

    folder = tiny_encoders[family]
    config = AutoConfig.from_pretrained(folder)
    half = kernel == "flash_attention_2"
    machine = Machine.here("bf16" if half else "no")
    problem = attention_problem(kernel, base_model_class(config), family, packing=True, machine=machine)
    if problem:
        pytest.skip(problem)
    implementation = resolve_attention(kernel, base_model_class(config), machine, packing=True)
    assert implementation == IMPLEMENTATIONS[kernel]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    encoder = AutoModel.from_pretrained(folder, attn_implementation=implementation, **without_pooler(config))
    encoder = encoder.to("cuda").eval()
    offset = position_offset(encoder)
    task = get_task("mnli")
    examples = load_examples(task, "train", "en", {"mnli": str(tiny_nli["mnli"])})[:16]
    features = featurize(task, examples, tokenizer, 64, cache=False)
    indices = list(range(len(features)))
    padded = {k: v.cuda() for k, v in Batcher(task, features, tokenizer)(indices).items()}
    packed = {
        k: v.cuda() if isinstance(v, torch.Tensor) else v
        for k, v in Batcher(task, features, tokenizer, packed_from=offset)(indices).items()
    }
    inputs = {key: padded[key] for key in ("input_ids", "attention_mask", "token_type_ids") if key in padded}
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=half):
        if not half:
            encoder.set_attn_implementation("sdpa")  # flex's padded path: compared with sdpa's
        padded_states = encoder(**inputs).last_hidden_state.float()
        encoder.set_attn_implementation(implementation)
        states = encoder(**packed_encoder_inputs(encoder, packed)).last_hidden_state[0].float()
    starts = packed["cu_seq_lens"].tolist()
    for i, (start, end) in enumerate(zip(starts, starts[1:])):
        torch.testing.assert_close(states[start:end], padded_states[i, : end - start], **PACKED[kernel])
