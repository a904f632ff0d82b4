"""The Redis launcher: a key prefix of our own on a named, local or private server."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import ServiceUnavailableError
from ._names import unique_name
from ._net import DEFAULT_TIMEOUT, PROBE_TIMEOUT, private_process
from ._policy import environment, named_server, require_answer

__all__ = ["DEFAULT_REDIS_URL", "ENV_REDIS_URL", "RedisService", "redis_service"]

ENV_REDIS_URL = "PROMPTPROC_TEST_REDIS_URL"

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
"""The local default server, as Debian's ``redis-server`` package runs it."""


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

    client = redis.Redis.from_url(url, socket_timeout=PROBE_TIMEOUT, socket_connect_timeout=PROBE_TIMEOUT)
    try:
        client.ping()
    except redis.RedisError as err:
        return str(err) or type(err).__name__
    finally:
        client.close()
    return None


@contextlib.contextmanager
def _private_redis(timeout: float) -> Iterator[str]:
    """Run ``redis-server`` on a free loopback port; yield its URL."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.access(binary, os.X_OK):
        raise ServiceUnavailableError("no Redis server answers and redis-server is not installed")

    def command(port: int, workdir: Path) -> list[str]:
        return [
            binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(workdir), "--daemonize", "no",
        ]  # fmt: skip

    def url(port: int) -> str:
        return f"redis://127.0.0.1:{port}/0"

    with private_process(
        "private Redis", command, lambda port: _redis_problem(url(port)) is None, timeout=timeout
    ) as port:
        yield url(port)


@contextlib.contextmanager
def redis_service(
    *, environ: Mapping[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT
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
    env = environment(environ)
    prefix = unique_name("promptproc-test", ":") + ":"
    with contextlib.ExitStack() as stack:
        named = named_server(env, ENV_REDIS_URL)
        if named:
            require_answer(ENV_REDIS_URL, named, _redis_problem(named))
            service = RedisService(named, prefix, "environment")
        elif _redis_problem(DEFAULT_REDIS_URL) is None:
            service = RedisService(DEFAULT_REDIS_URL, prefix, "local default")
        else:
            service = RedisService(stack.enter_context(_private_redis(timeout)), prefix, "private")
        try:
            yield service
        finally:
            if service.origin != "private":
                service.delete_own_keys()
