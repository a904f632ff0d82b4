"""`VisitResult`: what `process_visit` reports for one detector-visit.

Every delivery driver answers from a `VisitResult` (HTTP status, stream
acknowledgement, the demo's table), so it carries the outcome, the HTTP
status of the outcome, seconds per phase, and what the visit produced and
wrote.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import VisitError, error_body

if TYPE_CHECKING:
    from ..visit import FannedOutVisit

__all__ = ["PHASES", "VisitResult"]

PHASES: tuple[str, ...] = ("prepare", "wait", "ingest", "run", "export", "clean")
"""The phases of a visit, in order (``PhaseTimer`` names)."""


@dataclass
class VisitResult:
    """The outcome of one detector-visit and what it produced.

    Attributes
    ----------
    instrument : `str`
        Instrument of the event.
    group : `str`
        ``groupId`` of the event.
    detector : `int`
        Detector of the event.
    day_obs : `int`
        Observing day of the visit's start (0 when the event could not be read).
    status : `str`
        ``success`` or the outcome label of the error
        (`~promptproc.observability.VISIT_OUTCOMES`).
    http_status : `int`
        Status an HTTP driver answers with (200 for success).
    visit : `int` or `None`
        Visit (exposure) ID, once a raw was ingested.
    exposures : `list` [`int`]
        Exposure IDs of the raws ingested.
    pipeline : `str` or `None`
        Name of the pipeline that ran (``ApPipe``, ``SingleFrame``...).
    phases : `dict` [`str`, `float`]
        Wall-clock seconds of each phase entered, in order.
    dia_sources : `int`
        DIA sources the pipeline measured.
    new_dia_objects : `int`
        DIA objects this visit created (sources matching no known object).
    alerts : `int`
        Alerts sent through the alert sink by this call.
    exported : `int`
        Datasets this call added to the central repository.
    already_exported : `int`
        Datasets found in the central repository already (a redelivery).
    apdb : `str`
        What the APDB store did: ``stored``, ``already stored``,
        ``nothing to store`` or ``not written``.
    output_run : `str` or `None`
        Central run of the outputs.
    error : `str` or `None`
        Class of the outcome error (``NoRawsError``, ``RetriableError``...).
    detail : `str` or `None`
        What went wrong, for the log and the response body.
    retry_after : `float` or `None`
        Seconds before a retry, for a retriable failure.
    exception : `BaseException` or `None`
        The outcome error itself (not serialised).
    """

    instrument: str
    group: str
    detector: int
    day_obs: int = 0
    status: str = "success"
    http_status: int = 200
    visit: int | None = None
    exposures: list[int] = field(default_factory=list)
    pipeline: str | None = None
    phases: dict[str, float] = field(default_factory=dict)
    dia_sources: int = 0
    new_dia_objects: int = 0
    alerts: int = 0
    exported: int = 0
    already_exported: int = 0
    apdb: str = "not written"
    output_run: str | None = None
    error: str | None = None
    detail: str | None = None
    retry_after: float | None = None
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    @classmethod
    def for_visit(cls, visit: FannedOutVisit) -> VisitResult:
        """An empty (successful so far) result for an event."""
        return cls(
            instrument=visit.instrument, group=visit.groupId, detector=visit.detector, day_obs=visit.day_obs
        )

    @classmethod
    def rejected(
        cls, error: VisitError, *, instrument: str = "", group: str = "", detector: int = -1
    ) -> VisitResult:
        """The result of an event that could not even be read (e.g. `InvalidVisit`).

        Parameters
        ----------
        error : `VisitError`
            Why it was rejected.
        instrument, group : `str`, optional
            What could be read of the event.
        detector : `int`, optional
            Detector, if it could be read (-1 otherwise).

        Returns
        -------
        result : `VisitResult`
            A failed result with nothing done.
        """
        result = cls(instrument=instrument, group=group, detector=detector)
        result.fail(error)
        return result

    @property
    def ok(self) -> bool:
        """Whether the visit was processed successfully."""
        return self.status == "success"

    @property
    def total_seconds(self) -> float:
        """Seconds of all phases."""
        return sum(self.phases.values())

    def fail(self, error: VisitError) -> None:
        """Record the outcome error.

        Parameters
        ----------
        error : `VisitError`
            The classified error (see `~promptproc.activator.classify`).
        """
        self.status = error.outcome
        self.http_status = error.http_status
        self.error = type(error).__name__
        self.detail = error_body(error)["detail"]
        self.retry_after = getattr(error, "retry_after", None)
        self.exception = error

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready values (``exception`` left out, phases rounded to ms)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "exception"}
        data["phases"] = {name: round(seconds, 3) for name, seconds in self.phases.items()}
        data["exposures"] = list(self.exposures)
        return data

    def summary(self) -> str:
        """One line for the log."""
        done = (
            f"{self.dia_sources} DIA sources, {self.new_dia_objects} new DIA objects, {self.alerts} alerts, "
            f"{self.exported} datasets exported ({self.already_exported} already there), APDB {self.apdb}"
        )
        head = f"visit {self.visit if self.visit is not None else self.group} detector {self.detector}"
        if self.ok:
            return f"{head}: {self.pipeline} succeeded in {self.total_seconds:.2f} s; {done}"
        return f"{head}: {self.status} ({self.http_status}) {self.error}: {self.detail}"
