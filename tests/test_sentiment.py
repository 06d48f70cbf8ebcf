from __future__ import annotations

from reptune.behaviors import sentiment
from reptune.behaviors._splits import SPLITS
from reptune.evaluation.sentiment import score_texts


def test_splits_are_deterministic_and_share_no_topic():
    topics = {s: {q.topic_id for q in sentiment.questions(s)} for s in SPLITS}
    assert all(topics.values())
    assert not (topics["train"] & topics["validation"] or topics["train"] & topics["test"])
    assert sentiment.items("test") == sentiment.items("test")


def test_pairs_differ_only_in_the_persona():
    for pair in sentiment.pairs("train"):
        assert pair.positive.user == pair.negative.user
        assert pair.positive.system != pair.negative.system


def test_vader_ranks_planted_positive_replies_above_negative_ones():
    happy, sad = score_texts(
        ["What a wonderful, joyful day!", "This is awful and I feel miserable."]
    )
    assert happy > 0 > sad
