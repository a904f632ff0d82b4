import urllib.request

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from promptproc.observability import VISIT_OUTCOMES, create_metrics, metrics_exposition, serve_metrics


def test_metrics_appear_with_labels() -> None:
    metrics = create_metrics("SimCam")
    metrics.record_visit("success")
    metrics.record_visit("success")
    metrics.record_visit("retriable")
    metrics.observe_phase("prepare", 1.5)
    metrics.observe_raw_wait(12.0)
    metrics.add_alerts(7)
    metrics.add_dia_sources(31)
    with metrics.track_visit():
        body, content_type = metrics.exposition()
    text = body.decode()
    assert content_type.startswith("text/plain")
    assert 'promptproc_visits_total{instrument="SimCam",outcome="success"} 2.0' in text
    assert 'promptproc_visits_total{instrument="SimCam",outcome="retriable"} 1.0' in text
    assert 'promptproc_visits_total{instrument="SimCam",outcome="expired"} 0.0' in text
    assert 'promptproc_visits_in_progress{instrument="SimCam"} 1.0' in text
    bucket = 'promptproc_phase_duration_seconds_bucket{instrument="SimCam",le="2.5",phase="prepare"} 1.0'
    assert bucket in text
    assert 'promptproc_phase_duration_seconds_count{instrument="SimCam",phase="prepare"} 1.0' in text
    assert 'promptproc_raw_wait_seconds_sum{instrument="SimCam"} 12.0' in text
    assert 'promptproc_alerts_emitted_total{instrument="SimCam"} 7.0' in text
    assert 'promptproc_dia_sources_total{instrument="SimCam"} 31.0' in text
    assert metrics.registry.get_sample_value("promptproc_visits_in_progress", {"instrument": "SimCam"}) == 0


def test_every_outcome_starts_at_zero_and_unknown_ones_are_refused() -> None:
    metrics = create_metrics("SimCam")
    for outcome in VISIT_OUTCOMES:
        labels = {"instrument": "SimCam", "outcome": outcome}
        assert metrics.registry.get_sample_value("promptproc_visits_total", labels) == 0
    with pytest.raises(ValueError, match="unknown visit outcome 'great'"):
        metrics.record_visit("great")


def test_registries_are_separate_and_not_global() -> None:
    first, second = create_metrics("SimCam"), create_metrics("SimCam")
    first.record_visit("failed")
    labels = {"instrument": "SimCam", "outcome": "failed"}
    assert first.registry.get_sample_value("promptproc_visits_total", labels) == 1
    assert second.registry.get_sample_value("promptproc_visits_total", labels) == 0
    assert b"promptproc_" not in generate_latest(REGISTRY)
    registry = CollectorRegistry()
    assert create_metrics(registry=registry).registry is registry


def test_openmetrics_negotiation() -> None:
    metrics = create_metrics("SimCam")
    body, content_type = metrics_exposition(metrics.registry, "application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.decode().rstrip().endswith("# EOF")


def test_serve_metrics() -> None:
    metrics = create_metrics("SimCam")
    metrics.add_alerts(2)
    server, thread = serve_metrics(metrics, 0, "127.0.0.1")
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        assert 'promptproc_alerts_emitted_total{instrument="SimCam"} 2.0' in text
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
