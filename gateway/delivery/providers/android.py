"""SMS Gateway for Android: sending through a phone's SIM with the official client.

The phone (capcom6/android-sms-gateway) serves the API itself on the local network
(`http://PHONE-IP:8080`, Basic auth) or through the app's cloud relay. A message carries an id
we choose, the outbox row's: the phone answers 409 to an id it already has, so a send retried
after a timeout (the phone may have taken it) never reaches the recipient twice.
"""

from __future__ import annotations

import hashlib
from typing import Any

import requests
from android_sms_gateway import client, domain
from android_sms_gateway.enums import ProcessState
from android_sms_gateway.errors import APIError
from android_sms_gateway.http import RequestsHttpClient

from gateway.delivery.providers.base import SendResult
from gateway.errors import PermanentSendError, TransientSendError

NAME = "android"
# (connect, read) seconds: the client sets none, and a phone gone off the network must not
# hold a worker; the id makes the retry that follows safe.
TIMEOUT = (5.0, 20.0)
ALREADY_ACCEPTED = 409  # an id the phone already has: the first send was taken
# Too many requests, or the phone's (or the relay's) own trouble: worth another try later.
TRANSIENT_HTTP = {408, 425, 429}
# A message's states, and what a recipient's state says about the send.
REFUSED_STATES = {ProcessState.Failed, ProcessState.Cancelled, ProcessState.Cancelling}
# The app keeps ids of at most 36 characters.
MAX_ID = 36


class _TimedSession(requests.Session):
    """A requests session whose every request has a timeout."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


def install_tag(secret: str) -> str:
    """Return 8 hex characters proper to this installation (from its secret key).

    The phone remembers message ids: a demo whose database was made afresh starts its outbox
    ids at 1 again, and the phone would answer "already accepted" to messages never sent.
    """
    return hashlib.sha256(f"smsgate-message-id:{secret}".encode()).hexdigest()[:8]


class AndroidProvider:
    """Send SMS through an Android phone with android_sms_gateway.APIClient."""

    name = NAME
    takes_reference = True  # send() is given the outbox row's id (providers.send_via)

    def __init__(
        self, username: str, password: str, base_url: str, tag: str = "",
        timeout: tuple[float, float] = TIMEOUT,
    ) -> None:
        self.username = username
        self.password = password
        self.base_url = base_url.rstrip("/")
        self.tag = tag
        self.timeout = timeout

    def message_id(self, reference: str) -> str:
        """Return the id the phone keeps for one outbox row ("outbox-12-1a2b3c4d")."""
        return f"{reference}-{self.tag}"[:MAX_ID] if self.tag else reference[:MAX_ID]

    def api(self) -> tuple[client.APIClient, requests.Session]:
        """Return a client (to use in a `with` block) and its session, which the caller closes."""
        session = _TimedSession(self.timeout)
        api = client.APIClient(
            self.username, self.password, base_url=self.base_url,
            http=RequestsHttpClient(session),
        )
        return api, session

    def send(self, to: str, message: str, reference: str | None = None) -> SendResult:
        """Hand one message for one recipient to the phone and read what it said."""
        message_id = self.message_id(reference) if reference else None
        outgoing = domain.Message(
            phone_numbers=[to],
            text_message=domain.TextMessage(text=message),
            id=message_id,
            with_delivery_report=True,
        )
        api, session = self.api()
        try:
            with api:
                state = api.send(outgoing)
        except APIError as exc:
            return _refused(exc, message_id)
        except requests.RequestException as exc:
            raise TransientSendError(f"network error: {type(exc).__name__}") from exc
        except (KeyError, ValueError, TypeError) as exc:
            # An answer we cannot read; with our id a second try is safe (409 if taken).
            raise TransientSendError(
                f"provider answered without a readable state: {type(exc).__name__}"
            ) from exc
        finally:
            session.close()
        return _read_state(state, message_id)


def _refused(exc: APIError, message_id: str | None) -> SendResult:
    """Read an HTTP error: 409 is success, 5xx and throttling transient, other 4xx permanent."""
    status = exc.status_code or 0
    if status == ALREADY_ACCEPTED and message_id:
        return SendResult(accepted=True, message_id=message_id, status_code=status,
                          status="already accepted")
    # Only the status: an error body may repeat the recipient.
    if status >= 500 or status in TRANSIENT_HTTP or status == 0:
        raise TransientSendError(f"provider error: HTTP {status}") from exc
    raise PermanentSendError(f"provider refused the message: HTTP {status}") from exc


def _read_state(state: domain.MessageState, message_id: str | None) -> SendResult:
    """Read the one recipient's state in the phone's answer."""
    recipient = state.recipients[0] if state.recipients else None
    current = recipient.state if recipient is not None else state.state
    if current in REFUSED_STATES:
        reason = (recipient.error if recipient is not None else None) or current.value
        return SendResult(accepted=False, message_id=message_id or state.id, status_code=202,
                          status=str(reason)[:200])
    return SendResult(accepted=True, message_id=message_id or state.id, status_code=202,
                      status=current.value)
