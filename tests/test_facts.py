from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict

import pytest

from reptune.behaviors import facts as facts_module
from reptune.behaviors.facts import CATEGORIES, Fact, all_facts

FACTS = all_facts()
ROTATED = ("capitals", "chemical_symbols", "currencies", "languages", "animals")


def fingerprint(facts: tuple[Fact, ...]) -> str:
    return hashlib.sha256(repr(facts).encode()).hexdigest()


def test_categories_list_every_category_once_in_fact_order():
    seen = list(dict.fromkeys(f.category for f in FACTS))
    assert seen == list(CATEGORIES)
    assert len(CATEGORIES) >= 8


def test_facts_are_grouped_by_category_in_category_order():
    order = [CATEGORIES.index(f.category) for f in FACTS]
    assert order == sorted(order)


def test_every_category_has_at_least_twenty_facts():
    counts = Counter(f.category for f in FACTS)
    assert {c: n for c, n in counts.items() if n < 20} == {}
    assert len(FACTS) >= 250


def test_ids_are_unique_and_prefixed_by_category():
    ids = [f.id for f in FACTS]
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    for f in FACTS:
        assert re.fullmatch(r"[a-z0-9_]+/[a-z0-9_]+", f.id), f.id
        assert f.id.split("/")[0] == f.category, f.id


def test_questions_are_unique_and_end_with_question_mark():
    assert [q for q, n in Counter(f.question for f in FACTS).items() if n > 1] == []
    for f in FACTS:
        assert f.question.endswith("?") and f.question[0].isupper(), f.question


def test_incorrect_answer_differs_from_correct():
    for f in FACTS:
        assert f.correct.strip().lower() != f.incorrect.strip().lower(), f.id
        assert f.true_statement != f.false_statement, f.id


def test_answers_are_short_and_have_no_trailing_period():
    for f in FACTS:
        for answer in (f.correct, f.incorrect):
            assert answer and answer == answer.strip(), f.id
            assert not answer.endswith("."), f.id
            assert len(answer.split()) <= 4, f.id


def test_statements_contain_their_answers_and_end_with_period():
    for f in FACTS:
        for statement, answer in ((f.true_statement, f.correct), (f.false_statement, f.incorrect)):
            assert answer in statement, (f.id, statement)
            assert statement.endswith(".") and not statement.endswith(".."), statement
            assert statement[0].isupper() or statement[0].isdigit(), statement
            assert "  " not in statement and "{" not in statement, statement


def test_false_statement_is_the_true_statement_with_the_answer_swapped():
    def swaps(f: Fact) -> bool:
        text, i = f.true_statement, f.true_statement.find(f.correct)
        while i >= 0:
            if text[:i] + f.incorrect + text[i + len(f.correct) :] == f.false_statement:
                return True
            i = text.find(f.correct, i + 1)
        return False

    assert [f.id for f in FACTS if not swaps(f)] == []


def test_no_false_statement_is_also_stated_as_true():
    true = {f.true_statement.lower() for f in FACTS}
    assert [f.id for f in FACTS if f.false_statement.lower() in true] == []


def test_no_incorrect_answer_is_correct_for_the_same_question():
    correct = defaultdict(set)
    for f in FACTS:
        correct[f.question].add(f.correct.lower())
    assert [f.id for f in FACTS if f.incorrect.lower() in correct[f.question]] == []


@pytest.mark.parametrize("category", ROTATED)
def test_wrong_answers_drawn_from_the_table_are_answers_of_the_same_kind(category):
    rows = [f for f in FACTS if f.category == category]
    answers = {f.correct for f in rows}
    assert [f.id for f in rows if f.incorrect not in answers] == []


def test_capitals_symbols_and_currencies_have_one_subject_per_answer():
    # Their wrong answers come from other rows; a shared answer (two eurozone countries) would
    # make a "wrong" answer true.
    for category in ("capitals", "chemical_symbols", "currencies"):
        rows = [f for f in FACTS if f.category == category]
        assert len({f.correct for f in rows}) == len(rows), category


def test_birds_are_never_offered_reptile_as_the_wrong_class():
    birds = [f for f in FACTS if f.category == "animals" and f.correct == "a bird"]
    assert birds and all(f.incorrect != "a reptile" for f in birds)


def test_arithmetic_facts_are_arithmetically_true():
    ops = {"plus": lambda a, b: a + b, "minus": lambda a, b: a - b, "times": lambda a, b: a * b}
    rows = [f for f in FACTS if f.category == "arithmetic"]
    assert {re.search(r"plus|minus|times", f.question).group() for f in rows} == set(ops)
    for f in rows:
        a, word, b = re.fullmatch(r"What is (\d+) (plus|minus|times) (\d+)\?", f.question).groups()
        value = ops[word](int(a), int(b))
        assert int(f.correct) == value, f.id
        assert int(f.incorrect) != value and int(f.incorrect) >= 0, f.id
        assert 0 < abs(int(f.incorrect) - value) <= 10, f.id
        assert f.true_statement == f"{a} {word} {b} equals {value}.", f.id
        assert f.id == f"arithmetic/{a}_{word}_{b}"


def test_facts_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        FACTS[0].correct = "changed"  # type: ignore[misc]


def test_all_facts_is_deterministic():
    assert all_facts() == all_facts()
    rebuilt = all_facts.__wrapped__()  # bypass the cache: regenerate from the tables
    assert rebuilt == FACTS and rebuilt is not FACTS


def test_all_facts_do_not_depend_on_the_hash_seed():
    # Loads facts.py on its own (no torch import) under two hash seeds; string-hash ordering
    # leaking into the output (sets, hash()) would change the fingerprint.
    script = (
        "import hashlib, importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('facts_copy', {facts_module.__file__!r})\n"
        "m = importlib.util.module_from_spec(spec); sys.modules['facts_copy'] = m\n"
        "spec.loader.exec_module(m)\n"
        "print(hashlib.sha256(repr(m.all_facts()).encode()).hexdigest())\n"
    )
    prints = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        prints.add(out.stdout.strip())
    assert prints == {fingerprint(FACTS)}
