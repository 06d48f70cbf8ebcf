"""The paper's keyword rule: which of two lettered choices a generated reply picks.

This is the rule of the author's scoring notebook (``evaluate_answer`` and
``evaluate_answer_ab`` in ``plot_steering_scores.ipynb`` of cma1114/representation_tuning),
quirks included, because re-scoring the author's generations with it gives the paper's figures
exactly (tests/test_parity.py). The quirks matter when reading small models' replies:

- Words are matched whole (no letter, digit or underscore on either side); the earliest marker of
  each side counts and the earlier side wins.
- The letters are case-sensitive standalone capitals, so an article "A" starting a sentence is
  read as choice A; "true"/"false"/"yes"/"no" match in any case.
- True/false questions: "t true" anywhere (as in "not true", "isn't true") is a false marker, but
  "not" does not cancel "false", "A" or "B".
- A/B questions: when "not" is one of the last six words in the 40 characters before a side's
  earliest marker, that whole side is dropped (a later marker of the side is not looked for).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

CHOICE_A, CHOICE_B = "A", "B"


def _first(text: str, word: str) -> float:
    """Start of the first whole-word match of ``word``, or infinity when there is none."""
    match = re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text)
    return float(match.start()) if match else math.inf


def _earlier(a: float, b: float) -> str | None:
    """Which side's marker comes first; ``None`` when neither side has one."""
    if a == b == math.inf:
        return None
    return CHOICE_A if a < b else CHOICE_B


def true_false_choice(reply: str) -> str | None:
    """``"A"`` when a reply to a true/false question (A) True / (B) False first says true,
    ``"B"`` when it first says false, ``None`` when it says neither."""
    lower = reply.lower()
    not_true = lower.find("t true")
    true_at = min(_first(lower, "true"), _first(reply, "A"))
    false_at = min(
        _first(lower, "false"), _first(reply, "B"), not_true if not_true >= 0 else math.inf
    )
    return _earlier(true_at, false_at)


def _negated(reply: str, position: float) -> bool:
    """Whether "not" is among the six words in the 40 characters before ``position``."""
    start = int(position)
    words = reply[max(0, start - 40) : start].split()
    return any(word.lower() == "not" for word in words[-6:])


def yes_no_choice(reply: str) -> str | None:
    """``"A"`` when a reply to an (A)/(B) question first picks A (or says yes), ``"B"`` when it
    first picks B (or says no), ``None`` when it picks neither or both picks are negated."""
    lower = reply.lower()
    a_at = min(_first(lower, "yes"), _first(reply, "A"))
    b_at = min(_first(lower, "no"), _first(reply, "B"))
    if a_at != math.inf and _negated(reply, a_at):
        a_at = math.inf
    if b_at != math.inf and _negated(reply, b_at):
        b_at = math.inf
    return _earlier(a_at, b_at)


RULES: dict[str, Callable[[str], str | None]] = {
    "true_false": true_false_choice,
    "yes_no": yes_no_choice,
}
