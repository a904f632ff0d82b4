"""Ports, readiness waits and private server processes shared by the launchers.

Every wait is bounded; a server that does not come up raises
`~promptproc.errors.ServiceUnavailableError` with the last line of its log.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import ServiceUnavailableError

__all__ = [
    "DEFAULT_TIMEOUT",
    "LOG",
    "PROBE_TIMEOUT",
    "free_port",
    "log_tail",
    "port_open",
    "private_process",
    "stop_process",
    "wait_for",
]

LOG = logging.getLogger("promptproc.testing.services")
"""Logger of the launchers, named after the public module that offers them."""

DEFAULT_TIMEOUT = 30.0
"""Seconds a launcher waits for a private server by default."""

PROBE_TIMEOUT = 3.0
"""Seconds one probe of a server may take."""


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


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Tell whether something accepts TCP connections on ``host:port``.

    Parameters
    ----------
    host : `str`
        Address to connect to.
    port : `int`
        Port to connect to.
    timeout : `float`, optional
        Seconds the connection may take.

    Returns
    -------
    open : `bool`
        `True` if a connection could be made.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def log_tail(log: Path | None) -> str:
    """Describe the last non-blank line of a server log, for a message.

    Parameters
    ----------
    log : `~pathlib.Path` or `None`
        The log file, if any.

    Returns
    -------
    tail : `str`
        ``"; last log line: ..."``, or empty if there is no such line.
    """
    if log is None or not log.exists():
        return ""
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return f"; last log line: {lines[-1].strip()}" if lines else ""


def wait_for(
    what: str,
    check: Callable[[], bool],
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Poll ``check`` until it is true, the process died, or time ran out.

    Parameters
    ----------
    what : `str`
        Name of the server for messages.
    check : `~collections.abc.Callable`
        Returns `True` once the server is ready.
    timeout : `float`
        Seconds to wait.
    process : `subprocess.Popen`, optional
        The server process; its exit ends the wait.
    log : `~pathlib.Path`, optional
        The server's log, quoted in the message.

    Raises
    ------
    promptproc.errors.ServiceUnavailableError
        If the process exited or the server was not ready in time.
    """
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise ServiceUnavailableError(
                f"{what} exited with status {process.returncode} while starting{log_tail(log)}"
            )
        if check():
            return
        if time.monotonic() > deadline:
            raise ServiceUnavailableError(f"{what} not ready after {timeout:.0f} s{log_tail(log)}")
        time.sleep(0.1)


def stop_process(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Terminate a process, and kill it if it does not exit in time.

    Parameters
    ----------
    process : `subprocess.Popen`
        The process; nothing happens if it has exited already.
    grace : `float`, optional
        Seconds to wait after each signal.
    """
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(grace)


@contextlib.contextmanager
def private_process(
    what: str,
    command: Callable[[int, Path], list[str]],
    ready: Callable[[int], bool],
    *,
    timeout: float,
    attempts: int = 3,
) -> Iterator[int]:
    """Run a server on a free port in a temporary directory; yield its port.

    A server that exits while starting (usually because someone else took the
    port) is retried on another port.

    Parameters
    ----------
    what : `str`
        Name of the server for messages; its first word names the directory.
    command : `~collections.abc.Callable`
        ``command(port, workdir)`` gives the argument list.
    ready : `~collections.abc.Callable`
        ``ready(port)`` tells when the server answers.
    timeout : `float`
        Seconds to wait for each attempt.
    attempts : `int`, optional
        How many ports to try.

    Yields
    ------
    port : `int`
        The loopback port the server listens on; it is stopped on exit.

    Raises
    ------
    promptproc.errors.ServiceUnavailableError
        If the server does not come up.
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
                wait_for(what, lambda port=port: ready(port), timeout, process, log)
            except ServiceUnavailableError:
                died_by_itself = process.poll() is not None
                stop_process(process)
                if died_by_itself and attempt < attempts:
                    continue
                raise
            LOG.info("started %s on 127.0.0.1:%d (pid %d)", what, port, process.pid)
            try:
                yield port
            finally:
                stop_process(process)
            return
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
