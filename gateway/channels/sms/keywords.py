"""SMS keywords in every offered language: ALERT, ALERTE, ... start the same flows as USSD.

Each keyword is a gettext message whose translation lists the words accepted in that language,
separated by commas. Matching folds case and accents and ignores punctuation, so "Alerte!",
"alerte" and "ALERTÉ" all start an alert.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flows.engine import fold_words
from flows.i18n import N_, Catalogs
from gateway.conversation import keyword_words

KEYWORDS = {
    # TRANSLATORS: SMS keywords. Each is one or more words a person may send, separated by
    # commas (e.g. "ALERTE, ALARME"). Capitals, short, no spaces inside a word. This one starts
    # an alert about a child in danger.
    "alert": N_("ALERT"),
    # TRANSLATORS: SMS keyword (see ALERT) to ask what happened to a report: "STATUS 4821937".
    "status": N_("STATUS"),
    # TRANSLATORS: SMS keyword (see ALERT) to choose the language of the messages.
    "language": N_("LANGUAGE"),
    # TRANSLATORS: SMS keyword (see ALERT) to stop all messages and erase the sender's number.
    "stop": N_("STOP"),
    # TRANSLATORS: SMS keyword (see ALERT) sent alone to get the card of SMS codes (how to
    # report in one SMS), e.g. "AIDE" in French. English HELP works in every language.
    "help": N_("HELP"),
}
# Keywords of focal points' phones only: from any other number they are words like any other
# (no hint that they exist).
STAFF_KEYWORDS = {
    # TRANSLATORS: SMS keyword (see ALERT) a focal point sends to report for someone else who
    # told them what happened (a child in danger, misconduct). Sent by staff only, never shown
    # to the public. English RELAY works in every language.
    "relay": N_("RELAY"),
}


@dataclass(frozen=True)
class Match:
    """A keyword found at the start of an SMS: its action, language and what follows it."""

    action: str
    languages: tuple[str, ...]
    rest: str
    word: str = ""  # the keyword as written


class Keywords:
    """The keyword table of the offered languages, English always included."""

    def __init__(self, catalogs: Catalogs, languages: Iterable[str]) -> None:
        languages = list(languages)
        self._table = self._build(catalogs, languages, KEYWORDS)
        self._staff = self._build(catalogs, languages, STAFF_KEYWORDS)

    @staticmethod
    def _build(
        catalogs: Catalogs, languages: list[str], keywords: dict[str, str]
    ) -> dict[str, tuple[str, tuple[str, ...]]]:
        table: dict[str, tuple[str, list[str]]] = {}
        for lang in ["en", *languages]:
            for action, msgid in keywords.items():
                for word in keyword_words(catalogs, lang, msgid):
                    folded = fold_words(word)
                    if not folded or " " in folded:
                        continue
                    known_action, langs = table.setdefault(folded, (action, []))
                    if known_action == action and lang not in langs:
                        langs.append(lang)
        return {word: (action, tuple(langs)) for word, (action, langs) in table.items()}

    def match(self, text: str) -> Match | None:
        """Return the keyword an SMS starts with, or None."""
        return self._match(self._table, text)

    def match_staff(self, text: str) -> Match | None:
        """Return the focal points' keyword (RELAY) an SMS starts with, or None."""
        return self._match(self._staff, text)

    @staticmethod
    def _match(table: dict[str, tuple[str, tuple[str, ...]]], text: str) -> Match | None:
        stripped = text.strip()
        first, _, rest = stripped.partition(" ")
        if "\n" in first:
            first, _, more = first.partition("\n")
            rest = more + " " + rest
        found = table.get(fold_words(first))
        if found is None:
            return None
        action, langs = found
        rest = rest.strip()
        # "ALERTE !" is the keyword alone; words after it are what the sender wants to say.
        return Match(action=action, languages=langs, rest=rest if fold_words(rest) else "",
                     word=first)
