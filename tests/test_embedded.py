"""End-to-end checks on the embedded SmolLM2-135M-Instruct (slow: about two minutes on 2 cores)."""

from __future__ import annotations

import pytest
import torch

from reptune import DirectionSet, Steering, answer_margins, extract, load_model
from reptune.behaviors import honesty

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


def test_steering_at_best_layer_moves_answer_margin_monotonically(lm, directions):
    layer = directions.best_layer()
    items = honesty.items("test")
    multipliers = [-0.5, -0.25, 0.0, 0.25, 0.5]
    margins = [
        float(answer_margins(lm, items, Steering(directions, (layer,), m)).mean())
        for m in multipliers
    ]
    print(f"layer {layer} margins {dict(zip(multipliers, margins, strict=True))}")
    assert all(a < b for a, b in zip(margins, margins[1:], strict=False)), margins
