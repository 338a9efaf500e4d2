"""Fewer replies per SMS conversation: each question SMS carries as many questions as fit.

After the question a conversation is at, the questions that follow whatever the answer (a menu
whose options all lead to the same next menu) are added, each on one line with its options
("When? 1=Today 2=Earlier"), as long as the whole reply fits one SMS segment (160 GSM-7 or 70
UCS-2 characters). The reply may answer them in order ("1 3 2", or each option's words); a reply
of one answer still answers the first question, as before. A place question (its levels) and a
free text are always asked alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flows import Engine, Screen
from flows.gsm import sms_segments
from flows.i18n import N_
from flows.messages import BACK
from flows.model import Flow, Step
from flows.render import BACK_NUMBER, option_number

BATCH = "batch"  # in a conversation's state: the questions its last reply carried
MAX_PHRASE = 6  # words one option's label may have

# TRANSLATORS: first line of an SMS that asks several questions at once, each on its own line
# with its options ("When? 1=Today 2=Earlier"). Very short: it shares one SMS with them.
IN_ORDER = N_("Answer each, in order (e.g. 1 3):")


def _passed(flow: Flow, name: str, state: dict) -> bool:
    step = flow.steps[name]
    return bool(step.channels and "sms" not in step.channels) or (
        f"{flow.name}/{name}" in state.get("skip", ())
    )


def _leads_on(step: Step) -> bool:
    """Tell whether every option of a menu leads to the step's own next one."""
    return step.type == "menu" and bool(step.next) and all(
        not option.flow and option.next in (None, step.next) for option in step.options
    )


def following(engine: Engine, state: dict) -> list[str]:
    """Return the current step and the menus after it that no answer to it changes."""
    flow = engine.flows[state["flow"]]
    names = [state["step"]]
    step = flow.steps[names[0]]
    while _leads_on(step):
        name = step.next
        while name and _passed(flow, name, state):
            name = flow.steps[name].next
        if not name or flow.steps[name].type != "menu" or name in names:
            break
        names.append(name)
        step = flow.steps[name]
    return names


def _line(engine: Engine, lang: str, step: Step, flags: tuple[str, ...]) -> str:
    pairs = [
        f"{option.number or option_number(i)}={engine.translate(lang, option.label)}"
        for i, option in enumerate(step.options)
        if option.requires is None or option.requires in flags
    ]
    head = engine.translate(lang, step.text) if step.text else ""
    return " ".join([head, *pairs]).strip()


def compact(engine: Engine, state: dict) -> tuple[str, int] | None:
    """Return the reply asking the most questions that fit one segment, and how many; None
    when only one fits (the engine's own screen is shown then)."""
    flow = engine.flows[state["flow"]]
    names = following(engine, state)
    lang = engine.language_of(state)
    flags = tuple(state.get("flags", ()))
    lines = [_line(engine, lang, flow.steps[name], flags) for name in names]
    tail = [f"{BACK_NUMBER} {engine.translate(lang, BACK)}"] if state.get("history") else []
    head = [engine.translate(lang, IN_ORDER)]
    # More questions first (fewer replies), then the how-to line and "0 Back" where they fit:
    # without them one answer still answers the first question, and "0" still goes back.
    for count in range(len(names), 1, -1):
        for extra in ((head, tail), (head, []), ([], tail), ([], [])):
            text = "\n".join([*extra[0], *lines[:count], *extra[1]])
            if sms_segments(text) == 1:
                return text, count
    return None


def moved(before: dict, after: dict) -> bool:
    """Tell whether an input was taken (an answer saved or a level gone down), not refused."""
    return after.get("done") or len(after["history"]) > len(before["history"])


def answer_all(
    engine: Engine, state: dict, text: str, submit: Callable
) -> tuple[dict, Screen] | None:
    """Answer the questions of the last reply in order with the words of text; None unless
    every word answers one of them (the reply is then read as one answer, as before)."""
    names = set(following(engine, state))
    tokens = [token for token in re.split(r"[\s,;]+", text) if token]
    if len(tokens) < 2 or int(state.get(BATCH, 1)) < 2:
        return None
    screen: Screen | None = None
    position = 0
    while position < len(tokens):
        if state.get("done"):
            break  # the report is sent: what follows "Send" changes nothing
        if state["step"] not in names:
            return None  # more answers than questions: ask again rather than guess
        taken = None
        if tokens[position].isdigit():
            spans = [1] if tokens[position] != str(BACK_NUMBER) else []
        else:
            spans = list(range(min(MAX_PHRASE, len(tokens) - position), 0, -1))
        for span in spans:
            words = " ".join(tokens[position:position + span])
            after, shown = engine.advance(state, words, submit, words=True)
            if moved(state, after):
                taken = span
                state, screen = after, shown
                break
        if taken is None:
            return None
        position += taken
    return (state, screen) if screen is not None else None
