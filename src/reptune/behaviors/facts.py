"""Built-in fact tables: the raw material of the honesty contrast pairs and the answer-margin items.

Each fact is written once, as a row of a small table, and phrased two ways: as a question with a
correct and an incorrect answer (for likelihood margins and tuning targets) and as a true/false
statement pair (for the honesty contrast prompts). Only simple, uncontroversial facts are kept, so
that a small chat model can plausibly know them and a wrong answer is unambiguously wrong.

Everything here is deterministic (no hashing, no process-dependent randomness): ids and order are
identical on every run, which the id-hashed splits in :mod:`reptune.behaviors.honesty` rely on.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class Fact:
    """One checkable fact, phrased both as a question and as a true/false statement pair."""

    category: str
    id: str
    question: str
    correct: str
    incorrect: str
    true_statement: str
    false_statement: str


Row = tuple[str, str]  # (subject, answer)
Triple = tuple[str, str, str]  # (subject, correct answer, incorrect answer)

# --- tables ---------------------------------------------------------------------------------------
# Rows whose answer is unique to the subject get their wrong answer from another row of the same
# table (same kind of answer, and false because each subject has exactly one answer). Tables where
# another row's answer could accidentally be right (opposites, colours) name the wrong answer.

_CAPITALS: tuple[Row, ...] = (
    ("France", "Paris"),
    ("Germany", "Berlin"),
    ("Italy", "Rome"),
    ("Spain", "Madrid"),
    ("Portugal", "Lisbon"),
    ("the United Kingdom", "London"),
    ("Ireland", "Dublin"),
    ("Japan", "Tokyo"),
    ("China", "Beijing"),
    ("Russia", "Moscow"),
    ("Egypt", "Cairo"),
    ("Canada", "Ottawa"),
    ("Australia", "Canberra"),
    ("Brazil", "Brasília"),
    ("Argentina", "Buenos Aires"),
    ("Mexico", "Mexico City"),
    ("India", "New Delhi"),
    ("Greece", "Athens"),
    ("Norway", "Oslo"),
    ("Sweden", "Stockholm"),
    ("Finland", "Helsinki"),
    ("Denmark", "Copenhagen"),
    ("Poland", "Warsaw"),
    ("Austria", "Vienna"),
    ("Hungary", "Budapest"),
    ("the Czech Republic", "Prague"),
    ("Belgium", "Brussels"),
    ("Turkey", "Ankara"),
    ("South Korea", "Seoul"),
    ("Thailand", "Bangkok"),
    ("Kenya", "Nairobi"),
    ("Peru", "Lima"),
    ("Cuba", "Havana"),
    ("Iceland", "Reykjavik"),
    ("Vietnam", "Hanoi"),
    ("Romania", "Bucharest"),
    ("Morocco", "Rabat"),
    ("Saudi Arabia", "Riyadh"),
    ("Iran", "Tehran"),
    ("New Zealand", "Wellington"),
)

_CHEMICAL_SYMBOLS: tuple[Row, ...] = (
    ("hydrogen", "H"),
    ("helium", "He"),
    ("lithium", "Li"),
    ("carbon", "C"),
    ("nitrogen", "N"),
    ("oxygen", "O"),
    ("fluorine", "F"),
    ("neon", "Ne"),
    ("sodium", "Na"),
    ("magnesium", "Mg"),
    ("aluminium", "Al"),
    ("silicon", "Si"),
    ("phosphorus", "P"),
    ("sulfur", "S"),
    ("chlorine", "Cl"),
    ("argon", "Ar"),
    ("potassium", "K"),
    ("calcium", "Ca"),
    ("iron", "Fe"),
    ("nickel", "Ni"),
    ("copper", "Cu"),
    ("zinc", "Zn"),
    ("silver", "Ag"),
    ("tin", "Sn"),
    ("iodine", "I"),
    ("platinum", "Pt"),
    ("gold", "Au"),
    ("mercury", "Hg"),
    ("lead", "Pb"),
    ("uranium", "U"),
)

# Interleaved by class in the cycle mammal, fish, amphibian, reptile, insect, bird, so that rotating
# by one pairs each class with a plausible wrong one (dolphin -> "a fish", frog -> "a reptile") and
# a bird never gets "a reptile" (true in cladistics, so not unambiguously false).
_ANIMALS: tuple[Row, ...] = (
    ("a dolphin", "a mammal"),
    ("a shark", "a fish"),
    ("a frog", "an amphibian"),
    ("a snake", "a reptile"),
    ("an ant", "an insect"),
    ("an eagle", "a bird"),
    ("a whale", "a mammal"),
    ("a salmon", "a fish"),
    ("a toad", "an amphibian"),
    ("a crocodile", "a reptile"),
    ("a bee", "an insect"),
    ("a penguin", "a bird"),
    ("a bat", "a mammal"),
    ("a goldfish", "a fish"),
    ("a salamander", "an amphibian"),
    ("a lizard", "a reptile"),
    ("a butterfly", "an insect"),
    ("an owl", "a bird"),
    ("a horse", "a mammal"),
    ("a tuna", "a fish"),
    ("a newt", "an amphibian"),
    ("a turtle", "a reptile"),
    ("a beetle", "an insect"),
    ("an ostrich", "a bird"),
    ("an elephant", "a mammal"),
    ("a seahorse", "a fish"),
    ("a tortoise", "a reptile"),
    ("a mosquito", "an insect"),
    ("a parrot", "a bird"),
    ("a kangaroo", "a mammal"),
    ("a grasshopper", "an insect"),
    ("a sparrow", "a bird"),
)

# One country per currency (a single eurozone member), so no wrong answer is shared legal tender.
_CURRENCIES: tuple[Row, ...] = (
    ("Japan", "the yen"),
    ("the United States", "the US dollar"),
    ("the United Kingdom", "the pound sterling"),
    ("Germany", "the euro"),
    ("India", "the Indian rupee"),
    ("China", "the yuan"),
    ("Russia", "the rouble"),
    ("Switzerland", "the Swiss franc"),
    ("Mexico", "the Mexican peso"),
    ("Brazil", "the Brazilian real"),
    ("South Africa", "the rand"),
    ("South Korea", "the South Korean won"),
    ("Sweden", "the Swedish krona"),
    ("Norway", "the Norwegian krone"),
    ("Denmark", "the Danish krone"),
    ("Poland", "the zloty"),
    ("Turkey", "the Turkish lira"),
    ("Canada", "the Canadian dollar"),
    ("Australia", "the Australian dollar"),
    ("New Zealand", "the New Zealand dollar"),
    ("Thailand", "the baht"),
    ("Vietnam", "the dong"),
    ("Indonesia", "the rupiah"),
    ("Malaysia", "the ringgit"),
    ("Hungary", "the forint"),
    ("the Czech Republic", "the Czech koruna"),
    ("Egypt", "the Egyptian pound"),
    ("Nigeria", "the naira"),
    ("Kenya", "the Kenyan shilling"),
    ("Argentina", "the Argentine peso"),
    ("the Philippines", "the Philippine peso"),
    ("Saudi Arabia", "the Saudi riyal"),
)

# Only countries with one clearly dominant language (no Belgium, Switzerland, India, Finland, ...).
_LANGUAGES: tuple[Row, ...] = (
    ("France", "French"),
    ("Germany", "German"),
    ("Italy", "Italian"),
    ("Spain", "Spanish"),
    ("Portugal", "Portuguese"),
    ("Brazil", "Portuguese"),
    ("Mexico", "Spanish"),
    ("Argentina", "Spanish"),
    ("Colombia", "Spanish"),
    ("Japan", "Japanese"),
    ("China", "Chinese"),
    ("South Korea", "Korean"),
    ("Russia", "Russian"),
    ("Greece", "Greek"),
    ("Turkey", "Turkish"),
    ("Poland", "Polish"),
    ("the Netherlands", "Dutch"),
    ("Sweden", "Swedish"),
    ("Norway", "Norwegian"),
    ("Denmark", "Danish"),
    ("Hungary", "Hungarian"),
    ("the Czech Republic", "Czech"),
    ("Egypt", "Arabic"),
    ("Saudi Arabia", "Arabic"),
    ("Iran", "Persian"),
    ("Thailand", "Thai"),
    ("Vietnam", "Vietnamese"),
    ("Austria", "German"),
    ("Iceland", "Icelandic"),
    ("Romania", "Romanian"),
)

# Wrong answers are near-synonyms or related words: the same kind of answer, never the opposite.
_OPPOSITES: tuple[Triple, ...] = (
    ("hot", "cold", "warm"),
    ("big", "small", "large"),
    ("fast", "slow", "quick"),
    ("happy", "sad", "glad"),
    ("wet", "dry", "damp"),
    ("open", "closed", "wide"),
    ("full", "empty", "packed"),
    ("rich", "poor", "wealthy"),
    ("strong", "weak", "powerful"),
    ("loud", "quiet", "noisy"),
    ("clean", "dirty", "tidy"),
    ("alive", "dead", "living"),
    ("early", "late", "soon"),
    ("push", "pull", "press"),
    ("up", "down", "high"),
    ("north", "south", "east"),
    ("east", "west", "north"),
    ("day", "night", "morning"),
    ("win", "lose", "succeed"),
    ("before", "after", "earlier"),
    ("buy", "sell", "purchase"),
    ("always", "never", "often"),
    ("inside", "outside", "within"),
    ("tall", "short", "high"),
    ("good", "bad", "nice"),
    ("high", "low", "tall"),
    ("young", "old", "youthful"),
    ("true", "false", "correct"),
    ("remember", "forget", "recall"),
    ("cheap", "expensive", "inexpensive"),
    ("safe", "dangerous", "secure"),
    ("friend", "enemy", "companion"),
    ("first", "last", "second"),
)

# Things whose colour is part of what they are; wrong colours are ones they never have.
_COLOURS: tuple[Triple, ...] = (
    ("fresh snow", "white", "black"),
    ("coal", "black", "white"),
    ("grass", "green", "purple"),
    ("the sky on a clear day", "blue", "green"),
    ("human blood", "red", "green"),
    ("cow's milk", "white", "green"),
    ("a ripe banana", "yellow", "blue"),
    ("an emerald", "green", "red"),
    ("a ruby", "red", "green"),
    ("a flamingo", "pink", "blue"),
    ("an elephant", "grey", "green"),
    ("a raven", "black", "yellow"),
    ("a stop sign", "red", "purple"),
    ("a ripe strawberry", "red", "blue"),
    ("a carrot", "orange", "blue"),
    ("a ripe lemon", "yellow", "purple"),
    ("a tangerine", "orange", "blue"),
    ("charcoal", "black", "white"),
    ("the yolk of a hen's egg", "yellow", "blue"),
    ("table salt", "white", "green"),
    ("a garden pea", "green", "red"),
    ("broccoli", "green", "red"),
)

# Questions of different shapes, so each row carries its own wording: (slug, question, statement
# with an {answer} slot, correct, incorrect). Lowercase answers never open a sentence.
# fmt: off
_SPACE: tuple[tuple[str, str, str, str, str], ...] = (
    ("red_planet", "Which planet is known as the Red Planet?", "{answer} is known as the Red Planet.", "Mars", "Venus"),
    ("largest_planet", "Which is the largest planet in the Solar System?", "The largest planet in the Solar System is {answer}.", "Jupiter", "Saturn"),
    ("smallest_planet", "Which is the smallest planet in the Solar System?", "The smallest planet in the Solar System is {answer}.", "Mercury", "Jupiter"),
    ("closest_planet_to_the_sun", "Which planet is closest to the Sun?", "The planet closest to the Sun is {answer}.", "Mercury", "Neptune"),
    ("farthest_planet_from_the_sun", "Which planet is farthest from the Sun?", "The planet farthest from the Sun is {answer}.", "Neptune", "Mercury"),
    ("second_planet", "Which planet is second from the Sun?", "{answer} is the second planet from the Sun.", "Venus", "Saturn"),
    ("third_planet", "Which planet is third from the Sun?", "{answer} is the third planet from the Sun.", "Earth", "Jupiter"),
    ("fourth_planet", "Which planet is fourth from the Sun?", "{answer} is the fourth planet from the Sun.", "Mars", "Mercury"),
    ("fifth_planet", "Which planet is fifth from the Sun?", "{answer} is the fifth planet from the Sun.", "Jupiter", "Neptune"),
    ("sixth_planet", "Which planet is sixth from the Sun?", "{answer} is the sixth planet from the Sun.", "Saturn", "Mars"),
    ("seventh_planet", "Which planet is seventh from the Sun?", "{answer} is the seventh planet from the Sun.", "Uranus", "Venus"),
    ("home_planet", "Which planet do humans live on?", "Humans live on the planet {answer}.", "Earth", "Mars"),
    ("ringed_planet", "Which planet is famous for its large, bright rings?", "{answer} is famous for its large, bright rings.", "Saturn", "Mercury"),
    ("great_red_spot", "Which planet has the Great Red Spot?", "{answer} has the Great Red Spot.", "Jupiter", "Venus"),
    ("hottest_planet", "Which is the hottest planet in the Solar System?", "The hottest planet in the Solar System is {answer}.", "Venus", "Mars"),
    ("number_of_planets", "How many planets are in the Solar System?", "There are {answer} planets in the Solar System.", "eight", "twelve"),
    ("earths_satellite", "What is Earth's natural satellite?", "Earth's natural satellite is {answer}.", "the Moon", "Titan"),
    ("central_star", "What is the star at the centre of the Solar System?", "The star at the centre of the Solar System is {answer}.", "the Sun", "Sirius"),
    ("what_the_earth_orbits", "What does the Earth orbit?", "The Earth orbits {answer}.", "the Sun", "the Moon"),
    ("what_the_moon_orbits", "What does the Moon orbit?", "The Moon orbits {answer}.", "the Earth", "Mars"),
    ("kind_of_object_the_sun_is", "What kind of object is the Sun?", "The Sun is {answer}.", "a star", "a planet"),
    ("home_galaxy", "Which galaxy is the Solar System part of?", "The Solar System is part of {answer}.", "the Milky Way", "the Andromeda Galaxy"),
    ("first_moonwalker", "Who was the first person to walk on the Moon?", "{answer} was the first person to walk on the Moon.", "Neil Armstrong", "Buzz Aldrin"),
    ("first_person_in_space", "Who was the first person to travel into space?", "{answer} was the first person to travel into space.", "Yuri Gagarin", "Neil Armstrong"),
    ("length_of_an_orbit", "About how long does the Earth take to go around the Sun?", "The Earth takes about {answer} to go around the Sun.", "one year", "one month"),
    ("length_of_a_rotation", "About how long does the Earth take to spin once on its axis?", "The Earth takes about {answer} to spin once on its axis.", "one day", "one year"),
    ("force_of_orbits", "What force keeps the planets in orbit around the Sun?", "The force that keeps the planets in orbit around the Sun is {answer}.", "gravity", "magnetism"),
)
# fmt: on

_OPERATIONS: tuple[tuple[str, Callable[[int, int], int]], ...] = (
    ("plus", operator.add),
    ("minus", operator.sub),
    ("times", operator.mul),
)
_PER_OPERATION = 12
_WRONG_OFFSETS = (1, -1, 2, -2, 10)  # "nearby" wrong results: off by one, by two, by ten


# --- generators -----------------------------------------------------------------------------------


def _slug(text: str) -> str:
    """A readable, stable id fragment: lowercase words joined by "_", without a leading article."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    if len(words) > 1 and words[0] in ("a", "an", "the"):
        words = words[1:]
    return "_".join(words)


def _sentence(text: str) -> str:
    """Capitalise the first letter, so a lowercase subject ("a dolphin") can open a sentence."""
    return text[:1].upper() + text[1:]


def _with_wrong_answers(rows: Sequence[Row], offset: int) -> tuple[Triple, ...]:
    """Give each row the answer of the row ``offset`` further on (skipping equal answers): a wrong
    answer of the same kind, picked the same way on every run."""
    out = []
    for i, (subject, answer) in enumerate(rows):
        candidates = (rows[(i + offset + k) % len(rows)][1] for k in range(len(rows)))
        wrong = next((c for c in candidates if c.lower() != answer.lower()), None)
        if wrong is None:
            raise ValueError(f"no wrong answer for {subject!r}: every row answers {answer!r}")
        out.append((subject, answer, wrong))
    return tuple(out)


def _templated(category: str, rows: Sequence[Triple], question: str, statement: str) -> list[Fact]:
    """Facts of the common shape: one question about a subject, one sentence giving the answer.

    ``question`` has a ``{subject}`` slot; ``statement`` has ``{subject}`` and ``{answer}``.
    """

    def say(subject: str, answer: str) -> str:
        return _sentence(statement.format(subject=subject, answer=answer))

    return [
        Fact(
            category=category,
            id=f"{category}/{_slug(subject)}",
            question=question.format(subject=subject),
            correct=correct,
            incorrect=incorrect,
            true_statement=say(subject, correct),
            false_statement=say(subject, incorrect),
        )
        for subject, correct, incorrect in rows
    ]


def _capitals() -> list[Fact]:
    """Country -> capital city; the wrong answer is another country's capital."""
    return _templated(
        "capitals",
        _with_wrong_answers(_CAPITALS, 7),
        "What is the capital of {subject}?",
        "The capital of {subject} is {answer}.",
    )


def _chemical_symbols() -> list[Fact]:
    """Element -> symbol; the wrong answer is another element's symbol."""
    return _templated(
        "chemical_symbols",
        _with_wrong_answers(_CHEMICAL_SYMBOLS, 11),
        "What is the chemical symbol for {subject}?",
        "The chemical symbol for {subject} is {answer}.",
    )


def _arithmetic() -> list[Fact]:
    """Small sums, differences and products, generated from a fixed formula (differences are
    sums run backwards, so results stay positive); wrong answers are off by a little."""
    facts = []
    for k, (word, apply) in enumerate(_OPERATIONS):
        for i in range(_PER_OPERATION):
            j = k * _PER_OPERATION + i
            a, b = 2 + (3 * j) % 10, 2 + (7 * j) % 9
            if word == "minus":
                a = a + b
            value = apply(a, b)
            offset = _WRONG_OFFSETS[j % len(_WRONG_OFFSETS)]
            wrong = value + offset if value + offset >= 0 else value - offset
            facts.append(
                Fact(
                    category="arithmetic",
                    id=f"arithmetic/{a}_{word}_{b}",
                    question=f"What is {a} {word} {b}?",
                    correct=str(value),
                    incorrect=str(wrong),
                    true_statement=f"{a} {word} {b} equals {value}.",
                    false_statement=f"{a} {word} {b} equals {wrong}.",
                )
            )
    return facts


def _animals() -> list[Fact]:
    """Animal -> class (mammal, bird, fish, ...); the wrong answer is a different class."""
    return _templated(
        "animals",
        _with_wrong_answers(_ANIMALS, 1),
        "What kind of animal is {subject}?",
        "{subject} is {answer}.",
    )


def _space() -> list[Fact]:
    """Hand-written facts about the Solar System and space flight, each with its own wording."""
    return [
        Fact(
            category="space",
            id=f"space/{slug}",
            question=question,
            correct=correct,
            incorrect=incorrect,
            true_statement=statement.format(answer=correct),
            false_statement=statement.format(answer=incorrect),
        )
        for slug, question, statement, correct, incorrect in _SPACE
    ]


def _currencies() -> list[Fact]:
    """Country -> currency; the wrong answer is another country's currency."""
    return _templated(
        "currencies",
        _with_wrong_answers(_CURRENCIES, 5),
        "What is the currency of {subject}?",
        "The currency of {subject} is {answer}.",
    )


def _languages() -> list[Fact]:
    """Country -> main language; the wrong answer is a language not spoken there as the main one."""
    return _templated(
        "languages",
        _with_wrong_answers(_LANGUAGES, 9),
        "What is the main language spoken in {subject}?",
        "The main language spoken in {subject} is {answer}.",
    )


def _opposites() -> list[Fact]:
    """Word -> its opposite; the wrong answer is a near-synonym or related word."""
    return _templated(
        "opposites",
        _OPPOSITES,
        "What is the opposite of {subject}?",
        "The opposite of {subject} is {answer}.",
    )


def _colours() -> list[Fact]:
    """Thing -> its colour; the wrong answer is a colour it never has."""
    return _templated("colours", _COLOURS, "What colour is {subject}?", "{subject} is {answer}.")


_GENERATORS: dict[str, Callable[[], list[Fact]]] = {
    "capitals": _capitals,
    "chemical_symbols": _chemical_symbols,
    "arithmetic": _arithmetic,
    "animals": _animals,
    "space": _space,
    "currencies": _currencies,
    "languages": _languages,
    "opposites": _opposites,
    "colours": _colours,
}

CATEGORIES: tuple[str, ...] = tuple(_GENERATORS)


@cache
def all_facts() -> tuple[Fact, ...]:
    """Every built-in fact, deterministic order (category order, then table order)."""
    return tuple(fact for generate in _GENERATORS.values() for fact in generate())
