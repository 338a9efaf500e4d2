"""The tables: places, focal points, reporters (pseudonyms only), cases, events, outbox."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gateway.storage.db import Base

# Marks a column holding ciphertexts of storage.crypto.encrypt: `gateway keys rotate`
# re-encrypts every column so marked.
ENCRYPTED = {"encrypted": True}


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """Return moment with its time zone: SQLite gives stored UTC times back without one."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    """Store an enum by its value, as a checked string (portable across databases)."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Gender(enum.StrEnum):
    FEMALE = "F"
    MALE = "M"


class Role(enum.StrEnum):
    CHILD_PROTECTION = "child_protection"
    CONDUCT = "conduct"
    ASSISTANCE = "assistance"
    SERVICES = "services"
    COORDINATOR = "coordinator"
    TRIAGE = "triage"


class Level(enum.StrEnum):
    PRIMARY = "primary"
    BACKUP = "backup"


class CaseKind(enum.StrEnum):
    ALERT = "alert"
    COMPLAINT = "complaint"  # about the conduct of peacekeepers or aid workers
    HELP_REQUEST = "help_request"  # a child who left an armed group asks for help


class Channel(enum.StrEnum):
    USSD = "ussd"
    SMS = "sms"


class CaseStatus(enum.StrEnum):
    NEW = "new"  # committed, not yet routed
    ROUTED = "routed"  # outbox rows created for its recipients
    UNASSIGNED = "unassigned"  # routed, but nobody covers its place and category


class Perpetrator(enum.StrEnum):
    """Who an alert says did it: a kind of people, never a name (MRM perpetrator types)."""

    ARMED_GROUP = "armed_group"
    STATE_FORCES = "state_forces"  # army, police, gendarmes: they recruit too
    OTHER = "other"
    UNKNOWN = "unknown"


class AgeGroup(enum.StrEnum):
    """The youngest child's age in an alert: under 15 makes recruitment a war crime."""

    UNDER_15 = "under_15"
    AGED_15_17 = "15_17"
    UNKNOWN = "unknown"


class CaseEventKind(enum.StrEnum):
    """What happened to a case: every step is an event in its history."""

    CREATED = "created"
    PARTIAL = "partial"  # saved from a USSD session cut off midway
    COMPLETED = "completed"  # a partial case completed by the resumed session
    SPOOLED = "spooled"  # committed from the disk spool after the database came back
    ROUTED = "routed"
    FLAGGED_FLOOD = "flagged_flood"
    NO_WOMAN_AVAILABLE = "no_woman_available"
    NO_RECIPIENT = "no_recipient"
    SMS_SENT = "sms_sent"
    SMS_NOT_SENT = "sms_not_sent"
    SMS_FAILED = "sms_failed"
    SMS_INTERRUPTED = "sms_interrupted"
    ESCALATED = "escalated"
    ESCALATION_SKIPPED = "escalation_skipped"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"
    UNAUTHORISED_COMMAND = "unauthorised_command"
    LINKED = "linked"  # confirmed the same incident as another case (SAME): on both cases
    # Work on the desk (and its SMS equivalents): who did it is in the detail ("by").
    ASSIGNED = "assigned"
    NOTE_ADDED = "note_added"  # the note itself is a CaseNote, encrypted; never in the detail
    VERIFICATION_SET = "verification_set"
    REOPENED = "reopened"
    # Partners and handover (issue 16).
    PRIMERO_PUSHED = "primero_pushed"  # the MRM incident created or updated in Primero
    PRIMERO_REFUSED = "primero_refused"  # Primero refused it (422: the fields are in the detail)
    HANDED_OVER = "handed_over"  # moved to another organisation's focal points


class Verification(enum.StrEnum):
    """What a focal point found when they checked an alert (the MRM's verification)."""

    UNVERIFIED = "unverified"
    VERIFIED = "verified"
    NOT_VERIFIABLE = "not_verifiable"
    FALSE_REPORT = "false_report"


class Outcome(enum.StrEnum):
    """How a case was closed."""

    REFERRED = "referred"
    CHILD_SAFE = "child_safe"
    TASK_FORCE = "task_force"  # reported to the country task force on monitoring and reporting
    DUPLICATE = "duplicate"  # of the case in Case.duplicate_of_id
    OTHER = "other"


class DeskRole(enum.StrEnum):
    """A desk user's role: a focal point's roles, and `admin` (users, roster, outbox, audit)."""

    CHILD_PROTECTION = "child_protection"
    CONDUCT = "conduct"
    ASSISTANCE = "assistance"
    SERVICES = "services"
    COORDINATOR = "coordinator"
    TRIAGE = "triage"
    ADMIN = "admin"


class OutboxPurpose(enum.StrEnum):
    """Why a message is sent: the words it carries depend on it."""

    CASE_ALERT = "case_alert"  # a case, to the focal points it is routed to
    FLOOD_SUMMARY = "flood_summary"  # the hour's summary when one sender floods
    ESCALATION_1 = "escalation_1"  # nobody acknowledged: to the backups
    ESCALATION_2 = "escalation_2"  # still nobody: to the coordinator (complaints: level up)
    REPORTER_REPLY = "reporter_reply"  # the answer to a reporter's SMS
    REPORTER_ACK = "reporter_ack"  # the one neutral SMS a reporter asked for
    COMMAND_ALERT = "command_alert"  # unconfirmed commands on a case: to its area's coordinator
    CONTACT = "contact"  # a number the reporter agreed to be called on: assistance/services only
    DIGEST = "digest"  # the weekly summary of an area's cases, to its coordinator

    @classmethod
    def escalation(cls, stage: int) -> OutboxPurpose:
        """Return the purpose of an escalation stage's messages."""
        return cls(f"escalation_{stage}")

    @property
    def is_escalation(self) -> bool:
        """Tell whether the message escalates a case nobody acknowledged."""
        return self in (OutboxPurpose.ESCALATION_1, OutboxPurpose.ESCALATION_2)


class ServiceKind(enum.StrEnum):
    """What a service in the directory offers (the end screen names the nearest one)."""

    HEALTH = "health"
    GBV = "gbv"  # gender-based violence: care and support for survivors
    PSYCHOSOCIAL = "psychosocial"
    LEGAL = "legal"
    SHELTER = "shelter"
    REINTEGRATION = "reintegration"  # children and youth who left an armed group


class InboundStatus(enum.StrEnum):
    RECEIVED = "received"  # saved, waiting for its job
    PROCESSED = "processed"
    FAILED = "failed"


class OutboxStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    RETRYING = "retrying"
    SENT = "sent"  # accepted by the provider; delivery_status says what happened next
    FAILED = "failed"
    NOT_SENT = "not_sent"  # no provider configured


# The violation codes of Primero's MRM module, plus "other".
CATEGORIES = (
    "recruitment",
    "killing",
    "maiming",
    "sexual_violence",
    "abduction",
    "attack_on_schools",
    "attack_on_hospitals",
    "denial_humanitarian_access",
    "deprivation_liberty",
    "other",
    # Alert categories beyond Primero's codes: an attack whose target the caller did not know,
    # Primero's "military use" of a school or hospital, and an early warning before it happens.
    "attack_on_schools_or_hospitals",
    "military_use",
    "threat",
)
# A focal point whose coverage lists categories receives these too when they cover one of the
# codes named: coverage written before these categories existed keeps reaching someone.
COVERED_WITH = {
    "attack_on_schools_or_hospitals": frozenset({"attack_on_schools", "attack_on_hospitals"}),
    "military_use": frozenset({"attack_on_schools", "attack_on_hospitals"}),
    "threat": frozenset({"recruitment", "abduction"}),
}


class Location(Base):
    __tablename__ = "locations"

    id: Mapped[int] = mapped_column(primary_key=True)
    pcode: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # The place's own name in a language that has one ({"en": "Central African Republic"});
    # a language not in it reads `name`, so only names that really differ are stored.
    names: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, server_default="{}")
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("locations.id", ondelete="RESTRICT"), index=True
    )
    depth: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    parent: Mapped[Location | None] = relationship(remote_side=[id])

    def name_in(self, lang: str | None) -> str:
        """Return the place's name in lang, or its default name when lang has none."""
        return (self.names or {}).get(lang or "") or self.name


class FocalPoint(Base):
    __tablename__ = "focal_points"
    __table_args__ = (UniqueConstraint("phone", "role", name="uq_focal_points_phone_role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # A focal point's work phone: staff, not callers, so it is kept to send them alerts.
    phone: Mapped[str] = mapped_column(String(20))
    organisation: Mapped[str] = mapped_column(String(200), default="")
    gender: Mapped[Gender | None] = mapped_column(_enum(Gender, "gender"))
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)  # ["*"] for all
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    level: Mapped[Level] = mapped_column(_enum(Level, "level"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    locations: Mapped[list[Location]] = relationship(secondary="focal_point_locations")

    def covers_category(self, category: str) -> bool:
        """Tell whether this focal point receives cases of the category."""
        return ("*" in self.categories or category in self.categories
                or not COVERED_WITH.get(category, frozenset()).isdisjoint(self.categories))

    @property
    def language(self) -> str | None:
        """Return the language their SMS are written in."""
        return self.languages[0] if self.languages else None


class FocalPointLocation(Base):
    __tablename__ = "focal_point_locations"

    focal_point_id: Mapped[int] = mapped_column(
        ForeignKey("focal_points.id", ondelete="CASCADE"), primary_key=True
    )
    location_id: Mapped[int] = mapped_column(
        ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Reporter(Base):
    __tablename__ = "reporters"

    id: Mapped[int] = mapped_column(primary_key=True)
    # HMAC of the phone number with the server secret: never the number itself.
    pseudonym: Mapped[str] = mapped_column(String(64), unique=True)
    language: Mapped[str | None] = mapped_column(String(16))
    language_chosen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The place of their last report: where "no keyword" SMS of theirs are sent for triage.
    last_location_id: Mapped[int | None] = mapped_column(
        ForeignKey("locations.id", ondelete="SET NULL")
    )
    # Erased (with language_chosen_at) once older than GATEWAY_KEEP_REPORTER_LINK_DAYS, and
    # the whole row once they were not seen for that long (privacy/retention.py).
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(12), unique=True)
    # A digest of the channel's session id: the same USSD session can never make two cases.
    source_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    kind: Mapped[CaseKind] = mapped_column(_enum(CaseKind, "case_kind"))
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "channel"))
    status: Mapped[CaseStatus] = mapped_column(
        _enum(CaseStatus, "case_status"), default=CaseStatus.NEW, index=True
    )
    category: Mapped[str] = mapped_column(String(40))
    location_id: Mapped[int | None] = mapped_column(
        ForeignKey("locations.id", ondelete="RESTRICT"), index=True
    )
    children: Mapped[str] = mapped_column(String(16), default="unknown")
    sex: Mapped[str] = mapped_column(String(16), default="unknown")
    # A child in danger right now: True, False, or None when the reporter did not know.
    urgent: Mapped[bool | None] = mapped_column(Boolean)
    # An alert's answers a focal point acts on and the MRM verifies (NULL on cases made before
    # they were asked, and on complaints and help requests). The incident date range is worked
    # out at submit time from "when" (UTC dates; both NULL when not known, from NULL: earlier).
    incident_from: Mapped[date | None] = mapped_column(Date)
    incident_to: Mapped[date | None] = mapped_column(Date)
    perpetrator: Mapped[Perpetrator | None] = mapped_column(_enum(Perpetrator, "perpetrator"))
    age_group: Mapped[AgeGroup | None] = mapped_column(_enum(AgeGroup, "age_group"))
    # Counts as the caller chose them: "0", "1", "2-3", "4-9", "10+" or "unknown" (Primero
    # tallies girls, boys, unknown). `children` and `sex` are derived from them for routing.
    girls: Mapped[str | None] = mapped_column(String(8))
    boys: Mapped[str | None] = mapped_column(String(8))
    language: Mapped[str] = mapped_column(String(16))
    reporter_id: Mapped[int | None] = mapped_column(
        ForeignKey("reporters.id", ondelete="SET NULL"), index=True
    )
    # A focal point who reported for someone else (RELAY): staff, not the reporter, so such a
    # case has no reporter link, no follow-up SMS and no number kept (channels/relay.py).
    relayed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("focal_points.id", ondelete="SET NULL")
    )
    # An SMS that matched no flow, or a one-shot "ALERT <text>": a person reads it and decides.
    needs_triage: Mapped[bool] = mapped_column(Boolean, default=False)
    # Saved from a USSD session cut off after the category and place were given.
    partial: Mapped[bool] = mapped_column(Boolean, default=False)
    # Free text written by the reporter (SMS), encrypted (storage.crypto); never in clear.
    details: Mapped[str | None] = mapped_column(Text, info=ENCRYPTED)
    # The reporter asked for one SMS when the case is followed up (number in Callback).
    callback_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # Answers of complaints and help requests: codes chosen from menus only, never free text.
    answers: Mapped[dict[str, str] | None] = mapped_column(JSON)
    # The last escalation stage that ran (cases/escalation.py); claimed atomically, so once.
    escalation_stage: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    routed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The desk's work on it (gateway/cases/actions.py): checked, given to someone, closed how.
    verification: Mapped[Verification] = mapped_column(
        _enum(Verification, "verification"), default=Verification.UNVERIFIED,
        server_default=Verification.UNVERIFIED.value,
    )
    outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome, "outcome"))
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="SET NULL")
    )
    assigned_focal_point_id: Mapped[int | None] = mapped_column(
        ForeignKey("focal_points.id", ondelete="SET NULL")
    )
    assigned_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    location: Mapped[Location | None] = relationship()
    relayed_by: Mapped[FocalPoint | None] = relationship(foreign_keys=[relayed_by_id])
    assigned_focal_point: Mapped[FocalPoint | None] = relationship(
        foreign_keys=[assigned_focal_point_id]
    )
    assigned_user: Mapped[User | None] = relationship(foreign_keys=[assigned_user_id])
    duplicate_of: Mapped[Case | None] = relationship(remote_side=[id])
    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", order_by="CaseEvent.id", cascade="all, delete-orphan"
    )

    @property
    def is_urgent(self) -> bool:
        """Tell whether a child is said to be in danger right now."""
        return self.urgent is True

    @property
    def follow_up(self) -> str:
        """Return the only state a reporter may learn: received, followed_up or closed."""
        if self.closed_at is not None:
            return "closed"
        return "followed_up" if self.acknowledged_at is not None else "received"


class CaseEvent(Base):
    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[CaseEventKind] = mapped_column(_enum(CaseEventKind, "case_event_kind"))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    case: Mapped[Case] = relationship(back_populates="events")


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        UniqueConstraint(
            "case_id", "focal_point_id", "purpose", name="uq_outbox_messages_case_recipient"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), index=True
    )
    # The recipient: a focal point, or a reporter whose number is kept encrypted in `recipient`
    # only until the message is final, then erased.
    focal_point_id: Mapped[int | None] = mapped_column(
        ForeignKey("focal_points.id", ondelete="CASCADE"), index=True
    )
    recipient: Mapped[str | None] = mapped_column(Text, info=ENCRYPTED)
    # The reporter's pseudonym, so that STOP finds and erases what is pending for them.
    pseudonym: Mapped[str | None] = mapped_column(String(64), index=True)
    # A reporter's message is written when queued (neutral words), kept encrypted until final.
    body: Mapped[str | None] = mapped_column(Text, info=ENCRYPTED)
    # Makes a reporter's message unique (no focal point to key it): at most one per key.
    dedupe_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    purpose: Mapped[OutboxPurpose] = mapped_column(
        _enum(OutboxPurpose, "outbox_purpose"), default=OutboxPurpose.CASE_ALERT
    )
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[OutboxStatus] = mapped_column(
        _enum(OutboxStatus, "outbox_status"), default=OutboxStatus.QUEUED, index=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str | None] = mapped_column(String(32))
    provider_message_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    provider_status_code: Mapped[int | None] = mapped_column(Integer)
    delivery_status: Mapped[str | None] = mapped_column(String(32))
    failure_reason: Mapped[str | None] = mapped_column(String(100))
    segments: Mapped[int | None] = mapped_column(Integer)
    cost: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    case: Mapped[Case | None] = relationship()
    focal_point: Mapped[FocalPoint | None] = relationship()


class InboundMessage(Base):
    """An SMS received, saved before the provider gets its answer; processed by a job."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    # A digest of the provider's message id: a repeated callback finds the same row.
    provider_key: Mapped[str] = mapped_column(String(64), unique=True)
    pseudonym: Mapped[str] = mapped_column(String(64), index=True)
    # The text and the number to answer, encrypted; both erased once no longer needed.
    body: Mapped[str | None] = mapped_column(Text, info=ENCRYPTED)
    reply_to: Mapped[str | None] = mapped_column(Text, info=ENCRYPTED)
    network_code: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[InboundStatus] = mapped_column(
        _enum(InboundStatus, "inbound_status"), default=InboundStatus.RECEIVED, index=True
    )
    outcome: Mapped[str | None] = mapped_column(String(32))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    # Runs of its job begun (counted before reading): one failing every time is given up.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Callback(Base):
    """A reporter's request for one SMS when their case is followed up: number kept encrypted."""

    __tablename__ = "callbacks"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), unique=True)
    pseudonym: Mapped[str] = mapped_column(String(64), index=True)
    number: Mapped[str | None] = mapped_column(Text, info=ENCRYPTED)  # None once erased
    language: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ContactConsent(Base):
    """A reporter's yes to a call from a support service: the number, encrypted, and when.

    Given only to the `assistance` (complaints) or `services` (help requests) focal points the
    case is routed to; erased when the case closes or after 30 days, whichever comes first.
    """

    __tablename__ = "contact_consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), unique=True)
    # So that STOP finds the number; erased with the row past the link period.
    pseudonym: Mapped[str] = mapped_column(String(64), index=True)
    number: Mapped[str | None] = mapped_column(Text, info=ENCRYPTED)  # None once erased
    safe_time: Mapped[str] = mapped_column(String(16))  # morning, afternoon or evening
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Service(Base):
    """A service of the directory: an organisation's public number, not a reporter's (plain)."""

    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("name", "kind", name="uq_services_name_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[ServiceKind] = mapped_column(_enum(ServiceKind, "service_kind"))
    phone: Mapped[str] = mapped_column(String(20))
    hours: Mapped[str] = mapped_column(String(100), default="")
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    locations: Mapped[list[Location]] = relationship(secondary="service_locations")


class ServiceLocation(Base):
    __tablename__ = "service_locations"

    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), primary_key=True
    )
    location_id: Mapped[int] = mapped_column(
        ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class LinkKind(enum.StrEnum):
    POSSIBLE = "possible"  # same category, same place, within 48 hours: found at routing
    CONFIRMED = "confirmed"  # a focal point who received both said so (SAME)


class CaseLink(Base):
    """A later case that may be (or is) a report of the same incident as an earlier one."""

    __tablename__ = "case_links"
    __table_args__ = (
        UniqueConstraint("case_id", "other_case_id", name="uq_case_links_case_id_other_case_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The later case, the possible duplicate...
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    # ...of this earlier one.
    other_case_id: Mapped[int] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[LinkKind] = mapped_column(_enum(LinkKind, "link_kind"), default=LinkKind.POSSIBLE)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Who confirmed it: a focal point's id, never a number.
    confirmed_by: Mapped[int | None] = mapped_column(
        ForeignKey("focal_points.id", ondelete="SET NULL")
    )
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class User(Base):
    """A person who works cases on the desk: staff, named by an e-mail address."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-case
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2
    role: Mapped[DeskRole] = mapped_column(_enum(DeskRole, "desk_role"))
    # The categories they see; empty: every category of their role.
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The focal point row that is the same person: desk and SMS commands are one person's.
    focal_point_id: Mapped[int | None] = mapped_column(
        ForeignKey("focal_points.id", ondelete="SET NULL")
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A one-time password printed by `gateway users add` must be changed at first login.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    # Lockout: failures in a row, and until when the account refuses every password.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The TOTP second factor's secret, encrypted; None until they set it up.
    totp_secret: Mapped[str | None] = mapped_column(Text, info=ENCRYPTED)
    # Raised on logout, password change and disable: every older session cookie stops working.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    language: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    locations: Mapped[list[Location]] = relationship(secondary="user_locations")
    focal_point: Mapped[FocalPoint | None] = relationship()


class UserLocation(Base):
    __tablename__ = "user_locations"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    location_id: Mapped[int] = mapped_column(
        ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class RolePolicy(Base):
    """What an admin requires of a desk role: a second factor (TOTP) at login."""

    __tablename__ = "role_policies"

    role: Mapped[DeskRole] = mapped_column(_enum(DeskRole, "desk_role"), primary_key=True)
    totp_required: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CaseNote(Base):
    """A note a desk user wrote on a case: encrypted at rest like the reporter's free text."""

    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text, info=ENCRYPTED)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped[User | None] = relationship()


class AuditEntry(Base):
    """One view of a case page or one action on the desk: who, when, which case, what.

    Append-only from the application (gateway/desk/audit.py refuses to flush a change or a
    delete of one). The case is named by id and reference without a foreign key, so that
    retention deleting a case never touches its audit trail.
    """

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    user_email: Mapped[str] = mapped_column(String(254))
    case_id: Mapped[int | None] = mapped_column(Integer, index=True)
    case_reference: Mapped[str | None] = mapped_column(String(12))
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PushStatus(enum.StrEnum):
    """Where a case's push to Primero (the MRM's information system) stands."""

    PENDING = "pending"  # queued, or waiting to be retried (5xx, 503 Retry-After)
    PUSHED = "pushed"  # created (204) or already there and updated (409 then PATCH)
    REFUSED = "refused"  # 422: Primero named the fields it refused (in `errors`)
    STOPPED = "stopped"  # 401/403: the credentials or permissions are wrong; an admin must act
    FAILED = "failed"  # retries ran out


class PrimeroPush(Base):
    """A verified alert sent to Primero as an MRM incident: one row per case, idempotent.

    `incident_id` is the client-chosen id of the incident (a lowercase UUID, drawn once): the same
    id again is answered 409 by Primero, which the push reads as "already there".
    """

    __tablename__ = "primero_pushes"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), unique=True
    )
    incident_id: Mapped[str] = mapped_column(String(36), unique=True)
    status: Mapped[PushStatus] = mapped_column(
        _enum(PushStatus, "push_status"), default=PushStatus.PENDING, index=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    status_code: Mapped[int | None] = mapped_column(Integer)
    # 422's errors[].detail (field names), or the last failure in words: never case content.
    errors: Mapped[list[str]] = mapped_column(JSON, default=list)
    requested_by: Mapped[str] = mapped_column(String(254), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    pushed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    case: Mapped[Case] = relationship()
