"""A local HTTP server answering like SMS Gateway for Android's API, and signed events from it.

The official client talks to it unpatched: POST /messages answers 202 with the message's state,
409 to an id it already has; GET/POST /webhooks keep webhooks by id; GET /health answers.
Scripted answers (a 5xx, a hang past the client's timeout) replace the next ones in order.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Request, Response, request
from werkzeug.serving import make_server

USERNAME, PASSWORD = "sms", "phone-password-123"
SIGNING_KEY = "phone-signing-key-0123456789abcdef"


@dataclass
class StandInPhone:
    """The phone's API: what it was sent, and the answers it gives."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    script: list[Callable[[Request], Response]] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # by message id
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def messages_answer(self, req: Request) -> Response:
        body = req.get_json(force=True)
        with self._lock:
            self.requests.append({"path": req.path, "json": body,
                                  "auth": req.headers.get("Authorization", "")})
            handler = self.script.pop(0) if self.script else None
        if handler is not None:
            return handler(req)
        return self.accept(req)

    def accept(self, req: Request) -> Response:
        body = req.get_json(force=True)
        message_id = body.get("id") or uuid.uuid4().hex
        with self._lock:
            if message_id in self.accepted:
                return Response(json.dumps({"message": "message already exists"}), status=409,
                                content_type="application/json")
            self.accepted[message_id] = body
        state = {
            "id": message_id, "state": "Pending", "isHashed": False, "isEncrypted": False,
            "recipients": [{"phoneNumber": number, "state": "Pending", "error": None}
                           for number in body.get("phoneNumbers", [])],
        }
        return Response(json.dumps(state), status=202, content_type="application/json")

    @staticmethod
    def fail_http(status: int) -> Callable[[Request], Response]:
        return lambda _req: Response(json.dumps({"message": "error"}), status=status,
                                     content_type="application/json")

    def hang(self) -> Callable[[Request], Response]:
        """Take the message, then answer only after the client has given up waiting."""

        def handler(req: Request) -> Response:
            answer = self.accept(req)
            self.release.wait(timeout=10)  # released at teardown at the latest
            return answer

        return handler

    def texts_to(self, number: str) -> list[str]:
        """The words of every message the phone took for this number (once each)."""
        return [m["textMessage"]["text"] for m in self.accepted.values()
                if m.get("phoneNumbers") == [number]]


def signed(envelope: dict[str, Any], key: str = SIGNING_KEY,
           timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """Return a body and the headers the phone signs it with."""
    body = json.dumps(envelope).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = hmac.new(key.encode(), body + stamp.encode(), hashlib.sha256).hexdigest()
    return body, {"X-Timestamp": stamp, "X-Signature": signature,
                  "Content-Type": "application/json"}


def received(sender: str, text: str, event_id: str | None = None) -> dict[str, Any]:
    """An sms:received envelope as the phone posts it."""
    return {
        "id": event_id or uuid.uuid4().hex, "webhookId": "gateway-sms-received",
        "deviceId": "device-1", "event": "sms:received",
        "payload": {
            "messageId": hashlib.md5(text.encode()).hexdigest()[:16],  # from the words: not unique
            "message": text, "sender": sender, "recipient": "+23670999999", "simNumber": 1,
            "phoneNumber": sender, "receivedAt": "2026-11-27T10:00:00.000+01:00",
        },
    }


def delivery(event: str, message_id: str, reason: str | None = None) -> dict[str, Any]:
    """An sms:sent / sms:delivered / sms:failed envelope about a message we sent."""
    payload: dict[str, Any] = {"messageId": message_id, "phoneNumber": "+23670000011",
                               "simNumber": 1}
    payload["failedAt" if event == "sms:failed" else "sentAt"] = "2026-11-27T10:00:01+01:00"
    if reason is not None:
        payload["reason"] = reason
    return {"id": uuid.uuid4().hex, "webhookId": f"gateway-{event.replace(':', '-')}",
            "deviceId": "device-1", "event": event, "payload": payload}


def serve() -> Iterator[StandInPhone]:
    """Run the stand-in on a free local port until the generator is closed."""
    phone = StandInPhone()
    api = Flask("smsgate-stand-in")
    expected = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()

    @api.before_request
    def auth() -> Response | None:
        if request.headers.get("Authorization") != expected:
            return Response(json.dumps({"message": "unauthorized"}), status=401,
                            content_type="application/json")
        return None

    @api.post("/messages")
    def messages() -> Response:
        return phone.messages_answer(request)

    @api.get("/webhooks")
    def list_webhooks() -> Response:
        return Response(json.dumps(list(phone.webhooks.values())), status=200,
                        content_type="application/json")

    @api.post("/webhooks")
    def create_webhook() -> Response:
        body = request.get_json(force=True)
        webhook = {"id": body.get("id") or uuid.uuid4().hex, "url": body["url"],
                   "event": body["event"]}
        phone.webhooks[webhook["id"]] = webhook  # the same id replaces
        return Response(json.dumps(webhook), status=201, content_type="application/json")

    @api.get("/health")
    def health() -> Response:
        return Response(json.dumps({"status": "pass", "version": "1.0", "releaseId": 1,
                                    "checks": {}}), content_type="application/json")

    server = make_server("127.0.0.1", 0, api, threaded=True)
    phone.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield phone
    finally:
        phone.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
