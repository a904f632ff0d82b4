"""Database URLs for the APDB: which are accepted and how they are rewritten."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ConfigurationError

__all__ = ["is_sqlite", "masked", "normalize_apdb_url", "validate_namespace"]

_PSYCOPG2 = "postgresql+psycopg2"
_NAMESPACE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_ACCEPTED = "a file path, sqlite:///PATH, postgresql://... or postgresql+psycopg2://..."


def normalize_apdb_url(url: str) -> str:
    """Turn what the operator gave into the SQLAlchemy URL dax_apdb should use.

    Parameters
    ----------
    url : `str`
        A file path (SQLite), ``sqlite:///PATH``, ``postgresql://...`` or
        ``postgresql+psycopg2://...``.

    Returns
    -------
    url : `str`
        ``sqlite:////absolute/path`` for SQLite, so the config works from any
        directory; ``postgresql+psycopg2://...`` for PostgreSQL, because
        dax_apdb's ``store`` fails through psycopg 3, SQLAlchemy 2.1's default
        driver for ``postgresql://``.

    Raises
    ------
    promptproc.errors.ConfigurationError
        If the scheme or driver is not supported, or the URL is malformed.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = url.strip()
    if not text:
        raise ConfigurationError(f"empty APDB URL; give {_ACCEPTED}")
    if "://" not in text:
        return f"sqlite:///{Path(text).expanduser().absolute()}"
    scheme = text.split("://", 1)[0].lower()
    if scheme == "sqlite":
        database = text.split("://", 1)[1].removeprefix("/").split("?", 1)[0]
        if not database or database.startswith(":memory:") or database.startswith("file:"):
            raise ConfigurationError(f"APDB URL {url!r} names no database file; use sqlite:///PATH")
        return f"sqlite:///{Path(database).expanduser().absolute()}"
    if scheme not in ("postgresql", _PSYCOPG2):
        hint = " (psycopg 3 breaks dax_apdb's store)" if scheme.startswith("postgresql+") else ""
        raise ConfigurationError(f"unsupported APDB URL scheme {scheme!r}{hint}; give {_ACCEPTED}")
    try:
        parsed = make_url(text)
    except ArgumentError as err:
        raise ConfigurationError(f"malformed APDB URL {masked(text)!r}: {err}") from None
    if not parsed.database:
        raise ConfigurationError(f"APDB URL {masked(text)!r} names no database")
    return parsed.set(drivername=_PSYCOPG2).render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    """Tell whether a normalized URL is a SQLite one.

    Parameters
    ----------
    url : `str`
        A URL returned by `normalize_apdb_url`.

    Returns
    -------
    sqlite : `bool`
        `True` for ``sqlite://`` URLs.
    """
    return url.startswith("sqlite:")


def masked(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``.

    Parameters
    ----------
    url : `str`
        A database URL.

    Returns
    -------
    url : `str`
        Safe to print.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def validate_namespace(namespace: str | None, url: str) -> str | None:
    """Check a PostgreSQL schema name for the APDB tables.

    Parameters
    ----------
    namespace : `str` or `None`
        Schema name, or `None` for the default schema.
    url : `str`
        The normalized URL it goes with.

    Returns
    -------
    namespace : `str` or `None`
        The same name.

    Raises
    ------
    promptproc.errors.ConfigurationError
        If a namespace is given for SQLite, or it is not a plain identifier.
    """
    if namespace is None:
        return None
    if is_sqlite(url):
        raise ConfigurationError("a namespace (schema) applies to PostgreSQL only, not to SQLite")
    if not _NAMESPACE.fullmatch(namespace):
        raise ConfigurationError(
            f"invalid namespace {namespace!r}: use letters, digits and '_', not starting with a digit,"
            " at most 63 characters"
        )
    return namespace
