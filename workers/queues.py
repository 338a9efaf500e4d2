"""Queue names, in the order a worker listens to them: urgent work first."""

from __future__ import annotations

from flask import Flask
from rq import Queue

URGENT = "urgent"  # routing, sending and escalation of cases where a child is in danger now
DEFAULT = "default"  # routing and sending of every other case, incoming SMS
MAINTENANCE = "maintenance"  # sweeps and retention purges

ALL = (URGENT, DEFAULT, MAINTENANCE)


def init_app(app: Flask) -> None:
    """Build one RQ queue per name on the app's Redis connection."""
    connection = app.extensions["redis"]
    app.extensions["queues"] = {name: Queue(name, connection=connection) for name in ALL}


def all_queues(app: Flask) -> list[Queue]:
    """Return the app's queues, urgent first: the order a worker listens to them."""
    return [app.extensions["queues"][name] for name in ALL]
