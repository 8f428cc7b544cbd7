"""What an adapter stage costs and saves: full fine-tuning against LoRA (r = 8 and 16) on one encoder.

    python benchmarks/peft_cost.py --model e5              # multilingual-e5-small, ~10 min on 2 CPU cores
    python benchmarks/peft_cost.py --model tiny --steps 20  # a quick look

Each contender is one intermediate stage (task mnli on XNLI-en dev pairs, as train_throughput.py)
through the real engine, in its own process, the contenders alternating over rounds: the same
batches, the same number of steps, a checkpoint halfway. Reported per contender: trainable
parameters (heads included), the optimizer's state as allocated (AdamW: two float32 tensors per
trained parameter), peak RSS, steps/s, the size of one resumable checkpoint, and what the stage
hands on (model/ for full fine-tuning; adapter/ for LoRA, whose merged model/ is as large as the
full one). Ratios are against full fine-tuning measured in the same run. The last line is one JSON
object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_throughput import REPO, _idle_cores, load_examples, model_folder, run_contender  # noqa: E402

CONTENDERS = {
    "full": {},
    "lora-r8": {"peft": {"method": "lora", "r": 8}},
    "lora-r16": {"peft": {"method": "lora", "r": 16}},
}
FIGURES = ("steps_per_s", "peak_rss_mib", "trainable_parameters", "optimizer_state_mib", "checkpoint_mib")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("tiny", "e5"), default="e5")
    parser.add_argument("--steps", type=int, default=12, help="optimizer steps per contender")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="default: the cores other processes leave idle")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ["STILTS_FEATURE_CACHE"] = "off"
    sys.path.insert(0, str(REPO))
    threads = args.threads or _idle_cores()
    workdir = Path(tempfile.mkdtemp(prefix="stilts-peft-"))
    try:
        config = {
            "model": str(model_folder(args.model, workdir)),
            "examples": load_examples("xnli"),
            "steps": args.steps,
            "dev_examples": 0,
            "warmup": 1,
            "workdir": str(workdir),
            "threads": threads,
            "batch_size": args.batch_size,
        }
        print(f"model {args.model}, {args.steps} steps of batch {args.batch_size}, {threads} threads", flush=True)
        results: dict[str, list[dict]] = {name: [] for name in CONTENDERS}
        for round_number in range(args.rounds):
            order = list(CONTENDERS) if round_number % 2 == 0 else list(reversed(CONTENDERS))
            for name in order:
                overrides = dict(CONTENDERS[name], checkpoint_every=max(1, args.steps // 2))
                result = run_contender("stilts", dict(config, stage_overrides=overrides), retries=1)
                results[name].append(result)
                print(
                    f"  round {round_number + 1} {name:<9} {result['steps_per_s']:.3f} steps/s, peak RSS "
                    f"{result['peak_rss_mib']:.0f} MiB, other processes {result.get('other_cores', 0):.2f} cores",
                    flush=True,
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    summary: dict = {"model": args.model, "steps": args.steps, "batch_size": args.batch_size, "threads": threads}
    for name, runs in results.items():
        figures = {key: statistics.median(run[key] for run in runs) for key in FIGURES}
        figures["hands_on_mib"] = runs[0]["adapter_mib"] if CONTENDERS[name] else runs[0]["model_mib"]
        summary[name] = figures
    full = summary["full"]
    header = f"{'':<9} {'trainable':>12} {'optimizer MiB':>14} {'peak RSS MiB':>13} {'steps/s':>8} "
    header += f"{'checkpoint MiB':>15} {'hands on MiB':>13}"
    print(header)
    for name in CONTENDERS:
        row = summary[name]
        print(
            f"{name:<9} {row['trainable_parameters']:>12,.0f} {row['optimizer_state_mib']:>14.1f} "
            f"{row['peak_rss_mib']:>13.0f} {row['steps_per_s']:>8.3f} {row['checkpoint_mib']:>15.1f} "
            f"{row['hands_on_mib']:>13.2f}"
        )
        if name != "full":
            row["vs_full"] = {key: row[key] / full[key] if full[key] else None for key in (*FIGURES, "hands_on_mib")}
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
