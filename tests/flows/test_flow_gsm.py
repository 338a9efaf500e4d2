"""GSM-7 detection and the measures of USSD screens and SMS segments, counted by hand."""

from flows.gsm import fits_ussd, fold_to_gsm7, is_gsm7, sms_segments, ussd_length


def test_e_acute_is_gsm7_but_e_circumflex_is_not():
    assert is_gsm7("Café à Bangui, École")
    assert not is_gsm7("fenêtre")
    assert not is_gsm7("garçon")  # only the capital Ç is in the basic set
    assert not is_gsm7("العربية")


def test_extension_characters_count_two():
    assert ussd_length("abc") == 3
    assert ussd_length("5€") == 3
    assert ussd_length("{x}") == 5
    assert ussd_length("a[b]~^|\\") == 2 + 2 * 6


def test_ucs2_counts_utf16_units():
    assert ussd_length("fenêtre") == 7
    assert ussd_length("😀") == 2  # outside the BMP: a surrogate pair


def test_ussd_limits_include_the_prefix():
    assert fits_ussd("CON " + "a" * 178)
    assert not fits_ussd("CON " + "a" * 179)
    assert not fits_ussd("CON " + "a" * 177 + "€")  # 4 + 177 + 2 = 183
    assert fits_ussd("CON " + "ê" * 76)
    assert not fits_ussd("CON " + "ê" * 77)


def test_sms_segments():
    assert sms_segments("") == 1
    assert sms_segments("a" * 160) == 1
    assert sms_segments("a" * 161) == 2
    assert sms_segments("a" * 306) == 2
    assert sms_segments("a" * 307) == 3
    assert sms_segments("€" * 80) == 1
    assert sms_segments("€" * 81) == 2
    assert sms_segments("ê" * 70) == 1
    assert sms_segments("ê" * 71) == 2
    assert sms_segments("ê" * 134) == 2
    assert sms_segments("ê" * 135) == 3


def test_fold_keeps_gsm7_and_replaces_nearest_forms():
    assert fold_to_gsm7("Où est l'hôpital ? Garçons, fenêtre, sûr") == (
        "Où est l'hopital ? Garcons, fenetre, sur"
    )
    assert is_gsm7(fold_to_gsm7("cœur « ici » l’été…"))
    assert fold_to_gsm7("العربية") == "العربية"
