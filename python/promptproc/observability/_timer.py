"""`PhaseTimer`: how long each phase of a visit took, logged and kept for the result."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ._context import visit_context

if TYPE_CHECKING:
    from ._metrics import Metrics

__all__ = ["PhaseTimer"]


class PhaseTimer:
    """Time the phases of a visit.

    ``with timer.phase("prepare"): ...`` runs the block with ``phase`` in
    the logging context, then logs one line, ``Phase prepare took 1.234 s``
    (or ``... failed after ...`` if the block raised, the exception going on
    unchanged), with ``seconds`` and ``outcome`` fields, and adds the time to
    `seconds`. A phase entered more than once (e.g. ``wait`` for each snap)
    accumulates.

    Parameters
    ----------
    logger : `logging.Logger` or `str`, optional
        Where the lines go; ``promptproc.timer`` by default.
    level : `int`
        Level of the lines.
    metrics : `~promptproc.observability.Metrics`, optional
        If given, each phase's duration is also observed in its
        ``phase_seconds`` histogram.
    clock : callable, optional
        Monotonic clock in seconds; `time.perf_counter` by default.
    """

    def __init__(
        self,
        logger: logging.Logger | str | None = None,
        *,
        level: int = logging.INFO,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if logger is None or isinstance(logger, str):
            logger = logging.getLogger(logger or "promptproc.timer")
        self._logger = logger
        self._level = level
        self._metrics = metrics
        self._clock = clock
        self._seconds: dict[str, float] = {}
        self._failed: list[str] = []

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a block as the phase ``name``.

        Parameters
        ----------
        name : `str`
            Phase name (``prepare``, ``wait``, ``ingest``, ``run``,
            ``export``, ``clean``, ...).
        """
        with visit_context(phase=name):
            start = self._clock()
            failure: BaseException | None = None
            try:
                yield
            except BaseException as err:
                failure = err
                raise
            finally:
                elapsed = self._clock() - start
                self._seconds[name] = self._seconds.get(name, 0.0) + elapsed
                if self._metrics is not None:
                    self._metrics.observe_phase(name, elapsed)
                if failure is None:
                    self._logger.log(
                        self._level,
                        "Phase %s took %.3f s",
                        name,
                        elapsed,
                        extra={"seconds": round(elapsed, 6), "outcome": "ok"},
                    )
                else:
                    self._failed.append(name)
                    self._logger.log(
                        self._level,
                        "Phase %s failed after %.3f s (%s)",
                        name,
                        elapsed,
                        type(failure).__name__,
                        extra={"seconds": round(elapsed, 6), "outcome": "error"},
                    )

    @property
    def seconds(self) -> dict[str, float]:
        """Seconds spent in each phase so far, in the order phases were first entered (a copy)."""
        return dict(self._seconds)

    @property
    def total(self) -> float:
        """Seconds spent in all phases so far."""
        return sum(self._seconds.values())

    @property
    def failed(self) -> list[str]:
        """Phases whose block raised, in order (a copy)."""
        return list(self._failed)
