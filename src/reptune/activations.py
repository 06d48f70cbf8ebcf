"""Reading the residual stream: each decoder block's output at chosen token positions.

Texts are tokenized one by one, positions are resolved on the unpadded tokens, and only then are
rows padded (left or right), so a position means the same token whatever the padding. Rows are
sorted by length before batching to waste little compute on padding, and the forward pass stops
after the last requested block.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ._progress import progress_bar
from .errors import ReptuneError
from .models import LoadedModel

_POSITION = re.compile(r"^(?P<offset>[+-]?\d+)(?:@(?P<marker>.+))?$", re.DOTALL)


@dataclass(frozen=True)
class Position:
    """A token position: ``offset`` from the end (-1 = last token), or relative to ``marker``.

    With a marker, offset 0 is the marker's first token and -1 the token just before it (the paper
    reads the token before "Answer:"). The last occurrence of the marker in the text counts.
    """

    offset: int = -1
    marker: str | None = None

    @classmethod
    def parse(cls, spec: str) -> Position:
        """Parse ``-1`` (from the end) or ``OFFSET@MARKER`` (e.g. ``-1@Answer:``)."""
        match = _POSITION.match(spec.strip()) if spec else None
        if match is None:
            raise ReptuneError(
                f"position {spec!r} is not valid: use an offset from the end such as -1, "
                "or OFFSET@MARKER such as -1@Answer: (the token before the marker)"
            )
        offset = int(match["offset"])
        marker = match["marker"]
        if marker is None and offset >= 0:
            raise ReptuneError(
                f"position {spec!r}: an offset from the end must be negative (-1 = last)"
            )
        return cls(offset=offset, marker=marker)

    def __str__(self) -> str:
        return f"{self.offset}@{self.marker}" if self.marker else str(self.offset)

    def resolve(self, text: str, offsets: Sequence[tuple[int, int]], row: int = 0) -> int:
        """The token index of this position in one unpadded text, given its character offsets."""
        n = len(offsets)
        if self.marker is None:
            index = n + self.offset
        else:
            start = text.rfind(self.marker)
            if start < 0:
                raise ReptuneError(
                    f"prompt {row}: marker {self.marker!r} does not occur in it "
                    f"({text[:48]!r}...); --position OFFSET@MARKER needs the marker in every prompt"
                )
            first = next(i for i, (_, end) in enumerate(offsets) if end > start)
            index = first + self.offset
        if not 0 <= index < n:
            raise ReptuneError(
                f"prompt {row}: position {self} falls outside its {n} tokens (--position counts "
                "from the end, -1 = the last token; with a marker, from the marker)"
            )
        return index


@dataclass
class Activations:
    """Block outputs at the requested positions, with the mean residual norm of every layer.

    ``values`` is float32 ``[texts, layers, positions, hidden]``; ``norms`` is the mean L2 norm of
    each layer's output over all real tokens except each text's first (an attention sink whose
    norm is orders of magnitude larger and would dominate the mean).
    """

    layers: tuple[int, ...]
    positions: tuple[Position, ...]
    values: Tensor
    norms: Tensor


@dataclass
class Batch:
    """Token ids padded to one length, with each row's resolved positions in padded coordinates."""

    input_ids: Tensor
    attention_mask: Tensor
    positions: Tensor  # [rows, n_positions] indices into the padded sequence
    labels: Tensor | None = None  # target token ids, -100 elsewhere (when targets were given)

    def model_inputs(self, device: torch.device) -> dict[str, Tensor]:
        """Forward arguments with explicit position ids, so left padding does not shift absolute
        position embeddings (GPT-2 style models would otherwise read other positions)."""
        position_ids = (self.attention_mask.cumsum(dim=1) - 1).clamp_min(0)
        return {
            "input_ids": self.input_ids.to(device),
            "attention_mask": self.attention_mask.to(device),
            "position_ids": position_ids.to(device),
        }


def tokenize(
    lm: LoadedModel,
    texts: Sequence[str],
    positions: Sequence[Position] = (),
    padding_side: str = "left",
    first_row: int = 0,
    targets: Sequence[str] | None = None,
) -> Batch:
    """Tokenize texts without special tokens (chat text carries its own) and pad them.

    ``targets`` (e.g. answer texts) are tokenized on their own and appended to each text, so the
    boundary never merges tokens; ``labels`` then marks them for likelihoods and token losses.
    Positions always refer to the text without its target.
    """
    needs_offsets = any(p.marker for p in positions)
    if needs_offsets and not lm.tokenizer.is_fast:
        raise ReptuneError("marker positions need a fast (Rust) tokenizer for character offsets")
    encoded = lm.tokenizer(
        list(texts), add_special_tokens=False, return_offsets_mapping=needs_offsets
    )
    prompt_ids = encoded["input_ids"]
    if any(len(row) == 0 for row in prompt_ids):
        raise ReptuneError(f"prompt {first_row + [len(r) for r in prompt_ids].index(0)} is empty")
    target_ids = (
        lm.tokenizer(list(targets), add_special_tokens=False)["input_ids"]
        if targets is not None
        else [[] for _ in prompt_ids]
    )
    ids = [p + t for p, t in zip(prompt_ids, target_ids, strict=True)]
    width = max(len(row) for row in ids)
    pad = lm.tokenizer.pad_token_id
    input_ids = torch.full((len(ids), width), pad, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    labels = torch.full((len(ids), width), -100, dtype=torch.long)
    index = torch.zeros((len(ids), len(positions)), dtype=torch.long)
    for r, row in enumerate(ids):
        shift = width - len(row) if padding_side == "left" else 0
        input_ids[r, shift : shift + len(row)] = torch.tensor(row)
        mask[r, shift : shift + len(row)] = 1
        labels[r, shift + len(prompt_ids[r]) : shift + len(row)] = torch.tensor(target_ids[r])
        n = len(prompt_ids[r])
        offsets = encoded["offset_mapping"][r] if needs_offsets else [(0, 0)] * n
        for p, position in enumerate(positions):
            index[r, p] = shift + position.resolve(texts[r], offsets, first_row + r)
    return Batch(input_ids, mask, index, labels if targets is not None else None)


class _Stop(Exception):
    """Raised by the hook on the last requested block to skip the rest of the forward pass."""


def block_output(output: object) -> Tensor:
    """The hidden states of a block's output (a tensor, or the first element of a tuple)."""
    return output[0] if isinstance(output, tuple) else output  # type: ignore[index,return-value]


def non_sink_mask(attention_mask: Tensor) -> Tensor:
    """Real tokens except each row's first one (the attention sink), as a bool mask."""
    first = attention_mask.cumsum(dim=1) == 1
    return attention_mask.bool() & ~first


@torch.inference_mode()
def capture(
    lm: LoadedModel,
    texts: Sequence[str],
    layers: Sequence[int],
    positions: Sequence[Position] = (Position(-1),),
    batch_size: int = 16,
    padding_side: str = "left",
    progress: bool = True,
    description: str = "reading activations",
) -> Activations:
    """Run texts through the model and keep each requested block's output at ``positions``."""
    layers = tuple(sorted(set(layers)))
    lm.check_layers(layers)
    if not texts:
        raise ReptuneError("no prompts to read activations from")
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    values = torch.empty(len(texts), len(layers), len(positions), lm.hidden_size)
    norm_sum = torch.zeros(len(layers), dtype=torch.float64)
    norm_count = 0
    state: dict[str, Tensor] = {}

    def hook_for(slot: int):
        def hook(_module: object, _inputs: object, output: object) -> None:
            hidden = block_output(output).float()
            rows = torch.arange(hidden.shape[0], device=hidden.device).unsqueeze(1)
            state["picked"][:, slot] = hidden[rows, state["index"]].cpu()
            norm_sum[slot] += hidden.norm(dim=-1)[state["real"]].sum().double()
            if slot == len(layers) - 1:
                raise _Stop

        return hook

    handles = [
        lm.adapter.blocks[layer].register_forward_hook(hook_for(slot))
        for slot, layer in enumerate(layers)
    ]
    try:
        with progress_bar(progress) as bar:
            task = bar.add_task(description, total=len(texts))
            for start in range(0, len(texts), batch_size):
                rows = order[start : start + batch_size]
                batch = tokenize(lm, [texts[i] for i in rows], positions, padding_side, start)
                batch_values = torch.empty(len(rows), len(layers), len(positions), lm.hidden_size)
                state.update(picked=batch_values, index=batch.positions.to(lm.device))
                state["real"] = non_sink_mask(batch.attention_mask).to(lm.device)
                norm_count += int(state["real"].sum())
                with contextlib.suppress(_Stop):
                    lm.model(**batch.model_inputs(lm.device), use_cache=False)
                values[rows] = batch_values
                bar.advance(task, len(rows))
    finally:
        for handle in handles:
            handle.remove()
    norms = (norm_sum / max(norm_count, 1)).float()
    return Activations(layers=layers, positions=tuple(positions), values=values, norms=norms)
