"""Attacks on a model's honesty: an adversarial suffix (GCG), fine-tuning it away (tamper), and
projecting the tuned-in direction out (ablation). Each is a function of a loaded model, items and
a budget that returns a JSON-ready dict with Wilson intervals, so ``reptune attack`` and a
comparison can call the same code."""

from .ablation import ablation_attack, refind
from .gcg import GCGConfig, gcg_per_item, gcg_universal
from .tamper import TamperConfig, tamper

__all__ = [
    "GCGConfig",
    "TamperConfig",
    "ablation_attack",
    "gcg_per_item",
    "gcg_universal",
    "refind",
    "tamper",
]
