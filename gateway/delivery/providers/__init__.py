"""SMS providers behind one small interface, so another aggregator is one more module."""

from __future__ import annotations

from flask import Flask, current_app

from gateway.delivery.providers.africastalking import AfricasTalkingProvider
from gateway.delivery.providers.android import TIMEOUT, AndroidProvider, install_tag
from gateway.delivery.providers.base import NoProvider, SendResult, SmsProvider

__all__ = ["NoProvider", "SendResult", "SmsProvider", "get_provider", "init_app", "send_via"]


def chosen(config: dict | Flask) -> str | None:
    """Return the SMS provider's name: the one chosen, else the one whose credentials are set."""
    settings = config.config if isinstance(config, Flask) else config
    choice = settings.get("SMS_PROVIDER")
    if choice:
        return str(choice)
    # Settings given in code (tests, embedding) may set credentials without a choice.
    if settings.get("AT_USERNAME") and settings.get("AT_API_KEY"):
        return "africastalking"
    if settings.get("SMSGATE_USERNAME") and settings.get("SMSGATE_PASSWORD"):
        return "android"
    return None


def android_provider(app: Flask) -> AndroidProvider:
    """Build the Android phone provider from the app's settings."""
    return AndroidProvider(
        username=app.config["SMSGATE_USERNAME"],
        password=app.config["SMSGATE_PASSWORD"],
        base_url=app.config["SMSGATE_URL"],
        tag=install_tag(app.config["SECRET_KEY"]),
        # Not a documented setting: tests shorten it to prove a timed-out send is retried.
        timeout=tuple(app.config.get("SMSGATE_TIMEOUT") or TIMEOUT),  # type: ignore[arg-type]
    )


def init_app(app: Flask, provider: SmsProvider | None = None) -> None:
    """Choose the SMS provider from the settings, unless one is given."""
    if provider is None:
        name = chosen(app)
        if name == "africastalking":
            provider = AfricasTalkingProvider(
                username=app.config["AT_USERNAME"],
                api_key=app.config["AT_API_KEY"],
                sender_id=app.config.get("AT_SENDER_ID"),
                api_url=app.config.get("AT_API_URL"),
            )
        elif name == "android":
            provider = android_provider(app)
        else:
            provider = NoProvider()
    app.extensions["sms_provider"] = provider


def get_provider(app: Flask | None = None) -> SmsProvider:
    """Return the app's SMS provider."""
    return (app or current_app).extensions["sms_provider"]


def send_via(provider: SmsProvider, to: str, text: str, outbox_id: int) -> SendResult:
    """Send one SMS; a provider that keeps our ids (idempotent sends) is given the row's."""
    if getattr(provider, "takes_reference", False):
        return provider.send(to, text, reference=f"outbox-{outbox_id}")  # type: ignore[call-arg]
    return provider.send(to, text)
