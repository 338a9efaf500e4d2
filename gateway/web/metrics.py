"""Prometheus metrics: hops counted in each web process, the rest read from the DB and Redis.

Hops and their latency are counted where they happen, with prometheus_client's multiprocess
mode when PROMETHEUS_MULTIPROC_DIR is set (several gunicorn processes). Everything else (cases,
queues, outbox, send failures, acknowledgements, incoming SMS given up) is read at scrape time
from the database and Redis, which every web and worker process on every machine shares.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from datetime import timedelta

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.multiprocess import MultiProcessCollector
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from gateway.cases.spool import pending
from gateway.cases.status import status_expression
from gateway.delivery.failures import SEND_FAILURES_KEY
from gateway.storage.db import session_scope
from gateway.storage.models import (
    Case,
    CaseStatus,
    InboundMessage,
    InboundStatus,
    OutboxMessage,
    aware,
    utcnow,
)
from gateway.storage.redis import get_redis
from workers.enqueue import queue_depths

log = logging.getLogger(__name__)

HOP_ENDPOINT = "africastalking.ussd_hop"
ACK_WINDOW = timedelta(days=30)
ACK_BUCKETS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0)



class _HopMetrics:
    """The hop counter and histogram, made on the first hop this process answers.

    With PROMETHEUS_MULTIPROC_DIR set, prometheus_client writes a file for each metric as it is
    made: made at import, every `gateway` command (which imports this module) would leave one
    there, and crash if the folder is missing. Only a process that answers hops makes them.
    """

    def __init__(self) -> None:
        self._made: tuple[Counter, Histogram] | None = None

    def get(self) -> tuple[Counter, Histogram]:
        if self._made is None:
            self._made = (
                Counter(
                    "gateway_ussd_hops", "USSD hops answered, by the screen given (con, end)",
                    ["screen"], registry=None,
                ),
                Histogram(
                    "gateway_ussd_hop_seconds", "Time to answer a USSD hop",
                    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                             10.0),
                    registry=None,
                ),
            )
        return self._made


HOP_METRICS = _HopMetrics()


def _before_hop() -> None:
    if request.endpoint == HOP_ENDPOINT:
        g.hop_started = time.perf_counter()


def _after_hop(response: Response) -> Response:
    started = g.pop("hop_started", None)
    if started is None:
        return response
    hops, hop_seconds = HOP_METRICS.get()
    hop_seconds.observe(time.perf_counter() - started)
    if response.status_code != 200:
        screen = "refused"
    else:
        screen = "end" if response.get_data()[:4] == b"END " else "con"
    hops.labels(screen=screen).inc()
    return response


class StateCollector:
    """Gauges and counters read from the database and Redis at each scrape."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "gateway_dependency_up", "Whether a dependency answered the scrape",
            labels=["dependency"],
        )
        try:
            yield from self._database()
            up.add_metric(["database"], 1)
        except SQLAlchemyError as exc:
            log.warning("metrics: database unavailable: %s", type(exc).__name__)
            up.add_metric(["database"], 0)
        try:
            yield from self._redis()
            up.add_metric(["redis"], 1)
        except RedisError as exc:
            log.warning("metrics: Redis unavailable: %s", type(exc).__name__)
            up.add_metric(["redis"], 0)
        spooled = GaugeMetricFamily(
            "gateway_spooled_cases", "Cases kept on this machine's disk until the database is back"
        )
        spooled.add_metric([], len(pending(self.app)))
        yield spooled
        yield up

    def _database(self) -> Iterator[Metric]:
        now = utcnow()
        # The status `gateway cases` shows: an acknowledged case is no longer counted as routed.
        status = status_expression().label("status")
        with session_scope(self.app) as session:
            by_kind = session.execute(
                select(Case.kind, status, func.count()).group_by(Case.kind, status)
            ).all()
            oldest = session.scalar(
                select(func.min(Case.created_at)).where(Case.status == CaseStatus.NEW)
            )
            outbox = session.execute(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
            ).all()
            inbound_failed = session.scalar(
                select(func.count()).select_from(InboundMessage)
                .where(InboundMessage.status == InboundStatus.FAILED)
            )
            acknowledged_at = getattr(Case, "acknowledged_at", None)
            delays: list[float] = []
            if acknowledged_at is not None:
                rows = session.execute(
                    select(Case.created_at, acknowledged_at).where(
                        acknowledged_at.is_not(None), Case.created_at >= now - ACK_WINDOW
                    )
                ).all()
                delays = [(aware(ack) - aware(made)).total_seconds() for made, ack in rows]
        cases = GaugeMetricFamily(
            "gateway_cases", "Cases by kind and status", labels=["kind", "status"]
        )
        for kind, status, count in by_kind:
            cases.add_metric([str(kind), str(status)], count)
        yield cases
        unrouted = GaugeMetricFamily(
            "gateway_oldest_unrouted_case_seconds",
            "Age of the oldest case not yet routed (0: none)",
        )
        unrouted.add_metric([], (now - aware(oldest)).total_seconds() if oldest else 0.0)
        yield unrouted
        messages = GaugeMetricFamily(
            "gateway_outbox_messages", "Outgoing SMS by status", labels=["status"]
        )
        for status, count in outbox:
            messages.add_metric([str(status)], count)
        yield messages
        given_up = GaugeMetricFamily(
            "gateway_inbound_failed",
            "Incoming SMS given up after failing every run, erased (until the retention purge)",
        )
        given_up.add_metric([], inbound_failed or 0)
        yield given_up
        if acknowledged_at is not None:
            yield _histogram(
                "gateway_time_to_first_ack_seconds",
                "Time from a case to its first acknowledgement by a focal point (last 30 days)",
                delays,
            )

    def _redis(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "gateway_queue_depth", "Jobs waiting on each queue", labels=["queue"]
        )
        for name, count in queue_depths(self.app).items():
            depth.add_metric([name], count)
        yield depth
        failures = CounterMetricFamily(
            "gateway_send_failures", "Failed SMS send attempts by reason", labels=["reason"]
        )
        for reason, count in get_redis(self.app).hgetall(SEND_FAILURES_KEY).items():
            failures.add_metric([reason.decode()], int(count))
        yield failures


def _histogram(name: str, documentation: str, values: list[float]) -> HistogramMetricFamily:
    buckets = []
    for bound in ACK_BUCKETS:
        buckets.append((str(bound), sum(1 for v in values if v <= bound)))
    buckets.append(("+Inf", len(values)))
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=sum(values))


def render(app: Flask) -> bytes:
    """Return every metric in Prometheus' text format."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        for metric in HOP_METRICS.get():
            registry.register(metric)
    registry.register(StateCollector(app))  # type: ignore[arg-type]
    return generate_latest(registry)


def init_app(app: Flask) -> None:
    """Time and count every USSD hop this process answers."""
    app.before_request(_before_hop)
    app.after_request(_after_hop)
