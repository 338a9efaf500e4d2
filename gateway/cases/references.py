"""Case references: random digits with a Damm check digit, easy to type on a keypad."""

from __future__ import annotations

import secrets

from flows.digits import ascii_digits, is_digits

# Damm's quasigroup of order 10: catches every single-digit error and adjacent transposition.
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def damm_digit(digits: str) -> str:
    """Return the Damm check digit of a string of digits (any script)."""
    interim = 0
    for char in ascii_digits(digits):
        interim = _DAMM[interim][int(char)]
    return str(interim)


def is_valid(reference: str) -> bool:
    """Tell whether a reference (ASCII digits: see flows/digits.py) is well formed and checks."""
    return (
        is_digits(reference)
        and 6 <= len(reference) <= 8
        and damm_digit(reference) == "0"
    )


def new_reference(length: int = 7) -> str:
    """Draw a random reference of the length, the last digit a check digit."""
    if not 6 <= length <= 8:
        raise ValueError("a reference has 6 to 8 digits")
    # The first digit is never 0 so the reference survives being read as a number.
    body = str(secrets.randbelow(9) + 1) + "".join(
        str(secrets.randbelow(10)) for _ in range(length - 2)
    )
    return body + damm_digit(body)
