"""`stilts export`: a trained stage's encoder and head as a standard transformers task model.

The task format says which Auto class its head converts to (``TaskFormat.hf_task_model``) and copies
the weights (``export_head``); the export then checks on sample inputs that the task model's logits
equal stilts' own and refuses to write anything otherwise. A stage that kept a LoRA adapter is merged
first, so the result needs neither stilts nor peft.
"""

from __future__ import annotations

from pathlib import Path

from stilts.core.artifacts import COMPLETE, STAGE_CONFIG_KEYS, atomic_folder, read_record, redo_stage, upstream_folder
from stilts.core.catalog import get_task
from stilts.core.errors import BadInput, RunFailed
from stilts.offline.registry import OFFLINE_PREFIX
from stilts.training.model import HEADS_FOLDER, StageModel, load_encoder, load_head

#: logits of the exported model and of stilts may differ by float rounding only
TOLERANCE = 1e-5
_PIPELINE_TAGS = {
    "AutoModelForSequenceClassification": "text-classification",
    "AutoModelForTokenClassification": "token-classification",
    "AutoModelForQuestionAnswering": "question-answering",
}
_SAMPLES = ["Ein kurzer Satz.", "A somewhat longer English sentence, with a comma and more words in it."]


def export_stage(stage_dir: Path, output: Path, task_name: str | None = None) -> dict:
    """Write ``stage_dir``'s model as a transformers task model into ``output``; returns a summary."""
    import torch
    import transformers

    index_path = stage_dir / HEADS_FOLDER / "heads.json"
    if not (stage_dir / COMPLETE).is_file():
        raise BadInput(f"{stage_dir}: not a complete stage folder (no {COMPLETE})")
    if not index_path.is_file():
        raise BadInput(f"{stage_dir}: the stage trained no head (export the target stage an evaluation scored)")
    index = read_record(index_path, redo_stage(stage_dir))
    if task_name is None:
        if len(index) != 1:
            raise BadInput(f"--task: {stage_dir.name} trained {len(index)} heads ({', '.join(index)}); choose one")
        (task_name,) = index
    elif task_name not in index:
        raise BadInput(f"--task {task_name}: {stage_dir.name} has no head for it (it has: {', '.join(index)})")
    task = get_task(task_name)
    task_format = task.format
    where = f"{stage_dir.name}: {task_name} ({task_format.name} format)"
    if task_format.hf_task_model is None:
        raise BadInput(f"{where}: no standard transformers task model takes this head")
    labels = list(index[task_name].get("labels") or [])
    card = model_card(stage_dir, task_name, task_format.hf_task_model, labels)  # reads the run's records first
    encoder, tokenizer = load_encoder(str(stage_dir / "model"), "auto")  # float32 here: sdpa or eager
    model = StageModel(encoder, [task])
    load_head(model, task, stage_dir / HEADS_FOLDER)
    config = encoder.config
    if labels:
        config.num_labels = len(labels)
        config.id2label = dict(enumerate(labels))
        config.label2id = {label: number for number, label in enumerate(labels)}
    task_model = getattr(transformers, task_format.hf_task_model).from_config(config)
    _, unexpected = task_model.base_model.load_state_dict(encoder.state_dict(), strict=False)
    if unexpected:
        raise BadInput(f"{where}: {type(task_model).__name__} has no place for {unexpected[0]}")
    try:
        task_format.export_head(model.heads[task_name], task_model)
    except ValueError as error:
        raise BadInput(f"{where}: cannot convert exactly to {task_format.hf_task_model}: {error}") from None

    model.eval(), task_model.eval()
    batch = dict(tokenizer(_SAMPLES, padding=True, return_tensors="pt"))
    with torch.inference_mode():
        ours = task_format.forward(model.encoder, model.heads[task_name], batch)[1]
        theirs = task_format.hf_logits(task_model(**batch))
    difference = float((ours - theirs).abs().max())
    if difference > TOLERANCE:
        raise RunFailed(
            f"{where}: the exported model's logits differ from stilts' by {difference:.2e}; nothing written"
        )
    with atomic_folder(output) as folder:
        task_model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        (folder / "README.md").write_text(card)
    return {"task_model": type(task_model).__name__, "labels": labels, "max_logit_difference": difference}


def model_card(stage_dir: Path, task_name: str, auto_class: str, labels: list[str]) -> str:
    """A Hugging Face model card: the stages that trained the model, from the pretrained model on, with
    their settings, and the scores its evaluations measured."""
    lineage = _lineage(stage_dir)
    config = lineage[-1][1]
    first = lineage[0][1]
    base_model = _hub_base_model(first)
    lines = [
        "---",
        "library_name: transformers",
        f"pipeline_tag: {_PIPELINE_TAGS.get(auto_class, 'other')}",
        *([f"base_model: {base_model}"] if base_model else []),
        "tags: [stilts]",
        "---",
        "",
        f"# {config.get('pipeline', stage_dir.parent.name)}: {task_name}",
        "",
        f"Exported by `stilts export` from the {config.get('kind', 'training')} stage `{stage_dir.resolve().name}` "
        f"of pipeline `{config.get('pipeline')}`; loads with `{auto_class}.from_pretrained`.",
        "",
        f"Trained from {_describe_model(first)} in {len(lineage)} stage{'s' * (len(lineage) > 1)}:",
        "",
    ]
    for number, (folder, stage) in enumerate(lineage, start=1):
        settings = stage.get("settings", {})
        tasks = settings.get("train_tasks") or settings.get("tasks") or []
        this = " (this model)" if number == len(lineage) else ""
        lines.append(f"{number}. {stage.get('kind', 'training')} stage `{folder.name}`: {', '.join(tasks)}{this}")
    lines.append("")
    if labels:
        lines += [f"Labels: {', '.join(labels)}.", ""]
    lines += ["## Training", ""]
    for folder, stage in lineage:
        settings = stage.get("settings", {})
        lines += [f"### {stage.get('kind', 'training')} stage `{folder.name}`", ""]
        lines += [f"- {key}: {settings[key]}" for key in sorted(settings)] + [""]
    for evaluation in _evaluations_of(stage_dir):
        lines += [f"## Scores ({evaluation['task']}, zero-shot where the language is not the training one)", ""]
        for split, by_language in evaluation["scores"].items():
            metrics = list(next(iter(by_language.values())))
            lines.append(f"| {split} | " + " | ".join(metrics) + " |")
            lines.append("|---|" + "---|" * len(metrics))
            for language, values in by_language.items():
                lines.append(f"| {language} | " + " | ".join(f"{values[m]:.1f}" for m in metrics) + " |")
            lines.append("")
    return "\n".join(lines) + "\n"


def _lineage(stage_dir: Path) -> list[tuple[Path, dict]]:
    """(folder, config.json) of the stage and of each stage it started from, the first trained one first."""
    chain: list[tuple[Path, dict]] = []
    folder: Path | None = stage_dir.resolve()
    while folder is not None and all(folder != seen for seen, _ in chain):
        # a card from a config.json that cannot be read would be blank where the training should be
        config = read_record(folder / "config.json", redo_stage(folder), STAGE_CONFIG_KEYS)
        chain.append((folder, config))
        folder = upstream_folder(stage_dir, config["upstream"]) if config["upstream"] else None
    return chain[::-1]


def _hub_base_model(config: dict) -> str | None:
    """The Hub model the first stage started from (a card's ``base_model``); None for a local folder."""
    model = str(config.get("model") or "")
    if model.startswith(OFFLINE_PREFIX):
        from stilts.offline.registry import OFFLINE_MODELS

        name = model[len(OFFLINE_PREFIX) :]
        return OFFLINE_MODELS.get(name).hub_id if name in OFFLINE_MODELS else None
    # the run records the commit it loaded only for a model from the Hub
    return model if config.get("model_sha") else None


def _describe_model(config: dict) -> str:
    model = str(config.get("model"))
    if model.startswith(OFFLINE_PREFIX):
        base = _hub_base_model(config)
        return f"`{model}`" + (f" (stilts' offline copy of {base})" if base else "")
    if config.get("model_sha"):
        return f"`{model}` (Hub revision {config['model_sha']})"
    return f"the local model `{model}`"


def _evaluations_of(stage_dir: Path) -> list[dict]:
    """The metrics of the complete evaluate stages of the same run folder that scored this stage."""
    found = []
    here = stage_dir.resolve()
    for folder in sorted(path.parent for path in here.parent.glob("*/config.json")):
        if not (folder / COMPLETE).is_file():
            continue
        # any complete stage may be an evaluation of this one: one that cannot be read is not left out
        upstream = read_record(folder / "config.json", redo_stage(folder), STAGE_CONFIG_KEYS)["upstream"]
        # compared by folder, not as typed: the run recorded an absolute path, the user may type a relative one
        if upstream is not None and upstream_folder(here, upstream).resolve() == here:
            metrics = read_record(folder / "metrics.json", redo_stage(folder))
            if "scores" in metrics:
                found.append(metrics)
    return found
