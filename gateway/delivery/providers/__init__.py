"""SMS providers behind one small interface, so another aggregator is one more module."""

from __future__ import annotations

from flask import Flask, current_app

from gateway.delivery.providers.africastalking import AfricasTalkingProvider
from gateway.delivery.providers.base import NoProvider, SendResult, SmsProvider

__all__ = ["NoProvider", "SendResult", "SmsProvider", "get_provider", "init_app"]


def init_app(app: Flask, provider: SmsProvider | None = None) -> None:
    """Choose the SMS provider from the settings, unless one is given."""
    if provider is None:
        if app.config.get("AT_USERNAME") and app.config.get("AT_API_KEY"):
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
