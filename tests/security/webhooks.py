"""What the security tests share: the webhook URLs of the app, found in its URL map."""

from __future__ import annotations

from flask import Flask

WEBHOOK_BLUEPRINTS = ("africastalking",)


def webhook_urls(app: Flask) -> list[str]:
    """Every POST route of the webhook blueprints, so a webhook added later is tested too."""
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".", 1)[0] in WEBHOOK_BLUEPRINTS and "POST" in (rule.methods or ())
    )
