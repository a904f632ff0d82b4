"""Magnitudes, fluxes and expected electron counts.

Fluxes are in nanojansky (nJy; AB magnitude 31.4 is 1 nJy).  A filter's
zero point is the AB magnitude giving 1 electron per second at airmass 1
(`promptproc.instrument.FilterInfo`), so at airmass ``X`` a source of
magnitude ``m`` gives ``t * 10**(-0.4 (m - ZP + k (X - 1)))`` electrons in
``t`` seconds, ``k`` being the extinction per airmass.  The night sky is
measured at the telescope: no extinction applies to it.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigurationError
from ..image import NANOJANSKY_AB_ZERO_POINT
from ..instrument import FilterInfo

__all__ = [
    "DARK_SKY",
    "dark_sky",
    "electrons_per_njy",
    "mag_to_njy",
    "njy_to_mag",
    "sky_electrons_per_pixel",
]

DARK_SKY: dict[str, float] = {"u": 22.95, "g": 22.26, "r": 21.20, "i": 20.48, "z": 19.60, "y": 18.61}
"""Dark-sky brightness at zenith per band, AB mag per square arcsecond (LSST values)."""


def mag_to_njy(mag: np.ndarray | float) -> np.ndarray | float:
    """AB magnitude to flux in nJy (infinite magnitude gives 0)."""
    return 10.0 ** (-0.4 * (np.asarray(mag, dtype=float) - NANOJANSKY_AB_ZERO_POINT))


def njy_to_mag(flux: np.ndarray | float) -> np.ndarray | float:
    """Flux in nJy to AB magnitude; NaN where the flux is not positive."""
    flux = np.asarray(flux, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flux > 0, NANOJANSKY_AB_ZERO_POINT - 2.5 * np.log10(flux), np.nan)


def electrons_per_njy(info: FilterInfo, exposure_time: float, airmass: float) -> float:
    """Expected electrons per nJy of source flux in one exposure.

    Parameters
    ----------
    info : `FilterInfo`
        The physical filter.
    exposure_time : `float`
        Open-shutter time, seconds.
    airmass : `float`
        Airmass of the observation.
    """
    exponent = info.zero_point - NANOJANSKY_AB_ZERO_POINT - info.extinction * (airmass - 1.0)
    return exposure_time * 10.0 ** (0.4 * exponent)


def sky_electrons_per_pixel(
    info: FilterInfo, sky_mag: float, exposure_time: float, pixel_scale: float
) -> float:
    """Expected sky electrons per pixel.

    Parameters
    ----------
    info : `FilterInfo`
        The physical filter.
    sky_mag : `float`
        Sky brightness, AB mag per square arcsecond.
    exposure_time : `float`
        Open-shutter time, seconds.
    pixel_scale : `float`
        Arcseconds per pixel.
    """
    return exposure_time * pixel_scale**2 * 10.0 ** (-0.4 * (sky_mag - info.zero_point))


def dark_sky(band: str) -> float:
    """Dark-sky brightness of a band, mag per square arcsecond.

    Raises
    ------
    ConfigurationError
        If the band is not one of `DARK_SKY`.
    """
    try:
        return DARK_SKY[band]
    except KeyError as err:
        raise ConfigurationError(f"no sky brightness is known for band {band!r}") from err
