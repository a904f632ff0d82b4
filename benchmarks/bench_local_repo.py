"""Benchmark: a worker's local repository through whole visits.

For each detector size, bootstraps a SQLite central repository (one detector,
one filter, visits without dithers), then times the steps of a worker:
``create`` (the local repository), ``preload_cold`` (first visit: everything
transferred), ``preload_warm`` (next visit of the same detector: all cached),
``ingest`` (one raw), ``export`` (three full-size outputs to the central
repository) and ``cleanup``; then runs N more visits and reports the size of
the local repository after each, to show it does not grow.

Examples
--------
``python benchmarks/bench_local_repo.py`` (4096 and 1024 pixels)
``python benchmarks/bench_local_repo.py --sizes 1024 --visits 10``
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["main", "run_size"]

DETECTOR = 4


def _fanned(visit: Any, detector: int) -> Any:
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
        instrument="SimCam",
        survey="WFD",
        totalCheckpoints=0,
        private_sndStamp=start - 30.0,
        detector=detector,
    )


def _outputs(butler: Any, run: str, exposure_id: int, size: int, seed: int) -> None:
    """Put outputs like a pipeline's: two full-size exposures and a table."""
    import numpy as np
    from astropy.table import Table
    from lsst.daf.butler import DatasetType

    from promptproc.image import Exposure

    for name, storage_class in (
        ("calexp", "PromptExposure"),
        ("difference_image", "PromptExposure"),
        ("dia_source_table", "ArrowAstropy"),
    ):
        butler.registry.registerDatasetType(
            DatasetType(name, ("instrument", "visit", "detector"), storage_class, universe=butler.dimensions)
        )
    butler.collections.register(run)
    rng = np.random.default_rng(seed)
    data_id = {"instrument": "SimCam", "visit": exposure_id, "detector": DETECTOR}
    for name in ("calexp", "difference_image"):
        image = rng.normal(0.0, 1.0, size=(size, size)).astype(np.float32)
        butler.put(Exposure(image=image), name, data_id, run=run)
    table = Table({"diaSourceId": np.arange(100, dtype=np.int64), "flux": rng.normal(size=100)})
    butler.put(table, "dia_source_table", data_id, run=run)


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_size(size: int, n_visits: int, padding: float, workdir: Path) -> dict[str, Any]:
    """Bootstrap a central repository for one detector size and time a worker's visits."""
    from lsst.daf.butler import Butler

    from promptproc.repo import (
        LocalRepo,
        LocalRepoOptions,
        bootstrap_sim,
        create_central_repo,
        output_run_name,
        simulation_config,
    )
    from promptproc.simulation import SimulatedObservatory

    config = simulation_config(
        seed=5,
        detector_size=size,
        n_visits=4,
        n_epochs=1,
        filters=["g"],
        dither=0.0,
        rotation_dither=0.0,
        n_calib_frames=2,
        galaxies=False,
    )
    start = time.perf_counter()
    root = create_central_repo(workdir / f"central-{size}")
    bootstrap_sim(root, config, detectors=[DETECTOR])
    bootstrap_seconds = time.perf_counter() - start
    observatory = SimulatedObservatory(config)
    visits = list(observatory.visits)
    raws = {v.exposure_id: observatory.write_raw(v, DETECTOR, workdir / f"raws-{size}")[0] for v in visits}

    central = Butler.from_config(root, writeable=True)
    seconds: dict[str, list[float]] = {}

    def timed(step: str, func: Any, *args: Any) -> Any:
        mark = time.perf_counter()
        value = func(*args)
        seconds.setdefault(step, []).append(time.perf_counter() - mark)
        return value

    options = LocalRepoOptions(preload_padding=padding)
    repo = timed("create", LocalRepo.create, central, "SimCam", workdir / f"local-{size}", options)
    sizes = []
    counts = {}
    try:
        for step in range(n_visits + 2):
            sim_visit = visits[step % len(visits)]
            visit = _fanned(sim_visit, DETECTOR)
            preload = timed("preload_cold" if step == 0 else "preload_warm", repo.prepare, visit)
            if step < 2:
                counts[f"visit{step}"] = {
                    "transferred": preload.n_transferred,
                    "reused": preload.n_reused,
                    "templates": len(preload.templates),
                    "refcat_shards": len(preload.refcat_shards),
                }
            timed("ingest", repo.ingest_raw, raws[sim_visit.exposure_id], visit)
            run = output_run_name("SimCam", visit.day_obs, "ApPipe", f"bench{step}")
            _outputs(repo.butler, run, sim_visit.exposure_id, size, step)
            exported = timed("export", repo.export_outputs, run, central, [".*"])
            assert exported.n_exported == 3, exported
            timed("cleanup", repo.clean_visit, visit)
            sizes.append(_du(repo.root))
    finally:
        repo.close()
        central.close()
    return {
        "detector_size": size,
        "bootstrap_seconds": round(bootstrap_seconds, 2),
        "seconds": {
            step: {"median": round(statistics.median(values), 4), "n": len(values)}
            for step, values in seconds.items()
        },
        "counts": counts,
        "local_repo_bytes_after_each_visit": sizes,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the results.

    Parameters
    ----------
    argv : `list` [`str`], optional
        Command-line arguments.

    Returns
    -------
    status : `int`
        0.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4096,1024", help="detector sizes, comma-separated")
    parser.add_argument("--visits", type=int, default=10, help="visits after the first two")
    parser.add_argument("--padding", type=float, default=30.0, help="PRELOAD_PADDING, arcsec")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-local-repo-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            result = run_size(size, args.visits, args.padding, Path(tmp))
            results.append(result)
            if not args.json:
                print(f"detector {size}x{size}: bootstrap {result['bootstrap_seconds']} s")
                for step, value in result["seconds"].items():
                    print(f"  {step:<13} {value['median']:8.3f} s  (median of {value['n']})")
                print(f"  counts {result['counts']}")
                mib = [round(b / 2**20, 1) for b in result["local_repo_bytes_after_each_visit"]]
                print(f"  local repo MiB after each visit: {mib}")
    if args.json:
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
