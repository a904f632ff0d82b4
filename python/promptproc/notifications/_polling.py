"""`PollingNotificationSource`: notifications from periodic listings of a store.

For stores without bucket notifications (``RAW_NOTIFICATION_SOURCE=poll``):
every ``interval`` seconds the prefix is listed and keys not seen in the
previous listing are reported. Each listing costs one request per 1000 keys,
so keep the prefix narrow (a day of one instrument) and the interval at a
second or more.
"""

from __future__ import annotations

import logging
import threading
import time

from ..errors import ServiceUnavailableError
from ..objectstore import ObjectStore
from ._events import ObjectCreated

__all__ = ["PollingNotificationSource"]

_log = logging.getLogger(__name__)


class PollingNotificationSource:
    """Reports keys that appear under a prefix of a store, by listing it.

    The first listing (in `wait_ready`, or the first `poll`) is the baseline:
    objects already there are not reported (a worker finds them with its
    direct look-up). A key deleted and created again is reported again.

    Parameters
    ----------
    store : `~promptproc.objectstore.ObjectStore`
        The store to list.
    prefix : `str`
        Key prefix to list, e.g. ``SimCam/20261121/``.
    interval : `float`
        Seconds between listings (``RAW_POLL_INTERVAL``).
    """

    def __init__(self, store: ObjectStore, prefix: str, interval: float = 1.0) -> None:
        if not interval > 0:
            raise ValueError(f"polling interval must be positive, not {interval!r}")
        self._store = store
        self._prefix = prefix
        self._interval = float(interval)
        self._seen: set[str] | None = None
        self._next_listing = 0.0
        self._closed = threading.Event()

    @property
    def prefix(self) -> str:
        """The listed prefix."""
        return self._prefix

    def _list(self) -> list[str] | None:
        self._next_listing = time.monotonic() + self._interval
        try:
            return self._store.list(self._prefix)
        except ServiceUnavailableError as err:
            _log.warning("Could not list %s for new objects: %s", self._prefix, err)
            return None

    def wait_ready(self, timeout: float) -> bool:
        """Take the baseline listing if not done yet; ready once it exists."""
        if self._seen is None:
            keys = self._list()
            if keys is not None:
                self._seen = set(keys)
        return self._seen is not None

    def poll(self, timeout: float) -> list[ObjectCreated]:
        """List the prefix when the interval has passed (waiting up to ``timeout``) and report new keys."""
        if self._closed.is_set():
            return []
        if self._seen is None:
            self.wait_ready(0.0)
            return []
        delay = self._next_listing - time.monotonic()
        if delay > timeout:
            self._closed.wait(max(timeout, 0.0))
            return []
        if delay > 0 and self._closed.wait(delay):
            return []
        keys = self._list()
        if keys is None:
            return []
        new = [key for key in keys if key not in self._seen]
        self._seen = set(keys)
        return [ObjectCreated(bucket=self._store.bucket, key=key) for key in new]

    def close(self) -> None:
        """Stop polling; a `poll` waiting in another thread returns at once."""
        self._closed.set()
