"""Structured logs: one JSON object per line, each with the request (or job) id it belongs to."""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from datetime import UTC, datetime
from typing import IO

from flask import Flask, Response, g, has_request_context, request

from workers.enqueue import current_job_id

REQUEST_ID_HEADER = "X-Request-Id"
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
_MARK = "_gateway_json_handler"


def _current_id() -> str | None:
    if has_request_context():
        return g.get("request_id")
    return current_job_id()


class RequestIdFilter(logging.Filter):
    """Attach the current request id (or RQ job id) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = _current_id()
        return True


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON line: time, level, logger, message, request_id."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or _current_id(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def json_handler(stream: IO[str] | None = None) -> logging.Handler:
    """Return a handler writing JSON lines to stream (stderr by default)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    return handler


def configure(level: int = logging.INFO) -> None:
    """Send the gateway's logs to stderr as JSON lines; calling it again changes nothing."""
    root = logging.getLogger()
    if not any(getattr(handler, _MARK, False) for handler in root.handlers):
        handler = json_handler()
        setattr(handler, _MARK, True)
        root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    for name in ("gateway", "workers"):
        logging.getLogger(name).setLevel(level)
    # Werkzeug's access log prints query strings, and the webhook token travels in one.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def _begin_request() -> None:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if _SANE_ID.match(given) else uuid.uuid4().hex


def _end_request(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


def init_app(app: Flask) -> None:
    """Log JSON lines and give every request an id (X-Request-Id when sane, else a new one)."""
    configure()
    app.before_request(_begin_request)
    app.after_request(_end_request)
