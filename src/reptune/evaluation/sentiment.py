"""The sentiment of generated replies, scored by VADER.

Fixed-reply likelihoods (:func:`~reptune.evaluation.likelihood.answer_margins` on
:func:`reptune.behaviors.sentiment.items`) say which of two written replies the model prefers;
scoring what the model actually says shows the effect more cleanly on the embedded model
(FINDINGS.md). VADER is a rule-based lexicon scorer: deterministic, no model download, and its
lexicon ships inside the ``vaderSentiment`` package. Its compound score runs from -1 (most
negative) to +1 (most positive).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from ..data.schema import Prompt
from ..models import LoadedModel
from ..steering import Steering, generate
from .stats import mean_interval


@cache
def _analyzer() -> SentimentIntensityAnalyzer:
    """One analyzer per process: building it reads the lexicon file."""
    return SentimentIntensityAnalyzer()


def score_texts(texts: Sequence[str]) -> list[float]:
    """VADER compound score of each text, in [-1, 1] (0 for an empty text)."""
    analyzer = _analyzer()
    return [float(analyzer.polarity_scores(text)["compound"]) for text in texts]


def reply_sentiment(
    lm: LoadedModel,
    prompts: Sequence[Prompt | str],
    *steerings: Steering,
    max_new_tokens: int = 32,
    batch_size: int = 8,
) -> dict[str, object]:
    """Mean VADER score of greedy replies under the steerings, with its t-interval and n.

    The replies and their scores come back too: a score is only worth reading beside the text
    (a broken model can score high on a repeated "happy").
    """
    replies = generate(
        lm, prompts, *steerings, max_new_tokens=max_new_tokens, batch_size=batch_size
    )
    scores = score_texts(replies)
    return {**mean_interval(scores).to_dict(), "scores": scores, "replies": replies}
