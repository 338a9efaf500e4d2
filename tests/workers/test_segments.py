"""SMS segments counted by hand: a character is never split between two segments."""

from __future__ import annotations

import pytest

from flows.gsm import fold_to_gsm7, is_gsm7, sms_encoding, sms_parts, sms_segments

EMOJI = "\U0001f600"  # outside the Basic Multilingual Plane: two UTF-16 units


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),  # 153 + 8
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("a" * 158 + "€", 1),  # 158 + 2 = 160 septets
        ("a" * 159 + "€", 2),  # 161 septets
        ("€" * 80, 1),
        ("€" * 81, 2),  # 76 per part (152 septets, the 77th would need 154)
        ("ê" * 70, 1),
        ("ê" * 71, 2),
        ("ê" * 134, 2),
        ("ê" * 135, 3),
        (EMOJI * 35, 1),  # 70 units
        (EMOJI * 36, 2),  # 72 units: 33 pairs (66 units) + 3
        ("a" * 160 + "ê", 3),  # one character outside GSM-7 turns all 161 into UCS-2
    ],
)
def test_segments_counted_by_hand(text: str, segments: int) -> None:
    assert sms_segments(text) == segments


def test_an_extension_character_at_the_boundary_starts_the_next_segment() -> None:
    # 152 + 2 + 152 = 306 septets, two segments of 153 by arithmetic; but the € would take
    # septets 153 and 154: ESC cannot end a segment and its character begin the next.
    text = "a" * 152 + "€" + "a" * 152
    assert sms_parts(text) == ["a" * 152, "€" + "a" * 151, "a"]
    assert sms_segments(text) == 3
    # One septet less before it: the € fits as septets 152-153.
    assert sms_parts("a" * 151 + "€" + "a" * 153) == ["a" * 151 + "€", "a" * 153]


def test_a_surrogate_pair_at_the_boundary_starts_the_next_segment() -> None:
    # 66 + 2 + 66 = 134 UTF-16 units, two segments of 67 by arithmetic; but the pair would
    # take units 67 and 68.
    text = "ê" * 66 + EMOJI + "ê" * 66
    assert sms_parts(text) == ["ê" * 66, EMOJI + "ê" * 65, "ê"]
    assert sms_segments(text) == 3
    assert sms_parts("ê" * 65 + EMOJI + "ê" * 67) == ["ê" * 65 + EMOJI, "ê" * 67]


def test_parts_join_back_and_each_fits() -> None:
    for text in ["x€" * 200, "ô" + EMOJI * 90 + "é" * 30, "Bambari " * 40]:
        parts = sms_parts(text)
        assert "".join(parts) == text
        gsm7 = sms_encoding(text) == "gsm7"
        for part in parts:
            units = (
                sum(2 if ch in "€[]{}|^~\\\f" else 1 for ch in part)
                if gsm7
                else len(part.encode("utf-16-le")) // 2
            )
            assert units <= (153 if gsm7 else 67)


def test_folding_before_counting_keeps_french_in_gsm7() -> None:
    text = "Votre message a bien été reçu. Un agent vous répondra bientôt. " * 2
    assert not is_gsm7(text) and sms_segments(text) == 2  # 126 UCS-2 units
    folded = fold_to_gsm7(text)
    assert is_gsm7(folded) and sms_segments(folded) == 1  # 126 septets
