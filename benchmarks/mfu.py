"""Model-FLOPs utilisation of a stilts training stage on an XLM-R-sized encoder at sequence length 256.

    python benchmarks/mfu.py                                      # XLM-R large (24 x 1024): for a GPU
    python benchmarks/mfu.py --size base --batch-size 4 --steps 6 # XLM-R base: a few minutes on 2 CPU cores

The encoder is initialised at random from an XLM-R configuration (250,002-piece embedding, as the
real model), saved as a Hugging Face folder and trained by the real stage code (one intermediate
stage, task mnli, through `stilts.engine.run_stages`; the same harness as train_throughput.py), with
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
from train_throughput import REPO, load_examples, run_contender  # noqa: E402

SIZES = {  # layers, hidden, heads, feed-forward
    "large": (24, 1024, 16, 4096),
    "base": (12, 768, 12, 3072),
    "small": (12, 384, 12, 1536),  # multilingual-e5-small's shape
}
XLMR_VOCABULARY = 250_002
#: dense bf16 tensor-core peaks (TFLOP/s) from the vendors' datasheets, by a piece of the device name
GPU_PEAKS = (("H100 PCIe", 756.0), ("H100", 989.0), ("H200", 989.0), ("GH200", 989.0), ("A100", 312.0))


def build_model(size: str, folder: Path) -> Path:
    """A random XLM-R encoder of that size; the tokenizer of the tiny test model (only its pad id and
    text splitting matter: ids stay below 800, the embedding and its gradient keep their full size)."""
    import torch
    from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaModel

    from stilts.testing import build_tiny_model

    layers, hidden, heads, ffn = SIZES[size]
    config = XLMRobertaConfig(
        vocab_size=XLMR_VOCABULARY,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=ffn,
        max_position_embeddings=514,
        type_vocab_size=1,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )
    torch.manual_seed(0)
    XLMRobertaModel(config, add_pooling_layer=False).save_pretrained(folder)
    tiny = build_tiny_model(folder.parent / "tiny")
    AutoTokenizer.from_pretrained(tiny).save_pretrained(folder)
    return folder


def model_flops_per_token(size: str, sequence_length: int) -> tuple[float, int]:
    layers, hidden, _, ffn = SIZES[size]
    # per layer: Q, K, V, output projections (4 H^2 + 4 H), feed-forward (2 H F + F + H), 2 layer norms
    per_layer = 4 * hidden * hidden + 4 * hidden + 2 * hidden * ffn + ffn + hidden + 4 * hidden
    non_embedding = layers * per_layer
    return 6 * non_embedding + 12 * layers * hidden * sequence_length, non_embedding


def peak_flops(override: float | None) -> tuple[float, str]:
    import torch

    if override:
        return override * 1e12, "--peak-tflops"
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name()
        for piece, tflops in GPU_PEAKS:
            if piece in name:
                return tflops * 1e12, f"datasheet dense bf16 peak of {name}"
        raise SystemExit(f"no known peak for {name}: give --peak-tflops")
    size, repeats = 4096, 5
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    seconds = (time.perf_counter() - start) / repeats
    return 2 * size**3 / seconds, f"float32 {size}^3 matmul measured on this CPU ({torch.get_num_threads()} threads)"


def long_pairs(count: int) -> list[dict]:
    """NLI pairs whose premise is many XNLI sentences long, so every pair is cut at max_length."""
    sentences = [e["text_a"] for e in load_examples("xnli")]
    return [
        {
            "text_a": " ".join(sentences[(i * 40 + j) % len(sentences)] for j in range(40)),
            "text_b": sentences[i % len(sentences)],
            "label": ("entailment", "neutral", "contradiction")[i % 3],
        }
        for i in range(count)
    ]


def main(argv=None) -> None:
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
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ["STILTS_FEATURE_CACHE"] = "off"
    sys.path.insert(0, str(REPO))
    import torch

    torch.set_num_threads(args.threads)
    workdir = Path(tempfile.mkdtemp(prefix="stilts-mfu-"))
    try:
        model = build_model(args.size, workdir / f"xlmr-{args.size}")
        examples = long_pairs(args.batch_size * (args.steps + 1))
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
        }
        flops_per_token, non_embedding = model_flops_per_token(args.size, args.sequence_length)
        peak, peak_source = peak_flops(args.peak_tflops)
        print(
            f"XLM-R {args.size}: {non_embedding / 1e6:.0f}M parameters outside the embedding, "
            f"{flops_per_token / 1e9:.2f} GFLOP per token at length {args.sequence_length}; "
            f"peak {peak / 1e12:.1f} TFLOP/s ({peak_source})",
            flush=True,
        )
        runs = []
        for round_number in range(args.rounds):
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
                }
            )
            print(
                f"  round {round_number + 1}: {result['tokens_per_s']:.0f} tokens/s, "
                f"{achieved / 1e12:.2f} model TFLOP/s, MFU {100 * achieved / peak:.1f}%",
                flush=True,
            )
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
    for key in ("tokens_per_s", "steps_per_s", "model_tflops_per_s", "mfu"):
        summary[key] = statistics.median(run[key] for run in runs)
    summary["peak_rss_mib"] = max(run["peak_rss_mib"] for run in runs)
    if runs[0]["peak_gpu_mib"] is not None:
        summary["peak_gpu_mib"] = max(run["peak_gpu_mib"] for run in runs)
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
