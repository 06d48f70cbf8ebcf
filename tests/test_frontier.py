from __future__ import annotations

import pytest

from reptune.evaluation.frontier import Observations, best_under, frontier_sentences

BASE = [0.0, 1.0, 2.0, 3.0]


def shifted(delta: float, noise: float = 0.1) -> list[float]:
    return [b + delta + noise * ((i % 2) * 2 - 1) for i, b in enumerate(BASE)]


def test_a_point_pairs_the_direction_with_its_control_at_the_same_strength():
    obs = Observations(BASE)
    obs.add("steered", +1, False, 0.25, shifted(1.0), 0.2)
    obs.add("steered", +1, True, 0.25, shifted(0.25), 0.3)
    (point,) = obs.points()
    assert point["controlled"] and point["control_kl"] == 0.3
    assert point["effect"]["value"] == pytest.approx(1.0)
    assert point["control_effect"]["value"] == pytest.approx(0.25)
    assert point["specific_effect"]["value"] == pytest.approx(0.75)


def test_effects_are_signed_so_positive_means_the_intended_way():
    obs = Observations(BASE)
    obs.add("steered", -1, False, 0.5, shifted(-2.0), 0.1)
    assert obs.points()[0]["effect"]["value"] == pytest.approx(2.0)


def test_a_direction_used_as_its_own_control_has_zero_specific_effect():
    obs = Observations(BASE)
    obs.add("rep-tuned", +1, False, 10, shifted(1.5), 0.4)
    obs.add("rep-tuned", +1, True, 10, shifted(1.5), 0.4)
    assert obs.points()[0]["specific_effect"]["value"] == pytest.approx(0.0)


def test_points_without_a_control_report_their_whole_effect_and_say_so():
    obs = Observations(BASE)
    obs.add("token-tuned", +1, False, 20, shifted(0.5), 0.1)
    (point,) = obs.points()
    assert not point["controlled"] and point["control_effect"] is None
    assert point["specific_effect"] == point["effect"]
    (line,) = frontier_sentences(obs.points(), max_kl=0.5)
    assert "whole effects: no controls were run" in line


def test_margins_on_other_items_or_unknown_methods_are_refused():
    obs = Observations(BASE)
    with pytest.raises(ValueError, match="same items"):
        obs.add("steered", +1, False, 0.1, [0.0], 0.1)
    with pytest.raises(ValueError, match="unknown method"):
        obs.add("prompting", +1, False, 0.1, BASE, 0.1)


def test_best_point_per_method_ignores_points_above_the_kl_budget():
    obs = Observations(BASE)
    obs.add("steered", +1, False, 0.1, shifted(0.5), 0.1)
    obs.add("steered", +1, False, 0.5, shifted(3.0), 2.0)  # large effect, but damage
    best = best_under(obs.points(), max_kl=0.5)
    assert best["steered"]["strength"] == 0.1


def test_sentence_names_the_winner_only_when_its_interval_clears_the_others():
    obs = Observations(BASE)
    for method, delta in (("steered", 0.5), ("rep-tuned", 3.0)):
        obs.add(method, +1, False, 1, shifted(delta, 0.01), 0.1)
        obs.add(method, +1, True, 1, shifted(0.0, 0.01), 0.1)
    (line,) = frontier_sentences(obs.points(), max_kl=0.5)
    assert "representation tuning gives the most effect" in line


def test_sentence_says_overlap_when_intervals_overlap_and_none_when_nothing_is_specific():
    noisy = Observations(BASE)
    for method, delta in (("steered", 1.0), ("rep-tuned", 1.1)):
        noisy.add(method, +1, False, 1, shifted(delta, 0.5), 0.1)
        noisy.add(method, +1, True, 1, shifted(0.0, 0.01), 0.1)
    assert "not separable" in frontier_sentences(noisy.points(), 0.5)[0]
    null = Observations(BASE)
    null.add("steered", -1, False, 1, shifted(0.0, 0.5), 0.1)
    null.add("steered", -1, True, 1, shifted(0.0, 0.5), 0.1)
    (line,) = frontier_sentences(null.points(), 0.5)
    assert line.startswith("Frontier toward -v") and ": none (" in line


def test_a_side_with_only_damaging_points_says_so():
    obs = Observations(BASE)
    obs.add("steered", +1, False, 1.0, shifted(1.0), 3.0)
    assert frontier_sentences(obs.points(), 0.5) == [
        "Frontier toward +v: no point stayed under KL 0.5."
    ]


def test_a_method_without_control_is_shown_beside_the_ranking_not_ranked_in_it():
    obs = Observations(BASE)
    obs.add("steered", +1, False, 0.25, shifted(0.5, 0.01), 0.2)
    obs.add("steered", +1, True, 0.25, shifted(0.0, 0.01), 0.2)
    obs.add("token-tuned", +1, False, 10, shifted(5.0, 0.01), 0.2)  # large, but uncontrolled
    (line,) = frontier_sentences(obs.points(), 0.5)
    verdict, _, aside = line.partition("; without a control, whole effect: ")
    assert "steering gives the most effect" in verdict and "token-only" not in verdict
    assert aside.startswith("token-only tuning +5.00")
