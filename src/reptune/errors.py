"""One exception type for bad input, so the CLI can print one clear line and exit 2."""

from __future__ import annotations


class ReptuneError(ValueError):
    """A problem with what the user gave (file, option, model): the message says what and how to fix it."""
