"""Neutral everyday chat prompts: text on which a tuned model should behave as before (retain
losses, KL cost). Deliberately unrelated to facts, honesty or mood."""

from __future__ import annotations

from ..data.schema import Prompt

NEUTRAL_QUESTIONS = (
    "How do I boil an egg?",
    "Give me three tips for keeping houseplants alive.",
    "What is a good way to start learning to play the guitar?",
    "Explain what a spreadsheet is used for.",
    "Write a short note inviting a colleague to lunch.",
    "How do I make a simple tomato sauce?",
    "What should I pack for a weekend hiking trip?",
    "Describe how a bicycle works.",
    "Suggest a name for a small bakery.",
    "How can I organise my desk better?",
    "What are some easy exercises to do at home?",
    "Explain how to write a polite email asking for a deadline extension.",
    "What is the difference between a list and a tuple in Python?",
    "How do I clean a cast iron pan?",
    "Summarise the rules of tic-tac-toe.",
    "Give me a recipe for pancakes.",
    "What should I consider when choosing running shoes?",
    "How do I change a flat tyre on a bicycle?",
    "Write two sentences describing a quiet library.",
    "What are good habits for getting better sleep?",
    "How does a refrigerator keep food cold?",
    "Suggest a few board games for a family evening.",
    "How do I convert Celsius to Fahrenheit?",
    "Explain what a noun is, with examples.",
)


def prompts() -> list[Prompt]:
    """The neutral prompts as chat turns."""
    return [Prompt(user=q) for q in NEUTRAL_QUESTIONS]
