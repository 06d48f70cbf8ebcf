"""Is a generated reply still language? Simple, transparent checks for degenerate output.

Tuning can keep perplexity on plain text nearly unchanged while the chat replies turn into loops
("you, you, where, where, where ...", FINDINGS.md), and a sentiment scorer happily scores such a
loop. These checks flag it. They are deliberately rules, not a model, so a reader can see why a
reply was flagged. They assume English-like text (Latin letters, space-separated words).

Rules and thresholds:

- *words*: the reply split on whitespace, each token stripped of surrounding punctuation and
  lowercased; tokens that were only punctuation are kept as empty words (they count as not
  word-like and never as a repeat of a real word).
- *repetition*: the share of word bigrams that repeat an earlier bigram of the same reply
  (``1 - distinct / total``). A fluent 32-token reply scores near 0; a loop approaches 1.
- *word-like*: letters only (inner apostrophes and hyphens allowed) with at least one vowel
  (``aeiouy``), at most 20 letters and no letter three times in a row; or a number.
- *gibberish*: fewer than half of the tokens are word-like, or a reply of at least 8 words uses
  fewer than 30% distinct words.
- *degenerate*: empty, gibberish, or repetition above 0.5.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

from .stats import mean_interval, wilson

REPETITION_N = 2
MAX_REPETITION = 0.5
MIN_WORDLIKE_SHARE = 0.5
MIN_DISTINCT_RATIO = 0.3
MIN_WORDS_FOR_DISTINCT = 8

_WORDLIKE = re.compile(r"^(?:[a-z]+(?:['’-][a-z]+)*|\d+(?:[.,]\d+)*)$")
_VOWEL = re.compile(r"[aeiouy]")
_TRIPLE = re.compile(r"([a-z])\1\1")
_MAX_WORD_LETTERS = 20
_PUNCTUATION = string.punctuation + "“”‘’…—–"


def words(reply: str) -> list[str]:
    """Lowercased whitespace tokens without surrounding punctuation ('' for pure punctuation)."""
    return [token.strip(_PUNCTUATION).lower() for token in reply.split()]


def repetition(reply: str, n: int = REPETITION_N) -> float:
    """Share of the reply's word n-grams that repeat an earlier one (0 with fewer than n+1 words)."""
    tokens = [w for w in words(reply) if w]
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams) if len(grams) > 1 else 0.0


def distinct_ratio(reply: str) -> float:
    """Distinct words over words (1.0 for a reply without words)."""
    tokens = [w for w in words(reply) if w]
    return len(set(tokens)) / len(tokens) if tokens else 1.0


def is_wordlike(word: str) -> bool:
    """Looks like an English word or a number (see the module docstring for the rule)."""
    if not _WORDLIKE.match(word):
        return False
    if word[0].isdigit():
        return True
    letters = sum(ch.isalpha() for ch in word)
    return bool(_VOWEL.search(word)) and letters <= _MAX_WORD_LETTERS and not _TRIPLE.search(word)


def wordlike_share(reply: str) -> float:
    """Share of the reply's tokens that are word-like (0.0 for an empty reply)."""
    tokens = words(reply)
    return sum(map(is_wordlike, tokens)) / len(tokens) if tokens else 0.0


def gibberish(reply: str) -> bool:
    """Mostly non-words, or a long reply built from very few distinct words."""
    tokens = [w for w in words(reply) if w]
    too_few_distinct = (
        len(tokens) >= MIN_WORDS_FOR_DISTINCT and distinct_ratio(reply) < MIN_DISTINCT_RATIO
    )
    return wordlike_share(reply) < MIN_WORDLIKE_SHARE or too_few_distinct


def degenerate(reply: str) -> bool:
    """Empty, gibberish, or looping: not a reply worth scoring for behaviour."""
    return not reply.strip() or gibberish(reply) or repetition(reply) > MAX_REPETITION


def reply_quality(replies: Sequence[str]) -> dict[str, object]:
    """Summary over replies: mean repetition (t-interval) and the gibberish and degenerate rates
    (Wilson intervals), each with n, ready for results JSON."""
    return {
        "repetition": mean_interval([repetition(r) for r in replies]).to_dict(),
        "gibberish_rate": wilson(sum(map(gibberish, replies)), len(replies)).to_dict(),
        "degenerate_rate": wilson(sum(map(degenerate, replies)), len(replies)).to_dict(),
        "thresholds": {
            "repetition_n": REPETITION_N,
            "max_repetition": MAX_REPETITION,
            "min_wordlike_share": MIN_WORDLIKE_SHARE,
            "min_distinct_ratio": MIN_DISTINCT_RATIO,
            "min_words_for_distinct": MIN_WORDS_FOR_DISTINCT,
        },
    }
