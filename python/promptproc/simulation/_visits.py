"""The night plan: visits, their true pointing, and calibration epochs.

A visit's commanded pointing (what the observatory announces and writes in
the raw header) differs from where the telescope really points by a small
error; the true pointing lives only in `VisitTruth`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from astropy.time import Time

from ..errors import ConfigurationError
from ..image import VisitInfo
from ..instrument import Instrument
from ._config import SimulationConfig
from ._photometry import dark_sky, electrons_per_njy, sky_electrons_per_pixel
from ._rng import derive_rng
from ._site import airmass, day_obs_of, iso_tai
from ._spherical import offset_position

__all__ = ["CalibrationEpoch", "SimVisit", "VisitTruth", "plan_epochs", "plan_visits"]


@dataclass(frozen=True)
class SimVisit:
    """One planned visit (one exposure), as the observatory announces it.

    Parameters
    ----------
    day_obs : `int`
        Observing day, ``YYYYMMDD``.
    seq_num : `int`
        Sequence number within the day.
    exposure_id : `int`
        Exposure and visit ID, ``day_obs * 100000 + seq_num``.
    obs_id : `str`
        Observation ID (``SC_O_{day_obs}_{seq_num:06d}``).
    group : `str`
        Group ID: the start time, ISO-8601 TAI with milliseconds.
    physical_filter : `str`
        Physical filter.
    band : `str`
        Abstract band.
    ra, dec : `float`
        Commanded boresight, degrees (ICRS).
    rotation : `float`
        Commanded sky position angle of the camera ``+y`` axis, degrees east of north.
    mjd_begin : `float`
        Start of the exposure, TAI MJD.
    exposure_time : `float`
        Open-shutter time, seconds.
    seeing : `float`
        Delivered PSF FWHM, arcsec.
    airmass : `float`
        Airmass at mid-exposure.
    sky_mag : `float`
        Sky brightness in the visit's band, AB mag per square arcsecond.
    """

    day_obs: int
    seq_num: int
    exposure_id: int
    obs_id: str
    group: str
    physical_filter: str
    band: str
    ra: float
    dec: float
    rotation: float
    mjd_begin: float
    exposure_time: float
    seeing: float
    airmass: float
    sky_mag: float

    @property
    def mjd_end(self) -> float:
        """End of the exposure, TAI MJD."""
        return self.mjd_begin + self.exposure_time / 86400.0

    @property
    def mjd_mid(self) -> float:
        """Middle of the exposure, TAI MJD."""
        return self.mjd_begin + 0.5 * self.exposure_time / 86400.0

    @property
    def date_begin(self) -> str:
        """Start of the exposure, ISO-8601 TAI."""
        return iso_tai(self.mjd_begin)

    @property
    def date_end(self) -> str:
        """End of the exposure, ISO-8601 TAI."""
        return iso_tai(self.mjd_end)

    def visit_info(self) -> VisitInfo:
        """The visit as `VisitInfo` (commanded pointing)."""
        return VisitInfo(
            exposure_id=self.exposure_id,
            exposure_time=self.exposure_time,
            mjd_begin=self.mjd_begin,
            ra=self.ra,
            dec=self.dec,
            rotation=self.rotation,
            airmass=self.airmass,
            physical_filter=self.physical_filter,
            band=self.band,
            observation_type="science",
        )


@dataclass(frozen=True)
class VisitTruth:
    """What really happened during a visit.

    Parameters
    ----------
    exposure_id : `int`
        The visit.
    ra, dec : `float`
        True boresight, degrees.
    rotation : `float`
        True rotation, degrees east of north.
    psf_fwhm : `float`
        PSF FWHM, pixels.
    sky_electrons : `float`
        Mean sky per pixel before the flat, electrons.
    electrons_per_njy : `float`
        Electrons per nJy of source flux in this exposure (after flat-fielding).
    sky_gradient : `tuple` [`float`, `float`]
        Fractional change of the sky across half the focal plane along x and y.
    """

    exposure_id: int
    ra: float
    dec: float
    rotation: float
    psf_fwhm: float
    sky_electrons: float
    electrons_per_njy: float
    sky_gradient: tuple[float, float]


@dataclass(frozen=True)
class CalibrationEpoch:
    """A period during which one set of master calibrations is valid.

    Parameters
    ----------
    name : `str`
        Name of the epoch (``epoch0``, ``epoch1`` ...).
    begin, end : `astropy.time.Time`
        Validity range, TAI, ``begin <= t < end``.
    """

    name: str
    begin: Time
    end: Time

    def contains(self, mjd: float) -> bool:
        """Whether a TAI MJD falls in the epoch."""
        return bool(self.begin.tai.mjd <= mjd < self.end.tai.mjd)


def plan_visits(config: SimulationConfig, instrument: Instrument) -> list[tuple[SimVisit, VisitTruth]]:
    """Plan the night's visits.

    Visit ``i`` depends only on the configuration and ``i`` (not on the number
    of visits): it starts ``i * visit_interval`` (plus a few seconds of jitter)
    after ``start_mjd``, cycles through the filters, is dithered uniformly
    within ``dither`` of the field centre, has a log-uniform seeing and a
    sky up to 0.4 mag brighter than dark sky.

    Raises
    ------
    ConfigurationError
        If a visit falls outside ``day_obs`` or the field is too low.
    """
    out = []
    scale = instrument.pixel_scale
    for index in range(config.n_visits):
        rng = derive_rng(config.seed, "visit", index)
        jitter = 0.0 if index == 0 else float(rng.uniform(0.0, 5.0))
        mjd = round((config.start_mjd + (index * config.visit_interval + jitter) / 86400.0) * 864e5) / 864e5
        if day_obs_of(mjd) != config.day_obs:
            raise ConfigurationError(f"visit {index} at MJD {mjd:.5f} falls after day_obs {config.day_obs}")
        info = instrument.filter(config.filters[index % len(config.filters)])
        dither_sep = config.dither * math.sqrt(rng.random()) / 3600.0
        ra, dec = offset_position(config.ra, config.dec, dither_sep, rng.uniform(0.0, 360.0))
        rotation = (config.rotation + rng.uniform(-1.0, 1.0) * config.rotation_dither) % 360.0
        seeing = math.exp(rng.uniform(math.log(config.seeing[0]), math.log(config.seeing[1])))
        mid = mjd + 0.5 * config.exposure_time / 86400.0
        x = airmass(float(ra), float(dec), mid)
        sky_mag = dark_sky(info.band) - rng.uniform(0.0, 0.4) - 0.1 * (x - 1.0)
        seq_num = config.first_seq_num + index
        visit = SimVisit(
            day_obs=config.day_obs,
            seq_num=seq_num,
            exposure_id=instrument.exposure_id(config.day_obs, seq_num),
            obs_id=instrument.obs_id(config.day_obs, seq_num),
            group=iso_tai(mjd),
            physical_filter=info.name,
            band=info.band,
            ra=round(float(ra), 8),
            dec=round(float(dec), 8),
            rotation=round(float(rotation), 6),
            mjd_begin=mjd,
            exposure_time=config.exposure_time,
            seeing=round(seeing, 4),
            airmass=round(x, 5),
            sky_mag=round(float(sky_mag), 4),
        )
        error = abs(rng.normal(config.pointing_error, 0.25 * config.pointing_error)) / 3600.0
        true_ra, true_dec = offset_position(visit.ra, visit.dec, error, rng.uniform(0.0, 360.0))
        rot_error = config.rotation_error * rng.normal(1.0, 0.3) * rng.choice([-1.0, 1.0])
        truth = VisitTruth(
            exposure_id=visit.exposure_id,
            ra=float(true_ra),
            dec=float(true_dec),
            rotation=(visit.rotation + rot_error) % 360.0,
            psf_fwhm=visit.seeing / scale,
            sky_electrons=sky_electrons_per_pixel(info, visit.sky_mag, visit.exposure_time, scale),
            electrons_per_njy=electrons_per_njy(info, visit.exposure_time, visit.airmass),
            sky_gradient=(float(rng.uniform(-0.01, 0.01)), float(rng.uniform(-0.01, 0.01))),
        )
        out.append((visit, truth))
    return out


def plan_epochs(visits: list[SimVisit], n_epochs: int) -> list[CalibrationEpoch]:
    """Split time into calibration epochs, the visits shared evenly between them.

    The first epoch begins 30 days before the first visit and the last ends
    30 days after the last; each boundary lies halfway between two visits
    (or, with fewer visits than epochs, an hour apart after the last visit).
    """
    starts = np.array([v.mjd_begin for v in visits])
    ends = np.array([v.mjd_end for v in visits])
    count = len(visits)
    splits = sorted({round(j * count / n_epochs) for j in range(1, n_epochs)} - {0, count})
    middles = [0.5 * (float(ends[k - 1]) + float(starts[k])) for k in splits]
    after = [float(ends[-1]) + hour / 24.0 for hour in range(1, n_epochs - len(middles))]
    bounds = [float(starts[0]) - 30.0, *middles, *after]
    bounds.append(max(float(ends[-1]), bounds[-1]) + 30.0)
    return [
        CalibrationEpoch(
            name=f"epoch{j}",
            begin=Time(bounds[j], format="mjd", scale="tai"),
            end=Time(bounds[j + 1], format="mjd", scale="tai"),
        )
        for j in range(n_epochs)
    ]
