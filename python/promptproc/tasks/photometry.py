"""Photometric calibration: the zero point from matched reference stars.

For every astrometric match that is unflagged, unsaturated, above
`PhotometryConfig.min_snr` and has a positive reference flux, the zero point
of the star is ``m_ref - m_inst`` with ``m_ref = 31.4 - 2.5 log10(f_ref / nJy)``
and ``m_inst = -2.5 log10(psfInstFlux / count)``.  The exposure's zero point
is the iteratively sigma-clipped median of these (the median is robust to
variable stars and bad matches); its error is
``1.2533 sigma / sqrt(n)`` with ``sigma`` the clipped robust scatter.  The
result is a `PhotoCalib` (nJy per count) with that error.

PSF fluxes are measured with a unit-sum PSF kernel of finite size, so the
zero point also absorbs the PSF aperture correction: calibrate PSF fluxes
measured with the same PSF model (e.g. DIA PSF fluxes) with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from ..image import NANOJANSKY_AB_ZERO_POINT, PhotoCalib
from ._numerics import sigma_clipped_median
from .errors import CalibrationFailure

__all__ = ["PhotometryConfig", "PhotometryResult", "PhotometryTask"]

_REJECT = (
    "psfFlux_flag",
    "centroid_flag",
    "blended",
    "is_negative",
    "pixelFlags_saturated",
    "pixelFlags_bad",
    "pixelFlags_cr",
    "pixelFlags_nodata",
    "pixelFlags_interpolatedCenter",
    "pixelFlags_suspectCenter",
)


@dataclass(frozen=True)
class PhotometryConfig:
    """How the zero point is measured.

    Parameters
    ----------
    min_snr : `float`
        Least PSF signal-to-noise ratio of a calibration star.
    nsigma : `float`
        Clipping threshold, robust sigmas.
    iterations : `int`
        Clipping passes.
    min_stars : `int`
        Fewer calibration stars is a `CalibrationFailure`.
    flux_column : `str`
        Reference flux column; ``{band}`` is replaced by the band.
    """

    min_snr: float = 20.0
    nsigma: float = 3.0
    iterations: int = 5
    min_stars: int = 5
    flux_column: str = "{band}_flux"


@dataclass
class PhotometryResult:
    """A measured zero point.

    Attributes
    ----------
    photo_calib : `PhotoCalib`
        nJy per count, with its error.
    zero_point : `float`
        AB magnitude of one count.
    zero_point_err : `float`
        Its standard error, magnitudes.
    scatter : `float`
        Clipped robust scatter of the per-star zero points, magnitudes.
    n_stars : `int`
        Stars kept after clipping.
    used : `astropy.table.Table`
        ``source_row``, ``ref_row``, ``zero_point`` (mag), ``kept`` for every candidate.
    """

    photo_calib: PhotoCalib
    zero_point: float
    zero_point_err: float
    scatter: float
    n_stars: int
    used: Table


class PhotometryTask:
    """Measure an exposure's photometric zero point.

    Parameters
    ----------
    config : `PhotometryConfig`, optional
        Parameters; defaults if not given.
    """

    ConfigClass = PhotometryConfig

    def __init__(self, config: PhotometryConfig | None = None) -> None:
        self.config = config or PhotometryConfig()

    def run(self, sources: Table, refcat: Table, matches: Table, band: str) -> PhotometryResult:
        """Measure the zero point.

        Parameters
        ----------
        sources : `astropy.table.Table`
            `MeasurementTask` output (``psfInstFlux`` in counts, ``snr``, flags).
        refcat : `astropy.table.Table`
            Reference catalog with the flux column (nJy).
        matches : `astropy.table.Table`
            ``source_row`` and ``ref_row`` (`AstrometryResult.matches`).
        band : `str`
            Band of the exposure.

        Returns
        -------
        result : `PhotometryResult`
            The calibration.

        Raises
        ------
        CalibrationFailure
            With step ``"photometry"``: no flux column for the band, or too few
            usable stars.
        """
        config = self.config
        column = config.flux_column.format(band=band)
        if column not in refcat.colnames:
            raise CalibrationFailure("photometry", f"reference catalog has no column {column!r}")
        src = np.asarray(matches["source_row"], dtype=np.intp)
        ref = np.asarray(matches["ref_row"], dtype=np.intp)
        ok = np.ones(src.size, dtype=bool)
        for name in _REJECT:
            if name in sources.colnames:
                ok &= ~np.asarray(sources[name], dtype=bool)[src]
        inst = np.asarray(sources["psfInstFlux"], dtype=float)[src]
        snr = np.asarray(sources["snr"], dtype=float)[src]
        ref_flux = np.asarray(refcat[column], dtype=float)[ref]
        ok &= (
            np.isfinite(inst) & (inst > 0) & np.isfinite(ref_flux) & (ref_flux > 0) & (snr >= config.min_snr)
        )
        src, ref, inst, ref_flux = src[ok], ref[ok], inst[ok], ref_flux[ok]
        if src.size < config.min_stars:
            raise CalibrationFailure(
                "photometry",
                f"{src.size} matched stars with SNR >= {config.min_snr:g} and a {band} flux; "
                f"need {config.min_stars}",
            )
        per_star = (NANOJANSKY_AB_ZERO_POINT - 2.5 * np.log10(ref_flux)) + 2.5 * np.log10(inst)
        zero_point, sigma, kept = sigma_clipped_median(per_star, config.nsigma, config.iterations)
        n_kept = int(kept.sum())
        if n_kept < config.min_stars:
            raise CalibrationFailure(
                "photometry", f"{n_kept} stars left after clipping; need {config.min_stars}"
            )
        error = float(np.sqrt(np.pi / 2.0) * sigma / np.sqrt(n_kept))
        used = Table({"source_row": src, "ref_row": ref, "zero_point": per_star, "kept": kept})
        used["zero_point"].unit = "mag"
        return PhotometryResult(
            photo_calib=PhotoCalib.from_zero_point(zero_point, error),
            zero_point=float(zero_point),
            zero_point_err=error,
            scatter=float(sigma),
            n_stars=n_kept,
            used=used,
        )
