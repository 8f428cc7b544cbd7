"""One shared encoder with one output head per task, and how both are saved and loaded.

Only the encoder travels between stages (``model/`` in ``save_pretrained`` format); heads stay in
the stage that trained them (``heads/<task>.safetensors``), for evaluation and inspection.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from stilts.core.catalog import Task
from stilts.core.errors import BadInput, one_line
from stilts.training.weights import check_stage_file, check_weights

if TYPE_CHECKING:
    from transformers import PreTrainedModel

HEADS_FOLDER = "heads"


class StageModel(nn.Module):
    def __init__(self, encoder: PreTrainedModel, tasks: list[Task]):
        super().__init__()
        self.encoder = encoder
        self.tasks = {task.name: task for task in tasks}
        hidden_size = encoder.config.hidden_size
        self.heads = nn.ModuleDict(
            {task.name: task.format.build_head(task, hidden_size) for task in tasks if task.format.trains}
        )

    def forward(self, task_name: str, batch: dict):
        task = self.tasks[task_name]
        return task.format.forward(self.encoder, self.heads[task_name] if task_name in self.heads else None, batch)


def load_encoder(model_path: str, attention: str = "auto", *, mixed_precision: str = "no", packing: bool = False):
    """Encoder and tokenizer from a Hub id or local folder; clear errors for folders without weights
    and for tokenizers that do not read text (`check_tokenizer`).

    ``attention``: a pipeline's setting (``auto``, ``sdpa``, ``eager``, ``flash_attention_2``, ``flex``),
    resolved for the encoder's class and this machine (``mixed_precision``: accelerate's, ``no``, ``fp16``
    or ``bf16``; ``packing``: the stage packs its batches) and passed as ``attn_implementation``; one
    the class or the machine lacks is a BadInput naming the pipeline's field. The encoder's
    ``config._attn_implementation`` says which kernel it runs."""
    from transformers import AutoConfig, AutoModel

    from stilts.training.adapters import ADAPTER_CONFIG, is_adapter_folder, merged_with_adapter
    from stilts.training.attention import Machine, attention_problem, resolve_attention
    from stilts.training.encoder_class import base_model_class, without_pooler

    folder = Path(model_path)
    check_weights(model_path)  # none, or a zero-byte, truncated or code-running weights file: one line
    if is_adapter_folder(folder):  # a stage that kept its adapter: the encoder under it, plus the adapter
        base = json.loads((folder / ADAPTER_CONFIG).read_text())["base_model_name_or_path"]
        encoder, _ = load_encoder(base, attention, mixed_precision=mixed_precision, packing=packing)
        return merged_with_adapter(encoder, folder), load_tokenizer(model_path)
    if not folder.is_dir():  # a Hub id: a Hub that does not answer is asked once, not per file
        from stilts.data.hub import use_hub

        use_hub()
    tokenizer = load_tokenizer(model_path)
    try:
        config = AutoConfig.from_pretrained(model_path)
    except (OSError, ValueError) as error:
        raise BadInput(f"model: cannot load '{model_path}': {one_line(error)}") from None
    model_class, machine = base_model_class(config), Machine.here(mixed_precision)
    problem = attention_problem(attention, model_class, config.model_type, packing=packing, machine=machine)
    if problem:
        raise BadInput(problem)
    implementation = resolve_attention(attention, model_class, machine, packing=packing)
    try:
        encoder = AutoModel.from_pretrained(model_path, attn_implementation=implementation, **without_pooler(config))
    except (OSError, ValueError) as error:
        raise BadInput(f"model: cannot load '{model_path}': {one_line(error)}") from None
    return encoder, tokenizer


def load_tokenizer(model_path: str):
    """The tokenizer of a Hub id or model folder, once it is seen to read text (`check_tokenizer`)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path)
    except (OSError, ValueError) as error:
        raise BadInput(f"model: cannot load '{model_path}': {one_line(error)}") from None
    check_tokenizer(tokenizer, model_path)
    return tokenizer


#: a sentence in each of several scripts: a tokenizer that reads text gives at least one of them back
TOKENIZER_PROBES = (
    "The cat sleeps in the garden.",
    "Die Katze schläft im Garten.",
    "Кошка спит в саду.",
    "القطة نائمة في الحديقة.",
    "बिल्ली बगीचे में सो रही है।",
    "猫在花园里睡觉。",
)
#: the files a tokenizer's vocabulary comes in (fast tokenizers, sentencepiece, WordPiece, BPE)
VOCABULARY_FILES = (
    "tokenizer.json",
    "sentencepiece.bpe.model",
    "spiece.model",
    "sentencepiece.model",
    "tokenizer.model",
    "vocab.txt",
    "vocab.json",
)


def check_tokenizer(tokenizer, model_path: str) -> None:
    """BadInput naming the model unless ``tokenizer`` gives back at least one of `TOKENIZER_PROBES`
    (decoded, up to case, accents and spaces, which some tokenizers drop).

    A model folder without its vocabulary (no ``tokenizer.json``) loads without a word: transformers
    builds a tokenizer of the 5 special tokens from ``tokenizer_config.json``, every text becomes
    ``<unk>``, and training and evaluation run on nothing, with scores that look like numbers."""
    for probe in TOKENIZER_PROBES:
        ids = tokenizer(probe, add_special_tokens=False)["input_ids"]
        if _comparable(tokenizer.decode(ids, skip_special_tokens=True)) == _comparable(probe):
            return
    ids = tokenizer(TOKENIZER_PROBES[0], add_special_tokens=False)["input_ids"]
    unknown = all(token == tokenizer.unk_token_id for token in ids)
    problem = "reads text as unknown tokens only" if unknown else "does not give text back"
    shown = " ".join(tokenizer.convert_ids_to_tokens(ids))
    folder = Path(model_path)
    if folder.is_dir() and not any((folder / name).is_file() for name in VOCABULARY_FILES):
        missing = (
            "the folder has no tokenizer.json (nor another vocabulary file such as sentencepiece.bpe.model or "
            "vocab.txt): copy the tokenizer files of the model it was saved from"
        )
    else:
        missing = "its tokenizer files do not hold the vocabulary"
    raise BadInput(f"{model_path}: the tokenizer {problem} ({TOKENIZER_PROBES[0]!r} becomes {shown}): {missing}")


def _comparable(text: str) -> str:
    """``text`` without case, accents and white space (uncased WordPiece tokenizers drop the first two,
    most tokenizers change the spaces around punctuation)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not c.isspace() and not unicodedata.combining(c)).casefold()


def save_heads(model: StageModel, folder: Path) -> None:
    """Heads as safetensors plus a JSON index saying which task and format each belongs to."""
    folder.mkdir(parents=True, exist_ok=True)
    index = {}
    for name, head in model.heads.items():
        state = {key: value.detach().cpu().contiguous() for key, value in head.state_dict().items()}
        save_file(state, str(folder / f"{name}.safetensors"))
        index[name] = {"format": model.tasks[name].format.name, "labels": list(model.tasks[name].labels)}
    (folder / "heads.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")


def load_head(model: StageModel, task: Task, folder: Path) -> None:
    """The head a stage trained for ``task``, from the stage's ``folder`` heads/."""
    path = folder / f"{task.name}.safetensors"
    if not path.is_file():
        raise BadInput(f"{folder}: no trained head for task '{task.name}'")
    check_stage_file(path, folder.parent)
    model.heads[task.name].load_state_dict(load_file(str(path)))
    model.heads[task.name].to(next(model.encoder.parameters()).device)


def seed_everything(seed: int) -> None:
    from accelerate.utils import set_seed

    set_seed(seed)  # python, numpy, torch (CPU and all GPUs)
    torch.use_deterministic_algorithms(False)
