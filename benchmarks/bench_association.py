"""Time and memory of association and alert packaging at production scale.

Run: ``python benchmarks/bench_association.py [--sources 2000] [--objects 100000] [--alerts 500]``.

Steps measured (best of ``--repeat`` runs):

1. association of ``--sources`` DIA sources (half of them within 0.2 arcsec of
   a preloaded object) against ``--objects`` preloaded DiaObjects with every
   APDB column, spread over one square degree;
2. packet building for ``--alerts`` sources: APDB rows to Avro records, three
   FITS cutouts each from 4096 x 4096 exposures, validation against the
   official schema;
3. serialisation of those packets (Confluent wire format) and writing them as
   one Avro file;
4. for scale, storing the association's rows in a new SQLite APDB.

Prints the best wall time (runs without tracemalloc, which slows Python
allocation), the peak of Python-tracked memory in one extra traced run (numpy
included) and the process's peak resident size so far.
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

import numpy as np

VISIT = 2026112200042
DETECTOR = 4
MJD = 61000.3
RA, DEC = 150.0, 2.0


def _measure(label: str, step: Callable[[], Any], repeat: int, *, trace: bool = True) -> Any:
    """Best wall time of ``repeat`` plain runs, then one run under tracemalloc for the memory peak."""
    result = None
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = step()
        best = min(best, time.perf_counter() - start)
    peak_text = "      n/a"
    if trace:
        tracemalloc.start()
        step()
        peak_text = f"{tracemalloc.get_traced_memory()[1] / 2**20:5.0f} MiB"
        tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"{label:<58s} {best:7.3f} s   peak traced {peak_text}   max RSS {rss:5.0f} MiB")
    return result


def _objects(n: int, rng: np.random.Generator) -> Any:
    from promptproc.apdb import make_table_frame

    ra = RA + rng.uniform(-0.5, 0.5, n) / np.cos(np.radians(DEC))
    dec = DEC + rng.uniform(-0.5, 0.5, n)
    data = {
        "diaObjectId": np.arange(1, n + 1, dtype=np.int64) * 1000,
        "validityStartMjdTai": MJD - 1.0,
        "ra": ra,
        "dec": dec,
        "nDiaSources": rng.integers(1, 30, n),
        "firstDiaSourceMjdTai": MJD - 100.0,
        "lastDiaSourceMjdTai": MJD - 1.0,
    }
    for band in "gri":
        data |= {
            f"{band}_psfFluxNdata": rng.integers(1, 10, n),
            f"{band}_psfFluxMean": rng.normal(1000.0, 100.0, n),
            f"{band}_psfFluxMeanErr": np.full(n, 30.0),
            f"{band}_psfFluxSigma": np.full(n, 80.0),
            f"{band}_psfFluxMin": np.full(n, 800.0),
            f"{band}_psfFluxMax": np.full(n, 1200.0),
            f"{band}_psfFluxErrMean": np.full(n, 90.0),
        }
    return make_table_frame("DiaObject", data)


def _sources(n: int, objects: Any, size: int, rng: np.random.Generator) -> Any:
    from astropy.table import Table

    from promptproc.instrument import make_tan_wcs

    wcs = make_tan_wcs(RA, DEC, (size / 2, size / 2), 0.2)
    x = rng.uniform(10, size - 10, n)
    y = rng.uniform(10, size - 10, n)
    sky = wcs.pixel_to_world(x, y)
    ra, dec = sky.ra.deg, sky.dec.deg
    # Half the sources sit within 0.2 arcsec of a preloaded object on the detector.
    on_detector = np.flatnonzero(
        (np.abs(objects["ra"].to_numpy(float) - RA) < 0.1)
        & (np.abs(objects["dec"].to_numpy(float) - DEC) < 0.1)
    )
    picked = rng.choice(on_detector, n // 2, replace=False)
    ra[: n // 2] = objects["ra"].to_numpy(float)[picked] + rng.normal(0, 0.1 / 3600, n // 2)
    dec[: n // 2] = objects["dec"].to_numpy(float)[picked] + rng.normal(0, 0.1 / 3600, n // 2)
    x[: n // 2], y[: n // 2] = wcs.world_to_pixel_values(ra[: n // 2], dec[: n // 2])
    return Table(
        {
            "x": x,
            "y": y,
            "ra": ra,
            "dec": dec,
            "psfFlux": rng.normal(1000.0, 200.0, n),
            "psfFluxErr": np.full(n, 50.0),
            "snr": rng.uniform(5, 50, n),
            "isDipole": np.zeros(n, dtype=bool),
            "bboxSize": rng.integers(10, 60, n),
        }
    )


def _exposure(size: int, seed: int) -> Any:
    from promptproc.image import Exposure, ImagePsf, PhotoCalib
    from promptproc.instrument import make_tan_wcs

    rng = np.random.default_rng(seed)
    return Exposure(
        image=rng.normal(0.0, 10.0, (size, size)).astype(np.float32),
        variance=np.full((size, size), 100.0, dtype=np.float32),
        wcs=make_tan_wcs(RA, DEC, (size / 2, size / 2), 0.2),
        psf=ImagePsf.gaussian(3.5),
        photo_calib=PhotoCalib(0.8),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=2000)
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--alerts", type=int, default=500)
    parser.add_argument("--detector-size", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from promptproc.alerts import FileAlertSink, encode_confluent, load_alert_schema
    from promptproc.apdb import create_apdb, open_apdb, store_visit
    from promptproc.ids import DiaIdPacker
    from promptproc.tasks import alerts as alerts_task
    from promptproc.tasks import associate

    rng = np.random.default_rng(2026)
    packer = DiaIdPacker(189)
    load_alert_schema()  # read once, as a worker does at start-up
    objects = _measure(
        f"setup: {args.objects} preloaded DiaObjects (all columns)", lambda: _objects(args.objects, rng), 1
    )
    catalog = _sources(args.sources, objects, args.detector_size, rng)

    result = _measure(
        f"associate {args.sources} sources x {args.objects} objects",
        lambda: associate.run(
            catalog, objects, VISIT, DETECTOR, "r", MJD, id_packer=packer, time_processed_mjd_tai=MJD + 0.01
        ),
        args.repeat,
    )
    print(f"  matched {result.n_matched}, new {result.n_new}, rejected {result.n_rejected}")

    images = [_exposure(args.detector_size, seed) for seed in (1, 2, 3)]
    sources = result.dia_sources.iloc[: args.alerts]
    wanted = set(sources["diaObjectId"])
    dia_objects = result.dia_objects[result.dia_objects["diaObjectId"].isin(wanted)]
    history = sources.iloc[:0]
    packets = _measure(
        f"build + validate {len(sources)} packets with 3 cutouts each",
        lambda: (
            alerts_task.run(
                sources,
                dia_objects,
                difference=images[0],
                science=images[1],
                template=images[2],
                history=history,
            ).alerts
        ),
        args.repeat,
    )
    schema = load_alert_schema()
    messages = _measure(
        f"serialise {len(packets)} packets (Confluent wire format)",
        lambda: [encode_confluent(packet, schema) for packet in packets],
        args.repeat,
    )
    sizes = np.array([len(m) for m in messages])
    print(f"  message size: mean {sizes.mean() / 1024:.1f} KiB, max {sizes.max() / 1024:.1f} KiB")

    with tempfile.TemporaryDirectory() as tmp:
        _measure(
            f"write {len(packets)} packets to one Avro file",
            lambda: FileAlertSink(Path(tmp) / "alerts").send(packets),
            args.repeat,
        )
        apdb = open_apdb(create_apdb(str(Path(tmp) / "apdb.sqlite3"), Path(tmp) / "apdb.yaml"))
        import astropy.time

        visit_time = astropy.time.Time(MJD, format="mjd", scale="tai")
        _measure(
            f"store_visit {len(result.dia_sources)} sources + {len(result.dia_objects)} objects (SQLite)",
            lambda: store_visit(apdb, visit_time, result.dia_objects, result.dia_sources),
            1,
            trace=False,
        )
        _measure(
            "store_visit again (already stored: a no-op)",
            lambda: store_visit(apdb, visit_time, result.dia_objects, result.dia_sources),
            args.repeat,
            trace=False,
        )


if __name__ == "__main__":
    main()
