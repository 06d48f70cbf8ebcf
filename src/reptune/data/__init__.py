"""Contrast-pair schema and file loaders: the first stage of the pipeline."""

from .loaders import Statement, is_pair_file, read_items, read_pairs, read_statements
from .schema import ContrastPair, Item, Prompt, fingerprint

__all__ = [
    "ContrastPair",
    "Item",
    "Prompt",
    "Statement",
    "fingerprint",
    "is_pair_file",
    "read_items",
    "read_pairs",
    "read_statements",
]
