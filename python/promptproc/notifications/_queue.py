"""In-process notifications: `QueueNotificationSource` and `LocalNotificationBus`.

The embedded default keeps raws in a `~promptproc.objectstore.LocalObjectStore`,
which has no bucket notifications; its ``on_put`` hook publishes each put
instead. With one waiting worker, pass ``on_put=source.publish``; with
several workers in one process, pass ``on_put=bus.publish`` and give each
worker ``bus.subscribe()``, so that each one sees every notification, as
with Kafka.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping
from typing import Any

from ._events import ObjectCreated, parse_s3_event

__all__ = ["LocalNotificationBus", "QueueNotificationSource"]

_WAKE_UP = object()


class QueueNotificationSource:
    """Notifications through an in-process `queue.Queue`.

    Parameters
    ----------
    notification_queue : `queue.Queue`, optional
        Queue to read; a new unbounded one by default. It may hold
        `ObjectCreated` items or raw S3 event messages (JSON text or dict),
        which are parsed like Kafka messages.
    on_close : callable, optional
        Called with the source when it is closed (used by `LocalNotificationBus`).
    """

    def __init__(
        self,
        notification_queue: queue.Queue[Any] | None = None,
        *,
        on_close: Callable[[QueueNotificationSource], None] | None = None,
    ) -> None:
        self._queue: queue.Queue[Any] = (
            notification_queue if notification_queue is not None else queue.Queue()
        )
        self._on_close = on_close
        self._closed = threading.Event()

    @property
    def notification_queue(self) -> queue.Queue[Any]:
        """The queue read by `poll`."""
        return self._queue

    def publish(self, bucket: str, key: str) -> None:
        """Announce that an object was created; usable as a store's ``on_put`` hook."""
        self._queue.put(ObjectCreated(bucket=bucket, key=key))

    def publish_payload(self, payload: str | bytes | Mapping[str, Any]) -> None:
        """Queue a raw S3 event message, parsed when polled (malformed ones are skipped)."""
        self._queue.put(payload)

    def wait_ready(self, timeout: float) -> bool:
        """Always ready: everything published from now on is queued."""
        return not self._closed.is_set()

    def poll(self, timeout: float) -> list[ObjectCreated]:
        """Return what was published since the last call, waiting up to ``timeout`` s for the first."""
        if self._closed.is_set():
            return []
        items: list[Any] = []
        try:
            items.append(self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait())
            while True:
                items.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        events: list[ObjectCreated] = []
        for item in items:
            if isinstance(item, ObjectCreated):
                events.append(item)
            elif item is not _WAKE_UP:
                events.extend(parse_s3_event(item))
        return events

    def close(self) -> None:
        """Stop the source; a `poll` blocked in another thread returns at once."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._queue.put(_WAKE_UP)
        if self._on_close is not None:
            self._on_close(self)


class LocalNotificationBus:
    """Broadcasts in-process notifications to every subscribed `QueueNotificationSource`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[QueueNotificationSource] = []

    def subscribe(self) -> QueueNotificationSource:
        """Return a new source that receives everything published from now on until it is closed."""
        source = QueueNotificationSource(on_close=self._unsubscribe)
        with self._lock:
            self._subscribers.append(source)
        return source

    def _unsubscribe(self, source: QueueNotificationSource) -> None:
        with self._lock:
            if source in self._subscribers:
                self._subscribers.remove(source)

    def _subscribers_now(self) -> list[QueueNotificationSource]:
        with self._lock:
            return list(self._subscribers)

    def publish(self, bucket: str, key: str) -> None:
        """Announce an object to every subscriber; usable as a store's ``on_put`` hook."""
        for source in self._subscribers_now():
            source.publish(bucket, key)

    def publish_payload(self, payload: str | bytes | Mapping[str, Any]) -> None:
        """Send a raw S3 event message to every subscriber."""
        for source in self._subscribers_now():
            source.publish_payload(payload)
