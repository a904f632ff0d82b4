"""The protocol every source of bucket notifications implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ._events import ObjectCreated

__all__ = ["NotificationSource"]


@runtime_checkable
class NotificationSource(Protocol):
    """Tells a worker which objects were created in the raw bucket.

    Implemented by `~promptproc.notifications.KafkaNotificationSource` (S3
    bucket notifications on a Kafka topic), `~promptproc.notifications.QueueNotificationSource`
    (an in-process queue fed by a `~promptproc.objectstore.LocalObjectStore`)
    and `~promptproc.notifications.PollingNotificationSource` (listings of the
    store). A worker keeps one source for its lifetime; every source reports
    every object to every worker that holds one (broadcast, not shared work),
    and each worker filters for its own visit. A source is used from one
    thread at a time.
    """

    def wait_ready(self, timeout: float) -> bool:
        """Block until every object created from now on will be reported.

        A worker calls it before its direct look-up of raws that already
        arrived, so that no raw falls between the look-up and the
        notifications (a Kafka consumer must first join its group and fix its
        position).

        Parameters
        ----------
        timeout : `float`
            Longest wait in seconds; 0 only checks.

        Returns
        -------
        ready : `bool`
            `False` if the source was not ready in time (it keeps trying).
        """
        ...

    def poll(self, timeout: float) -> list[ObjectCreated]:
        """Return the objects created since the last call, waiting up to ``timeout`` for one.

        Returns as soon as anything arrived. Malformed notifications are
        logged and skipped, never raised.
        """
        ...

    def close(self) -> None:
        """Release the source's resources; closing twice is harmless."""
        ...
