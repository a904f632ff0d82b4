"""The in-process queue, the broadcast bus and the polling source."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from promptproc.notifications import (
    LocalNotificationBus,
    NotificationSource,
    ObjectCreated,
    PollingNotificationSource,
    QueueNotificationSource,
    make_s3_event,
)
from promptproc.objectstore import LocalObjectStore, ObjectStore, S3ObjectStore
from promptproc.testing import services


def test_queue_source_reports_puts_of_a_local_store(tmp_path: Path) -> None:
    source = QueueNotificationSource()
    assert isinstance(source, NotificationSource)
    store = LocalObjectStore(tmp_path / "raws", bucket="rubin-raws", on_put=source.publish)
    assert source.wait_ready(0)
    store.put_bytes("a/1.fits", b"1")
    store.put_bytes("a/1.json", b"{}")
    assert source.poll(1.0) == [
        ObjectCreated("rubin-raws", "a/1.fits"),
        ObjectCreated("rubin-raws", "a/1.json"),
    ]
    assert source.poll(0) == []


def test_queue_source_parses_raw_messages(tmp_path: Path) -> None:
    source = QueueNotificationSource()
    source.publish_payload("{broken")
    source.publish_payload(make_s3_event("b", "k1"))
    source.publish_payload(
        b'{"Records": [{"eventName": "ObjectCreated:Post", "s3": {"object": {"key": "k2"}}}]}'
    )
    assert source.poll(0) == [ObjectCreated("b", "k1"), ObjectCreated("", "k2")]


def test_queue_source_poll_times_out_and_close_wakes_it() -> None:
    source = QueueNotificationSource()
    start = time.monotonic()
    assert source.poll(0.2) == []
    assert 0.15 < time.monotonic() - start < 1.0
    results: list[list[ObjectCreated]] = []
    poller = threading.Thread(target=lambda: results.append(source.poll(30)))
    poller.start()
    time.sleep(0.1)
    start = time.monotonic()
    source.close()
    poller.join(5)
    assert results == [[]]
    assert time.monotonic() - start < 1.0
    assert not source.wait_ready(0)
    source.close()


def test_bus_broadcasts_to_every_subscriber(tmp_path: Path) -> None:
    bus = LocalNotificationBus()
    first, second = bus.subscribe(), bus.subscribe()
    store = LocalObjectStore(tmp_path / "raws", on_put=bus.publish)
    store.put_bytes("k", b"")
    expected = [ObjectCreated("raws", "k")]
    assert first.poll(1) == expected
    assert second.poll(1) == expected
    second.close()
    store.put_bytes("k2", b"")
    bus.publish_payload("not json")
    assert first.poll(1) == [ObjectCreated("raws", "k2")]
    assert second.poll(0) == []


@pytest.fixture(params=["local", "s3"])
def polled_store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore(tmp_path / "raws")
    s3: services.S3Service = request.getfixturevalue("s3")
    return S3ObjectStore(s3.create_bucket("polling"), s3.endpoint_url)


def test_polling_source_reports_new_keys(polled_store: ObjectStore) -> None:
    store = polled_store
    store.put_bytes("day/old.fits", b"")
    source = PollingNotificationSource(store, "day/", interval=0.2)
    assert isinstance(source, NotificationSource)
    assert source.wait_ready(0)  # baseline: old.fits is not reported
    store.put_bytes("day/new.fits", b"")
    store.put_bytes("other/ignored.fits", b"")
    assert source.poll(0.01) == []  # the interval has not passed
    events: list[ObjectCreated] = []
    deadline = time.monotonic() + 3
    while not events and time.monotonic() < deadline:
        events = source.poll(0.5)
    assert events == [ObjectCreated(store.bucket, "day/new.fits")]
    store.delete("day/new.fits")
    assert source.poll(0.5) == []
    store.put_bytes("day/new.fits", b"again")
    assert source.poll(0.5) == [ObjectCreated(store.bucket, "day/new.fits")]
    source.close()
    assert source.poll(1) == []


def test_polling_source_first_poll_takes_the_baseline(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "raws")
    store.put_bytes("p/a", b"")
    source = PollingNotificationSource(store, "p/", interval=0.05)
    assert source.poll(0) == []
    store.put_bytes("p/b", b"")
    assert source.poll(1) == [ObjectCreated("raws", "p/b")]
    with pytest.raises(ValueError, match="positive"):
        PollingNotificationSource(store, "p/", interval=0)
