"""Things that change: transients with light curves and periodic variable stars.

Transients rise as a half Gaussian to their peak and fade exponentially,
fast enough (tens of minutes to hours) to change between the visits of one
night; before ``peak - 4 rise`` they are not there at all.  Variable stars
oscillate sinusoidally in magnitude about their mean.  Magnitudes are AB;
times are TAI MJD.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._catalogs import GalaxyCatalog, _band_mag, stellar_colours
from ._photometry import mag_to_njy, njy_to_mag
from ._spherical import SkyRegion, offset_position

__all__ = [
    "TRANSIENT_ID_BASE",
    "VARIABLE_ID_BASE",
    "TransientCatalog",
    "VariableCatalog",
    "make_transients",
    "make_variables",
]

TRANSIENT_ID_BASE = 3_000_000_000
"""Transient IDs are ``TRANSIENT_ID_BASE + index``."""
VARIABLE_ID_BASE = 4_000_000_000
"""Variable-star IDs are ``VARIABLE_ID_BASE + index``."""

_RISE_CUTOFF = 4.0  # rise widths before the peak at which a transient appears


@dataclass(frozen=True)
class TransientCatalog:
    """Transients and their light curves.

    Parameters
    ----------
    id : `numpy.ndarray`
        Unique IDs (``int64``).
    ra, dec : `numpy.ndarray`
        Positions, degrees.
    host_id : `numpy.ndarray`
        ID of the host galaxy, -1 for hostless transients.
    peak_mjd : `numpy.ndarray`
        Time of peak brightness, TAI MJD.
    peak_mags : `dict` [`str`, `numpy.ndarray`]
        Peak AB magnitude per band.
    rise_time : `numpy.ndarray`
        Width (sigma) of the Gaussian rise, days.
    fade_time : `numpy.ndarray`
        e-folding time of the exponential decline, days.
    """

    id: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    host_id: np.ndarray
    peak_mjd: np.ndarray
    peak_mags: dict[str, np.ndarray]
    rise_time: np.ndarray
    fade_time: np.ndarray

    def __len__(self) -> int:
        return len(self.id)

    def brightness(self, mjd: float) -> np.ndarray:
        """Flux relative to the peak at a time, in ``[0, 1]``."""
        dt = mjd - self.peak_mjd
        rise = np.exp(-0.5 * (dt / self.rise_time) ** 2)
        rise = np.where(dt < -_RISE_CUTOFF * self.rise_time, 0.0, rise)
        return np.where(dt < 0, rise, np.exp(-np.maximum(dt, 0.0) / self.fade_time))

    def flux(self, band: str, mjd: float) -> np.ndarray:
        """Flux in nJy at a time."""
        return mag_to_njy(_band_mag(self.peak_mags, band)) * self.brightness(mjd)

    def mag(self, band: str, mjd: float) -> np.ndarray:
        """AB magnitude at a time; NaN before the transient appears."""
        return njy_to_mag(self.flux(band, mjd))


@dataclass(frozen=True)
class VariableCatalog:
    """Periodic variable stars.

    Parameters
    ----------
    id : `numpy.ndarray`
        Unique IDs (``int64``).
    ra, dec : `numpy.ndarray`
        Positions, degrees.
    mean_mags : `dict` [`str`, `numpy.ndarray`]
        Mean AB magnitude per band.
    amplitude : `numpy.ndarray`
        Peak-to-peak amplitude, magnitudes (the same in every band).
    period : `numpy.ndarray`
        Period, days.
    epoch : `numpy.ndarray`
        A time of mean brightness on the way to maximum, TAI MJD.
    """

    id: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    mean_mags: dict[str, np.ndarray]
    amplitude: np.ndarray
    period: np.ndarray
    epoch: np.ndarray

    def __len__(self) -> int:
        return len(self.id)

    def mag(self, band: str, mjd: float | None) -> np.ndarray:
        """AB magnitude at a time, or the mean magnitude when ``mjd`` is None."""
        mean = _band_mag(self.mean_mags, band)
        if mjd is None:
            return mean
        phase = 2.0 * np.pi * (mjd - self.epoch) / self.period
        return mean - 0.5 * self.amplitude * np.sin(phase)

    def flux(self, band: str, mjd: float | None) -> np.ndarray:
        """Flux in nJy at a time (at the mean magnitude when ``mjd`` is None)."""
        return mag_to_njy(self.mag(band, mjd))


def make_transients(
    rng: np.random.Generator,
    region: SkyRegion,
    galaxies: GalaxyCatalog,
    size: int,
    time_range: tuple[float, float],
) -> TransientCatalog:
    """Draw transients, about half of them in galaxies brighter than r = 22.5.

    Parameters
    ----------
    rng : `numpy.random.Generator`
        Random stream of the transients.
    region : `SkyRegion`
        Where hostless transients are placed.
    galaxies : `GalaxyCatalog`
        Candidate hosts.
    size : `int`
        Number of transients.
    time_range : `tuple` [`float`, `float`]
        First and last visit times, TAI MJD; peaks fall from a little before
        the first to a little after the last.

    Notes
    -----
    Peak r magnitudes are uniform in 20-24.5, so that single-visit S/N spans
    a few to a few hundred; colours are g - r in [-0.3, 0.5] and r - i in
    [-0.2, 0.4].  A hosted transient sits at a Gaussian offset from its host's
    centre of 0.6 half-light radii along the host's axes.
    """
    hosts = np.flatnonzero(galaxies.mag("r") < 22.5) if len(galaxies) else np.zeros(0, dtype=int)
    hosted = (rng.random(size) < 0.5) & (len(hosts) > 0)
    ra, dec = region.sample(rng, size)
    host_id = np.full(size, -1, dtype=np.int64)
    n_hosted = int(hosted.sum())
    if n_hosted:
        chosen = hosts[rng.integers(0, len(hosts), n_hosted)]
        radius = galaxies.half_light_radius[chosen]
        major = rng.normal(0.0, 0.6, n_hosted) * radius
        minor = rng.normal(0.0, 0.6, n_hosted) * radius * galaxies.axis_ratio[chosen]
        pa = np.radians(galaxies.position_angle[chosen])
        east = major * np.sin(pa) + minor * np.cos(pa)
        north = major * np.cos(pa) - minor * np.sin(pa)
        distance = np.hypot(east, north) / 3600.0
        angle = np.degrees(np.arctan2(east, north))
        hra, hdec = offset_position(galaxies.ra[chosen], galaxies.dec[chosen], distance, angle)
        ra[hosted], dec[hosted] = hra, hdec
        host_id[hosted] = galaxies.id[chosen]
    first, last = time_range
    r = rng.uniform(20.0, 24.5, size)
    g_r, r_i = rng.uniform(-0.3, 0.5, size), rng.uniform(-0.2, 0.4, size)
    return TransientCatalog(
        id=TRANSIENT_ID_BASE + np.arange(size, dtype=np.int64),
        ra=ra,
        dec=dec,
        host_id=host_id,
        peak_mjd=rng.uniform(first - 0.03, last + 0.05, size),
        peak_mags={"g": r + g_r, "r": r, "i": r - r_i},
        rise_time=rng.uniform(0.01, 0.04, size),
        fade_time=rng.uniform(0.03, 0.3, size),
    )


def make_variables(
    rng: np.random.Generator, region: SkyRegion, size: int, reference_mjd: float
) -> VariableCatalog:
    """Draw periodic variable stars.

    Mean r magnitudes are uniform in 17-22.5, peak-to-peak amplitudes in
    0.2-1.0 mag, periods log-uniform in 0.05-0.8 days; colours follow the
    stellar locus.

    Parameters
    ----------
    rng : `numpy.random.Generator`
        Random stream of the variables.
    region : `SkyRegion`
        Where they are.
    size : `int`
        Number of variable stars.
    reference_mjd : `float`
        A time near the visits, TAI MJD; phases are random about it.
    """
    ra, dec = region.sample(rng, size)
    r = rng.uniform(17.0, 22.5, size)
    g_r, r_i = stellar_colours(rng, size)
    period = np.exp(rng.uniform(np.log(0.05), np.log(0.8), size))
    mags = {"g": r + g_r, "r": r, "i": r - r_i}
    return VariableCatalog(
        id=VARIABLE_ID_BASE + np.arange(size, dtype=np.int64),
        ra=ra,
        dec=dec,
        mean_mags=mags,
        amplitude=rng.uniform(0.2, 1.0, size),
        period=period,
        epoch=reference_mjd - rng.random(size) * period,
    )
