"""Deterministic splits shared by the built-in behaviours: a record's split follows from a hash of
its key (adding records never moves existing ones), and whole categories can be held out."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from ..errors import ReptuneError

SPLITS = ("train", "validation", "test")
FRACTIONS = (0.6, 0.2)  # train, validation; the rest is test
R = TypeVar("R")


def unit_hash(text: str) -> float:
    """A stable number in [0, 1) from text."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


def split_for(category: str, key: str, holdout_categories: Sequence[str] = ()) -> str:
    """Held-out categories always go to test; everything else by the hash of ``key``."""
    if category in holdout_categories:
        return "test"
    u = unit_hash(key)
    return "train" if u < FRACTIONS[0] else "validation" if u < sum(FRACTIONS) else "test"


def select(
    records: Iterable[R],
    split: str,
    holdout_categories: Sequence[str],
    categories: Sequence[str],
    split_of: Callable[[R], str],
) -> list[R]:
    """The records of one split, after checking the split and held-out category names."""
    if split not in SPLITS:
        raise ReptuneError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    unknown = sorted(set(holdout_categories) - set(categories))
    if unknown:
        raise ReptuneError(f"--holdout {unknown[0]!r} is not a category: {', '.join(categories)}")
    return [r for r in records if split_of(r) == split]


def default_holdout(given: Sequence[str] | None, categories: Sequence[str]) -> list[str]:
    """The held-out test categories: those given, else the behaviour's last two."""
    return list(given or ()) or list(categories[-2:])


def spread(records: Sequence[R], n: int | None) -> list[R]:
    """``n`` records at an even stride, so every category is represented; 0 or None = all."""
    return list(records[:: max(1, len(records) // n)][:n] if n else records)
