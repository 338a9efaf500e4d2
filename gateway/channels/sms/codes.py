"""One-SMS reports: a keyword and the answers in one message, by numbers or by words.

`ALERT 1 3 1 1` answers the flow's questions in order with the menus' own numbers (a place by
its numbers down the hierarchy: 3 Ouaka, then 1 Bambari); `ALERTE recrutement Bria` names
options and places in words, in any order, case, accents and endings folded ("recrutement"
names "Recruté par ..."). Steps that are no question are passed over as a one-SMS report needs:
an introduction is read, no free text is asked ("nothing to add"), no follow-up SMS is asked for
(do no harm: the sender did not ask for one) and the report is sent. Whatever is missing is
asked in one SMS listing the questions; the answer to it (numbers in order, or words) completes
the report, which then walks the same engine and submit as a conversation: same case, routing
and reference.

When words count as answers: only when every word of the message is understood (a word of one
or two letters excepted): a number in its place in the flow, or a word naming an option, a place,
or what a question is about ("filles": the girls' question, which is then asked). A message with
any other word (`ALERT armed men took 3 boys near the school`) stays a report in the sender's own
words, read by a person (triage), as before; so does a message that answers no question. Ask
rather than guess: a word that could name options of two questions, two options of one, or two
places answers nothing, and a question named twice differently is asked.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from flows import Engine, Place
from flows.engine import fold_words
from flows.i18n import N_
from flows.messages import DONT_KNOW_PLACE, NOT_SURE_IN
from flows.model import Flow, Step
from flows.render import option_number

CODED = "coded"  # the key of a one-SMS report being completed, in its conversation's state
# Answers a one-SMS report gives without asking, by the step's `save` key: no follow-up SMS.
GIVEN = {"callback": "no"}
MAX_PHRASE = 6  # words an option's label or a place's name may have, matched as one phrase
MIN_STEM = 5  # letters two words must share at their start to be the same word ("recrut...")
MIN_WORD = 3  # shorter words ("a", "de", "la") are fillers when they name nothing

# TRANSLATORS: first line of the one SMS that asks what a one-SMS report did not say. Each
# question follows on its own line with its options as "1=Today 2=Yesterday". Short: the whole
# SMS should fit 160 characters where it can.
MISSING = N_("To finish, reply with one answer per question, in order:")

# One answer: ("option", index in step.options) or ("place", p-code or None, final).
Answer = list[Any]


@dataclass
class Coded:
    """A one-SMS report: its flow, language and the answers understood so far, by step."""

    flow: str
    lang: str
    answers: dict[str, Answer] = field(default_factory=dict)

    def dump(self) -> dict[str, Any]:
        """Return the JSON form kept (encrypted) in the sender's conversation."""
        return {"flow": self.flow, "lang": self.lang, "answers": self.answers}

    @classmethod
    def load(cls, data: dict[str, Any]) -> Coded:
        """Read back what dump() wrote."""
        return cls(str(data["flow"]), str(data["lang"]), dict(data.get("answers") or {}))


class NotUnderstood(Exception):
    """The message is not a one-SMS report: a word or number that answers nothing."""


# The flow as a one-SMS report walks it ------------------------------------------------------------


def is_question(step: Step) -> bool:
    """Tell whether a one-SMS report asks this step: a menu or place that saves an answer."""
    if step.channels and "sms" not in step.channels:
        return False
    return step.type in ("menu", "location") and bool(step.save) and step.save not in GIVEN


def given_option(flow: Flow, step: Step) -> int:
    """Return the option a one-SMS report picks at a step it does not ask (see GIVEN)."""
    if step.save in GIVEN:
        wanted = GIVEN[step.save]
        return next(i for i, o in enumerate(step.options) if o.value == wanted)
    for index, option in enumerate(step.options):
        target = flow.steps.get(option.next or step.next or "")
        if target is not None and target.type == "end" and target.submit:
            return index  # "Send your report now?": send
    return 0  # an introduction's "Continue", a free text's "Nothing to add"


def option_no(step: Step, index: int) -> int:
    """Return the number a menu shows for an option (its `number:`, else its place)."""
    return step.options[index].number or option_number(index)


class Walker:
    """The questions of one flow for one report, read from the definitions and the places."""

    def __init__(self, engine: Engine, coded: Coded) -> None:
        self.engine = engine
        self.coded = coded
        self.flow = engine.flows[coded.flow]

    def top_level(self) -> str | None:
        """Return the level a place question starts at, as the engine does."""
        top = self.engine.places.children(None)
        return top[0].pcode if len(top) == 1 and top[0].has_children else None

    def questions(self) -> Iterator[tuple[str, Step]]:
        """Yield the questions in flow order, following the answers known so far."""
        name: str | None = self.flow.start
        seen: set[str] = set()
        while name and name not in seen:
            seen.add(name)
            step = self.flow.steps[name]
            if step.type == "end":
                return
            answer = self.coded.answers.get(name)
            if not is_question(step):
                if step.type in ("menu", "input") and step.options and not (
                    step.channels and "sms" not in step.channels
                ):
                    option = step.options[given_option(self.flow, step)]
                    name = option.next or step.next
                else:
                    name = step.next
                continue
            yield name, step
            if step.type == "menu" and answer is not None:
                option = step.options[answer[1]]
                name = option.next or step.next
            else:
                name = step.next  # what follows a missing answer: the usual way on

    def missing(self) -> list[tuple[str, Step]]:
        """Return the questions still to ask, in order."""
        return [(name, step) for name, step in self.questions() if not self.done(name)]

    def done(self, name: str) -> bool:
        answer = self.coded.answers.get(name)
        return answer is not None and (answer[0] == "option" or bool(answer[2]))

    def level(self, name: str) -> str | None:
        """Return the level a place question is at: where its answer went down to, or the top."""
        answer = self.coded.answers.get(name)
        return answer[1] if answer else self.top_level()

    # Numbers ---------------------------------------------------------------------------------

    def take_numbers(self, numbers: Sequence[int]) -> None:
        """Answer the missing questions in order by menu numbers; NotUnderstood if one fits none."""
        queue = list(numbers)
        while queue:
            pending = self.missing()
            if not pending:
                raise NotUnderstood("more numbers than questions")
            name, step = pending[0]
            if step.type == "location":
                self._take_place_number(name, queue.pop(0))
                continue
            number = queue.pop(0)
            found = [i for i, option in enumerate(step.options)
                     if option.requires is None and option_no(step, i) == number]
            if not found:
                raise NotUnderstood("no such option")
            self.coded.answers[name] = ["option", found[0]]

    def _take_place_number(self, name: str, number: int) -> None:
        level = self.level(name)
        children = self.engine.places.children(level)
        if number == option_number(len(children)):  # "Don't know" / "Not sure, in <level>"
            self.coded.answers[name] = ["place", level, True]
            return
        chosen = [place for i, place in enumerate(children) if option_number(i) == number]
        if not chosen:
            raise NotUnderstood("no such place")
        self.coded.answers[name] = ["place", chosen[0].pcode, not chosen[0].has_children]


# Words -------------------------------------------------------------------------------------------


def _same_word(word: str, known: str) -> bool:
    """Tell whether a written word is a known word, allowing another ending ("recrutement")."""
    if word == known:
        return True
    if min(len(word), len(known)) < MIN_STEM:
        return False
    shared = 0
    for a, b in zip(word, known, strict=False):
        if a != b:
            break
        shared += 1
    return shared >= max(MIN_STEM, min(len(word), len(known)) - 2)


@dataclass
class _Lexicon:
    """What words name in one language: options (by step), places, and questions' subjects."""

    phrases: dict[tuple[str, ...], set[tuple[str, ...]]] = field(default_factory=dict)
    words: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    subjects: set[str] = field(default_factory=set)

    def add(self, text: str, target: tuple[str, ...], *, stems: bool) -> None:
        folded = tuple(fold_words(text).split())
        if folded and len(folded) <= MAX_PHRASE:
            self.phrases.setdefault(folded, set()).add(target)
        if stems:
            self.words += [(word, target) for word in folded if len(word) >= MIN_WORD + 1]

    def targets(self, tokens: Sequence[str], start: int) -> tuple[int, set[tuple[str, ...]]]:
        """Return how many tokens from start name something, and what; (0, ...) if nothing."""
        for end in range(min(len(tokens), start + MAX_PHRASE), start, -1):
            found = self.phrases.get(tuple(tokens[start:end]))
            if found:
                return end - start, found
        word = tokens[start]
        stemmed = {target for known, target in self.words if _same_word(word, known)}
        if stemmed:
            return 1, stemmed
        if any(_same_word(word, subject) for subject in self.subjects):
            return 1, {("subject",)}
        return 0, set()


def _places(engine: Engine) -> Iterator[Place]:
    """Yield every place of the hierarchy."""
    pending: list[str | None] = [None]
    while pending:
        for place in engine.places.children(pending.pop()):
            yield place
            if place.has_children:
                pending.append(place.pcode)


def lexicon(engine: Engine, flow: Flow, lang: str) -> _Lexicon:
    """Build what the words of lang name in a flow's questions, and every place's names."""
    found = _Lexicon()
    for name, step in flow.steps.items():
        if not is_question(step):
            continue
        if step.text:
            found.subjects.update(
                word for word in fold_words(engine.translate(lang, step.text)).split()
                if len(word) >= MIN_WORD + 1
            )
        for index, option in enumerate(step.options):
            if option.requires is None:
                target = ("option", name, str(index))
                found.add(engine.translate(lang, option.label), target, stems=True)
                found.add(option.label, target, stems=False)  # the English label too
    for place in _places(engine):
        for written in {place.name, *place.names.values()}:
            found.add(written, ("place", place.pcode), stems=False)
    return found


def take_words(walker: Walker, tokens: Sequence[str], words: _Lexicon) -> int:
    """Answer questions named by words; return how many were answered; NotUnderstood if a word
    names nothing."""
    chosen: dict[str, set[tuple[str, ...]]] = {}
    place_steps = [name for name, step in walker.flow.steps.items()
                   if is_question(step) and step.type == "location"]
    position = 0
    while position < len(tokens):
        used, targets = words.targets(tokens, position)
        if not used:
            if len(tokens[position]) < MIN_WORD and not tokens[position].isdigit():
                position += 1  # "a", "de", "à": fillers
                continue
            raise NotUnderstood("a word names nothing")
        position += used
        options = {t for t in targets if t[0] == "option"}
        places = {t for t in targets if t[0] == "place"}
        if len(options) + len(places) != 1:
            continue  # a subject, or a word that could mean two things: ask
        target = next(iter(options or places))
        steps = [target[1]] if target[0] == "option" else place_steps
        for name in steps:
            chosen.setdefault(name, set()).add(target)
    answered = 0
    for name, targets in chosen.items():
        if len(targets) != 1 or walker.done(name):
            continue  # named twice differently, or answered before: keep what is known
        kind, *rest = next(iter(targets))
        if kind == "option":
            walker.coded.answers[name] = ["option", int(rest[1])]
        else:
            place = walker.engine.places.get(rest[0])
            if place is None:
                continue
            walker.coded.answers[name] = ["place", place.pcode, not place.has_children]
        answered += 1
    return answered


# Reading a message -------------------------------------------------------------------------------


def tokens_of(text: str) -> list[str]:
    """Split a message into folded words and numbers."""
    return fold_words(text).split()


def understand(engine: Engine, coded: Coded, text: str, languages: Sequence[str]) -> Coded:
    """Fill coded with what text answers; raise NotUnderstood if it is no one-SMS report.

    Numbers answer the missing questions in order; words are read in the first of languages
    whose words understand them all (coded.lang becomes it), else in all languages at once.
    """
    tokens = tokens_of(text)
    if not tokens:
        raise NotUnderstood("nothing after the keyword")
    walker = Walker(engine, Coded(coded.flow, coded.lang, dict(coded.answers)))
    if all(token.isdigit() and len(token) <= 3 for token in tokens):
        walker.take_numbers([int(token) for token in tokens])
        return walker.coded
    for lang in languages:
        attempt = Walker(engine, Coded(coded.flow, coded.lang, dict(coded.answers)))
        try:
            answered = take_words(attempt, tokens, lexicon(engine, attempt.flow, lang))
        except NotUnderstood:
            continue
        if not answered:
            raise NotUnderstood("no question answered")
        attempt.coded.lang = lang
        return attempt.coded
    raise NotUnderstood("words of no language")


# What the sender reads --------------------------------------------------------------------------


def question_line(engine: Engine, walker: Walker, name: str, step: Step, lang: str) -> str:
    """Return one question and its options on one line: "When? 1=Today 2=Earlier"."""
    if step.type == "location":
        level = walker.level(name)
        places = engine.places.children(level)
        labels = [place.name_in(lang) for place in places]
        current = engine.places.get(level) if level else None
        labels.append(engine.translate(lang, NOT_SURE_IN, place=current.name_in(lang))
                      if current else engine.translate(lang, DONT_KNOW_PLACE))
        pairs = [(option_number(i), label) for i, label in enumerate(labels)]
    else:
        pairs = [(option_no(step, i), engine.translate(lang, option.label))
                 for i, option in enumerate(step.options) if option.requires is None]
    head = engine.translate(lang, step.text) if step.text else ""
    return " ".join([head, *(f"{number}={label}" for number, label in pairs)]).strip()


def missing_text(engine: Engine, coded: Coded, *, hint: str = "") -> str:
    """Return the one SMS that lists the questions still missing, each with its options."""
    walker = Walker(engine, coded)
    lines = [hint] if hint else []
    lines.append(engine.translate(coded.lang, MISSING))
    lines += [question_line(engine, walker, name, step, coded.lang)
              for name, step in walker.missing()]
    return "\n".join(lines)


# Walking the engine with the answers --------------------------------------------------------------


def engine_input(engine: Engine, coded: Coded, state: dict) -> tuple[str, bool]:
    """Return what to type at the engine's current step to give coded's answer: (text, words)."""
    flow = engine.flows[state["flow"]]
    name = state["step"]
    step = flow.steps[name]
    lang = engine.language_of(state)
    if step.type == "location":
        answer = coded.answers[name]
        target, level = answer[1], state.get("level")
        if target == level:
            current = engine.places.get(level) if level else None
            label = (engine.translate(lang, NOT_SURE_IN, place=current.name_in(lang))
                     if current else engine.translate(lang, DONT_KNOW_PLACE))
            return label, True
        return _child_towards(engine, level, target).name_in(lang), True
    if is_question(step):
        index = coded.answers[name][1]
    else:
        index = given_option(flow, step)
    if step.type == "input":
        return str(option_no(step, index)), False  # a label would be kept as free text
    return engine.translate(lang, step.options[index].label), True


def _child_towards(engine: Engine, level: str | None, target: str) -> Place:
    """Return the place under level on the way down to target."""
    for child in engine.places.children(level):
        if child.pcode == target:
            return child
        if child.has_children and _under(engine, child.pcode, target):
            return child
    raise NotUnderstood("the place is not under the level")


def _under(engine: Engine, ancestor: str, target: str) -> bool:
    pending = [ancestor]
    while pending:
        for child in engine.places.children(pending.pop()):
            if child.pcode == target:
                return True
            if child.has_children:
                pending.append(child.pcode)
    return False
