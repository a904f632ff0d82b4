"""A private PostgreSQL server: ``initdb`` and ``pg_ctl`` in a temporary directory."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ServiceUnavailableError
from ._net import LOG, free_port, log_tail, wait_for
from ._postgres_db import pg_problem

__all__ = ["private_postgres"]


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
def private_postgres(timeout: float) -> Iterator[str]:
    """Run initdb + pg_ctl in a temporary directory; yield the server URL.

    Parameters
    ----------
    timeout : `float`
        Seconds to wait for the server to start and answer.

    Yields
    ------
    url : `str`
        ``postgresql://`` URL of the ``postgres`` database on a free loopback
        port; the server is stopped and its directory removed on exit.

    Raises
    ------
    promptproc.errors.ServiceUnavailableError
        If the server binaries are missing or the server does not start.
    """
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
                f"pg_ctl start failed: {log_tail(workdir / 'postgres.log') or started.stderr.strip()}"
            )
        try:
            url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
            wait_for("private PostgreSQL", lambda: pg_problem(url) is None, timeout)
            LOG.info("started private PostgreSQL %s in %s", url, workdir)
            yield url
        finally:
            run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
