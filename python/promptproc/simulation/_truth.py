"""Truth tables: what a raw contains, and the expected measurement of each source."""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from ..instrument import DetectorGeometry
from ._profiles import moffat_alpha
from ._scene import SceneSources
from ._visits import SimVisit, VisitTruth

__all__ = ["moffat_effective_area", "truth_table"]

_GAUSSIAN_HALF_LIGHT = 1.1774  # half-light radius of a circular Gaussian, in sigmas


def moffat_effective_area(fwhm: float, beta: float) -> float:
    """Noise-equivalent area ``1 / integral(psf^2)`` of a Moffat PSF, pixels."""
    alpha = moffat_alpha(fwhm, beta)
    return float(np.pi * alpha**2 * (2.0 * beta - 1.0) / (beta - 1.0) ** 2)


def truth_table(
    sources: SceneSources,
    visit: SimVisit,
    truth: VisitTruth,
    detector: DetectorGeometry,
    psf_beta: float,
    dark_current: float,
) -> Table:
    """Truth table of the sources whose centres fall on a detector.

    Parameters
    ----------
    sources : `SceneSources`
        Sources projected with the visit's true WCS.
    visit, truth : `SimVisit`, `VisitTruth`
        The visit.
    detector : `DetectorGeometry`
        The detector (for its read noise).
    psf_beta : `float`
        Moffat index of the PSF.
    dark_current : `float`
        Mean dark current, e-/s.

    Returns
    -------
    table : `astropy.table.Table`
        Columns ``id``, ``kind``, ``ra``, ``dec`` (deg), ``x``, ``y`` (true
        pixel position, 0-based), ``mag`` (AB), ``flux`` (nJy), ``counts``
        (expected electrons in the flat-fielded image), ``snr`` (expected
        S/N of a PSF fit, or of an optimal fit for galaxies, in this image
        alone), ``peak`` (expected peak electrons above the sky, before the
        flat), ``host_id``.  The metadata holds the visit and its true pointing.
    """
    on = (sources.x >= -0.5) & (sources.x < detector.width - 0.5)
    on &= (sources.y >= -0.5) & (sources.y < detector.height - 0.5)
    chosen = sources.select(on)
    counts = chosen.flux * truth.electrons_per_njy
    read_var = float(np.mean([amp.read_noise**2 for amp in detector.amplifiers]))
    background = truth.sky_electrons + dark_current * visit.exposure_time + read_var
    area = moffat_effective_area(truth.psf_fwhm, psf_beta)
    alpha = moffat_alpha(truth.psf_fwhm, psf_beta)
    peak = counts * (psf_beta - 1.0) / (np.pi * alpha**2)
    galaxy = ~chosen.is_point
    if galaxy.any():
        # A galaxy is treated as a Gaussian whose variance adds the PSF's and the galaxy's.
        psf_var = area / (4.0 * np.pi)
        size = np.sqrt(np.abs(np.linalg.det(chosen.shape[galaxy]))) / _GAUSSIAN_HALF_LIGHT**2
        area_g = 4.0 * np.pi * (psf_var + size)
        factor = np.ones(len(chosen))
        factor[galaxy] = area_g / area
        peak[galaxy] = counts[galaxy] / (2.0 * np.pi * (psf_var + size))
        area = area * factor
    with np.errstate(invalid="ignore", divide="ignore"):
        snr = counts / np.sqrt(np.maximum(counts, 0.0) + area * background)
    table = Table(
        {
            "id": chosen.id.astype(np.int64),
            "kind": chosen.kind.astype("U9"),
            "ra": chosen.ra,
            "dec": chosen.dec,
            "x": chosen.x,
            "y": chosen.y,
            "mag": chosen.mag,
            "flux": chosen.flux,
            "counts": counts,
            "snr": snr,
            "peak": peak,
            "host_id": chosen.host_id.astype(np.int64),
        }
    )
    for name, unit in (("ra", "deg"), ("dec", "deg"), ("x", "pix"), ("y", "pix"), ("mag", "mag")):
        table[name].unit = unit
    table["flux"].unit = "nJy"
    table.meta.update(
        {
            "OBSID": visit.obs_id,
            "EXPID": visit.exposure_id,
            "DETECTOR": detector.name,
            "DETNUM": detector.id,
            "FILTER": visit.physical_filter,
            "BAND": visit.band,
            "MJD-MID": visit.mjd_mid,
            "TRUE_RA": truth.ra,
            "TRUE_DEC": truth.dec,
            "TRUE_ROT": truth.rotation,
            "PSF_FWHM": truth.psf_fwhm,
            "SKY_E": truth.sky_electrons,
            "EPERNJY": truth.electrons_per_njy,
        }
    )
    return table
