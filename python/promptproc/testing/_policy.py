"""Where a test service comes from, and what a missing one does to a test.

A server named by the environment is used as is and must answer
(`named_server`, `require_answer`).  A service that cannot be had raises
`~promptproc.errors.ServiceUnavailableError`; `provide` turns that into a
skipped test, or a failed one under ``CI=true``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import NoReturn

from ..errors import ServiceUnavailableError

__all__ = [
    "environment",
    "is_ci",
    "named_server",
    "provide",
    "require_answer",
    "unavailable",
]


def environment(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    """Return the environment to read: ``environ``, or `os.environ` if `None`.

    Parameters
    ----------
    environ : `~collections.abc.Mapping` or `None`
        Environment given by the caller.

    Returns
    -------
    env : `~collections.abc.Mapping`
        ``environ`` itself, or `os.environ`.
    """
    return os.environ if environ is None else environ


def named_server(env: Mapping[str, str], variable: str) -> str:
    """Return the server the environment names in ``variable``.

    Parameters
    ----------
    env : `~collections.abc.Mapping`
        Environment to read.
    variable : `str`
        Name of the variable, e.g. ``PROMPTPROC_TEST_REDIS_URL``.

    Returns
    -------
    named : `str`
        The value without surrounding blanks; empty when nothing is named.
    """
    return env.get(variable, "").strip()


def require_answer(variable: str, named: str, problem: str | None) -> None:
    """Insist that the server named in ``variable`` answered.

    Parameters
    ----------
    variable : `str`
        Name of the variable that named the server.
    named : `str`
        The value of that variable.
    problem : `str` or `None`
        Why the server cannot be used, or `None` if it can.

    Raises
    ------
    promptproc.errors.ServiceUnavailableError
        If ``problem`` is not `None`.
    """
    if problem is not None:
        raise ServiceUnavailableError(f"{variable}={named} does not answer: {problem}")


def is_ci(environ: Mapping[str, str] | None = None) -> bool:
    """Tell whether we run under continuous integration (``CI=true``).

    Parameters
    ----------
    environ : `~collections.abc.Mapping`, optional
        Environment to look at; `os.environ` by default.

    Returns
    -------
    ci : `bool`
        `True` when ``CI`` is ``true`` (any case) or ``1``.
    """
    return environment(environ).get("CI", "").strip().lower() in {"true", "1"}


def unavailable(service: str, reason: object, *, environ: Mapping[str, str] | None = None) -> NoReturn:
    """Stop the current test because a service is missing.

    Parameters
    ----------
    service : `str`
        Name of the service, e.g. ``"PostgreSQL"``.
    reason : `object`
        Why it is missing (an exception or a message).
    environ : `~collections.abc.Mapping`, optional
        Environment that decides the policy; `os.environ` by default.

    Raises
    ------
    pytest.fail.Exception
        Under ``CI=true``: a missing service fails the run.
    pytest.skip.Exception
        Otherwise: the test is skipped with the reason.
    """
    import pytest

    message = f"{service} is not available: {reason}"
    if is_ci(environ):
        pytest.fail(f"{message} (CI=true: every test service must be present)", pytrace=False)
    pytest.skip(message)


@contextlib.contextmanager
def provide[T](
    service: str,
    launcher: Callable[[], AbstractContextManager[T]],
    *,
    environ: Mapping[str, str] | None = None,
) -> Iterator[T]:
    """Enter a service launcher, applying the skip-or-fail policy.

    Parameters
    ----------
    service : `str`
        Name of the service for the message.
    launcher : `~collections.abc.Callable`
        Returns the context manager that provides the service, e.g.
        ``postgres_service``.
    environ : `~collections.abc.Mapping`, optional
        Environment that decides the policy; `os.environ` by default.

    Yields
    ------
    service : `object`
        Whatever the launcher yields.
    """
    with contextlib.ExitStack() as stack:
        try:
            value = stack.enter_context(launcher())
        except ServiceUnavailableError as err:
            unavailable(service, err, environ=environ)
        yield value
