"""Capability through EleutherAI's lm-evaluation-harness (``lm-eval``), the benchmark runner
whose numbers other papers report, so a tuned or steered model's arc_easy / hellaswag / mmlu
accuracy is comparable with theirs.

The harness gets reptune's live model object (its ``HFLM`` accepts one) and runs inside
:func:`reptune.steering.steer`, so every forward pass it makes carries the steering hooks. The
harness's own ``steered`` model type is not used: it reads its steering file with
an unrestricted ``torch.load`` (a pickle), which reptune never writes or reads.

Hub tasks need a network. Offline, reptune ships harness task configurations
(``harness_tasks/*.yaml``) for its built-in items; each reads a JSONL file that reptune writes
into a temporary folder for the run, so the whole path runs without the hub.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from ..behaviors import general_knowledge
from ..errors import ReptuneError
from ..models import LoadedModel
from ..steering import Steering, steer
from .stats import wilson

TASK_DIR = Path(__file__).parent / "harness_tasks"
# reptune's offline tasks: name -> the function that writes the task's JSONL file.
LOCAL_TASKS: dict[str, Callable[[Path], Path]] = {
    "reptune_general_knowledge": general_knowledge.write_items,
}
INSTALL = "pip install 'reptune[harness]'"


def check_installed() -> str:
    """The installed lm-eval version; refuses with the install line when it is missing."""
    try:
        return metadata.version("lm_eval")
    except metadata.PackageNotFoundError:
        raise ReptuneError(
            f"--lm-eval needs EleutherAI's lm-evaluation-harness, which is not installed: {INSTALL}"
        ) from None


def requested_tasks(names: Sequence[str], limit: int | None = None) -> list[str]:
    """Task names (stripped, duplicates dropped), with the limit and the harness checked, so a
    bad ``--lm-eval`` request fails before a model loads."""
    cleaned = [name.strip() for name in names]
    if not cleaned or not all(cleaned):
        raise ReptuneError(
            f"--lm-eval {','.join(names)!r}: give comma-separated task names, e.g. arc_easy"
        )
    if limit is not None and limit < 1:
        raise ReptuneError(f"--lm-eval-limit must be at least 1, got {limit}")
    check_installed()
    return list(dict.fromkeys(cleaned))


def _write_local_task(name: str, folder: Path) -> None:
    """The shipped task YAML with its data file pointed at the items written into ``folder``
    (and the dataset cache kept there too, so a run leaves nothing behind)."""
    config = yaml.safe_load((TASK_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    data = LOCAL_TASKS[name](folder / f"{name}.jsonl")
    config["dataset_kwargs"] = {
        "data_files": {config["test_split"]: str(data)},
        "cache_dir": str(folder / "datasets-cache"),
    }
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")


@contextmanager
def _quiet_harness() -> Iterator[None]:
    """The harness logs every task and setting at INFO and warns that a live model ignores its
    loading options (which is the point); keep its own progress bars, silence the rest."""
    logger = logging.getLogger("lm_eval")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _number(value: object) -> float | None:
    """A metric value as a float; the harness writes ``"N/A"`` for a stderr it cannot compute."""
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def _task_metrics(row: dict[str, Any], n: int | None) -> dict[str, Any]:
    """``acc,none`` -> ``acc`` (a filter other than ``none`` stays in the name as ``acc/flt``),
    plus n and a Wilson interval for accuracy, the form reptune gives every rate."""
    out: dict[str, Any] = {"alias": str(row.get("alias", "")).strip(" -") or None, "n": n}
    for key, value in row.items():
        if "," not in key:
            continue
        metric, _, filter_name = key.partition(",")
        out[metric if filter_name == "none" else f"{metric}/{filter_name}"] = _number(value)
    if n and out.get("acc") is not None:
        estimate = wilson(round(out["acc"] * n), n)
        out["acc_interval"] = [estimate.low, estimate.high]
    return out


def _items(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every multiple-choice item's target and per-choice log-likelihoods, in document order."""
    items = []
    for sample in sorted(samples, key=lambda s: s["doc_id"]):
        responses = sample["filtered_resps"]
        if not all(isinstance(r, (list, tuple)) and len(r) == 2 for r in responses):
            return []  # not a log-likelihood task (generation): nothing per choice to keep
        items.append(
            {"target": sample["target"], "loglikelihoods": [float(r[0]) for r in responses]}
        )
    return items


def run_harness(
    lm: LoadedModel,
    tasks: Sequence[str],
    *steerings: Steering,
    limit: int | None = None,
    batch_size: int = 8,
    seed: int = 0,
) -> dict[str, Any]:
    """Evaluate ``lm`` (steered by ``steerings``) on harness tasks: hub names such as
    ``arc_easy``, or reptune's offline ``reptune_general_knowledge``. Returns, per task (and per
    group, for groups such as ``mmlu``), the harness's metrics with their stderr, n and a Wilson
    interval, every item's per-choice log-likelihoods, and the settings of the run."""
    tasks = requested_tasks(tasks, limit)
    for steering in steerings:
        steering.directions.check_compatible(lm)
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="reptune-harness-") as tmp, _quiet_harness():
        folder = Path(tmp)
        for name in tasks:
            if name in LOCAL_TASKS:
                _write_local_task(name, folder)
        hub = [name for name in tasks if name not in LOCAL_TASKS]
        # Indexing the harness's ~15k built-in task files takes seconds: only when asked for.
        manager = TaskManager(include_path=str(folder), include_defaults=bool(hub))
        unknown = [name for name in tasks if name not in manager.all_tasks]
        if unknown:
            raise ReptuneError(
                f"--lm-eval: no harness task {', '.join(map(repr, unknown))} (offline tasks: "
                f"{', '.join(LOCAL_TASKS)}; hub tasks as `lm-eval ls tasks` lists them)"
            )
        model = HFLM(pretrained=lm.model, tokenizer=lm.tokenizer, batch_size=batch_size)
        try:
            with steer(lm, *steerings):
                results = simple_evaluate(
                    model=model,
                    tasks=list(tasks),
                    task_manager=manager,
                    limit=limit,
                    log_samples=True,
                    random_seed=seed,
                    numpy_random_seed=seed,
                    torch_random_seed=seed,
                    fewshot_random_seed=seed,
                )
        except (ConnectionError, OSError) as exc:  # a hub task without a network
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ReptuneError(
                f"--lm-eval {','.join(hub) or ','.join(tasks)}: could not load the task data "
                f"({first}); offline, use {', '.join(LOCAL_TASKS)}"
            ) from exc
    assert results is not None  # only None on ranks > 0 of a distributed run
    n_samples = results.get("n-samples", {})
    samples = results.get("samples", {})
    by_task = {}
    for name, row in results["results"].items():
        n = n_samples.get(name, {}).get("effective")
        by_task[name] = _task_metrics(row, n)
        if name in samples:
            by_task[name]["items"] = _items(samples[name])
    return {
        "tasks": by_task,
        "requested": list(tasks),
        "harness_version": check_installed(),
        "limit": limit,
        "batch_size": batch_size,
        "seed": seed,
        "num_fewshot": {k: v for k, v in results.get("n-shot", {}).items()},
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


def summary(result: dict[str, Any]) -> list[str]:
    """One line per task with an accuracy: the figure, its stderr and n."""
    lines = []
    for name, row in result["tasks"].items():
        if row.get("acc") is not None:
            stderr = "" if row.get("acc_stderr") is None else f" ± {row['acc_stderr']:.3f}"
            lines.append(f"lm-eval {name}: acc {row['acc']:.3f}{stderr} (stderr), n={row['n']}")
    return lines
