"""Benchmark: ``ApPipe.yaml`` on one simulated detector through `promptproc.pipetasks.run_pipeline`.

Builds what a worker has when the raw arrives -- a SQLite central repository
bootstrapped for one detector, a local repository prepared for the visit, a
SQLite APDB, the visit's ``region_time`` and the preprocessing outputs, the
raw ingested -- then runs ``ApPipe.yaml`` ``--repeat`` times (each into a new
RUN, the first in a cold process) and prints, per task:

- ``quantum``: wall time of the quantum in the executor;
- ``run()``: the task's own ``run`` (the science), from its metadata;
- ``get``/``put``: Butler reads and writes of the quantum (formatter I/O
  included), from the executor's Butler metrics;
- ``other``: the rest (task construction, log capture, metadata, registry
  refreshes);

and for the whole pipeline the graph build, the init (dataset-type
registration, configs), the execution, the output query and the middleware
overhead (everything but ``run()``).  Setup steps are timed too but are not
the subject.

Usage::

    python benchmarks/bench_pipeline.py                  # 1024 x 1024, two runs
    python benchmarks/bench_pipeline.py --size 4096 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["main", "prepare_world", "task_timings"]

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ROOT / "pipelines" / "SimCam"
INSTRUMENT = "SimCam"
DETECTOR = 4
PADDING = 10.0
PRELOAD_RUN = "SimCam/prompt/preload"
PREPROCESSING_RUN = "SimCam/prompt/Preprocessing"


def _event(visit: Any, detector: int) -> Any:
    from astropy.time import Time

    from promptproc.visit import FannedOutVisit

    start = float(Time(visit.mjd_begin, format="mjd", scale="tai").unix_tai)
    return FannedOutVisit(
        salIndex=1,
        scriptSalIndex=1,
        groupId=visit.group,
        coordinateSystem=2,
        position=[visit.ra, visit.dec],
        startTime=start,
        rotationSystem=2,
        cameraAngle=visit.rotation,
        filters=visit.physical_filter,
        dome=2,
        duration=visit.exposure_time,
        nimages=1,
        instrument=INSTRUMENT,
        survey="WFD",
        totalCheckpoints=0,
        private_sndStamp=start - 30.0,
        detector=detector,
    )


def prepare_world(root: Path, size: int, star_density: float, transients: int) -> dict[str, Any]:
    """Make the repositories and APDB, preprocess and ingest; return them and the setup times."""
    from lsst.daf.butler import Butler

    from promptproc.apdb import create_apdb
    from promptproc.pipetasks import run_pipeline, write_region_time
    from promptproc.repo import (
        LocalRepo,
        LocalRepoOptions,
        bootstrap_sim,
        create_central_repo,
        simulation_config,
    )
    from promptproc.simulation import SimulatedObservatory

    seconds: dict[str, float] = {}
    mark = time.perf_counter()
    config = simulation_config(
        seed=5,
        detector_size=size,
        n_visits=1,
        n_epochs=1,
        filters=["r"],
        dither=0.0,
        rotation_dither=0.0,
        n_calib_frames=2,
        n_transients=transients,
        n_variables=0,
        galaxies=False,
        star_density=star_density,
    )
    central_root = create_central_repo(root / "central")
    bootstrap_sim(central_root, config, detectors=[DETECTOR])
    seconds["bootstrap central repo"] = time.perf_counter() - mark

    mark = time.perf_counter()
    observatory = SimulatedObservatory(config)
    central = Butler.from_config(central_root)
    repo = LocalRepo.create(central, INSTRUMENT, root / "local", LocalRepoOptions(preload_padding=PADDING))
    visit = observatory.visits[0]
    event = _event(visit, DETECTOR)
    repo.prepare(event)
    seconds["local repo: create + prepare"] = time.perf_counter() - mark

    mark = time.perf_counter()
    apdb_config = create_apdb(str(root / "apdb.sqlite3"), root / "apdb.yaml")
    butler = repo.butler
    write_region_time(butler, event, repo.camera(), PADDING, PRELOAD_RUN)
    preprocessing = run_pipeline(
        butler,
        PIPELINES / "Preprocessing.yaml",
        [PRELOAD_RUN],
        PREPROCESSING_RUN,
        data_id={"instrument": INSTRUMENT, "group": event.groupId, "detector": DETECTOR},
        parameters={"apdb_config": str(apdb_config)},
    )
    seconds["APDB + region_time + Preprocessing.yaml"] = time.perf_counter() - mark

    mark = time.perf_counter()
    raw_path, _ = observatory.write_raw(visit, DETECTOR, root / "raws")
    seconds["simulate raw"] = time.perf_counter() - mark
    mark = time.perf_counter()
    raw = repo.ingest_raw(raw_path, event)
    seconds["ingest raw"] = time.perf_counter() - mark
    return {
        "repo": repo,
        "central": central,
        "raw": raw,
        "apdb_config": apdb_config,
        "preprocessing": preprocessing,
        "setup_seconds": seconds,
    }


def _utc(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


def task_timings(butler: Any, result: Any) -> dict[str, dict[str, float]]:
    """Per task label: quantum, run(), get, put and other seconds of a `PipelineRunResult`."""
    metadata_refs = {
        ref.datasetType.name: ref for ref in result.outputs if ref.datasetType.name.endswith("_metadata")
    }
    timings: dict[str, dict[str, float]] = {}
    for outcome in result.quanta:
        label = outcome.label
        row = {"quantum": outcome.seconds, "run()": 0.0, "get": 0.0, "put": 0.0}
        ref = metadata_refs.get(f"{label}_metadata")
        if ref is not None:
            metadata = butler.get(ref)
            task = metadata[label]
            if "runStartUtc" in task and "runEndUtc" in task:
                row["run()"] = (_utc(task["runEndUtc"]) - _utc(task["runStartUtc"])).total_seconds()
            quantum = metadata["quantum"]
            if "butler_metrics" in quantum:
                metrics = quantum["butler_metrics"]
                row["get"] = float(metrics["time_in_get"])
                row["put"] = float(metrics["time_in_put"])
        row["other"] = row["quantum"] - row["run()"] - row["get"] - row["put"]
        timings[label] = row
    return timings


def _print_run(title: str, result: Any, timings: dict[str, dict[str, float]]) -> dict[str, float]:
    columns = ("quantum", "run()", "get", "put", "other")
    print(f"\n{title}: {result.summary().splitlines()[0]}")
    print(f"{'task':<12}" + "".join(f"{c:>10}" for c in columns))
    totals = dict.fromkeys(columns, 0.0)
    for label, row in timings.items():
        print(f"{label:<12}" + "".join(f"{row[c]:>10.3f}" for c in columns))
        for c in columns:
            totals[c] += row[c]
    print(f"{'sum':<12}" + "".join(f"{totals[c]:>10.3f}" for c in columns))
    seconds = result.seconds
    science = totals["run()"]
    overhead = seconds["total"] - science
    summary = {
        "graph build": seconds["graph"],
        "init (dataset types, configs)": seconds["init"],
        "execute": seconds["execute"],
        "  of which run() (science)": science,
        "  of which Butler get+put": totals["get"] + totals["put"],
        "  of which executor bookkeeping": seconds["execute"] - totals["quantum"] + totals["other"],
        "output query": seconds["outputs"],
        "total": seconds["total"],
        "middleware overhead (total - run())": overhead,
        "  excluding Butler get+put": overhead - totals["get"] - totals["put"],
    }
    for name, value in summary.items():
        print(f"  {name:<40}{value:>8.3f} s")
    return summary


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; see the module notes."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1024, help="detector width and height, pixels")
    parser.add_argument("--repeat", type=int, default=2, help="runs of ApPipe.yaml (the first is cold)")
    parser.add_argument(
        "--star-density",
        type=float,
        default=None,
        help="stars per square degree brighter than r=22 (default: enough PSF stars on small detectors)",
    )
    parser.add_argument("--transients", type=int, default=300)
    parser.add_argument("--keep", type=Path, default=None, help="work in this directory and keep it")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    density = args.star_density
    if density is None:
        density = max(8000.0, 60000.0 * min(1.0, (1024.0 / args.size) ** 2))

    start = time.perf_counter()
    from promptproc.pipetasks import run_pipeline

    print(f"imports: {time.perf_counter() - start:.2f} s")
    work = tempfile.TemporaryDirectory(prefix="bench-pipeline-") if args.keep is None else None
    root = Path(work.name) if work is not None else args.keep
    root.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"size": args.size, "star_density": density}
    try:
        world = prepare_world(root, args.size, density, args.transients)
        print(f"\nsetup ({args.size} x {args.size}, {density:.0f} stars/deg2):")
        for name, value in world["setup_seconds"].items():
            print(f"  {name:<40}{value:>8.3f} s")
        report["setup_seconds"] = world["setup_seconds"]
        repo, raw = world["repo"], world["raw"]
        data_id = {"instrument": INSTRUMENT, "exposure": int(raw.dataId["exposure"]), "detector": DETECTOR}
        report["runs"] = []
        for index in range(args.repeat):
            result = run_pipeline(
                repo.butler,
                PIPELINES / "ApPipe.yaml",
                [PREPROCESSING_RUN, repo.defaults_collection],
                f"bench/ApPipe/{index}",
                data_id=data_id,
                parameters={"apdb_config": str(world["apdb_config"])},
            )
            if not result.ok:
                print(result.summary())
                return 1
            timings = task_timings(repo.butler, result)
            title = f"run {index + 1} ({'cold' if index == 0 else 'warm'})"
            summary = _print_run(title, result, timings)
            report["runs"].append({"tasks": timings, "pipeline": summary, "seconds": result.seconds})
        print(f"\nprocess peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        world["repo"].close()
        world["central"].close()
    finally:
        if work is not None:
            work.cleanup()
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
