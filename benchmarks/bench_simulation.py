"""Time and memory of the simulation at full detector size (4096 x 4096 by default).

Run: ``python benchmarks/bench_simulation.py [--detector-size 4096] [--repeat 1]``.

Prints, for each step, the wall time and the peak of Python-tracked memory
(tracemalloc: numpy arrays included) and the process's peak resident size so far.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _measure(label: str, step: Callable[[], Any], repeat: int) -> Any:
    result = None
    best = float("inf")
    peak = 0
    for _ in range(repeat):
        tracemalloc.start()
        start = time.perf_counter()
        result = step()
        best = min(best, time.perf_counter() - start)
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"{label:<44s} {best:8.2f} s   peak traced {peak / 2**20:8.0f} MiB   max RSS {rss:8.0f} MiB")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector-size", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--detector", type=int, default=4)
    args = parser.parse_args()

    from promptproc.image import write_raw_fits
    from promptproc.simulation import SimulatedObservatory, SimulationConfig
    from promptproc.tasks.isr import run_isr

    config = SimulationConfig(detector_size=args.detector_size)
    obs = _measure("observatory + night plan", lambda: SimulatedObservatory(config), 1)
    sky = _measure("sky model (stars, galaxies, transients)", lambda: obs.sky_model, 1)
    print(
        f"  sky: {len(sky.stars)} stars, {len(sky.galaxies)} galaxies, {len(sky.transients)} transients, "
        f"radius {sky.region.radius:.3f} deg"
    )
    visit = obs.visits[1]
    det = args.detector
    epoch = obs.epoch_for(visit.mjd_begin)
    # The first raw also builds and caches the detector's signature and true flat.
    _measure("first raw (signature and true flat included)", lambda: obs.raw(visit, det), 1)
    raw = _measure(
        f"raw {args.detector_size}^2 (visit {visit.obs_id}, det {det})",
        lambda: obs.raw(visit, det),
        args.repeat,
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "raw.fits"
        _measure("write raw FITS", lambda: write_raw_fits(raw, path), args.repeat)
        _measure("raw + write_raw (FITS + sidecar)", lambda: obs.write_raw(visit, det, tmp), args.repeat)
    flat = _measure("master flat", lambda: obs.master_flat(det, visit.physical_filter, epoch), args.repeat)
    bias = _measure("master bias", lambda: obs.master_bias(det, epoch), args.repeat)
    dark = _measure("master dark", lambda: obs.master_dark(det, epoch), args.repeat)
    defects = obs.defects(det, epoch)
    _measure(
        "ISR of the raw",
        lambda: run_isr(raw, bias, dark, flat, defects, instrument=obs.instrument),
        args.repeat,
    )
    truth = _measure("truth table", lambda: obs.truth(visit, det), args.repeat)
    print(f"  truth: {len(truth)} sources on the detector")
    patches = _measure("template patch list", obs.template_patches, 1)
    patch = patches[len(patches) // 2]
    template = _measure(
        f"template patch {patch.tract}/{patch.id} {patch.outer.width}x{patch.outer.height}",
        lambda: obs.template(patch, visit.band),
        1,
    )
    print(f"  template shape {template.shape}, {len(patches)} patches per band")


if __name__ == "__main__":
    main()
