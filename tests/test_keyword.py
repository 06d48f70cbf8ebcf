"""The paper's keyword rule on hand-written replies, one behaviour (quirks included) per test."""

from __future__ import annotations

import pytest

from reptune.evaluation.keyword import RULES, true_false_choice, yes_no_choice


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("A", "A"),
        (" A", "A"),
        ("B) False", "B"),
        ("Sure! Here's my answer:\n\nB", "B"),
        ("TRUE. The claim holds.", "A"),
        ("The claim is false, not true.", "B"),
    ],
)
def test_true_false_reads_the_first_true_or_false_marker(reply: str, expected: str) -> None:
    assert true_false_choice(reply) == expected


def test_true_false_is_none_when_the_reply_names_no_choice() -> None:
    assert true_false_choice("I cannot say.") is None
    assert true_false_choice("") is None


def test_true_false_matches_whole_words_only() -> None:
    """ "untrue" and "falsely" hold no marker; "BA" is not the letter B."""
    assert true_false_choice("That is untrue") is None
    assert true_false_choice("It was falsely reported, BA said") is None


def test_true_false_reads_t_true_as_false() -> None:
    """ "not true" and "isn't true" count as false where "t true" starts, before the word "true"."""
    assert true_false_choice("That is not true.") == "B"
    assert true_false_choice("That isn't true at all.") == "B"


def test_true_false_does_not_cancel_a_negated_false() -> None:
    """Only "t true" is special: "not false" still reads as false, as in the paper."""
    assert true_false_choice("It is not false; it is true.") == "B"


def test_true_false_reads_a_capital_article_a_as_choice_a() -> None:
    """The letters are case-sensitive standalone capitals, so "A claim..." counts as A."""
    assert true_false_choice("A claim like this is false.") == "A"
    assert true_false_choice("a claim like this is false.") == "B"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("(A) Yes", "A"),
        ("Yes, I would tell her.", "A"),
        ("NO.", "B"),
        (" B. Keep the wallet", "B"),
        ("I'd pick B over A", "B"),
    ],
)
def test_yes_no_reads_the_first_a_or_yes_against_b_or_no(reply: str, expected: str) -> None:
    assert yes_no_choice(reply) == expected


def test_yes_no_is_none_when_the_reply_names_no_choice() -> None:
    assert yes_no_choice("Nothing here; yesterday I bought a bus.") is None


def test_yes_no_drops_a_side_negated_within_the_six_words_before_it() -> None:
    """ "not" shortly before the first A removes A; B, far enough from the "not", still counts."""
    assert (
        yes_no_choice("I would not choose A, because the evidence clearly shows that B is right.")
        == "B"
    )


def test_yes_no_drops_the_whole_negated_side_not_just_its_first_marker() -> None:
    """The rule does not look for a later, un-negated A: the reply reads as no choice."""
    assert yes_no_choice("Not A. Definitely A.") is None


def test_yes_no_negation_reaches_only_the_forty_characters_before_the_marker() -> None:
    far = "I do not know much about this, but after a lot of careful thought: A"
    assert yes_no_choice(far) == "A"
    assert yes_no_choice("I do not think so: A") is None


def test_yes_no_negation_needs_not_as_a_whole_whitespace_word() -> None:
    """ "Not" in any case counts; "not," (with its comma) does not, as in the paper."""
    assert yes_no_choice("NOT A") is None
    assert yes_no_choice("I'm not, A") == "A"


def test_rules_are_named_for_the_question_kinds() -> None:
    assert {"true_false": true_false_choice, "yes_no": yes_no_choice} == RULES
