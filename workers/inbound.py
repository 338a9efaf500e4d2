"""The job that reads one incoming SMS: a keyword, an answer in a conversation, or a report.

No SMS is thrown away: a message that is no keyword and no answer becomes a case "to triage",
read by a person. Replies are neutral and few: a question of the flow the sender started, the
answer they asked for, or at most once a day a short how-to-use notice; never a loop.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, current_app
from redis.lock import Lock
from sqlalchemy import select
from sqlalchemy.orm import Session

from flows import Engine, Screen, Submission
from flows.i18n import N_
from gateway import focal_commands
from gateway.cases import HEALTH_HINT, create_case, points_to_health, source_key
from gateway.conversation import get_catalogs, get_engine
from gateway.crypto import decrypt, encrypt
from gateway.db import session_scope
from gateway.follow_up import STATUS_TEXTS, erase_for, lookup_status, request_callback
from gateway.keywords import Keywords, Match
from gateway.models import Case, Channel, InboundMessage, InboundStatus, Reporter, utcnow
from gateway.redis import get_redis
from gateway.reporters import remember_language, remembered_language
from gateway.sms import SmsConversations
from workers.enqueue import (
    enqueue_inbound,
    enqueue_route,
    enqueue_send,
    inbound_job_id,
    live_jobs,
)

log = logging.getLogger(__name__)

ALERT_FLOW, STATUS_FLOW, MAIN_FLOW = "alert", "status", "main"
REPORT_FLOWS = (ALERT_FLOW, "complaint", "help")

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


def _keywords(app: Flask) -> Keywords:
    keywords = app.extensions.get("sms_keywords")
    if keywords is None:
        keywords = Keywords(get_catalogs(app), app.config["LANGUAGES"])
        app.extensions["sms_keywords"] = keywords
    return keywords


def _language(app: Flask, engine: Engine, pseudonym: str, match: Match | None) -> str:
    """The sender's language: their remembered one where the keyword allows, else the keyword's."""
    remembered = remembered_language(pseudonym)
    if remembered not in engine.languages:
        remembered = None
    offered = [lang for lang in (match.languages if match else ()) if lang in engine.languages]
    if remembered and (not offered or remembered in offered or offered[0] == "en"):
        return remembered
    return offered[0] if offered else engine.default_language


def _first_word(app: Flask, lang: str, msgid: str) -> str:
    return get_catalogs(app).gettext(lang, msgid).replace("|", ",").split(",")[0].strip()


class _Processor:
    """Reads one message in the context of its sender's open conversation."""

    def __init__(
        self, app: Flask, session: Session, message: InboundMessage, number: str = ""
    ) -> None:
        self.app = app
        self.session = session
        self.message = message
        self.pseudonym = message.pseudonym
        self.engine = get_engine(app)
        self.catalogs = get_catalogs(app)
        self.conversations = SmsConversations(app)
        self.to_route: list[tuple[int, bool]] = []
        self.case_id: int | None = None
        self.number = number
        self.to_send: list[int] = []  # reporters' SMS an acknowledgement queued

    def run(self, text: str) -> _Reply | None:
        # A focal point's phone (staff numbers are known): OK / INFO / DONE, never a report.
        command = focal_commands.handle(self.app, self.session, self.number, text)
        if command is not None:
            self.message.outcome = "focal_point"
            self.to_send.extend(command.outbox_ids)
            return _Reply(command.text, command.lang)
        match = _keywords(self.app).match(text)
        if match is not None:
            return self._keyword(match)
        state = self.conversations.load(self.pseudonym)
        if state is not None:
            return self._answer(state, text)
        return self._triage(text, self._lang(None), reply_notice=True)

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
            state, reference = lookup_status(self.session, self.pseudonym, match.rest, self.app)
            self.message.outcome = "status"
            text = self.catalogs.gettext(lang, STATUS_TEXTS[state], reference=reference)
            return _Reply(text, lang)
        if match.action == "alert" and match.rest:
            # A one-shot report: the words are kept (encrypted) for a person to read.
            return self._triage(match.rest, lang, reply_notice=False)
        if match.action == "language":
            return self._start(None, MAIN_FLOW)
        return self._start(lang, STATUS_FLOW if match.action == "status" else ALERT_FLOW)

    # Conversations ---------------------------------------------------------------------------

    def _start(self, lang: str | None, flow: str) -> _Reply:
        state, screen = self.engine.begin(lang, flow=flow, channel="sms")
        state["conversation"] = uuid.uuid4().hex
        self.message.outcome = f"start:{flow}"
        return self._after(state, screen, chosen=lang)

    def _answer(self, state: dict, text: str) -> _Reply:
        chosen = state.get("lang")
        state, screen = self.engine.advance(state, text, self._submit(state), words=True)
        self.message.outcome = "answer"
        return self._after(state, screen, chosen=chosen)

    def _after(self, state: dict, screen: Screen, chosen: str | None) -> _Reply:
        if state.get("lang") and state["lang"] != chosen:
            remember_language(self.pseudonym, state["lang"])
        lang = self.engine.language_of(state)
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
                found, reference = lookup_status(
                    self.session, self.pseudonym, submission.answers.get("reference") or "",
                    self.app,
                )
                text = self.catalogs.gettext(
                    submission.language, STATUS_TEXTS[found], reference=reference
                )
                return {"status": text}
            case = self._case(submission, source_key(Channel.SMS, conversation))
            self.case_id = case.id
            return {"reference": case.reference, **points_to_health(submission)}

        return submit

    # Cases -------------------------------------------------------------------------------------

    def _case(self, submission: Submission, key: str, *, triage: bool = False) -> Case:
        case, created = create_case(
            self.session, submission, pseudonym=self.pseudonym, channel=Channel.SMS, key=key
        )
        if created:
            details = submission.answers.get("details")
            if details:
                case.details = encrypt(details, self.app)
            if submission.answers.get("callback") == "yes" and self.number:
                # The one SMS they asked for when the case is followed up: number encrypted.
                request_callback(
                    self.session, case, pseudonym=self.pseudonym, number=self.number,
                    language=submission.language,
                )
            if triage:
                case.needs_triage = True
                reporter = self.session.get(Reporter, case.reporter_id)
                if case.location_id is None and reporter is not None:
                    case.location_id = reporter.last_location_id
            self.session.commit()
            self.message.case_id = case.id
            self.to_route.append((case.id, case.is_urgent))
        return case

    def _triage(self, text: str, lang: str, *, reply_notice: bool) -> _Reply | None:
        """Keep an SMS no flow understood as a case a person reads; answer at most once a day."""
        submission = Submission(
            flow=ALERT_FLOW, language=lang, answers={"category": "other", "details": text}
        )
        case = self._case(
            submission, source_key(Channel.SMS, f"inbound:{self.message.id}"), triage=True
        )
        self.message.outcome = "triage"
        if not reply_notice:
            sent = self.engine.flows[ALERT_FLOW].steps["sent"].text or ""
            thanks = self.engine.translate(lang, sent, reference=case.reference)
            return _Reply(thanks + "\n" + self.engine.translate(lang, DELETE_HINT), lang, case.id)
        if not self.conversations.first_notice_today(self.pseudonym):
            return None
        notice = self.catalogs.gettext(
            lang, NOTICE,
            alert=_first_word(self.app, lang, "ALERT"),
            status=_first_word(self.app, lang, "STATUS"),
        )
        return _Reply(notice, lang, case.id)


def process_inbound(message_id: int) -> None:
    """Read one incoming SMS and answer it; safe to run twice."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    lock = Lock(get_redis(app), f"sms:lock:{message_id}", timeout=60, blocking_timeout=30)
    with session_scope() as session:
        message = session.get(InboundMessage, message_id)
        if message is None or message.status != InboundStatus.RECEIVED:
            return
        # One sender's messages are read one at a time, in order: a conversation never forks.
        sender_lock = Lock(
            get_redis(app), f"sms:sender:{message.pseudonym[:40]}", timeout=60, blocking_timeout=30
        )
        with lock, sender_lock:
            session.refresh(message)
            if message.status != InboundStatus.RECEIVED:
                return
            text = decrypt(message.body or "", app)
            number = decrypt(message.reply_to or "", app)
            processor = _Processor(app, session, message, number)
            reply = processor.run(text)
            sends = _queue_reply(session, message, number, reply)
            # The words and the number are needed no longer: erase them with the outcome.
            message.body = message.reply_to = None
            message.status = InboundStatus.PROCESSED
            message.processed_at = utcnow()
            session.commit()
            routes = processor.to_route
            sends += processor.to_send
    for case_id, urgent in routes:
        enqueue_route(case_id, urgent, app)
    for outbox_id in sends:
        enqueue_send(outbox_id, False, app)


def _queue_reply(
    session: Session, message: InboundMessage, number: str, reply: _Reply | None
) -> list[int]:
    if reply is None or not reply.text or not number:
        return []
    from workers.outbox import queue_reporter_message

    row = queue_reporter_message(
        session,
        number=number,
        text=reply.text,
        language=reply.lang,
        purpose="reporter_reply",
        dedupe_key=f"reply-{message.id}",
        case_id=reply.case_id,
    )
    if row is None:
        return []
    row.pseudonym = message.pseudonym
    session.flush()
    return [row.id]


def sweep_inbound(app: Flask, older_than_seconds: int = 60) -> int:
    """Queue again the incoming SMS saved but never read (their job was lost)."""
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    with session_scope(app) as session:
        ids = session.scalars(
            select(InboundMessage.id)
            .where(
                InboundMessage.status == InboundStatus.RECEIVED,
                InboundMessage.received_at < cutoff,
            )
            .order_by(InboundMessage.id)
            .limit(500)
        ).all()
    live = live_jobs((inbound_job_id(message_id) for message_id in ids), app)
    return sum(
        1
        for message_id in ids
        if inbound_job_id(message_id) not in live and enqueue_inbound(message_id, app)
    )

