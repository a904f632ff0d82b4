"""Service logging: one JSON object a line on stderr, carrying the visit context.

`configure_logging` is called once when a process starts (never at import);
it installs one handler on the root logger, with either `JsonFormatter`
(``LOG_FORMAT=json``, for ``kubectl logs | jq`` and Loki) or `TextFormatter`
(``LOG_FORMAT=text``, for humans), and sets logger levels from
``SERVICE_LOG_LEVELS`` on top of the defaults (root ``WARNING``, ``lsst``
and ``promptproc`` ``INFO``).

A JSON line looks like::

    {"time": "2026-11-22T03:04:05.123Z", "level": "INFO", "logger": "promptproc.activator",
     "message": "Phase ingest took 1.234 s", "instrument": "SimCam", "day_obs": 20261121,
     "group": "2026-11-22T03:03:00.000", "detector": 4, "phase": "ingest", "seconds": 1.234,
     "process": 17, "location": "_timer.phase:97"}

with the fields of `visit_context`, then any ``extra=`` fields of the call,
and, when an exception is logged, its traceback under ``exception``.
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
import math
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TextIO

from ..errors import ConfigurationError
from ._context import CONTEXT_FIELDS, current_context

__all__ = [
    "DEFAULT_LOG_LEVELS",
    "TRACE",
    "VERBOSE",
    "ContextFilter",
    "JsonFormatter",
    "TextFormatter",
    "configure_logging",
    "parse_log_levels",
]

TRACE = 5
"""Level below DEBUG, as in `lsst.utils.logging`."""
VERBOSE = 15
"""Level between DEBUG and INFO, as in `lsst.utils.logging`."""

DEFAULT_LOG_LEVELS: Mapping[str, int] = types.MappingProxyType(
    {
        "": logging.WARNING,
        "lsst": logging.INFO,
        "promptproc": logging.INFO,
    }
)
"""Logger levels before ``SERVICE_LOG_LEVELS`` is applied; ``""`` is the root logger."""

_LEVELS = {
    "TRACE": TRACE,
    "DEBUG": logging.DEBUG,
    "VERBOSE": VERBOSE,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
}
_CONTEXT_ATTRIBUTE = "promptproc_context"
_OWN_KEYS = ("time", "level", "logger", "message", "process", "location", "exception", "stack")


def parse_log_levels(text: str) -> dict[str, int]:
    """Parse a ``SERVICE_LOG_LEVELS`` value.

    Parameters
    ----------
    text : `str`
        Space-separated ``logger=LEVEL`` items, e.g.
        ``"lsst=INFO .=WARNING promptproc=DEBUG"``; ``.`` (or a bare
        ``LEVEL``) is the root logger. Levels are ``TRACE``, ``DEBUG``,
        ``VERBOSE``, ``INFO``, ``WARNING``, ``ERROR`` and ``CRITICAL``, in any
        case.

    Returns
    -------
    levels : `dict` [`str`, `int`]
        Logger name (``""`` for root) to level number, later items winning.

    Raises
    ------
    ConfigurationError
        Raised if an item is not ``logger=LEVEL`` with a known level.
    """
    levels: dict[str, int] = {}
    for item in text.split():
        name, separator, level = item.rpartition("=")
        if not separator:
            name = "."
        number = _LEVELS.get(level.upper())
        if not name or number is None:
            raise ConfigurationError(
                f"invalid setting SERVICE_LOG_LEVELS: {item!r} is not logger=LEVEL with LEVEL one of "
                + ", ".join(_LEVELS)
            )
        levels["" if name == "." else name] = number
    return levels


class ContextFilter(logging.Filter):
    """Attach the visit context to each record when it is emitted.

    The context is read in the thread that logs, before any handler formats
    the record, so it is right even if formatting happens later or elsewhere.

    Parameters
    ----------
    static_fields : `~collections.abc.Mapping` [`str`, `object`], optional
        Fields every record carries (e.g. the deployment's ``instrument``);
        the visit context overrides them.
    """

    def __init__(self, static_fields: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self._static = dict(static_fields or {})

    def filter(self, record: logging.LogRecord) -> bool:
        """Attach the context (once) and keep the record."""
        if not hasattr(record, _CONTEXT_ATTRIBUTE):
            setattr(record, _CONTEXT_ATTRIBUTE, {**self._static, **current_context()})
        return True


@functools.cache
def _standard_attributes() -> frozenset[str]:
    blank = logging.LogRecord("", logging.INFO, "", 0, "", (), None)
    return frozenset(blank.__dict__) | {"message", "asctime", _CONTEXT_ATTRIBUTE}


def _context_of(record: logging.LogRecord) -> dict[str, Any]:
    context = getattr(record, _CONTEXT_ATTRIBUTE, None)
    if not isinstance(context, Mapping):
        context = current_context()
    ordered = {name: context[name] for name in CONTEXT_FIELDS if name in context}
    ordered.update((name, value) for name, value in context.items() if name not in ordered)
    return ordered


def _extras_of(record: logging.LogRecord) -> dict[str, Any]:
    standard = _standard_attributes()
    return {name: value for name, value in record.__dict__.items() if name not in standard}


def _message_of(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # A wrong format string must not lose the line.
        return f"{record.msg!r} % {record.args!r} (the message arguments do not match its format)"


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    """Turn a value json cannot encode (or would encode as invalid JSON) into one it can."""
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str | int | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, set | frozenset):
        items = [_plain(item) for item in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return _plain(item())
        except (TypeError, ValueError):
            pass
    return str(value)


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object on one line.

    Keys: ``time`` (UTC, ISO 8601 with milliseconds), ``level``, ``logger``,
    ``message``, the visit context (`CONTEXT_FIELDS` first), the record's
    ``extra=`` fields (one whose name is taken is prefixed with ``extra_``),
    ``process``, ``location`` (``module.function:line``) and, if any,
    ``exception`` (the traceback) and ``stack``.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a JSON line (without the newline)."""
        entry: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": _message_of(record),
        }
        entry.update(_context_of(record))
        for name, value in _extras_of(record).items():
            entry[f"extra_{name}" if name in _OWN_KEYS else name] = value
        entry["process"] = record.process
        entry["location"] = f"{record.module}.{record.funcName}:{record.lineno}"
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        try:
            return json.dumps(entry, allow_nan=False, default=_plain)
        except (TypeError, ValueError):
            return json.dumps(_plain(entry))


class TextFormatter(logging.Formatter):
    """Format a record as a line for humans.

    ``TIME LEVEL logger: message [context] extra=value ...``, then the
    traceback, if any, on the following lines.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as text."""
        parts = [f"{_timestamp(record)} {record.levelname:<7} {record.name}: {_message_of(record)}"]
        context = _context_of(record)
        if context:
            parts.append("[" + " ".join(f"{name}={value}" for name, value in context.items()) + "]")
        parts += [f"{name}={_shown(value)}" for name, value in _extras_of(record).items()]
        text = " ".join(parts)
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        elif record.exc_text:
            text += "\n" + record.exc_text
        if record.stack_info:
            text += "\n" + self.formatStack(record.stack_info)
        return text


def _shown(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


class _ServiceHandler(logging.StreamHandler):
    """The handler `configure_logging` installs, recognisable so that it can be replaced."""

    def __init__(self, stream: TextIO, levels_set: tuple[str, ...]) -> None:
        super().__init__(stream)
        self.levels_set = levels_set


def _option(source: Any, name: str) -> Any:
    if source is None:
        return None
    if isinstance(source, Mapping):
        return source.get(name, source.get(name.upper()))
    return getattr(source, name, None)


def configure_logging(
    settings_or_args: Any = None,
    *,
    log_format: Literal["json", "text"] | None = None,
    log_levels: str | Mapping[str, int | str] | None = None,
    static_fields: Mapping[str, Any] | None = None,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Set up the process's logging; call it once at start-up (again to reconfigure).

    Parameters
    ----------
    settings_or_args : `~promptproc.settings.Settings` or `object` or mapping, optional
        Where to read ``log_format``, ``service_log_levels`` and
        ``rubin_instrument`` (attributes, or keys in either case): the
        settings, command-line arguments, or `None` for the defaults.
    log_format : {"json", "text"}, optional
        Overrides the format (default ``json``).
    log_levels : `str` or mapping, optional
        Overrides ``service_log_levels``: a ``SERVICE_LOG_LEVELS`` string or
        a mapping of logger name (``""`` for root) to level.
    static_fields : mapping, optional
        Fields every line carries; by default ``instrument`` when
        ``rubin_instrument`` is set. The visit context overrides them.
    stream : file-like, optional
        Where lines go; `sys.stderr` by default.

    Returns
    -------
    handler : `logging.Handler`
        The handler installed on the root logger. A previous one installed
        by this function is removed, and the levels it set are reset.

    Raises
    ------
    ConfigurationError
        Raised if the format or a level is invalid.
    """
    chosen = log_format or _option(settings_or_args, "log_format") or "json"
    if chosen not in ("json", "text"):
        raise ConfigurationError(f"invalid setting LOG_FORMAT={chosen!r}: must be 'json' or 'text'")
    requested = log_levels if log_levels is not None else _option(settings_or_args, "service_log_levels")
    levels: dict[str, int] = dict(DEFAULT_LOG_LEVELS)
    if isinstance(requested, str):
        levels.update(parse_log_levels(requested))
    elif isinstance(requested, Mapping):
        for name, level in requested.items():
            number = level if isinstance(level, int) else _LEVELS.get(str(level).upper())
            if number is None:
                raise ConfigurationError(f"invalid log level {level!r} for logger {name or '.'!r}")
            levels["" if name == "." else name] = number
    if static_fields is None:
        instrument = _option(settings_or_args, "rubin_instrument")
        static_fields = {"instrument": instrument} if isinstance(instrument, str) else {}

    for number, name in ((TRACE, "TRACE"), (VERBOSE, "VERBOSE")):
        if logging.getLevelName(number) != name:
            logging.addLevelName(number, name)

    root = logging.getLogger()
    for old in [handler for handler in root.handlers if isinstance(handler, _ServiceHandler)]:
        root.removeHandler(old)
        for name in old.levels_set:
            logging.getLogger(name or None).setLevel(logging.NOTSET if name else logging.WARNING)
    handler = _ServiceHandler(stream if stream is not None else sys.stderr, tuple(levels))
    handler.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter())
    handler.addFilter(ContextFilter(static_fields))
    root.addHandler(handler)
    for name, number in levels.items():
        logging.getLogger(name or None).setLevel(number)
    logging.captureWarnings(True)
    return handler
