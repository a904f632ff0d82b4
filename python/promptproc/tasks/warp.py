"""Template warping: resample template patches onto the science exposure's pixel grid.

For each patch, the science-to-template pixel mapping is computed exactly
(through both WCSs) on a coarse grid of nodes every
`WarpConfig.grid_spacing` science pixels and interpolated to every pixel
with a separable natural cubic spline (two small matrix products per block
of rows); the largest difference between the interpolated and the exact
mapping at the cell midpoints is reported (``max_mapping_error``,
typically < 1e-4 pixel for TAN to TAN at 64-pixel spacing).

* **image**: cubic B-spline interpolation (`scipy.ndimage.map_coordinates`,
  ``order=3`` with the spline prefilter, an interpolating kernel close in
  quality to Lanczos-3) or bilinear (``interpolation="linear"``).  The
  template keeps its units (nJy per pixel for coadds); the output is
  multiplied by the ratio of pixel areas (science/template, from the local
  Jacobian) so surface brightness per science pixel is right.
* **variance**: interpolated bilinearly and scaled by the pixel-area ratio
  squared.  This ignores the covariance interpolation creates between
  neighbouring pixels: the per-pixel variance is overstated by up to the
  interpolation kernel's noise reduction (~20-30% for cubic at half-pixel
  shifts), while sums over PSF-sized areas are about right.
* **mask**: OR of the 2x2 nearest template pixels' planes (detection planes
  dropped); pixels within `WarpConfig.border` pixels of a patch edge or of
  template ``NO_DATA`` are not used.
* **overlaps**: where several patches cover a pixel, the one whose edge is
  furthest away (in template pixels) wins, so every pixel comes from a
  patch's interior.
* **PSF**: the template PSF of the patch covering most pixels, resampled
  through the local Jacobian at the science centre (rotation and scale).

Pixels no patch covers are ``NO_DATA`` with NaN image and infinite
variance.  Pixel convention: ``image[y, x]``, 0-based, centres at integer
coordinates; WCS ``origin=0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from astropy.wcs import WCS
from scipy import ndimage

from ..image import Exposure, ImagePsf, MaskPlane, PhotoCalib, VisitInfo
from ._numerics import cubic_interpolation_matrix
from .errors import TemplateCoverageError

__all__ = ["TemplateWarpTask", "WarpConfig", "WarpResult", "warp_psf"]

_DROP_PLANES = int(MaskPlane.DETECTED | MaskPlane.DETECTED_NEGATIVE)


@dataclass(frozen=True)
class WarpConfig:
    """How templates are warped.

    Parameters
    ----------
    interpolation : `str`
        ``"cubic"`` (B-spline, order 3) or ``"linear"``.
    grid_spacing : `int`
        Science pixels between exactly mapped nodes.
    border : `int`
        Template pixels at a patch edge (or next to ``NO_DATA``) not used.
    min_coverage : `float`
        A coverage fraction at or below this raises `TemplateCoverageError`
        (0: only when nothing at all is covered).
    block_rows : `int`
        Science rows processed at once (bounds memory).
    """

    interpolation: Literal["cubic", "linear"] = "cubic"
    grid_spacing: int = 64
    border: int = 2
    min_coverage: float = 0.0
    block_rows: int = 512

    def __post_init__(self) -> None:
        if self.interpolation not in ("cubic", "linear"):
            raise ValueError(f"unknown interpolation {self.interpolation!r}")
        if self.grid_spacing < 2:
            raise ValueError("grid_spacing must be at least 2 pixels")


@dataclass
class WarpResult:
    """A template on the science pixel grid.

    Attributes
    ----------
    exposure : `Exposure`
        Warped template (template units, nJy for coadds), science WCS,
        warped template PSF, ``PhotoCalib(1.0)``.
    coverage : `float`
        Fraction of science pixels with template data.
    n_patches : `int`
        Patches that contributed pixels.
    max_mapping_error : `float`
        Largest error of the interpolated pixel mapping at the check points,
        template pixels.
    """

    exposure: Exposure
    coverage: float
    n_patches: int
    max_mapping_error: float


def _nodes(length: int, spacing: int) -> np.ndarray:
    nodes = np.arange(0, length, spacing, dtype=float)
    if nodes[-1] != length - 1:
        nodes = np.append(nodes, length - 1)
    return nodes


def _map_points(source: WCS, target: WCS, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Target pixel positions of source pixel positions (same shape), via the sky."""
    ra, dec = source.all_pix2world(x.ravel(), y.ravel(), 0)
    with np.errstate(all="ignore"):
        tx, ty = target.all_world2pix(ra, dec, 0)
    return np.asarray(tx).reshape(x.shape), np.asarray(ty).reshape(x.shape)


def warp_psf(psf: ImagePsf, jacobian: np.ndarray) -> ImagePsf:
    """Resample a PSF kernel through a linear pixel mapping.

    Parameters
    ----------
    psf : `ImagePsf`
        PSF in the source (template) pixel frame.
    jacobian : `numpy.ndarray`
        ``2x2`` matrix ``d(template x, y) / d(science x, y)``.

    Returns
    -------
    psf : `ImagePsf`
        The PSF in the science frame (same kernel size), FWHM scaled by the
        mean linear scale.
    """
    kernel = psf.kernel
    half = kernel.shape[0] // 2
    offsets = np.arange(-half, half + 1, dtype=float)
    sx, sy = np.meshgrid(offsets, offsets)
    tx = jacobian[0, 0] * sx + jacobian[0, 1] * sy + half
    ty = jacobian[1, 0] * sx + jacobian[1, 1] * sy + half
    warped = ndimage.map_coordinates(kernel, [ty, tx], order=3, mode="constant", cval=0.0)
    warped = np.clip(warped, 0.0, None)
    scale = float(np.sqrt(abs(np.linalg.det(jacobian))))
    return ImagePsf(warped, psf.fwhm / scale)


class TemplateWarpTask:
    """Warp template patches onto a science exposure's pixel grid.

    Parameters
    ----------
    config : `WarpConfig`, optional
        Parameters; defaults if not given.
    """

    ConfigClass = WarpConfig

    def __init__(self, config: WarpConfig | None = None) -> None:
        self.config = config or WarpConfig()

    def run(
        self,
        templates: Sequence[Exposure],
        wcs: WCS,
        shape: tuple[int, int],
        visit_info: VisitInfo | None = None,
    ) -> WarpResult:
        """Warp and combine the template patches.

        Parameters
        ----------
        templates : sequence of `Exposure`
            Template patches, each with its own WCS (nJy per pixel for coadds).
        wcs : `astropy.wcs.WCS`
            Science WCS.
        shape : `tuple` [`int`, `int`]
            Science ``(height, width)``.
        visit_info : `VisitInfo`, optional
            Attached to the output (default: an empty coadd record).

        Returns
        -------
        result : `WarpResult`
            The warped template and its coverage.

        Raises
        ------
        TemplateCoverageError
            If the coverage is at or below ``config.min_coverage`` (e.g. no
            patch overlaps the science exposure).
        """
        config = self.config
        height, width = shape
        image = np.full(shape, np.nan, dtype=np.float32)
        variance = np.full(shape, np.inf, dtype=np.float32)
        mask = np.full(shape, int(MaskPlane.NO_DATA), dtype=np.int32)
        depth = np.full(shape, -np.inf, dtype=np.float32)
        node_x, node_y = _nodes(width, config.grid_spacing), _nodes(height, config.grid_spacing)
        gx, gy = np.meshgrid(node_x, node_y)
        wx_all = cubic_interpolation_matrix(node_x, np.arange(width))
        wy_all = cubic_interpolation_matrix(node_y, np.arange(height))
        mid_x = 0.5 * (node_x[:-1] + node_x[1:]) if node_x.size > 1 else node_x
        mid_y = 0.5 * (node_y[:-1] + node_y[1:]) if node_y.size > 1 else node_y
        mx, my = np.meshgrid(mid_x, mid_y)
        wx_mid = cubic_interpolation_matrix(node_x, mid_x)
        wy_mid = cubic_interpolation_matrix(node_y, mid_y)
        max_error = 0.0
        used_pixels: list[int] = []
        jacobians: list[np.ndarray] = []
        for template in templates:
            if template.wcs is None:
                raise ValueError("every template patch needs a WCS")
            t_height, t_width = template.shape
            # Science pixels the patch can reach: its corners mapped into the science frame.
            corner_x = np.array([-0.5, t_width - 0.5, t_width - 0.5, -0.5])
            corner_y = np.array([-0.5, -0.5, t_height - 0.5, t_height - 0.5])
            cx, cy = _map_points(template.wcs, wcs, corner_x, corner_y)
            if not (np.all(np.isfinite(cx)) and np.all(np.isfinite(cy))):
                continue
            x0, x1 = max(int(np.floor(cx.min())) - 1, 0), min(int(np.ceil(cx.max())) + 2, width)
            y0, y1 = max(int(np.floor(cy.min())) - 1, 0), min(int(np.ceil(cy.max())) + 2, height)
            if x1 <= x0 or y1 <= y0:
                continue
            map_x, map_y = _map_points(wcs, template.wcs, gx, gy)
            exact_x, exact_y = _map_points(wcs, template.wcs, mx, my)
            max_error = max(
                max_error,
                float(np.max(np.abs(wy_mid @ map_x @ wx_mid.T - exact_x))),
                float(np.max(np.abs(wy_mid @ map_y @ wx_mid.T - exact_y))),
            )
            # Jacobian at the science centre, for the PSF and the pixel-area ratio.
            centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
            px, py = _map_points(
                wcs,
                template.wcs,
                centre[0] + np.array([0.0, 1.0, 0.0]),
                centre[1] + np.array([0.0, 0.0, 1.0]),
            )
            jacobian = np.array([[px[1] - px[0], px[2] - px[0]], [py[1] - py[0], py[2] - py[0]]])
            area_ratio = float(abs(np.linalg.det(jacobian)))
            # Template pixels needed (plus the interpolation support), with holes zeroed.
            right_x = map_x @ wx_all[x0:x1].T
            right_y = map_y @ wx_all[x0:x1].T
            # The mapping is nearly affine: the extreme template pixels are at the corners.
            sub_x = np.array([x0, x1 - 1, x1 - 1, x0], dtype=float)
            sub_y = np.array([y0, y0, y1 - 1, y1 - 1], dtype=float)
            kx, ky = _map_points(wcs, template.wcs, sub_x, sub_y)
            tx_lo, tx_hi, ty_lo, ty_hi = kx.min() - 2, kx.max() + 2, ky.min() - 2, ky.max() + 2
            ox0 = max(int(np.floor(tx_lo)) - 4, 0)
            ox1 = min(int(np.ceil(tx_hi)) + 5, t_width)
            oy0 = max(int(np.floor(ty_lo)) - 4, 0)
            oy1 = min(int(np.ceil(ty_hi)) + 5, t_height)
            if ox1 <= ox0 or oy1 <= oy0:
                continue
            sub_img = template.image[oy0:oy1, ox0:ox1].astype(np.float64)
            sub_var = template.variance[oy0:oy1, ox0:ox1].astype(np.float32)
            sub_mask = template.mask[oy0:oy1, ox0:ox1] & ~_DROP_PLANES
            hole = (sub_mask & int(MaskPlane.NO_DATA)) != 0
            hole |= ~np.isfinite(sub_img) | ~np.isfinite(sub_var)
            if config.border > 0 and hole.any():
                hole = ndimage.binary_dilation(hole, iterations=config.border)
            sub_img[hole] = 0.0
            sub_var[hole] = 0.0
            order = 3 if config.interpolation == "cubic" else 1
            coeffs = ndimage.spline_filter(sub_img, order=3, output=np.float32) if order == 3 else sub_img
            count = 0
            has_holes = bool(hole.any())
            has_bits = bool(sub_mask.any())
            last_x, last_y = ox1 - ox0 - 1, oy1 - oy0 - 1
            for start in range(y0, y1, config.block_rows):
                stop = min(start + config.block_rows, y1)
                bx = wy_all[start:stop] @ right_x
                by = wy_all[start:stop] @ right_y
                block = (slice(start, stop), slice(x0, x1))
                # Distance (template pixels) to the usable edge: >= 0 inside, larger is deeper.
                edge_distance = np.minimum(
                    np.minimum(bx, t_width - 1 - bx), np.minimum(by, t_height - 1 - by)
                ).astype(np.float32) - np.float32(config.border)
                take = (edge_distance >= 0) & (edge_distance > depth[block])
                lx, ly = bx - ox0, by - oy0
                if has_holes or has_bits:
                    fx = np.clip(np.floor(lx).astype(np.intp), 0, max(last_x - 1, 0))
                    fy = np.clip(np.floor(ly).astype(np.intp), 0, max(last_y - 1, 0))
                    gx1, gy1 = np.minimum(fx + 1, last_x), np.minimum(fy + 1, last_y)
                    if has_holes:
                        take &= ~(hole[fy, fx] | hole[fy, gx1] | hole[gy1, fx] | hole[gy1, gx1])
                if not take.any():
                    continue
                everywhere = bool(take.all())
                coords = np.stack([ly, lx]) if everywhere else np.stack([ly[take], lx[take]])
                values = ndimage.map_coordinates(coeffs, coords, order=order, prefilter=False, mode="nearest")
                var_values = ndimage.map_coordinates(sub_var, coords, order=1, mode="nearest")
                values = (values * area_ratio).astype(np.float32)
                var_values = (var_values * area_ratio**2).astype(np.float32)
                if has_bits:
                    bits = sub_mask[fy, fx] | sub_mask[fy, gx1] | sub_mask[gy1, fx] | sub_mask[gy1, gx1]
                else:
                    bits = np.zeros(take.shape, dtype=np.int32)
                if everywhere:
                    image[block] = values
                    variance[block] = var_values
                    mask[block] = bits
                    depth[block] = edge_distance
                else:
                    image[block][take] = values
                    variance[block][take] = var_values
                    mask[block][take] = bits[take]
                    depth[block][take] = edge_distance[take]
                count += int(take.sum())
            used_pixels.append(count)
            jacobians.append(jacobian)
        covered = np.isfinite(depth)
        coverage = float(covered.mean())
        if coverage <= config.min_coverage:
            raise TemplateCoverageError(
                coverage,
                f"{len(templates)} template patch(es) cover {coverage:.1%} of the science pixels "
                f"(need more than {config.min_coverage:.1%})",
            )
        best = int(np.argmax(used_pixels))
        psf = templates[best].psf
        warped_psf = warp_psf(psf, jacobians[best]) if psf is not None else None
        exposure = Exposure(
            image=image,
            mask=mask,
            variance=variance,
            wcs=wcs.deepcopy(),
            psf=warped_psf,
            photo_calib=PhotoCalib(1.0),
            visit_info=visit_info or VisitInfo(observation_type="coadd"),
        )
        exposure.metadata["COVERAGE"] = (coverage, "fraction of pixels with template data")
        exposure.metadata["NPATCHES"] = (sum(1 for n in used_pixels if n), "template patches used")
        return WarpResult(
            exposure=exposure,
            coverage=coverage,
            n_patches=sum(1 for n in used_pixels if n),
            max_mapping_error=max_error,
        )
