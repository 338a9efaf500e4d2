"""Webhooks, one module per provider; what they share lives here."""

from __future__ import annotations

import hmac

from flask import Response, current_app, request


def check_token() -> Response | None:
    """Refuse the request unless it carries the configured webhook token."""
    expected = current_app.config.get("WEBHOOK_TOKEN")
    if not expected:
        return None
    given = request.args.get("token", "")
    if hmac.compare_digest(given.encode(), expected.encode()):
        return None
    return Response("Forbidden\n", status=403, content_type="text/plain")
