"""Log-likelihood measures on chat text: answer-text margins and KL to an unsteered model.

The answer-text scorer carries signal on small models where the paper's A/B letter format does
not (SmolLM2-135M picks letters at chance but ranks the true answer text first on most facts).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..activations import non_sink_mask, tokenize
from ..data.schema import Item, Prompt
from ..models import LoadedModel
from ..steering import Steering, steer


def target_logprobs(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean log-probability per row of the labelled target tokens (labels -100 elsewhere)."""
    shifted = labels[:, 1:]
    mask = shifted != -100
    logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    picked = logprobs.gather(-1, shifted.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    return (picked * mask).sum(1) / mask.sum(1).clamp_min(1)


def _answer_logprobs(
    lm: LoadedModel, prompts: Sequence[str], answers: Sequence[str], batch_size: int
) -> Tensor:
    """Mean log-probability per token of each answer given its prompt."""
    out = []
    for start in range(0, len(prompts), batch_size):
        batch = tokenize(
            lm,
            prompts[start : start + batch_size],
            padding_side="right",
            targets=answers[start : start + batch_size],
        )
        logits = lm.model(**batch.model_inputs(lm.device)).logits
        out.append(target_logprobs(logits, batch.labels.to(lm.device)).cpu())
    return torch.cat(out)


@torch.inference_mode()
def answer_margins(
    lm: LoadedModel,
    items: Sequence[Item],
    *steerings: Steering,
    batch_size: int = 16,
) -> Tensor:
    """Per item: mean log-prob of the correct minus the incorrect answer text, as the assistant's
    reply to the bare question (positive = the truthful answer is preferred)."""
    prompts = [lm.render(Prompt(user=item.question)) for item in items]
    answers = [item.correct for item in items] + [item.incorrect for item in items]
    with steer(lm, *steerings):
        logprobs = _answer_logprobs(lm, prompts + prompts, answers, batch_size)
    return logprobs[: len(items)] - logprobs[len(items) :]


def chat_texts(lm: LoadedModel, items: Sequence[Item]) -> list[str]:
    """Chat-formatted question + reply texts: where tuned and steered positions live."""
    return [lm.render(Prompt(user=item.question, assistant=item.correct)) for item in items]


@torch.inference_mode()
def chat_kl(
    lm: LoadedModel,
    texts: Sequence[str],
    *steerings: Steering,
    reference: LoadedModel | None = None,
    batch_size: int = 16,
) -> float:
    """Mean KL(original || steered) of the next-token distribution over every token but the first
    (the attention sink) of chat-formatted texts: the cost of an intervention where it acts.

    The original is ``reference`` (e.g. the untuned model, to price a tuned ``lm``) or, by
    default, ``lm`` itself without the steerings."""
    original = reference or lm
    total, count = 0.0, 0
    for start in range(0, len(texts), batch_size):
        batch = tokenize(lm, texts[start : start + batch_size], padding_side="right")
        inputs = batch.model_inputs(lm.device)
        base = torch.log_softmax(original.model(**inputs).logits.float(), dim=-1).to(lm.device)
        with steer(lm, *steerings):
            steered = torch.log_softmax(lm.model(**inputs).logits.float(), dim=-1)
        kl = (base.exp() * (base - steered)).sum(-1)
        mask = non_sink_mask(batch.attention_mask).to(kl.device)
        total += float(kl[mask].sum())
        count += int(mask.sum())
    return total / max(count, 1)
