"""The card of SMS codes, in one language: what HELP answers, and what the desk may print.

It names the keywords and the numbers of the first question's options, then the questions that
follow in a one-SMS report: "ALERT 1=Recruited 2=Killed ... then place no., when, who, ...".
Built to fit one SMS segment where the language's script allows: the options' full labels if
they fit, else their first words, else without the follow-up line; in Arabic script (70
characters a segment) the shortest of these is sent, as one SMS of a few segments.
"""

from __future__ import annotations

from flows import Engine
from flows.engine import fold_words
from flows.gsm import sms_segments
from flows.i18n import N_, Catalogs
from gateway.channels.sms.codes import Coded, Walker, option_no
from gateway.conversation import first_word

CARD_FLOW = "alert"
MIN_SHORT = 3  # letters the short form of an option keeps at least ("Aid", not "A")

# TRANSLATORS: the SMS answering HELP: the card of codes for a report in one SMS. %(alert)s and
# %(status)s are the keywords in this language, %(options)s the first question's options
# ("1=Recruited 2=Killed ..."). Then, in the flow's order, the questions whose numbers follow.
# Very short: it must fit one SMS of 160 characters with the options.
CARD = N_(
    "%(alert)s %(options)s, then place no., when, who, age, girls, boys, danger now. "
    "Follow up: %(status)s and the number."
)
# TRANSLATORS: the same card when the longer one does not fit one SMS: without the follow-up.
CARD_SHORT = N_("%(alert)s %(options)s; place, when, who, age, girls, boys, danger")


def _short(label: str) -> str:
    """Return an option's first word of MIN_SHORT letters or more ("A threat" -> "threat")."""
    for word in label.split():
        word = word.strip(",.;:!?")
        if len(fold_words(word).replace(" ", "")) >= MIN_SHORT:
            return word
    return label


def help_card(engine: Engine, catalogs: Catalogs, lang: str) -> str:
    """Return the card of SMS codes in lang: keywords and the first question's numbers."""
    walker = Walker(engine, Coded(CARD_FLOW, lang))
    questions = walker.missing()
    first = questions[0][1] if questions else None
    labels = [(option_no(first, i), engine.translate(lang, option.label))
              for i, option in enumerate(first.options) if option.requires is None] if first else []
    alert = first_word(catalogs, lang, "ALERT")
    status = first_word(catalogs, lang, "STATUS")
    tried: list[str] = []
    for template in (CARD, CARD_SHORT):
        for shorten in (False, True):
            options = " ".join(f"{n}={_short(label) if shorten else label}" for n, label in labels)
            text = engine.translate(lang, template, alert=alert, status=status, options=options)
            if sms_segments(text) == 1:
                return text
            tried.append(text)
    return min(tried, key=lambda text: (sms_segments(text), len(text)))
