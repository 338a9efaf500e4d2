"""A local HTTP server answering like Primero's API v2 for MRM incidents.

As Primero's code does (app/controllers/api/v2/concerns/record.rb, app/services/
error_service.rb): HTTP Basic checked on every request (401 otherwise); POST /api/v2/incidents
with a new client-chosen `data.id` answers 204 and keeps the incident, the same id again 409;
PATCH /api/v2/incidents/<id> merges the fields and answers 200 (404 for an unknown id). Errors
are `{"errors": [{"status", "resource", "detail", "message"}]}`. Scripted answers (422 with
details, 503 with Retry-After, 401) replace the next ones in order.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Request, Response, request
from werkzeug.serving import make_server

USER, PASSWORD = "gateway-mrm", "primero-password-123"
Handler = Callable[[Request], Response]


def _errors(status: int, path: str, *details: Any, message: str = "") -> Response:
    errors = [{"status": status, "resource": path, "detail": detail, "message": message}
              for detail in details] or [{"status": status, "resource": path,
                                          "message": message}]
    return Response(json.dumps({"errors": errors}), status=status,
                    content_type="application/json")


@dataclass
class StandInPrimero:
    """Primero's incidents endpoint: what it received, what it keeps, and scripted answers."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    script: list[Handler] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, req: Request, incident_id: str | None = None) -> Response:
        raw = req.get_data(as_text=True)
        with self._lock:
            self.requests.append({
                "method": req.method, "path": req.path, "raw": raw,
                "json": json.loads(raw) if raw else None,
                "authorization": req.headers.get("Authorization", ""),
            })
        if not self.authorised(req):
            return _errors(401, req.path, message="Unauthorized")
        with self._lock:
            handler = self.script.pop(0) if self.script else None
        if handler is not None:
            return handler(req)
        body = req.get_json(force=True)
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            return _errors(422, req.path, message="param is missing or the value is empty: data")
        data = body["data"]
        with self._lock:
            if incident_id is None:
                new_id = data.get("id")
                if new_id in self.incidents:
                    return _errors(409, req.path,
                                   message="Conflict: A record with this id already exists")
                self.incidents[new_id] = dict(data)
                return Response(status=204)
            if incident_id not in self.incidents:
                return _errors(404, req.path, message="Not Found")
            self.incidents[incident_id].update(data)
            kept = {"id": incident_id, **self.incidents[incident_id]}
        return Response(json.dumps({"data": kept}), status=200, content_type="application/json")

    @staticmethod
    def authorised(req: Request) -> bool:
        header = req.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(header[6:]).decode()
        except ValueError:
            return False
        return given == f"{USER}:{PASSWORD}"

    # Scripted answers ---------------------------------------------------------------------

    @staticmethod
    def refuse(*details: Any) -> Handler:
        """422, as Primero's JSON validation answers: errors[].detail names the fields."""
        return lambda req: _errors(422, req.path, *details, message="Invalid Record JSON")

    @staticmethod
    def unavailable(retry_after: str | None = None) -> Handler:
        """503, as Primero answers while its configuration is being updated."""

        def handler(req: Request) -> Response:
            answer = _errors(503, req.path, message="Service Unavailable")
            if retry_after is not None:
                answer.headers["Retry-After"] = retry_after
            return answer

        return handler

    @staticmethod
    def status(code: int) -> Handler:
        """Any other error answer (401, 403, 500...)."""
        return lambda req: _errors(code, req.path, message="scripted")

    # What it received ---------------------------------------------------------------------

    def calls(self) -> list[tuple[str, str]]:
        """Every request as (method, path), in order."""
        return [(r["method"], r["path"]) for r in self.requests]


@contextmanager
def running() -> Iterator[StandInPrimero]:
    """Run the stand-in on a free local port in a thread, for the length of the block."""
    stand_in = StandInPrimero()
    api = Flask("primero-stand-in")

    @api.post("/api/v2/incidents")
    def create() -> Response:
        return stand_in.answer(request)

    @api.patch("/api/v2/incidents/<incident_id>")
    def patch(incident_id: str) -> Response:
        return stand_in.answer(request, incident_id)

    server = make_server("127.0.0.1", 0, api, threaded=True)
    stand_in.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        server.shutdown()
        thread.join(timeout=5)
