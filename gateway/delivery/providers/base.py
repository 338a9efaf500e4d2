"""What every SMS provider is: send one message to one recipient, say what happened."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SendResult:
    """What the provider said about one recipient of one message."""

    accepted: bool
    message_id: str | None = None
    status_code: int | None = None
    status: str | None = None
    cost: str | None = None
    # True when nothing was handed to any provider (no credentials configured).
    not_sent: bool = False


class SmsProvider(Protocol):
    """Send one SMS to one recipient; raise TransientSendError when a retry may work."""

    name: str

    def send(self, to: str, message: str) -> SendResult: ...


class NoProvider:
    """Stands in when no credentials are configured: nothing leaves the machine."""

    name = "none"

    def send(self, to: str, message: str) -> SendResult:
        """Keep the message unsent."""
        return SendResult(accepted=False, status="not sent: no provider configured", not_sent=True)
