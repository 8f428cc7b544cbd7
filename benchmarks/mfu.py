"""Model-FLOPs utilisation of a stilts training stage on an XLM-R-sized encoder at sequence length 256.

    python benchmarks/mfu.py                                      # XLM-R large (24 x 1024): for a GPU
    python benchmarks/mfu.py --size base --batch-size 4 --steps 6 # XLM-R base: a few minutes on 2 CPU cores

The encoder is initialised at random from an XLM-R configuration (250,002-piece embedding, as the
real model), saved as a Hugging Face folder and trained by the real stage code (one intermediate
stage, task mnli, through `stilts.pipeline.engine.run_stages`; the same harness as train_throughput.py), with
what stilts does by itself: bf16 autocast on GPUs that support it, fused AdamW, no per-step host
syncs; ``--tf32`` also allows TF32 matmuls for what runs in float32. Every pair is longer than 256
tokens, so every batch is exactly ``batch x 256`` real tokens and nothing is padding.

Model FLOPs per token, as in PaLM (Chowdhery et al. 2022, appendix B): 6 N + 12 L H S, with N the
parameters outside the embedding, L layers, H the hidden size and S the sequence length (the attention
score and value products); forward and backward, no recomputation counted. MFU is that times real
tokens per second over the device's peak: ``--peak-tflops``, else the dense bf16 peak of known GPUs
(H100/H200 SXM 989, H100 PCIe 756, A100 312), else, on CPU, a float32 matmul measured here (so the CPU
figure is "of what this CPU reaches on one large matmul", not of a datasheet peak). The last line is one
JSON object with ``mfu``.

``--attention eager sdpa flash_attention_2 ...`` measures the same stage once per attention
implementation transformers has for XLM-R (the encoder is switched after stilts loads it; stilts
itself takes transformers' default, sdpa); those that cannot run here (flash-attn not installed,
flex attention on a CPU) are reported as skipped with the reason. The JSON then has
``by_attention`` and, at the top level, the figures of the first one measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_throughput  # noqa: E402
from train_throughput import XLMR_SIZES, build_random_xlmr, load_examples, run_contender, use_tree  # noqa: E402

SIZES = XLMR_SIZES  # layers, hidden, heads, feed-forward
XLMR_VOCABULARY = 250_002
#: the attention implementations transformers has for XLM-R, and what each needs
ATTENTION = ("sdpa", "eager", "flash_attention_2", "flash_attention_3", "flex_attention")
#: dense bf16 tensor-core peaks (TFLOP/s) from the vendors' datasheets, by a piece of the device name
GPU_PEAKS = (("H100 PCIe", 756.0), ("H100", 989.0), ("H200", 989.0), ("GH200", 989.0), ("A100", 312.0))


def build_model(size: str, folder: Path, tokenizer: Path | None = None) -> Path:
    """A random XLM-R encoder of that size with XLM-R's 250,002-row embedding. The tokenizer: the one
    given (an XLM-R tokenizer folder), else the tiny test model's (only its pad id and text splitting
    matter: ids stay below 800, the embedding and its gradient keep their full size)."""
    if tokenizer is not None:
        return build_random_xlmr(folder, size, tokenizer)
    from stilts.testing import build_tiny_model

    return build_random_xlmr(folder, size, build_tiny_model(folder.parent / "tiny"), vocab_size=XLMR_VOCABULARY)


def model_flops_per_token(size: str, sequence_length: int) -> tuple[float, int]:
    layers, hidden, _, ffn = SIZES[size]
    # per layer: Q, K, V, output projections (4 H^2 + 4 H), feed-forward (2 H F + F + H), 2 layer norms
    per_layer = 4 * hidden * hidden + 4 * hidden + 2 * hidden * ffn + ffn + hidden + 4 * hidden
    non_embedding = layers * per_layer
    return 6 * non_embedding + 12 * layers * hidden * sequence_length, non_embedding


def peak_flops(override: float | None, matmul_size: int = 4096) -> tuple[float, str]:
    import torch

    if override:
        return override * 1e12, "--peak-tflops"
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name()
        for piece, tflops in GPU_PEAKS:
            if piece in name:
                return tflops * 1e12, f"datasheet dense bf16 peak of {name}"
        raise SystemExit(f"no known peak for {name}: give --peak-tflops")
    size, repeats = matmul_size, 5
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    seconds = (time.perf_counter() - start) / repeats
    return 2 * size**3 / seconds, f"float32 {size}^3 matmul measured on this CPU ({torch.get_num_threads()} threads)"


def long_pairs(count: int, data: str = "xnli") -> list[dict]:
    """NLI pairs whose premise is many sentences of ``data`` (XNLI dev English by default) long, so
    every pair is cut at max_length."""
    sentences = [e["text_a"] for e in load_examples(data)]
    return [
        {
            "text_a": " ".join(sentences[(i * 40 + j) % len(sentences)] for j in range(40)),
            "text_b": sentences[i % len(sentences)],
            "label": ("entailment", "neutral", "contradiction")[i % 3],
        }
        for i in range(count)
    ]


def attention_unavailable(name: str) -> str | None:
    """Why ``name`` cannot run here (None: it can)."""
    import torch
    from transformers import utils

    if name in ("eager", "sdpa"):
        return None
    if not torch.cuda.is_available():
        return "needs a CUDA device"
    checks = {
        "flash_attention_2": ("is_flash_attn_2_available", "the flash-attn package is not installed"),
        "flash_attention_3": ("is_flash_attn_3_available", "flash-attn 3 (flash_attn_interface) is not installed"),
        "flex_attention": ("is_torch_flex_attn_available", "this torch has no flex attention"),
    }
    function, reason = checks[name]
    available = getattr(utils, function, None)
    return None if available is not None and available() else reason


def measure(config: dict, flops_per_token: float, peak: float, rounds: int) -> dict:
    """Median figures of ``rounds`` stilts runs (each in its own process) of ``config``."""
    runs = []
    for round_number in range(rounds):
        result = run_contender("stilts", config, max_other_cores=float("inf"), retries=0)
        if result["padding_fraction"] > 0.001:
            raise SystemExit(f"batches were padded ({result['padding_fraction']:.1%}): pairs too short")
        achieved = result["tokens_per_s"] * flops_per_token
        runs.append(
            {
                "tokens_per_s": result["tokens_per_s"],
                "steps_per_s": result["steps_per_s"],
                "model_tflops_per_s": achieved / 1e12,
                "mfu": achieved / peak,
                "peak_gpu_mib": result.get("peak_gpu_mib"),
                "peak_rss_mib": result["peak_rss_mib"],
                "attn_implementation": result.get("attn_implementation"),
            }
        )
        print(
            f"  {config.get('attn_implementation') or 'default attention'}, round {round_number + 1}: "
            f"{result['tokens_per_s']:.0f} tokens/s, {achieved / 1e12:.2f} model TFLOP/s, "
            f"MFU {100 * achieved / peak:.1f}%",
            flush=True,
        )
    figures = {key: statistics.median(run[key] for run in runs) for key in ("tokens_per_s", "steps_per_s")}
    figures.update({key: statistics.median(run[key] for run in runs) for key in ("model_tflops_per_s", "mfu")})
    figures["peak_rss_mib"] = max(run["peak_rss_mib"] for run in runs)
    if runs[0]["peak_gpu_mib"] is not None:
        figures["peak_gpu_mib"] = max(run["peak_gpu_mib"] for run in runs)
    figures["attn_implementation"] = runs[0]["attn_implementation"]
    return figures


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="large")
    parser.add_argument("--sequence-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5, help="first steps left out of the measurement")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--tf32", action="store_true", help="allow TF32 matmuls for float32 work (GPU)")
    parser.add_argument("--peak-tflops", type=float, default=None)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--attention",
        nargs="+",
        choices=ATTENTION,
        default=None,
        help="attention implementations to measure, one run each (default: stilts' own, transformers' default)",
    )
    parser.add_argument("--tokenizer", type=Path, default=None, help="an XLM-R tokenizer folder (default: tiny's)")
    parser.add_argument("--data", choices=("xnli", "anli", "demo"), default="xnli", help="the sentences used")
    parser.add_argument("--shared-data", type=Path, default=train_throughput.SHARED_DATA)
    parser.add_argument("--peak-matmul-size", type=int, default=4096, help="CPU: the matmul that sets the peak")
    parser.add_argument("--start-method", choices=("spawn", "fork", "forkserver"), default="spawn")
    parser.add_argument(
        "--time-limit-s",
        type=float,
        default=None,
        help="after this long, skip the implementations still to measure (one is always measured)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ["STILTS_FEATURE_CACHE"] = "off"
    use_tree()
    train_throughput.SHARED_DATA = args.shared_data
    import torch

    torch.set_num_threads(args.threads)
    workdir = Path(tempfile.mkdtemp(prefix="stilts-mfu-"))
    try:
        model = build_model(args.size, workdir / f"xlmr-{args.size}", args.tokenizer)
        examples = long_pairs(args.batch_size * (args.steps + 1), args.data)
        config = {
            "model": str(model),
            "examples": examples,
            "steps": args.steps,
            "warmup": args.warmup,
            "batch_size": args.batch_size,
            "dev_examples": 0,
            "workdir": str(workdir),
            "threads": args.threads,
            "tf32": args.tf32,
            "stage_overrides": {"max_length": args.sequence_length},
            "start_method": args.start_method,
        }
        flops_per_token, non_embedding = model_flops_per_token(args.size, args.sequence_length)
        peak, peak_source = peak_flops(args.peak_tflops, args.peak_matmul_size)
        print(
            f"XLM-R {args.size}: {non_embedding / 1e6:.0f}M parameters outside the embedding, "
            f"{flops_per_token / 1e9:.2f} GFLOP per token at length {args.sequence_length}; "
            f"peak {peak / 1e12:.1f} TFLOP/s ({peak_source})",
            flush=True,
        )
        by_attention: dict[str, dict] = {}
        for name in args.attention or [None]:
            reason = attention_unavailable(name) if name else None
            late = args.time_limit_s and time.perf_counter() - started > args.time_limit_s
            if name and not reason and late and any("mfu" in figures for figures in by_attention.values()):
                reason = f"out of time (--time-limit-s {args.time_limit_s:g})"
            if reason:
                by_attention[name] = {"skipped": reason}
                print(f"  {name}: skipped ({reason})", flush=True)
                continue
            try:
                figures = measure(dict(config, attn_implementation=name), flops_per_token, peak, args.rounds)
            except SystemExit as error:  # a contender that failed: its log's end is in the message
                if not args.attention:
                    raise
                by_attention[name] = {"error": str(error)[-2000:]}
                print(f"  {name}: failed\n{str(error)[-2000:]}", flush=True)
                continue
            by_attention[name or figures["attn_implementation"] or "default"] = figures
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    summary = {
        "size": args.size,
        "sequence_length": args.sequence_length,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "warmup_steps": args.warmup,
        "tf32": args.tf32,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "peak_tflops": peak / 1e12,
        "peak_source": peak_source,
        "gflops_per_token": flops_per_token / 1e9,
        "rounds": args.rounds,
    }
    measured = [figures for figures in by_attention.values() if "mfu" in figures]
    if measured:
        summary.update(measured[0])
    if args.attention:
        summary["by_attention"] = by_attention
    print(json.dumps(summary, sort_keys=True))
    return summary


if __name__ == "__main__":
    main()
