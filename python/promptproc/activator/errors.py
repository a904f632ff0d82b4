"""How a visit can fail, what each failure means to the sender, and how to classify any exception.

Every driver answers from the same five outcomes (DESIGN §3.1, §4):

=====================  ======  ===========  ====================================================
class                  HTTP    metric       meaning
=====================  ======  ===========  ====================================================
`InvalidVisit`         400     invalid      the event is malformed; the detail names the field
`ExpiredVisit`         403     expired      the event is too old to be worth processing
`IgnorableVisit`       422     ignored      nothing to run for this visit (e.g. no pipeline)
`RetriableError`       503     retriable    transient failure, nothing irreversible done:
                                            send the visit again (``Retry-After``)
`NonRetriableError`    500     failed       failure after which a retry is unsafe or useless:
                                            do not send the visit again
=====================  ======  ===========  ====================================================

`classify` turns any other exception into one of them; `error_body` makes
the JSON body of a non-200 answer.

Retry rules (`classify`), in order:

1. The five classes above pass through, except that a `RetriableError`
   raised after external writes becomes a `NonRetriableError`.
2. `~promptproc.visit.InvalidVisitError` (a bad event field) is `InvalidVisit`.
3. After an external write for this visit (``external_writes_done``:
   APDB rows, central-repository datasets or alerts that a second run could
   duplicate), every failure is `NonRetriableError`. Writes that are
   idempotent (deterministic dataset and DIA IDs, checked with
   ``containsVisitDetector``) do not count: the caller passes `False` for them.
4. Before any external write, a failure is retriable (`RetriableError`),
   because redelivery cannot duplicate anything, except failures certain
   to recur, which are `NonRetriableError`: bad input
   (`~promptproc.errors.BadInputError`), bad configuration
   (`~promptproc.errors.ConfigurationError`) and programming errors
   (`TypeError`, `AttributeError`, `NameError`, `ImportError`,
   `NotImplementedError`, `AssertionError`).
   So `~promptproc.errors.ServiceUnavailableError`, `OSError`, `MemoryError`,
   `Interrupted` (shutdown or the visit's time ran out) and unknown errors
   are retriable.

A visit whose raws never arrived ends in `NoRawsError`, a
`NonRetriableError` (500), as in Rubin: its deadline has passed, so a
redelivered visit would only find the same absence, and the usual cause is
an exposure the observatory cancelled.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import BadInputError, ConfigurationError, PromptprocError
from ..visit import InvalidVisitError

__all__ = [
    "ExpiredVisit",
    "IgnorableVisit",
    "Interrupted",
    "InvalidVisit",
    "NoRawsError",
    "NonRetriableError",
    "RetriableError",
    "VisitError",
    "classify",
    "error_body",
]

_CERTAIN_TO_RECUR: tuple[type[BaseException], ...] = (
    BadInputError,
    ConfigurationError,
    TypeError,
    AttributeError,
    NameError,
    ImportError,
    NotImplementedError,
    AssertionError,
)


class VisitError(PromptprocError):
    """A visit's final outcome other than success; base of the five outcome classes.

    Attributes
    ----------
    http_status : `int`
        Status of the HTTP answer.
    outcome : `str`
        Label of the ``promptproc_visits_total`` metric
        (`~promptproc.observability.VISIT_OUTCOMES`).
    """

    http_status: ClassVar[int] = 500
    outcome: ClassVar[str] = "failed"

    @property
    def nested(self) -> BaseException | None:
        """The exception this one was raised from, if any."""
        return self.__cause__ or self.__context__


class InvalidVisit(VisitError):  # noqa: N818 - DESIGN §4 names
    """HTTP 400: the next-visit event is malformed (a field is missing, mistyped or out of range).

    Sending the same event again cannot succeed.
    """

    http_status = 400
    outcome = "invalid"


class ExpiredVisit(VisitError):  # noqa: N818 - DESIGN §4 names
    """HTTP 403: the event is older than ``MESSAGE_EXPIRATION``, so processing it is pointless."""

    http_status = 403
    outcome = "expired"


class IgnorableVisit(VisitError):  # noqa: N818 - DESIGN §4 names
    """HTTP 422: the visit is valid but there is nothing to run for it (e.g. no pipeline configured)."""

    http_status = 422
    outcome = "ignored"


class RetriableError(VisitError):
    """HTTP 503: a transient failure before anything irreversible was written; send the visit again.

    Parameters
    ----------
    message : `str`
        What failed.
    retry_after : `float`
        Seconds the sender should wait before retrying (``Retry-After``).
    """

    http_status = 503
    outcome = "retriable"
    DEFAULT_RETRY_AFTER: ClassVar[float] = 30.0

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = self.DEFAULT_RETRY_AFTER if retry_after is None else float(retry_after)


class NonRetriableError(VisitError):
    """HTTP 500: the visit failed and must not be sent again.

    Either the APDB, alerts or the central repository may already hold
    outputs of this visit (a retry could duplicate or contradict them), or
    the failure is certain to recur.
    """

    http_status = 500
    outcome = "failed"


class NoRawsError(NonRetriableError):
    """HTTP 500: no raw for this visit and detector arrived before the visit's deadline.

    Not retriable: the deadline has passed, and the usual cause is an
    exposure that was cancelled after its next-visit event.
    """


class Interrupted(PromptprocError):  # noqa: N818 - an event, named like the outcome classes
    """The visit was abandoned at a cooperative check: shutdown requested or its time ran out.

    Not an outcome by itself: `classify` makes it a `RetriableError` (503, so
    the visit is redelivered to another worker) before external writes, a
    `NonRetriableError` after.
    """


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def classify(exc: BaseException, external_writes_done: bool) -> VisitError:
    """Map any exception to the outcome a driver reports; see the module docstring for the rules.

    Parameters
    ----------
    exc : `BaseException`
        What ended the visit.
    external_writes_done : `bool`
        Whether a non-idempotent write for this visit may have reached the
        APDB, the central repository or the alert stream.

    Returns
    -------
    error : `VisitError`
        ``exc`` itself when it already is the right outcome, else a new
        error whose ``__cause__`` is ``exc``.
    """
    if isinstance(exc, InvalidVisit | ExpiredVisit | IgnorableVisit | NonRetriableError):
        return exc
    if isinstance(exc, RetriableError) and not external_writes_done:
        return exc
    if isinstance(exc, InvalidVisitError):
        new: VisitError = InvalidVisit(str(exc))
    elif external_writes_done:
        new = NonRetriableError(
            f"{_describe(exc)} (after this visit's outputs were written; a retry could duplicate them)"
        )
    elif isinstance(exc, (VisitError, *_CERTAIN_TO_RECUR)):
        new = NonRetriableError(_describe(exc))
    else:
        new = RetriableError(_describe(exc))
    new.__cause__ = exc
    return new


def error_body(exc: BaseException) -> dict[str, Any]:
    """The JSON body of a non-200 answer (DESIGN §3.1).

    Parameters
    ----------
    exc : `BaseException`
        A `VisitError`; anything else is reported as an internal error.

    Returns
    -------
    body : `dict`
        ``error``: the outcome class name (``InternalError`` for other
        exceptions); ``detail``: what happened, ending with whether to retry
        for 503 and 500.
    """
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, RetriableError):
        return {"error": type(exc).__name__, "detail": f"{detail}; retry after {exc.retry_after:g} s"}
    if isinstance(exc, NonRetriableError) or not isinstance(exc, VisitError):
        name = type(exc).__name__ if isinstance(exc, VisitError) else "InternalError"
        return {"error": name, "detail": f"{detail}; do not retry this request"}
    return {"error": type(exc).__name__, "detail": detail}
