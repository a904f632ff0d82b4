"""Bucket notifications: how a worker learns that a raw arrived.

- `parse_s3_event` reads the S3 event-notification JSON of AWS, Ceph RGW and
  MinIO into `ObjectCreated` items (bad messages are logged and skipped);
  `make_s3_event` builds one.
- `NotificationSource` is the protocol a worker waits on, with three sources:

  ================================  ==============================================================
  `KafkaNotificationSource`          S3 notifications on a Kafka topic (``RAW_NOTIFICATION_SOURCE``
                                     ``kafka``); one consumer group per worker, so every worker sees
                                     every notification
  `QueueNotificationSource`          an in-process queue fed by a
                                     `~promptproc.objectstore.LocalObjectStore`'s ``on_put`` hook
                                     (the embedded default); `LocalNotificationBus` broadcasts to
                                     several
  `PollingNotificationSource`        listings of a store prefix (``poll``)
  ================================  ==============================================================

- `KafkaNotificationPublisher` sends notifications to Kafka, for the tester
  and tests (moto sends none).
"""

from ._events import ObjectCreated, decoded_key, is_sidecar_key, make_s3_event, parse_s3_event
from ._kafka import KafkaNotificationPublisher, KafkaNotificationSource, ensure_topic
from ._polling import PollingNotificationSource
from ._protocol import NotificationSource
from ._queue import LocalNotificationBus, QueueNotificationSource

__all__ = [
    "KafkaNotificationPublisher",
    "KafkaNotificationSource",
    "LocalNotificationBus",
    "NotificationSource",
    "ObjectCreated",
    "PollingNotificationSource",
    "QueueNotificationSource",
    "decoded_key",
    "ensure_topic",
    "is_sidecar_key",
    "make_s3_event",
    "parse_s3_event",
]
