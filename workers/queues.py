"""Queue names, in the order a worker listens to them: urgent work first."""

from __future__ import annotations

from flask import Flask, current_app
from rq import Queue

URGENT = "urgent"  # routing and sending of cases where a child is in danger now
DEFAULT = "default"  # routing and sending of every other case
MAINTENANCE = "maintenance"  # sweeps and housekeeping

ALL = (URGENT, DEFAULT, MAINTENANCE)


def init_app(app: Flask) -> None:
    """Build one RQ queue per name on the app's Redis connection."""
    connection = app.extensions["redis"]
    app.extensions["queues"] = {name: Queue(name, connection=connection) for name in ALL}


def get_queue(name: str, app: Flask | None = None) -> Queue:
    """Return the app's queue of that name."""
    return (app or current_app).extensions["queues"][name]
