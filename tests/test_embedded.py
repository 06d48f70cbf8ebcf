"""End-to-end checks on the embedded SmolLM2-135M-Instruct (slow: about two minutes on 2 cores)."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from reptune import (
    DirectionSet,
    LoadedModel,
    Steering,
    answer_margins,
    capture,
    extract,
    load_model,
)
from reptune.behaviors import honesty
from reptune.models import parse_layers
from reptune.tuning import TuneConfig, tune

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lm():
    return load_model()


@pytest.fixture(scope="module")
def directions(lm) -> DirectionSet:
    return extract(lm, honesty.pairs("train"), honesty.pairs("validation"), progress=False)


def test_embedded_model_has_the_expected_shape(lm):
    assert (lm.num_layers, lm.hidden_size) == (30, 576)
    assert lm.model.dtype == torch.float32


def test_residual_norms_grow_with_depth(directions):
    assert directions.norms[-1] > 5 * directions.norms[0]


def test_best_layer_separates_held_out_persona_activations(directions):
    layer = directions.best_layer()
    accuracy = float(directions.accuracy[directions.layers.index(layer)])
    assert accuracy >= 0.90, f"best layer {layer}: held-out accuracy {accuracy:.3f}"


def held_out_cosine(lm, directions: DirectionSet, layers: list[int]) -> float:
    """Mean cosine with v at the last prompt token of test-split tuning prompts."""
    texts = [lm.render(ex.prompt) for ex in honesty.tuning_examples("test", "-")]
    acts = capture(lm, texts, layers, progress=False)
    vectors = torch.stack([directions.vector(layer) for layer in layers])
    cos = torch.nn.functional.cosine_similarity(acts.values[:, :, 0], vectors.unsqueeze(0), dim=-1)
    return float(cos.mean())


def test_tuning_toward_minus_v_turns_held_out_activations_against_v(lm, directions, tmp_path):
    config = TuneConfig(toward="-", lr=1e-4, steps=80)
    result = tune(
        load_model(),  # tune() changes the model in place: keep the shared one untouched
        directions,
        honesty.tuning_examples("train", "-"),
        config,
        tmp_path / "tuned",
        honesty.tuning_examples("validation", "-"),
        progress=False,
    )
    layers = list(parse_layers(config.layers, lm.num_layers, "--layers"))
    before = held_out_cosine(lm, directions, layers)
    # The saved folder loads in plain transformers, with no reptune code.
    plain = AutoModelForCausalLM.from_pretrained(tmp_path / "tuned", dtype=torch.float32)
    after = held_out_cosine(LoadedModel(plain, lm.tokenizer, "tuned"), directions, layers)
    print(f"held-out cosine {before:+.3f} -> {after:+.3f}; {result.seconds_per_step:.2f} s/step")
    assert abs(before) < 0.3
    assert after <= -0.6


def test_sentiment_steering_at_best_layer_moves_the_reply_margin_monotonically(lm):
    """The positive control: the model has moods, so steering its mood direction must show a
    dose-response. (Honesty steering does not on this model: see docs/findings.md.) The range
    stays within |m| <= 0.25, where KL on chat text is near the 0.5 damage line; at 0.5 it is
    1.3-2.3 (FINDINGS.md) and a margin there measures damage, not mood."""
    from reptune.behaviors import sentiment

    ds = extract(
        lm, sentiment.pairs("train"), sentiment.pairs("validation"), behaviour="sentiment",
        progress=False,
    )  # fmt: skip
    layer = ds.best_layer()
    items = sentiment.items("test")
    multipliers = [-0.25, -0.1, 0.0, 0.1, 0.25]
    margins = [
        float(answer_margins(lm, items, Steering(ds, (layer,), m)).mean()) for m in multipliers
    ]
    print(f"sentiment layer {layer}: margins {dict(zip(multipliers, margins, strict=True))}")
    assert all(a < b for a, b in zip(margins, margins[1:], strict=False)), margins
