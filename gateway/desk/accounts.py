"""Desk users: created by an admin (`gateway users add`), logged in with argon2-hashed passwords.

A user has one role (a focal point's roles, or `admin`), the places they cover (p-codes; a place
covers everything below it), optionally the categories they see, and optionally the focal point
row that is the same person (`--focal-point PHONE`): then the desk and their SMS commands act as
one person. Without a password given, a one-time password is drawn, printed once, and must be
changed at first login. Five wrong passwords (or second-factor codes) in a row lock the account
for 15 minutes, the right password included; a disabled user's sessions end at once (the session
epoch is raised). The second factor is a TOTP code (RFC 6238, 30-second steps) from an
authenticator app; its secret is kept encrypted (the caller encrypts: this module needs no app).
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.errors import GatewayError
from gateway.privacy.numbers import e164
from gateway.storage.models import (
    CATEGORIES,
    DeskRole,
    FocalPoint,
    Location,
    RolePolicy,
    User,
    aware,
    utcnow,
)

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 12
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# The name an authenticator app shows above the code (an identifier: not translated).
TOTP_ISSUER = "Community alerts desk"
_HASHER = PasswordHasher()
# Verified when the e-mail address is unknown, so that a wrong address takes as long as a
# wrong password (nothing tells which addresses have accounts).
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


class AccountError(GatewayError):
    """A user cannot be created or changed as asked; the message says why."""


def normalise_email(value: str) -> str:
    """Return an e-mail address as stored: trimmed, lower-case; refuse what is not one."""
    email = value.strip().lower()
    if not EMAIL.fullmatch(email) or len(email) > 254:
        raise AccountError(f"not an e-mail address: {value.strip()!r}")
    return email


def hash_password(password: str) -> str:
    """Return the argon2 hash of a password."""
    return _HASHER.hash(password)


def check_new_password(password: str, email: str = "") -> None:
    """Refuse a password too short or that is the e-mail address."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if email and password.strip().lower() == email:
        raise AccountError("a password must not be the e-mail address")


def one_time_password() -> str:
    """Return a one-time password: 16 characters, easy to read aloud and type."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


def _places(session: Session, pcodes: Iterable[str]) -> list[Location]:
    wanted = [code.strip() for code in pcodes if code.strip()]
    if not wanted:
        raise AccountError("give at least one place (p-code); the country's covers everything")
    found = {loc.pcode: loc for loc in session.scalars(
        select(Location).where(Location.pcode.in_(wanted)))}
    unknown = [code for code in wanted if code not in found]
    if unknown:
        raise AccountError(f"unknown p-code(s): {', '.join(unknown)} (import the places first)")
    return [found[code] for code in dict.fromkeys(wanted)]


def _categories(codes: Iterable[str]) -> list[str]:
    chosen = [code.strip() for code in codes if code.strip()]
    unknown = [code for code in chosen if code not in CATEGORIES and code != "*"]
    if unknown:
        raise AccountError(f"unknown categor(ies): {', '.join(unknown)}; "
                           f"choose from {', '.join(CATEGORIES)}")
    return [] if "*" in chosen else list(dict.fromkeys(chosen))


def _focal_point(session: Session, phone: str, role: DeskRole) -> FocalPoint:
    number = e164(phone.strip())
    if number is None:
        raise AccountError(f"not a phone number in international form: {phone.strip()!r}")
    rows = list(session.scalars(select(FocalPoint).where(FocalPoint.phone == number)))
    if not rows:
        raise AccountError("no focal point has this phone number (import the roster first)")
    same_role = [fp for fp in rows if fp.role.value == role.value]
    return (same_role or rows)[0]


def create_user(
    session: Session,
    email: str,
    role: str,
    pcodes: Sequence[str],
    *,
    categories: Sequence[str] = (),
    focal_point_phone: str | None = None,
    password: str | None = None,
) -> tuple[User, str | None]:
    """Add a user (flushed, not committed); return it and the one-time password drawn, if any."""
    address = normalise_email(email)
    try:
        desk_role = DeskRole(role)
    except ValueError:
        raise AccountError(f"unknown role {role!r}; choose from "
                           f"{', '.join(r.value for r in DeskRole)}") from None
    if session.scalar(select(User.id).where(User.email == address)) is not None:
        raise AccountError(f"a user {address} exists already")
    places = _places(session, pcodes)
    chosen = _categories(categories)
    focal_point = (_focal_point(session, focal_point_phone, desk_role)
                   if focal_point_phone else None)
    drawn = None
    if password is None:
        password = drawn = one_time_password()
    else:
        check_new_password(password, address)
    user = User(email=address, password_hash=hash_password(password), role=desk_role,
                categories=chosen, focal_point=focal_point, locations=places,
                must_change_password=drawn is not None, active=True)
    session.add(user)
    session.flush()
    return user, drawn


def find_user(session: Session, email: str) -> User | None:
    """Return the user of an e-mail address, None when there is none."""
    try:
        address = normalise_email(email)
    except AccountError:
        return None
    return session.scalar(select(User).where(User.email == address))


def disable_user(session: Session, email: str) -> User:
    """Disable a user: they cannot log in, and every session of theirs ends now."""
    user = find_user(session, email)
    if user is None:
        raise AccountError(f"no user {email.strip()}")
    if user.active:
        user.active = False
        user.disabled_at = utcnow()
        user.session_epoch += 1
    return user


def list_users(session: Session) -> list[User]:
    """Return every user, by e-mail address."""
    return list(session.scalars(select(User).order_by(User.email)))


@dataclass(frozen=True)
class Login:
    """What a login attempt gave: the user when the password was right and the account open.

    `account` is the user the address names, even when refused (to audit the failure);
    `locked_now` says this failure locked the account; `needs_second_factor` says the password
    was right but the login is complete only with a TOTP code (or its set-up).
    """

    user: User | None
    locked_until: datetime | None = None
    account: User | None = None
    locked_now: bool = False
    needs_second_factor: bool = False


def is_locked(user: User, now: datetime | None = None) -> bool:
    """Tell whether the account refuses every password for now."""
    now = now or utcnow()
    return user.locked_until is not None and aware(user.locked_until) > now


def authenticate(session: Session, email: str, password: str,
                 now: datetime | None = None) -> Login:
    """Check a password; count a failure, and lock the account at the fifth in a row.

    The caller commits (failures are counted whatever the outcome) and shows one message for
    every refusal but a lock: a wrong address, a wrong password and a disabled user read alike.
    When a second factor is needed the failures are not reset here but by `logged_in` once the
    code is right: a known password does not buy endless guesses at the code.
    """
    now = now or utcnow()
    user = find_user(session, email)
    if user is None or not user.active:
        _verify(_DUMMY_HASH, password)
        return Login(None, account=user)
    if is_locked(user, now):
        return Login(None, locked_until=aware(user.locked_until),  # type: ignore[arg-type]
                     account=user)
    if not _verify(user.password_hash, password):
        locked = record_failure(user, now)
        return Login(None, locked_until=locked, account=user, locked_now=locked is not None)
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    if totp_required(session, user):
        return Login(user, account=user, needs_second_factor=True)
    logged_in(user, now)
    return Login(user, account=user)


def record_failure(user: User, now: datetime | None = None) -> datetime | None:
    """Count a wrong password or code; at the fifth in a row lock the account: until when."""
    now = now or utcnow()
    user.failed_logins = (user.failed_logins or 0) + 1
    if user.failed_logins >= MAX_FAILURES:
        user.failed_logins = 0
        user.locked_until = now + LOCKOUT
        return user.locked_until
    return None


def logged_in(user: User, now: datetime | None = None) -> None:
    """Mark a login complete: the failures in a row start again from zero."""
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now or utcnow()


def check_password(user: User, password: str) -> bool:
    """Tell whether the password is the user's (a change of password asks for it again)."""
    return _verify(user.password_hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def set_password(user: User, new: str) -> None:
    """Change a user's password: every other session of theirs ends."""
    check_new_password(new, user.email)
    if _verify(user.password_hash, new):
        raise AccountError("the new password must differ from the old one")
    user.password_hash = hash_password(new)
    user.must_change_password = False
    user.session_epoch += 1


def totp_required(session: Session, user: User) -> bool:
    """Tell whether the user must give a second factor: their role requires it, or they set one."""
    if user.totp_secret:
        return True
    policy = session.get(RolePolicy, user.role)
    return bool(policy and policy.totp_required)


def new_totp_secret() -> str:
    """Return a new TOTP secret (base32, 160 bits), to be shown once and kept encrypted."""
    return pyotp.random_base32()


def totp_uri(secret: str, email: str) -> str:
    """Return the otpauth:// URI an authenticator app reads (typed or pasted, no QR service)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=TOTP_ISSUER)


def grouped(secret: str, size: int = 4) -> str:
    """Return a secret in groups of four letters, easier to type into an app by hand."""
    return " ".join(secret[i:i + size] for i in range(0, len(secret), size))


def totp_step(secret: str, code: str, now: datetime | None = None) -> int | None:
    """Return the time-step a code belongs to (this one or either neighbour); None if wrong.

    The caller remembers the steps used, so that a code works once.
    """
    digits = "".join(code.split())
    if len(digits) != 6 or not digits.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    step = totp.timecode(now or utcnow())
    for candidate in (step, step - 1, step + 1):
        if hmac.compare_digest(totp.generate_otp(candidate), digits):
            return candidate
    return None
