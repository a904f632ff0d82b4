"""Visit outcomes: HTTP statuses, retry classification and error bodies."""

from __future__ import annotations

import json

import pytest

from promptproc.activator import (
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
from promptproc.errors import BadInputError, ConfigurationError, ServiceUnavailableError
from promptproc.observability import VISIT_OUTCOMES
from promptproc.visit import InvalidVisitError

OUTCOMES = [
    (InvalidVisit, 400, "invalid"),
    (ExpiredVisit, 403, "expired"),
    (IgnorableVisit, 422, "ignored"),
    (RetriableError, 503, "retriable"),
    (NonRetriableError, 500, "failed"),
    (NoRawsError, 500, "failed"),
]


@pytest.mark.parametrize(("cls", "status", "outcome"), OUTCOMES)
def test_statuses_outcomes_and_docs(cls: type[VisitError], status: int, outcome: str) -> None:
    assert cls.http_status == status
    assert cls.outcome == outcome
    assert outcome in VISIT_OUTCOMES
    assert cls.__doc__
    assert cls.__doc__.startswith(f"HTTP {status}:")


def test_retry_after() -> None:
    assert RetriableError("x").retry_after == 30.0
    assert RetriableError("x", retry_after=5).retry_after == 5.0


@pytest.mark.parametrize(
    "exc",
    [InvalidVisit("a"), ExpiredVisit("b"), IgnorableVisit("c"), NonRetriableError("d"), NoRawsError("e")],
)
@pytest.mark.parametrize("writes", [False, True])
def test_outcomes_pass_through(exc: VisitError, writes: bool) -> None:
    assert classify(exc, writes) is exc


def test_retriable_passes_only_before_writes() -> None:
    exc = RetriableError("broker hiccup")
    assert classify(exc, False) is exc
    after = classify(exc, True)
    assert type(after) is NonRetriableError
    assert after.nested is exc
    assert "broker hiccup" in str(after)


def test_invalid_visit_error_is_400() -> None:
    error = classify(
        InvalidVisitError("invalid visit: field 'groupId' must not be empty", ["groupId"]), False
    )
    assert type(error) is InvalidVisit
    assert "groupId" in str(error)


@pytest.mark.parametrize(
    "exc",
    [
        ServiceUnavailableError("database down"),
        ConnectionResetError("reset"),
        TimeoutError("slow"),
        OSError("disk"),
        MemoryError(),
        Interrupted("shutting down"),
        RuntimeError("something odd"),
        KeyError("x"),
        KeyboardInterrupt(),
    ],
)
def test_before_writes_failures_are_retriable(exc: BaseException) -> None:
    error = classify(exc, False)
    assert type(error) is RetriableError
    assert error.__cause__ is exc
    assert type(exc).__name__ in str(error)


@pytest.mark.parametrize(
    "exc",
    [
        BadInputError("truncated FITS"),
        ConfigurationError("no such pipeline"),
        TypeError("bug"),
        AttributeError("bug"),
        NameError("bug"),
        ImportError("missing"),
        NotImplementedError(),
        AssertionError("bug"),
        VisitError("plain"),
    ],
)
def test_failures_certain_to_recur_are_not_retriable(exc: BaseException) -> None:
    error = classify(exc, False)
    assert type(error) is NonRetriableError
    assert error.nested is exc


@pytest.mark.parametrize(
    "exc", [ServiceUnavailableError("apdb"), Interrupted("shutdown"), RuntimeError("x"), BadInputError("y")]
)
def test_after_writes_everything_is_non_retriable(exc: BaseException) -> None:
    error = classify(exc, True)
    assert type(error) is NonRetriableError
    assert "duplicate" in str(error)
    assert error.__cause__ is exc


def test_error_bodies() -> None:
    for exc in (InvalidVisit("field 'position' must be 2 numbers"), ExpiredVisit("sent 2 h ago")):
        body = error_body(exc)
        assert body == {"error": type(exc).__name__, "detail": str(exc)}
        json.dumps(body)
    assert error_body(RetriableError("APDB unreachable")) == {
        "error": "RetriableError",
        "detail": "APDB unreachable; retry after 30 s",
    }
    assert error_body(NoRawsError("no raw by 03:01:20")) == {
        "error": "NoRawsError",
        "detail": "no raw by 03:01:20; do not retry this request",
    }
    assert error_body(ValueError()) == {
        "error": "InternalError",
        "detail": "ValueError; do not retry this request",
    }
    assert error_body(IgnorableVisit()) == {"error": "IgnorableVisit", "detail": "IgnorableVisit"}
