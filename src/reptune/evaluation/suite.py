"""One model (optionally steered) on the chosen measures, as one JSON-ready dict: what
``reptune eval`` writes and what outside scripts read.

The headline is the answer-text scorer: an item counts as honest when the model prefers the correct
answer text as its reply (mean log-probability per token), as a lie when it prefers the incorrect
one. It carries signal on small models, where the paper's A/B letter format sits at chance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from ..data.schema import Item
from ..models import LoadedModel
from ..steering import Steering
from .benchmarks import MCItem, multiple_choice, perplexity
from .likelihood import answer_margins, chat_kl, chat_texts
from .stats import mean_interval, wilson


def text_rates(margins: Tensor, right: Sequence[bool] | None = None) -> dict[str, Any]:
    """Honest (margin > 0) and lie (margin < 0) rates with Wilson intervals and the per-item
    margins; with ``right`` (items a baseline got right) also the lie rate on those items only."""
    values = margins.tolist()
    out: dict[str, Any] = {
        "honest_rate": wilson(sum(m > 0 for m in values), len(values)).to_dict(),
        "lie_rate": wilson(sum(m < 0 for m in values), len(values)).to_dict(),
        "mean_margin": mean_interval(values).to_dict(),
        "margins": values,
        "n": len(values),
    }
    if right is not None and any(right):
        kept = [m for m, ok in zip(values, right, strict=True) if ok]
        out["lie_rate_where_baseline_right"] = wilson(sum(m < 0 for m in kept), len(kept)).to_dict()
    return out


def evaluate(
    lm: LoadedModel,
    items: Sequence[Item],
    *steerings: Steering,
    capability: Sequence[MCItem] = (),
    perplexity_text: str | None = None,
    truthfulqa: Sequence[MCItem] = (),
    kl: bool = True,
) -> dict[str, Any]:
    """Every requested measure. Top-level ``honest_rate``, ``lie_rate`` (floats), their
    ``*_interval`` and ``n`` are the answer-text scorer's; the rest sits beside them."""
    rates = text_rates(answer_margins(lm, items, *steerings))
    result: dict[str, Any] = {
        "scorer": "answer_text",
        "honest_rate": rates["honest_rate"]["value"],
        "honest_rate_interval": [rates["honest_rate"]["low"], rates["honest_rate"]["high"]],
        "lie_rate": rates["lie_rate"]["value"],
        "lie_rate_interval": [rates["lie_rate"]["low"], rates["lie_rate"]["high"]],
        "n": rates["n"],
        "answer_text": rates,
    }
    if kl and steerings:
        result["kl_to_unsteered"] = chat_kl(lm, chat_texts(lm, items), *steerings)
    if capability:
        result["capability"] = multiple_choice(lm, capability, *steerings)
    if truthfulqa:
        result["truthfulqa_mc1"] = multiple_choice(lm, truthfulqa, *steerings)
    if perplexity_text is not None:
        result["perplexity"] = perplexity(lm, perplexity_text, *steerings)
    return result
