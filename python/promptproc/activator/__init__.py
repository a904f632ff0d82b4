"""The worker: `process_visit`, its phases, waiting for raws, outcomes and drivers.

A `Worker` is built once per process from the settings (central repository,
local repository, raw store, notification consumer, APDB, alert sink,
metrics); `process_visit` runs one detector-visit through the phases in
`phases` and returns a `VisitResult`; `errors` holds the outcome classes and
their HTTP statuses; `raws` waits for raws; `local_driver` feeds visits from
an in-process queue (the embedded default).
"""

from .errors import (
    ExpiredVisit,
    IgnorableVisit,
    Interrupted,
    InvalidVisit,
    NonRetriableError,
    NoRawsError,
    RetriableError,
    VisitError,
    classify,
    error_body,
)
from .raws import ArrivedRaw, RawWatcher, wait_for_raws

__all__ = [
    "ArrivedRaw",
    "ExpiredVisit",
    "IgnorableVisit",
    "Interrupted",
    "InvalidVisit",
    "NoRawsError",
    "NonRetriableError",
    "RawWatcher",
    "RetriableError",
    "VisitError",
    "classify",
    "error_body",
    "wait_for_raws",
]

from .local_driver import LocalVisitQueue, run_local
from .process import process_visit
from .result import PHASES, VisitResult
from .worker import Worker

__all__ += ["PHASES", "LocalVisitQueue", "VisitResult", "Worker", "process_visit", "run_local"]
