"""Benchmark: bootstrap a central repository from the simulation.

Prints the seconds of each bootstrap step (simulate, register, camera, calibs,
templates, refcat ...) and the peak memory, for a SQLite registry and, when a
PostgreSQL server can be had, a PostgreSQL registry.  Each backend runs in its
own process so that its peak memory is its own.

Examples
--------
``python benchmarks/bench_bootstrap.py --detector-size 1024``
``python benchmarks/bench_bootstrap.py --detector-size 4096 --filters g --detectors 4``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["main", "run_one"]

STEPS = ("open", "simulate", "register", "camera", "skymap", "calibs", "templates", "refcat")


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_one(backend: str, args: argparse.Namespace) -> dict:
    """Create and bootstrap one repository; return timings, counts and peak memory."""
    from promptproc.repo import bootstrap_sim, create_central_repo, simulation_config

    config = simulation_config(
        seed=args.seed,
        detector_size=args.detector_size,
        n_visits=args.visits,
        filters=args.filters.split(","),
        n_calib_frames=args.calib_frames,
    )
    detectors = [int(d) for d in args.detectors.split(",")] if args.detectors else None
    with tempfile.TemporaryDirectory(prefix="bench-bootstrap-") as tmp, _postgres(backend) as registry:
        root = Path(tmp) / "repo"
        start = time.perf_counter()
        if registry is None:
            uri = create_central_repo(root)
        else:
            uri = create_central_repo(root, registry=registry, namespace="bench_bootstrap")
        create_seconds = time.perf_counter() - start
        summary = bootstrap_sim(uri, config, detectors=detectors)
        start = time.perf_counter()
        again = bootstrap_sim(uri, config, detectors=detectors)
        rerun_seconds = time.perf_counter() - start
        assert again.already_bootstrapped, "a second bootstrap wrote datasets"
        return {
            "backend": backend,
            "create": create_seconds,
            "seconds": summary.seconds,
            "total": sum(summary.seconds.values()),
            "rerun": rerun_seconds,
            "datasets": {name: count.written for name, count in summary.counts.items()},
            "bytes": _du(root),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        }


@contextlib.contextmanager
def _postgres(backend: str) -> Iterator[str | None]:
    """A fresh PostgreSQL database URL for the run, or `None` for SQLite."""
    if backend == "sqlite":
        yield None
        return
    from promptproc.testing import postgres_service

    with postgres_service() as database:
        yield database.url


def _postgres_available() -> str | None:
    """Why PostgreSQL cannot be used, or `None` if it can."""
    from promptproc.errors import ServiceUnavailableError
    from promptproc.testing import postgres_service

    try:
        with postgres_service():
            return None
    except ServiceUnavailableError as err:
        return str(err)


def _report(results: list[dict], args: argparse.Namespace) -> None:
    print(
        f"bootstrap benchmark: detectors {args.detector_size}x{args.detector_size} px, "
        f"filters {args.filters}, visits {args.visits}, calib frames {args.calib_frames}, "
        f"detectors {args.detectors or 'all 9'}"
    )
    header = f"{'step (s)':<12}" + "".join(f"{r['backend']:>12}" for r in results)
    print(header)
    print(f"{'create':<12}" + "".join(f"{r['create']:>12.2f}" for r in results))
    for step in STEPS:
        print(f"{step:<12}" + "".join(f"{r['seconds'].get(step, 0.0):>12.2f}" for r in results))
    print(f"{'total':<12}" + "".join(f"{r['total']:>12.2f}" for r in results))
    print(f"{'re-run':<12}" + "".join(f"{r['rerun']:>12.2f}" for r in results))
    print(f"{'peak RSS MB':<12}" + "".join(f"{r['peak_rss_mb']:>12.0f}" for r in results))
    print(f"{'repo MB':<12}" + "".join(f"{r['bytes'] / 1e6:>12.1f}" for r in results))
    if results:
        print("datasets: " + ", ".join(f"{k} {v}" for k, v in results[0]["datasets"].items()))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector-size", type=int, default=4096)
    parser.add_argument("--filters", default="g", help="comma-separated physical filters")
    parser.add_argument("--visits", type=int, default=2)
    parser.add_argument("--calib-frames", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--detectors", default="", help="comma-separated detector IDs [all]")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--only", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.only:
        print(json.dumps(run_one(args.only, args)))
        return 0

    results = []
    for backend in args.backends.split(","):
        if backend == "postgres":
            reason = _postgres_available()
            if reason is not None:
                print(f"skipping postgres: {reason}", file=sys.stderr)
                continue
        child = subprocess.run(
            [sys.executable, __file__, *(argv if argv is not None else sys.argv[1:]), "--only", backend],
            capture_output=True,
            text=True,
            check=False,
            env=os.environ.copy(),
        )
        if child.returncode != 0:
            print(f"{backend} run failed:\n{child.stderr}", file=sys.stderr)
            return 1
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))
    _report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
