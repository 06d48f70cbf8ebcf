"""Tuning a direction into the weights: config, loss terms and the training loop."""

from .config import TuneConfig
from .losses import kl_retain, l2_retain, projection_loss, token_loss
from .trainer import TuneResult, tune

__all__ = [
    "TuneConfig",
    "TuneResult",
    "kl_retain",
    "l2_retain",
    "projection_loss",
    "token_loss",
    "tune",
]
