"""Benchmark: seconds per phase of `process_visit` for one detector-visit, with a warm worker.

Builds the embedded default in a temporary directory (SQLite central
repository bootstrapped from the simulation, SQLite APDB, a local directory as
the raw bucket, alerts as files), starts one worker, uploads the raws of two
visits of the same field, and processes them one after the other: the first
visit warms the worker (imports, local repository, calibration cache), the
second is the one that counts.  Prints one row per visit and the set-up
times.

Examples
--------
``python benchmarks/bench_process_visit.py --size 1024``
``python benchmarks/bench_process_visit.py --size 4096 --profile export``
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["main", "run"]


def run(size: int, seed: int, workdir: Path, profile: str | None = None, export_all: bool = False) -> list:
    """Process two visits of one detector; return their `~promptproc.activator.VisitResult`.

    Parameters
    ----------
    size : `int`
        Detector width and height, pixels.
    seed : `int`
        Simulation seed.
    workdir : `pathlib.Path`
        Where the repositories go.
    profile : `str`, optional
        A phase whose functions are profiled (cProfile) during the warm visit.
    export_all : `bool`, optional
        Export every output (``EXPORT_TYPE_REGEXP`` ``.*``, the service's
        default) instead of the demo's science products.

    Returns
    -------
    results : `list` [`~promptproc.activator.VisitResult`]
        Cold, then warm.
    """
    from promptproc.activator import Worker, phases, process_visit
    from promptproc.demo import DemoOptions, prepare_workdir, worker_settings
    from promptproc.objectstore import LocalObjectStore
    from promptproc.simulation import SimulatedObservatory
    from promptproc.tester import RawUploader, next_visit_event

    start = time.perf_counter()
    options = DemoOptions(
        workdir=workdir, replace=True, visits=2, detectors=1, size=size, seed=seed, visit_interval=60.0
    )
    setup = prepare_workdir(options)
    print(f"set-up (central repository, APDB): {time.perf_counter() - start:.1f} s", flush=True)
    observatory = SimulatedObservatory(setup.config.simulation_config())
    store = LocalObjectStore(setup.layout.raws)
    mark = time.perf_counter()
    uploader = RawUploader(observatory, store)
    for visit in observatory.visits:
        uploader.upload(visit, 0)
    print(f"simulate and upload 2 raws: {time.perf_counter() - mark:.1f} s", flush=True)
    mark = time.perf_counter()
    overrides = {"EXPORT_TYPE_REGEXP": "- .*"} if export_all else None
    worker = Worker.from_settings(worker_settings(setup.layout, overrides=overrides), raw_store=store)
    print(f"worker start-up: {time.perf_counter() - mark:.1f} s", flush=True)
    results = []
    try:
        for index, visit in enumerate(observatory.visits):
            event = next_visit_event(visit).fan_out([0])[0]
            profiler = None
            original = getattr(phases, profile) if profile and index == 1 else None
            if original is not None:
                profiler = cProfile.Profile()

                def profiled(state, _original=original, _profiler=profiler):
                    return _profiler.runcall(_original, state)

                setattr(phases, profile, profiled)
            try:
                results.append(process_visit(event, worker))
            finally:
                if original is not None:
                    setattr(phases, profile, original)
            if profiler is not None:
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    finally:
        worker.close()
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=4096, help="detector width and height, pixels")
    parser.add_argument("--seed", type=int, default=7, help="simulation seed")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the repositories here")
    parser.add_argument(
        "--profile",
        choices=["prepare", "wait", "ingest", "run", "export", "clean"],
        default=None,
        help="profile one phase of the warm visit",
    )
    parser.add_argument(
        "--export-all",
        action="store_true",
        help="export every output (configs, metadata, logs too), the service's default",
    )
    args = parser.parse_args(argv)
    from promptproc.activator import PHASES

    with tempfile.TemporaryDirectory(prefix="bench-process-visit-") as tmp:
        workdir = args.workdir or Path(tmp) / "work"
        results = run(args.size, args.seed, workdir, args.profile, args.export_all)
    exported = "every output" if args.export_all else "the science products"
    print(f"\nprocess_visit, one detector of {args.size}x{args.size} pixels, exporting {exported} (seconds)")
    print(f"{'visit':<6}{'status':>9}{'pipeline':>10}" + "".join(f"{p:>9}" for p in PHASES) + f"{'total':>9}")
    for label, result in zip(("cold", "warm"), results, strict=False):
        cells = "".join(f"{result.phases.get(p, 0.0):>9.2f}" for p in PHASES)
        print(f"{label:<6}{result.status:>9}{result.pipeline or '-':>10}{cells}{result.total_seconds:>9.2f}")
        if not result.ok:
            print(f"  {result.summary()}")
    print(f"warm visit: {results[-1].dia_sources} DIA sources, {results[-1].alerts} alerts")
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
