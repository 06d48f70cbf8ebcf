"""Intervals and tests for the figures reptune reports: every rate comes with n and an interval.

Thin wrappers over statsmodels / scipy so the rest of the code speaks in plain floats and dicts
that go straight into results JSON.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as sps
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from ..errors import ReptuneError


@dataclass(frozen=True)
class Estimate:
    """A figure with its 95% (or ``level``) interval and the number of observations behind it."""

    value: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}] (n={self.n})"


def interval_text(estimate: dict[str, float]) -> str:
    """``value [low, high]`` of an estimate's dict (``Estimate.to_dict``), two decimals: the
    short form sentences and tables use."""
    return f"{estimate['value']:.2f} [{estimate['low']:.2f}, {estimate['high']:.2f}]"


def wilson(successes: int, n: int, level: float = 0.95) -> Estimate:
    """A proportion with its Wilson score interval (sensible at 0, 1 and small n)."""
    if n <= 0:
        raise ReptuneError("a rate needs at least one item (n=0)")
    if not 0 <= successes <= n:
        raise ReptuneError(f"successes {successes} outside 0..{n}")
    low, high = proportion_confint(successes, n, alpha=1 - level, method="wilson")
    value = successes / n  # statsmodels' bound at k = n can land 1e-16 below 1
    return Estimate(value, min(float(low), value), max(float(high), value), n)


def mean_interval(values: Sequence[float], level: float = 0.95) -> Estimate:
    """A mean with its Student-t interval (zero width for a single value)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ReptuneError("a mean needs at least one value")
    mean = float(x.mean())
    if x.size == 1 or float(x.std()) == 0.0:
        return Estimate(mean, mean, mean, int(x.size))
    half = float(sps.t.ppf(0.5 + level / 2, x.size - 1) * sps.sem(x))
    return Estimate(mean, mean - half, mean + half, int(x.size))


def difference_of_means(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> Estimate:
    """mean(a) - mean(b) with a Welch interval: a condition's effect beyond its control."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.size < 2 or y.size < 2:
        raise ReptuneError("a difference of means needs at least two values on each side")
    diff = float(x.mean() - y.mean())
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(va + vb)
    if se == 0.0:
        return Estimate(diff, diff, diff, int(min(x.size, y.size)))
    dof = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
    half = float(sps.t.ppf(0.5 + level / 2, dof) * se)
    return Estimate(diff, diff - half, diff + half, int(min(x.size, y.size)))


def difference_of_proportions(
    successes_a: int, n_a: int, successes_b: int, n_b: int, level: float = 0.95
) -> Estimate:
    """p_a - p_b with Newcombe's score interval."""
    low, high = confint_proportions_2indep(
        successes_a, n_a, successes_b, n_b, method="newcomb", alpha=1 - level
    )
    return Estimate(successes_a / n_a - successes_b / n_b, float(low), float(high), min(n_a, n_b))


def fisher_exact(successes_a: int, n_a: int, successes_b: int, n_b: int) -> float:
    """Two-sided Fisher exact p-value that two rates differ (small n, rates near 0 or 1)."""
    table = [[successes_a, n_a - successes_a], [successes_b, n_b - successes_b]]
    return float(sps.fisher_exact(table).pvalue)


def wilcoxon_signed_rank(differences: Sequence[float]) -> float:
    """Two-sided p-value that paired differences (e.g. judge preferences) centre on zero."""
    d = np.asarray(differences, dtype=float)
    if d.size == 0 or not np.any(d):
        return 1.0
    return float(sps.wilcoxon(d, zero_method="zsplit").pvalue)
