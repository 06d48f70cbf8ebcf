"""Intervals and tests behind every reported figure: checked against statsmodels and textbook
formulas, and for the symmetries they must have."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from reptune.errors import ReptuneError
from reptune.evaluation.stats import (
    Estimate,
    difference_of_means,
    difference_of_proportions,
    fisher_exact,
    mean_interval,
    wilcoxon_signed_rank,
    wilson,
)


def _textbook_wilson(k: int, n: int, level: float) -> tuple[float, float]:
    """Wilson (1927) score interval in closed form."""
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@st.composite
def _counts(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(st.integers(1, 5000))
    return draw(st.integers(0, n)), n


@settings(max_examples=200, deadline=None)
@given(_counts(), st.floats(0.5, 0.999))
def test_wilson_matches_statsmodels_and_the_closed_form(counts: tuple[int, int], level: float):
    k, n = counts
    estimate = wilson(k, n, level)
    low, high = proportion_confint(k, n, alpha=1 - level, method="wilson")
    book_low, book_high = _textbook_wilson(k, n, level)
    assert estimate.value == k / n
    assert estimate.n == n
    assert estimate.low == pytest.approx(low, abs=1e-9)
    assert estimate.high == pytest.approx(high, abs=1e-9)
    assert estimate.low == pytest.approx(book_low, abs=1e-9)
    assert estimate.high == pytest.approx(book_high, abs=1e-9)
    # statsmodels' bound can miss k/n by one ulp at k = 0 or n
    assert estimate.low - 1e-12 <= estimate.value <= estimate.high + 1e-12


def test_wilson_stays_inside_zero_one_at_the_extremes_and_widens_with_the_level() -> None:
    none, every = wilson(0, 10), wilson(10, 10)
    assert none.low == pytest.approx(0.0, abs=1e-12) and 0 < none.high < 0.5
    assert every.high == pytest.approx(1.0, abs=1e-12) and 0.5 < every.low < 1
    assert wilson(5, 10, 0.99).high > wilson(5, 10, 0.95).high


@pytest.mark.parametrize(("k", "n"), [(0, 0), (3, 2), (-1, 5)])
def test_wilson_refuses_impossible_counts(k: int, n: int) -> None:
    with pytest.raises(ReptuneError):
        wilson(k, n)


def test_estimate_is_json_ready() -> None:
    estimate = Estimate(0.5, 0.25, 0.75, 8)
    assert estimate.to_dict() == {"value": 0.5, "low": 0.25, "high": 0.75, "n": 8}
    assert str(estimate) == "0.500 [0.250, 0.750] (n=8)"


def test_mean_interval_matches_the_student_t_interval() -> None:
    values = [1.0, 2.5, 2.0, 4.0, 3.5]
    low, high = sps.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=sps.sem(values))
    estimate = mean_interval(values)
    assert estimate.value == pytest.approx(np.mean(values))
    assert (estimate.low, estimate.high) == pytest.approx((low, high))


def test_mean_interval_has_zero_width_for_one_or_constant_values_and_refuses_none() -> None:
    assert mean_interval([2.0]) == Estimate(2.0, 2.0, 2.0, 1)
    assert mean_interval([3.0, 3.0, 3.0]) == Estimate(3.0, 3.0, 3.0, 3)
    with pytest.raises(ReptuneError):
        mean_interval([])


def test_difference_of_means_of_identical_samples_is_zero_with_a_symmetric_interval() -> None:
    sample = np.random.default_rng(0).normal(size=40).tolist()
    estimate = difference_of_means(sample, sample)
    assert estimate.value == pytest.approx(0.0, abs=1e-12)
    assert estimate.low == pytest.approx(-estimate.high)
    assert estimate.low < 0 < estimate.high


def test_difference_of_means_finds_a_shift_and_matches_welch() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(1.0, 1.0, size=60), rng.normal(0.0, 2.0, size=30)
    estimate = difference_of_means(a.tolist(), b.tolist())
    welch = sps.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert estimate.value == pytest.approx(a.mean() - b.mean())
    assert (estimate.low, estimate.high) == pytest.approx((welch.low, welch.high))
    assert estimate.n == 30


def test_difference_of_means_needs_two_values_each_side() -> None:
    with pytest.raises(ReptuneError):
        difference_of_means([1.0], [1.0, 2.0])


def test_difference_of_proportions_is_antisymmetric_and_covers_zero_when_equal() -> None:
    ab, ba = difference_of_proportions(30, 50, 20, 50), difference_of_proportions(20, 50, 30, 50)
    assert ab.value == pytest.approx(0.2) and ba.value == pytest.approx(-0.2)
    assert (ab.low, ab.high) == pytest.approx((-ba.high, -ba.low))
    same = difference_of_proportions(25, 50, 25, 50)
    assert same.value == 0.0 and same.low < 0 < same.high


def test_fisher_exact_is_one_for_equal_rates_and_tiny_for_opposite_ones() -> None:
    assert fisher_exact(10, 20, 10, 20) == pytest.approx(1.0)
    assert fisher_exact(20, 20, 0, 20) < 1e-9


def test_wilcoxon_is_one_without_differences_and_small_for_a_consistent_shift() -> None:
    assert wilcoxon_signed_rank([]) == 1.0
    assert wilcoxon_signed_rank([0.0, 0.0, 0.0]) == 1.0
    assert wilcoxon_signed_rank(np.linspace(0.5, 2.0, 20).tolist()) < 1e-3
