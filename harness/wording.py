"""Counts in words."""

from __future__ import annotations


def counted(count: int, noun: str) -> str:
    """`1 response`, `2 responses`: the nouns the checks count take an s in the plural."""
    return f"{count} {noun if count == 1 else noun + 's'}"
