"""One shared encoder with one output head per task, and how both are saved and loaded.

Only the encoder travels between stages (``model/`` in ``save_pretrained`` format); heads stay in
the stage that trained them (``heads/<task>.safetensors``), for evaluation and inspection.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from stilts.catalog import Task
from stilts.errors import BadInput
from stilts.weights import check_model_folder, check_stage_file

HEADS_FOLDER = "heads"


class StageModel(nn.Module):
    def __init__(self, encoder: nn.Module, tasks: list[Task]):
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


def load_encoder(model_path: str):
    """Encoder and tokenizer from a Hub id or local folder; clear errors for folders without weights."""
    from transformers import AutoModel, AutoTokenizer

    from stilts.adapters import ADAPTER_CONFIG, is_adapter_folder, merged_with_adapter

    folder = Path(model_path)
    check_model_folder(model_path)  # a zero-byte, truncated or code-running weights file: one line
    if is_adapter_folder(folder):  # a stage that kept its adapter: the encoder under it, plus the adapter
        base = json.loads((folder / ADAPTER_CONFIG).read_text())["base_model_name_or_path"]
        encoder, _ = load_encoder(base)
        return merged_with_adapter(encoder, folder), AutoTokenizer.from_pretrained(model_path)
    if not folder.is_dir():  # a Hub id: a Hub that does not answer is asked once, not per file
        from stilts.hub import use_hub

        use_hub()
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        # no pooler: heads read the token states, and an unused pooler only adds warnings and weights
        encoder = AutoModel.from_pretrained(model_path, add_pooling_layer=False)
    except (OSError, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise BadInput(f"model: cannot load '{model_path}': {first_line}") from None
    return encoder, tokenizer


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
