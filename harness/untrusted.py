"""Text a target (or its page) chose, made safe to show: bounded, every unprintable character
(controls, terminal escapes, bidi overrides) written as its Python escape."""

from __future__ import annotations


def printable(text: str, limit: int = 200) -> str:
    """`text` cut to `limit` characters (an ellipsis says so), unprintable characters escaped."""
    cut = text[:limit] + ("…" if len(text) > limit else "")
    return "".join(character if character.isprintable() else repr(character)[1:-1] for character in cut)
