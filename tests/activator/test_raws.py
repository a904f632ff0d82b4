"""Waiting for a visit's raws: look-up, notifications (queue, polling, Kafka), deadline, cancellation."""

from __future__ import annotations

import datetime
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from promptproc.activator import ArrivedRaw, Interrupted, RawWatcher, wait_for_raws
from promptproc.errors import BadInputError
from promptproc.instrument import RawKey, make_simcam
from promptproc.notifications import (
    KafkaNotificationPublisher,
    KafkaNotificationSource,
    NotificationSource,
    PollingNotificationSource,
    QueueNotificationSource,
    ensure_topic,
    make_s3_event,
)
from promptproc.objectstore import LocalObjectStore, ObjectStore, S3ObjectStore
from promptproc.observability import create_metrics
from promptproc.testing import services
from promptproc.visit import FannedOutVisit

SIMCAM = make_simcam(64)
GROUP = "2026-11-22T03:00:00.123"
DAY = 20261121
DETECTOR = 4
START_TAI = datetime.datetime(2026, 11, 22, 3, 0, 10, tzinfo=datetime.UTC).timestamp() + 37.0


def make_visit(**changes: Any) -> FannedOutVisit:
    fields: dict[str, Any] = {
        "salIndex": 1,
        "scriptSalIndex": 100017,
        "groupId": GROUP,
        "coordinateSystem": 2,
        "position": [150.1, -2.5],
        "startTime": START_TAI,
        "rotationSystem": 2,
        "cameraAngle": 12.25,
        "filters": "r",
        "dome": 2,
        "duration": 30.0,
        "nimages": 1,
        "instrument": "SimCam",
        "survey": "WFD",
        "totalCheckpoints": 0,
        "private_sndStamp": START_TAI - 60,
        "detector": DETECTOR,
    }
    fields.update(changes)
    visit = FannedOutVisit.from_dict(fields)
    assert visit.day_obs == DAY
    return visit


def put_raw(
    store: ObjectStore,
    seq: int,
    *,
    detector: int = DETECTOR,
    group: str = GROUP,
    sidecar: bool = True,
    raw: bool = True,
) -> RawKey:
    key = SIMCAM.raw_key(DAY, seq, detector)
    if sidecar:
        document = {"GROUPID": group, "OBSID": key.obs_id, "DAYOBS": DAY, "SEQNUM": seq, "FILTER": "r"}
        store.put_bytes(key.sidecar_key, json.dumps(document).encode())
    if raw:
        store.put_bytes(key.key, b"SIMPLE  =                    T")
    return key


def arrived(key: RawKey, found_by: str) -> tuple[str, int, str, str]:
    return key.key, key.exposure_id, GROUP, found_by


def summary(raws: list[ArrivedRaw]) -> list[tuple[str, int, str, str]]:
    return [(raw.key, raw.exposure_id, raw.group, raw.found_by) for raw in raws]


class Waiter:
    """Runs a wait in a thread and keeps its result or exception and when it returned."""

    def __init__(self, wait: Callable[[], list[ArrivedRaw]]) -> None:
        self.result: list[ArrivedRaw] | None = None
        self.error: BaseException | None = None
        self.returned = 0.0
        self._thread = threading.Thread(target=self._run, args=(wait,), daemon=True)
        self._thread.start()

    def _run(self, wait: Callable[[], list[ArrivedRaw]]) -> None:
        try:
            self.result = wait()
        except BaseException as err:
            self.error = err
        self.returned = time.monotonic()

    def join(self, timeout: float = 15.0) -> list[ArrivedRaw]:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the wait did not return"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


@pytest.fixture
def source() -> Iterator[QueueNotificationSource]:
    source = QueueNotificationSource()
    yield source
    source.close()


@pytest.fixture
def store(tmp_path: Path, source: QueueNotificationSource) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "raws", bucket="rubin-raws", on_put=source.publish)


def watcher(store: ObjectStore, source: NotificationSource, **options: Any) -> RawWatcher:
    return RawWatcher(SIMCAM, store, source, poll_interval=0.2, **options)


# -- look-up -----------------------------------------------------------------------------------


def test_raw_present_before_the_wait_is_found_by_lookup(
    store: LocalObjectStore, source: QueueNotificationSource
) -> None:
    expected = put_raw(store, 41)
    put_raw(store, 42, group="2026-11-22T03:01:00.000")  # newer, same detector, other group
    put_raw(store, 41, detector=5)  # same group, other detector
    put_raw(store, 43, raw=False)  # a sidecar without its raw
    store.put_bytes(f"SimCam/{DAY}/junk.fits", b"")
    start = time.monotonic()
    raws = watcher(store, source).wait(make_visit(), time.time() + 10)
    assert time.monotonic() - start < 1.0
    assert summary(raws) == [arrived(expected, "lookup")]
    assert raws[0].waited < 1.0


def test_sidecars_are_cached_across_waits(tmp_path: Path, source: QueueNotificationSource) -> None:
    reads: list[str] = []

    class CountingStore(LocalObjectStore):
        def get_bytes(self, key: str) -> bytes:
            reads.append(key)
            return super().get_bytes(key)

    store = CountingStore(tmp_path / "raws")
    for seq in range(1, 6):
        put_raw(store, seq, group=f"g{seq}")
    waiting = watcher(store, source)
    assert waiting.wait(make_visit(groupId="g2"), time.time() + 5)[0].group == "g2"
    assert len(reads) == 4  # newest first: seq 5, 4, 3, then 2 matches
    reads.clear()
    assert waiting.wait(make_visit(groupId="g1"), time.time() + 5)[0].group == "g1"
    assert len(reads) == 1  # only seq 1 was never read


def test_lookup_checks_only_the_newest_raws(store: LocalObjectStore, source: QueueNotificationSource) -> None:
    for seq in range(1, 6):
        put_raw(store, seq, group=f"g{seq}")
    assert watcher(store, source, lookup_limit=2).wait(make_visit(groupId="g3"), time.time() - 1) == []
    assert len(watcher(store, source, lookup_limit=3).wait(make_visit(groupId="g3"), time.time() - 1)) == 1


# -- notifications -----------------------------------------------------------------------------


def test_raw_arriving_during_the_wait_via_queue(
    store: LocalObjectStore, source: QueueNotificationSource
) -> None:
    waiter = Waiter(lambda: watcher(store, source).wait(make_visit(), time.time() + 10))
    time.sleep(0.3)
    put_raw(store, 50, detector=3)  # other detector
    put_raw(store, 51, group="other-group")  # other group
    store.put_bytes("Other/thing.fits", b"")  # not a raw key
    source.publish_payload(b"\x00 not a notification")
    source.publish_payload({"Records": [{"eventName": "ObjectCreated:Put"}]})
    uploaded = time.monotonic()
    expected = put_raw(store, 52)
    raws = waiter.join()
    assert summary(raws) == [arrived(expected, "notification")]
    assert waiter.returned - uploaded < 1.0
    assert raws[0].waited >= 0.3


def test_url_encoded_keys_are_matched(tmp_path: Path, source: QueueNotificationSource) -> None:
    silent = LocalObjectStore(tmp_path / "raws")
    waiter = Waiter(lambda: watcher(silent, source).wait(make_visit(), time.time() + 10))
    time.sleep(0.3)
    key = put_raw(silent, 7)
    source.publish_payload(make_s3_event("rubin-raws", key.key.replace("/", "%2F")))  # as MinIO sends it
    assert summary(waiter.join()) == [arrived(key, "notification")]


def test_several_snaps_are_awaited(store: LocalObjectStore, source: QueueNotificationSource) -> None:
    first = put_raw(store, 60)
    waiter = Waiter(lambda: watcher(store, source).wait(make_visit(nimages=2), time.time() + 10))
    time.sleep(0.3)
    assert waiter.result is None
    second = put_raw(store, 61)
    raws = waiter.join()
    assert summary(raws) == [arrived(first, "lookup"), arrived(second, "notification")]


def test_late_sidecar_is_retried(store: LocalObjectStore, source: QueueNotificationSource) -> None:
    waiter = Waiter(lambda: watcher(store, source, sidecar_retry=0.05).wait(make_visit(), time.time() + 10))
    time.sleep(0.2)
    key = put_raw(store, 70, sidecar=False)
    time.sleep(0.6)
    assert waiter.result is None
    put_raw(store, 70, raw=False)
    assert summary(waiter.join()) == [arrived(key, "notification")]


def test_late_sidecar_without_its_own_notification(tmp_path: Path, source: QueueNotificationSource) -> None:
    silent = LocalObjectStore(tmp_path / "raws")
    waiter = Waiter(lambda: watcher(silent, source, sidecar_retry=0.05).wait(make_visit(), time.time() + 10))
    time.sleep(0.2)
    key = put_raw(silent, 71, sidecar=False)
    source.publish(silent.bucket, key.key)
    time.sleep(0.4)
    put_raw(silent, 71, raw=False)  # nobody announces it: found by the back-off retries
    assert summary(waiter.join()) == [arrived(key, "notification")]


def test_rewritten_sidecar_is_read_again(store: LocalObjectStore, source: QueueNotificationSource) -> None:
    key = put_raw(store, 80, group="provisional")
    waiter = Waiter(lambda: watcher(store, source).wait(make_visit(), time.time() + 10))
    time.sleep(0.3)
    assert waiter.result is None
    put_raw(store, 80, raw=False)  # the sidecar now names the visit's group
    assert summary(waiter.join()) == [arrived(key, "notification")]


def test_raw_arriving_during_the_wait_via_polling(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "raws")
    polling = PollingNotificationSource(store, f"SimCam/{DAY}/", interval=0.1)
    waiter = Waiter(lambda: watcher(store, polling).wait(make_visit(), time.time() + 10))
    time.sleep(0.3)
    key = put_raw(store, 90)
    assert summary(waiter.join()) == [arrived(key, "notification")]


def test_missed_notification_is_found_by_the_final_lookup(
    tmp_path: Path, source: QueueNotificationSource
) -> None:
    silent = LocalObjectStore(tmp_path / "raws")
    waiter = Waiter(lambda: watcher(silent, source).wait(make_visit(), time.time() + 0.6))
    time.sleep(0.2)
    key = put_raw(silent, 95)
    assert summary(waiter.join()) == [arrived(key, "lookup")]


# -- deadline and cancellation -----------------------------------------------------------------


def test_deadline_returns_what_arrived(store: LocalObjectStore, source: QueueNotificationSource) -> None:
    metrics = create_metrics("SimCam")
    put_raw(store, 100, group="other-group")
    start = time.monotonic()
    raws = wait_for_raws(make_visit(), SIMCAM, store, source, time.time() + 0.5, metrics=metrics)
    elapsed = time.monotonic() - start
    assert raws == []
    assert 0.45 < elapsed < 1.5
    assert (
        metrics.registry.get_sample_value("promptproc_raw_wait_seconds_count", {"instrument": "SimCam"}) == 0
    )


def test_past_deadline_only_looks_up(store: LocalObjectStore, source: QueueNotificationSource) -> None:
    key = put_raw(store, 101)
    metrics = create_metrics("SimCam")
    start = time.monotonic()
    raws = wait_for_raws(make_visit(nimages=0), SIMCAM, store, source, time.time() - 100, metrics=metrics)
    assert summary(raws) == [arrived(key, "lookup")]
    assert time.monotonic() - start < 0.5
    assert (
        metrics.registry.get_sample_value("promptproc_raw_wait_seconds_count", {"instrument": "SimCam"}) == 1
    )


def test_check_stops_the_wait_within_a_poll_interval(
    store: LocalObjectStore, source: QueueNotificationSource
) -> None:
    stop = threading.Event()
    waiter = Waiter(lambda: watcher(store, source).wait(make_visit(), time.time() + 30, check=stop.is_set))
    time.sleep(0.3)
    stopped = time.monotonic()
    stop.set()
    with pytest.raises(Interrupted, match="shutting down"):
        waiter.join()
    assert waiter.returned - stopped < 0.2 + 0.3  # one poll interval, plus slack


def test_check_may_raise_its_own_exception(store: LocalObjectStore, source: QueueNotificationSource) -> None:
    class ShutdownError(Exception):
        pass

    def check() -> None:
        raise ShutdownError

    with pytest.raises(ShutdownError):
        watcher(store, source).wait(make_visit(), time.time() + 30, check=check)


def test_bad_arguments(store: LocalObjectStore, source: QueueNotificationSource) -> None:
    with pytest.raises(BadInputError, match="LSSTCam"):
        watcher(store, source).wait(make_visit(instrument="LSSTCam"), time.time() + 1)
    with pytest.raises(BadInputError, match="at least 1"):
        watcher(store, source).wait(make_visit(), time.time() + 1, expected=0)


# -- Kafka and S3 ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kafka_topic(kafka: services.KafkaService) -> str:
    topic = kafka.topic_name("raws")
    ensure_topic(kafka.bootstrap, topic)
    return topic


@pytest.fixture(scope="module")
def kafka_source(kafka: services.KafkaService, kafka_topic: str) -> Iterator[KafkaNotificationSource]:
    source = KafkaNotificationSource(kafka.bootstrap, kafka_topic, config={"session.timeout.ms": 6000})
    assert source.wait_ready(30)  # as a worker does once at start-up
    yield source
    source.close()


@pytest.fixture
def s3_store(
    s3: services.S3Service, kafka: services.KafkaService, kafka_topic: str
) -> Iterator[S3ObjectStore]:
    publisher = KafkaNotificationPublisher(kafka.bootstrap, kafka_topic)
    yield S3ObjectStore(s3.create_bucket("raws"), s3.endpoint_url, on_put=publisher.publish)
    publisher.close()


@pytest.mark.services
def test_raws_via_kafka_and_s3(s3_store: S3ObjectStore, kafka_source: KafkaNotificationSource) -> None:
    before = put_raw(s3_store, 200)
    visit = make_visit(nimages=2)
    waiter = Waiter(lambda: watcher(s3_store, kafka_source).wait(visit, time.time() + 20))
    time.sleep(0.5)
    put_raw(s3_store, 201, detector=7)
    put_raw(s3_store, 202, group="other-group")
    during = put_raw(s3_store, 203)
    raws = waiter.join(30)
    assert summary(raws) == [arrived(before, "lookup"), arrived(during, "notification")]
