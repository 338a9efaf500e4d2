"""Phone numbers in one form, E.164 (+23670000001), before anything compares or digests them.

Every number that enters goes through `e164` first: a caller's (USSD `phoneNumber`, SMS `from`),
a focal point's from the roster CSV, one typed at the command line. The same person is then the
same string everywhere: their pseudonym, their focal point row, the number their SMS go to.

What is repaired, and nothing more: separators people write (spaces, dashes, dots,
parentheses), the international prefix 00 written for "+", and a "+" lost in transit (a
form-encoded "+" that was never escaped decodes as a space: "+236..." arrives as " 236...").
What is not an E.164 number after that is refused, never guessed at: a national number
("070000001") could belong to any country.
"""

from __future__ import annotations

import re

from gateway.errors import GatewayError

# A plus sign, a country code (never 0), at most 15 digits in all; 8 is the shortest complete
# mobile number we serve.
E164 = re.compile(r"\+[1-9][0-9]{7,14}")
# What people put between digits: spaces of any kind, dashes, dots, parentheses.
SEPARATORS = re.compile(r"[\s\-.()\u2010-\u2015]+")
INTERNATIONAL_PREFIX = "00"
MAX_RAW = 40  # longer is not a phone number, however written


class InvalidNumber(GatewayError, ValueError):
    """A phone number that is not a plausible E.164 number, even once its form is repaired."""


def e164(raw: str | None) -> str | None:
    """Return the number in E.164 form (+23670000001), or None if it is not plausibly one."""
    if not raw or len(raw) > MAX_RAW:
        return None
    text = raw.rstrip()
    stripped = text.lstrip()
    if stripped.startswith("+"):
        number = stripped
    elif stripped.startswith(INTERNATIONAL_PREFIX):
        number = "+" + stripped[len(INTERNATIONAL_PREFIX):]
    elif text[:1] == " " and stripped[:1].isdigit():
        # "+236 ..." posted unescaped in a form arrives as " 236 ...": the space was the "+".
        number = "+" + stripped
    else:
        return None
    number = SEPARATORS.sub("", number)
    # [0-9] is ASCII only: "٢٣٦" or "２３６" are not what a network or a roster sends.
    return number if E164.fullmatch(number) else None


def require_e164(raw: str | None) -> str:
    """Return the number in E.164 form; raise InvalidNumber (never showing it) if it is not."""
    number = e164(raw)
    if number is None:
        raise InvalidNumber("not a phone number in E.164 form")
    return number
