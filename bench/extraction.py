"""Direction extraction: reptune vs repeng's ``ControlVector.train`` vs steering-vectors'
``train_steering_vector``, on the same contrast pairs, layers, read position and texts per forward.

Like for like: every tool reads the output of the same blocks at each prompt's last token, and the
directions are compared per layer (reptune's mean difference against steering-vectors' mean
aggregator; reptune's ``pca_diff`` on its own activations against repeng's PCA of differences).
Block ``L-1`` is left out: transformers' last ``hidden_states`` entry, which repeng reads, is taken
after the final norm, so it is not the block's output the other tools read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import repeng
import steering_vectors
import torch

import reptune.directions
from reptune import LoadedModel, Position
from reptune.activations import _common, encode, plan_batches
from reptune.behaviors import honesty
from reptune.data.schema import ContrastPair

from .common import Sizes, interleaved, load_average, summary
from .flops import forward_flops, output_weights, weights

TOOLS = ("reptune", "repeng", "steering-vectors")
PEERS = TOOLS[1:]


def contrast_pairs(n: int) -> list[ContrastPair]:
    """The first ``n`` built-in honesty pairs, train then validation then test (all distinct)."""
    pool = honesty.pairs("train") + honesty.pairs("validation") + honesty.pairs("test")
    if n > len(pool):
        raise ValueError(f"only {len(pool)} built-in honesty pairs, asked for {n}")
    return pool[:n]


@contextmanager
def keeping_activations(store: dict[str, object]) -> Iterator[None]:
    """Keep the activations ``reptune.extract`` reads (to fit a second method on them untimed);
    the spy only stores a reference, so it costs nothing measurable."""
    original = reptune.directions.capture

    def spy(*args: object, **kwargs: object) -> object:
        store["activations"] = acts = original(*args, **kwargs)
        return acts

    reptune.directions.capture = spy
    try:
        yield
    finally:
        reptune.directions.capture = original


def tools(
    lm: LoadedModel,
    pairs: Sequence[ContrastPair],
    layers: list[int],
    batch: int,
    kept: dict[str, object],
) -> dict[str, Callable[[], dict[int, torch.Tensor]]]:
    """One call per tool returning ``{layer: direction}``; ``batch`` texts per forward pass each.
    reptune's own :class:`DirectionSet` is kept in ``kept["set"]``."""
    positive = [lm.render(p.positive) for p in pairs]
    negative = [lm.render(p.negative) for p in pairs]

    def run_reptune() -> dict[int, torch.Tensor]:
        ds = reptune.extract(
            lm, pairs, layers=layers, positions=(Position(-1),), batch_size=batch, progress=False
        )
        kept["set"] = ds
        return {layer: ds.vector(layer) for layer in layers}

    def run_repeng() -> dict[int, torch.Tensor]:
        entries = [repeng.DatasetEntry(p, n) for p, n in zip(positive, negative, strict=True)]
        # batch_size counts texts (positive and negative interleaved)
        vector = repeng.ControlVector.train(
            lm.model, lm.tokenizer, entries, hidden_layers=layers, batch_size=batch
        )
        return {layer: torch.from_numpy(vector.directions[layer]) for layer in layers}

    def run_steering_vectors() -> dict[int, torch.Tensor]:
        # batch_size counts pairs: one forward of `batch` positives, one of `batch` negatives
        vector = steering_vectors.train_steering_vector(
            lm.model,
            lm.tokenizer,
            list(zip(positive, negative, strict=True)),
            layers=layers,
            read_token_index=-1,
            batch_size=batch,
        )
        return {layer: vector.layer_activations[layer] for layer in layers}

    return {"reptune": run_reptune, "repeng": run_repeng, "steering-vectors": run_steering_vectors}


def _abs_cosines(a: dict[int, torch.Tensor], b: dict[int, torch.Tensor]) -> list[float]:
    """Sign-aligned cosine per layer (each tool has its own sign rule)."""
    return [
        abs(float(torch.cosine_similarity(a[k].double(), b[k].double(), dim=0))) for k in sorted(a)
    ]


def _padded_tokens(lengths: list[int], batches: list[list[int]]) -> int:
    """Tokens the forward passes compute when each batch of rows is padded to its longest."""
    return sum(len(rows) * max(lengths[i] for i in rows) for rows in batches)


def _distinct_prefix_tokens(ids: list[list[int]]) -> int:
    """Tokens a causal model must run at least: each distinct prefix once (the size of the texts'
    token trie; texts sorted, each adds what it does not share with the one before)."""
    ordered = sorted(ids)
    return sum(
        len(row) - (_common(row, before) if before else 0)
        for row, before in zip(ordered, [None, *ordered[:-1]], strict=True)
    )


def _chunks(order: list[int], size: int) -> list[list[int]]:
    return [order[s : s + size] for s in range(0, len(order), size)]


def _planned_tokens(lm: LoadedModel, texts: list[str], batch: int) -> int:
    """Tokens reptune's forward passes run: each batch's shared prefix once (once in a row for
    batches with the same prefix), then every row from there, padded to the batch's longest."""
    rows = encode(lm, texts, [Position(-1)])
    total, prefix = 0, ()
    for batch_rows, shared in plan_batches(rows, batch, share_prefix=True):
        if shared and rows[batch_rows[0]].ids[:shared] != prefix:
            prefix = rows[batch_rows[0]].ids[:shared]
            total += shared
        total += len(batch_rows) * max(len(rows[i].ids) - shared for i in batch_rows)
    return total


def work(lm: LoadedModel, pairs: Sequence[ContrastPair], layers: list[int], batch: int) -> dict:
    """Real tokens, and the model FLOPs each tool's forward passes spend (padding, depth, head).

    reptune runs each batch's shared prefix (chat template and persona) once and stops after the
    last requested block; repeng pads pairs in order and runs the whole model with its output head
    for every token; steering-vectors pads positives and negatives in separate batches and also
    runs the whole model. The work the task needs: each distinct token prefix once, through the
    blocks up to the last one read.
    """
    texts = [lm.render(p.positive) for p in pairs] + [lm.render(p.negative) for p in pairs]
    ids = lm.tokenizer(texts, add_special_tokens=False)["input_ids"]
    lengths = [len(row) for row in ids]
    n = len(pairs)
    blocks = lm.adapter.blocks
    needed_weights = sum(weights(blocks[i]) for i in range(max(layers) + 1))
    all_weights = weights(blocks)
    head = output_weights(lm.model)
    pairs_in_order = _chunks([i for k in range(n) for i in (k, n + k)], batch)
    pos_then_neg = [
        rows for chunk in _chunks(list(range(n)), batch) for rows in (chunk, [n + i for i in chunk])
    ]
    distinct = _distinct_prefix_tokens(ids)
    return {
        "texts": len(texts),
        "tokens": sum(lengths),
        "distinct_prefix_tokens": distinct,
        "needed_flops": forward_flops(needed_weights, distinct),
        "flops": {
            "reptune": forward_flops(needed_weights, _planned_tokens(lm, texts, batch)),
            "repeng": forward_flops(all_weights, _padded_tokens(lengths, pairs_in_order), head),
            "steering-vectors": forward_flops(
                all_weights, _padded_tokens(lengths, pos_then_neg), head
            ),
        },
    }


def run(lm: LoadedModel, sizes: Sizes, partial: Callable[[dict], None] | None = None) -> dict:
    """Time the three tools interleaved; ``partial`` gets the results after every repetition."""
    pairs = contrast_pairs(sizes.pairs)
    layers = list(range(lm.num_layers - 1))
    kept: dict[str, object] = {}
    calls = tools(lm, pairs, layers, sizes.extraction_batch, kept)
    warm = tools(lm, pairs[:4], layers, sizes.extraction_batch, {})
    directions: dict[str, dict[int, torch.Tensor]] = {}

    def keep(name: str, call: Callable[[], dict[int, torch.Tensor]]) -> Callable[[], None]:
        def timed() -> None:
            if name == "reptune":
                with keeping_activations(kept):
                    directions[name] = call()
            else:
                directions[name] = call()

        return timed

    amount = work(lm, pairs, layers, sizes.extraction_batch)
    load_before = load_average()

    def summarise(times: dict[str, list[float]]) -> dict:
        values = kept["activations"].values.mean(dim=2)
        pca = reptune.fit_directions(values[: len(pairs)], values[len(pairs) :], "pca_diff")
        reptune_pca = {layer: pca[i] for i, layer in enumerate(layers)}
        medians = {name: summary(times[name]) for name in TOOLS}
        for name in TOOLS:
            medians[name]["tokens_per_s"] = amount["tokens"] / medians[name]["median_s"]
        per_rep = {
            peer: sorted(p / r for p, r in zip(times[peer], times["reptune"], strict=True))
            for peer in PEERS
        }
        return {
            "pairs": len(pairs),
            "repetitions": len(times["reptune"]),
            "layers": [layers[0], layers[-1]],
            "position": "-1 (last prompt token)",
            "texts_per_forward": sizes.extraction_batch,
            "work": amount,
            "tools": medians,
            "speedup_vs": {
                peer: medians[peer]["median_s"] / medians["reptune"]["median_s"] for peer in PEERS
            },
            "paired_speedup_median": {peer: r[len(r) // 2] for peer, r in per_rep.items()},
            "cosine": {
                "steering-vectors vs reptune mean_diff": _abs_cosines(
                    directions["reptune"], directions["steering-vectors"]
                ),
                "repeng vs reptune pca_diff": _abs_cosines(reptune_pca, directions["repeng"]),
                "repeng vs reptune mean_diff": _abs_cosines(
                    directions["reptune"], directions["repeng"]
                ),
            },
            "load_average": {"before": load_before, "after": load_average()},
        }

    times = interleaved(
        {name: keep(name, calls[name]) for name in TOOLS},
        sizes.reps,
        warm,
        after_rep=(lambda t: partial(summarise(t))) if partial else None,
    )
    return summarise(times)
