"""Digits typed in any script, read as ASCII: the one place a caller's number becomes an int.

`str.isdigit()` accepts 788 characters (Arabic-Indic ٣, Devanagari ३, Ethiopic ፩, fullwidth ３,
superscript ², circled ①...) of which `int()` refuses the ones that are not decimal digits
(Ethiopic, superscripts, circled). Every character isdigit() accepts has a value in
`unicodedata.digit`, so each is mapped to its ASCII digit here, a phone's keypad being the
intent; numerals that are not single digits (½, Ⅻ, ፲) stay as they are: not digits.
"""

from __future__ import annotations

import unicodedata

ASCII_DIGITS = frozenset("0123456789")
MAX_NUMBER_DIGITS = 18  # int() refuses strings of more than 4300 digits; no answer needs 19


def ascii_digits(text: str) -> str:
    """Return text with every digit of any script replaced by its ASCII digit, the rest kept."""
    if text.isascii():
        return text
    return "".join(
        ch if (value := unicodedata.digit(ch, None)) is None else str(value) for ch in text
    )


def only_digits(text: str) -> str:
    """Return the digits of text (any script) as ASCII, in order, everything else dropped."""
    return "".join(ch for ch in ascii_digits(text) if ch in ASCII_DIGITS)


def is_digits(text: str) -> bool:
    """Tell whether text is one or more ASCII digits and nothing else."""
    return bool(text) and text.isascii() and text.isdigit()


def as_number(text: str) -> int | None:
    """Return the number text is (digits of any script, nothing else), or None; never raises."""
    digits = ascii_digits(text)
    if not is_digits(digits) or len(digits) > MAX_NUMBER_DIGITS:
        return None
    return int(digits)
