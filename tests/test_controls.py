from __future__ import annotations

import pytest
import torch

from reptune.controls import describe_specificity, opposite, random_directions, specific_effect
from test_directions import make_set


def test_random_control_is_unit_norm_seeded_and_orthogonal_to_the_direction():
    real = make_set()
    control = random_directions(real, seed=3)
    assert control.layers == real.layers and torch.equal(control.norms, real.norms)
    assert torch.allclose(control.vectors.norm(dim=-1), torch.ones(len(real.layers)), atol=1e-6)
    assert (control.vectors * real.vectors).sum(-1).abs().max() < 1e-6
    assert torch.equal(random_directions(real, seed=3).vectors, control.vectors)
    assert not torch.allclose(random_directions(real, seed=4).vectors, control.vectors)


def test_opposite_control_points_the_other_way():
    real = make_set()
    assert torch.equal(opposite(real).vectors, -real.vectors)


def test_a_direction_used_as_its_own_control_has_zero_specific_effect():
    effect = [0.3, 0.1, 0.5, 0.2]
    estimate = specific_effect(effect, effect)
    assert estimate.value == pytest.approx(0.0) and estimate.low <= 0 <= estimate.high
    assert describe_specificity(estimate).startswith("not specific")


def test_an_effect_well_beyond_the_control_is_called_specific():
    estimate = specific_effect([1.0, 1.1, 0.9, 1.05], [0.0, 0.1, -0.1, 0.05])
    assert estimate.low > 0 and describe_specificity(estimate).startswith("specific")
