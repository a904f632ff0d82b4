"""The synthetic reference catalog: the brighter stars, with catalog errors.

Like a Gaia-based reference catalog: positions good to a few milliarcseconds
(no proper motion: the simulated stars do not move), and fluxes with a
fractional error of 0.5% at the bright end growing to ~2% at the depth limit.
Variable stars and galaxies are not included.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from ._catalogs import BANDS, StarCatalog
from ._photometry import mag_to_njy

__all__ = ["REFCAT_NAME", "make_reference_catalog"]

REFCAT_NAME = "sim_refcat"
"""Name of the synthetic reference catalog."""


def make_reference_catalog(stars: StarCatalog, depth: float, rng: np.random.Generator) -> Table:
    """Build the reference catalog.

    Parameters
    ----------
    stars : `StarCatalog`
        The simulated stars.
    depth : `float`
        Faintest r magnitude included.
    rng : `numpy.random.Generator`
        Random stream of the catalog errors.

    Returns
    -------
    refcat : `astropy.table.Table`
        Columns ``id``, ``coord_ra``, ``coord_dec`` (deg), ``coord_raErr``,
        ``coord_decErr`` (deg), and ``{band}_flux``, ``{band}_fluxErr`` (nJy)
        for g, r, i; sorted by ``id``.
    """
    chosen = np.flatnonzero(stars.mag("r") <= depth)
    count = len(chosen)
    faintness = 10.0 ** (0.4 * (stars.mag("r")[chosen] - depth))
    position_error = (3.0 + 10.0 * faintness) / 3.6e6  # degrees
    dec = stars.dec[chosen] + position_error * rng.standard_normal(count)
    ra_error = position_error / np.cos(np.radians(stars.dec[chosen]))
    ra = np.mod(stars.ra[chosen] + ra_error * rng.standard_normal(count), 360.0)
    table = Table()
    table["id"] = stars.id[chosen]
    table["coord_ra"] = ra
    table["coord_dec"] = dec
    table["coord_raErr"] = position_error
    table["coord_decErr"] = position_error
    for name in ("coord_ra", "coord_dec", "coord_raErr", "coord_decErr"):
        table[name].unit = "deg"
    relative = np.sqrt(0.005**2 + (0.02 * faintness) ** 2)
    for band in BANDS:
        flux = mag_to_njy(stars.mag(band)[chosen])
        error = relative * flux
        table[f"{band}_flux"] = flux + error * rng.standard_normal(count)
        table[f"{band}_fluxErr"] = error
        table[f"{band}_flux"].unit = "nJy"
        table[f"{band}_fluxErr"].unit = "nJy"
    table.meta["REFCAT"] = REFCAT_NAME
    table.meta["DEPTH_R"] = depth
    return table
