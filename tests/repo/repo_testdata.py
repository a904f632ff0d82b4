"""Test data of the repository tests: small images, raws, epochs and simulations."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from astropy.time import Time
from lsst.daf.butler import Butler

from promptproc.image import Exposure, ImagePsf, PhotoCalib, RawAmplifier, RawImage, VisitInfo
from promptproc.instrument import Instrument, make_tan_wcs
from promptproc.repo import (
    BootstrapSummary,
)

DETECTOR_SIZE = 256


@dataclass(frozen=True)
class Epoch:
    """A calibration epoch for tests that do not run the simulation."""

    name: str
    begin: Time | None
    end: Time | None


EPOCHS = (
    Epoch("2026a", Time("2026-01-01T00:00:00", scale="tai"), Time("2026-07-01T00:00:00", scale="tai")),
    Epoch("2026b", Time("2026-07-01T00:00:00", scale="tai"), Time("2027-01-01T00:00:00", scale="tai")),
)


def make_exposure(value: float = 100.0, size: int = 48) -> Exposure:
    """A small exposure with every part filled in."""
    rng = np.random.default_rng(int(value))
    exposure = Exposure(
        image=rng.normal(value, 1.0, size=(size, size + 8)),
        variance=np.full((size, size + 8), 4.0),
        wcs=make_tan_wcs(150.0, 2.2, (size / 2, size / 2), 0.2, 10.0),
        psf=ImagePsf.gaussian(3.0),
        photo_calib=PhotoCalib(0.5, 0.01),
        visit_info=VisitInfo(exposure_id=0, physical_filter="g", band="g", observation_type="bias"),
    )
    exposure.mask[2, 3] = 1
    exposure.metadata["TESTVAL"] = (value, "test card")
    return exposure


def make_raw(instrument: Instrument, detector: int, exposure_id: int) -> RawImage:
    """A raw of one detector with the amplifier layout of the instrument."""
    det = instrument.detector(detector)
    day_obs, seq_num = instrument.split_exposure_id(exposure_id)
    header = fits.Header()
    for key, value in {
        "INSTRUME": instrument.name,
        "DETECTOR": det.name,
        "DETNUM": det.id,
        "OBSID": instrument.obs_id(day_obs, seq_num),
        "GROUPID": f"group-{seq_num}",
        "DAYOBS": day_obs,
        "SEQNUM": seq_num,
        "FILTER": "g",
        "RA": 150.0,
        "DEC": 2.2,
        "ROTPA": 0.0,
        "DATE-BEG": "2026-11-22T01:00:30.000",
        "MJD-BEG": 61366.04,
        "EXPTIME": 30.0,
        "IMGTYPE": "OBJECT",
    }.items():
        header[key] = value
    amps = [
        RawAmplifier(
            name=amp.name,
            data=np.full(amp.raw_shape, 1000 + amp.index, dtype=np.int32),
            data_box=amp.raw_data_box,
            overscan_box=amp.raw_overscan_box,
            detector_box=amp.data_box,
            flip_x=amp.flip_x,
            gain=amp.gain,
            read_noise=amp.read_noise,
            saturation=amp.saturation,
        )
        for amp in det.amplifiers
    ]
    return RawImage(header=header, amplifiers=amps)


def insert_exposure(butler: Butler, instrument: Instrument, exposure_id: int, physical_filter: str) -> None:
    """Insert the day_obs, group and exposure records a raw needs."""
    from astropy.time import TimeDelta
    from lsst.daf.butler import Timespan

    day_obs, seq_num = instrument.split_exposure_id(exposure_id)
    begin = Time("2026-11-22T01:00:30", scale="tai")
    registry = butler.registry
    registry.syncDimensionData("day_obs", {"instrument": instrument.name, "id": day_obs})
    registry.syncDimensionData("group", {"instrument": instrument.name, "name": f"group-{seq_num}"})
    registry.syncDimensionData(
        "exposure",
        {
            "instrument": instrument.name,
            "id": exposure_id,
            "obs_id": instrument.obs_id(day_obs, seq_num),
            "physical_filter": physical_filter,
            "group": f"group-{seq_num}",
            "day_obs": day_obs,
            "seq_num": seq_num,
            "exposure_time": 30.0,
            "observation_type": "science",
            "timespan": Timespan(begin, begin + TimeDelta(30.0, format="sec")),
        },
    )


def unique_namespace(prefix: str = "butler") -> str:
    """A PostgreSQL schema name nobody else uses."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def small_simulation(**overrides: object):
    """The simulation every bootstrap test uses: tiny detectors, one filter, two visits."""
    from promptproc.repo import simulation_config

    options = {
        "seed": 7,
        "detector_size": DETECTOR_SIZE,
        "n_visits": 2,
        "filters": ["g"],
        "n_calib_frames": 2,
        "n_transients": 2,
        "n_variables": 2,
        "galaxies": False,
    }
    options.update(overrides)
    return simulation_config(**options)


@dataclass
class BootstrappedRepo:
    """A repository bootstrapped from the small simulation."""

    root: str
    config: object
    summary: BootstrapSummary
