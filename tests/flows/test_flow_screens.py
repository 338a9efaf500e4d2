"""Every reachable screen of every flow, in every shipped language, fits one USSD screen."""

import pytest
from flowkit import CAR, LANGUAGES, Recorder, long_level, numbers

from flows.gsm import fits_ussd

UCS2_PLACES = [("SS", "جنوب السودان", None)] + [
    (f"SS{i:02d}", f"ولاية رقم {i}", "SS") for i in range(1, 25)
]


def explore(engine, lang):
    """Visit every screen reachable by any input, deduplicated by what decides the screen."""
    submit = Recorder()
    seen, screens = set(), []
    todo = [engine.begin(lang)]
    while todo:
        state, screen = todo.pop()
        key = (
            state.get("lang"), state["flow"], state["step"], state["level"], state["page"],
            bool(state["history"]), state.get("done"),
        )
        screens.append(screen)
        if key in seen or screen.end:
            continue
        seen.add(key)
        for answer in [*numbers(screen), "x", "98", "0"]:
            todo.append(engine.advance(state, answer, submit))
    return screens


@pytest.mark.parametrize("rows", [CAR, long_level(40), UCS2_PLACES], ids=["car", "long", "ucs2"])
@pytest.mark.parametrize("lang", [None, *LANGUAGES])
def test_every_screen_fits(make_engine, rows, lang):
    engine = make_engine(rows=rows)
    screens = explore(engine, lang)
    assert len(screens) > 20
    for screen in screens:
        assert fits_ussd(screen.ussd()), screen.ussd()
    assert any(screen.end for screen in screens)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_failure_screens_fit(engine, lang):
    assert fits_ussd(engine.failure(lang).ussd())


def test_no_option_is_cut_on_a_page(make_engine):
    engine = make_engine(rows=UCS2_PLACES)
    for screen in explore(engine, "en"):
        for number, label in numbers(screen).items():
            assert not label.endswith(".."), (number, screen.text)


def test_absurdly_long_option_is_shortened_not_overflowing(make_engine):
    rows = [("X", "X", None), ("X1", "A" * 300, "X"), ("X2", "Ŋ" * 100, "X")]
    engine = make_engine(rows=rows)
    for screen in explore(engine, "fr"):
        assert fits_ussd(screen.ussd()), screen.ussd()
