"""Masked language modelling (BERT/RoBERTa objective) as a task: multilingual MLM co-training.

Examples are ``{"id", "text", "language"}``: one sentence each, tokenized with truncation. Masking
is dynamic, done when a batch is collated: 15% of the tokens that are neither special tokens nor
padding are chosen; of those 80% become ``<mask>``, 10% a random (non-special) token and 10% stay as
they are; the labels are the original ids at the chosen positions and -100 everywhere else.

The masking randomness is a ``torch.Generator`` seeded with a CRC-32 of the batch's padded input ids
(bytes and shape). So the mask of a batch depends only on its content: evaluation is reproducible and
independent of the order batches run in, a resumed run masks exactly as the original run did (no
random state to restore), and in training the masks still change every epoch, because the loader
reshuffles which sentences share a batch (and so its hash). A batch with maskable tokens always has
at least one masked token, so the loss is defined.

The head is RoBERTa's LM head (dense, GELU, layer norm, then a decoder whose weight is the encoder's
input embedding matrix, plus a bias). Logits are computed only at the masked positions: with
XLM-R's 250k-token vocabulary, (batch, length, vocabulary) logits would need gigabytes. When the
incoming checkpoint has a pretrained MLM head (``lm_head.*`` in XLM-R checkpoints from the Hub,
``cls.predictions.*`` in BERT's), the head starts from it; otherwise it is fresh.

Outputs per example: ``[correct predictions, masked tokens, summed negative log-likelihood]`` at the
masked positions, so `score` gives masked-token accuracy (0-100, the main metric) and perplexity.
"""

from __future__ import annotations

import functools
import json
import math
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stilts.core import defaults
from stilts.formats.base import TaskFormat, encoder_inputs, pad_right

if TYPE_CHECKING:
    import torch
    from torch import nn

    from stilts.formats.heads import MaskedLMHead

IGNORE_INDEX = -100
#: of the chosen tokens: this share becomes <mask>, the same share as the rest becomes a random token
MASK_TOKEN_SHARE, RANDOM_TOKEN_SHARE = 0.8, 0.1

#: pretrained MLM head layouts: our parameter -> checkpoint keys (the first one present is used)
PRETRAINED_HEAD_LAYOUTS = {
    "RoBERTa/XLM-R lm_head": {
        "dense.weight": ("lm_head.dense.weight",),
        "dense.bias": ("lm_head.dense.bias",),
        "layer_norm.weight": ("lm_head.layer_norm.weight",),
        "layer_norm.bias": ("lm_head.layer_norm.bias",),
        "bias": ("lm_head.bias", "lm_head.decoder.bias"),
    },
    "BERT cls.predictions": {
        "dense.weight": ("cls.predictions.transform.dense.weight",),
        "dense.bias": ("cls.predictions.transform.dense.bias",),
        "layer_norm.weight": (
            "cls.predictions.transform.LayerNorm.weight",
            "cls.predictions.transform.LayerNorm.gamma",
        ),
        "layer_norm.bias": ("cls.predictions.transform.LayerNorm.bias", "cls.predictions.transform.LayerNorm.beta"),
        "bias": ("cls.predictions.bias", "cls.predictions.decoder.bias"),
    },
}
_HEAD_PREFIXES = ("lm_head.", "cls.predictions.")


@functools.lru_cache(maxsize=8)
def _replacement_ids(vocabulary_size: int, special_ids: tuple[int, ...]) -> torch.Tensor:
    """Ids a chosen token may be replaced with at random: the vocabulary without special tokens."""
    import torch  # in the functions that run a model only (see stilts.formats.base)

    keep = torch.ones(vocabulary_size, dtype=torch.bool)
    keep[[i for i in special_ids if 0 <= i < vocabulary_size]] = False
    return keep.nonzero().squeeze(1)


def batch_seed(input_ids: torch.Tensor) -> int:
    """A stable hash of a batch's content (CRC-32 of its shape and little-endian int64 ids)."""
    data = input_ids.detach().cpu().numpy().astype("<i8", copy=False)
    return zlib.crc32(data.tobytes(), zlib.crc32(repr(tuple(data.shape)).encode()))


def mask_tokens(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    special_ids,
    mask_token_id: int,
    vocabulary_size: int,
    probability: float = defaults.MLM_MASK_PROBABILITY,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(masked input ids, labels) for one padded batch; deterministic given the batch (see above)."""
    import torch

    generator = torch.Generator().manual_seed(batch_seed(input_ids))
    special = torch.tensor(sorted(special_ids), dtype=input_ids.dtype)
    maskable = attention_mask.bool() & ~torch.isin(input_ids, special)
    chosen = (torch.rand(input_ids.shape, generator=generator) < probability) & maskable
    if not chosen.any() and maskable.any():  # at least one target per batch: the loss stays defined
        candidates = maskable.flatten().nonzero().squeeze(1)
        pick = candidates[torch.randint(len(candidates), (1,), generator=generator)]
        chosen.view(-1)[pick] = True
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE_INDEX))

    action = torch.rand(input_ids.shape, generator=generator)
    to_mask = chosen & (action < MASK_TOKEN_SHARE)
    to_random = chosen & (action >= MASK_TOKEN_SHARE) & (action < MASK_TOKEN_SHARE + RANDOM_TOKEN_SHARE)
    replacements = _replacement_ids(vocabulary_size, tuple(sorted(special_ids)))
    random_ids = replacements[torch.randint(len(replacements), input_ids.shape, generator=generator)]
    masked = input_ids.clone()
    masked[to_mask] = mask_token_id
    masked[to_random] = random_ids[to_random].to(input_ids.dtype)
    return masked, labels


# --- a pretrained head in the incoming checkpoint -----------------------------------------------


def _checkpoint_file(model_path: str, filename: str) -> Path | None:
    """``filename`` of a local model folder, or of a Hub model in the local cache (the encoder was
    just loaded from it, so it is there; nothing is downloaded)."""
    folder = Path(model_path)
    if folder.is_dir():
        return folder / filename if (folder / filename).is_file() else None
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(model_path, filename)
    except ValueError:  # not a valid repo id (HFValidationError): no pretrained head to find
        return None
    return Path(found) if isinstance(found, str) else None


def pretrained_head_tensors(model_path: str) -> dict[str, torch.Tensor]:
    """The MLM-head tensors (``lm_head.*``, ``cls.predictions.*``) of a safetensors checkpoint, sharded or
    not; the tied decoder weight (the embedding matrix again) is left out. Empty when there are none."""
    from safetensors import safe_open

    index = _checkpoint_file(model_path, "model.safetensors.index.json")
    if index is not None:
        weight_map = json.loads(index.read_text())["weight_map"]
        names = sorted({file for key, file in weight_map.items() if key.startswith(_HEAD_PREFIXES)})
    else:
        names = ["model.safetensors"]
    tensors = {}
    for name in names:
        path = _checkpoint_file(model_path, name)
        if path is None:
            continue
        with safe_open(str(path), framework="pt") as handle:
            for key in handle.keys():
                if key.startswith(_HEAD_PREFIXES) and not key.endswith("decoder.weight"):
                    tensors[key] = handle.get_tensor(key)
    return tensors


def pretrained_head_state(tensors: dict[str, torch.Tensor], head: MaskedLMHead) -> tuple[dict | None, str]:
    """(state dict for ``head``, the layout's name), or (None, why not) when no layout fits."""
    expected = {name: tuple(value.shape) for name, value in head.state_dict().items()}
    reasons = []
    for layout_name, layout in PRETRAINED_HEAD_LAYOUTS.items():
        state = {}
        for name, keys in layout.items():
            key = next((key for key in keys if key in tensors), None)
            if key is not None:
                state[name] = tensors[key]
        if len(state) < len(layout):
            continue
        wrong = [name for name, value in state.items() if tuple(value.shape) != expected[name]]
        if wrong:
            reasons.append(f"its {layout_name} does not fit the encoder ({', '.join(wrong)})")
            continue
        return state, layout_name
    return None, "; ".join(reasons) or "no pretrained MLM head in the checkpoint"


# --- the format ---------------------------------------------------------------------------------


class MaskedLM(TaskFormat):
    """Examples ``{"id", "text", "language"}``; see the module docstring."""

    name = "masked_lm"
    text_fields = ("text",)

    def featurize(self, examples, tokenizer, task, max_length):
        return dict(tokenizer(examples["text"], truncation=True, max_length=max_length))

    def collate(self, features, tokenizer):
        batch = pad_right(tokenizer, features)
        batch["input_ids"], batch["labels"] = mask_tokens(
            batch["input_ids"],
            batch["attention_mask"],
            special_ids=tokenizer.all_special_ids,
            mask_token_id=tokenizer.mask_token_id,
            vocabulary_size=len(tokenizer),
        )
        return batch

    def build_head(self, task, hidden_size):
        from stilts.formats.heads import MaskedLMHead

        return MaskedLMHead(hidden_size)

    def init_head(self, head: nn.Module, encoder, model_path: str, log) -> None:
        """Size the bias to the encoder's vocabulary; start from the checkpoint's MLM head if it has one."""
        from stilts.formats.heads import MaskedLMHead

        # the head `build_head` built: a stage builds each task's head with that task's format
        assert isinstance(head, MaskedLMHead), f"the MLM format's head is a MaskedLMHead, not {type(head).__name__}"
        width, hidden = encoder.get_input_embeddings().embedding_dim, encoder.config.hidden_size
        if width != hidden:  # RemBERT: the tied decoder cannot take the hidden states
            from stilts.core.errors import BadInput

            raise BadInput(
                f"{model_path}: the mlm task needs input embeddings as wide as the hidden states, to predict "
                f"tokens with them ({width} wide, hidden size {hidden}): train this encoder without mlm"
            )
        head.layer_norm.eps = getattr(encoder.config, "layer_norm_eps", head.layer_norm.eps)
        head.set_vocabulary_size(encoder.get_input_embeddings().num_embeddings)
        state, how = pretrained_head_state(pretrained_head_tensors(model_path), head)
        if state is None:
            log(f"  MLM head: fresh ({model_path}: {how})")
            return
        head.load_state_dict(state)
        log(f"  MLM head: pretrained, from the {how} weights of {model_path}")

    def forward(self, encoder, head, batch):
        import torch
        from torch import nn

        labels = batch["labels"]
        states = encoder(**encoder_inputs(batch)).last_hidden_state
        rows, columns = (labels != IGNORE_INDEX).nonzero(as_tuple=True)
        logits = head(states[rows, columns], encoder.get_input_embeddings().weight)
        targets = labels[rows, columns]
        nll = nn.functional.cross_entropy(logits.float(), targets, reduction="none")
        # an empty mean is NaN; a batch without targets (no maskable token) contributes zero
        loss = nll.mean() if len(targets) else logits.sum() * 0.0
        per_token = torch.stack([(logits.argmax(dim=-1) == targets).float(), torch.ones_like(nll), nll.detach()], 1)
        outputs = torch.zeros(len(labels), 3, device=labels.device).index_add_(0, rows, per_token)
        return loss, outputs

    def predict(self, outputs, features, examples, task):
        """Per example: masked tokens predicted right, masked tokens, summed NLL (over its features)."""
        totals = np.zeros((len(examples), 3))
        for output, example_index in zip(outputs, features["example_index"]):
            totals[example_index] += np.asarray(output, dtype=np.float64)
        return [{"correct": int(round(c)), "masked": int(round(m)), "nll": float(n)} for c, m, n in totals]

    def constant(self, predictions):
        """Predictions here are counts of masked tokens predicted right, not answers."""
        return None

    def score(self, predictions, examples, task, language):
        masked = sum(prediction["masked"] for prediction in predictions)
        if not masked:  # nothing to predict (no maskable token): no perplexity either
            return {"accuracy": 0.0}
        correct = sum(prediction["correct"] for prediction in predictions)
        nll = sum(prediction["nll"] for prediction in predictions)
        return {"accuracy": 100.0 * correct / masked, "perplexity": math.exp(min(nll / masked, 700.0))}


MASKED_LM = MaskedLM()
