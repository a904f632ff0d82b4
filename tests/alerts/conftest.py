"""Small images and associated DIA rows for the alert tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from promptproc.apdb import make_table_frame
from promptproc.ids import DiaIdPacker
from promptproc.image import Exposure, ImagePsf, PhotoCalib, VisitInfo
from promptproc.instrument import make_tan_wcs
from promptproc.tasks import associate

VISIT = 2026112200042
DETECTOR = 2
MJD = 61000.3
SIZE = 128
RA, DEC = 30.0, -5.0
PACKER = DiaIdPacker(9)


@dataclass(frozen=True)
class AlertInputs:
    """Everything alert packaging needs for one detector-visit."""

    difference: Exposure
    science: Exposure
    template: Exposure
    result: associate.AssociationResult
    history: pd.DataFrame


def _exposure(seed: int, scale: float) -> Exposure:
    rng = np.random.default_rng(seed)
    return Exposure(
        image=rng.normal(100.0, 5.0, (SIZE, SIZE)).astype(np.float32),
        variance=np.full((SIZE, SIZE), 25.0, dtype=np.float32),
        wcs=make_tan_wcs(RA, DEC, (SIZE / 2, SIZE / 2), 0.2),
        psf=ImagePsf.gaussian(3.0),
        photo_calib=PhotoCalib(scale),
        visit_info=VisitInfo(exposure_id=VISIT, mjd_begin=MJD, band="r"),
    )


def make_inputs(time_processed: float = MJD + 0.01) -> AlertInputs:
    """Five sources: two match earlier objects (with history), one sits on the image edge."""
    science = _exposure(1, 2.0)
    wcs = science.wcs
    assert wcs is not None
    x = np.array([20.0, 64.0, 100.5, 3.0, 127.2])
    y = np.array([30.0, 64.0, 90.2, 5.0, 126.9])
    sky = wcs.pixel_to_world(x, y)
    catalog = Table(
        {
            "x": x,
            "y": y,
            "ra": sky.ra.deg,
            "dec": sky.dec.deg,
            "psfFlux": [500.0, 800.0, -300.0, 200.0, 1000.0],
            "psfFluxErr": [50.0, 40.0, 60.0, 70.0, 45.0],
            "snr": [10.0, 20.0, 5.0, 3.0, 22.0],
            "isDipole": [False, False, True, False, False],
            "bboxSize": [12, 40, 20, 8, 150],
        }
    )
    earlier = [PACKER.pack(VISIT - 5, DETECTOR, k) for k in range(3)]
    objects = make_table_frame(
        "DiaObject",
        {
            "diaObjectId": earlier[:2],
            "ra": sky.ra.deg[:2],
            "dec": sky.dec.deg[:2],
            "nDiaSources": [2, 1],
            "r_psfFluxNdata": [2, 1],
            "r_psfFluxMean": [450.0, 700.0],
            "r_psfFluxMeanErr": [40.0, 40.0],
        },
    )
    history = make_table_frame(
        "DiaSource",
        {
            "diaSourceId": [earlier[0], earlier[2], earlier[1]],
            "diaObjectId": [earlier[0], earlier[0], earlier[1]],
            "visit": VISIT - 5,
            "detector": DETECTOR,
            "midpointMjdTai": [MJD - 3.0, MJD - 2.0, MJD - 2.5],
            "ra": [sky.ra.deg[0], sky.ra.deg[0], sky.ra.deg[1]],
            "dec": [sky.dec.deg[0], sky.dec.deg[0], sky.dec.deg[1]],
            "x": [20.0, 20.1, 64.0],
            "y": [30.0, 30.1, 64.0],
            "psfFlux": [400.0, 500.0, 700.0],
            "psfNdata": 0,
            "dipoleNdata": 0,
            "timeProcessedMjdTai": MJD - 2.0,
            "bboxSize": 10,
            "band": "r",
        },
    )
    result = associate.run(
        catalog, objects, VISIT, DETECTOR, "r", MJD, id_packer=PACKER, time_processed_mjd_tai=time_processed
    )
    return AlertInputs(
        difference=_exposure(2, 2.0),
        science=science,
        template=_exposure(3, 1.5),
        result=result,
        history=history,
    )


@pytest.fixture
def inputs() -> AlertInputs:
    """A fresh set of alert inputs."""
    return make_inputs()


@pytest.fixture
def make_alert_inputs():  # type: ignore[no-untyped-def]
    """The factory itself, for tests that need the same inputs twice."""
    return make_inputs
