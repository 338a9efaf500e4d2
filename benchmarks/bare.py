"""The yardstick: a bare Flask endpoint that parses the same form as the USSD webhook."""

from __future__ import annotations

from flask import Flask, Response, request

app = Flask(__name__)


@app.post("/africastalking/ussd")
def hop() -> Response:
    """Read the fields a hop carries and answer a fixed screen."""
    form = request.form
    session_id = form.get("sessionId", "").strip()
    phone = form.get("phoneNumber", "").strip()
    text = form.get("text", "")
    if not session_id or not phone or len(text) > 2000:
        return Response("Bad request\n", status=400, content_type="text/plain; charset=utf-8")
    return Response("END ok", content_type="text/plain; charset=utf-8")
