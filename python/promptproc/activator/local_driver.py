"""The in-process driver: next-visit events through a `queue.Queue`, for the embedded default.

`LocalVisitQueue` is the transport (the tester's ``publish`` puts events in,
`close` says no more will come); `run_local` is the driver: it takes one
event at a time, turns it into a `~promptproc.visit.FannedOutVisit` (an
unreadable event becomes an ``InvalidVisit`` result, 400), calls
`~promptproc.activator.process_visit` and hands each `VisitResult` to the
caller.  Like the other drivers it only translates; everything else happens
in `process_visit`.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from typing import Any

from ..visit import FannedOutVisit, InvalidVisitError
from .errors import InvalidVisit
from .process import process_visit
from .result import VisitResult
from .worker import Worker

__all__ = ["LocalVisitQueue", "run_local"]

_LOG = logging.getLogger(__name__)

_CLOSED = object()

Message = FannedOutVisit | Mapping[str, Any] | str | bytes


class LocalVisitQueue:
    """An in-process queue of next-visit events (`~promptproc.visit.FannedOutVisit`, dicts or JSON)."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()
        self._closed = threading.Event()

    def publish(self, message: Message) -> None:
        """Queue one per-detector event; usable as the tester's ``publish``.

        Raises
        ------
        RuntimeError
            If the queue was closed.
        TypeError
            If ``message`` is `None` (which would read as the end of the queue).
        """
        if self._closed.is_set():
            raise RuntimeError("the visit queue is closed")
        if message is None:
            raise TypeError("None is not a visit event")
        self._queue.put(message)

    def close(self) -> None:
        """Say that no more events will come; the driver stops once the queue is empty."""
        if not self._closed.is_set():
            self._closed.set()
            self._queue.put(_CLOSED)

    @property
    def closed(self) -> bool:
        """Whether `close` was called."""
        return self._closed.is_set()

    def pending(self) -> int:
        """Events waiting (approximate)."""
        return max(self._queue.qsize() - (1 if self._closed.is_set() else 0), 0)

    def get(self, timeout: float | None = None) -> Message | None:
        """Take the next event; `None` once closed and drained, or after ``timeout`` seconds.

        Raises
        ------
        queue.Empty
            If ``timeout`` passed with nothing to take (the queue still open).
        """
        item = self._queue.get(timeout=timeout)
        if item is _CLOSED:
            self._queue.put(_CLOSED)  # let other consumers see the end too
            return None
        return item


def _parse(message: Message) -> FannedOutVisit:
    if isinstance(message, FannedOutVisit):
        return message
    if isinstance(message, Mapping):
        return FannedOutVisit.from_dict(message)
    if isinstance(message, str | bytes | bytearray):
        return FannedOutVisit.from_json(message)
    raise InvalidVisitError(f"a visit event must be a JSON object, not {type(message).__name__}", [])


def _rejected(message: Message, error: InvalidVisitError) -> VisitResult:
    fields: Mapping[str, Any] = message if isinstance(message, Mapping) else {}
    detector = fields.get("detector")
    return VisitResult.rejected(
        InvalidVisit(str(error)),
        instrument=str(fields.get("instrument", "")),
        group=str(fields.get("groupId", "")),
        detector=detector if isinstance(detector, int) else -1,
    )


def run_local(
    worker: Worker,
    visits: LocalVisitQueue,
    *,
    on_result: Callable[[VisitResult], None] | None = None,
    idle_timeout: float | None = None,
) -> list[VisitResult]:
    """Process events from an in-process queue until it is closed and empty, or the worker stops.

    Parameters
    ----------
    worker : `Worker`
        The worker.
    visits : `LocalVisitQueue`
        Where events come from.
    on_result : callable, optional
        Called with each result as soon as it is known (progress display).
    idle_timeout : `float`, optional
        Stop after this many seconds without an event
        (``FANNED_OUT_MSG_LISTEN_TIMEOUT``); wait for ever by default.

    Returns
    -------
    results : `list` [`VisitResult`]
        One per event taken, in order.
    """
    results: list[VisitResult] = []
    while not worker.stopping:
        try:
            message = visits.get(timeout=idle_timeout if idle_timeout is not None else 1.0)
        except queue.Empty:
            if idle_timeout is not None:
                _LOG.info("No visit for %.0f s; the local driver stops", idle_timeout)
                break
            continue
        if message is None:
            break
        try:
            visit = _parse(message)
        except InvalidVisitError as err:
            _LOG.error("Rejected an event: %s", err)
            result = _rejected(message, err)
        else:
            result = process_visit(visit, worker)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results
