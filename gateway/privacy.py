"""Privacy helpers: a caller's number becomes a keyed pseudonym at the door."""

from __future__ import annotations

import hashlib
import hmac
import re

_NON_DIGITS = re.compile(r"[^\d]")


def normalise_msisdn(raw: str) -> str:
    """Reduce a phone number to its digits, so +243 81... and 243 81... match."""
    digits = _NON_DIGITS.sub("", raw or "")
    if digits.startswith("00"):
        digits = digits[2:]
    return digits


def pseudonym(raw_number: str, secret: str) -> str:
    """Return the keyed pseudonym (HMAC-SHA256, hex) of a phone number."""
    digits = normalise_msisdn(raw_number)
    return hmac.new(secret.encode(), b"msisdn:" + digits.encode(), hashlib.sha256).hexdigest()
