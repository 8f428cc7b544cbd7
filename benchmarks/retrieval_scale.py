"""How BUCC-style mining scales: chunked k-NN (stilts.formats.retrieval) against one dense matmul.

    python benchmarks/retrieval_scale.py                 # 100k x 100k, dim 256
    python benchmarks/retrieval_scale.py --n 20000 --dim 768 --dense-n 20000

Two sides of ``n`` random unit vectors (a tenth of them noisy copies of the other side, so there is
something to mine) go through XTREME's mining: k = 4 nearest neighbours both ways, ratio margin,
forward/backward best candidates (`mine_candidates`). Similarities are computed in chunks of rows, so
at most chunk x n of them exist at a time. For comparison, a single dense ``x @ y.T`` with top-k on its
rows and columns runs at ``--dense-n`` (default: the largest of n, 40k, 20k, 10k whose n x n float32
matrix fits in a quarter of the memory); at that size the chunked run is timed too and its neighbours
are checked against the dense ones.

Every measurement runs in a fresh process; its peak memory is the growth of the process's maximum
resident set size (``ru_maxrss``) over what it held once the vectors existed. Dim 256 keeps the
100k x 100k run to a few minutes on 2 CPU cores (the matmul is 2 * n^2 * dim flops: 5 TFLOP);
XLM-R large's 1024 would take four times as long and change the memory by a few hundred MB, not the
n x n term.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import time


def _vectors(n: int, dim: int, seed: int):
    import torch

    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=generator)
    y = torch.randn(n, dim, generator=generator)
    pairs = n // 10
    y[:pairs] = x[:pairs] + 0.5 * torch.randn(pairs, dim, generator=generator)
    return torch.nn.functional.normalize(x, dim=1), torch.nn.functional.normalize(y, dim=1)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _measure(mode: str, n: int, dim: int, k: int, chunk_size: int | None, seed: int, threads: int, queue):
    import torch

    from stilts.formats.retrieval import knn, mine_candidates

    torch.set_num_threads(threads)
    x, y = _vectors(n, dim, seed)
    baseline = _peak_mib()
    start = time.perf_counter()
    if mode == "mine":  # the whole of BUCC mining, chunked
        mined = mine_candidates(x.numpy(), y.numpy(), neighbourhood=k, chunk_size=chunk_size)
        detail = {"mined_pairs": len(mined), "true_pairs_found": sum(i == j and i < n // 10 for i, j, _ in mined)}
        neighbours = None
    elif mode == "chunked":  # the k-NN both ways only, chunked
        _, x2y, _, y2x = knn(x, y, k, both=True, chunk_size=chunk_size)
        neighbours, detail = (x2y, y2x), {}
    else:  # one dense matrix
        sim = x @ y.T
        x2y = sim.topk(k, dim=1).indices
        y2x = sim.topk(k, dim=0).indices.T
        del sim
        neighbours, detail = (x2y, y2x), {}
    seconds = time.perf_counter() - start
    result = {
        "mode": mode,
        "n": n,
        "seconds": seconds,
        "peak_growth_mib": _peak_mib() - baseline,
        "baseline_mib": baseline,
        **detail,
    }
    if neighbours is not None:
        result["neighbours"] = [t.numpy() for t in neighbours]
    queue.put(result)


def run(mode: str, n: int, args) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(
        target=_measure, args=(mode, n, args.dim, args.k, args.chunk_size, args.seed, args.threads, queue)
    )
    process.start()
    result = queue.get()
    process.join()
    return result


def _memory_mib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="sentences per side (default 100000)")
    parser.add_argument("--dim", type=int, default=256, help="embedding size (default 256)")
    parser.add_argument("--k", type=int, default=4, help="neighbourhood (XTREME: 4)")
    parser.add_argument("--chunk-size", type=int, default=None, help="rows per chunk (default: 2^26 / n)")
    parser.add_argument("--dense-n", type=int, default=None, help="size of the dense comparison")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    budget = _memory_mib() / 4
    dense_n = args.dense_n or next((m for m in (args.n, 40_000, 20_000, 10_000) if m * m * 4 / 2**20 <= budget), None)
    print(
        f"{args.n} x {args.n} vectors of dim {args.dim}, k={args.k}, {args.threads} threads; "
        f"a dense {args.n} x {args.n} float32 matrix would need {args.n**2 * 4 / 2**30:.1f} GiB "
        f"(machine: {_memory_mib() / 1024:.1f} GiB)"
    )
    rows = []
    mined = run("mine", args.n, args)
    rows.append(mined)
    print(
        f"  chunked mining, n={args.n}: {mined['seconds']:.1f} s, peak +{mined['peak_growth_mib']:.0f} MiB "
        f"(vectors and interpreter: {mined['baseline_mib']:.0f} MiB); {mined['mined_pairs']} pairs mined, "
        f"{mined['true_pairs_found']} of the {args.n // 10} planted pairs among them"
    )
    if dense_n:
        chunked, dense = run("chunked", dense_n, args), run("dense", dense_n, args)
        agree = [float((a == b).all(axis=1).mean()) for a, b in zip(chunked["neighbours"], dense["neighbours"])]
        for result in (chunked, dense):
            print(
                f"  {result['mode']:>7} k-NN both ways, n={dense_n}: {result['seconds']:.1f} s, "
                f"peak +{result['peak_growth_mib']:.0f} MiB"
            )
        print(
            f"  rows with the same {args.k} neighbours as the dense run: x->y {100 * agree[0]:.3f}%, "
            f"y->x {100 * agree[1]:.3f}% (differences only where float rounding reorders near-ties)"
        )
    else:
        print("  no dense comparison: not even a 10k x 10k matrix fits in a quarter of the memory")


if __name__ == "__main__":
    main()
