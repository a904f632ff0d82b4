"""Bucket notifications on Kafka: `KafkaNotificationSource` and `KafkaNotificationPublisher`.

Ceph RGW (and MinIO, and AWS through a bridge) publish S3 event notifications
of the raw bucket to a Kafka topic (``BUCKET_TOPIC``). Every worker must see
every notification, since only the worker of a visit's detector knows which
raw it waits for: so, as Rubin does, each `KafkaNotificationSource` joins a
consumer group of its own (a random ``group.id``). The topic is then read
once per worker; each worker drops what is not for its visit.

Unlike Rubin, which subscribes for each visit and so pays a group join (a
few seconds) per visit, a worker keeps one source for its lifetime; the
group stays joined between visits and the notifications that arrive
meanwhile are read and dropped at the next wait.

confluent-kafka is imported only when a Kafka class is used.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any, Literal

from ..errors import ConfigurationError, ServiceUnavailableError
from ._events import ObjectCreated, make_s3_event, parse_s3_event

__all__ = ["KafkaNotificationPublisher", "KafkaNotificationSource", "ensure_topic"]

_log = logging.getLogger(__name__)

# A consumer that is not polled for this long is dropped from its group by librdkafka;
# a worker may idle for hours between visits, so allow the maximum (24 h).
_MAX_POLL_INTERVAL_MS = 86_400_000


def _confluent() -> Any:
    try:
        import confluent_kafka
    except ImportError as err:  # pragma: no cover - depends on the installation
        raise ConfigurationError("Kafka bucket notifications need the confluent-kafka package") from err
    return confluent_kafka


def ensure_topic(bootstrap: str, topic: str, *, partitions: int = 1, timeout: float = 10.0) -> None:
    """Create a topic if it does not exist yet (for tests, the tester and local set-ups).

    Parameters
    ----------
    bootstrap : `str`
        Kafka bootstrap servers.
    topic : `str`
        Topic name.
    partitions : `int`
        Partitions of a new topic.
    timeout : `float`
        Seconds to wait for the broker.

    Raises
    ------
    ServiceUnavailableError
        If the broker cannot be reached or refuses to create the topic.
    """
    ck = _confluent()
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        if topic in admin.list_topics(timeout=timeout).topics:
            return
        future = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[
            topic
        ]
        future.result(timeout=timeout)
    except ck.KafkaException as err:
        if err.args and getattr(err.args[0], "code", lambda: None)() == ck.KafkaError.TOPIC_ALREADY_EXISTS:
            return
        raise ServiceUnavailableError(f"cannot create Kafka topic {topic!r} on {bootstrap}: {err}") from err


class KafkaNotificationSource:
    """S3 bucket notifications read from a Kafka topic.

    Subscribes at once; the group join completes during `wait_ready` or the
    first `poll`. With the default random group and ``offset_reset="latest"``,
    the consumer starts at the end of each partition *as of the assignment*
    (the high watermark is read then), so once `wait_ready` returned `True`
    no later notification is missed.

    Parameters
    ----------
    bootstrap : `str`
        Kafka bootstrap servers (``KAFKA_CLUSTER``).
    topic : `str`
        Topic of the bucket notifications (``BUCKET_TOPIC``).
    offset_reset : {"latest", "earliest"}
        Where to start without a committed offset
        (``BUCKET_NOTIFICATION_KAFKA_OFFSET_RESET``).
    group_id : `str`, optional
        Consumer group. Leave unset: the default, ``promptproc-raws-{uuid4}``,
        is unique to this source, so that every worker sees every
        notification. Workers sharing a group would split the notifications
        between them and miss raws.
    config : `~collections.abc.Mapping`, optional
        Extra librdkafka settings (e.g. ``session.timeout.ms``); they win.
    max_batch : `int`
        Most messages read per `poll`.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        offset_reset: Literal["latest", "earliest"] = "latest",
        group_id: str | None = None,
        *,
        config: Mapping[str, Any] | None = None,
        max_batch: int = 500,
    ) -> None:
        ck = _confluent()
        if offset_reset not in ("latest", "earliest"):
            raise ConfigurationError(f"offset_reset must be 'latest' or 'earliest', not {offset_reset!r}")
        self._ck = ck
        self._topic = topic
        self._offset_reset = offset_reset
        self._own_group = group_id is None
        self.group_id = group_id or f"promptproc-raws-{uuid.uuid4()}"
        self._max_batch = max_batch
        self._buffer: list[ObjectCreated] = []
        self._ready = threading.Event()
        self._closed = False
        settings: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "group.id": self.group_id,
            "auto.offset.reset": offset_reset,
            # Offsets of a group nobody will join again are not worth committing.
            "enable.auto.commit": not self._own_group,
            "max.poll.interval.ms": _MAX_POLL_INTERVAL_MS,
            "error_cb": self._on_error,
        }
        settings.update(config or {})
        try:
            self._consumer = ck.Consumer(settings)
            self._consumer.subscribe(
                [topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke
            )
        except (ck.KafkaException, ValueError, TypeError) as err:
            raise ConfigurationError(f"cannot consume Kafka topic {topic!r} from {bootstrap}: {err}") from err

    def __repr__(self) -> str:
        return f"KafkaNotificationSource(topic={self._topic!r}, group_id={self.group_id!r})"

    @property
    def topic(self) -> str:
        """The topic read."""
        return self._topic

    # -- librdkafka callbacks (run inside poll) -------------------------------------------

    def _on_error(self, error: Any) -> None:
        _log.warning("Kafka bucket-notification consumer: %s", error)

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        if self._own_group and self._offset_reset == "latest":
            for partition in partitions:
                try:
                    _, high = consumer.get_watermark_offsets(partition, timeout=10.0, cached=False)
                except self._ck.KafkaException as err:
                    _log.warning("Cannot read the end offset of %s: %s", partition, err)
                    continue
                partition.offset = high
        consumer.assign(partitions)
        if partitions:
            self._ready.set()
        _log.debug("Bucket notifications: assigned %s", partitions)

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        self._ready.clear()
        level = logging.DEBUG if self._closed else logging.INFO
        _log.log(level, "Bucket notifications: partitions revoked or lost: %s", partitions)

    # -- reading ---------------------------------------------------------------------------

    def _parse(self, messages: list[Any]) -> list[ObjectCreated]:
        events: list[ObjectCreated] = []
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() != self._ck.KafkaError._PARTITION_EOF:
                    _log.warning("Skipping a Kafka bucket-notification error: %s", error)
                continue
            events.extend(parse_s3_event(message.value()))
        return events

    def _read(self, timeout: float) -> list[ObjectCreated]:
        if self._closed:
            raise RuntimeError("the Kafka notification source is closed")
        first = self._consumer.poll(max(timeout, 0.0))
        if first is None:
            return []
        messages = [first, *self._consumer.consume(num_messages=self._max_batch, timeout=0)]
        return self._parse(messages)

    def wait_ready(self, timeout: float) -> bool:
        """Poll until the group is joined and the positions are fixed; see `NotificationSource`."""
        end = time.monotonic() + timeout
        while True:
            # Always poll once: that runs pending rebalance callbacks, which may clear readiness.
            self._buffer.extend(self._read(0.0 if self._ready.is_set() else min(0.1, max(timeout, 0.0))))
            remaining = end - time.monotonic()
            if self._ready.is_set() or remaining <= 0:
                return self._ready.is_set()

    def poll(self, timeout: float) -> list[ObjectCreated]:
        """Return the objects announced since the last call, waiting up to ``timeout`` s for one."""
        if self._buffer:
            events, self._buffer = self._buffer, []
            return events + self._read(0.0)
        return self._read(timeout)

    def close(self) -> None:
        """Leave the group and close the consumer."""
        if not self._closed:
            self._closed = True
            self._ready.clear()
            self._consumer.close()


class KafkaNotificationPublisher:
    """Publishes S3 event notifications to a Kafka topic, as Ceph RGW does.

    For the tester and the integration tests: moto stores objects but sends
    no notifications, so the uploader announces each object itself. Its
    `publish` fits the ``on_put`` hook of the object stores.

    Parameters
    ----------
    bootstrap : `str`
        Kafka bootstrap servers.
    topic : `str`
        Topic of the bucket notifications.
    config : `~collections.abc.Mapping`, optional
        Extra librdkafka producer settings.
    """

    def __init__(self, bootstrap: str, topic: str, *, config: Mapping[str, Any] | None = None) -> None:
        ck = _confluent()
        self._topic = topic
        self._failures: list[str] = []
        settings: dict[str, Any] = {"bootstrap.servers": bootstrap, "linger.ms": 0}
        settings.update(config or {})
        try:
            self._producer: Any = ck.Producer(settings)
        except (ck.KafkaException, ValueError, TypeError) as err:
            raise ConfigurationError(
                f"cannot produce to Kafka topic {topic!r} on {bootstrap}: {err}"
            ) from err

    def _delivered(self, error: Any, message: Any) -> None:
        if error is not None:
            self._failures.append(str(error))

    def publish(
        self, bucket: str, key: str, event_name: str = "ObjectCreated:Put", *, wait: bool = True
    ) -> None:
        """Publish the notification of one object (see `make_s3_event`).

        Parameters
        ----------
        bucket, key : `str`
            The object.
        event_name : `str`
            Event type.
        wait : `bool`
            Wait until the broker has the message (`flush`).

        Raises
        ------
        ServiceUnavailableError
            If ``wait`` and the message could not be delivered.
        """
        message = json.dumps(make_s3_event(bucket, key, event_name)).encode()
        self.publish_payload(message, key=key, wait=wait)

    def publish_payload(self, payload: str | bytes, *, key: str | None = None, wait: bool = True) -> None:
        """Publish any message, e.g. a malformed one for tests."""
        if self._producer is None:
            raise RuntimeError("the Kafka notification publisher is closed")
        value = payload.encode() if isinstance(payload, str) else payload
        try:
            self._producer.produce(self._topic, value=value, key=key, on_delivery=self._delivered)
        except BufferError:
            self.flush()
            self._producer.produce(self._topic, value=value, key=key, on_delivery=self._delivered)
        self._producer.poll(0)
        if wait:
            self.flush()

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every published message is delivered.

        Raises
        ------
        ServiceUnavailableError
            If some were not delivered within ``timeout`` or were refused.
        """
        if self._producer is None:
            return
        left = self._producer.flush(timeout)
        if left:
            raise ServiceUnavailableError(
                f"{left} bucket notification(s) not delivered to Kafka topic {self._topic!r} in {timeout} s"
            )
        if self._failures:
            failures, self._failures = self._failures, []
            raise ServiceUnavailableError(
                f"bucket notification(s) refused by Kafka topic {self._topic!r}: {'; '.join(failures)}"
            )

    def close(self) -> None:
        """Deliver what is pending and release the producer; closing twice is harmless."""
        try:
            self.flush()
        finally:
            self._producer = None
