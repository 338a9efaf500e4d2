"""gunicorn's settings for the web process: the one way production runs it.

`gunicorn -c python:gateway.web.gunicorn_conf 'gateway:create_app()'` (the Procfile's `web`, the
systemd unit and the container all run exactly that). Settings come from the environment:

- `PORT` (5000) and `GATEWAY_BIND_HOST` (127.0.0.1): listen on the loopback only, behind a proxy
  on the same machine that terminates TLS. Set `GATEWAY_BIND_HOST=0.0.0.0` only where the proxy is
  on another machine or is the platform's router (a PaaS, a container): the webhooks' token
  travels in the URL and must never cross a network in plain HTTP.
- `WEB_CONCURRENCY` (2) processes of 4 threads (benchmarks/RESULTS.md says why). `gateway serve`
  runs this same configuration, with `WEB_CONCURRENCY` set from `GATEWAY_WEB_CONCURRENCY`.
- `PROMETHEUS_MULTIPROC_DIR`: created when missing and emptied at start (files of processes of a
  previous start would be counted again), a dead process's gauges dropped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prometheus_client import multiprocess

_host = os.environ.get("GATEWAY_BIND_HOST", "127.0.0.1")
if ":" in _host and not _host.startswith("["):
    _host = f"[{_host}]"  # an IPv6 address, e.g. ::1
bind = f"{_host}:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = 4
# A hop answers in milliseconds; Africa's Talking gives up on a hop after about 10 s.
timeout = 30
graceful_timeout = 20
# No control socket (gunicorn 25.1+ makes one at ~/.gunicorn/gunicorn.ctl by default): every
# gunicorn of the machine's user would share that one path, each taking it from the last; the
# processes are stopped and sized by signals and the environment, as above.
control_socket_disable = True
# One format for every line: gunicorn's own error and access lines go through the gateway's
# formatter (JSON, or text on a terminal: GATEWAY_LOG_FORMAT); access lines carry no query
# string, where the webhook token travels.
logger_class = "gateway.logs.GunicornLogger"
accesslog = "-"
errorlog = "-"


def _metrics_folder() -> None:
    """Create the metrics folder when missing, and empty it of a previous start's files.

    Run as this file is read, before gunicorn loads anything of the gateway's.
    """
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    # Only prometheus_client's own files: a folder set by mistake to one holding anything else
    # loses nothing.
    for entry in path.glob("*.db"):
        entry.unlink(missing_ok=True)


_metrics_folder()


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead web process's live gauges from the pooled metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
