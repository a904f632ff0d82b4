"""PSF estimation from isolated, bright, unsaturated stars.

1. Candidates: measured sources without any measurement or pixel flag, alone
   in their footprint, with no other source within
   `PsfEstimateConfig.isolation_fwhm` FWHM, above `PsfEstimateConfig.min_snr`;
   then a clip on the windowed size ``ixx + iyy`` keeps the stellar locus
   (rejecting galaxies, merged pairs and cosmic rays); the brightest
   `PsfEstimateConfig.max_stars` are used.
2. Stack: each star's stamp is moved onto its centroid with Lanczos
   interpolation, scaled by its flux within a core aperture and combined
   per pixel with a clipped mean.
3. Fit: a circular Moffat profile (amplitude, centre, ``alpha``, ``beta``,
   sampled at pixel centres) is fitted to the stack by least squares; the
   FWHM reported is the Moffat's, ``2 alpha sqrt(2^(1/beta) - 1)``.
4. Model: the stack inside `PsfEstimateConfig.core_radius_fwhm` FWHM, the
   Moffat fit outside (linear blend over one FWHM), so the wings carry no
   stacking noise; or the Moffat alone (``model="moffat"``).

The PSF is constant over the exposure.  Pixels: ``image[y, x]``, 0-based,
centres at integer coordinates; widths in pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from astropy.table import Table
from scipy.optimize import least_squares
from scipy.spatial import cKDTree

from ..image import FWHM_PER_SIGMA, Exposure, ImagePsf
from ._numerics import gather_stamps, lanczos_shift_matrices, robust_sigma, sigma_clipped_mean_std
from .detection import mask_bits
from .errors import CalibrationFailure

__all__ = ["PsfEstimateConfig", "PsfEstimateResult", "PsfEstimateTask", "moffat_fwhm", "select_psf_stars"]

_REJECT_FLAGS = (
    "centroid_flag",
    "psfFlux_flag",
    "shape_flag",
    "blended",
    "is_negative",
    "pixelFlags_edge",
    "pixelFlags_bad",
    "pixelFlags_cr",
    "pixelFlags_nodata",
    "pixelFlags_interpolated",
    "pixelFlags_saturated",
    "pixelFlags_suspect",
    "pixelFlags_streak",
)


@dataclass(frozen=True)
class PsfEstimateConfig:
    """How the PSF is estimated.

    Parameters
    ----------
    min_snr : `float`
        Least PSF-flux signal-to-noise ratio of a PSF star.
    max_stars : `int`
        Most stars stacked (the brightest candidates).
    min_stars : `int`
        Fewer usable stars is a `CalibrationFailure`.
    isolation_fwhm : `float`
        No other source may lie within this many FWHM of a PSF star.
    size_nsigma : `float`
        Clip of the windowed size ``ixx + iyy`` around its median, robust sigmas.
    kernel_half_fwhm : `float`
        Kernel half-width, FWHM (rounded up to whole pixels).  PSF fluxes
        measure the flux inside the kernel's box: 5 FWHM holds all but
        ~0.1% of a Moffat ``beta = 3.5`` profile.
    max_kernel_half : `int`
        Upper limit of the kernel half-width, pixels.
    core_radius_fwhm : `float`
        Radius (FWHM) inside which the stacked pixels are used (``model="pixel"``).
    normalisation_radius_fwhm : `float`
        Each star is scaled by its flux within this radius (FWHM) before stacking.
    model : `str`
        ``"pixel"`` (stack core, Moffat wings) or ``"moffat"``.
    clip_nsigma : `float`
        Per-pixel clipping of the stack, robust sigmas.
    bad_mask_planes : `tuple` [`str`, ...]
        Pixels with these planes are left out of the stack.
    """

    min_snr: float = 50.0
    max_stars: int = 200
    min_stars: int = 5
    isolation_fwhm: float = 3.0
    size_nsigma: float = 3.0
    kernel_half_fwhm: float = 5.0
    max_kernel_half: int = 40
    core_radius_fwhm: float = 1.5
    normalisation_radius_fwhm: float = 1.5
    model: Literal["pixel", "moffat"] = "pixel"
    clip_nsigma: float = 3.0
    bad_mask_planes: tuple[str, ...] = ("BAD", "SAT", "CR", "NO_DATA", "INTRP")


@dataclass
class PsfEstimateResult:
    """An estimated PSF.

    Attributes
    ----------
    psf : `ImagePsf`
        The model (unit-sum kernel, FWHM in pixels).
    fwhm : `float`
        Moffat FWHM, pixels.
    moffat_alpha, moffat_beta : `float`
        Fitted Moffat parameters (``alpha`` in pixels).
    n_stars : `int`
        Stars stacked.
    star_rows : `numpy.ndarray`
        Rows of the source table used.
    residual : `float`
        RMS of (stack - Moffat fit) relative to the stack's peak.
    flux_fraction : `float`
        Share of the fitted Moffat's total flux inside the kernel box (the
        factor by which PSF fluxes fall short of total fluxes).
    """

    psf: ImagePsf
    fwhm: float
    moffat_alpha: float
    moffat_beta: float
    n_stars: int
    star_rows: np.ndarray
    residual: float
    flux_fraction: float


def moffat_fwhm(alpha: float, beta: float) -> float:
    """FWHM of a Moffat profile with core width ``alpha`` and index ``beta``."""
    return float(2.0 * alpha * np.sqrt(2.0 ** (1.0 / beta) - 1.0))


def _moffat_image(params: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    amplitude, x0, y0, alpha, beta = params
    r2 = (offsets[None, :] - x0) ** 2 + (offsets[:, None] - y0) ** 2
    return amplitude * (1.0 + r2 / alpha**2) ** (-beta)


def select_psf_stars(sources: Table, config: PsfEstimateConfig, fwhm_guess: float) -> np.ndarray:
    """Rows of ``sources`` suitable as PSF stars, brightest first (see the module notes)."""
    n = len(sources)
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    ok = np.ones(n, dtype=bool)
    for name in _REJECT_FLAGS:
        if name in sources.colnames:
            ok &= ~np.asarray(sources[name], dtype=bool)
    snr = np.asarray(sources["snr"], dtype=float)
    ok &= np.isfinite(snr) & (snr >= config.min_snr)
    x, y = np.asarray(sources["x"], dtype=float), np.asarray(sources["y"], dtype=float)
    if n > 1:
        tree = cKDTree(np.column_stack([x, y]))
        dist, _ = tree.query(np.column_stack([x, y]), k=2)
        ok &= dist[:, 1] > config.isolation_fwhm * fwhm_guess
    size = np.asarray(sources["ixx"], dtype=float) + np.asarray(sources["iyy"], dtype=float)
    ok &= np.isfinite(size) & (size > 0)
    if ok.sum() >= 3:
        median = float(np.median(size[ok]))
        spread = max(robust_sigma(size[ok]), 0.02 * median)
        ok &= np.abs(size - median) <= config.size_nsigma * spread
    rows = np.flatnonzero(ok)
    rows = rows[np.argsort(-np.asarray(sources["psfInstFlux"], dtype=float)[rows], kind="stable")]
    return rows[: config.max_stars]


class PsfEstimateTask:
    """Estimate a constant PSF from the stars of an exposure.

    Parameters
    ----------
    config : `PsfEstimateConfig`, optional
        Parameters; defaults if not given.
    """

    ConfigClass = PsfEstimateConfig

    def __init__(self, config: PsfEstimateConfig | None = None) -> None:
        self.config = config or PsfEstimateConfig()

    def run(self, exposure: Exposure, sources: Table, fwhm_guess: float | None = None) -> PsfEstimateResult:
        """Estimate the PSF.

        Parameters
        ----------
        exposure : `Exposure`
            Background-subtracted exposure.
        sources : `astropy.table.Table`
            `MeasurementTask` output for the exposure.
        fwhm_guess : `float`, optional
            Rough FWHM (pixels) for isolation and stamp sizes; by default from
            the median windowed size of the sources.

        Returns
        -------
        result : `PsfEstimateResult`
            The PSF and how it was made.

        Raises
        ------
        CalibrationFailure
            With step ``"psf"``, if fewer than ``config.min_stars`` stars are usable
            or the profile fit fails.
        """
        config = self.config
        if fwhm_guess is None:
            size = np.asarray(sources["ixx"], dtype=float) + np.asarray(sources["iyy"], dtype=float)
            size = size[np.isfinite(size) & (size > 0)]
            if size.size == 0:
                raise CalibrationFailure("psf", "no source has a measurable size")
            fwhm_guess = FWHM_PER_SIGMA * float(np.sqrt(np.median(size) / 2.0))
        rows = select_psf_stars(sources, config, fwhm_guess)
        if rows.size < config.min_stars:
            raise CalibrationFailure(
                "psf",
                f"{rows.size} usable PSF stars (SNR >= {config.min_snr:g}, isolated, unflagged); "
                f"need {config.min_stars}",
            )
        half = int(min(np.ceil(config.kernel_half_fwhm * fwhm_guess), config.max_kernel_half))
        margin = 4
        x = np.asarray(sources["x"], dtype=float)[rows]
        y = np.asarray(sources["y"], dtype=float)[rows]
        cx, cy = np.rint(x).astype(np.intp), np.rint(y).astype(np.intp)
        stamps, inside = gather_stamps(exposure.image, cx, cy, half + margin, 0.0)
        masks, _ = gather_stamps(exposure.mask, cx, cy, half + margin, 0)
        good = inside & ((masks & mask_bits(config.bad_mask_planes)) == 0) & np.isfinite(stamps)
        stamps = np.where(good, stamps, 0.0).astype(np.float64)
        # Move every star onto its stamp's central pixel.
        wy = lanczos_shift_matrices(-(y - cy), half, half + margin)
        wx = lanczos_shift_matrices(-(x - cx), half, half + margin)
        centred = np.matmul(np.matmul(wy, stamps), np.swapaxes(wx, 1, 2))
        coverage = np.matmul(np.matmul(np.abs(wy), good.astype(float)), np.swapaxes(np.abs(wx), 1, 2))
        norm = np.matmul(np.matmul(np.abs(wy), np.ones_like(stamps)), np.swapaxes(np.abs(wx), 1, 2))
        # A pixel interpolated from masked neighbours is missing.
        centred[coverage < 0.999 * norm] = np.nan
        # Normalise by the flux in a core aperture: far less noisy, and less
        # sensitive to background errors and neighbours, than the box sum.
        offsets = np.arange(-half, half + 1, dtype=float)
        radius = np.hypot(offsets[None, :], offsets[:, None])
        core = radius <= config.normalisation_radius_fwhm * fwhm_guess
        totals = np.sum(np.where(core, centred, 0.0), axis=(1, 2))
        usable = np.isfinite(totals) & (totals > 0) & (np.isnan(centred).mean(axis=(1, 2)) < 0.2)
        if usable.sum() < config.min_stars:
            raise CalibrationFailure(
                "psf", f"only {int(usable.sum())} PSF-star stamps are usable; need {config.min_stars}"
            )
        centred = centred[usable] / totals[usable, None, None]
        rows = rows[usable]
        stack, _, count = sigma_clipped_mean_std(centred, config.clip_nsigma, 2, axis=0)
        stack = np.where(count > 0, stack, 0.0).astype(np.float64)
        peak = float(stack.max())
        start = np.array([peak, 0.0, 0.0, 1.2 * fwhm_guess, 3.0])

        def residuals(params: np.ndarray) -> np.ndarray:
            return (_moffat_image(params, offsets) - stack).ravel()

        fit = least_squares(
            residuals,
            start,
            bounds=([0.0, -2.0, -2.0, 0.1, 1.01], [np.inf, 2.0, 2.0, 10.0 * fwhm_guess + 10.0, 50.0]),
            x_scale="jac",
        )
        if not fit.success:
            raise CalibrationFailure("psf", f"Moffat fit to the stacked PSF failed: {fit.message}")
        amplitude, _x0, _y0, alpha, beta = fit.x
        fwhm = moffat_fwhm(alpha, beta)
        moffat = _moffat_image(np.array([amplitude, 0.0, 0.0, alpha, beta]), offsets)
        residual = float(np.sqrt(np.mean(fit.fun**2)) / max(stack.max(), 1e-30))
        if config.model == "moffat":
            kernel = moffat
        else:
            core_radius = config.core_radius_fwhm * fwhm
            blend = np.clip((core_radius + fwhm - radius) / fwhm, 0.0, 1.0)
            kernel = blend * stack + (1.0 - blend) * moffat
        if not np.isfinite(kernel).all() or kernel.sum() <= 0:
            raise CalibrationFailure("psf", "the PSF model is not finite")
        return PsfEstimateResult(
            psf=ImagePsf(kernel, fwhm),
            fwhm=fwhm,
            moffat_alpha=float(alpha),
            moffat_beta=float(beta),
            n_stars=int(rows.size),
            star_rows=rows,
            residual=residual,
            flux_fraction=float(moffat.sum() / (amplitude * np.pi * alpha**2 / (beta - 1.0))),
        )
