"""Sky coordinates of detector pixels: predicted WCS and footprints.

The prediction is a gnomonic (TAN) projection at the boresight with the
nominal plate scale, which is what a worker can know before the raw arrives;
the real WCS is fitted later against the reference catalog.
"""

from __future__ import annotations

import math

import numpy as np
from astropy.wcs import WCS

from ._geometry import DetectorGeometry
from ._instrument import Instrument

__all__ = [
    "make_tan_wcs",
    "predict_detector_wcs",
    "predict_footprint",
    "sky_polygon",
    "wcs_corners",
]


def make_tan_wcs(
    ra: float, dec: float, crpix: tuple[float, float], pixel_scale: float, rotation: float = 0.0
) -> WCS:
    """Make a TAN WCS.

    Parameters
    ----------
    ra, dec : `float`
        Tangent point, degrees (ICRS).
    crpix : `tuple` [`float`, `float`]
        0-based pixel position ``(x, y)`` of the tangent point.
    pixel_scale : `float`
        Arcseconds per pixel.
    rotation : `float`
        Position angle of the pixel ``+y`` axis, degrees east of north.
        ``+x`` points west at rotation 0 (the usual sky parity).

    Returns
    -------
    wcs : `astropy.wcs.WCS`
        A two-axis celestial WCS.
    """
    scale = pixel_scale / 3600.0
    theta = math.radians(rotation)
    cos_t, sin_t = math.cos(theta), math.sin(theta)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.crval = [ra % 360.0, dec]
    # FITS pixel coordinates are 1-based.
    wcs.wcs.crpix = [crpix[0] + 1.0, crpix[1] + 1.0]
    wcs.wcs.cd = np.array([[-cos_t, sin_t], [sin_t, cos_t]]) * scale
    wcs.wcs.radesys = "ICRS"
    wcs.wcs.set()
    return wcs


def predict_detector_wcs(
    instrument: Instrument, detector: int | str, ra: float, dec: float, rotation: float
) -> WCS:
    """Predict the WCS of a detector from the telescope pointing.

    Parameters
    ----------
    instrument : `Instrument`
        The instrument.
    detector : `int` or `str`
        Detector ID or name.
    ra, dec : `float`
        Boresight, degrees (ICRS).
    rotation : `float`
        Sky position angle of the camera ``+y`` axis, degrees east of north.

    Returns
    -------
    wcs : `astropy.wcs.WCS`
        The detector's predicted WCS, pixels 0-based.
    """
    det = instrument.detector(detector)
    # The boresight is focal-plane (0, 0); pixel x sits at origin + x + 0.5.
    crpix = (-det.origin[0] - 0.5, -det.origin[1] - 0.5)
    return make_tan_wcs(ra, dec, crpix, instrument.pixel_scale, rotation)


def wcs_corners(wcs: WCS, width: int, height: int, padding: float = 0.0) -> np.ndarray:
    """Sky positions of the outer corners of a pixel box.

    Parameters
    ----------
    wcs : `astropy.wcs.WCS`
        The box's WCS.
    width, height : `int`
        Box size in pixels.
    padding : `float`
        Pixels to grow the box by on every side.

    Returns
    -------
    corners : `numpy.ndarray`
        ``(4, 2)`` array of ``(ra, dec)`` degrees, counter-clockwise on the sky
        for the usual parity.
    """
    lo_x, lo_y = -0.5 - padding, -0.5 - padding
    hi_x, hi_y = width - 0.5 + padding, height - 0.5 + padding
    xs = np.array([lo_x, hi_x, hi_x, lo_x])
    ys = np.array([lo_y, lo_y, hi_y, hi_y])
    ra, dec = wcs.all_pix2world(xs, ys, 0)
    return np.column_stack([ra, dec])


def sky_polygon(corners: np.ndarray):  # -> lsst.sphgeom.ConvexPolygon
    """Convex polygon on the sphere through ``(ra, dec)`` corners in degrees."""
    from lsst.sphgeom import ConvexPolygon, LonLat, UnitVector3d

    vertices = [UnitVector3d(LonLat.fromDegrees(float(ra), float(dec))) for ra, dec in corners]
    return ConvexPolygon.convexHull(vertices)


def predict_footprint(
    instrument: Instrument,
    detector: int | str,
    ra: float,
    dec: float,
    rotation: float,
    padding_arcsec: float = 0.0,
):  # -> lsst.sphgeom.ConvexPolygon
    """Predict the sky region a detector sees, grown by a margin.

    Parameters
    ----------
    instrument : `Instrument`
        The instrument.
    detector : `int` or `str`
        Detector ID or name.
    ra, dec : `float`
        Boresight, degrees (ICRS).
    rotation : `float`
        Sky position angle of the camera ``+y`` axis, degrees east of north.
    padding_arcsec : `float`
        Margin added on every side, arcseconds, to allow for pointing errors.

    Returns
    -------
    region : `lsst.sphgeom.ConvexPolygon`
        The padded footprint.
    """
    det: DetectorGeometry = instrument.detector(detector)
    wcs = predict_detector_wcs(instrument, det.id, ra, dec, rotation)
    corners = wcs_corners(wcs, det.width, det.height, padding_arcsec / instrument.pixel_scale)
    return sky_polygon(corners)
