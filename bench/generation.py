"""Steered generation: greedy decoding of a fixed number of new tokens for a batch of prompts,
plain transformers vs reptune's ``steer`` vs repeng's ``ControlModel`` vs steering-vectors'
``SteeringVector.apply``, and reptune's folded model (the steering added to biases).

Like for like: every steered tool adds the very same vector (reptune's ``Steering.added``) at the
same blocks to the same left-padded token ids, every call generates exactly ``new_tokens`` tokens
(``min_new_tokens`` keeps an end-of-sequence token from cutting one short), and the generated ids
are compared with reptune's. Attaching the steering (hooks, wrappers) is inside the timed call;
folding is timed once on its own, as it is done once per model.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import numpy as np
import repeng
import steering_vectors
import torch
from transformers import GenerationConfig

import reptune
from reptune import DirectionSet, LoadedModel, Steering
from reptune.activations import tokenize
from reptune.behaviors import honesty

from .common import Sizes, interleaved, load_average, summary

# (label, blocks, multiplier relative to each block's mean residual norm): one block, as the paper
# steered (one more setting costs a full set of calls per repetition on a 2-core machine)
SETTINGS = (("1 block (14)", (14,), 0.1),)


def run(lm: LoadedModel, directions: DirectionSet, sizes: Sizes) -> dict:
    prompts = honesty.prompts("validation")[: sizes.generation_batch]
    batch = tokenize(lm, [lm.render(p) for p in prompts], padding_side="left")
    length = batch.input_ids.shape[1]
    config = GenerationConfig.from_dict(
        {
            **lm.model.generation_config.to_dict(),
            "max_new_tokens": sizes.new_tokens,
            "min_new_tokens": sizes.new_tokens,
            "do_sample": False,
            "temperature": None,
            "top_p": None,
            "top_k": None,
            "use_cache": True,
            "pad_token_id": lm.tokenizer.pad_token_id,
        }
    )
    outputs: dict[str, torch.Tensor] = {}

    def generate(name: str, model: torch.nn.Module) -> None:
        with torch.inference_mode():
            out = model.generate(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                generation_config=config,
            )
        outputs[name] = out[:, length:]

    def generate_with(
        name: str, attach: Callable[[], AbstractContextManager[torch.nn.Module]]
    ) -> Callable[[], None]:
        """A whole generate call with the tool attached inside the timed call."""

        def call() -> None:
            with attach() as model:
                generate(name, model)

        return call

    calls: dict[str, Callable[[], None]] = {}
    fold_seconds: dict[str, float] = {}
    for label, layers, multiplier in SETTINGS:
        steering = Steering(directions, layers, multiplier)
        added = {layer: steering.added(layer) for layer in layers}
        start = time.perf_counter()
        folded = reptune.fold(lm, steering)
        fold_seconds[label] = time.perf_counter() - start
        attached = _attached(label, lm, steering, added, folded, length)
        calls.update({name: generate_with(name, attach) for name, attach in attached.items()})
        step_costs = decoding_steps(lm, batch, attached, sizes.reps)

    load_before = load_average()
    times = interleaved(calls, sizes.reps)
    load_after = load_average()
    tokens = sizes.generation_batch * sizes.new_tokens
    tools = {name: summary(seconds) for name, seconds in times.items()}
    for name, row in tools.items():
        row["tokens_per_s"] = tokens / row["median_s"]
        if name != "plain":
            paired = sorted(s / p - 1 for s, p in zip(times[name], times["plain"], strict=True))
            row["overhead_median"] = row["median_s"] / tools["plain"]["median_s"] - 1
            row["overhead_paired"] = paired[len(paired) // 2]
            label = name.split(" | ")[0]
            reference = outputs[f"{label} | reptune"]
            row["same_tokens_as_reptune"] = float((outputs[name] == reference).float().mean())
            row["differs_from_plain"] = bool((outputs[name] != outputs["plain"]).any())
    return {
        "prompts": len(prompts),
        "prompt_tokens": int(batch.attention_mask.sum()),
        "new_tokens": sizes.new_tokens,
        "settings": [
            {"label": label, "layers": list(layers), "multiplier": m}
            for label, layers, m in SETTINGS
        ],
        "fold_seconds": fold_seconds,
        "tools": tools,
        "decoding_step": step_costs,
        "load_average": {"before": load_before, "after": load_after},
    }


def _attached(
    label: str,
    lm: LoadedModel,
    steering: Steering,
    added: dict[int, torch.Tensor],
    folded: torch.nn.Module,
    length: int,
) -> dict[str, Callable[[], AbstractContextManager[torch.nn.Module]]]:
    """Each tool's steering held attached: entering gives the module to call."""

    @contextmanager
    def with_repeng() -> Iterator[torch.nn.Module]:
        control = repeng.ControlModel(lm.model, list(added))
        try:
            vector = repeng.ControlVector(
                lm.model.config.model_type, {k: v.numpy() for k, v in added.items()}
            )
            control.set_control(vector, 1.0)
            yield control
        finally:
            control.unwrap()

    @contextmanager
    def with_hooks(context: AbstractContextManager[object]) -> Iterator[torch.nn.Module]:
        with context:
            yield lm.model

    return {
        "plain": lambda: nullcontext(lm.model),
        f"{label} | reptune": lambda: with_hooks(reptune.steer(lm, steering, prompt_length=length)),
        f"{label} | repeng": with_repeng,
        f"{label} | steering-vectors": lambda: with_hooks(
            steering_vectors.SteeringVector(added).apply(lm.model)
        ),
        f"{label} | reptune folded": lambda: nullcontext(folded),
    }


@torch.inference_mode()
def decoding_steps(
    lm: LoadedModel,
    batch: reptune.activations.Batch,
    tools: dict[str, Callable[[], AbstractContextManager[torch.nn.Module]]],
    rounds: int,
    steps: int = 20,
) -> dict[str, dict[str, float]]:
    """Seconds of one decoding step (the batch's next token over its cached prompt), per tool.

    What a generate call repeats 64 times, measured without the rest of generate: each round
    attaches every tool in turn (in an order that turns every round) and times ``steps`` single
    steps (the cache cropped back after each), so the overhead is a median of many paired short
    calls rather than of a few long ones.
    """
    prompt = lm.model(**batch.model_inputs(lm.device), use_cache=True)
    cache = prompt[lm.cache_argument]
    next_ids = prompt.logits[:, -1:].argmax(-1)
    mask = torch.cat([batch.attention_mask, batch.attention_mask.new_ones(len(next_ids), 1)], 1)
    positions = mask.sum(1, keepdim=True) - 1
    inputs = {"input_ids": next_ids, "attention_mask": mask, "position_ids": positions}
    times: dict[str, list[float]] = {name: [] for name in tools}
    names = list(tools)
    for round_ in range(rounds + 1):  # the first round is a warm-up
        # the order turns every round, so no tool always follows the same one
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            with tools[name]() as model:
                for _ in range(steps):
                    start = time.perf_counter()
                    model(**inputs, use_cache=True, **{lm.cache_argument: cache})
                    times[name].append(time.perf_counter() - start)
                    cache.crop(-1)
    plain = np.array(times["plain"][steps:])
    result = {}
    for name, seconds in times.items():
        ratios = np.array(seconds[steps:]) / plain - 1
        # a 95% bootstrap interval of the paired median (seeded: the report is reproducible)
        draws = np.random.default_rng(0).choice(ratios, (2000, len(ratios)))
        low, high = np.percentile(np.median(draws, axis=1), [2.5, 97.5])
        result[name] = {
            "median_ms": 1e3 * statistics.median(seconds[steps:]),
            "overhead_paired": float(np.median(ratios)),
            "overhead_interval": [float(low), float(high)],
            "calls": len(ratios),
        }
    return result
