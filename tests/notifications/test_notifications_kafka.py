"""Bucket notifications through a real Kafka-compatible broker (tansu)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from promptproc.notifications import (
    KafkaNotificationPublisher,
    KafkaNotificationSource,
    NotificationSource,
    ObjectCreated,
    ensure_topic,
)
from promptproc.testing import services

pytestmark = pytest.mark.services

# Short group timeouts, so a test never waits long on the broker.
FAST = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500, "topic.metadata.refresh.interval.ms": 1000}


def collect(source: NotificationSource, count: int, timeout: float = 10.0) -> list[ObjectCreated]:
    events: list[ObjectCreated] = []
    end = time.monotonic() + timeout
    while len(events) < count and time.monotonic() < end:
        events.extend(source.poll(0.5))
    return events


@pytest.fixture(scope="module")
def topic(kafka: services.KafkaService) -> str:
    name = kafka.topic_name("bucket-notifications")
    ensure_topic(kafka.bootstrap, name)
    ensure_topic(kafka.bootstrap, name)  # a second call is harmless
    return name


@pytest.fixture(scope="module")
def publisher(kafka: services.KafkaService, topic: str) -> Iterator[KafkaNotificationPublisher]:
    publisher = KafkaNotificationPublisher(kafka.bootstrap, topic)
    yield publisher
    publisher.close()


@pytest.fixture(scope="module")
def sources(
    kafka: services.KafkaService, topic: str, publisher: KafkaNotificationPublisher
) -> Iterator[list[KafkaNotificationSource]]:
    # Published before any source exists: with offset_reset=latest nobody may see it.
    publisher.publish("rubin-raws", "before/ready.fits")
    made = [KafkaNotificationSource(kafka.bootstrap, topic, "latest", config=FAST) for _ in range(2)]
    try:
        for source in made:
            assert source.wait_ready(30), "the consumer did not join its group"
        yield made
    finally:
        for source in made:
            source.close()


def test_every_source_sees_every_notification(
    sources: list[KafkaNotificationSource], publisher: KafkaNotificationPublisher
) -> None:
    first, second = sources
    assert first.group_id != second.group_id
    assert isinstance(first, NotificationSource)
    publisher.publish("rubin-raws", "a/1.fits")
    publisher.publish_payload(b"{not json")
    publisher.publish("rubin-raws", "a/1.json")
    publisher.publish("rubin-raws", "a/gone.fits", "ObjectRemoved:Delete")
    publisher.publish("rubin-raws", "a/2.fits")
    expected = [ObjectCreated("rubin-raws", key) for key in ("a/1.fits", "a/1.json", "a/2.fits")]
    for source in sources:
        assert collect(source, 3) == expected
        assert source.poll(0.2) == []


def test_ready_source_returns_quickly(sources: list[KafkaNotificationSource]) -> None:
    start = time.monotonic()
    assert sources[0].wait_ready(5)
    assert time.monotonic() - start < 1.0


def test_unreachable_broker_is_not_ready() -> None:
    source = KafkaNotificationSource("127.0.0.1:9", "no-topic", config={"reconnect.backoff.max.ms": 100})
    try:
        start = time.monotonic()
        assert not source.wait_ready(0.5)
        assert source.poll(0.1) == []
        assert time.monotonic() - start < 3
    finally:
        source.close()
    source.close()
    with pytest.raises(RuntimeError, match="closed"):
        source.poll(0)
