"""PSF-matched image subtraction (Alard & Lupton 1998; Alard 2000).

The template (nJy per pixel) is first put in science counts with the
science `PhotoCalib`.  The image with the narrower PSF is convolved with a
kernel that matches it to the other:

* ``convolveTemplate`` (template sharper, the usual case):
  ``D = S - K ⊗ T - B``; ``D`` has the science PSF;
* ``convolveScience`` (template worse by more than
  `SubtractConfig.science_convolution_margin`): ``D = (K ⊗ S - T - B) / ΣK``;
  dividing by the kernel sum keeps science counts, and ``D`` has the
  (warped) template PSF, which becomes the difference's PSF.

**Kernel.**  ``K(u, v; x, y) = Σ_i Σ_q a_iq p_q(x, y) B_i(u, v)`` with basis
functions ``B_i`` = Gaussians times polynomials ``u^m v^n`` (``m + n <=``
degree), widths in units of the matching width
``sigma_match = sqrt(sigma_wide² - sigma_narrow²)`` (floored), and ``p_q`` 2-d
polynomials of `SubtractConfig.spatial_order` in the image position.  All
basis functions but the first are made to sum to zero, so the photometric
scaling ``ΣK`` is the first coefficient alone; with
`SubtractConfig.constant_flux_scaling` it does not vary over the image.  A
differential background polynomial of `SubtractConfig.background_order` is
fitted with the kernel.

**Fit.**  On stamps around bright, isolated, unflagged stars spread over the
image: the basis functions are separable, so the convolutions of every
stamp with every basis function are a few batched matrix products; each
stamp contributes its inverse-variance-weighted normal equations (masked
pixels excluded,
``p_q`` evaluated at the stamp centre); a small ridge
(`SubtractConfig.regularization` times the mean diagonal) keeps the
solution stable; stamps whose reduced chi² is an outlier (variable stars,
bad matches) are dropped and the fit repeated.

**Difference.**  One forward FFT of the convolved image and one inverse FFT
per spatial term; variance ``V_S + K_c² ⊗ V_T`` (``K_c`` the kernel at the
image centre; noise covariance is not tracked); masks OR-ed, those of the
convolved image grown by the kernel half-width (``NO_DATA`` propagates).
Pixels without template data are NaN with infinite variance.

Residual statistics on unmasked, undetected pixels measure the quality:
``residual_std_ratio`` is the clipped standard deviation of ``D / sqrt(V)``
(1 for noise-limited subtraction).

Pixel convention: ``image[y, x]``, 0-based, centres at integer coordinates;
kernels are odd-sized and centred on their middle pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from astropy.table import Table
from scipy.spatial import cKDTree

from ..image import FWHM_PER_SIGMA, Exposure, ImagePsf, MaskPlane
from ._numerics import FftConvolver, gather_stamps, grow_mask, robust_sigma
from .detection import DetectionConfig, DetectionTask, mask_bits
from .errors import SubtractionError

__all__ = ["SubtractConfig", "SubtractResult", "SubtractTask", "alard_lupton_basis"]

_STAMP_REJECT = (
    "centroid_flag",
    "psfFlux_flag",
    "is_negative",
    "blended",
    "pixelFlags_edge",
    "pixelFlags_saturated",
    "pixelFlags_bad",
    "pixelFlags_cr",
    "pixelFlags_nodata",
    "pixelFlags_suspect",
)


@dataclass(frozen=True)
class SubtractConfig:
    """How images are PSF-matched and subtracted.

    Parameters
    ----------
    mode : `str`
        ``"auto"``, ``"convolveTemplate"`` or ``"convolveScience"``.
    science_convolution_margin : `float`
        In ``auto`` mode, convolve the science image when the template FWHM
        exceeds the science FWHM by more than this fraction.
    basis_sigmas : `tuple` [`float`, ...]
        Widths of the Gaussians of the basis, in units of ``sigma_match``; the
        widest (degree 0) lets the kernel match extended (Moffat) wings,
        without which the kernel sum is biased low by ~1%.
    basis_degrees : `tuple` [`int`, ...]
        Polynomial degree of each Gaussian.
    min_basis_sigma : `float`
        Floor of the basis widths, pixels (for nearly equal PSFs).
    kernel_half_min : `int`
        Least kernel half-width, pixels.
    kernel_half_max : `int`
        Largest kernel half-width, pixels.
    kernel_half_sigmas : `float`
        Kernel half-width in units of the widest basis Gaussian.
    spatial_order : `int`
        Order of the kernel's spatial variation (0: constant).
    constant_flux_scaling : `bool`
        Keep ``ΣK`` constant over the image.
    background_order : `int`
        Order of the differential background (-1: none).
    regularization : `float`
        Ridge strength relative to the mean diagonal of the normal matrix.
    stamp_half_fwhm : `float`
        Stamp half-width in units of the wider FWHM.
    max_stamps : `int`
        Most stamps used.
    min_stamps : `int`
        Fewer usable stamps is a `SubtractionError`.
    stamp_min_snr : `float`
        Least PSF signal-to-noise ratio of a stamp star.
    stamp_isolation_fwhm : `float`
        No other source within this many FWHM of a stamp star.
    stamp_grid : `int`
        Stamps are spread over a ``stamp_grid x stamp_grid`` grid of cells.
    stamp_clip_nsigma : `float`
        Stamps with reduced chi² above median + this many robust sigmas are rejected.
    stamp_iterations : `int`
        Fit / reject passes.
    bad_mask_planes : `tuple` [`str`, ...]
        Pixels left out of the kernel fit and the residual statistics.
    statistics_subsample : `int`
        Every n-th pixel (each axis) enters the residual statistics.
    """

    mode: Literal["auto", "convolveTemplate", "convolveScience"] = "auto"
    science_convolution_margin: float = 0.02
    basis_sigmas: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    basis_degrees: tuple[int, ...] = (4, 2, 2, 0)
    min_basis_sigma: float = 0.5
    kernel_half_min: int = 5
    kernel_half_max: int = 25
    kernel_half_sigmas: float = 3.0
    spatial_order: int = 1
    constant_flux_scaling: bool = True
    background_order: int = 0
    regularization: float = 1e-6
    stamp_half_fwhm: float = 3.0
    max_stamps: int = 150
    min_stamps: int = 5
    stamp_min_snr: float = 20.0
    stamp_isolation_fwhm: float = 2.5
    stamp_grid: int = 6
    stamp_clip_nsigma: float = 3.0
    stamp_iterations: int = 3
    bad_mask_planes: tuple[str, ...] = ("BAD", "SAT", "CR", "NO_DATA", "INTRP", "SUSPECT", "STREAK")
    statistics_subsample: int = 4

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "convolveTemplate", "convolveScience"):
            raise ValueError(f"unknown subtraction mode {self.mode!r}")
        if len(self.basis_sigmas) != len(self.basis_degrees) or not self.basis_sigmas:
            raise ValueError("basis_sigmas and basis_degrees must be non-empty and of equal length")


@dataclass
class SubtractResult:
    """A difference image and how it was made.

    Attributes
    ----------
    difference : `Exposure`
        ``science - matched template`` in science counts, science WCS and
        PhotoCalib; PSF: the science's (``convolveTemplate``) or the
        template's (``convolveScience``).
    matched_template : `Exposure`
        The template as subtracted (convolved or not), science counts.
    kernel : `numpy.ndarray`
        Matching kernel at the image centre (sums to ``kernel_sum``).
    kernel_sum : `float`
        Photometric scaling ``ΣK`` (template counts to science counts for
        ``convolveTemplate``; its inverse for ``convolveScience``).
    mode : `str`
        Which image was convolved.
    n_stamps : `int`
        Stamps in the final fit.
    stamps : `astropy.table.Table`
        ``x``, ``y`` (pix), ``chi2`` (reduced), ``kept`` for every candidate stamp.
    background_offset : `float`
        Differential background at the image centre, science counts.
    residual_mean : `float`
        Mean difference on unmasked, undetected pixels, counts.
    residual_std_ratio : `float`
        Clipped (5 sigma) standard deviation of ``D / sqrt(V)`` there.
    residual_mad_ratio : `float`
        MAD-based standard deviation of ``D / sqrt(V)`` there.
    """

    difference: Exposure
    matched_template: Exposure
    kernel: np.ndarray
    kernel_sum: float
    mode: str
    n_stamps: int
    stamps: Table
    background_offset: float
    residual_mean: float
    residual_std_ratio: float
    residual_mad_ratio: float


def _alard_lupton_parts(
    half: int, sigmas: tuple[float, ...], degrees: tuple[int, ...]
) -> tuple[np.ndarray, list[tuple[int, int]], np.ndarray]:
    """The basis as separable pieces.

    Returns ``profiles`` (``(n_profiles, 2 half + 1)``, 1-d functions
    ``u^m exp(-u² / 2 sigma²)``), ``pairs`` (``(y profile, x profile)`` of every
    raw 2-d function) and ``transform`` (``(n_basis, n_raw)``) such that basis
    function ``i`` is ``Σ_j transform[i, j] outer(profiles[pairs[j][0]], profiles[pairs[j][1]])``.
    """
    offsets = np.arange(-half, half + 1, dtype=float)
    profiles: list[np.ndarray] = []
    index: dict[tuple[int, int], int] = {}
    pairs: list[tuple[int, int]] = []
    for k, (sigma, degree) in enumerate(zip(sigmas, degrees, strict=True)):
        gauss = np.exp(-0.5 * offsets * offsets / sigma**2)
        for power in range(degree + 1):
            index[(k, power)] = len(profiles)
            profiles.append(gauss * offsets**power)
        for total in range(degree + 1):
            for m in range(total, -1, -1):
                pairs.append((index[(k, total - m)], index[(k, m)]))
    prof = np.array(profiles)
    sums = prof.sum(axis=1)
    raw_sums = np.array([sums[a] * sums[b] for a, b in pairs])
    # Gram matrix of the raw functions, for the L2 norms of the combinations.
    overlap = prof @ prof.T
    gram = np.array([[overlap[a, c] * overlap[b, d] for c, d in pairs] for a, b in pairs])
    n_raw = len(pairs)
    rows = [np.eye(n_raw)[0] / raw_sums[0]]
    for j in range(1, n_raw):
        row = np.eye(n_raw)[j] - raw_sums[j] * rows[0]
        norm = float(np.sqrt(row @ gram @ row))
        if norm > 1e-12:
            rows.append(row / norm)
    return prof, pairs, np.array(rows)


def alard_lupton_basis(half: int, sigmas: tuple[float, ...], degrees: tuple[int, ...]) -> np.ndarray:
    """Alard-Lupton kernel basis: Gaussians times polynomials.

    Parameters
    ----------
    half : `int`
        Kernel half-width; kernels are ``2 half + 1`` square.
    sigmas : `tuple` [`float`, ...]
        Gaussian widths, pixels.
    degrees : `tuple` [`int`, ...]
        Polynomial degree for each width.

    Returns
    -------
    basis : `numpy.ndarray`
        ``(n, 2 half + 1, 2 half + 1)``: the first is the unit-sum Gaussian
        of the first width; every other one sums to zero (the first,
        scaled, is subtracted) and has unit L2 norm.  Row ``v``, column
        ``u`` hold offset ``(u - half, v - half)``.
    """
    prof, pairs, transform = _alard_lupton_parts(half, sigmas, degrees)
    raw = np.array([np.outer(prof[a], prof[b]) for a, b in pairs])
    return np.einsum("ij,juv->iuv", transform, raw)


def _valid_convolution_matrix(profile: np.ndarray, n_in: int) -> np.ndarray:
    """``(n_in, n_in - len(profile) + 1)`` matrix ``T``: ``a @ T`` is the valid 1-d convolution of ``a``."""
    width = profile.size
    n_out = n_in - width + 1
    j = np.arange(n_in)[:, None]
    i = np.arange(n_out)[None, :]
    t = i + width - 1 - j
    return np.where((t >= 0) & (t < width), profile[np.clip(t, 0, width - 1)], 0.0)


def _spatial_terms(x: np.ndarray, y: np.ndarray, order: int, width: int, height: int) -> np.ndarray:
    """Polynomial terms ``p_q`` (``(n_terms, ...)``) of positions scaled to [-1, 1]."""
    sx = 2.0 * np.asarray(x, dtype=float) / max(width - 1, 1) - 1.0
    sy = 2.0 * np.asarray(y, dtype=float) / max(height - 1, 1) - 1.0
    terms = [sx ** (total - m) * sy**m for total in range(max(order, 0) + 1) for m in range(total + 1)]
    return np.array(terms)


class SubtractTask:
    """PSF-match a template to a science exposure and subtract it.

    Parameters
    ----------
    config : `SubtractConfig`, optional
        Parameters; defaults if not given.
    """

    ConfigClass = SubtractConfig

    def __init__(self, config: SubtractConfig | None = None) -> None:
        self.config = config or SubtractConfig()

    # -- stamps -------------------------------------------------------------------------------

    def _candidates(
        self, science: Exposure, sources: Table | None, fwhm: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Positions of stamp stars, brightest first, spread over the image."""
        config = self.config
        if sources is None:
            detect = DetectionTask(DetectionConfig(threshold=config.stamp_min_snr, grow_fwhm=0.0))
            peaks = detect.run(science).peaks
            x = np.asarray(peaks["peak_x"], dtype=float)
            y = np.asarray(peaks["peak_y"], dtype=float)
            snr = np.asarray(peaks["peak_snr"], dtype=float)
            ok = ~np.asarray(peaks["is_negative"], dtype=bool) & (np.asarray(peaks["n_peaks"]) == 1)
        else:
            x = np.asarray(sources["x"], dtype=float)
            y = np.asarray(sources["y"], dtype=float)
            snr = np.asarray(sources["snr"], dtype=float)
            ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(snr)
            for name in _STAMP_REJECT:
                if name in sources.colnames:
                    ok &= ~np.asarray(sources[name], dtype=bool)
        if x.size > 1:
            dist, _ = cKDTree(np.column_stack([x, y])).query(np.column_stack([x, y]), k=2)
            ok &= dist[:, 1] > config.stamp_isolation_fwhm * fwhm
        ok &= snr >= config.stamp_min_snr
        rows = np.flatnonzero(ok)
        height, width = science.shape
        cell_x = np.minimum((x[rows] / width * config.stamp_grid).astype(int), config.stamp_grid - 1)
        cell_y = np.minimum((y[rows] / height * config.stamp_grid).astype(int), config.stamp_grid - 1)
        cell = cell_y * config.stamp_grid + cell_x
        order = np.lexsort((-snr[rows], cell))
        rows, cell = rows[order], cell[order]
        # Rank within each cell, then take rank 0 of every cell, then rank 1, ...
        starts = np.searchsorted(cell, cell, side="left")
        rank = np.arange(rows.size) - starts
        order = np.lexsort((-snr[rows], rank))
        return x[rows[order]], y[rows[order]]

    # -- fit ----------------------------------------------------------------------------------

    def _fit(
        self,
        convolved: Exposure,
        target: Exposure,
        sx: np.ndarray,
        sy: np.ndarray,
        parts: tuple[np.ndarray, list[tuple[int, int]], np.ndarray],
        stamp_half: int,
    ):
        """Fit the kernel and background on stamps; return coefficients and stamp table."""
        config = self.config
        height, width = target.shape
        n_basis = parts[2].shape[0]
        k_half = parts[0].shape[1] // 2
        bad_bits = mask_bits(config.bad_mask_planes)
        cx, cy = np.rint(sx).astype(np.intp), np.rint(sy).astype(np.intp)
        # Stamps must lie inside the image, the convolved one with the kernel margin.
        margin = stamp_half + k_half
        inside = (cx >= margin) & (cx < width - margin) & (cy >= margin) & (cy < height - margin)
        cx, cy = cx[inside], cy[inside]
        target_img, _ = gather_stamps(target.image, cx, cy, stamp_half)
        target_var, _ = gather_stamps(target.variance, cx, cy, stamp_half)
        target_mask, _ = gather_stamps(target.mask, cx, cy, stamp_half)
        conv_img, _ = gather_stamps(convolved.image, cx, cy, margin)
        conv_var, _ = gather_stamps(convolved.variance, cx, cy, stamp_half)
        conv_mask, _ = gather_stamps(convolved.mask, cx, cy, margin)
        # A hole anywhere under the kernel spoils the model of a stamp: drop such stamps.
        clean = ~np.any((conv_mask & int(MaskPlane.NO_DATA)) != 0, axis=(1, 2))
        clean &= np.all(np.isfinite(conv_img), axis=(1, 2))
        good = ((target_mask & bad_bits) == 0) & np.isfinite(target_img) & np.isfinite(target_var)
        core = conv_mask[:, k_half:-k_half, k_half:-k_half] if k_half else conv_mask
        good &= (core & bad_bits) == 0
        good &= np.isfinite(conv_var)
        clean &= good.mean(axis=(1, 2)) > 0.8
        # The candidates come ordered (spread over the image, brightest first).
        clean &= np.cumsum(clean) <= config.max_stamps
        cx, cy = cx[clean], cy[clean]
        target_img, target_var, good = target_img[clean], target_var[clean], good[clean]
        conv_img, conv_var = conv_img[clean], conv_var[clean]
        n_stamps = cx.size
        stamps = Table(
            {
                "x": cx.astype(float),
                "y": cy.astype(float),
                "chi2": np.full(n_stamps, np.nan),
                "kept": np.zeros(n_stamps, bool),
            }
        )
        if n_stamps < config.min_stamps:
            raise SubtractionError(f"{n_stamps} usable kernel stamps; need {config.min_stamps}")
        # Valid convolution of every stamp with every basis function: the raw
        # functions are separable, so two matrix products each (x, then y).
        profiles, pairs, transform = parts
        size = 2 * margin + 1
        toeplitz = np.array([_valid_convolution_matrix(p, size) for p in profiles])  # (P, size, out)
        along_x = np.matmul(conv_img.astype(np.float64)[:, None], toeplitz[None])  # (N, P, size, out)
        raw = np.stack([np.matmul(toeplitz[a].T, along_x[:, b]) for a, b in pairs], axis=1)
        n_pix = (2 * stamp_half + 1) ** 2
        columns = np.matmul(transform, raw.reshape(n_stamps, len(pairs), n_pix))
        # Differential background terms, in image coordinates.
        offsets = np.arange(-stamp_half, stamp_half + 1)
        pix_x = (
            (cx[:, None, None] + offsets[None, None, :])
            .repeat(2 * stamp_half + 1, axis=1)
            .reshape(n_stamps, n_pix)
        )
        pix_y = (
            (cy[:, None, None] + offsets[None, :, None])
            .repeat(2 * stamp_half + 1, axis=2)
            .reshape(n_stamps, n_pix)
        )
        if config.background_order >= 0:
            bg_terms = _spatial_terms(pix_x, pix_y, config.background_order, width, height)  # (nbg, N, npix)
            local = np.concatenate([columns, np.moveaxis(bg_terms, 0, 1)], axis=1)
        else:
            local = columns
        n_bg = local.shape[1] - n_basis
        weight = np.where(good, 1.0 / np.where(good, target_var + conv_var, 1.0), 0.0).reshape(
            n_stamps, n_pix
        )
        data = np.where(good, target_img, 0.0).reshape(n_stamps, n_pix)
        weighted = local * weight[:, None, :]
        local_normal = np.matmul(weighted, np.swapaxes(local, 1, 2))
        local_rhs = np.matmul(weighted, data[:, :, None])[:, :, 0]
        # Global columns: (basis i, spatial term q) and the background terms.
        spatial = _spatial_terms(cx, cy, config.spatial_order, width, height).T  # (N, nq)
        n_q = spatial.shape[1]
        col_local, col_q = [], []
        for i in range(n_basis):
            for q in range(n_q):
                if i == 0 and q > 0 and config.constant_flux_scaling:
                    continue
                col_local.append(i)
                col_q.append(q)
        for j in range(n_bg):
            col_local.append(n_basis + j)
            col_q.append(-1)
        col_local_arr = np.array(col_local)
        col_q_arr = np.array(col_q)
        factor = np.where(col_q_arr[None, :] >= 0, spatial[:, np.maximum(col_q_arr, 0)], 1.0)  # (N, ncols)
        sub_normal = local_normal[:, col_local_arr][:, :, col_local_arr]
        sub_rhs = local_rhs[:, col_local_arr]
        is_kernel = col_q_arr >= 0
        kept = np.ones(n_stamps, dtype=bool)
        chi2 = np.full(n_stamps, np.nan)
        solution = None
        for _ in range(max(config.stamp_iterations, 1)):
            f = factor[kept]
            normal = np.sum(f[:, :, None] * f[:, None, :] * sub_normal[kept], axis=0)
            rhs = np.sum(f * sub_rhs[kept], axis=0)
            ridge = config.regularization * float(np.mean(np.diag(normal)[is_kernel]))
            normal = normal + np.diag(np.where(is_kernel, ridge, 0.0))
            try:
                solution = np.linalg.solve(normal, rhs)
            except np.linalg.LinAlgError as exc:
                raise SubtractionError(f"kernel normal equations are singular ({exc})") from None
            # Per-stamp model: coefficients of the local basis at each stamp.
            local_coef = np.zeros((n_stamps, local.shape[1]))
            np.add.at(local_coef, (slice(None), col_local_arr), factor * solution[None, :])
            model = np.matmul(local_coef[:, None, :], local)[:, 0, :]
            resid = (data - model) ** 2 * weight
            n_good = np.maximum(good.reshape(n_stamps, n_pix).sum(axis=1), 1)
            chi2 = resid.sum(axis=1) / n_good
            centre = float(np.median(chi2[kept]))
            spread = max(robust_sigma(chi2[kept]), 0.05 * centre)
            new_kept = chi2 <= centre + config.stamp_clip_nsigma * spread
            if new_kept.sum() < config.min_stamps:
                break
            if np.array_equal(new_kept, kept):
                break
            kept = new_kept
        if kept.sum() < config.min_stamps:
            raise SubtractionError(
                f"{int(kept.sum())} kernel stamps left after clipping; need {config.min_stamps}"
            )
        stamps["chi2"] = chi2
        stamps["kept"] = kept
        kernel_coef = np.zeros((n_basis, n_q))
        bg_coef = np.zeros(n_bg)
        for c, (i, q) in enumerate(zip(col_local_arr, col_q_arr, strict=True)):
            if q >= 0:
                kernel_coef[i, q] = solution[c]
            else:
                bg_coef[i - n_basis] = solution[c]
        return kernel_coef, bg_coef, stamps

    # -- run ----------------------------------------------------------------------------------

    def run(self, science: Exposure, template: Exposure, sources: Table | None = None) -> SubtractResult:
        """Subtract a warped template from a science exposure.

        Parameters
        ----------
        science : `Exposure`
            Calibrated science exposure: background-subtracted counts, PSF,
            PhotoCalib, WCS; not modified.
        template : `Exposure`
            Template warped to the science pixel grid (nJy per pixel,
            `TemplateWarpTask` output) with its PSF; not modified.
        sources : `astropy.table.Table`, optional
            Science sources (`CalibrateTask` output) to choose kernel stamps
            from; detected afresh when not given.

        Returns
        -------
        result : `SubtractResult`
            The difference image and the fit's quality.

        Raises
        ------
        SubtractionError
            Missing PSF or calibration, mismatched shapes, or too few
            usable stamps.
        """
        config = self.config
        if science.shape != template.shape:
            raise SubtractionError(f"science {science.shape} and template {template.shape} differ in shape")
        if science.psf is None or template.psf is None:
            raise SubtractionError("both the science exposure and the template need a PSF")
        if science.photo_calib is None:
            raise SubtractionError("the science exposure has no photometric calibration")
        to_counts = 1.0 / science.photo_calib.njy_per_count
        template_photo = template.photo_calib.njy_per_count if template.photo_calib is not None else 1.0
        scale = template_photo * to_counts
        tmpl = Exposure(
            image=template.image * np.float32(scale),
            mask=template.mask,
            variance=template.variance * np.float32(scale * scale),
            wcs=template.wcs,
            psf=template.psf,
        )
        fwhm_s, fwhm_t = science.psf.fwhm, template.psf.fwhm
        mode = config.mode
        if mode == "auto":
            mode = (
                "convolveScience"
                if fwhm_t > fwhm_s * (1.0 + config.science_convolution_margin)
                else "convolveTemplate"
            )
        if mode == "convolveTemplate":
            convolved, target = tmpl, science
            narrow, wide = fwhm_t, fwhm_s
        else:
            convolved, target = science, tmpl
            narrow, wide = fwhm_s, fwhm_t
        sigma_match = np.sqrt(max(wide**2 - narrow**2, 0.0)) / FWHM_PER_SIGMA
        sigmas = tuple(max(s * sigma_match, config.min_basis_sigma) for s in config.basis_sigmas)
        k_half = int(
            np.clip(
                np.ceil(config.kernel_half_sigmas * max(sigmas)),
                config.kernel_half_min,
                config.kernel_half_max,
            )
        )
        parts = _alard_lupton_parts(k_half, sigmas, config.basis_degrees)
        basis = alard_lupton_basis(k_half, sigmas, config.basis_degrees)
        stamp_half = int(np.ceil(config.stamp_half_fwhm * wide))
        sx, sy = self._candidates(science, sources, wide)
        kernel_coef, bg_coef, stamps = self._fit(convolved, target, sx, sy, parts, stamp_half)
        height, width = science.shape
        # Kernels of the spatial terms, and the kernel at the image centre.
        term_kernels = np.einsum("iq,iuv->quv", kernel_coef, basis)
        centre_terms = _spatial_terms(
            np.array([(width - 1) / 2.0]), np.array([(height - 1) / 2.0]), config.spatial_order, width, height
        )[:, 0]
        kernel_centre = np.einsum("q,quv->uv", centre_terms, term_kernels)
        kernel_sum = float(kernel_coef[0, 0])
        # Convolve the whole image: one forward FFT, one inverse per spatial term.
        conv_bad = ~np.isfinite(convolved.image) | ((convolved.mask & int(MaskPlane.NO_DATA)) != 0)
        source = np.where(conv_bad, np.float32(0), convolved.image).astype(np.float32)
        convolver = FftConvolver(source, term_kernels.shape[1:])
        yy = np.arange(height, dtype=np.float32)[:, None]
        xx = np.arange(width, dtype=np.float32)[None, :]
        matched = np.zeros(science.shape, dtype=np.float32)
        n_q = term_kernels.shape[0]
        powers = [
            (total - m, m) for total in range(max(config.spatial_order, 0) + 1) for m in range(total + 1)
        ]
        sxn = 2.0 * xx / max(width - 1, 1) - 1.0
        syn = 2.0 * yy / max(height - 1, 1) - 1.0
        for q in range(n_q):
            term = convolver.crop(
                convolver.convolve_transform(convolver.kernel_transform(term_kernels[q])),
                term_kernels[q].shape,
            )
            px, py = powers[q]
            matched += term * (sxn**px * syn**py) if q else term
        del convolver
        if bg_coef.size:
            bg_powers = [
                (total - m, m) for total in range(config.background_order + 1) for m in range(total + 1)
            ]
            background = np.zeros(science.shape, dtype=np.float32)
            for coef, (px, py) in zip(bg_coef, bg_powers, strict=True):
                background += np.float32(coef) * (sxn**px * syn**py)
            bg_centre = float(
                sum(c * (0.0**px) * (0.0**py) for c, (px, py) in zip(bg_coef, bg_powers, strict=True))
            )
        else:
            background = np.float32(0.0)
            bg_centre = 0.0
        conv_var_src = np.where(
            conv_bad | ~np.isfinite(convolved.variance), np.float32(0), convolved.variance
        ).astype(np.float32)
        matched_var = FftConvolver(conv_var_src, kernel_centre.shape).convolve(kernel_centre**2)
        # Masks: the convolved image's planes grow by the kernel half-width.
        drop = int(MaskPlane.DETECTED | MaskPlane.DETECTED_NEGATIVE)
        conv_mask = grow_mask(convolved.mask & ~drop, k_half)
        target_var = np.where(np.isfinite(target.variance), target.variance, np.float32(0))
        if mode == "convolveTemplate":
            diff = science.image - matched - background
            variance = target_var + matched_var
            mask = science.mask | conv_mask
            matched_template = Exposure(
                image=matched + background,
                mask=conv_mask,
                variance=matched_var,
                wcs=science.wcs,
                psf=science.psf,
                photo_calib=science.photo_calib,
            )
            diff_psf = science.psf
        else:
            norm = np.float32(1.0 / kernel_sum) if kernel_sum > 0 else np.float32(1.0)
            diff = (matched - target.image - background) * norm
            variance = (matched_var + target_var) * norm * norm
            mask = (tmpl.mask & ~drop) | conv_mask | (science.mask & drop)
            matched_template = Exposure(
                image=target.image * norm,
                mask=tmpl.mask & ~drop,
                variance=target_var * norm * norm,
                wcs=science.wcs,
                psf=template.psf,
                photo_calib=science.photo_calib,
            )
            diff_psf = template.psf
        no_data = (mask & int(MaskPlane.NO_DATA)) != 0
        no_data |= ~np.isfinite(diff)
        mask[no_data] |= int(MaskPlane.NO_DATA)
        diff = np.where(no_data, np.float32(np.nan), diff).astype(np.float32)
        variance = np.where(no_data, np.float32(np.inf), variance).astype(np.float32)
        mean, std_ratio, mad_ratio = self._residual_statistics(diff, variance, mask | science.mask)
        metadata = science.metadata.copy()
        metadata["KERNSUM"] = (kernel_sum, "PSF-matching kernel sum")
        metadata["SUBMODE"] = (mode, "image convolved in PSF matching")
        metadata["RESSTD"] = (
            std_ratio if np.isfinite(std_ratio) else None,
            "std of diff/sqrt(var), source-free",
        )
        difference = Exposure(
            image=diff,
            mask=mask,
            variance=variance,
            wcs=science.wcs.deepcopy() if science.wcs is not None else None,
            psf=diff_psf if isinstance(diff_psf, ImagePsf) else None,
            photo_calib=science.photo_calib,
            visit_info=science.visit_info,
            metadata=metadata,
        )
        return SubtractResult(
            difference=difference,
            matched_template=matched_template,
            kernel=kernel_centre,
            kernel_sum=kernel_sum,
            mode=mode,
            n_stamps=int(np.sum(stamps["kept"])),
            stamps=stamps,
            background_offset=bg_centre,
            residual_mean=mean,
            residual_std_ratio=std_ratio,
            residual_mad_ratio=mad_ratio,
        )

    def _residual_statistics(
        self, diff: np.ndarray, variance: np.ndarray, mask: np.ndarray
    ) -> tuple[float, float, float]:
        """Mean and normalised scatter of the difference on clean, undetected pixels."""
        step = max(self.config.statistics_subsample, 1)
        exclude = mask_bits(self.config.bad_mask_planes) | int(
            MaskPlane.DETECTED | MaskPlane.DETECTED_NEGATIVE
        )
        d = diff[::step, ::step]
        v = variance[::step, ::step]
        use = ((mask[::step, ::step] & exclude) == 0) & np.isfinite(d) & np.isfinite(v) & (v > 0)
        if use.sum() < 100:
            return float("nan"), float("nan"), float("nan")
        values = d[use]
        pulls = values / np.sqrt(v[use])
        keep = np.abs(pulls - np.median(pulls)) < 5.0 * max(robust_sigma(pulls), 1e-6)
        return float(np.mean(values[keep])), float(np.std(pulls[keep])), robust_sigma(pulls)
