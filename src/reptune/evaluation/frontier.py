"""Effect versus cost across methods: how much behaviour each method buys per unit of damage.

One setting per method (the paper's design) cannot say whether tuning beats steering: a method
can look stronger only because it was pushed harder. Here each method is measured at several
strengths (steering multiplier, tuning steps), every point beside its random-direction control,
and placed on one plane: KL to the original model on chat text (x) against the *specific* effect
on held-out items (y, the direction's per-item margin change minus the control's). Token-only
tuning has no direction, hence no control: its y is its whole effect, and the sentences say so
(as they do for any point whose control was not run).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..controls import specific_effect
from .stats import Estimate, mean_interval

STRENGTH_UNITS = {
    "steered": "relative multiplier",
    "rep-tuned": "optimizer steps",
    "token-tuned": "optimizer steps",
}
METHOD_LABELS = {
    "steered": "steering",
    "rep-tuned": "representation tuning",
    "token-tuned": "token-only tuning",
}


@dataclass
class Observations:
    """Held-out margins and KL of every (method, sign, control, strength) measured in a run.

    ``base_margins`` are the unintervened model's margins on the same items, so each observation
    turns into per-item effects ``sign * (margin - base)`` (positive = the intended way)."""

    base_margins: list[float]
    seen: dict[tuple[str, int, bool], dict[float, tuple[list[float], float]]] = field(
        default_factory=dict
    )

    def add(
        self,
        method: str,
        sign: int,
        control: bool,
        strength: float,
        margins: Sequence[float],
        kl: float,
    ) -> None:
        if method not in STRENGTH_UNITS:
            raise ValueError(f"unknown method {method!r}")
        if len(margins) != len(self.base_margins):
            raise ValueError("margins must be on the same items as the base margins")
        self.seen.setdefault((method, sign, control), {})[float(strength)] = (
            [float(m) for m in margins],
            float(kl),
        )

    def has(self, method: str, sign: int, control: bool, strength: float) -> bool:
        return float(strength) in self.seen.get((method, sign, control), {})

    def _effects(self, sign: int, margins: Sequence[float]) -> list[float]:
        return [sign * (m - b) for m, b in zip(margins, self.base_margins, strict=True)]

    def points(self) -> list[dict[str, Any]]:
        """One point per measured direction setting, paired with its control where one exists."""
        out = []
        for (method, sign, control), by_strength in sorted(self.seen.items()):
            if control:
                continue
            controls = self.seen.get((method, sign, True), {})
            for strength in sorted(by_strength):
                margins, kl = by_strength[strength]
                effect = self._effects(sign, margins)
                point: dict[str, Any] = {
                    "method": method,
                    "sign": sign,
                    "strength": strength,
                    "strength_unit": STRENGTH_UNITS[method],
                    "kl": kl,
                    "effect": mean_interval(effect).to_dict(),
                    "controlled": strength in controls,
                    "control_kl": None,
                    "control_effect": None,
                }
                if strength in controls:
                    control_margins, control_kl = controls[strength]
                    control_effect = self._effects(sign, control_margins)
                    point["control_kl"] = control_kl
                    point["control_effect"] = mean_interval(control_effect).to_dict()
                    point["specific_effect"] = specific_effect(effect, control_effect).to_dict()
                else:
                    point["specific_effect"] = point["effect"]
                out.append(point)
        return out


def best_under(points: Sequence[dict[str, Any]], max_kl: float) -> dict[str, dict[str, Any]]:
    """Per method, the point with the largest specific effect among those with KL <= max_kl."""
    best: dict[str, dict[str, Any]] = {}
    for p in points:
        if p["kl"] > max_kl:
            continue
        held = best.get(p["method"])
        if held is None or p["specific_effect"]["value"] > held["specific_effect"]["value"]:
            best[p["method"]] = p
    return best


def _figure(point: dict[str, Any]) -> str:
    e = Estimate(**point["specific_effect"])
    unit = "x norm" if point["method"] == "steered" else "steps"
    return (
        f"{METHOD_LABELS[point['method']]} {e.value:+.2f} [{e.low:+.2f}, {e.high:+.2f}] "
        f"at {point['strength']:g} {unit}, KL {point['kl']:.2f}"
    )


def frontier_sentences(
    points: Sequence[dict[str, Any]], max_kl: float, measure: str = "the held-out margin"
) -> list[str]:
    """Which method gives more effect at equal cost, per side, in words, whatever the answer.

    Only methods measured beside a control are ranked, by their specific effect: a method wins
    when its best point under the KL budget has an interval entirely above every other's best,
    and no interval above zero means the answer is "none". A method without a control (token-only
    tuning has no direction) is reported beside them with its whole effect, never ranked against
    specific effects; when no method had a control, whole effects are ranked and the sentence
    says so."""
    lines = []
    for sign in sorted({p["sign"] for p in points}, reverse=True):
        side = "toward +v" if sign > 0 else "toward -v"
        best = best_under([p for p in points if p["sign"] == sign], max_kl)
        if not best:
            lines.append(f"Frontier {side}: no point stayed under KL {max_kl:g}.")
            continue
        controlled = [p for p in best.values() if p["controlled"]]
        bare = [p for p in best.values() if not p["controlled"]]
        ranked = sorted(controlled or bare, key=lambda p: -p["specific_effect"]["value"])
        what = "beyond its control" if controlled else "(whole effects: no controls were run)"
        sentence = f"Frontier {side}, at KL <= {max_kl:g}: {_verdict(ranked, measure, what)}"
        sentence += f" ({'; '.join(_figure(p) for p in ranked)})"
        if controlled and bare:
            sentence += "; without a control, whole effect: " + "; ".join(_figure(p) for p in bare)
        lines.append(sentence + ".")
    return lines


def _verdict(ranked: list[dict[str, Any]], measure: str, what: str) -> str:
    top, rest = ranked[0], ranked[1:]
    if top["specific_effect"]["low"] <= 0:
        return f"no method moved {measure} {what}: none"
    if all(top["specific_effect"]["low"] > p["specific_effect"]["high"] for p in rest):
        return f"{METHOD_LABELS[top['method']]} gives the most effect on {measure} {what}"
    tied = [
        METHOD_LABELS[p["method"]]
        for p in ranked
        if p["specific_effect"]["high"] >= top["specific_effect"]["low"]
    ]
    return f"{' and '.join(tied)} are not separable on {measure} {what} (their intervals overlap)"
