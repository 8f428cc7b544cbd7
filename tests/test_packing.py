"""Padding-free batches (`stilts.formats.packing`, a pipeline's ``packing: true``): several examples in
one row, each numbered from the encoder's first position id and attending to itself only, give what
the same examples give in a padded batch: every token's state, the first-token (CLS) state, the
classification logits and the loss. For every family of the architecture matrix that has a kernel
that packs (flash_attention_2 or flex in transformers 5: XLM-R, BERT, ModernBERT), through the masks
of the kernels that run on this CPU (sdpa, eager) and through flash's variable-length interface
(``cu_seq_lens``), served here by a reference kernel that runs each example alone. DeBERTa-v2 and
RemBERT have eager only: packing them is refused in one line.
"""

import json

import pytest
import torch
import yaml
from helpers import run_cli

from stilts.core.catalog import get_task
from stilts.data.loading import load_examples
from stilts.formats.batching import Batcher
from stilts.formats.packing import first_tokens, packed_encoder_inputs, position_offset
from stilts.formats.tokenize import featurize
from stilts.testing.encoders import FAMILIES
from stilts.training.attention import has_kernel
from stilts.training.encoder_class import base_model_class, without_pooler

#: the families with a kernel that packs (flash_attention_2 or flex), found from their classes below
PACKING_FAMILIES = ("xlm-roberta", "xlm-roberta-large-vocab", "bert", "modernbert")
#: a transformers attention kernel registered by this test: flash's variable-length interface, each
#: example of the packed row computed alone with sdpa
VARLEN_REFERENCE = "stilts_varlen_reference"


def _varlen_reference(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """transformers' attention-function signature; ``query`` etc. (1, heads, tokens, head size)."""
    bounds = kwargs.get("cu_seq_lens_q")
    assert attention_mask is None and bounds is not None, "the packed row's bounds did not reach the attention"
    window = kwargs.get("sliding_window")  # flash's: attend to tokens at most window - 1 away
    outputs = []
    bounds = bounds.tolist()
    for start, end in zip(bounds, bounds[1:]):
        mask = None
        if window:
            index = torch.arange(end - start)
            mask = (index[:, None] - index[None, :]).abs() <= window - 1
        q, k, v = (tensor[:, :, start:end] for tensor in (query, key, value))
        outputs.append(torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scaling))
    return torch.cat(outputs, dim=2).transpose(1, 2).contiguous(), None


@pytest.fixture(scope="module")
def varlen_kernel():
    from transformers import AttentionInterface

    AttentionInterface.register(VARLEN_REFERENCE, _varlen_reference)
    return VARLEN_REFERENCE


@pytest.fixture(scope="module")
def pairs(tiny_nli):
    """MNLI pairs of varied lengths (some a few tokens, some many), in no particular order."""
    return load_examples(get_task("mnli"), "train", "en", {"mnli": str(tiny_nli["mnli"])})[:12]


def _encoder(folder, implementation):
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(folder)
    return AutoModel.from_pretrained(folder, attn_implementation=implementation, **without_pooler(config)).eval()


def test_the_families_that_pack_are_those_with_a_kernel_that_packs(tiny_encoders):
    from transformers import AutoConfig

    packing = {
        family
        for family in FAMILIES
        if any(
            has_kernel(base_model_class(AutoConfig.from_pretrained(tiny_encoders[family])), kernel)
            for kernel in ("flash_attention_2", "flex")
        )
    }
    assert packing == set(PACKING_FAMILIES)


@pytest.mark.parametrize(
    ("family", "offset"),
    [("xlm-roberta", 2), ("xlm-roberta-large-vocab", 2), ("bert", 0), ("modernbert", 0), ("rembert", 0)],
)
def test_the_first_position_id_is_found_by_running_the_encoder(tiny_encoders, family, offset):
    """RoBERTa's positions start after the padding index (2 for XLM-R's padding id 1), BERT's at 0;
    ModernBERT's rotary positions are relative, so 0 (any offset) fits. Found from the model, not
    from a list of family names."""
    assert position_offset(_encoder(tiny_encoders[family], "eager")) == offset


def _compare(encoder, tokenizer, features, offset, kernel):
    """Per example: the largest difference of any token's state, of the first token's state and of the
    classification logits between the padded batch (run with sdpa) and the packed row (run with
    ``kernel``); and the two losses."""
    task = get_task("mnli")
    indices = list(range(len(features)))
    padded = Batcher(task, features, tokenizer)(indices)
    packed = Batcher(task, features, tokenizer, packed_from=offset)(indices)
    assert packed["input_ids"].shape == (1, int(padded["attention_mask"].sum()))  # no padding token
    head = task.format.build_head(task, encoder.config.hidden_size).eval()
    inputs = {key: padded[key] for key in ("input_ids", "attention_mask", "token_type_ids") if key in padded}
    with torch.no_grad():
        encoder.set_attn_implementation("sdpa")
        padded_states = encoder(**inputs).last_hidden_state
        padded_loss, padded_logits = task.format.forward(encoder, head, padded)
        encoder.set_attn_implementation(kernel)
        states = encoder(**packed_encoder_inputs(encoder, packed)).last_hidden_state[0]
        packed_loss, packed_logits = task.format.forward(encoder, head, packed)
    starts = packed["cu_seq_lens"].tolist()
    state_difference = max(
        float((states[start:end] - padded_states[i, : end - start]).abs().max())
        for i, (start, end) in enumerate(zip(starts, starts[1:]))
    )
    first = float((states[first_tokens(packed)] - padded_states[:, 0]).abs().max())
    return state_difference, first, float((packed_logits - padded_logits).abs().max()), packed_loss, padded_loss


@pytest.mark.parametrize("kernel", ["sdpa", "eager", VARLEN_REFERENCE])
@pytest.mark.parametrize("family", PACKING_FAMILIES)
def test_a_packed_row_gives_what_the_padded_batch_gives(tiny_encoders, pairs, family, kernel, varlen_kernel):
    from transformers import AutoTokenizer

    folder = tiny_encoders[family]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    encoder = _encoder(folder, "sdpa")
    offset = position_offset(encoder)
    features = featurize(get_task("mnli"), pairs, tokenizer, 64, cache=False)
    states, first, logits, packed_loss, padded_loss = _compare(encoder, tokenizer, features, offset, kernel)
    assert states < 1e-5 and first < 1e-5 and logits < 1e-5
    assert torch.allclose(packed_loss, padded_loss, atol=1e-6)


@pytest.mark.parametrize("family", ["xlm-roberta", "modernbert"])
def test_positions_from_another_offset_or_no_mask_give_other_outputs(tiny_encoders, pairs, family):
    """What the test above guards: XLM-R numbered from 0 (as BERT is), or ModernBERT's row without the
    mask stilts builds (its forward does not build one from packed position ids), differ."""
    from transformers import AutoTokenizer

    folder = tiny_encoders[family]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    encoder = _encoder(folder, "sdpa")
    features = featurize(get_task("mnli"), pairs, tokenizer, 64, cache=False)
    if family == "xlm-roberta":
        assert _compare(encoder, tokenizer, features, 0, "sdpa")[0] > 1e-3
        return
    packed = Batcher(get_task("mnli"), features, tokenizer, packed_from=0)(list(range(len(features))))
    with torch.no_grad():
        unmasked = encoder(input_ids=packed["input_ids"], position_ids=packed["position_ids"]).last_hidden_state
        masked = encoder(**packed_encoder_inputs(encoder, packed)).last_hidden_state
    assert float((unmasked - masked).abs().max()) > 1e-3


def _pipeline(folder, model, data, **top):
    config = {
        "name": "packed",
        "model": str(model),
        "seed": 1,
        "data": {task: str(path) for task, path in data.items()},
        "stages": [
            {"kind": "intermediate", "tasks": ["mnli"], "max_steps": 4, "batch_size": 8, "learning_rate": 1e-3,
             "validate_every": 4},
        ],
        **top,
    }  # fmt: skip
    path = folder / "p.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("family", ["deberta-v2", "rembert"])
def test_packing_an_encoder_without_a_kernel_that_packs_is_refused_in_one_line(
    tmp_path, tiny_encoders, tiny_nli, capsys, family
):
    pipeline = _pipeline(tmp_path, tiny_encoders[family], tiny_nli, packing=True)
    code, _, err = run_cli(["run", pipeline, "--dry-run"], capsys)
    assert code == 2
    line = err.strip().splitlines()[-1]
    assert line.startswith(
        f"error: {pipeline}: packing: true needs a flash_attention_2 or flex kernel, and the {family}"
    )
    assert "has neither in transformers" in line and "(it has eager)" in line


def test_packing_with_sdpa_or_on_this_cpu_is_refused_in_one_line(tmp_path, tiny_model, tiny_nli, capsys):
    pipeline = _pipeline(tmp_path, tiny_model, tiny_nli, packing=True, attention="sdpa")
    code, _, err = run_cli(["run", pipeline, "--dry-run"], capsys)
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        f"error: {pipeline}: packing: true needs attention flash_attention_2 or flex; sdpa would compute every token "
        "against the whole packed row (a dense block-diagonal mask), more work than the padding packing saves"
    )
    if torch.cuda.is_available():
        return
    pipeline = _pipeline(tmp_path, tiny_model, tiny_nli, packing=True)
    code, _, err = run_cli(["run", pipeline, "--dry-run"], capsys)
    line = err.strip().splitlines()[-1]
    assert code == 2 and line.startswith(
        f"error: {pipeline}: packing: true finds no kernel that packs on this machine: "
    )
    assert "flash_attention_2 needs a CUDA GPU and the flash-attn package" in line and "flex needs a CUDA GPU" in line


def test_a_packed_stage_trains_as_the_padded_one(tmp_path, tiny_model, tiny_nli, capsys, monkeypatch):
    """A stage of `packing: true` trains on the same batches as the padded stage, to the same weights
    (up to float rounding) and the same validation; its metrics.json says what packed and from which
    position. sdpa packs here only because this test allows it (on a GPU flash_attention_2 and flex do).
    The encoder has no dropout: dropout draws its random masks over the batch's tensors, whose shapes
    packing changes, so with dropout the two stages differ as two dropout seeds would."""
    import shutil

    from safetensors.torch import load_file

    import stilts.training.attention

    model = shutil.copytree(tiny_model, tmp_path / "model")
    config = json.loads((model / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (model / "config.json").write_text(json.dumps(config))
    monkeypatch.setattr(stilts.training.attention, "PACKING_KERNELS", ("flash_attention_2", "flex", "sdpa"))
    runs = {}
    for packing in (False, True):
        pipeline = _pipeline(tmp_path, model, tiny_nli, packing=packing, attention="sdpa")
        code, out, err = run_cli(["run", pipeline, "--output-dir", tmp_path / f"run-{packing}"], capsys)
        assert code == 0, err
        (stage,) = (tmp_path / f"run-{packing}").glob("intermediate-*")
        runs[packing] = stage, json.loads((stage / "metrics.json").read_text()), out
    (padded, padded_metrics, _), (packed, packed_metrics, log) = runs[False], runs[True]
    assert padded.name == packed.name  # packing is not fingerprinted
    assert packed_metrics["packing"] == {"position_offset": 2, "packed": ["mnli"], "padded": []}
    assert "packing" not in padded_metrics
    assert packed_metrics["attention"] == padded_metrics["attention"] == {"setting": "sdpa", "implementation": "sdpa"}
    assert "packing: positions of each packed example from 2" in log
    weights = [load_file(str(stage / "model" / "model.safetensors")) for stage in (padded, packed)]
    assert weights[0].keys() == weights[1].keys()
    for name in weights[0]:
        torch.testing.assert_close(weights[1][name], weights[0][name], atol=1e-5, rtol=1e-4)
    assert (
        packed_metrics["training"]["validations"][-1]["score"] == padded_metrics["training"]["validations"][-1]["score"]
    )
