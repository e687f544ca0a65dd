"""Text a target chose, made safe to show."""

from __future__ import annotations

from harness.untrusted import printable


def test_printable_text_is_kept_as_it_is() -> None:
    assert printable("answer: 東京 🍣 [bold]") == "answer: 東京 🍣 [bold]"


def test_controls_terminal_escapes_and_bidi_overrides_are_written_as_escapes() -> None:
    assert printable("a\nb\x1b[31mred\u202eevil\x00") == "a\\nb\\x1b[31mred\\u202eevil\\x00"


def test_long_text_is_cut_and_says_so() -> None:
    assert printable("x" * 10, limit=4) == "xxxx…"
    assert printable("x" * 4, limit=4) == "xxxx"
