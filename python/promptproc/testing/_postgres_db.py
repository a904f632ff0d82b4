"""Test databases on a PostgreSQL server, and the URLs and probes they need."""

from __future__ import annotations

import dataclasses
from typing import Any

from ._names import unique_name
from ._net import PROBE_TIMEOUT

__all__ = [
    "PostgresDatabase",
    "error_reason",
    "pg_connect",
    "pg_database",
    "pg_problem",
    "pg_url",
]


def pg_url(server_url: str, dbname: str, driver: str | None = None) -> str:
    """Return the URL of another database on the server of ``server_url``.

    Parameters
    ----------
    server_url : `str`
        URL of any database on the server.
    dbname : `str`
        Name of the database to point at.
    driver : `str`, optional
        SQLAlchemy driver, e.g. ``"psycopg2"``; none by default.

    Returns
    -------
    url : `str`
        ``postgresql://`` or ``postgresql+driver://`` URL, password included.
    """
    from sqlalchemy.engine import make_url

    url = make_url(server_url).set(drivername="postgresql" if driver is None else f"postgresql+{driver}")
    return url.set(database=dbname).render_as_string(hide_password=False)


def pg_database(url: str) -> str:
    """Return the database a URL names.

    Parameters
    ----------
    url : `str`
        A PostgreSQL URL.

    Returns
    -------
    dbname : `str`
        The database in the URL, ``postgres`` if none.
    """
    from sqlalchemy.engine import make_url

    return make_url(url).database or "postgres"


def pg_connect(url: str, timeout: float = PROBE_TIMEOUT) -> Any:
    """Open an autocommit psycopg 3 connection.

    Parameters
    ----------
    url : `str`
        ``postgresql://`` URL.
    timeout : `float`, optional
        Seconds the connection may take (at least one).

    Returns
    -------
    connection : `psycopg.Connection`
        Use it as a context manager to close it.
    """
    import psycopg

    return psycopg.connect(url, connect_timeout=max(1, int(timeout)), autocommit=True)


def error_reason(err: Exception) -> str:
    """Return the first line of an error's message, or its type if it has none.

    Parameters
    ----------
    err : `Exception`
        The error, e.g. a `psycopg.Error`.

    Returns
    -------
    reason : `str`
        A one-line reason for a message.
    """
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def pg_problem(url: str) -> str | None:
    """Return why the server at ``url`` cannot be used, or `None` if it can.

    Parameters
    ----------
    url : `str`
        ``postgresql://`` URL to connect to.

    Returns
    -------
    problem : `str` or `None`
        The reason the connection or ``SELECT 1`` failed.
    """
    import psycopg

    try:
        with pg_connect(url) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as err:
        return error_reason(err)
    return None


@dataclasses.dataclass
class PostgresDatabase:
    """A database of our own on a PostgreSQL server, with ``btree_gist``.

    Attributes
    ----------
    dbname : `str`
        Name of the database.
    url : `str`
        ``postgresql://`` URL (psycopg 3; the Butler registry).
    psycopg2_url : `str`
        ``postgresql+psycopg2://`` URL (the APDB).
    server_url : `str`
        ``postgresql://`` URL of the server's maintenance database.
    origin : `str`
        ``"environment"``, ``"local default"`` or ``"private"``.
    """

    dbname: str
    url: str
    psycopg2_url: str
    server_url: str
    origin: str
    _created: list[str] = dataclasses.field(default_factory=list, repr=False)

    @classmethod
    def create(cls, server_url: str, origin: str, prefix: str = "promptproc_test") -> PostgresDatabase:
        """Create a database with a random name and ``btree_gist`` in it.

        Parameters
        ----------
        server_url : `str`
            ``postgresql://`` URL of a database to connect to for ``CREATE DATABASE``.
        origin : `str`
            Where the server comes from (for messages).
        prefix : `str`, optional
            Start of the database name.

        Returns
        -------
        database : `PostgresDatabase`
            The new database; drop it with `drop_all`.
        """
        base = cls(dbname="", url="", psycopg2_url="", server_url=server_url, origin=origin)
        return base.make_database(prefix)

    def make_database(self, prefix: str = "promptproc_extra") -> PostgresDatabase:
        """Create another fresh database on the same server.

        Parameters
        ----------
        prefix : `str`, optional
            Start of the database name; a random suffix is added.

        Returns
        -------
        database : `PostgresDatabase`
            The new database; it is dropped with this one by `drop_all`.
        """
        from psycopg import sql

        dbname = unique_name(prefix, "_")
        with pg_connect(self.server_url) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        self._created.append(dbname)
        url = pg_url(self.server_url, dbname)
        with pg_connect(url) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        return PostgresDatabase(
            dbname=dbname,
            url=url,
            psycopg2_url=pg_url(self.server_url, dbname, "psycopg2"),
            server_url=self.server_url,
            origin=self.origin,
            _created=self._created,
        )

    def make_schema(self, prefix: str = "test") -> str:
        """Create a fresh schema in this database.

        Parameters
        ----------
        prefix : `str`, optional
            Start of the schema name; a random suffix is added.

        Returns
        -------
        name : `str`
            Name of the new schema (dropped with the database).
        """
        from psycopg import sql

        name = unique_name(prefix, "_")
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        return name

    def connect(self) -> Any:
        """Open an autocommit psycopg 3 connection to this database.

        Returns
        -------
        connection : `psycopg.Connection`
            Use it as a context manager to close it.
        """
        return pg_connect(self.url)

    def drop_all(self) -> None:
        """Drop every database made through this object or its relatives."""
        from psycopg import sql

        with pg_connect(self.server_url) as conn:
            while self._created:
                name = sql.Identifier(self._created.pop())
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
