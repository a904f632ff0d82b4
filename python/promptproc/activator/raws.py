"""Waiting for a visit's raws: a direct look-up, then bucket notifications until the deadline.

A raw belongs to a worker's visit when its key names the visit's instrument
and detector (``{instrument}/{day_obs}/{obs_id}/{obs_id}_{detector}.fits``,
DESIGN §3.2) and its JSON sidecar's ``GROUPID`` is the visit's ``groupId``.
The key does not carry the group, so the sidecar of every candidate for
this detector is read (once: reads are cached by the `RawWatcher`).

`RawWatcher.wait`:

1. waits (briefly) until the notification source is ready, so that no raw
   can fall between the look-up and the notifications;
2. **direct look-up**: lists ``{instrument}/{day_obs}/`` and reads the
   sidecars of this detector's raws, newest first (at most ``lookup_limit``),
   so a raw that arrived before the wait began is found;
3. consumes notifications until ``expected`` raws arrived or the deadline,
   ignoring other detectors, other groups, sidecars and keys that are not
   raws (logged at debug). A raw whose sidecar is not there yet is retried
   with a short back-off (0.1 s doubling to 2 s), and at once when the
   sidecar's own notification arrives;
4. if raws are still missing at the deadline, looks up once more (a
   notification can be lost; Rubin does the same).

It calls ``check()`` before every poll (at most ``poll_interval`` apart), so
a shutdown request stops the wait within one poll interval.

At the deadline it returns what arrived, possibly nothing, and never raises
for a timeout: the caller decides. An empty result should end the visit
with `~promptproc.activator.errors.NoRawsError` (HTTP 500, not retriable,
as Rubin's "Timed out waiting for images"), since the deadline is over for
any redelivery too; fewer raws than expected should be processed as they are.
"""

from __future__ import annotations

import collections
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..errors import BadInputError, ServiceUnavailableError
from ..instrument import Instrument, RawKey
from ..notifications import NotificationSource, ObjectCreated, decoded_key, is_sidecar_key
from ..objectstore import ObjectNotFoundError, ObjectStore
from ..observability import Metrics
from ..visit import FannedOutVisit
from .errors import Interrupted

__all__ = ["ArrivedRaw", "RawWatcher", "wait_for_raws"]

_log = logging.getLogger(__name__)

Check = Callable[[], object]
"""Cancellation check: raises, or returns true, when the wait must stop."""


@dataclass(frozen=True)
class ArrivedRaw:
    """A raw of the visit, found in the store.

    Parameters
    ----------
    key : `str`
        Object key of the raw.
    exposure_id : `int`
        Exposure ID from the key (``day_obs * 100000 + seq_num``).
    group : `str`
        ``GROUPID`` of its sidecar (the visit's ``groupId``).
    waited : `float`
        Seconds from the start of the wait until the raw was known to have
        arrived (about 0 for one found by the first look-up).
    found_by : {"lookup", "notification"}
        How it was found.
    """

    key: str
    exposure_id: int
    group: str
    waited: float = 0.0
    found_by: Literal["lookup", "notification"] = "lookup"


@dataclass
class _Pending:
    """A raw of this detector whose sidecar could not be read yet."""

    raw: RawKey
    found_by: Literal["lookup", "notification"]
    first_seen: float
    next_try: float
    delay: float
    warned: bool = False


class _Wait:
    """The state of one wait: what was found, what waits for its sidecar."""

    def __init__(self, watcher: RawWatcher, visit: FannedOutVisit, deadline: float, expected: int) -> None:
        self.watcher = watcher
        self.visit = visit
        self.deadline = deadline
        self.expected = expected
        self.start = watcher.clock()
        self.found: dict[int, ArrivedRaw] = {}
        self.pending: dict[str, _Pending] = {}  # by sidecar key
        # Raws of this detector whose sidecar named another group: a rewritten sidecar may change that.
        self.mismatched: dict[str, tuple[RawKey, Literal["lookup", "notification"]]] = {}

    @property
    def done(self) -> bool:
        return len(self.found) >= self.expected

    def consider(self, raw: RawKey, found_by: Literal["lookup", "notification"]) -> None:
        """Match one raw of this detector against the visit's group."""
        if raw.detector != self.visit.detector or raw.exposure_id in self.found:
            return
        now = self.watcher.clock()
        try:
            group = self.watcher.group_of(raw)
        except ObjectNotFoundError:
            self._defer(raw, found_by, now, "not there yet")
            return
        except ServiceUnavailableError as err:
            self._defer(raw, found_by, now, str(err))
            return
        except BadInputError as err:
            self.pending.pop(raw.sidecar_key, None)
            _log.warning("Ignoring raw %s: %s", raw.key, err)
            return
        self.pending.pop(raw.sidecar_key, None)
        if group != self.visit.groupId:
            self.mismatched[raw.sidecar_key] = (raw, found_by)
            _log.debug("Raw %s is for group %s, not %s", raw.key, group, self.visit.groupId)
            return
        arrived = ArrivedRaw(raw.key, raw.exposure_id, group, max(0.0, now - self.start), found_by)
        self.found[raw.exposure_id] = arrived
        _log.info(
            "Raw %s arrived (%s, after %.3f s)",
            raw.key,
            found_by,
            arrived.waited,
            extra={"exposure": raw.exposure_id},
        )

    def _defer(self, raw: RawKey, found_by: Literal["lookup", "notification"], now: float, why: str) -> None:
        entry = self.pending.get(raw.sidecar_key)
        if entry is None:
            delay = self.watcher.sidecar_retry
            entry = _Pending(raw, found_by, now, now + delay, delay)
            self.pending[raw.sidecar_key] = entry
            _log.debug("Sidecar %s of raw %s unreadable (%s); will retry", raw.sidecar_key, raw.key, why)
            return
        entry.delay = min(entry.delay * 2, self.watcher.sidecar_retry_max)
        entry.next_try = now + entry.delay
        if not entry.warned and now - entry.first_seen > self.watcher.sidecar_warn_after:
            entry.warned = True
            _log.warning(
                "Sidecar %s of raw %s still unreadable after %.1f s (%s); still trying",
                raw.sidecar_key,
                raw.key,
                now - entry.first_seen,
                why,
            )

    def retry_due(self) -> None:
        """Try again the sidecars whose back-off has passed."""
        now = self.watcher.clock()
        for entry in [entry for entry in self.pending.values() if entry.next_try <= now]:
            if self.done:
                return
            self.consider(entry.raw, entry.found_by)

    def handle(self, event: ObjectCreated) -> None:
        """Act on one notification."""
        if is_sidecar_key(event.key):
            for key in dict.fromkeys((event.key, decoded_key(event.key))):
                # A new or rewritten sidecar: read it again for a raw that waits for it or did not match.
                self.watcher.forget(key)
                if key in self.pending:
                    self.consider(self.pending[key].raw, self.pending[key].found_by)
                elif key in self.mismatched:
                    self.consider(*self.mismatched.pop(key))
            return
        raw = self.watcher.parse_key(event.key)
        if raw is not None:
            self.consider(raw, "notification")

    def lookup(self) -> None:
        """Find raws of this visit already in the store."""
        prefix = f"{self.visit.instrument}/{self.visit.day_obs}/"
        candidates = []
        for key in self.watcher.store.list(prefix):
            if is_sidecar_key(key):
                continue
            raw = self.watcher.parse_key(key)
            if raw is not None and raw.detector == self.visit.detector:
                candidates.append(raw)
        # Newest first: the visit's raws are almost always the latest of the day's for this detector.
        newest = sorted(candidates, key=lambda raw: raw.key, reverse=True)[: self.watcher.lookup_limit]
        for raw in newest:
            if self.done:
                break
            self.consider(raw, "lookup")

    def next_timeout(self) -> float:
        """How long the next poll may block."""
        now = self.watcher.clock()
        timeout = min(self.watcher.poll_interval, self.deadline - now)
        for entry in self.pending.values():
            timeout = min(timeout, entry.next_try - now)
        return max(timeout, 0.0)


class RawWatcher:
    """Finds the raws of a worker's visits in a store, by look-up and notifications.

    Keep one per worker process: it caches sidecar ``GROUPID`` reads (a
    bounded LRU) across visits, so each visit's look-up reads only new
    sidecars. It is used by one thread at a time.

    Parameters
    ----------
    instrument : `~promptproc.instrument.Instrument`
        The deployment's instrument (parses raw keys).
    store : `~promptproc.objectstore.ObjectStore`
        The raw bucket (``IMAGE_BUCKET``).
    source : `~promptproc.notifications.NotificationSource`
        Notifications of that bucket.
    poll_interval : `float`
        Longest seconds between two cancellation checks.
    ready_timeout : `float`
        Longest seconds to wait for the source to be ready before the
        look-up; if it is not, the wait goes on and relies more on look-ups.
    sidecar_retry, sidecar_retry_max : `float`
        First and longest delay between reads of a missing sidecar.
    sidecar_warn_after : `float`
        Seconds after which a still-missing sidecar is logged as a warning.
    cache_size : `int`
        Sidecars whose ``GROUPID`` is kept.
    lookup_limit : `int`
        The direct look-up checks only this detector's newest raws of the
        day, up to this many: without a limit, a worker with a cold cache
        would read every sidecar of the day while its raw has not arrived yet.
        100 covers a backlog of about an hour of visits.
    metrics : `~promptproc.observability.Metrics`, optional
        Receives the wait of each raw (``raw_wait_seconds``).
    clock : callable
        UTC unix seconds now (as ``deadline``); `time.time` by default.
    """

    def __init__(
        self,
        instrument: Instrument,
        store: ObjectStore,
        source: NotificationSource,
        *,
        poll_interval: float = 0.5,
        ready_timeout: float = 10.0,
        sidecar_retry: float = 0.1,
        sidecar_retry_max: float = 2.0,
        sidecar_warn_after: float = 5.0,
        cache_size: int = 4096,
        lookup_limit: int = 100,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not poll_interval > 0 or not sidecar_retry > 0 or sidecar_retry_max < sidecar_retry:
            raise ValueError(
                "poll_interval and sidecar_retry must be positive, sidecar_retry_max >= sidecar_retry"
            )
        self.instrument = instrument
        self.store = store
        self.source = source
        self.poll_interval = float(poll_interval)
        self.ready_timeout = float(ready_timeout)
        self.sidecar_retry = float(sidecar_retry)
        self.sidecar_retry_max = float(sidecar_retry_max)
        self.sidecar_warn_after = float(sidecar_warn_after)
        self.lookup_limit = int(lookup_limit)
        self.metrics = metrics
        self.clock = clock
        self._cache_size = cache_size
        self._groups: collections.OrderedDict[str, str] = collections.OrderedDict()

    # -- keys and sidecars -----------------------------------------------------------------

    def parse_key(self, key: str) -> RawKey | None:
        """Parse a raw key of this instrument, or return `None` (logged at debug).

        A key that is not a raw key as given is tried URL-decoded, since AWS
        and MinIO notifications encode keys (raw keys have nothing to encode).
        """
        try:
            return self.instrument.parse_raw_key(key)
        except BadInputError as err:
            decoded = decoded_key(key)
            if decoded != key:
                try:
                    return self.instrument.parse_raw_key(decoded)
                except BadInputError:
                    pass
            _log.debug("Not a raw of %s: %s", self.instrument.name, err)
            return None

    def group_of(self, raw: RawKey) -> str:
        """The ``GROUPID`` in a raw's JSON sidecar (cached).

        Raises
        ------
        ObjectNotFoundError
            If the sidecar is not in the store (yet).
        BadInputError
            If the sidecar is not a JSON object with a string ``GROUPID``.
        ServiceUnavailableError
            If the store cannot be reached.
        """
        key = raw.sidecar_key
        group = self._groups.get(key)
        if group is not None:
            self._groups.move_to_end(key)
            return group
        data = self.store.get_bytes(key)
        try:
            document = json.loads(data)
        except ValueError as err:
            raise BadInputError(f"sidecar {key} is not JSON: {err}") from err
        group = document.get("GROUPID") if isinstance(document, dict) else None
        if not isinstance(group, str):
            raise BadInputError(f"sidecar {key} has no GROUPID string")
        self._groups[key] = group
        while len(self._groups) > self._cache_size:
            self._groups.popitem(last=False)
        return group

    def forget(self, sidecar_key: str) -> None:
        """Drop a sidecar from the cache (it was rewritten)."""
        self._groups.pop(sidecar_key, None)

    # -- waiting ---------------------------------------------------------------------------

    @staticmethod
    def _check(check: Check | None) -> None:
        if check is not None and check():
            raise Interrupted("stopped waiting for raws: the worker is shutting down")

    def _wait_ready(self, state: _Wait, check: Check | None) -> None:
        end = min(state.deadline, state.start + self.ready_timeout)
        while not self.source.wait_ready(max(0.0, min(self.poll_interval, end - self.clock()))):
            if self.clock() >= end:
                _log.warning("Raw notifications are not ready; relying on look-ups for raws before now")
                return
            self._check(check)

    def wait(
        self,
        visit: FannedOutVisit,
        deadline: float,
        *,
        expected: int | None = None,
        check: Check | None = None,
    ) -> list[ArrivedRaw]:
        """Wait for a visit's raws; see the module docstring.

        Parameters
        ----------
        visit : `~promptproc.visit.FannedOutVisit`
            The visit; its instrument must be this watcher's.
        deadline : `float`
            UTC unix seconds to stop at (``visit.deadline(IMAGE_TIMEOUT)``).
        expected : `int`, optional
            Raws (distinct exposures) to wait for; ``visit.nimages`` by
            default, or 1 when ``nimages`` is 0 (unknown).
        check : callable, optional
            Called before every poll; it stops the wait by raising, or by
            returning a true value, which raises `Interrupted`.

        Returns
        -------
        raws : `list` [`ArrivedRaw`]
            The raws found, by exposure ID; possibly fewer than ``expected``
            or none if the deadline came first.

        Raises
        ------
        BadInputError
            If the visit is for another instrument or ``expected`` < 1.
        Interrupted
            If ``check`` returned true.
        ServiceUnavailableError, ConfigurationError
            If the first look-up cannot list the store.
        """
        if visit.instrument != self.instrument.name:
            raise BadInputError(
                f"visit is for {visit.instrument!r}, this worker for {self.instrument.name!r}"
            )
        count = (visit.nimages or 1) if expected is None else expected
        if count < 1:
            raise BadInputError(f"expected raws must be at least 1, not {count}")
        state = _Wait(self, visit, deadline, count)
        self._check(check)
        self._wait_ready(state, check)
        state.lookup()
        polled = False
        while not state.done:
            self._check(check)
            if self.clock() >= deadline:
                break
            state.retry_due()
            if state.done:
                break
            for event in self.source.poll(state.next_timeout()):
                state.handle(event)
                if state.done:
                    break
            polled = True
        if not state.done and polled:
            try:
                state.lookup()
            except ServiceUnavailableError as err:
                _log.warning("Final look-up for raws failed: %s", err)
        return self._report(state)

    def _report(self, state: _Wait) -> list[ArrivedRaw]:
        seconds = self.clock() - state.start
        raws = sorted(state.found.values(), key=lambda raw: raw.exposure_id)
        level = logging.INFO if state.done else logging.WARNING
        _log.log(
            level,
            "Waited %.3f s for raws: %d of %d arrived",
            seconds,
            len(raws),
            state.expected,
            extra={"seconds": round(seconds, 3), "raws": len(raws), "expected": state.expected},
        )
        if self.metrics is not None:
            for raw in raws:
                self.metrics.observe_raw_wait(raw.waited)
        return raws


def wait_for_raws(
    visit: FannedOutVisit,
    instrument: Instrument,
    store: ObjectStore,
    source: NotificationSource,
    deadline: float,
    *,
    expected: int | None = None,
    check: Check | None = None,
    clock: Callable[[], float] = time.time,
    poll_interval: float = 0.5,
    metrics: Metrics | None = None,
) -> list[ArrivedRaw]:
    """Wait for a visit's raws with a one-off `RawWatcher` (no sidecar cache across calls).

    Parameters are those of `RawWatcher` and `RawWatcher.wait`; returns the
    raws found, possibly none (see the module docstring for what to do then).
    """
    watcher = RawWatcher(instrument, store, source, poll_interval=poll_interval, metrics=metrics, clock=clock)
    return watcher.wait(visit, deadline, expected=expected, check=check)
