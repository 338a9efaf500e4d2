"""Resuming a USSD report the network cut off: offered to the same caller for a few minutes.

When a report is cut off (gateway.ussd_events), the engine state of its session and the source
key of its partial case are kept under a digest of the caller's pseudonym, never the number,
for GATEWAY_RESUME_WINDOW seconds. The next session of that caller first offers to continue:
continuing restores the screen where the call was cut, and sending completes the same case.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from flask import Flask, current_app

from flows import Screen, messages, normalize_answer
from flows.i18n import N_
from flows.render import Menu
from gateway.channels.ussd.sessions import UssdRecord
from gateway.conversation import get_engine
from gateway.storage.redis import get_redis

PREFIX = "ussd:resume"
# Keys of UssdRecord.extra: the offer is on screen (with what it offers), and the source key
# of the case a resumed session completes.
OFFER = "resume_offer"
RESUMED_KEY = "resumed_key"

# TRANSLATORS: first screen of a call when the caller's last call was cut off before their
# report was sent. Options follow. Keep it short.
CUT_OFF = N_("Your last call was cut off.")
# TRANSLATORS: option: go back to the question where the last call was cut off.
CONTINUE = N_("Continue my report")
# TRANSLATORS: option: go to the main menu instead (what was already given is kept anyway).
START_AGAIN = N_("Start again")


@dataclass
class Resumable:
    """A cut report: the engine state and the screen where it stopped, its case's source key."""

    state: dict[str, Any]
    screen: str
    key: str
    saved_at: float


def _key(pseudonym: str) -> str:
    return f"{PREFIX}:{hashlib.sha256(pseudonym.encode()).hexdigest()[:40]}"


def _free_text_keys() -> set[str]:
    """Return the answers typed as free text in any flow: never kept for resuming."""
    return {
        step.save
        for flow in get_engine().flows.values()
        for step in flow.steps.values()
        if step.type == "input" and step.accept == "text" and step.save
    }


def scrubbed(state: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of an engine state without any free-text answer, in history too."""
    state = copy.deepcopy(state)
    dropped = _free_text_keys()
    for answers in [state.get("answers", {})] + [
        entry.get("answers", {}) for entry in state.get("history", [])
    ]:
        for name in dropped & answers.keys():
            del answers[name]
    return state


def keep(pseudonym: str, resumable: Resumable, app: Flask | None = None) -> None:
    """Keep a cut report for its caller to continue, for the resume window."""
    app = app or current_app
    window = int(app.config["RESUME_WINDOW"])
    if window <= 0:
        return
    resumable = Resumable(scrubbed(resumable.state), resumable.screen, resumable.key,
                          resumable.saved_at)
    get_redis(app).set(_key(pseudonym), json.dumps(asdict(resumable)), ex=window)


def load(pseudonym: str, app: Flask | None = None) -> Resumable | None:
    """Return the caller's cut report if it is still within the resume window."""
    app = app or current_app
    raw = get_redis(app).get(_key(pseudonym))
    if raw is None:
        return None
    resumable = Resumable(**json.loads(raw))
    if time.time() - resumable.saved_at > int(app.config["RESUME_WINDOW"]):
        return None
    return resumable


def drop(pseudonym: str, app: Flask | None = None) -> None:
    """Forget the caller's cut report: it is offered once."""
    get_redis(app).delete(_key(pseudonym))


def _offer_menu(lang: str) -> Menu:
    engine = get_engine()
    return Menu(
        header=engine.translate(lang, CUT_OFF),
        labels=[engine.translate(lang, CONTINUE), engine.translate(lang, START_AGAIN)],
        more=engine.translate(lang, messages.MORE),
        back=engine.translate(lang, messages.BACK),
        can_back=False,
        hint=engine.translate(lang, messages.HINT),
    )


def answer(
    record: UssdRecord | None, text: str, caller: str
) -> tuple[dict[str, Any], Screen, dict[str, Any]] | None:
    """Offer a new session to continue a cut report, or apply the caller's choice.

    Return the state, screen and record extra of the hop, or None when there is nothing to
    offer and the hop is the flow's as usual.
    """
    engine = get_engine()
    if record is None:
        # Only a plain dial: a dial string that pre-fills inputs has chosen where to go.
        resumable = load(caller) if not text else None
        if resumable is None:
            return None
        lang = engine.language_of(resumable.state)
        menu = _offer_menu(lang)
        return {"lang": lang}, Screen(menu.render(0), end=False), {OFFER: asdict(resumable)}
    offered = record.extra.get(OFFER)
    if offered is None:
        return None
    resumable = Resumable(**offered)
    lang = engine.language_of(record.state)
    menu = _offer_menu(lang)
    given = normalize_answer(text.rsplit("*", 1)[-1])
    choice = menu.choose(0, int(given)) if given.isdigit() else None
    if choice == 0:
        drop(caller)
        state = resumable.state
        return state, Screen(resumable.screen, end=False), {RESUMED_KEY: resumable.key}
    if choice == 1:
        drop(caller)
        state, screen = engine.begin(lang)
        return state, screen, {}
    return record.state, Screen(menu.render(0, hint=True), end=False), record.extra
