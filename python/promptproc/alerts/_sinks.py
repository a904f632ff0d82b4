"""Where alert packets go: Avro files (embedded default) or a Kafka topic.

Both sinks implement `AlertSink`; the worker sees only that protocol.

Exactly-once strategy.  The worker stores a detector-visit's DIA rows in the
APDB (`promptproc.apdb.store_visit`, one transaction) before it hands the
alerts to a sink, and sends them only when that call stored the rows: a
redelivered or retried event finds the detector-visit in the APDB
(``containsVisitDetector``) and sends nothing, so no alert ID reaches the
stream twice.  Within one send, `KafkaAlertSink` uses an idempotent producer
(``enable.idempotence``, ``acks=all``), so the client's own retries after
network errors do not duplicate messages either.  The one gap is a worker
dying after the APDB commit and before the broker confirmed every alert:
those alerts are then lost rather than duplicated (at most once); the
`AlertDeliveryError` of a failed send lets the worker write the packets with a
`FileAlertSink` for a later replay.  `FileAlertSink` is idempotent on its own:
the file of a detector-visit is named after it and replaced whole.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigurationError, ServiceUnavailableError
from ._packet import encode_confluent
from ._schema import AlertSchema, load_alert_schema

__all__ = ["AlertDeliveryError", "AlertSink", "FileAlertSink", "KafkaAlertSink", "alert_file_name"]

_LOG = logging.getLogger(__name__)


class AlertDeliveryError(ServiceUnavailableError):
    """The broker did not confirm every alert of a send.

    Attributes
    ----------
    failed_ids : `list` [`int`]
        ``diaSourceId`` of the alerts that failed or were not confirmed.
    """

    def __init__(self, message: str, failed_ids: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.failed_ids = list(failed_ids)


@runtime_checkable
class AlertSink(Protocol):
    """Something alert packets can be sent to."""

    def send(self, alerts: Sequence[dict[str, Any]]) -> int:
        """Deliver packets; return how many were delivered (all, or raise)."""
        ...

    def close(self) -> None:
        """Release connections and files; sending afterwards is an error."""
        ...


def alert_file_name(visit: int, detector: int) -> str:
    """Return the name of a detector-visit's alert file.

    Parameters
    ----------
    visit, detector : `int`
        The detector-visit.

    Returns
    -------
    name : `str`
        ``{visit}_{detector}.avro``, as Rubin's alert packager names them.
    """
    return f"{int(visit)}_{int(detector)}.avro"


class FileAlertSink:
    """Write alerts as Avro container files, one per detector-visit.

    Parameters
    ----------
    directory : `str` or `os.PathLike`
        Where the files go; created if absent.
    schema : `AlertSchema`, optional
        Schema written into the files; the latest official one by default.

    Notes
    -----
    A file holds the schema and every alert of its detector-visit given to
    one `send`; it is written to a temporary name and renamed into place, so
    a re-run replaces it whole and readers never see half a file.
    """

    def __init__(self, directory: str | os.PathLike[str], *, schema: AlertSchema | None = None) -> None:
        self.directory = Path(directory)
        self.schema = schema if schema is not None else load_alert_schema()
        self._closed = False
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigurationError(f"cannot create the alert directory {self.directory}: {err}") from None

    def __enter__(self) -> FileAlertSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, alerts: Sequence[dict[str, Any]]) -> int:
        """Write the alerts, one file per detector-visit among them.

        Parameters
        ----------
        alerts : `~collections.abc.Sequence` [`dict`]
            Alert packets.

        Returns
        -------
        n : `int`
            Alerts written.
        """
        import fastavro

        if self._closed:
            raise RuntimeError("this FileAlertSink is closed")
        groups: dict[tuple[int, int], list[dict[str, Any]]] = {}
        for alert in alerts:
            source = alert["diaSource"]
            groups.setdefault((int(source["visit"]), int(source["detector"])), []).append(alert)
        for (visit, detector), group in groups.items():
            target = self.directory / alert_file_name(visit, detector)
            handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=self.directory)
            try:
                with os.fdopen(handle, "wb") as stream:
                    fastavro.writer(stream, self.schema.parsed, group)
                os.chmod(temporary, 0o644)
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            _LOG.info("wrote %d alerts to %s", len(group), target)
        return sum(len(group) for group in groups.values())

    def close(self) -> None:
        """Mark the sink closed (files are complete after every `send`)."""
        self._closed = True


class KafkaAlertSink:
    """Produce alerts to a Kafka topic in the Confluent wire format.

    Parameters
    ----------
    bootstrap : `str`
        ``bootstrap.servers``, e.g. ``kafka:9092``.
    topic : `str`
        Alert topic; it must exist.
    schema : `AlertSchema`, optional
        Schema of the packets; the latest official one by default.
    schema_id : `int`, optional
        Schema registry ID written after the magic byte; by default
        ``schema.schema_id`` (Rubin's ``major * 100 + minor``, 1101 for 11.1).
    producer_config : `~collections.abc.Mapping`, optional
        More librdkafka settings (security, compression, batching); they
        override the defaults, except that idempotence cannot be turned off.
    delivery_timeout : `float`, optional
        Seconds the producer may take to deliver one alert, retries
        included, before it counts as failed.

    Notes
    -----
    Each message's key is the alert ID (the ``diaSourceId``) as decimal
    ASCII, so all versions of an alert go to one partition and a compacting
    or de-duplicating consumer can use it.  `send` returns only when the
    broker acknowledged every message (``acks=all``), and raises
    `AlertDeliveryError` otherwise.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        schema: AlertSchema | None = None,
        schema_id: int | None = None,
        producer_config: Mapping[str, Any] | None = None,
        delivery_timeout: float = 30.0,
    ) -> None:
        from confluent_kafka import KafkaException, Producer

        if not bootstrap or not topic:
            raise ConfigurationError("a Kafka alert sink needs a bootstrap server and a topic")
        if delivery_timeout <= 0:
            raise ConfigurationError(f"delivery_timeout must be positive, not {delivery_timeout}")
        self.topic = topic
        self.schema = schema if schema is not None else load_alert_schema()
        self.schema_id = self.schema.schema_id if schema_id is None else int(schema_id)
        if not 0 <= self.schema_id < 2**32:
            raise ConfigurationError(f"schema ID {self.schema_id} does not fit the 4-byte wire-format field")
        self.delivery_timeout = float(delivery_timeout)
        config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "linger.ms": 5,
            "compression.type": "snappy",
            "delivery.timeout.ms": int(delivery_timeout * 1000),
            "message.max.bytes": 4 * 1024 * 1024,
            "logger": logging.getLogger("promptproc.alerts.kafka"),
        }
        config.update(producer_config or {})
        for key in ("enable.idempotence", "acks"):
            if key in config and str(config[key]).lower() not in ("true", "all", "-1"):
                raise ConfigurationError(
                    f"the alert producer needs {key} on (exactly-once); got {config[key]!r}"
                )
        config |= {"enable.idempotence": True, "acks": "all"}
        try:
            self._producer: Any = Producer(config)
        except KafkaException as err:
            raise ConfigurationError(f"invalid Kafka producer settings: {err}") from None
        self._closed = False

    def __enter__(self) -> KafkaAlertSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, alerts: Sequence[dict[str, Any]]) -> int:
        """Produce the alerts and wait until the broker has them all.

        Parameters
        ----------
        alerts : `~collections.abc.Sequence` [`dict`]
            Alert packets.

        Returns
        -------
        n : `int`
            Alerts delivered: all of them.

        Raises
        ------
        AlertDeliveryError
            If any alert was refused or not confirmed in time; the message
            says how many and why, ``failed_ids`` which.
        promptproc.errors.AlertPacketError
            If a packet cannot be encoded (nothing is produced then).
        """
        from confluent_kafka import KafkaError, KafkaException

        if self._closed:
            raise RuntimeError("this KafkaAlertSink is closed")
        messages = [
            (
                str(int(alert["diaSourceId"])).encode("ascii"),
                encode_confluent(alert, self.schema, self.schema_id),
            )
            for alert in alerts
        ]
        failures: dict[int, str] = {}
        delivered: set[int] = set()

        def on_delivery(error: KafkaError | None, message: Any) -> None:
            alert_id = int(message.key())
            if error is None:
                delivered.add(alert_id)
            else:
                failures[alert_id] = error.str()

        for key, value in messages:
            while True:
                try:
                    self._producer.produce(self.topic, value=value, key=key, on_delivery=on_delivery)
                    break
                except BufferError:
                    self._producer.poll(0.1)
                except KafkaException as err:
                    failures[int(key)] = str(err)
                    break
            self._producer.poll(0)
        deadline = time.monotonic() + self.delivery_timeout + 5.0
        remaining = self._producer.flush(self.delivery_timeout + 5.0)
        while remaining and time.monotonic() < deadline:
            remaining = self._producer.flush(max(0.1, deadline - time.monotonic()))
        ids = [int(key) for key, _ in messages]
        unconfirmed = [i for i in ids if i not in delivered and i not in failures]
        if failures or unconfirmed:
            first = next(iter(failures.values()), "no confirmation in time")
            raise AlertDeliveryError(
                f"{len(failures) + len(unconfirmed)} of {len(ids)} alerts were not delivered to topic"
                f" {self.topic}: {first}",
                [i for i in ids if i in failures or i in unconfirmed],
            )
        _LOG.info("produced %d alerts to %s", len(ids), self.topic)
        return len(ids)

    def close(self) -> None:
        """Deliver anything still queued and drop the producer."""
        if self._closed:
            return
        self._closed = True
        remaining = self._producer.flush(self.delivery_timeout)
        if remaining:
            _LOG.warning("%d alert messages were still queued when the Kafka sink closed", remaining)
