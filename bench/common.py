"""What every benchmark shares: thread settings, the machine's description, interleaved timing.

The machine is shared (2 cores, other people's tests running), so a tool timed alone at a quiet
moment would look faster than one timed during someone's test run. Every comparison therefore runs
its tools in turn within each repetition (A, B, C, A, B, C, ...) and reports medians and ratios
from the same run, with the load average beside them.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

THREADS = 2


def set_threads(threads: int | None = None) -> None:
    """The same intra-op thread count for every tool and every worker process (torch, and the
    BLAS under numpy/sklearn): ``threads``, else $BENCH_THREADS, else 2."""
    threads = threads or int(os.environ.get("BENCH_THREADS", THREADS))
    os.environ["BENCH_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)


@dataclass(frozen=True)
class Sizes:
    """How big each benchmark is; ``quick`` shrinks everything for a smoke run (~2 minutes)."""

    quick: bool
    reps: int  # timed repetitions (medians are over these), after one untimed warm-up
    pairs: int  # contrast pairs for extraction
    extraction_batch: int  # texts per forward pass, the same for every tool
    generation_batch: int
    new_tokens: int
    tuning_reps: int  # optimizer steps per tool, taken in turn (after one warm-up step each)
    matmul_sizes: tuple[int, ...]

    @classmethod
    def for_run(cls, quick: bool) -> Sizes:
        if quick:
            return cls(True, 2, 16, 16, 2, 8, 2, (512, 1024))
        return cls(False, 5, 256, 16, 8, 64, 5, (1024, 2048))


def machine() -> dict[str, object]:
    """CPU model, cores, ISA extensions that decide fp32/bf16 speed, and software versions."""
    info: dict[str, object] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
    }
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        lscpu = ""
    fields = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition(":") for line in lscpu.splitlines())
    )
    info["cpu_model"] = fields.get("Model name", platform.processor() or "unknown")
    info["hypervisor"] = fields.get("Hypervisor vendor", "")
    flags = set(fields.get("Flags", "").split())
    info["isa"] = [
        f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags
    ]
    import transformers

    info["transformers"] = transformers.__version__
    return info


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (2.0 means both cores were busy)."""
    return [round(x, 2) for x in os.getloadavg()]


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (VmHWM: unlike ``ru_maxrss``, which Linux
    carries over from the parent into a spawned process, it starts afresh at exec)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def interleaved(
    tools: dict[str, Callable[[], object]],
    reps: int,
    warmup: dict[str, Callable[[], object]] | None = None,
    after_rep: Callable[[dict[str, list[float]]], None] | None = None,
) -> dict[str, list[float]]:
    """Seconds of each tool's call, tools taken in turn within each repetition.

    ``warmup`` (default: the tools themselves) runs once per tool first, untimed, so one-off costs
    (first-call kernels, allocator growth, lazy imports) fall on no one's timed runs.
    ``after_rep`` sees the times so far after every repetition (to save partial results).
    """
    for run in (warmup or tools).values():
        run()
    times: dict[str, list[float]] = {name: [] for name in tools}
    for _ in range(reps):
        for name, run in tools.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
        if after_rep is not None:
            after_rep(times)
    return times


def summary(seconds: list[float]) -> dict[str, object]:
    """Median and spread of repeated timings, keeping the raw values."""
    return {
        "median_s": statistics.median(seconds),
        "min_s": min(seconds),
        "max_s": max(seconds),
        "runs_s": [round(s, 4) for s in seconds],
    }
