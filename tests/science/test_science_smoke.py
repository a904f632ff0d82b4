"""Science smoke test: transients injected into a simulated visit are found where they are.

A visit of two template-covered detectors (512x512 pixels, a field dense
enough for calibration) is simulated with many transients, processed by a
worker on the embedded default, and its DIA sources are compared with the
simulation's truth:

- at least 90% of the injected point sources with a signal-to-noise ratio of
  at least 20 are recovered within 0.5 arcsec;
- fewer than 20 DIA sources per detector match no source that changed
  (no transient, no variable star, at any brightness) within 0.5 arcsec.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table
from lsst.daf.butler import Butler

from promptproc.activator import VisitResult, Worker, process_visit
from promptproc.apdb import create_apdb
from promptproc.demo import DemoLayout, DemoOptions, new_night, worker_settings
from promptproc.objectstore import LocalObjectStore
from promptproc.repo import bootstrap_sim, create_central_repo
from promptproc.simulation import SimulatedObservatory
from promptproc.tester import RawUploader, next_visit_event

pytestmark = pytest.mark.slow

DETECTORS = (0, 4)
MIN_SNR = 20.0
RADIUS_ARCSEC = 0.5
MIN_RECOVERED = 0.9
MAX_UNMATCHED = 20


@dataclass
class Processed:
    """One detector-visit: the worker's result, the DIA sources and the truth."""

    result: VisitResult
    dia_sources: Table
    truth: Table


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Processed]]:
    layout = DemoLayout(tmp_path_factory.mktemp("science") / "work")
    night = new_night(
        DemoOptions(
            workdir=layout.root, visits=1, detectors=max(DETECTORS) + 1, size=512, seed=21, lead_time=600
        )
    )
    night = dataclasses.replace(night, transients=2000)
    config = night.simulation_config()
    create_central_repo(layout.central)
    bootstrap_sim(str(layout.central), config, detectors=DETECTORS)
    create_apdb(f"sqlite:///{layout.apdb_database}", layout.apdb_config)
    observatory = SimulatedObservatory(config)
    store = LocalObjectStore(layout.raws)
    visit = observatory.visits[0]
    uploader = RawUploader(observatory, store)
    for detector in DETECTORS:
        uploader.upload(visit, detector)
    worker = Worker.from_settings(worker_settings(layout), raw_store=store)
    try:
        results = [process_visit(event, worker) for event in next_visit_event(visit).fan_out(DETECTORS)]
    finally:
        worker.close()
    butler = Butler.from_config(str(layout.central))
    try:
        out = []
        for result in results:
            assert result.ok, result.summary()
            refs = butler.query_datasets(
                "dia_sources",
                collections=result.output_run,
                where="instrument = 'SimCam' AND visit = v AND detector = d",
                bind={"v": result.visit, "d": result.detector},
                explain=False,
            )
            assert len(refs) == 1
            out.append(Processed(result, butler.get(refs[0]), observatory.truth(visit, result.detector)))
        yield out
    finally:
        butler.close()


def _nearest(targets: Table, catalog: Table) -> np.ndarray:
    """Distance in arcsec from each target to the nearest catalog entry (infinite without entries)."""
    if len(targets) == 0:
        return np.zeros(0)
    if len(catalog) == 0:
        return np.full(len(targets), np.inf)
    _, separation, _ = SkyCoord(targets["ra"], targets["dec"], unit="deg").match_to_catalog_sky(
        SkyCoord(catalog["ra"], catalog["dec"], unit="deg")
    )
    return separation.arcsec


def test_template_covered_detectors_ran_alert_production(processed: list[Processed]) -> None:
    for item in processed:
        assert item.result.pipeline == "ApPipe"
        assert item.result.dia_sources == len(item.dia_sources) > 0


def test_bright_injected_sources_are_recovered(processed: list[Processed]) -> None:
    recovered, injected = 0, 0
    for item in processed:
        truth = item.truth
        bright = truth[(truth["kind"] == "transient") & (truth["snr"] >= MIN_SNR)]
        distances = _nearest(bright, item.dia_sources)
        injected += len(bright)
        recovered += int((distances < RADIUS_ARCSEC).sum())
    assert injected >= 20, "too few bright injected sources for a meaningful fraction"
    assert recovered >= MIN_RECOVERED * injected, f"recovered {recovered} of {injected} (SNR >= {MIN_SNR:g})"


def test_few_unmatched_dia_sources(processed: list[Processed]) -> None:
    for item in processed:
        changed = item.truth[np.isin(item.truth["kind"], ["transient", "variable"])]
        unmatched = int((_nearest(item.dia_sources, changed) >= RADIUS_ARCSEC).sum())
        assert unmatched < MAX_UNMATCHED, (
            f"detector {item.result.detector}: {unmatched} of {len(item.dia_sources)} DIA sources match "
            "no injected source"
        )
