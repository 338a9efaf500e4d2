"""What RQ keeps and logs of a failed job: the exception's class and frames, never its message.

A job's exception can quote what it worked on: a database error the statement's parameters or
the server's own detail (`invalid input syntax ... "+243..."`), an HTTP error a URL. RQ writes
the whole traceback to the worker's log and keeps it with the failed job. It runs a job's
failure callback before either, and an exception the callback raises replaces the job's in
both (rq/worker/base.py `_finalize_failure`): this callback, given to every job by
workers/enqueue.py, raises JobFailed, which says the class and where it happened, nothing more.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

MAX_FRAMES = 12  # the innermost frames: enough to find the line that failed


class JobFailed(Exception):
    """A job's exception reduced to its class name and the frames it went through."""


def describe(exc_type: type[BaseException] | None, tb: TracebackType | None) -> str:
    """Return the exception's class name and frames (file:line function), never its message."""
    name = exc_type.__name__ if exc_type is not None else "Exception"
    frames = traceback.extract_tb(tb)[-MAX_FRAMES:] if tb is not None else []
    where = " < ".join(
        f"{Path(frame.filename).name}:{frame.lineno} {frame.name}" for frame in reversed(frames)
    )
    return f"{name} at {where}" if where else name


def reduce_failure(
    _job: Any, _connection: Any, exc_type: type[BaseException] | None,
    _exc_value: BaseException | None, tb: TracebackType | None,
) -> None:
    """RQ failure callback: raise JobFailed in place of the job's exception, chain cut."""
    raise JobFailed(describe(exc_type, tb)) from None
