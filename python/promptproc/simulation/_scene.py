"""Sources of the sky model as seen in one image: pixel positions and fluxes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.wcs import WCS

from ._photometry import mag_to_njy
from ._render import galaxy_shape_covariance
from ._skymodel import SkyModel
from ._spherical import angular_separation

__all__ = ["KINDS", "SceneSources", "project_sky"]

KINDS = ("star", "galaxy", "variable", "transient")


@dataclass(frozen=True)
class SceneSources:
    """Sources landing in (or near) one image.

    Parameters
    ----------
    id : `numpy.ndarray`
        Source IDs.
    kind : `numpy.ndarray`
        ``star``, ``galaxy``, ``variable`` or ``transient``.
    ra, dec : `numpy.ndarray`
        Positions, degrees.
    x, y : `numpy.ndarray`
        Pixel positions in the image, 0-based.
    mag : `numpy.ndarray`
        AB magnitude in the band at the time (NaN for a transient not yet there).
    flux : `numpy.ndarray`
        Flux, nJy.
    host_id : `numpy.ndarray`
        Host galaxy of a transient, else -1.
    shape : `numpy.ndarray`
        ``(n, 2, 2)`` pixel shape matrices of galaxies (zeros for point sources).
    sersic_index : `numpy.ndarray`
        Sersic index of galaxies, 0 for point sources.
    """

    id: np.ndarray
    kind: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    x: np.ndarray
    y: np.ndarray
    mag: np.ndarray
    flux: np.ndarray
    host_id: np.ndarray
    shape: np.ndarray
    sersic_index: np.ndarray

    def __len__(self) -> int:
        return len(self.id)

    def select(self, keep: np.ndarray) -> SceneSources:
        """The sources where ``keep`` is true (or at the given indices)."""
        return SceneSources(**{name: getattr(self, name)[keep] for name in self.__dataclass_fields__})

    @property
    def is_point(self) -> np.ndarray:
        """Whether each source is point-like (not a galaxy)."""
        return self.kind != "galaxy"


def _sky_to_pixel(wcs: WCS) -> np.ndarray:
    """Linear map from (east, north) arcsec offsets to pixel offsets at the reference point."""
    return np.linalg.inv(wcs.pixel_scale_matrix * 3600.0)


def project_sky(
    model: SkyModel,
    wcs: WCS,
    width: int,
    height: int,
    band: str,
    mjd: float | None,
    margin: float = 0.0,
) -> SceneSources:
    """The sources of the sky model whose centres fall on an image (grown by a margin).

    Parameters
    ----------
    model : `SkyModel`
        The sky.
    wcs : `astropy.wcs.WCS`
        The image's WCS (0-based pixels).
    width, height : `int`
        Image size, pixels.
    band : `str`
        Band of the magnitudes and fluxes.
    mjd : `float` or `None`
        Time (TAI MJD) for variable sources; None means a static template:
        variable stars at their mean magnitude and no transients.
    margin : `float`
        Pixels by which to grow the image on every side.
    """
    centre = wcs.all_pix2world([[(width - 1) / 2.0, (height - 1) / 2.0]], 0)[0]
    scale = float(np.sqrt(abs(np.linalg.det(wcs.pixel_scale_matrix))))
    reach = (np.hypot(width, height) / 2.0 + margin + 2.0) * scale

    parts: list[dict[str, np.ndarray]] = []

    def add(kind: str, ids, ra, dec, mag, flux, host=None, galaxy=None) -> None:
        near = angular_separation(centre[0], centre[1], ra, dec) <= reach
        if not near.any():
            return
        xs, ys = wcs.all_world2pix(ra[near], dec[near], 0)
        inside = (xs >= -0.5 - margin) & (xs < width - 0.5 + margin)
        inside &= (ys >= -0.5 - margin) & (ys < height - 0.5 + margin)
        count = int(inside.sum())
        rows = np.flatnonzero(near)[inside]
        part = {
            "id": ids[rows],
            "kind": np.full(count, kind, dtype="U9"),
            "ra": ra[rows],
            "dec": dec[rows],
            "x": xs[inside],
            "y": ys[inside],
            "mag": mag[rows],
            "flux": flux[rows],
            "host_id": host[rows] if host is not None else np.full(count, -1, dtype=np.int64),
            "shape": np.zeros((count, 2, 2)),
            "sersic_index": np.zeros(count, dtype=np.int8),
        }
        if galaxy is not None:
            g = model.galaxies
            part["shape"] = galaxy_shape_covariance(
                g.half_light_radius[rows], g.axis_ratio[rows], g.position_angle[rows], _sky_to_pixel(wcs)
            )
            part["sersic_index"] = g.sersic_index[rows]
        parts.append(part)

    stars = model.stars
    add("star", stars.id, stars.ra, stars.dec, stars.mag(band), mag_to_njy(stars.mag(band)))
    gal = model.galaxies
    if len(gal):
        add("galaxy", gal.id, gal.ra, gal.dec, gal.mag(band), mag_to_njy(gal.mag(band)), galaxy=True)
    var = model.variables
    if len(var):
        add("variable", var.id, var.ra, var.dec, var.mag(band, mjd), var.flux(band, mjd))
    tra = model.transients
    if mjd is not None and len(tra):
        add("transient", tra.id, tra.ra, tra.dec, tra.mag(band, mjd), tra.flux(band, mjd), host=tra.host_id)
    if not parts:
        empty = {
            "id": np.zeros(0, dtype=np.int64),
            "kind": np.zeros(0, dtype="U9"),
            "shape": np.zeros((0, 2, 2)),
            "host_id": np.zeros(0, dtype=np.int64),
            "sersic_index": np.zeros(0, dtype=np.int8),
        }
        return SceneSources(**empty, **{k: np.zeros(0) for k in ("ra", "dec", "x", "y", "mag", "flux")})
    return SceneSources(**{name: np.concatenate([p[name] for p in parts]) for name in parts[0]})
