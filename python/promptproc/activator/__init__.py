"""The worker: `process_visit`, waiting for raws, outcomes and the delivery drivers.

For now: the visit outcomes and their classification (`errors`) and the
raw wait (`raws`).
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
