"""The whole simulated sky: a region and everything in it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..instrument import Instrument
from ._catalogs import GalaxyCatalog, StarCatalog, make_galaxies, make_stars
from ._config import SimulationConfig
from ._rng import derive_rng
from ._spherical import SkyRegion
from ._variability import TransientCatalog, VariableCatalog, make_transients, make_variables

__all__ = ["SkyModel", "make_sky_model", "sky_region"]


@dataclass(frozen=True)
class SkyModel:
    """Stars, galaxies, transients and variable stars in a sky region.

    Parameters
    ----------
    region : `SkyRegion`
        The circle holding every source; nothing exists outside it.
    stars : `StarCatalog`
        Static stars.
    galaxies : `GalaxyCatalog`
        Galaxies (empty when disabled).
    transients : `TransientCatalog`
        Transients with light curves.
    variables : `VariableCatalog`
        Periodic variable stars.
    """

    region: SkyRegion
    stars: StarCatalog
    galaxies: GalaxyCatalog
    transients: TransientCatalog
    variables: VariableCatalog


def sky_region(config: SimulationConfig, instrument: Instrument) -> SkyRegion:
    """The sky region of a configuration: every possible footprint plus padding.

    Its radius is the focal plane's half-diagonal plus the dither radius,
    three times the pointing error and ``sky_padding``; it does not depend on
    the number of visits, so adding visits keeps the same sky.
    """
    half_diagonal = max(
        math.hypot(corner_x, corner_y)
        for det in instrument.detectors
        for corner_x in (det.origin[0], det.origin[0] + det.width)
        for corner_y in (det.origin[1], det.origin[1] + det.height)
    )
    radius = (
        half_diagonal * instrument.pixel_scale
        + (config.dither or 0.0)
        + 3.0 * config.pointing_error
        + config.sky_padding
    )
    return SkyRegion(config.ra % 360.0, config.dec, radius / 3600.0)


def make_sky_model(config: SimulationConfig, region: SkyRegion, time_range: tuple[float, float]) -> SkyModel:
    """Draw the sky of a configuration.

    Parameters
    ----------
    config : `SimulationConfig`
        Densities, magnitude ranges and counts.
    region : `SkyRegion`
        Where the sources are.
    time_range : `tuple` [`float`, `float`]
        First and last visit times, TAI MJD, for the transients' peaks and
        the variables' phases.
    """
    stars = make_stars(
        derive_rng(config.seed, "sky", "stars"),
        region,
        config.star_density,
        config.star_mags,
        config.star_count_slope,
    )
    galaxies = (
        make_galaxies(
            derive_rng(config.seed, "sky", "galaxies"), region, config.galaxy_density, config.galaxy_mags
        )
        if config.galaxies
        else GalaxyCatalog.empty()
    )
    transients = make_transients(
        derive_rng(config.seed, "sky", "transients"), region, galaxies, config.n_transients, time_range
    )
    variables = make_variables(
        derive_rng(config.seed, "sky", "variables"), region, config.n_variables, time_range[0]
    )
    return SkyModel(region, stars, galaxies, transients, variables)
