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

import time
from collections.abc import Callable

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

    calls: dict[str, Callable[[], None]] = {"plain": lambda: generate("plain", lm.model)}
    fold_seconds: dict[str, float] = {}
    for label, layers, multiplier in SETTINGS:
        steering = Steering(directions, layers, multiplier)
        added = {layer: steering.added(layer) for layer in layers}
        start = time.perf_counter()
        folded = reptune.fold(lm, steering)
        fold_seconds[label] = time.perf_counter() - start
        calls.update(_steered(label, lm, steering, added, folded, length, generate))

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
        "load_average": {"before": load_before, "after": load_after},
    }


def _steered(
    label: str,
    lm: LoadedModel,
    steering: Steering,
    added: dict[int, torch.Tensor],
    folded: torch.nn.Module,
    length: int,
    generate: Callable[[str, torch.nn.Module], None],
) -> dict[str, Callable[[], None]]:
    """The four steered calls of one setting, each adding ``added[layer]`` at its block."""

    def with_reptune() -> None:
        with reptune.steer(lm, steering, prompt_length=length):
            generate(f"{label} | reptune", lm.model)

    def with_repeng() -> None:
        control = repeng.ControlModel(lm.model, list(added))
        try:
            vector = repeng.ControlVector(
                lm.model.config.model_type, {k: v.numpy() for k, v in added.items()}
            )
            control.set_control(vector, 1.0)
            generate(f"{label} | repeng", control)
        finally:
            control.unwrap()

    def with_steering_vectors() -> None:
        vector = steering_vectors.SteeringVector(added)
        with vector.apply(lm.model):
            generate(f"{label} | steering-vectors", lm.model)

    return {
        f"{label} | reptune": with_reptune,
        f"{label} | repeng": with_repeng,
        f"{label} | steering-vectors": with_steering_vectors,
        f"{label} | reptune folded": lambda: generate(f"{label} | reptune folded", folded),
    }
