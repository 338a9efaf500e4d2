"""Resuming a USSD report the network cut off: offered to the same caller for a few minutes.

When a report is cut off (gateway.ussd_events), the engine state of its session and the source
key of its partial case are kept under a digest of the caller's pseudonym, never the number,
for GATEWAY_RESUME_WINDOW seconds (5 minutes by default). The next session of that caller,
once its language is chosen (every call begins with the language choice), offers to continue:
continuing restores the screen where the call was cut, and sending completes the same case.
The offer says nothing of the report (no category, no place): someone else may hold the phone.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

from flask import Flask, current_app

from flows import Screen, messages, normalize_answer
from flows.i18n import N_
from flows.render import Menu
from gateway.channels.ussd.sessions import UssdRecord
from gateway.conversation import get_engine
from gateway.errors import GatewayError
from gateway.storage.crypto import decrypt, encrypt
from gateway.storage.redis import get_redis

log = logging.getLogger(__name__)

PREFIX = "ussd:resume"
# Keys of UssdRecord.extra: the offer is on screen (with what it offers), and the source key
# of the case a resumed session completes.
OFFER = "resume_offer"
RESUMED_KEY = "resumed_key"
# Where the offer is made: the main menu, right after the language choice of the call.
MAIN_FLOW, LANGUAGE_STEP, MENU_STEP = "main", "language", "menu"

# TRANSLATORS: shown after the language choice when the caller's last call was cut off before
# it ended. Options follow. Keep it short; say nothing of what the call was about.
CUT_OFF = N_("Your last call was cut off.")
# TRANSLATORS: option: go back to the question where the last call was cut off.
CONTINUE = N_("Continue")
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
    # The answers, screen and case key are encrypted; only the time it was cut stays readable
    # (a ciphertext's own header carries it anyway).
    sealed = encrypt(json.dumps({"state": scrubbed(resumable.state), "screen": resumable.screen,
                                 "key": resumable.key}), app)
    record = {"saved_at": resumable.saved_at, "sealed": sealed}
    get_redis(app).set(_key(pseudonym), json.dumps(record), ex=window)


def load(pseudonym: str, app: Flask | None = None) -> Resumable | None:
    """Return the caller's cut report if it is still within the resume window."""
    app = app or current_app
    raw = get_redis(app).get(_key(pseudonym))
    if raw is None:
        return None
    try:
        record = json.loads(raw)
        if time.time() - float(record["saved_at"]) > int(app.config["RESUME_WINDOW"]):
            return None
        return Resumable(**json.loads(decrypt(record["sealed"], app)),
                         saved_at=float(record["saved_at"]))
    except (ValueError, TypeError, KeyError, GatewayError) as exc:
        # Written by an older version, or with a key since removed: nothing to offer.
        log.warning("USSD resume record unreadable, dropped: %s", type(exc).__name__)
        return None


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


def _just_chose_language(record: UssdRecord | None, state: dict[str, Any]) -> bool:
    """Tell whether this hop answered the first screen of the call, the language choice."""
    if record is None or OFFER in record.extra or RESUMED_KEY in record.extra:
        # A pre-filled dial string (or a replay) has chosen where to go; an offer is made once.
        return False
    before = record.state
    return (
        before.get("flow") == MAIN_FLOW and before.get("step") == LANGUAGE_STEP
        and not before.get("history")  # the first screen, not "Change language" later
        and state.get("flow") == MAIN_FLOW and state.get("step") == MENU_STEP
        and bool(state.get("lang"))
    )


def offer(
    record: UssdRecord | None, state: dict[str, Any], caller: str
) -> tuple[dict[str, Any], Screen, dict[str, Any]] | None:
    """Offer to continue a cut report once the call's language is chosen, else None."""
    if not _just_chose_language(record, state):
        return None
    resumable = load(caller)
    if resumable is None:
        return None
    menu = _offer_menu(get_engine().language_of(state))
    return state, Screen(menu.render(0), end=False), {OFFER: asdict(resumable)}


def answer(
    record: UssdRecord | None, text: str, caller: str
) -> tuple[dict[str, Any], Screen, dict[str, Any]] | None:
    """Apply the caller's choice on the offer to continue a cut report.

    Return the state, screen and record extra of the hop, or None when no offer is on screen
    and the hop is the flow's as usual.
    """
    engine = get_engine()
    offered = record.extra.get(OFFER) if record is not None else None
    if record is None or offered is None:
        return None
    resumable = Resumable(**offered)
    lang = engine.language_of(record.state)
    menu = _offer_menu(lang)
    given = normalize_answer(text.rsplit("*", 1)[-1])
    choice = menu.choose(0, int(given)) if given.isdigit() else None
    if choice == 0:
        drop(caller)
        # The report goes on in the language it was begun in, on the screen where it stopped.
        state = resumable.state
        return state, Screen(resumable.screen, end=False), {RESUMED_KEY: resumable.key}
    if choice == 1:
        drop(caller)
        state, screen = engine.begin(lang)
        return state, screen, {}
    return record.state, Screen(menu.render(0, hint=True), end=False), record.extra
