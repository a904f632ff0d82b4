"""Single-frame measurement of detected peaks: centroid, PSF and aperture flux, shape, flags.

All sources are measured at once on square stamps around their peaks
(vectorised over sources, in chunks to bound memory):

* **centroid**: Gaussian-windowed first moments iterated to convergence
  (``x += 2 Σ w I (x_i - x) / Σ w I``, the SExtractor ``XWIN`` scheme) with a
  window of the PSF's Gaussian-equivalent width; unbiased for symmetric
  profiles.  A masked pixel's mirror image about the peak is left out too.
  Errors from the variance plane.
* **PSF flux**: linear least squares of the PSF model, shifted to the
  centroid with Lanczos interpolation, over the good pixels within
  `MeasurementConfig.psf_fit_radius_fwhm` FWHM (unweighted, so the estimate
  is unbiased whatever the variance plane holds; error
  ``sqrt(Σ P² V) / Σ P²``).  Peaks that share a footprint are fitted
  simultaneously.  The PSF kernel has unit sum, so the flux is the total
  flux within the kernel's box (an aperture correction is part of the
  photometric calibration).
* **aperture flux**: sum within `MeasurementConfig.aperture_radius`, with
  pixels weighted by the fraction of their width inside the circle
  (``clip(r_ap + 1/2 - r, 0, 1)``).
* **shape**: Gaussian-windowed second moments, corrected for the window
  (``C = (M⁻¹ - W⁻¹)⁻¹``, exact for Gaussian profiles).
* **flags**: mask planes inside the footprint and in the 3x3 pixels around
  the centroid, edges, failed fits.

Fluxes are in image units (counts; electrons after ISR), positions in pixels:
pixel ``(x, y)`` is ``image[y, x]``, 0-based, centre at integer coordinates.
Negative peaks (from a difference image) are measured on the negated image
and reported with negative fluxes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from ..image import Exposure, ImagePsf, MaskPlane
from ._numerics import BAD_PIXEL_BITS, gather_stamps, lanczos_shift_matrices
from .detection import mask_bits

__all__ = [
    "MeasurementConfig",
    "MeasurementTask",
    "forced_psf_flux",
    "psf_model_stamps",
    "psf_moments",
]

_PIXEL_FLAG_PLANES = (
    ("bad", "BAD"),
    ("cr", "CR"),
    ("nodata", "NO_DATA"),
    ("interpolated", "INTRP"),
    ("saturated", "SAT"),
    ("suspect", "SUSPECT"),
    ("streak", "STREAK"),
)


@dataclass(frozen=True)
class MeasurementConfig:
    """How detected peaks are measured.

    Parameters
    ----------
    centroid_iterations : `int`
        Most iterations of the windowed centroid.
    centroid_tolerance : `float`
        Convergence: largest step, pixels.
    max_centroid_shift : `float`
        Centroids further than this from the peak pixel (pixels) are
        flagged and replaced by the peak.
    window_scale : `float`
        Gaussian window sigma in units of the PSF's Gaussian sigma.
    psf_fit_radius_fwhm : `float`
        Radius of the PSF fit region, PSF FWHM.
    aperture_radius : `float`
        Aperture radius, pixels.
    min_psf_fraction : `float`
        PSF fits covering less than this fraction of ``Σ P²`` of the fit
        region (masked or off-image pixels) are flagged.
    blend_fit : `bool`
        Fit the PSF fluxes of peaks sharing a footprint simultaneously.
    lanczos_order : `int`
        Order of the Lanczos kernel that shifts the PSF model.
    bad_mask_planes : `tuple` [`str`, ...]
        Pixels with these planes are left out of every measurement.
    chunk : `int`
        Sources measured at once.
    """

    centroid_iterations: int = 15
    centroid_tolerance: float = 1e-4
    max_centroid_shift: float = 2.0
    window_scale: float = 1.0
    psf_fit_radius_fwhm: float = 2.0
    aperture_radius: float = 12.0
    min_psf_fraction: float = 0.5
    blend_fit: bool = True
    lanczos_order: int = 3
    bad_mask_planes: tuple[str, ...] = BAD_PIXEL_BITS
    chunk: int = 1024


def psf_model_stamps(psf: ImagePsf, dx: np.ndarray, dy: np.ndarray, half: int, order: int = 3) -> np.ndarray:
    """The PSF model on stamps, shifted by sub-pixel offsets.

    Parameters
    ----------
    psf : `ImagePsf`
        Unit-sum PSF kernel.
    dx, dy : `numpy.ndarray`
        ``(N,)`` source position minus stamp-centre pixel, pixels.
    half : `int`
        Stamp half-width.
    order : `int`
        Lanczos order.

    Returns
    -------
    models : `numpy.ndarray`
        ``(N, 2 half + 1, 2 half + 1)``; the full model sums to 1 (less what
        falls outside the stamp).
    """
    kernel = psf.kernel
    k_half = kernel.shape[0] // 2
    # Only kernel pixels within the stamp plus the shift and the Lanczos reach contribute.
    reach = half + order + int(np.ceil(max(np.max(np.abs(dx), initial=0.0), np.max(np.abs(dy), initial=0.0))))
    if reach < k_half:
        kernel = kernel[k_half - reach : k_half + reach + 1, k_half - reach : k_half + reach + 1]
        k_half = reach
    wy = lanczos_shift_matrices(dy, half, k_half, order)
    wx = lanczos_shift_matrices(dx, half, k_half, order)
    return np.matmul(np.matmul(wy, kernel), np.swapaxes(wx, 1, 2))


def psf_moments(psf: ImagePsf, window_sigma: float | None = None) -> tuple[float, float, float]:
    """Window-corrected second moments ``(ixx, iyy, ixy)`` of the PSF kernel, pixels²."""
    kernel = psf.kernel
    half = kernel.shape[0] // 2
    sigma_w = window_sigma or psf.sigma
    offsets = np.arange(-half, half + 1, dtype=float)
    xx, yy = np.meshgrid(offsets, offsets)
    weight = np.exp(-0.5 * (xx**2 + yy**2) / sigma_w**2) * kernel
    total = weight.sum()
    mxx, myy, mxy = (
        (weight * xx * xx).sum() / total,
        (weight * yy * yy).sum() / total,
        (weight * xx * yy).sum() / total,
    )
    ixx, iyy, ixy, _ = _deconvolve_window(np.array([mxx]), np.array([myy]), np.array([mxy]), sigma_w)
    return float(ixx[0]), float(iyy[0]), float(ixy[0])


def _deconvolve_window(
    mxx: np.ndarray, myy: np.ndarray, mxy: np.ndarray, sigma_w: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Remove a circular Gaussian window of sigma ``sigma_w`` from weighted moments."""
    det = mxx * myy - mxy * mxy
    with np.errstate(divide="ignore", invalid="ignore"):
        # Inverse of M minus inverse of W.
        a = myy / det - 1.0 / sigma_w**2
        d = mxx / det - 1.0 / sigma_w**2
        b = -mxy / det
        det2 = a * d - b * b
        ok = (det > 0) & (a > 0) & (d > 0) & (det2 > 0)
        ixx = np.where(ok, d / det2, np.nan)
        iyy = np.where(ok, a / det2, np.nan)
        ixy = np.where(ok, -b / det2, np.nan)
    return ixx, iyy, ixy, ok


@dataclass
class _Stamps:
    image: np.ndarray
    variance: np.ndarray
    mask: np.ndarray
    good: np.ndarray
    inside: np.ndarray
    offsets: np.ndarray


def _gather(
    exposure: Exposure, cx: np.ndarray, cy: np.ndarray, half: int, sign: np.ndarray, bad_bits: int
) -> _Stamps:
    image, inside = gather_stamps(exposure.image, cx, cy, half, 0.0)
    variance, _ = gather_stamps(exposure.variance, cx, cy, half, 0.0)
    mask, _ = gather_stamps(exposure.mask, cx, cy, half, int(MaskPlane.NO_DATA))
    image = image.astype(np.float64) * sign[:, None, None]
    variance = variance.astype(np.float64)
    good = inside & ((mask & bad_bits) == 0) & np.isfinite(image) & np.isfinite(variance)
    image = np.where(good, image, 0.0)
    variance = np.where(good, variance, 0.0)
    return _Stamps(image, variance, mask, good, inside, np.arange(-half, half + 1, dtype=float))


def _windowed_centroid(stamps: _Stamps, sigma_w: float, config: MeasurementConfig):
    """Iterated Gaussian-windowed centroid relative to the stamp centres."""
    n = stamps.image.shape[0]
    off = stamps.offsets
    x0 = np.zeros(n)
    y0 = np.zeros(n)
    active = np.ones(n, dtype=bool)
    failed = np.zeros(n, dtype=bool)
    inv2s2 = 0.5 / sigma_w**2
    # A masked pixel and its mirror image about the stamp centre are both left
    # out, so a hole does not pull the centroid (the shift from the centre is small).
    symmetric = stamps.good & stamps.good[:, ::-1, ::-1]
    image = np.where(symmetric, stamps.image, 0.0)
    for _ in range(config.centroid_iterations):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        dx = off[None, :] - x0[idx, None]
        dy = off[None, :] - y0[idx, None]
        wx = np.exp(-inv2s2 * dx * dx)
        wy = np.exp(-inv2s2 * dy * dy)
        wi = image[idx] * wy[:, :, None] * wx[:, None, :]
        total = wi.sum(axis=(1, 2))
        sx = np.einsum("nij,nj->n", wi, dx)
        sy = np.einsum("nij,ni->n", wi, dy)
        bad = ~(total > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            step_x = np.clip(2.0 * sx / total, -1.0, 1.0)
            step_y = np.clip(2.0 * sy / total, -1.0, 1.0)
        step_x[bad] = 0.0
        step_y[bad] = 0.0
        failed[idx[bad]] = True
        x0[idx] += step_x
        y0[idx] += step_y
        done = (np.abs(step_x) < config.centroid_tolerance) & (np.abs(step_y) < config.centroid_tolerance)
        active[idx[done | bad]] = False
    too_far = (np.abs(x0) > config.max_centroid_shift) | (np.abs(y0) > config.max_centroid_shift)
    failed |= too_far
    x0[failed] = 0.0
    y0[failed] = 0.0
    # Errors (Gaussian-window estimator) and second moments at the final position.
    dx = off[None, :] - x0[:, None]
    dy = off[None, :] - y0[:, None]
    weight = np.exp(-inv2s2 * dy * dy)[:, :, None] * np.exp(-inv2s2 * dx * dx)[:, None, :]
    weight = weight * symmetric
    wi = weight * image
    total = wi.sum(axis=(1, 2))
    w2v = weight * weight * stamps.variance
    with np.errstate(divide="ignore", invalid="ignore"):
        x_err = 2.0 * np.sqrt(np.einsum("nij,nj->n", w2v, dx * dx)) / np.abs(total)
        y_err = 2.0 * np.sqrt(np.einsum("nij,ni->n", w2v, dy * dy)) / np.abs(total)
        mxx = np.einsum("nij,nj->n", wi, dx * dx) / total
        myy = np.einsum("nij,ni->n", wi, dy * dy) / total
        mxy = np.einsum("nij,ni,nj->n", wi, dy, dx) / total
    ixx, iyy, ixy, shape_ok = _deconvolve_window(mxx, myy, mxy, sigma_w)
    shape_ok &= total > 0
    return x0, y0, x_err, y_err, failed, ixx, iyy, ixy, ~shape_ok


def _psf_fit(
    stamps: _Stamps, models: np.ndarray, radius: float, dx0: np.ndarray, dy0: np.ndarray, min_fraction: float
):
    """Unweighted linear PSF-amplitude fit in a disc around each position."""
    off = stamps.offsets
    r2 = (off[None, None, :] - dx0[:, None, None]) ** 2 + (off[None, :, None] - dy0[:, None, None]) ** 2
    region = r2 <= radius * radius
    fit = region & stamps.good
    pp_all = np.sum(models * models * region, axis=(1, 2))
    pp = np.sum(models * models * fit, axis=(1, 2))
    pi = np.sum(models * stamps.image * fit, axis=(1, 2))
    ppv = np.sum(models * models * stamps.variance * fit, axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        flux = pi / pp
        err = np.sqrt(ppv) / pp
        resid = stamps.image - flux[:, None, None] * models
        chi2 = np.sum(
            np.where(fit & (stamps.variance > 0), resid * resid / stamps.variance, 0.0), axis=(1, 2)
        )
    ndata = fit.sum(axis=(1, 2))
    no_good = ~(pp > min_fraction * pp_all) | ~np.isfinite(flux)
    edge = np.any(region & ~stamps.inside, axis=(1, 2))
    return flux, err, chi2, ndata, no_good, edge, region


def forced_psf_flux(
    exposure: Exposure,
    x: np.ndarray,
    y: np.ndarray,
    psf: ImagePsf | None = None,
    config: MeasurementConfig | None = None,
) -> Table:
    """PSF fluxes at fixed positions (forced photometry).

    Parameters
    ----------
    exposure : `Exposure`
        Background-subtracted exposure.
    x, y : `numpy.ndarray`
        Positions, pixels.
    psf : `ImagePsf`, optional
        Model; the exposure's by default.
    config : `MeasurementConfig`, optional
        Fit radius, masked planes, Lanczos order.

    Returns
    -------
    fluxes : `astropy.table.Table`
        ``flux``, ``fluxErr`` (image units), ``chi2``, ``ndata``, ``flag``,
        ``flag_edge``, ``flag_noGoodPixels``.
    """
    config = config or MeasurementConfig()
    psf = psf or exposure.psf
    if psf is None:
        raise ValueError("forced photometry needs a PSF")
    x = np.atleast_1d(np.asarray(x, dtype=float))
    y = np.atleast_1d(np.asarray(y, dtype=float))
    radius = config.psf_fit_radius_fwhm * psf.fwhm
    half = int(np.ceil(radius)) + 1
    bad_bits = mask_bits(config.bad_mask_planes)
    out = {k: np.zeros(x.size) for k in ("flux", "fluxErr", "chi2")}
    ndata = np.zeros(x.size, dtype=np.int32)
    flag_edge = np.zeros(x.size, dtype=bool)
    flag_ngp = np.zeros(x.size, dtype=bool)
    for start in range(0, x.size, config.chunk):
        sl = slice(start, start + config.chunk)
        cx, cy = np.rint(x[sl]).astype(np.intp), np.rint(y[sl]).astype(np.intp)
        stamps = _gather(exposure, cx, cy, half, np.ones(cx.size), bad_bits)
        dx, dy = x[sl] - cx, y[sl] - cy
        models = psf_model_stamps(psf, dx, dy, half, config.lanczos_order)
        flux, err, chi2, nd, no_good, edge, _ = _psf_fit(
            stamps, models, radius, dx, dy, config.min_psf_fraction
        )
        out["flux"][sl], out["fluxErr"][sl], out["chi2"][sl] = flux, err, chi2
        ndata[sl], flag_edge[sl], flag_ngp[sl] = nd, edge, no_good
    table = Table(out)
    table["ndata"] = ndata
    table["flag_edge"] = flag_edge
    table["flag_noGoodPixels"] = flag_ngp
    table["flag"] = flag_edge | flag_ngp
    return table


class MeasurementTask:
    """Measure peaks found by `DetectionTask`.

    Parameters
    ----------
    config : `MeasurementConfig`, optional
        Parameters; defaults if not given.
    """

    ConfigClass = MeasurementConfig

    def __init__(self, config: MeasurementConfig | None = None) -> None:
        self.config = config or MeasurementConfig()

    def run(self, exposure: Exposure, peaks: Table, psf: ImagePsf | None = None) -> Table:
        """Measure every peak.

        Parameters
        ----------
        exposure : `Exposure`
            Background-subtracted exposure (its mask should hold the
            detection planes); not modified.
        peaks : `astropy.table.Table`
            `DetectionResult.peaks`.
        psf : `ImagePsf`, optional
            PSF model; the exposure's by default.

        Returns
        -------
        sources : `astropy.table.Table`
            One row per peak, in the order of ``peaks``, with columns

            ``id``, ``footprint_id``, ``peak_x``, ``peak_y``, ``peak_snr``,
            ``is_negative``, ``n_peaks``, ``bboxSize``: from detection;
            ``x``, ``y``, ``xErr``, ``yErr`` (pix): windowed centroid;
            ``centroid_flag``: centroid failed (the peak is used);
            ``psfInstFlux``, ``psfInstFluxErr`` (counts), ``psfChi2``,
            ``psfNdata``, ``psfFlux_flag``, ``psfFlux_flag_edge``,
            ``psfFlux_flag_noGoodPixels``;
            ``snr``: ``psfInstFlux / psfInstFluxErr``;
            ``apInstFlux``, ``apInstFluxErr`` (counts), ``apFlux_flag``,
            ``apFlux_flag_apertureTruncated``;
            ``ixx``, ``iyy``, ``ixy`` (pix²), ``shape_flag``;
            ``blended``: more than one peak in the footprint;
            ``pixelFlags_edge``, ``pixelFlags_offimage``, and
            ``pixelFlags_{bad,cr,nodata,interpolated,saturated,suspect,streak}``
            (in the footprint) with ``...Center`` variants (3x3 around the
            centroid).

        Raises
        ------
        ValueError
            If neither ``psf`` nor the exposure has a PSF.
        """
        config = self.config
        psf = psf or exposure.psf
        if psf is None:
            raise ValueError("measurement needs a PSF")
        n = len(peaks)
        sigma_w = config.window_scale * psf.sigma
        fit_radius = config.psf_fit_radius_fwhm * psf.fwhm
        half = int(np.ceil(max(config.aperture_radius, fit_radius, 4.0 * sigma_w))) + 2
        bad_bits = mask_bits(config.bad_mask_planes)
        px = np.asarray(peaks["peak_x"], dtype=np.intp)
        py = np.asarray(peaks["peak_y"], dtype=np.intp)
        sign = np.where(np.asarray(peaks["is_negative"], dtype=bool), -1.0, 1.0)
        cols: dict[str, np.ndarray] = {}
        float_cols = (
            "x", "y", "xErr", "yErr", "psfInstFlux", "psfInstFluxErr", "psfChi2",
            "apInstFlux", "apInstFluxErr", "ixx", "iyy", "ixy",
        )  # fmt: skip
        for name in float_cols:
            cols[name] = np.full(n, np.nan)
        bool_cols = (
            "centroid_flag", "psfFlux_flag_edge", "psfFlux_flag_noGoodPixels",
            "apFlux_flag_apertureTruncated",
            "shape_flag", "pixelFlags_edge",
        )  # fmt: skip
        for name in bool_cols:
            cols[name] = np.zeros(n, dtype=bool)
        cols["psfNdata"] = np.zeros(n, dtype=np.int32)
        centre_bits = np.zeros(n, dtype=np.int64)
        # PSF models of peaks that share a footprint, for the simultaneous fit.
        blend_models: dict[int, np.ndarray] = {}
        in_blend = np.asarray(peaks["n_peaks"]) > 1 if n else np.zeros(0, dtype=bool)
        for start in range(0, n, config.chunk):
            sl = slice(start, min(start + config.chunk, n))
            stamps = _gather(exposure, px[sl], py[sl], half, sign[sl], bad_bits)
            x0, y0, xe, ye, cflag, ixx, iyy, ixy, sflag = _windowed_centroid(stamps, sigma_w, config)
            cols["x"][sl], cols["y"][sl] = px[sl] + x0, py[sl] + y0
            cols["xErr"][sl], cols["yErr"][sl], cols["centroid_flag"][sl] = xe, ye, cflag
            cols["ixx"][sl], cols["iyy"][sl], cols["ixy"][sl], cols["shape_flag"][sl] = ixx, iyy, ixy, sflag
            models = psf_model_stamps(psf, x0, y0, half, config.lanczos_order)
            flux, err, chi2, ndata, no_good, edge, _ = _psf_fit(
                stamps, models, fit_radius, x0, y0, config.min_psf_fraction
            )
            cols["psfInstFlux"][sl] = sign[sl] * flux
            cols["psfInstFluxErr"][sl] = err
            cols["psfChi2"][sl] = chi2
            cols["psfNdata"][sl] = ndata
            cols["psfFlux_flag_noGoodPixels"][sl] = no_good
            cols["psfFlux_flag_edge"][sl] = edge
            if config.blend_fit:
                for row in np.flatnonzero(in_blend[sl]):
                    blend_models[start + int(row)] = models[row]
            # Aperture photometry.
            off = stamps.offsets
            r = np.sqrt(
                (off[None, None, :] - x0[:, None, None]) ** 2 + (off[None, :, None] - y0[:, None, None]) ** 2
            )
            weight = np.clip(config.aperture_radius + 0.5 - r, 0.0, 1.0)
            cols["apInstFlux"][sl] = sign[sl] * np.sum(weight * stamps.image, axis=(1, 2))
            cols["apInstFluxErr"][sl] = np.sqrt(np.sum(weight * weight * stamps.variance, axis=(1, 2)))
            cols["apFlux_flag_apertureTruncated"][sl] = np.any((weight > 0) & ~stamps.good, axis=(1, 2))
            cols["pixelFlags_edge"][sl] = np.any(~stamps.inside, axis=(1, 2))
            # Mask bits in the 3x3 pixels around the centroid.
            ix = np.rint(x0).astype(np.intp) + half
            iy = np.rint(y0).astype(np.intp) + half
            rows = np.arange(stamps.mask.shape[0])
            bits = np.zeros(rows.size, dtype=np.int64)
            for ddy in (-1, 0, 1):
                for ddx in (-1, 0, 1):
                    bits |= stamps.mask[rows, iy + ddy, ix + ddx]
            centre_bits[sl] = bits
        if config.blend_fit and blend_models:
            self._fit_blends(exposure, peaks, cols, blend_models, half, fit_radius, sign, bad_bits)
        table = Table()
        table["id"] = np.asarray(peaks["id"], dtype=np.int64)
        table["footprint_id"] = np.asarray(peaks["footprint_id"], dtype=np.int32)
        for name in ("x", "y", "xErr", "yErr"):
            table[name] = cols[name]
            table[name].unit = "pix"
        table["centroid_flag"] = cols["centroid_flag"]
        table["peak_x"] = px.astype(np.int32)
        table["peak_y"] = py.astype(np.int32)
        table["peak_snr"] = np.asarray(peaks["peak_snr"], dtype=float)
        table["is_negative"] = sign < 0
        table["n_peaks"] = np.asarray(peaks["n_peaks"], dtype=np.int32)
        table["blended"] = table["n_peaks"] > 1
        table["bboxSize"] = np.asarray(peaks["footprint_bbox"], dtype=np.int32)
        for name in ("psfInstFlux", "psfInstFluxErr"):
            table[name] = cols[name]
            table[name].unit = "count"
        table["psfChi2"] = cols["psfChi2"]
        table["psfNdata"] = cols["psfNdata"]
        with np.errstate(divide="ignore", invalid="ignore"):
            table["snr"] = cols["psfInstFlux"] / cols["psfInstFluxErr"]
        table["psfFlux_flag_edge"] = cols["psfFlux_flag_edge"]
        table["psfFlux_flag_noGoodPixels"] = cols["psfFlux_flag_noGoodPixels"]
        table["psfFlux_flag"] = (
            cols["psfFlux_flag_edge"] | cols["psfFlux_flag_noGoodPixels"] | ~np.isfinite(cols["psfInstFlux"])
        )
        for name in ("apInstFlux", "apInstFluxErr"):
            table[name] = cols[name]
            table[name].unit = "count"
        table["apFlux_flag_apertureTruncated"] = cols["apFlux_flag_apertureTruncated"]
        table["apFlux_flag"] = cols["apFlux_flag_apertureTruncated"] | ~np.isfinite(cols["apInstFlux"])
        for name in ("ixx", "iyy", "ixy"):
            table[name] = cols[name]
            table[name].unit = "pix2"
        table["shape_flag"] = cols["shape_flag"]
        footprint_bits = np.asarray(peaks["footprint_mask"], dtype=np.int64)
        table["pixelFlags_edge"] = cols["pixelFlags_edge"] | ((footprint_bits & int(MaskPlane.EDGE)) != 0)
        height, width = exposure.shape
        table["pixelFlags_offimage"] = ~(
            (cols["x"] >= -0.5) & (cols["x"] < width - 0.5) & (cols["y"] >= -0.5) & (cols["y"] < height - 0.5)
        )
        for suffix, plane in _PIXEL_FLAG_PLANES:
            bit = int(MaskPlane[plane])
            table[f"pixelFlags_{suffix}"] = ((footprint_bits | centre_bits) & bit) != 0
            table[f"pixelFlags_{suffix}Center"] = (centre_bits & bit) != 0
        return table

    def _fit_blends(
        self,
        exposure: Exposure,
        peaks: Table,
        cols: dict[str, np.ndarray],
        models: dict[int, np.ndarray],
        half: int,
        fit_radius: float,
        sign: np.ndarray,
        bad_bits: int,
    ) -> None:
        """Refit the PSF fluxes of peaks sharing a footprint, simultaneously."""
        footprint = np.asarray(peaks["footprint_id"])
        multi = np.asarray(peaks["n_peaks"]) > 1
        if not multi.any():
            return
        height, width = exposure.shape
        px = np.asarray(peaks["peak_x"], dtype=np.intp)
        py = np.asarray(peaks["peak_y"], dtype=np.intp)
        np.arange(-half, half + 1)
        for fp in np.unique(footprint[multi]):
            members = np.flatnonzero(footprint == fp)
            if members.size < 2 or not all(int(m) in models for m in members):
                continue
            if not np.all(np.isfinite(cols["x"][members])):
                continue
            x0, y0 = px[members].min() - half, py[members].min() - half
            x1, y1 = px[members].max() + half + 1, py[members].max() + half + 1
            bx0, by0, bx1, by1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
            sub_img = exposure.image[by0:by1, bx0:bx1].astype(np.float64)
            sub_var = exposure.variance[by0:by1, bx0:bx1].astype(np.float64)
            sub_good = (
                ((exposure.mask[by0:by1, bx0:bx1] & bad_bits) == 0)
                & np.isfinite(sub_img)
                & np.isfinite(sub_var)
            )
            ny, nx = by1 - by0, bx1 - bx0
            design = np.zeros((members.size, ny, nx))
            region = np.zeros((ny, nx), dtype=bool)
            yy, xx = np.mgrid[by0:by1, bx0:bx1]
            for k, m in enumerate(members):
                ys = slice(py[m] - half - by0, py[m] + half + 1 - by0)
                xs = slice(px[m] - half - bx0, px[m] + half + 1 - bx0)
                # Clip the stamp to the sub-image (stamps may leave the exposure).
                sy0, sx0 = max(ys.start, 0), max(xs.start, 0)
                sy1, sx1 = min(ys.stop, ny), min(xs.stop, nx)
                design[k, sy0:sy1, sx0:sx1] = models[int(m)][
                    sy0 - ys.start : sy1 - ys.start, sx0 - xs.start : sx1 - xs.start
                ]
                region |= (xx - cols["x"][m]) ** 2 + (yy - cols["y"][m]) ** 2 <= fit_radius**2
            use = region & sub_good
            a = design[:, use].T
            b = sub_img[use] * sign[members[0]]
            v = sub_var[use]
            normal = a.T @ a
            try:
                inverse = np.linalg.inv(normal)
            except np.linalg.LinAlgError:
                continue
            amp = inverse @ (a.T @ b)
            cov = inverse @ (a.T * v) @ a @ inverse
            resid = b - a @ amp
            chi2 = float(np.sum(np.where(v > 0, resid * resid / np.where(v > 0, v, 1.0), 0.0)))
            cols["psfInstFlux"][members] = sign[members] * amp
            cols["psfInstFluxErr"][members] = np.sqrt(np.clip(np.diag(cov), 0.0, None))
            cols["psfChi2"][members] = chi2
            cols["psfNdata"][members] = int(use.sum())
