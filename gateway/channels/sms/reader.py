"""Reading one incoming SMS: a focal point's command, a keyword, an answer, or a report.

No SMS is thrown away: a message that is no keyword and no answer becomes a case "to triage",
read by a person. Replies are neutral and few: a question of the flow the sender started, the
answer they asked for, or at most once a day a short how-to-use notice; never a loop. A sender
(maybe a spoofed number: a third party's phone) past SMS_PER_SENDER messages in its window gets
no reply at all; their messages are still read, and any report kept and routed.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

from flask import Flask
from sqlalchemy.orm import Session

from flows import Engine, Screen, Submission
from flows.i18n import N_
from flows.messages import HINT
from gateway.cases import focal_commands
from gateway.cases.follow_up import erase_for
from gateway.cases.intake import HEALTH_HINT, source_key
from gateway.cases.outbox import queue_reporter_message
from gateway.channels.relay import FOCAL_POINT, RELAY_FLOW, file_relay, is_relay, relayer
from gateway.channels.reporters import remember_language, remembered_language
from gateway.channels.sms import batches, codes
from gateway.channels.sms.card import help_card
from gateway.channels.sms.conversations import SmsConversations
from gateway.channels.sms.keywords import Keywords, Match
from gateway.channels.submit import STATUS_FLOW, Filed, answer_status, file_report, status_text
from gateway.conversation import first_word, get_catalogs, get_engine
from gateway.privacy.limits import count_refusal, hit, within
from gateway.privacy.numbers import e164
from gateway.storage.models import Channel, FocalPoint, InboundMessage, OutboxPurpose

log = logging.getLogger(__name__)

ALERT_FLOW, MAIN_FLOW = "alert", "main"
SENDER_LIMIT = "sms_sender"  # the per-sender counter (privacy/limits.py) of SMS_PER_SENDER
REPORT_FLOWS = (ALERT_FLOW, "complaint", "help")
MAX_FED = 100  # engine steps a one-SMS report may walk: a loop in a flow is a bug, not a hang

# TRANSLATORS: the last SMS of a report by SMS, after the reference: protects the reporter if
# someone reads their phone.
DELETE_HINT = N_("You can now delete these messages from your phone.")
# TRANSLATORS: the one reply, at most once a day, to an SMS the gateway did not understand.
# %(alert)s and %(status)s are the keywords in this language. Neutral: no topic word beyond them.
NOTICE = N_(
    "Message received. To report, send %(alert)s. To follow up, send %(status)s and the number. "
    "Do not write any names."
)


@dataclass
class _Reply:
    text: str
    lang: str
    case_id: int | None = None


@dataclass
class Outcome:
    """What reading one SMS did: the reply's outbox row, cases to route, other SMS to send."""

    reply_ids: list[int] = field(default_factory=list)
    filed: list[Filed] = field(default_factory=list)
    # Other SMS a command queued: the reporter's after an acknowledgement, a lead's warning.
    to_send: list[int] = field(default_factory=list)


def init_app(app: Flask) -> None:
    """Build the keyword table of the offered languages once (after the catalogs)."""
    app.extensions["sms_keywords"] = Keywords(get_catalogs(app), app.config["LANGUAGES"])


def _keywords(app: Flask) -> Keywords:
    return app.extensions["sms_keywords"]


def _language(app: Flask, engine: Engine, pseudonym: str, match: Match | None) -> str:
    """The sender's language: their remembered one where the keyword allows, else the keyword's."""
    remembered = remembered_language(pseudonym)
    if remembered not in engine.languages:
        remembered = None
    offered = [lang for lang in (match.languages if match else ()) if lang in engine.languages]
    if remembered and (not offered or remembered in offered or offered[0] == "en"):
        return remembered
    return offered[0] if offered else engine.default_language


class _Processor:
    """Reads one message in the context of its sender's open conversation."""

    def __init__(
        self, app: Flask, session: Session, message: InboundMessage, number: str = "",
        *, may_reply: bool = True, staff: list[FocalPoint] | None = None,
    ) -> None:
        self.app = app
        self.session = session
        self.message = message
        self.pseudonym = message.pseudonym
        self.engine = get_engine(app)
        self.catalogs = get_catalogs(app)
        self.conversations = SmsConversations(app)
        self.outcome = Outcome()
        self.case_id: int | None = None
        self.number = number
        self.may_reply = may_reply
        self.staff = staff or []  # the sender's focal point rows: a staff phone

    def run(self, text: str) -> _Reply | None:
        if self.staff:
            relayed = self._relay(text)
            if relayed is not None:
                return relayed
        # A focal point's phone (staff numbers are known): OK / INFO / DONE / CONDUCT, never a
        # report; a command from anyone else gets the same neutral answer as a refused one.
        command = focal_commands.handle(self.app, self.session, self.number, text, self.staff)
        if command is not None:
            self.message.outcome = "focal_point"
            self.outcome.to_send.extend(command.outbox_ids)
            # A case moved to conduct (CONDUCT) is routed again, like a new one.
            self.outcome.filed.extend(Filed(case_id, reference, urgent, created=True)
                                      for case_id, reference, urgent in command.route)
            return _Reply(command.text, command.lang)
        match = _keywords(self.app).match(text)
        if match is not None:
            return self._keyword(match)
        state = self.conversations.load(self.pseudonym)
        if state is not None:
            return self._answer(state, text)
        return self._triage(text, self._lang(None), reply_notice=True)

    # Relay ---------------------------------------------------------------------------------------

    def _relay(self, text: str) -> _Reply | None:
        """RELAY, or an answer in a relay, from a focal point who may relay; else None.

        Their commands come first; a conduct focal point's RELAY gets the commands' usage reply.
        """
        if relayer(self.staff) is None or focal_commands.parse(self.app, text) is not None:
            return None
        match = _keywords(self.app).match_staff(text)
        if match is not None and match.action == "relay":
            # Their own language (the one their alerts come in), else the keyword's.
            known = [fp.language for fp in self.staff if fp.language in self.engine.languages]
            lang = known[0] if known else self._lang(match)
            return self._start(lang, RELAY_FLOW, flags=(FOCAL_POINT,))
        state = self.conversations.load(self.pseudonym)
        if state is not None and FOCAL_POINT in state.get("flags", ()):
            return self._answer(state, text)
        return None

    def _lang(self, match: Match | None) -> str:
        return _language(self.app, self.engine, self.pseudonym, match)

    # Keywords --------------------------------------------------------------------------------

    def _keyword(self, match: Match) -> _Reply | None:
        lang = self._lang(match)
        if match.action == "stop":
            erased = erase_for(self.session, self.pseudonym)
            self.conversations.close(self.pseudonym)
            self.message.outcome = "stop"
            log.info("STOP: %s stored numbers or pending messages erased", erased)
            return None  # nothing more is sent to them, not even a confirmation
        if match.action == "status" and match.rest:
            self.message.outcome = "status"
            text = status_text(self.app, self.session, self.pseudonym, match.rest, lang)
            return _Reply(text, lang)
        if match.action == "alert" and match.rest:
            coded = self._understand(match, lang)
            if coded is not None:
                try:
                    return self._coded(coded, inbound=True)
                except codes.NotUnderstood as exc:
                    log.error("one-SMS report not walked: %s", exc)
            # A one-shot report: the words are kept (encrypted) for a person to read.
            return self._triage(match.rest, lang, reply_notice=False)
        if match.action == "help":
            if match.rest:  # "HELP they took my brother": words a person must read
                return self._triage(f"{match.word} {match.rest}", lang, reply_notice=True)
            self.message.outcome = "help"
            return _Reply(help_card(self.engine, self.catalogs, lang), lang)
        if match.action == "language":
            return self._start(None, MAIN_FLOW)
        return self._start(lang, STATUS_FLOW if match.action == "status" else ALERT_FLOW)

    # Conversations ---------------------------------------------------------------------------

    def _start(self, lang: str | None, flow: str, flags: tuple[str, ...] = ()) -> _Reply:
        state, screen = self.engine.begin(lang, flow=flow, channel="sms", flags=flags)
        state["conversation"] = uuid.uuid4().hex
        self.message.outcome = f"start:{flow}"
        return self._after(state, screen, chosen=lang)

    def _answer(self, state: dict, text: str) -> _Reply:
        if codes.CODED in state:
            return self._coded_answer(state, text)
        chosen = state.get("lang")
        submit = self._submit(state)
        # The questions of the last reply answered in order ("1 3 2"), else one answer.
        answered = batches.answer_all(self.engine, state, text, submit)
        before = state
        state, screen = answered or self.engine.advance(state, text, submit, words=True)
        self.message.outcome = "answer"
        refused = not screen.end and not batches.moved(before, state)
        return self._after(state, screen, chosen=chosen, hint=refused)

    def _after(self, state: dict, screen: Screen, chosen: str | None,
               *, hint: bool = False) -> _Reply:
        if state.get("lang") and state["lang"] != chosen:
            remember_language(self.pseudonym, state["lang"])
        lang = self.engine.language_of(state)
        state.pop(batches.BATCH, None)
        if not screen.end and not hint:
            packed = batches.compact(self.engine, state)
            if packed is not None:
                screen = Screen(text=packed[0], end=False)
                state[batches.BATCH] = packed[1]
        if screen.end:
            self.conversations.close(self.pseudonym)
            text = screen.text
            params = state.get("params", {})
            if params.get("health"):
                text += "\n" + self.engine.translate(lang, HEALTH_HINT)
            if state.get("flow") in REPORT_FLOWS and params.get("reference"):
                text += "\n" + self.engine.translate(lang, DELETE_HINT)
            return _Reply(text, lang, self.case_id)
        self.conversations.save(self.pseudonym, state)
        return _Reply(screen.text, lang)

    def _submit(self, state: dict):  # noqa: ANN202 - the engine's Submit callable
        conversation = state.get("conversation") or uuid.uuid4().hex

        def submit(submission: Submission) -> dict[str, str]:
            if submission.flow == STATUS_FLOW:
                return answer_status(self.app, self.session, self.pseudonym, submission)
            filed = self._file(submission, source_key(Channel.SMS, conversation))
            return filed.answer(submission)

        return submit

    # One-SMS reports ---------------------------------------------------------------------------

    def _understand(self, match: Match, lang: str) -> codes.Coded | None:
        """Read the words after ALERT as a one-SMS report, or None (a report to triage)."""
        # The sender's language first, then the keyword's other languages, then any.
        order = [lang, *match.languages, *self.engine.languages]
        languages = [code for i, code in enumerate(order)
                     if code in self.engine.languages and code not in order[:i]]
        try:
            coded = codes.understand(self.engine, codes.Coded(ALERT_FLOW, lang), match.rest,
                                     languages)
        except codes.NotUnderstood:
            return None
        if coded.lang != lang and coded.lang not in match.languages:
            coded.lang = lang  # English words after ALERTE: answered in the sender's language
        return coded

    def _coded(self, coded: codes.Coded, *, inbound: bool, conversation: str = "",
               hint: str = "") -> _Reply:
        """Send a one-SMS report when nothing is missing; else ask what is, in one SMS."""
        if coded.lang != self._lang(None):
            remember_language(self.pseudonym, coded.lang)
        conversation = conversation or f"coded-{self.message.id}"
        if codes.Walker(self.engine, coded).missing():
            self.message.outcome = "coded:missing"
            self.conversations.save(
                self.pseudonym, {codes.CODED: coded.dump(), "conversation": conversation}
            )
            return _Reply(codes.missing_text(self.engine, coded, hint=hint), coded.lang)
        state, screen = self.engine.begin(coded.lang, flow=coded.flow, channel="sms")
        state["conversation"] = conversation
        submit = self._submit(state)
        for _ in range(MAX_FED):
            if state.get("done"):
                break
            text, words = codes.engine_input(self.engine, coded, state)
            after, screen = self.engine.advance(state, text, submit, words=words)
            if not batches.moved(state, after):
                raise codes.NotUnderstood(f"the engine refused the answer at {state['step']}")
            state = after
        self.message.outcome = "coded" if inbound else "coded:answer"
        return self._after(state, screen, chosen=coded.lang)

    def _coded_answer(self, state: dict, text: str) -> _Reply:
        """Read the answer to the missing questions of a one-SMS report."""
        coded = codes.Coded.load(state[codes.CODED])
        conversation = str(state.get("conversation") or "")
        order = [coded.lang, *self.engine.languages]
        languages = [code for i, code in enumerate(order) if code not in order[:i]]
        try:
            filled = codes.understand(self.engine, coded, text, languages)
        except codes.NotUnderstood:
            hint = self.engine.translate(coded.lang, HINT)
            return self._coded(coded, inbound=False, conversation=conversation, hint=hint)
        filled.lang = coded.lang  # the language the questions were asked in
        try:
            return self._coded(filled, inbound=False, conversation=conversation)
        except codes.NotUnderstood as exc:
            log.error("one-SMS report not walked: %s", exc)
            self.conversations.close(self.pseudonym)
            return self._triage(text, coded.lang, reply_notice=False)

    # Cases -------------------------------------------------------------------------------------

    def _file(self, submission: Submission, key: str, *, triage: bool = False) -> Filed:
        by = relayer(self.staff) if not triage and is_relay(submission) else None
        if by is not None:
            # A focal point reporting for someone else: no reporter, no number kept.
            filed = file_relay(self.app, self.session, submission, by=by, channel=Channel.SMS,
                               key=key)
        else:
            filed = file_report(self.app, self.session, submission, pseudonym=self.pseudonym,
                                channel=Channel.SMS, key=key, number=self.number,
                                triage=triage)
        self.case_id = self.message.case_id = filed.case_id
        if filed.created:
            log.info("case %s created from SMS", filed.case_id)
            self.outcome.filed.append(filed)
        return filed

    def _triage(self, text: str, lang: str, *, reply_notice: bool) -> _Reply | None:
        """Keep an SMS no flow understood as a case a person reads; answer at most once a day."""
        submission = Submission(
            flow=ALERT_FLOW, language=lang, answers={"category": "other", "details": text}
        )
        case = self._file(
            submission, source_key(Channel.SMS, f"inbound:{self.message.id}"), triage=True
        )
        self.message.outcome = "triage"
        if not reply_notice:
            sent = self.engine.flows[ALERT_FLOW].steps["sent"].text or ""
            thanks = self.engine.translate(lang, sent, reference=case.reference, service="")
            text = thanks + "\n" + self.engine.translate(lang, DELETE_HINT)
            return _Reply(text, lang, case.case_id)
        # Over the sender's limit no reply goes: the day's one notice is kept for later.
        if not self.may_reply or not self.conversations.first_notice_today(self.pseudonym):
            return None
        notice = self.catalogs.gettext(
            lang, NOTICE,
            alert=first_word(self.catalogs, lang, "ALERT"),
            status=first_word(self.catalogs, lang, "STATUS"),
        )
        return _Reply(notice, lang, case.case_id)


def read(app: Flask, session: Session, message: InboundMessage, text: str,
         number: str) -> Outcome:
    """Read one SMS, queue its reply in the outbox; the caller commits, then sends and routes."""
    # Every message counts, answered or not, so a flood or a spoofed sender costs at most the
    # limit's replies. What a message does (a report, an acknowledgement) is never held back.
    # A run again after a failure was counted by its first run: it only reads the counter.
    limit = app.config["SMS_PER_SENDER"]
    # Saved in E.164 form at the door; one saved before that is put in it here (or not answered).
    number = e164(number) or ""
    staff = focal_commands.senders(session, number) if number else []
    if staff:
        # A focal point's phone: a busy day's commands and their confirmation codes must get
        # through; their commands have a limit of their own (cases/focal_commands.py).
        may_reply = True
    elif message.attempts <= 1:
        may_reply = hit(SENDER_LIMIT, message.pseudonym, limit, app)
    else:
        may_reply = within(SENDER_LIMIT, message.pseudonym, limit, app)
    processor = _Processor(app, session, message, number, may_reply=may_reply, staff=staff)
    reply = processor.run(text)
    if not may_reply:
        if reply is not None:
            count_refusal("sms_sender", app)
            log.warning("SMS sender over the per-sender limit: message read, no reply")
        reply = None
    processor.outcome.reply_ids = _queue_reply(app, session, message, number, reply)
    return processor.outcome


def _queue_reply(
    app: Flask, session: Session, message: InboundMessage, number: str, reply: _Reply | None
) -> list[int]:
    if reply is None or not reply.text or not number:
        return []
    row = queue_reporter_message(
        app,
        session,
        number=number,
        text=reply.text,
        language=reply.lang,
        purpose=OutboxPurpose.REPORTER_REPLY,
        dedupe_key=f"reply-{message.id}",
        case_id=reply.case_id,
    )
    if row is None:
        return []
    row.pseudonym = message.pseudonym
    session.flush()
    return [row.id]
