"""The static sky: stars and galaxies with magnitudes in g, r and i.

Number counts are power laws in the r band, ``N(<m) ∝ 10**(slope m)``; the
other bands follow from colours drawn per object (a two-population stellar
locus for stars: disc/halo main sequence and M dwarfs; red-sequence and
blue-cloud-like colours for galaxies).  Galaxies are Sersic profiles of index
1 (exponential discs) or 4 (de Vaucouleurs spheroids), described by their
half-light radius, axis ratio and position angle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigurationError
from ._spherical import SkyRegion

__all__ = [
    "BANDS",
    "GALAXY_ID_BASE",
    "STAR_ID_BASE",
    "GalaxyCatalog",
    "StarCatalog",
    "make_galaxies",
    "make_stars",
    "power_law_magnitudes",
    "stellar_colours",
]

BANDS: tuple[str, ...] = ("g", "r", "i")
"""Bands in which the simulated sky has magnitudes."""
STAR_ID_BASE = 1_000_000_000
"""Star IDs are ``STAR_ID_BASE + index``."""
GALAXY_ID_BASE = 2_000_000_000
"""Galaxy IDs are ``GALAXY_ID_BASE + index``."""


def _band_mag(mags: dict[str, np.ndarray], band: str) -> np.ndarray:
    try:
        return mags[band]
    except KeyError as err:
        raise ConfigurationError(f"the simulated sky has no band {band!r} (bands: {BANDS})") from err


def power_law_magnitudes(
    rng: np.random.Generator, size: int, bright: float, faint: float, slope: float
) -> np.ndarray:
    """Magnitudes with cumulative counts ``N(<m) ∝ 10**(slope m)`` between two limits."""
    lo, hi = 10.0 ** (slope * bright), 10.0 ** (slope * faint)
    return np.log10(lo + rng.random(size) * (hi - lo)) / slope


def _expected_number(density: float, reference: float, bright: float, faint: float, slope: float) -> float:
    """Objects per square degree between two magnitudes, given the density brighter than ``reference``."""
    return density * (10.0 ** (slope * (faint - reference)) - 10.0 ** (slope * (bright - reference)))


@dataclass(frozen=True)
class StarCatalog:
    """Stars of the simulated sky (no proper motion).

    Parameters
    ----------
    id : `numpy.ndarray`
        Unique IDs (``int64``).
    ra, dec : `numpy.ndarray`
        Positions, degrees.
    mags : `dict` [`str`, `numpy.ndarray`]
        AB magnitude per band.
    """

    id: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    mags: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.id)

    def mag(self, band: str) -> np.ndarray:
        """Magnitudes in a band.

        Raises
        ------
        ConfigurationError
            If the sky has no magnitudes in that band.
        """
        return _band_mag(self.mags, band)


@dataclass(frozen=True)
class GalaxyCatalog:
    """Galaxies of the simulated sky.

    Parameters
    ----------
    id : `numpy.ndarray`
        Unique IDs (``int64``).
    ra, dec : `numpy.ndarray`
        Centres, degrees.
    mags : `dict` [`str`, `numpy.ndarray`]
        Total AB magnitude per band.
    half_light_radius : `numpy.ndarray`
        Half-light radius along the major axis, arcsec.
    axis_ratio : `numpy.ndarray`
        Minor over major axis, in ``(0, 1]``.
    position_angle : `numpy.ndarray`
        Major-axis direction, degrees east of north.
    sersic_index : `numpy.ndarray`
        1 (exponential) or 4 (de Vaucouleurs), ``int8``.
    """

    id: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    mags: dict[str, np.ndarray]
    half_light_radius: np.ndarray
    axis_ratio: np.ndarray
    position_angle: np.ndarray
    sersic_index: np.ndarray

    def __len__(self) -> int:
        return len(self.id)

    def mag(self, band: str) -> np.ndarray:
        """Total magnitudes in a band.

        Raises
        ------
        ConfigurationError
            If the sky has no magnitudes in that band.
        """
        return _band_mag(self.mags, band)

    @classmethod
    def empty(cls) -> GalaxyCatalog:
        """A catalog without galaxies."""
        nothing = np.zeros(0)
        return cls(
            id=np.zeros(0, dtype=np.int64),
            ra=nothing,
            dec=nothing,
            mags={band: nothing for band in BANDS},
            half_light_radius=nothing,
            axis_ratio=nothing,
            position_angle=nothing,
            sersic_index=np.zeros(0, dtype=np.int8),
        )


def stellar_colours(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(g - r, r - i)`` colours along a simple stellar locus.

    Sixty per cent of the stars are F/G/K main-sequence stars (g - r near
    0.45), the rest M dwarfs (g - r near 1.4) whose r - i rises steeply.
    """
    dwarf = rng.random(size) < 0.4
    g_r = np.where(dwarf, rng.normal(1.40, 0.08, size), rng.normal(0.45, 0.18, size))
    g_r = np.clip(g_r, 0.1, 1.6)
    r_i = np.where(g_r < 1.3, 0.38 * g_r - 0.07, 0.42 + 3.0 * (g_r - 1.3))
    r_i = np.clip(r_i + rng.normal(0.0, 0.03, size), -0.1, 1.6)
    return g_r, r_i


def make_stars(
    rng: np.random.Generator,
    region: SkyRegion,
    density: float,
    mag_range: tuple[float, float],
    slope: float,
) -> StarCatalog:
    """Draw the stars of a sky region.

    Parameters
    ----------
    rng : `numpy.random.Generator`
        Random stream of the star field.
    region : `SkyRegion`
        Where the stars are.
    density : `float`
        Stars per square degree brighter than r = 22.
    mag_range : `tuple` [`float`, `float`]
        Brightest and faintest r magnitude.
    slope : `float`
        ``d log10 N(<m) / d m``.
    """
    mean = _expected_number(density, 22.0, mag_range[0], mag_range[1], slope) * region.area
    size = int(rng.poisson(mean))
    ra, dec = region.sample(rng, size)
    r = power_law_magnitudes(rng, size, mag_range[0], mag_range[1], slope)
    g_r, r_i = stellar_colours(rng, size)
    return StarCatalog(
        id=STAR_ID_BASE + np.arange(size, dtype=np.int64),
        ra=ra,
        dec=dec,
        mags={"g": r + g_r, "r": r, "i": r - r_i},
    )


def make_galaxies(
    rng: np.random.Generator, region: SkyRegion, density: float, mag_range: tuple[float, float]
) -> GalaxyCatalog:
    """Draw the galaxies of a sky region.

    Parameters
    ----------
    rng : `numpy.random.Generator`
        Random stream of the galaxies.
    region : `SkyRegion`
        Where the galaxies are.
    density : `float`
        Galaxies per square degree brighter than r = 24.
    mag_range : `tuple` [`float`, `float`]
        Brightest and faintest r magnitude.

    Notes
    -----
    Counts rise as ``10**(0.35 m)``.  The half-light radius shrinks with
    magnitude (median 0.45 arcsec at r = 22, 0.2 dex scatter); a quarter of
    the galaxies are de Vaucouleurs spheroids, rounder and redder than the
    exponential discs.
    """
    slope = 0.35
    mean = _expected_number(density, 24.0, mag_range[0], mag_range[1], slope) * region.area
    size = int(rng.poisson(mean))
    ra, dec = region.sample(rng, size)
    r = power_law_magnitudes(rng, size, mag_range[0], mag_range[1], slope)
    spheroid = rng.random(size) < 0.25
    g_r = np.where(spheroid, rng.normal(0.95, 0.10, size), rng.normal(0.50, 0.20, size))
    g_r = np.clip(g_r, 0.0, 1.4)
    r_i = np.clip(0.15 + 0.35 * g_r + rng.normal(0.0, 0.06, size), -0.1, 1.0)
    radius = 0.45 * 10.0 ** (-0.12 * (r - 22.0) + rng.normal(0.0, 0.2, size))
    axis_ratio = np.where(spheroid, rng.uniform(0.55, 1.0, size), rng.uniform(0.2, 1.0, size))
    return GalaxyCatalog(
        id=GALAXY_ID_BASE + np.arange(size, dtype=np.int64),
        ra=ra,
        dec=dec,
        mags={"g": r + g_r, "r": r, "i": r - r_i},
        half_light_radius=np.clip(radius, 0.08, 6.0),
        axis_ratio=axis_ratio,
        position_angle=rng.uniform(0.0, 180.0, size),
        sersic_index=np.where(spheroid, 4, 1).astype(np.int8),
    )
