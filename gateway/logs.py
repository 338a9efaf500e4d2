"""Logs: one line per record, JSON or readable text, each with the request (or job) id.

GATEWAY_LOG_FORMAT chooses: `json` (one object per line, for a log collector) or `text` (for a
person at a terminal). Unset, it is text when stderr is a terminal, JSON otherwise. Gunicorn's
own error and access logs go through the same formatter (GunicornLogger), and RQ's per-job lines
for the periodic maintenance jobs (sweep, purge) are dropped: they said nothing every 30 s.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from flask import Flask, Response, g, has_request_context, request
from gunicorn import glogging
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import OperationalError

from gateway.errors import ConfigError
from workers.enqueue import PURGE_JOB, SWEEP_JOB, current_job_id

REQUEST_ID_HEADER = "X-Request-Id"
FORMAT_VARIABLE = "GATEWAY_LOG_FORMAT"
FORMATS = ("text", "json")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
_MARK = "_gateway_json_handler"
# The periodic maintenance jobs, as RQ names them in its lines: by id (workers/enqueue.py
# `_every`: "<name>-<time>") or by description ("workers.sweep.sweep()").
MAINTENANCE_JOB_IDS = re.compile(r"^(sweep|purge)-\d+$")
MAINTENANCE_JOB_DESCRIPTIONS = (f"{SWEEP_JOB}(", f"{PURGE_JOB}(")
# RQ's worker says this for every queue every few minutes: housekeeping, not an event.
_RQ_HOUSEKEEPING = ("Worker %s: cleaning registries", "Worker %s: cleaning group registries")
# What an operator can do when a dependency does not answer.
DATABASE_ADVICE = "check DATABASE_URL and that the database server is running and reachable"
REDIS_ADVICE = "check REDIS_URL and that the Redis server is running and reachable"
UNREACHABLE = (OperationalError, RedisConnectionError, RedisTimeoutError)
# An OperationalError is also a missing column or a locked table: only these first lines say
# the database did not answer (psycopg, SQLite); the others keep their traceback.
_NOT_ANSWERING = re.compile(
    r"connection|connect to|could not translate host|timeout|timed out|"
    r"unable to open database file|no route to host|name or service not known",
    re.IGNORECASE,
)


def _current_id() -> str | None:
    if has_request_context():
        return g.get("request_id")
    return current_job_id()


def log_format(environ: Mapping[str, str] | None = None, stream: IO[str] | None = None) -> str:
    """Return GATEWAY_LOG_FORMAT (text or json), else text on a terminal, json otherwise."""
    environ = os.environ if environ is None else environ
    chosen = environ.get(FORMAT_VARIABLE, "").strip().lower()
    if chosen in FORMATS:
        return chosen
    if chosen:
        raise ConfigError(
            f"{FORMAT_VARIABLE} must be text or json, got {environ[FORMAT_VARIABLE]!r}"
        )
    stream = stream or sys.stderr
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def unreachable(exc: BaseException) -> str | None:
    """Describe a database or Redis that did not answer in one line: what, why, what to do.

    None for any other exception (its traceback is worth reading).
    """
    seen: BaseException | None = exc
    while seen is not None and not isinstance(seen, UNREACHABLE):
        seen = seen.__cause__ or seen.__context__
    if seen is None:
        return None
    if isinstance(seen, OperationalError):
        what, advice, cause = "Database unreachable", DATABASE_ADVICE, seen.orig or seen
    else:
        what, advice, cause = "Redis unreachable", REDIS_ADVICE, seen
    # The driver's first line says why (refused, timed out, no such host); what follows is its
    # own advice, or the statement, which may quote values: left out.
    lines = str(cause).strip().splitlines()
    reason = lines[0][:200] if lines else ""
    if isinstance(seen, OperationalError) and not _NOT_ANSWERING.search(reason):
        return None
    detail = f"{type(cause).__name__}: {reason}" if reason else type(cause).__name__
    return f"{what} ({detail}): {advice}"


def _exception(formatter: logging.Formatter, record: logging.LogRecord) -> str | None:
    """Return the record's traceback, or one line when a dependency did not answer."""
    if not record.exc_info:
        return None
    exc = record.exc_info[1]
    short = unreachable(exc) if exc is not None else None
    return short or formatter.formatException(record.exc_info)


class RequestIdFilter(logging.Filter):
    """Attach the current request id (or RQ job id) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = _current_id()
        return True


def _is_maintenance_job(text: str) -> bool:
    return bool(MAINTENANCE_JOB_IDS.match(text)) or text.startswith(MAINTENANCE_JOB_DESCRIPTIONS)


class QuietMaintenanceFilter(logging.Filter):
    """Drop RQ's routine INFO lines about the periodic sweep and purge; keep warnings, errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        if isinstance(record.msg, str) and record.msg.startswith(_RQ_HOUSEKEEPING):
            return False
        args = record.args if isinstance(record.args, tuple) else ()
        return not any(isinstance(arg, str) and _is_maintenance_job(arg) for arg in args)


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON line: time, level, logger, message, request_id (+ fields)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or _current_id(),
        }
        entry.update(_fields(record))
        exception = _exception(self, record)
        if exception:
            entry["exception"] = exception
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Format a record as one readable line: time level logger message [request id]."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_time(record)} {record.levelname:<7} {record.name} {record.getMessage()}"
        request_id = getattr(record, "request_id", None) or _current_id()
        if request_id:
            line += f" [{request_id}]"
        exception = _exception(self, record)
        if exception:
            line += ("\n" if "\n" in exception else ": ") + exception
        return line


def formatter(kind: str | None = None) -> logging.Formatter:
    """Return the formatter for `kind` (text or json), by default the configured one."""
    return TextFormatter() if (kind or log_format()) == "text" else JsonFormatter()


def json_handler(stream: IO[str] | None = None) -> logging.Handler:
    """Return a handler writing JSON lines to stream (stderr by default)."""
    return handler(stream, "json")


def handler(stream: IO[str] | None = None, kind: str | None = None) -> logging.Handler:
    """Return a handler writing lines in `kind` (default: GATEWAY_LOG_FORMAT) to stream."""
    result = logging.StreamHandler(stream or sys.stderr)
    result.setFormatter(formatter(kind))
    result.addFilter(RequestIdFilter())
    return result


def configure(level: int = logging.INFO) -> None:
    """Send every log to stderr in GATEWAY_LOG_FORMAT; calling it again changes nothing.

    Raises ConfigError when GATEWAY_LOG_FORMAT is neither text nor json.
    """
    kind = log_format()
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, _MARK, False)]
    if ours:
        for existing in ours:
            existing.setFormatter(formatter(kind))
    else:
        new = handler(kind=kind)
        setattr(new, _MARK, True)
        root.addHandler(new)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    for name in ("gateway", "workers"):
        logging.getLogger(name).setLevel(level)
    # Werkzeug's access log prints query strings, and the webhook token travels in one.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # Alembic says "Context impl ..." at every connection; `db upgrade` names what it applied.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # RQ's worker logs every job it starts and ends; the sweep's and purge's say nothing.
    rq_worker = logging.getLogger("rq.worker")
    if not any(isinstance(f, QuietMaintenanceFilter) for f in rq_worker.filters):
        rq_worker.addFilter(QuietMaintenanceFilter())


def _begin_request() -> None:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if _SANE_ID.match(given) else uuid.uuid4().hex


def _end_request(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


def init_app(app: Flask) -> None:
    """Log one line per record and give every request an id (X-Request-Id when sane, else new)."""
    configure()
    app.before_request(_begin_request)
    app.after_request(_end_request)


# Gunicorn ------------------------------------------------------------------------------------


def _response_header(resp: Any, name: str) -> str | None:
    for key, value in getattr(resp, "headers", None) or []:
        if str(key).lower() == name.lower():
            return str(value)
    return None


class GunicornLogger(glogging.Logger):
    """Gunicorn's error and access logs in the gateway's format, on stderr.

    The access log says method, path, status and duration, never the query string: the webhook
    token travels in `?token=`. Set with `logger_class = "gateway.logs.GunicornLogger"`.
    """

    def setup(self, cfg: Any) -> None:
        try:
            kind = log_format()
        except ConfigError as exc:
            sys.stderr.write(f"Configuration error: {exc}\n")
            raise SystemExit(2) from None
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for existing in list(log.handlers):
                if getattr(existing, "_gunicorn", False) and isinstance(
                    existing, logging.StreamHandler
                ) and not isinstance(existing, logging.FileHandler):
                    # "-" is stdout for gunicorn's access log: every line goes to stderr here.
                    existing.setStream(sys.stderr)
                existing.setFormatter(formatter(kind))

    def access(self, resp: Any, req: Any, environ: Mapping[str, Any],
               request_time: timedelta) -> None:
        """Log one request: method, path (no query string), status, duration, request id."""
        if not self.access_log_enabled:
            return
        status = str(getattr(resp, "status", "") or "-").split(None, 1)[0]
        method = str(environ.get("REQUEST_METHOD", "-"))
        path = str(environ.get("PATH_INFO", "") or "/")
        duration_ms = round(request_time.total_seconds() * 1000, 1)
        fields = {"method": method, "path": path, "status": status, "duration_ms": duration_ms}
        extra = {"fields": fields, "request_id": _response_header(resp, REQUEST_ID_HEADER)}
        self.access_log.info("%s %s %s %sms", method, path, status, duration_ms, extra=extra)
