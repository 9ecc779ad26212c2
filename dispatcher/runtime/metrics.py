"""Prometheus metrics: what Pulse counts while it works, and what the database says at scrape time.

Counters and histograms are kept by the process that does the work (an API
worker, a Celery pool child, the in-process worker). With several processes,
set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory shared by all of them
(before they start): each process writes its values there and ``/metrics``
adds them up (prometheus_client's multiprocess mode).

Figures that are true whatever process asks (messages by channel and state,
queue depth and age, answers by channel, webhook deliveries by status) are read
from the database when Prometheus scrapes, so they agree across processes and
survive restarts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import func, select

from campaigns.programs.models import Message, Response
from campaigns.webhooks.models import WebhookDelivery
from channels.base import SendResult
from dispatcher.sending.budget import Refusal

if TYPE_CHECKING:
    from dispatcher.runtime.core import Runtime

__all__ = ["CONTENT_TYPE_LATEST", "render"]

PROVIDER_REQUESTS = Counter(
    "pulse_provider_requests", "Requests to a provider (one send call, possibly a batch), by channel and outcome",
    ["channel", "outcome"],
)
PROVIDER_LATENCY = Histogram(
    "pulse_provider_request_seconds", "Time a provider took to answer one send call, by channel and outcome",
    ["channel", "outcome"], buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
MESSAGES_HANDED_OVER = Counter(
    "pulse_messages_handed_over", "Messages handed to a channel, by channel and result", ["channel", "result"],
)
SCHEDULER_TICKS = Counter("pulse_scheduler_ticks", "Scheduler ticks run")
SCHEDULER_TICK_SECONDS = Histogram(
    "pulse_scheduler_tick_seconds", "How long one scheduler tick took", buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60),
)
# In multiprocess mode the newest tick of any process wins: time() minus this is the tick lag.
SCHEDULER_LAST_TICK = Gauge(
    "pulse_scheduler_last_tick_timestamp_seconds", "Unix time of the last finished scheduler tick", multiprocess_mode="max",
)
BUDGET_REFUSALS = Counter("pulse_budget_refusals", "Fatigue budget refusals, by rule and action (defer, drop)", ["rule", "action"])
WEBHOOK_EVENTS = Counter(
    "pulse_webhook_events", "Provider webhook requests received (Twilio, SendGrid), by endpoint and outcome (accepted, rejected)",
    ["endpoint", "outcome"],
)
WEBHOOK_DELIVERIES = Counter(
    "pulse_webhook_delivery_attempts", "Outgoing webhook delivery attempts, by result (delivered, retrying, failed)", ["result"],
)


@contextmanager
def provider_request(channel: str) -> Iterator[dict[str, str]]:
    """Time one provider call; the caller sets ``outcome`` in the yielded dict (``error`` if it raises)."""
    labels = {"outcome": "ok"}
    started = time.perf_counter()
    try:
        yield labels
    except BaseException:
        labels["outcome"] = "error"
        raise
    finally:
        PROVIDER_REQUESTS.labels(channel, labels["outcome"]).inc()
        PROVIDER_LATENCY.labels(channel, labels["outcome"]).observe(time.perf_counter() - started)


def count_results(channel: str, results: Sequence[SendResult]) -> str:
    """Count each message's result; the call's outcome: ``ok``, or the first error's kind.

    One ``inc`` per kind, not per message: a labelled counter's lookup and lock
    cost more than a message's share of the rest of the count (a chunk is 1,000)."""
    kinds: dict[str, int] = {}
    for result in results:
        kind = result.error.kind.value if result.error else "sent"
        kinds[kind] = kinds.get(kind, 0) + 1
    for kind, count in kinds.items():
        MESSAGES_HANDED_OVER.labels(channel, kind).inc(count)
    first = next((result.error for result in results if result.error), None)
    return first.kind.value if first else "ok"


def count_refusals(refusals: dict[int, Refusal]) -> dict[int, Refusal]:
    """Count the budget's refusals by rule and action; returns them unchanged."""
    for refusal in refusals.values():
        BUDGET_REFUSALS.labels(refusal.rule, refusal.action).inc()
    return refusals


def tick_finished(seconds: float) -> None:
    SCHEDULER_TICKS.inc()
    SCHEDULER_TICK_SECONDS.observe(seconds)
    SCHEDULER_LAST_TICK.set(time.time())


class DatabaseCollector(Collector):
    """Figures read from the database at scrape time (a few grouped counts)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        now = self.runtime.clock.now()
        messages = GaugeMetricFamily("pulse_messages", "Messages by channel and state", labels=["channel", "state"])
        depth = GaugeMetricFamily("pulse_queue_depth", "Messages waiting to go out (queued or retrying), by step", labels=["step"])
        age = GaugeMetricFamily("pulse_queue_oldest_age_seconds", "Age of the oldest message due but not yet sent, by step", labels=["step"])
        answers = CounterMetricFamily("pulse_answers", "Answers recorded, by channel", labels=["channel"])
        deliveries = GaugeMetricFamily("pulse_webhook_deliveries", "Outgoing webhook deliveries by status", labels=["status"])
        with self.runtime.sessions() as session:
            for channel, state, count in session.execute(
                select(Message.channel, Message.state, func.count()).group_by(Message.channel, Message.state)
            ):
                messages.add_metric([channel or "none", state], count)
            waiting = Message.state.in_(("queued", "retrying"))
            for step, count in session.execute(select(Message.step, func.count()).where(waiting).group_by(Message.step)):
                depth.add_metric([step], count)
            for step, oldest in session.execute(
                select(Message.step, func.min(Message.not_before)).where(waiting, Message.not_before <= now).group_by(Message.step)
            ):
                if oldest is not None:
                    age.add_metric([step], max(0.0, (now - _aware(oldest, now)).total_seconds()))
            for medium, count in session.execute(select(Response.medium, func.count()).group_by(Response.medium)):
                answers.add_metric([medium], count)
            for status, count in session.execute(select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)):
                deliveries.add_metric([status], count)
        yield from (messages, depth, age, answers, deliveries)


def _aware(moment: datetime, like: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=like.tzinfo)


def render(runtime: Runtime) -> bytes:
    """The Prometheus text for ``/metrics``: every process's counters (multiprocess mode) and the database's figures."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
    else:
        counted = REGISTRY  # this process's own metrics
    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseCollector(runtime))
    # Two registries, no metric name in both: their texts simply follow each other.
    return generate_latest(counted) + generate_latest(database)


def process_exited(pid: int) -> None:
    """Forget a dead process's live gauges (multiprocess mode); its counters stay counted."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def prepare_multiprocess_dir() -> None:
    """Empty ``PROMETHEUS_MULTIPROC_DIR`` (if set) before a process tree starts: old files would count twice."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.remove(os.path.join(directory, name))


def serve_worker_metrics(port: int) -> None:
    """Serve the counters of every process sharing ``PROMETHEUS_MULTIPROC_DIR`` on ``port`` (a Celery worker's pool)."""
    from prometheus_client import multiprocess, start_http_server

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        raise RuntimeError("--metrics-port needs PROMETHEUS_MULTIPROC_DIR: an empty directory shared by the worker's processes")
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    start_http_server(port, registry=registry)
