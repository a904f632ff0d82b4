"""`process_visit`: one detector-visit, from its next-visit event to its exported outputs.

Every delivery driver (HTTP, Redis stream, Kafka, in-process queue) ends in
this one function.  In order:

1. **checks**: the event is not older than ``MESSAGE_EXPIRATION``
   (`ExpiredVisit`, 403), it is for this worker's instrument
   (`InvalidVisit`, 400), and a pipeline is configured for it
   (`IgnorableVisit`, 422);
2. **prepare**: preload calibrations, templates and reference catalogs into
   the local repository, write the visit's region and time and run the
   preprocessing pipeline (APDB preload), and find which of the configured
   pipelines can run;
3. **wait** for the raws until ``startTime + duration + IMAGE_TIMEOUT``
   (`NoRawsError`, 500, if none came);
4. **ingest** them, checking their headers against the event;
5. **run** the first configured pipeline whose inputs exist;
6. **export** outputs to the central repository (deterministic IDs), DIA
   rows to the APDB (once per detector-visit), and alerts, only when this
   call stored the APDB rows;
7. **clean** the local repository, always.

Each phase is timed (`~promptproc.observability.PhaseTimer`) and logged
with the visit's context.  Any failure is classified
(`~promptproc.activator.classify`) with whether a non-repeatable external
write already happened, and returned in the `VisitResult`: bad input never
crashes the worker.  A shutdown request (`Worker.request_stop`) or an
exhausted ``WORKER_TIMEOUT`` is seen at the next cooperative check and ends
the visit as retriable (503) when nothing was written yet.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator

from ..observability import PhaseTimer, visit_context
from ..visit import FannedOutVisit
from . import phases
from .errors import ExpiredVisit, InvalidVisit, classify
from .result import VisitResult
from .worker import Worker

__all__ = ["process_visit"]

_LOG = logging.getLogger(__name__)


def _checks(visit: FannedOutVisit, worker: Worker, now: float) -> None:
    settings = worker.settings
    if visit.is_expired(now, settings.message_expiration):
        raise ExpiredVisit(
            f"the event was sent {visit.age(now):.0f} s ago, more than MESSAGE_EXPIRATION "
            f"({settings.message_expiration:g} s)"
        )
    if visit.instrument != worker.instrument:
        raise InvalidVisit(
            f"invalid visit: field 'instrument' is {visit.instrument!r}, but this worker processes "
            f"{worker.instrument!r}"
        )
    try:
        worker.camera.detector(visit.detector)
    except Exception as err:
        raise InvalidVisit(f"invalid visit: field 'detector' is {visit.detector}: {err}") from None


@contextlib.contextmanager
def _tracked(worker: Worker) -> Iterator[None]:
    if worker.metrics is None:
        yield
        return
    with worker.metrics.track_visit():
        yield


def _phases(state: phases.VisitState, timer: PhaseTimer) -> None:
    """Run the phases; the local repository is cleaned whatever happens."""
    phases.select_pipelines(state)
    with contextlib.ExitStack() as stack:
        stack.callback(_clean, state, timer)
        with timer.phase("prepare"):
            phases.prepare(state)
        state.check()
        with timer.phase("wait"):
            phases.wait(state)
        state.check()
        with timer.phase("ingest"):
            phases.ingest(state)
        stack.enter_context(visit_context(visit=state.result.visit))
        state.check()
        with timer.phase("run"):
            phases.run(state)
        state.check()
        with timer.phase("export"):
            phases.export(state)


def _clean(state: phases.VisitState, timer: PhaseTimer) -> None:
    """Clean the local repository; a failure is logged, never raised over the visit's own outcome."""
    try:
        with timer.phase("clean"):
            phases.clean(state)
    except Exception:
        _LOG.exception("Cleaning the local repository failed; the next visit may find leftovers")


def process_visit(
    visit: FannedOutVisit,
    worker: Worker,
    *,
    clock: Callable[[], float] = time.time,
) -> VisitResult:
    """Process one detector-visit; see the module docstring for the steps.

    Parameters
    ----------
    visit : `~promptproc.visit.FannedOutVisit`
        The event, already parsed (a driver turns an unreadable event into
        an `InvalidVisit` result itself).
    worker : `Worker`
        The worker process's long-lived parts.
    clock : callable, optional
        UTC unix seconds now (expiry and ``WORKER_TIMEOUT``).

    Returns
    -------
    result : `VisitResult`
        The outcome (``status``, ``http_status``, ``error``, ``detail``),
        seconds per phase and what was produced and written.  Only
        `BaseException` that is not an `Exception` (``KeyboardInterrupt``,
        ``SystemExit``) propagates, after the clean-up.
    """
    started = clock()
    result = VisitResult.for_visit(visit)
    timer = PhaseTimer(metrics=worker.metrics)
    state = phases.VisitState(visit, worker, phases.make_check(worker, started, clock), result)
    with visit_context(**visit.log_fields()), _tracked(worker):
        _LOG.info("Processing %s detector %d", visit.groupId, visit.detector)
        try:
            _checks(visit, worker, started)
            _phases(state, timer)
        except Exception as exc:
            result.fail(classify(exc, state.external_writes_done))
        finally:
            result.phases = timer.seconds
            worker.visits_done += 1
        _report(result, worker)
    return result


def _report(result: VisitResult, worker: Worker) -> None:
    if worker.metrics is not None:
        worker.metrics.record_visit(result.status)
    if result.ok:
        _LOG.info(
            result.summary(), extra={"outcome": result.status, "seconds": round(result.total_seconds, 3)}
        )
        return
    exc = result.exception
    cause = exc.__cause__ if exc is not None else None
    level = logging.WARNING if result.http_status in (403, 422, 503) else logging.ERROR
    _LOG.log(
        level,
        result.summary(),
        exc_info=cause if level == logging.ERROR and cause is not None and not _expected(cause) else None,
        extra={"outcome": result.status, "http_status": result.http_status},
    )


def _expected(exc: BaseException) -> bool:
    """Whether an error is a known kind (bad input, configuration, service), not worth a traceback."""
    from ..errors import PromptprocError

    return isinstance(exc, PromptprocError)
