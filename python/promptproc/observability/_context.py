"""The visit context every log line carries: instrument, day_obs, group, detector, ...

The context lives in a `contextvars.ContextVar`, so it follows the code that
set it through calls and `asyncio` tasks, and concurrent requests handled in
different threads each see their own.

Threads do **not** inherit it: a `threading.Thread` or a
`concurrent.futures` pool worker started inside `visit_context` begins with
an empty context. Run such work through `with_current_context`, which copies
the context at the time it is called, e.g.
``pool.submit(with_current_context(ingest), raw)``.
"""

from __future__ import annotations

import contextvars
import functools
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

__all__ = ["CONTEXT_FIELDS", "current_context", "visit_context", "with_current_context"]

CONTEXT_FIELDS: tuple[str, ...] = ("instrument", "day_obs", "group", "detector", "visit", "phase")
"""The standard context fields, in the order log lines show them."""

_EMPTY: Mapping[str, Any] = types.MappingProxyType({})
_CONTEXT: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "promptproc_visit_context", default=_EMPTY
)


def current_context() -> dict[str, Any]:
    """Return the fields of the current visit context.

    Returns
    -------
    fields : `dict` [`str`, `object`]
        A copy; changing it does not change the context.
    """
    return dict(_CONTEXT.get())


@contextmanager
def visit_context(**fields: Any) -> Iterator[dict[str, Any]]:
    """Add fields to the context of every log line emitted inside the block.

    Contexts nest: an inner block adds to (or overrides) the outer fields,
    and on exit, normal or by exception, the outer fields are back exactly
    as they were.

    Parameters
    ----------
    **fields
        Context fields, usually among `CONTEXT_FIELDS` (``instrument``,
        ``day_obs``, ``group``, ``detector``, ``visit``, ``phase``); a value
        of `None` removes the field inside the block.

    Yields
    ------
    context : `dict` [`str`, `object`]
        A copy of the whole context inside the block.

    Notes
    -----
    The context is a `contextvars.ContextVar`: threads started inside the
    block do not see it unless their target is wrapped with
    `with_current_context`.
    """
    merged = {**_CONTEXT.get(), **fields}
    for name in [name for name, value in fields.items() if value is None]:
        del merged[name]
    token = _CONTEXT.set(types.MappingProxyType(merged))
    try:
        yield dict(merged)
    finally:
        _CONTEXT.reset(token)


def with_current_context[**P, R](function: Callable[P, R]) -> Callable[P, R]:
    """Bind a callable to a copy of the current context, for another thread.

    Parameters
    ----------
    function : callable
        What the thread will run.

    Returns
    -------
    bound : callable
        Calls ``function`` inside a copy of the context taken now, so its
        log lines carry the caller's visit fields; it may be called several
        times, also concurrently.
    """
    context = contextvars.copy_context()

    @functools.wraps(function)
    def bound(*args: P.args, **kwargs: P.kwargs) -> R:
        # A context can be entered by one thread at a time: give each call its own copy.
        return context.copy().run(function, *args, **kwargs)

    return bound
