"""GSM 03.38 character tables and the measures of USSD screens and SMS segments."""

from __future__ import annotations

import unicodedata

# The basic set, without ESC (0x1B), which only introduces the extension table.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Characters reached through ESC: each costs two septets.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

USSD_GSM7_LIMIT = 182
USSD_UCS2_LIMIT = 80
SMS_GSM7_SINGLE, SMS_GSM7_PART = 160, 153
SMS_UCS2_SINGLE, SMS_UCS2_PART = 70, 67

# Nearest GSM-7 forms for common characters that NFD decomposition does not reduce.
_FOLD_SPECIAL = {
    "œ": "oe",
    "Œ": "OE",
    "\u2019": "'",
    "\u2018": "'",
    "\u201c": '"',
    "\u201d": '"',
    "«": '"',
    "»": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2026": "...",
    "\u00a0": " ",
    "\u202f": " ",
}


def is_gsm7(text: str) -> bool:
    """Tell whether every character of text is in the GSM-7 basic or extension table."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def utf16_units(text: str) -> int:
    """Count the UTF-16 code units of text (characters outside the BMP count twice)."""
    return len(text.encode("utf-16-le")) // 2


def gsm7_septets(text: str) -> int:
    """Count the septets of a GSM-7 text, extension characters counting two."""
    return sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)


def ussd_length(text: str) -> int:
    """Measure text in its real encoding: septets if GSM-7, else UTF-16 code units."""
    return gsm7_septets(text) if is_gsm7(text) else utf16_units(text)


def ussd_limit(text: str) -> int:
    """Return the USSD limit that applies to text given its encoding."""
    return USSD_GSM7_LIMIT if is_gsm7(text) else USSD_UCS2_LIMIT


def fits_ussd(text: str) -> bool:
    """Tell whether a whole USSD answer (prefix "CON "/"END " included) fits one screen."""
    return ussd_length(text) <= ussd_limit(text)


def sms_encoding(text: str) -> str:
    """Return the encoding an SMS of text is sent in: "gsm7" or "ucs2"."""
    return "gsm7" if is_gsm7(text) else "ucs2"


def _cost(ch: str, gsm7: bool) -> int:
    """Units one character takes: septets in GSM-7, UTF-16 code units in UCS-2."""
    if gsm7:
        return 2 if ch in GSM7_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1


def sms_parts(text: str) -> list[str]:
    """Split text into the SMS segments a phone would send, never splitting a character.

    An extension character (ESC and its septet) or a surrogate pair that would straddle a
    segment boundary starts the next segment instead, leaving the last unit unused.
    """
    gsm7 = is_gsm7(text)
    single, part = (SMS_GSM7_SINGLE, SMS_GSM7_PART) if gsm7 else (SMS_UCS2_SINGLE, SMS_UCS2_PART)
    if sum(_cost(ch, gsm7) for ch in text) <= single:
        return [text]
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for ch in text:
        cost = _cost(ch, gsm7)
        if used + cost > part:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += cost
    parts.append("".join(current))
    return parts


def sms_segments(text: str) -> int:
    """Count the SMS segments text needs (GSM-7 160/153 septets, UCS-2 70/67 UTF-16 units)."""
    return len(sms_parts(text))


def fold_to_gsm7(text: str) -> str:
    """Replace characters outside GSM-7 by their nearest GSM-7 form where one exists (ê -> e)."""
    out: list[str] = []
    for ch in text:
        if ch in GSM7_BASIC or ch in GSM7_EXTENSION:
            out.append(ch)
        elif ch in _FOLD_SPECIAL:
            out.append(_FOLD_SPECIAL[ch])
        else:
            base = unicodedata.normalize("NFD", ch)[0]
            out.append(base if base != ch and base in GSM7_BASIC else ch)
    return "".join(out)
