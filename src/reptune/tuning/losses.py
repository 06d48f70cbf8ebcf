"""The loss terms of representation tuning. Each returns a scalar; the trainer sums them, weighted,
and makes one backward pass.

Scale matters: the projection loss is bounded in [0, 1] and its gradient with respect to ``h``
shrinks like ``1/|h|`` (residual norms reach hundreds), while cross-entropy is unbounded. That is why
the paper divided the token loss by 100, and why retain weights that balance the projection loss
are far below 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def cosines(hidden: Tensor, direction: Tensor) -> Tensor:
    """Cosine of each hidden vector (``[..., d]``) with a direction ``[d]``."""
    return F.cosine_similarity(hidden.float(), direction.float().expand_as(hidden), dim=-1)


def projection_loss(
    hidden: Tensor, direction: Tensor, sign: int, objective: str = "cosine"
) -> Tensor:
    """``mean((1 - cos(h, s v)) / 2)``: 0 when every ``h`` points along ``s v``, 1 when opposite.

    ``tune_out`` is ``mean(|cos(h, v)|)``: it drives activations orthogonal to ``v`` (removal).
    """
    cos = cosines(hidden, direction)
    if objective == "tune_out":
        return cos.abs().mean()
    return ((1 - sign * cos) / 2).mean()


def next_token_columns(labels: Tensor) -> Tensor:
    """The sequence columns whose next token is a target in some row (labels are -100
    elsewhere): the only columns whose logits the token loss needs."""
    return (labels[:, 1:] != -100).any(dim=0).nonzero().squeeze(1)


def token_loss(logits: Tensor, labels: Tensor, columns: Tensor | None = None) -> Tensor:
    """Cross-entropy on the labelled target tokens (labels are -100 elsewhere).

    ``logits`` cover every column, or only ``columns`` (from :func:`next_token_columns`) when the
    model computed just those (``logits_to_keep``): the output layer over a 49k vocabulary costs
    a fifth of a small model's forward pass, and most columns are prompt.
    """
    if columns is None:
        return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten())
    return F.cross_entropy(logits.flatten(0, 1).float(), labels[:, columns + 1].flatten())


def kl_retain(logits: Tensor, reference_logits: Tensor, mask: Tensor) -> Tensor:
    """Mean KL(reference || tuned) of the next-token distribution over masked tokens."""
    reference = torch.log_softmax(reference_logits.float(), dim=-1)
    current = torch.log_softmax(logits.float(), dim=-1)
    kl = (reference.exp() * (reference - current)).sum(-1)
    return kl[mask].mean()


def l2_retain(hidden: Tensor, reference: Tensor, mask: Tensor) -> Tensor:
    """Mean relative L2 distance ``|h - h_ref| / |h_ref|`` over masked tokens (Circuit Breakers'
    retain loss, made scale-free so one weight fits every layer)."""
    distance = (hidden.float() - reference.float()).norm(dim=-1) / reference.float().norm(
        dim=-1
    ).clamp_min(1e-6)
    return distance[mask].mean()


def scheduled(weight: float, schedule: str, step: int, total: int) -> float:
    """A loss weight at ``step``: constant, rising from 0 (``increase``) or falling to 0."""
    progress = step / max(total - 1, 1)
    if schedule == "increase":
        return weight * progress
    if schedule == "decrease":
        return weight * (1 - progress)
    return weight
