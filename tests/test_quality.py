from __future__ import annotations

from reptune.evaluation.quality import degenerate, reply_quality


def test_a_collapsed_reply_is_degenerate_and_a_normal_sentence_is_not():
    assert degenerate("you, you, where, where, where, where, you, you, where, where")
    assert not degenerate("The capital of France is Paris, a city on the river Seine.")


def test_reply_quality_reports_rates_with_n_and_intervals():
    q = reply_quality(["Paris is the capital of France.", "where where where where where where"])
    rate = q["degenerate_rate"]
    assert rate["n"] == 2 and rate["value"] == 0.5 and rate["low"] < 0.5 < rate["high"]
