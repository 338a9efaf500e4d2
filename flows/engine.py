"""The engine that walks flows one caller input at a time, keeping all state in a dict."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flows import messages
from flows.digits import as_number, ascii_digits, is_digits
from flows.errors import FlowDefinitionError
from flows.gsm import fold_to_gsm7
from flows.i18n import Catalogs, autonym
from flows.model import Flow, PlaceDirectory, Screen, Step, Submission
from flows.render import BACK_NUMBER, MORE_NUMBER, Menu, fit_end, option_number

MAIN_FLOW = "main"
STATE_VERSION = 1
MAX_DIGITS = 12  # a typed number (a case reference has 6 to 8 digits)
MAX_TEXT = 480  # free text kept from one SMS answer (three segments)
Submit = Callable[[Submission], Mapping[str, str]]


@dataclass(frozen=True)
class _Choice:
    """What picking one numbered line does: kind is lang, option, place or here."""

    kind: str
    label: str
    payload: Any


def _copy(state: dict) -> dict:
    """Return a deep copy of a state: JSON data, copied faster than copy.deepcopy does."""
    return json.loads(json.dumps(state))


def normalize_answer(answer: str) -> str:
    """Fold keypad input: digits of any script to ASCII, without spaces or '#'."""
    text = ascii_digits(unicodedata.normalize("NFKC", answer))
    return "".join(ch for ch in text if not ch.isspace() and ch != "#")


def fold_words(text: str) -> str:
    """Fold text for comparing words: no accents, no case, no punctuation, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(
        ch if ch.isalnum() else " " for ch in decomposed if not unicodedata.combining(ch)
    )
    return " ".join(kept.casefold().split())


def match_words(answer: str, labels: Sequence[str]) -> int | None:
    """Return the index of the label a written answer names (whole label or its first word)."""
    wanted = fold_words(answer)
    if not wanted:
        return None
    folded = [fold_words(label) for label in labels]
    if wanted in folded:
        return folded.index(wanted)
    firsts = [i for i, label in enumerate(folded) if label.split(" ", 1)[0] == wanted]
    return firsts[0] if len(firsts) == 1 else None


class Engine:
    """Walks flow definitions: one call per caller input, state kept by the caller."""

    def __init__(
        self,
        flows: dict[str, Flow],
        catalogs: Catalogs,
        places: PlaceDirectory,
        languages: list[str],
        default_language: str,
        *,
        gsm_fold_languages: Collection[str] = ("fr",),
        names: Mapping[str, str] | None = None,
    ) -> None:
        if MAIN_FLOW not in flows:
            raise FlowDefinitionError(f"no {MAIN_FLOW!r} flow: add {MAIN_FLOW}.yaml")
        if not languages:
            raise ValueError("at least one language is needed")
        self.flows = flows
        self.catalogs = catalogs
        self.places = places
        self.languages = list(languages)
        self.default_language = (
            default_language if default_language in languages else self.languages[0]
        )
        # Languages whose accents outside GSM-7 are replaced (ê -> e) so screens keep 182 chars.
        self.gsm_fold_languages = frozenset(gsm_fold_languages)
        # Each language named in itself on the first screen (languages.toml), else a known name.
        self.names = {code: (names or {}).get(code) or autonym(code) for code in self.languages}
        # Menus of steps other than places depend only on the flows and catalogs: built once.
        self._menus: dict[tuple[str, str, str, bool], Menu] = {}

    # Public API ----------------------------------------------------------------------------

    def begin(
        self, lang: str | None = None, *, flow: str = MAIN_FLOW, channel: str = "ussd",
        flags: Collection[str] = (),
    ) -> tuple[dict, Screen]:
        """New session: the language choice screen, or (lang known) straight to the main menu.

        SMS keywords start a given flow in the language of the keyword; channel "sms" shows
        every option of a question in one message instead of screens of 182 characters.
        flags (model.FLAGS) show the options that require them: the gateway decides, once.
        """
        chosen = self.flows[flow]
        state: dict[str, Any] = {
            "v": STATE_VERSION, "lang": lang if lang in self.languages else None,
            "flow": chosen.name, "step": chosen.start, "page": 0, "level": None,
            "answers": {}, "history": [], "done": False, "channel": channel,
        }
        if flags:
            state["flags"] = sorted(set(flags))
        start = chosen.steps[chosen.start]
        if state["lang"] and start.type == "language" and start.next:
            state["step"] = start.next
        self._enter(state)
        self._pass_over(state, lambda _submission: {})
        return state, self._render(state)

    def advance(
        self, state: dict, answer: str, submit: Submit, *, words: bool = False
    ) -> tuple[dict, Screen]:
        """Apply one input; return the new state (JSON-serializable dict) and the screen to show.

        With words (SMS), an answer may also name an option in the caller's language ("oui").
        """
        state = _copy(state)
        if state.get("done"):
            return state, self._render(state)
        text = normalize_answer(answer)
        number = as_number(text)
        menu = self._menu(state)
        page = menu.clamp(int(state.get("page", 0)))
        step = self._step(state)
        if step.type == "input" and not (
            number is not None and (number == BACK_NUMBER or menu.choose(page, number) is not None)
        ):
            return self._take_input(state, step, answer, submit, menu)
        if number is None and words:
            index = match_words(answer, [choice.label for choice in self._choices(state)])
            if index is not None:
                self._apply(state, self._choices(state)[index], submit)
                return state, self._render(state)
        if number == BACK_NUMBER and menu.has_back(page):
            self._back(state, page)
        elif number == MORE_NUMBER and menu.has_more(page):
            state["page"] = page + 1
        elif number is not None and (index := menu.choose(page, number)) is not None:
            self._apply(state, self._choices(state)[index], submit)
        else:
            return state, self._render(state, hint=True, menu=menu)
        return state, self._render(state)

    def _take_input(
        self, state: dict, step: Step, answer: str, submit: Submit, menu: Menu
    ) -> tuple[dict, Screen]:
        """Save a typed answer (digits or a few words) and go on; anything else: the hint."""
        if step.accept == "digits":
            value = normalize_answer(answer)
            ok = is_digits(value) and len(value) <= MAX_DIGITS
        else:
            value = " ".join(answer.split())[:MAX_TEXT]
            ok = bool(value)
        if not ok:
            return state, self._render(state, hint=True, menu=menu)
        self._push(state)
        assert step.save is not None and step.next is not None  # guaranteed by the loader
        state["answers"][step.save] = value
        self._goto(state, state["flow"], step.next, submit)
        return state, self._render(state)

    def failure(self, lang: str | None) -> Screen:
        """An END screen, in the language (or default), for when anything goes wrong."""
        lang = lang if lang in self.languages else self.default_language
        return Screen(text=fit_end(self._t(lang, messages.FAILURE)), end=True)

    def language_of(self, state: dict) -> str:
        """Return the caller's language in state, or the default language."""
        lang = state.get("lang")
        return lang if lang in self.languages else self.default_language

    # Moving --------------------------------------------------------------------------------

    def _step(self, state: dict) -> Step:
        return self.flows[state["flow"]].steps[state["step"]]

    def _push(self, state: dict) -> None:
        """Remember where the caller is, so "0 Back" can return here."""
        state["history"].append({
            "flow": state["flow"], "step": state["step"], "level": state["level"],
            "answers": dict(state["answers"]), "skip": list(state.get("skip", [])),
        })

    def _back(self, state: dict, page: int) -> None:
        if page > 0:
            state["page"] = page - 1
            return
        previous = state["history"].pop()
        state.update(previous)
        state["page"] = 0

    def _goto(self, state: dict, flow: str, step: str, submit: Submit) -> None:
        state["flow"], state["step"], state["page"] = flow, step, 0
        self._enter(state)
        self._pass_over(state, submit)

    def _pass_over(self, state: dict, submit: Submit) -> None:
        """Skip a step not shown on this channel (free text on USSD); end a flow that ends."""
        target = self._step(state)
        skipped = f"{state['flow']}/{state['step']}" in state.get("skip", ())
        if skipped or (target.channels and state.get("channel", "ussd") not in target.channels):
            assert target.next is not None  # guaranteed by the loader
            state["step"], state["page"] = target.next, 0
            self._enter(state)
            self._pass_over(state, submit)
            return
        if target.type == "end":
            state["done"] = True
            state["params"] = {}
            if target.submit:
                submission = Submission(
                    flow=state["flow"],
                    language=self.language_of(state),
                    answers=dict(state["answers"]),
                )
                state["params"] = {str(k): str(v) for k, v in submit(submission).items()}

    def _enter(self, state: dict) -> None:
        """Prepare a step being entered: a location step starts at the top of the hierarchy."""
        if self._step(state).type == "location":
            top = self.places.children(None)
            single = len(top) == 1 and top[0].has_children
            state["level"] = top[0].pcode if single else None
        else:
            state["level"] = None

    def _apply(self, state: dict, choice: _Choice, submit: Submit) -> None:
        step = self._step(state)
        flow, target = state["flow"], step.next
        # Remember this screen as it was, before the answer, so "0 Back" returns to it.
        self._push(state)
        if choice.kind == "lang":
            state["lang"] = choice.payload
        elif choice.kind == "option":
            option = step.options[choice.payload]
            if step.save and option.has_value:
                state["answers"][step.save] = option.value
            if option.flow:
                flow, target = option.flow, self.flows[option.flow].start
                state["skip"] = [f"{flow}/{name}" for name in option.skip]
            elif option.next:
                target = option.next
        elif choice.kind == "place":
            place = self.places.get(choice.payload)
            if place is not None and place.has_children:
                state["level"], state["page"] = place.pcode, 0
                return
            state["answers"][step.save or "location"] = choice.payload
        elif choice.kind == "here":
            state["answers"][step.save or "location"] = choice.payload
        assert target is not None  # guaranteed by the loader
        self._goto(state, flow, target, submit)

    # Screens -------------------------------------------------------------------------------

    def translate(self, lang: str, msgid: str, **params: object) -> str:
        """Translate as the caller reads it: folded to GSM-7 where the language asks for it."""
        text = self.catalogs.gettext(lang, msgid, **params)
        return fold_to_gsm7(text) if lang in self.gsm_fold_languages else text

    _t = translate

    def _choices(self, state: dict) -> list[_Choice]:
        """List what each line of the current step does: options first, then pinned ones."""
        step, lang = self._step(state), self.language_of(state)
        if step.type == "language":
            return [_Choice("lang", self.names[code], code) for code in self.languages]
        if step.type in ("menu", "input"):
            flags = state.get("flags", ())
            return [
                _Choice("option", self._t(lang, option.label), i)
                for i, option in enumerate(step.options)
                if option.requires is None or option.requires in flags
            ]
        if step.type == "location":
            level = state.get("level")
            choices = [
                _Choice("place", place.name_in(lang), place.pcode)
                for place in self.places.children(level)
            ]
            current = self.places.get(level) if level else None
            if current is None:
                choices.append(_Choice("here", self._t(lang, messages.DONT_KNOW_PLACE), None))
            else:
                label = self._t(lang, messages.NOT_SURE_IN, place=current.name_in(lang))
                choices.append(_Choice("here", label, current.pcode))
            return choices
        return []

    def _menu(self, state: dict) -> Menu:
        """Return the menu of the current step; built once per (step, language) unless places."""
        if self._step(state).type == "location":
            return self._build_menu(state)
        key = (state["flow"], state["step"], self.language_of(state), bool(state["history"]),
               tuple(state.get("flags", ())))
        menu = self._menus.get(key)
        if menu is None:
            menu = self._menus[key] = self._build_menu(state)
        return menu

    def _build_menu(self, state: dict) -> Menu:
        step, lang = self._step(state), self.language_of(state)
        # "Not sure" ends the list of places like every "Don't know": pinning it on each page
        # would leave no room for the places on 80-character (UCS-2) screens.
        choices = self._choices(state)
        labels = [choice.label for choice in choices]
        # An option keeps its number when another one is not shown (numbered by its place).
        numbers = [step.options[c.payload].number or option_number(c.payload) for c in choices
                   if c.kind == "option"]
        return Menu(
            header=self._t(lang, step.text) if step.text else "",
            labels=labels,
            more=self._t(lang, messages.MORE),
            back=self._t(lang, messages.BACK),
            can_back=bool(state["history"]),
            hint=self._t(lang, messages.HINT),
            numbers=numbers if step.type in ("menu", "input") else (),
        )

    def menu_at(
        self, flow: str, step: str, lang: str, *, level: str | None = None, can_back: bool = True
    ) -> Menu:
        """Build the menu a caller in lang is shown at a step (the flow checker measures it).

        Every option is shown, those that require a flag too: the longest menu is measured.
        """
        flags = sorted({o.requires for o in self.flows[flow].steps[step].options if o.requires})
        state = {
            "flow": flow, "step": step, "lang": lang, "level": level, "page": 0,
            "history": [{}] if can_back else [], "flags": flags,
        }
        return self._menu(state)

    def _render(self, state: dict, hint: bool = False, menu: Menu | None = None) -> Screen:
        step = self._step(state)
        if step.type == "end":
            lang = self.language_of(state)
            assert step.text is not None
            # A value the submission did not give reads as nothing (Catalogs.gettext).
            text = self._t(lang, step.text, **state.get("params", {}))
            return Screen(text=fit_end(text), end=True)
        menu = menu or self._menu(state)
        if state.get("channel") == "sms":
            return Screen(text=self._sms_text(state, menu, hint), end=False)
        return Screen(text=menu.render(int(state.get("page", 0)), hint=hint), end=False)

    def _sms_text(self, state: dict, menu: Menu, hint: bool) -> str:
        """One SMS per question: the question and every option, numbered as on USSD."""
        lines = [menu.hint] if hint else []
        if menu.header:
            lines.append(menu.header)
        labels = [choice.label for choice in self._choices(state)]
        lines += [f"{menu.number(i)} {label}" for i, label in enumerate(labels)]
        if state["history"]:
            lines.append(f"{BACK_NUMBER} {menu.back}")
        return "\n".join(lines)
