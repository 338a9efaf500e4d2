"""SMS providers behind one small interface, so another aggregator is one more module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from flask import Flask, current_app


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


def init_app(app: Flask, provider: SmsProvider | None = None) -> None:
    """Choose the SMS provider from the settings, unless one is given."""
    if provider is None:
        if app.config.get("AT_USERNAME") and app.config.get("AT_API_KEY"):
            from gateway.providers.africastalking import AfricasTalkingProvider

            provider = AfricasTalkingProvider(
                username=app.config["AT_USERNAME"],
                api_key=app.config["AT_API_KEY"],
                sender_id=app.config.get("AT_SENDER_ID"),
                api_url=app.config.get("AT_API_URL"),
            )
        else:
            provider = NoProvider()
    app.extensions["sms_provider"] = provider


def get_provider(app: Flask | None = None) -> SmsProvider:
    """Return the app's SMS provider."""
    return (app or current_app).extensions["sms_provider"]
