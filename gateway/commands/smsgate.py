"""`gateway smsgate register-webhooks|status`: the Android phone that relays SMS.

Nothing printed here holds a phone number or a message's words: the webhooks' addresses,
whether the phone answers, and counts of the events received by type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
import requests
from android_sms_gateway import domain
from android_sms_gateway.enums import WebhookEvent
from android_sms_gateway.errors import APIError
from flask import Flask

from gateway import create_app
from gateway.config import load_config
from gateway.delivery.providers.android import AndroidProvider
from gateway.errors import ConfigError
from gateway.storage.db import get_engine
from gateway.web.smsgate import event_counts

WEBHOOK_PATH = "/smsgate/webhook"
# Fixed ids: registering again replaces the phone's webhooks instead of adding copies.
WEBHOOKS = {
    WebhookEvent.SMS_RECEIVED: "gateway-sms-received",
    WebhookEvent.SMS_SENT: "gateway-sms-sent",
    WebhookEvent.SMS_DELIVERED: "gateway-sms-delivered",
    WebhookEvent.SMS_FAILED: "gateway-sms-failed",
}


def phone(config: Mapping[str, Any]) -> AndroidProvider:
    """Return the phone's client settings, or say which setting is missing."""
    if not config.get("SMSGATE_USERNAME") or not config.get("SMSGATE_PASSWORD"):
        raise ConfigError("SMSGATE_USERNAME and SMSGATE_PASSWORD are required to reach the "
                          "phone (the app shows them)")
    return AndroidProvider(config["SMSGATE_USERNAME"], config["SMSGATE_PASSWORD"],
                           config["SMSGATE_URL"])


def register(config: Mapping[str, Any], host: str) -> list[str]:
    """Register the four webhooks on the phone, pointing to the host; say what was done."""
    url = host.rstrip("/") + WEBHOOK_PATH
    api, session = phone(config).api()
    lines = []
    try:
        with api:
            for event, webhook_id in WEBHOOKS.items():
                made = api.create_webhook(domain.Webhook(id=webhook_id, url=url, event=event))
                lines.append(f"{made.event.value}: {made.url} (id {made.id or webhook_id})")
    finally:
        session.close()
    return lines


def status(app: Flask) -> list[str]:
    """Say whether the phone answers, which webhooks it has, and the events received."""
    lines = []
    api, session = phone(app.config).api()
    try:
        with api:
            health = api.health_check()
            lines.append(f"phone: answers at {app.config['SMSGATE_URL']} "
                         f"(health {health.status.value})")
            for webhook in api.get_webhooks():
                lines.append(f"webhook {webhook.event.value}: {webhook.url}")
    except (APIError, requests.RequestException, KeyError, ValueError) as exc:
        detail = getattr(exc, "status_code", None) or type(exc).__name__
        lines.append(f"phone: does not answer at {app.config['SMSGATE_URL']} ({detail})")
    finally:
        session.close()
    for event, (count, last) in event_counts(app).items():
        lines.append(f"{event}: {count} received" + (f", last at {last}" if last else ""))
    return lines


@click.group("smsgate")
def smsgate_group() -> None:
    """The Android phone running SMS Gateway for Android (SMSGATE_* settings)."""


@smsgate_group.command("register-webhooks")
@click.argument("host")
def register_webhooks(host: str) -> None:
    """Point the phone's webhooks (received, sent, delivered, failed) at HOST/smsgate/webhook."""
    if not host.startswith(("http://", "https://")):
        raise click.BadParameter("give the address with its scheme, e.g. https://alerts.example.org")
    try:
        lines = register(load_config(), host)
    except (APIError, requests.RequestException) as exc:
        detail = getattr(exc, "status_code", None) or type(exc).__name__
        raise click.ClickException(f"the phone refused or did not answer: {detail}") from exc
    for line in lines:
        click.echo(f"registered {line}")


@smsgate_group.command("status")
def status_command() -> None:
    """Say whether the phone answers and how many events it posted (no numbers, no words)."""
    app = create_app()
    try:
        lines = status(app)
    finally:
        get_engine(app).dispose()
    for line in lines:
        click.echo(line)


COMMANDS = [smsgate_group]
