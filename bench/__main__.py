"""Run every benchmark on the embedded model and rewrite BENCHMARKS.md (see bench/run.sh).

python -m bench [--quick] [--only extraction,generation,tuning]
"""

from __future__ import annotations

import os

os.environ.setdefault("TQDM_DISABLE", "1")  # the peers' progress bars; set before tqdm is imported

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import reptune  # noqa: E402
from reptune.activations import Position, capture  # noqa: E402

from . import extraction, generation, report, tuning_step  # noqa: E402
from .common import Sizes, load_average, machine, set_threads  # noqa: E402
from .flops import matmul_flops, output_weights, profile, weights  # noqa: E402

STAGES = ("extraction", "generation", "tuning")
ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description="reptune vs its peers, side by side")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a ~2 minute smoke run")
    parser.add_argument("--only", default=",".join(STAGES), help="comma-separated stages")
    parser.add_argument("--out", type=Path, help="markdown file (default: BENCHMARKS.md)")
    parser.add_argument("--threads", type=int, help="torch threads for every tool (default 2)")
    args = parser.parse_args()
    stages = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(stages) - set(STAGES)
    if unknown:
        parser.error(f"unknown stage(s) {sorted(unknown)}; choose from {', '.join(STAGES)}")
    folder = ROOT / "bench" / ".quick" if args.quick else ROOT
    out = args.out or folder / "BENCHMARKS.md"
    data = (
        out.with_name("benchmarks.json")
        if args.out or args.quick
        else ROOT / "bench" / "results.json"
    )

    set_threads(args.threads)
    sizes = Sizes.for_run(args.quick)
    started = time.perf_counter()
    lm = reptune.load_model()
    results: dict[str, object] = {
        "command": "bench/run.sh"
        + (" --quick" if args.quick else "")
        + ("" if stages == list(STAGES) else f" --only {','.join(stages)}")
        + (f" --threads {args.threads}" if args.threads else ""),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "sizes": dataclasses.asdict(sizes),
        "machine": machine(),
        "load_average_start": load_average(),
        "model": {
            "name": lm.name,
            "parameters": sum(p.numel() for p in lm.model.parameters()),
            "blocks": lm.num_layers,
            "block_weights": weights(lm.adapter.blocks),
            "head_weights": output_weights(lm.model),
        },
    }
    print(f"machine: {results['machine']['cpu_model']}, load {results['load_average_start']}")
    results["flops"] = matmul_flops(sizes.matmul_sizes)
    print(f"matmul limit: {results['flops']['peak_flops'] / 1e9:.1f} GFLOP/s")

    def save() -> None:
        """Results so far, after every stage: a run cut short still leaves what it measured."""
        results["load_average_end"] = load_average()
        results["wall_minutes"] = (time.perf_counter() - started) / 60
        data.parent.mkdir(parents=True, exist_ok=True)
        data.write_text(json.dumps(results, indent=1) + "\n")
        out.write_text(report.render(results))

    # The cheap stages first; they use directions from 16 pairs unless extraction ran before.
    directions = reptune.extract(lm, extraction.contrast_pairs(16), progress=False)
    if "tuning" in stages:
        results["tuning"] = tuning_step.run(lm, directions, sizes)
        for mode in tuning_step.MODES:
            print(f"tuning ({mode}):", _medians(results["tuning"][mode]["tools"]))
        save()
    if "generation" in stages:
        results["generation"] = generation.run(lm, directions, sizes)
        print("generation:", _medians(results["generation"]["tools"]))
        save()
    if "extraction" in stages:

        def partial(part: dict) -> None:
            results["extraction"] = part
            save()

        results["extraction"] = extraction.run(lm, sizes, partial)
        texts = [lm.render(p.positive) for p in extraction.contrast_pairs(sizes.pairs)[:32]]
        results["extraction"]["reptune_profile"] = profile(
            lambda: capture(lm, texts, range(lm.num_layers - 1), (Position(-1),), progress=False)
        )
        print("extraction:", _medians(results["extraction"]["tools"]))
    results["flops_end"] = matmul_flops(sizes.matmul_sizes)
    save()
    print(f"wrote {out} and {data} in {results['wall_minutes']:.1f} min")


def _medians(tools: dict[str, dict]) -> str:
    return ", ".join(f"{name} {row['median_s']:.3f}s" for name, row in tools.items())


if __name__ == "__main__":
    main()
