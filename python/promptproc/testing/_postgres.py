"""The PostgreSQL launcher: a fresh database on a named, local or private server."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from ..errors import ServiceUnavailableError
from ._net import DEFAULT_TIMEOUT, LOG
from ._policy import environment, named_server, require_answer
from ._postgres_db import PostgresDatabase, error_reason, pg_database, pg_problem, pg_url
from ._postgres_server import private_postgres

__all__ = ["DEFAULT_POSTGRES_URL", "ENV_POSTGRES_URL", "postgres_service"]

ENV_POSTGRES_URL = "PROMPTPROC_TEST_POSTGRES_URL"

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
"""The local default server, as Debian's ``postgresql`` package runs it."""


@contextlib.contextmanager
def postgres_service(
    *, environ: Mapping[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT
) -> Iterator[PostgresDatabase]:
    """Provide a fresh PostgreSQL database with ``btree_gist``.

    Parameters
    ----------
    environ : `~collections.abc.Mapping`, optional
        Environment to read ``PROMPTPROC_TEST_POSTGRES_URL`` from; `os.environ`
        by default.
    timeout : `float`, optional
        Seconds to wait for a private server.

    Yields
    ------
    database : `PostgresDatabase`
        A database with a random name, dropped on exit (with every database
        made through `PostgresDatabase.make_database`).

    Raises
    ------
    promptproc.errors.ServiceUnavailableError
        If the named server does not answer, or no server can be started.
    """
    env = environment(environ)
    with contextlib.ExitStack() as stack:
        named = named_server(env, ENV_POSTGRES_URL)
        if named:
            server_url, origin = pg_url(named, pg_database(named)), "environment"
            require_answer(ENV_POSTGRES_URL, named, pg_problem(server_url))
        else:
            server_url, origin = DEFAULT_POSTGRES_URL, "local default"
            problem = pg_problem(server_url)
            if problem is not None:
                LOG.info("local PostgreSQL not usable (%s); starting a private one", problem)
                server_url, origin = stack.enter_context(private_postgres(timeout)), "private"
        database = _create_database(server_url, origin)
        try:
            yield database
        finally:
            database.drop_all()


def _create_database(server_url: str, origin: str) -> PostgresDatabase:
    import psycopg

    try:
        return PostgresDatabase.create(server_url, origin)
    except psycopg.Error as err:
        raise ServiceUnavailableError(
            f"cannot make a test database with btree_gist on the {origin} server: {error_reason(err)}"
        ) from None
