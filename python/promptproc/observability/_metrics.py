"""Prometheus metrics of a worker: visits by outcome, phase durations, raw wait, alerts.

Nothing is registered in `prometheus_client`'s global registry: `create_metrics`
builds a `Metrics` object on its own `~prometheus_client.CollectorRegistry`,
which the HTTP driver exposes on ``/metrics`` through `metrics_exposition`, and
the other drivers through `serve_metrics`.

Every series has an ``instrument`` label (the deployment's instrument), so
dashboards can combine deployments. The metrics are per process; with several
gunicorn workers per pod each worker answers for itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.exposition import choose_encoder

__all__ = [
    "PHASE_BUCKETS",
    "RAW_WAIT_BUCKETS",
    "VISIT_OUTCOMES",
    "Metrics",
    "create_metrics",
    "metrics_exposition",
    "serve_metrics",
]

VISIT_OUTCOMES: tuple[str, ...] = ("success", "invalid", "expired", "ignored", "retriable", "failed")
"""How a visit can end, with the HTTP status each maps to: 200, 400, 403, 422, 503 and 500."""

PHASE_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200)
"""Upper bounds in seconds of the phase-duration histogram buckets."""

RAW_WAIT_BUCKETS: tuple[float, ...] = (0.5, 1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 300)
"""Upper bounds in seconds of the raw-wait histogram buckets."""


class Metrics:
    """The metrics of one worker process, on one registry.

    Parameters
    ----------
    registry : `prometheus_client.CollectorRegistry`
        Where the metrics are registered; it must not already hold them.
    instrument : `str`
        Value of the ``instrument`` label of every series.
    namespace : `str`
        Prefix of every metric name.

    Attributes
    ----------
    registry : `prometheus_client.CollectorRegistry`
        The registry.
    visits : `prometheus_client.Counter`
        ``promptproc_visits_total{instrument, outcome}``.
    visits_in_progress : `prometheus_client.Gauge`
        ``promptproc_visits_in_progress{instrument}``.
    phase_seconds : `prometheus_client.Histogram`
        ``promptproc_phase_duration_seconds{instrument, phase}``.
    raw_wait_seconds : `prometheus_client.Histogram`
        ``promptproc_raw_wait_seconds{instrument}``: from the start of the
        wait to the arrival of the raw.
    alerts : `prometheus_client.Counter`
        ``promptproc_alerts_emitted_total{instrument}``.
    dia_sources : `prometheus_client.Counter`
        ``promptproc_dia_sources_total{instrument}``.
    """

    def __init__(self, registry: CollectorRegistry, instrument: str = "", namespace: str = "promptproc"):
        self.registry = registry
        self.instrument = instrument
        common = {"namespace": namespace, "registry": registry}
        self.visits = Counter("visits", "Visits handled, by outcome.", ["instrument", "outcome"], **common)
        self.visits_in_progress = Gauge(
            "visits_in_progress", "Visits being processed now.", ["instrument"], **common
        )
        self.phase_seconds = Histogram(
            "phase_duration_seconds",
            "Wall-clock seconds spent in each phase of a visit (prepare, wait, ingest, run, export, clean).",
            ["instrument", "phase"],
            buckets=PHASE_BUCKETS,
            **common,
        )
        self.raw_wait_seconds = Histogram(
            "raw_wait_seconds",
            "Seconds from the start of waiting to the arrival of a raw.",
            ["instrument"],
            buckets=RAW_WAIT_BUCKETS,
            **common,
        )
        self.alerts = Counter("alerts_emitted", "Alerts produced.", ["instrument"], **common)
        self.dia_sources = Counter("dia_sources", "DIA sources detected.", ["instrument"], **common)
        # Create every series up front, so that they read 0 before the first visit.
        for outcome in VISIT_OUTCOMES:
            self.visits.labels(instrument=instrument, outcome=outcome)
        for metric in (self.visits_in_progress, self.raw_wait_seconds, self.alerts, self.dia_sources):
            metric.labels(instrument=instrument)

    def record_visit(self, outcome: str) -> None:
        """Count a finished visit.

        Parameters
        ----------
        outcome : `str`
            One of `VISIT_OUTCOMES`.

        Raises
        ------
        ValueError
            Raised if the outcome is not one of `VISIT_OUTCOMES` (so label
            values stay few).
        """
        if outcome not in VISIT_OUTCOMES:
            raise ValueError(
                f"unknown visit outcome {outcome!r}; expected one of {', '.join(VISIT_OUTCOMES)}"
            )
        self.visits.labels(instrument=self.instrument, outcome=outcome).inc()

    def observe_phase(self, phase: str, seconds: float) -> None:
        """Record how long a phase took."""
        self.phase_seconds.labels(instrument=self.instrument, phase=phase).observe(seconds)

    def observe_raw_wait(self, seconds: float) -> None:
        """Record how long a raw took to arrive once the worker waited for it."""
        self.raw_wait_seconds.labels(instrument=self.instrument).observe(seconds)

    def add_alerts(self, count: int) -> None:
        """Count alerts produced."""
        self.alerts.labels(instrument=self.instrument).inc(count)

    def add_dia_sources(self, count: int) -> None:
        """Count DIA sources detected."""
        self.dia_sources.labels(instrument=self.instrument).inc(count)

    @contextmanager
    def track_visit(self) -> Iterator[None]:
        """Count the block as a visit in progress."""
        gauge = self.visits_in_progress.labels(instrument=self.instrument)
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """Render the metrics for a ``/metrics`` response; see `metrics_exposition`."""
        return metrics_exposition(self.registry, accept)


def create_metrics(
    instrument: str = "", *, registry: CollectorRegistry | None = None, namespace: str = "promptproc"
) -> Metrics:
    """Make the metrics of a worker process on a fresh registry.

    Parameters
    ----------
    instrument : `str`
        Value of the ``instrument`` label (``RUBIN_INSTRUMENT``).
    registry : `prometheus_client.CollectorRegistry`, optional
        Registry to use; a new one by default (never the global one).
    namespace : `str`
        Prefix of the metric names.

    Returns
    -------
    metrics : `Metrics`
        The metrics, all at zero.
    """
    return Metrics(registry if registry is not None else CollectorRegistry(), instrument, namespace)


def metrics_exposition(registry: CollectorRegistry, accept: str | None = None) -> tuple[bytes, str]:
    """Render a registry in the Prometheus text format, for an HTTP ``/metrics`` route.

    Parameters
    ----------
    registry : `prometheus_client.CollectorRegistry`
        The registry, e.g. ``Metrics.registry``.
    accept : `str`, optional
        The request's ``Accept`` header; OpenMetrics is used if it asks for it.

    Returns
    -------
    body : `bytes`
        The response body.
    content_type : `str`
        The response's ``Content-Type``.
    """
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


def serve_metrics(
    metrics: Metrics | CollectorRegistry, port: int, address: str = "0.0.0.0"
) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``/metrics`` from a background thread, for workers without an HTTP server.

    Parameters
    ----------
    metrics : `Metrics` or `prometheus_client.CollectorRegistry`
        What to serve.
    port : `int`
        TCP port (``METRICS_PORT``); 0 picks a free one (see
        ``server.server_port``).
    address : `str`
        Address to listen on.

    Returns
    -------
    server : `wsgiref.simple_server.WSGIServer`
        The server; call ``shutdown()`` then ``server_close()`` to stop it.
    thread : `threading.Thread`
        The daemon thread serving requests.
    """
    registry = metrics.registry if isinstance(metrics, Metrics) else metrics
    return start_http_server(port, address, registry=registry)
