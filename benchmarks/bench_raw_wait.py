"""Benchmark: latency from a raw's upload to the end of the worker's wait for it.

For each set-up, ``--raws`` times: a worker starts waiting for a new visit
(the wait reaches its poll loop), then the camera side uploads the sidecar
and the raw; the time from the start of the upload to the wait returning is
the latency. Also timed: the upload alone, and a wait for a raw uploaded
before the wait began (the direct look-up, which lists the whole day).

Set-ups:

- ``queue``: `LocalObjectStore` in a temporary directory, whose ``on_put``
  feeds a `QueueNotificationSource` (the embedded default);
- ``kafka``: `S3ObjectStore` on a private moto server, announcing each put
  with a `KafkaNotificationPublisher` to a private tansu broker, read by a
  `KafkaNotificationSource` (the deployment path, minus Ceph).

Examples
--------
``python benchmarks/bench_raw_wait.py``
``python benchmarks/bench_raw_wait.py --raws 20 --size 4194304 --fetch-wait-ms 50``
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["main", "run_setup"]

DAY = 20261121
DETECTOR = 4
START_TAI = datetime.datetime(2026, 11, 22, 3, 0, 10, tzinfo=datetime.UTC).timestamp() + 37.0


def _visit(group: str) -> Any:
    from promptproc.visit import FannedOutVisit

    return FannedOutVisit.from_dict(
        {
            "salIndex": 1,
            "scriptSalIndex": 1,
            "groupId": group,
            "coordinateSystem": 2,
            "position": [150.1, -2.5],
            "startTime": START_TAI,
            "rotationSystem": 2,
            "cameraAngle": 0.0,
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
    )


def _upload(store: Any, instrument: Any, seq: int, group: str, payload: bytes) -> None:
    key = instrument.raw_key(DAY, seq, DETECTOR)
    store.put_bytes(key.sidecar_key, json.dumps({"GROUPID": group, "OBSID": key.obs_id}).encode())
    store.put_bytes(key.key, payload)


def _stats(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return (
        f"median {1000 * statistics.median(ordered):7.1f} ms   p90 {1000 * p90:7.1f} ms   "
        f"max {1000 * ordered[-1]:7.1f} ms"
    )


def run_setup(name: str, store: Any, source: Any, args: argparse.Namespace) -> dict[str, list[float]]:
    """Time ``args.raws`` waits on one store and source; return the latencies in seconds."""
    from promptproc.activator import RawWatcher
    from promptproc.instrument import make_simcam

    instrument = make_simcam(64)
    watcher = RawWatcher(instrument, store, source, poll_interval=0.5)
    if not source.wait_ready(30):
        raise RuntimeError(f"{name}: notification source not ready")
    payload = bytes(args.size)
    latency: list[float] = []
    upload: list[float] = []
    lookup: list[float] = []
    for i in range(args.raws):
        group = f"{name}-{i}"
        done = threading.Event()
        result: dict[str, Any] = {}

        def wait(group: str = group, result: dict[str, Any] = result, done: threading.Event = done) -> None:
            result["raws"] = watcher.wait(_visit(group), time.time() + 30)
            result["returned"] = time.perf_counter()
            done.set()

        thread = threading.Thread(target=wait)
        thread.start()
        time.sleep(args.lead)  # let the wait reach its poll loop
        start = time.perf_counter()
        _upload(store, instrument, 2 * i + 1, group, payload)
        uploaded = time.perf_counter()
        if not done.wait(30):
            raise RuntimeError(f"{name}: wait {i} did not return")
        thread.join()
        if [raw.found_by for raw in result["raws"]] != ["notification"]:
            raise RuntimeError(f"{name}: wait {i} returned {result['raws']}")
        latency.append(result["returned"] - start)
        upload.append(uploaded - start)
        # A raw already there: found by the direct look-up of the (growing) day prefix.
        _upload(store, instrument, 2 * i + 2, group + "-early", payload)
        start = time.perf_counter()
        raws = watcher.wait(_visit(group + "-early"), time.time() + 30)
        lookup.append(time.perf_counter() - start)
        if [raw.found_by for raw in raws] != ["lookup"]:
            raise RuntimeError(f"{name}: look-up {i} returned {raws}")
    print(f"{name:6s} upload -> wait returns   {_stats(latency)}")
    print(f"{name:6s} upload alone            {_stats(upload)}")
    print(
        f"{name:6s} notification only       {_stats([a - b for a, b in zip(latency, upload, strict=True)])}"
    )
    print(f"{name:6s} direct look-up wait     {_stats(lookup)}  (day prefix up to {4 * args.raws} keys)")
    return {"latency": latency, "upload": upload, "lookup": lookup}


@contextlib.contextmanager
def _queue_setup() -> Iterator[tuple[Any, Any]]:
    from promptproc.notifications import QueueNotificationSource
    from promptproc.objectstore import LocalObjectStore

    source = QueueNotificationSource()
    with tempfile.TemporaryDirectory(prefix="bench-raw-wait-") as tmp:
        yield LocalObjectStore(Path(tmp) / "raws", on_put=source.publish), source
    source.close()


@contextlib.contextmanager
def _kafka_setup(args: argparse.Namespace) -> Iterator[tuple[Any, Any]]:
    from promptproc.notifications import KafkaNotificationPublisher, KafkaNotificationSource, ensure_topic
    from promptproc.objectstore import S3ObjectStore
    from promptproc.testing import services

    with services.kafka_service() as kafka, services.s3_service() as s3:
        topic = kafka.topic_name("bench-raws")
        ensure_topic(kafka.bootstrap, topic)
        publisher = KafkaNotificationPublisher(kafka.bootstrap, topic)
        config: dict[str, Any] = {"session.timeout.ms": 6000}
        if args.fetch_wait_ms is not None:
            config["fetch.wait.max.ms"] = args.fetch_wait_ms
        source = KafkaNotificationSource(kafka.bootstrap, topic, config=config)
        store = S3ObjectStore(
            s3.create_bucket("bench-raws"),
            s3.endpoint_url,
            aws_access_key_id=s3.access_key_id,
            aws_secret_access_key=s3.secret_access_key,
            region_name=s3.region,
            on_put=publisher.publish,
        )
        try:
            yield store, source
        finally:
            source.close()
            publisher.close()


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the latencies."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raws", type=int, default=20, help="raws per set-up")
    parser.add_argument("--size", type=int, default=1 << 20, help="bytes per raw")
    parser.add_argument("--lead", type=float, default=0.2, help="seconds the wait runs before the upload")
    parser.add_argument("--setups", default="queue,kafka", help="comma-separated: queue, kafka")
    parser.add_argument(
        "--fetch-wait-ms", type=int, default=None, help="librdkafka fetch.wait.max.ms (default 500)"
    )
    args = parser.parse_args(argv)
    print(f"{args.raws} raws of {args.size} bytes per set-up")
    for name in args.setups.split(","):
        if name == "queue":
            with _queue_setup() as (store, source):
                run_setup("queue", store, source, args)
        elif name == "kafka":
            with _kafka_setup(args) as (store, source):
                run_setup("kafka", store, source, args)
        else:
            parser.error(f"unknown set-up {name!r}")


if __name__ == "__main__":
    main()
