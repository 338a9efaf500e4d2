"""Every screen of every flow, in every shipped language, fits the USSD limit of its encoding."""

import json
import re

import pytest
from flowkit import CAR, LOCALES, MemoryPlaces, Recorder

from flows import Catalogs, Engine, load_flows
from flows.check import check_flows
from flows.gsm import fits_ussd, is_gsm7
from flows.i18n import load_languages
from flows.render import ELLIPSIS

LANGUAGES = load_languages(LOCALES)


def test_the_checker_finds_no_problem_in_any_shipped_language():
    assert len(LANGUAGES) >= 6
    assert check_flows(None, LOCALES) == []


def _engine() -> Engine:
    codes = list(LANGUAGES)
    return Engine(
        load_flows(), Catalogs(LOCALES, codes), MemoryPlaces(CAR), codes, "fr",
        gsm_fold_languages=[c for c, lang in LANGUAGES.items() if lang.gsm7_fold],
        names={c: lang.name for c, lang in LANGUAGES.items()},
    )


def _where(state: dict) -> str:
    """What a screen depends on: where the caller is, not what they answered before."""
    keys = ("lang", "flow", "step", "page", "level", "done")
    return json.dumps({key: state.get(key) for key in keys}, sort_keys=True)


@pytest.mark.parametrize("lang", [None, *LANGUAGES])
def test_walking_every_option_every_screen_fits(lang):
    """Press every number shown on every screen reachable in the language; measure each."""
    engine, submit = _engine(), Recorder()
    state, screen = engine.begin(lang)
    seen, todo, screens = {_where(state)}, [(state, screen)], 0
    while todo:
        state, screen = todo.pop()
        screens += 1
        body = screen.ussd()
        limit = 182 if is_gsm7(body) else 80
        assert fits_ussd(body), (len(body), limit, body)
        assert ELLIPSIS not in body, body  # nothing had to be cut to fit
        if lang and engine.language_of(state) != lang:
            continue  # another language chosen: walked in its own run
        if screen.end:
            continue
        for number in re.findall(r"^(\d+) ", screen.text, flags=re.M):
            nxt, nxt_screen = engine.advance(state, number, submit)
            if _where(nxt) not in seen:
                seen.add(_where(nxt))
                todo.append((nxt, nxt_screen))
    assert screens > 20
