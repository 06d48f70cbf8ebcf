"""The limit: the machine's fp32 matrix-multiply FLOP/s, and the model FLOPs a piece of work needs.

FLOPs are counted the usual way: 2 per weight per token for a forward pass through that weight,
2 more for each gradient the backward pass needs (input gradient, weight gradient), so a fully
trained layer costs 6 per weight per token. Attention's sequence-squared terms are left out (the
sequences here are 60-80 tokens against a 576-wide model, so they are a few percent).
"""

from __future__ import annotations

import time

import torch
from torch import nn


def matmul_flops(sizes: tuple[int, ...], seconds: float = 2.0) -> dict[str, object]:
    """fp32 FLOP/s of the fastest of repeated square ``n x n @ n x n`` products, best size.

    The fastest run, not the median: on a shared machine the slower runs measure the neighbours,
    and the limit is what the cores can do when they are free.
    """
    by_size = {}
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.mm(a, b)  # warm-up: thread pool and kernel selection
        runs: list[float] = []
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline or len(runs) < 3:
            start = time.perf_counter()
            torch.mm(a, b)
            runs.append(time.perf_counter() - start)
        by_size[n] = 2 * n**3 / min(runs)
    best = max(by_size, key=by_size.get)
    return {
        "peak_flops": by_size[best],
        "best_size": best,
        "by_size": {str(n): f for n, f in by_size.items()},
    }


def weights(module: nn.Module) -> int:
    """Number of matmul weights in a module (norm scales and biases are negligible and left out)."""
    return sum(p.numel() for p in module.parameters() if p.ndim >= 2)


def output_weights(model: nn.Module) -> int:
    """Weights of the vocabulary projection (counted even when tied to the input embedding)."""
    return weights(model.get_output_embeddings())


def forward_flops(block_weights: int, tokens: int, head_weights: int = 0) -> float:
    """Model FLOPs of a forward pass over ``tokens`` through blocks (and the head, if given)."""
    return 2.0 * (block_weights + head_weights) * tokens


MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")


def profile(call) -> dict[str, object]:
    """Where one call's time goes: the share in matrix multiplies, and their own FLOP/s.

    Separates the two reasons work runs below the matmul limit: time outside matmuls (elementwise
    ops, softmax, norms, the optimizer, Python and dispatch) and matmuls slower than the large
    square ones (small or skinny shapes).
    """
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    start = time.perf_counter()
    with torch_profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        call()
    wall = time.perf_counter() - start
    events = prof.key_averages()
    matmul = [e for e in events if e.key in MATMUL_OPS]
    matmul_s = sum(e.self_cpu_time_total for e in matmul) / 1e6
    matmul_flops = sum(e.flops for e in matmul)
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:8]
    return {
        "wall_s": wall,
        "matmul_s": matmul_s,
        "matmul_share": matmul_s / wall,
        "matmul_flops_per_s": matmul_flops / matmul_s if matmul_s else 0.0,
        "top_self_s": {e.key: e.self_cpu_time_total / 1e6 for e in top},
        # the optimizer's whole step (its kernels included), a cost no loss arrangement changes
        "optimizer_s": sum(e.cpu_time_total for e in events if e.key.startswith("Optimizer.step"))
        / 1e6,
    }
