"""Measuring behaviour and cost: likelihood scorers, KL on chat text, and the steering sweep."""

from .likelihood import answer_margins, chat_kl, chat_texts
from .sweep import SweepPoint, SweepResult, sweep

__all__ = ["SweepPoint", "SweepResult", "answer_margins", "chat_kl", "chat_texts", "sweep"]
