"""Sky background: a robust mesh estimate, interpolated with a bicubic spline.

The image is cut into square cells of `BackgroundConfig.cell_size` pixels.
In each cell the unmasked, finite pixels (every `BackgroundConfig.subsample`-th
pixel along each axis, for speed) are sorted once; iterative clipping at
`BackgroundConfig.nsigma` robust sigmas around the median then costs only
comparisons against the sorted values.  The cell statistic (clipped median,
clipped mean or the SExtractor mode ``2.5 median - 1.5 mean``) and the clipped
scatter are placed at the cell centres; cells with too few good pixels are
filled from the nearest good cell.  The full-resolution model is the
separable not-a-knot cubic spline through the cell values (placed at the
centres of the sampled pixels), ``W_y @ grid @ W_x.T``, continued linearly
over the outer half cells: planes are reproduced exactly, parabolas
between the outer cell centres.

Units are those of the image (electrons after ISR).  Pixel ``(x, y)`` is
``image[y, x]``, 0-based, centres at integer coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage

from ..image import Exposure, MaskPlane
from ._numerics import cubic_interpolation_matrix

__all__ = ["BackgroundConfig", "BackgroundResult", "BackgroundTask", "estimate_background"]


@dataclass(frozen=True)
class BackgroundConfig:
    """How the background is measured.

    Parameters
    ----------
    cell_size : `int`
        Side of a mesh cell, pixels; a multiple of ``subsample``.  Larger
        than a few PSF widths and the biggest sources, smaller than the scale
        of real background structure.
    subsample : `int`
        Use every ``subsample``-th pixel along each axis for the cell
        statistics (1 uses all pixels).
    nsigma : `float`
        Clipping threshold, robust sigmas around the cell median.
    iterations : `int`
        Clipping passes.
    statistic : `str`
        ``"median"`` (default), ``"mean"`` (clipped mean) or ``"mode"``
        (``2.5 median - 1.5 mean``, falling back to the median when the two
        differ by more than 0.3 sigma, as SExtractor does).
    min_good_fraction : `float`
        A cell needs at least this fraction of good pixels to be used.
    bad_mask_planes : `tuple` [`str`, ...]
        Mask planes whose pixels are ignored (``DETECTED`` keeps sources out
        of the second pass of calibration).
    grid_median_filter : `int`
        Side of a median filter applied to the cell grid (0 or 1: none);
        suppresses cells biased by bright stars at the cost of bending
        strong gradients in the outermost cells.
    recentre_cells : `bool`
        Correct each cell value for the offset between the centroid of its
        unmasked pixels and the cell centre, using the gradient of the grid.
    """

    cell_size: int = 128
    subsample: int = 2
    nsigma: float = 3.0
    iterations: int = 3
    statistic: Literal["median", "mean", "mode"] = "median"
    min_good_fraction: float = 0.2
    bad_mask_planes: tuple[str, ...] = ("BAD", "SAT", "CR", "NO_DATA", "DETECTED", "STREAK")
    grid_median_filter: int = 0
    recentre_cells: bool = True

    def __post_init__(self) -> None:
        if self.subsample < 1 or self.cell_size < self.subsample or self.cell_size % self.subsample:
            raise ValueError("cell_size must be a positive multiple of subsample")
        if self.statistic not in ("median", "mean", "mode"):
            raise ValueError(f"unknown background statistic {self.statistic!r}")


@dataclass
class BackgroundResult:
    """A background model.

    Attributes
    ----------
    model : `numpy.ndarray`
        ``float32`` background at every pixel, image units.
    rms : `numpy.ndarray`
        ``float32`` clipped pixel scatter interpolated like the model, image units.
    grid : `numpy.ndarray`
        ``(ny, nx)`` cell values (after filling and filtering).
    grid_rms : `numpy.ndarray`
        ``(ny, nx)`` cell scatters.
    x_centres, y_centres : `numpy.ndarray`
        Cell centre coordinates, pixels.
    n_good_cells : `int`
        Cells measured directly (the rest were filled).
    mean : `float`
        Mean of the model, image units.
    mean_rms : `float`
        Median of the cell scatters, image units.
    exposure : `Exposure` or `None`
        The background-subtracted exposure (`BackgroundTask.run` only).
    """

    model: np.ndarray
    rms: np.ndarray
    grid: np.ndarray
    grid_rms: np.ndarray
    x_centres: np.ndarray
    y_centres: np.ndarray
    n_good_cells: int
    mean: float
    mean_rms: float
    exposure: Exposure | None = None


def _mask_bits(names: tuple[str, ...]) -> int:
    bits = 0
    for name in names:
        bits |= int(MaskPlane[name])
    return bits


def _cells(values: np.ndarray, cell: int) -> np.ndarray:
    """Reshape a 2-d array into ``(ny, nx, cell * cell)`` cells, NaN-padded."""
    height, width = values.shape
    ny, nx = -(-height // cell), -(-width // cell)
    if (ny * cell, nx * cell) != values.shape:
        padded = np.full((ny * cell, nx * cell), np.nan, dtype=np.float32)
        padded[:height, :width] = values
        values = padded
    return values.reshape(ny, cell, nx, cell).transpose(0, 2, 1, 3).reshape(ny, nx, cell * cell)


def _sorted_quantile(sorted_values: np.ndarray, lo: np.ndarray, hi: np.ndarray, q: float) -> np.ndarray:
    """Quantile ``q`` of ``sorted_values[..., lo:hi]`` (linear interpolation), per row."""
    n = hi - lo
    pos = lo + np.maximum(n - 1, 0) * q
    below = np.floor(pos).astype(np.intp)
    above = np.minimum(below + 1, np.maximum(hi - 1, 0))
    frac = pos - below
    v_lo = np.take_along_axis(sorted_values, below[..., None], axis=-1)[..., 0]
    v_hi = np.take_along_axis(sorted_values, above[..., None], axis=-1)[..., 0]
    return (1.0 - frac) * v_lo + frac * v_hi


def _clipped_cell_stats(
    cells: np.ndarray, nsigma: float, iterations: int, statistic: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clipped statistic, scatter and number of kept pixels of each cell (NaNs are missing)."""
    ordered = np.sort(cells, axis=-1)  # NaNs go last
    hi = np.sum(np.isfinite(ordered), axis=-1)
    lo = np.zeros_like(hi)
    empty = hi == 0
    hi_safe = np.where(empty, 1, hi)
    ordered = np.where(np.isfinite(ordered), ordered, 0.0).astype(np.float32)
    for _ in range(max(iterations, 0)):
        median = _sorted_quantile(ordered, lo, hi_safe, 0.5)
        sigma = (
            _sorted_quantile(ordered, lo, hi_safe, 0.75) - _sorted_quantile(ordered, lo, hi_safe, 0.25)
        ) / 1.3489795
        low_cut = (median - nsigma * sigma)[..., None]
        high_cut = (median + nsigma * sigma)[..., None]
        index = np.arange(ordered.shape[-1])
        valid = index[None, None, :] < hi_safe[..., None]
        new_lo = np.sum((ordered < low_cut) & valid, axis=-1)
        new_hi = np.sum((ordered <= high_cut) & valid, axis=-1)
        new_hi = np.maximum(new_hi, new_lo + 1)
        if np.array_equal(new_lo, lo) and np.array_equal(new_hi, hi_safe):
            break
        lo, hi_safe = new_lo, new_hi
    median = _sorted_quantile(ordered, lo, hi_safe, 0.5)
    sigma = (
        _sorted_quantile(ordered, lo, hi_safe, 0.75) - _sorted_quantile(ordered, lo, hi_safe, 0.25)
    ) / 1.3489795
    count = np.where(empty, 0, hi_safe - lo)
    if statistic == "median":
        value = median
    else:
        cumulative = np.concatenate(
            [np.zeros((*ordered.shape[:-1], 1)), np.cumsum(ordered, axis=-1, dtype=np.float64)], axis=-1
        )
        total = np.take_along_axis(cumulative, hi_safe[..., None], -1) - np.take_along_axis(
            cumulative, lo[..., None], -1
        )
        mean = total[..., 0] / np.maximum(hi_safe - lo, 1)
        if statistic == "mean":
            value = mean
        else:
            mode = 2.5 * median - 1.5 * mean
            skewed = np.abs(mean - median) > 0.3 * np.maximum(sigma, 1e-30)
            value = np.where(skewed, median, mode)
    value = np.where(empty, np.nan, value)
    sigma = np.where(empty, np.nan, sigma)
    return value.astype(float), sigma.astype(float), count


def _fill_missing(grid: np.ndarray, good: np.ndarray) -> np.ndarray:
    """Replace cells that are not ``good`` by the nearest good cell."""
    if good.all():
        return grid
    _, (iy, ix) = ndimage.distance_transform_edt(~good, return_indices=True)
    return grid[iy, ix]


def estimate_background(
    image: np.ndarray, mask: np.ndarray | None = None, config: BackgroundConfig | None = None
) -> BackgroundResult:
    """Measure the background of an image.

    Parameters
    ----------
    image : `numpy.ndarray`
        2-d image, any units; NaNs are ignored.
    mask : `numpy.ndarray`, optional
        `MaskPlane` bits; pixels with any of ``config.bad_mask_planes`` set
        are ignored.
    config : `BackgroundConfig`, optional
        Parameters; defaults if not given.

    Returns
    -------
    result : `BackgroundResult`
        Model and scatter maps (``exposure`` is `None`).

    Raises
    ------
    ValueError
        If no cell has enough good pixels.
    """
    config = config or BackgroundConfig()
    height, width = image.shape
    step = config.subsample
    sub = np.array(image[::step, ::step], dtype=np.float32)
    if mask is not None:
        bad = (mask[::step, ::step] & _mask_bits(config.bad_mask_planes)) != 0
        sub[bad] = np.nan
    cell_sub = config.cell_size // step
    cells = _cells(sub, cell_sub)
    value, sigma, count = _clipped_cell_stats(cells, config.nsigma, config.iterations, config.statistic)
    # Pixels a cell really holds (edge cells are partial).
    ny, nx = value.shape
    rows = np.minimum(np.arange(1, ny + 1) * cell_sub, sub.shape[0]) - np.arange(ny) * cell_sub
    cols = np.minimum(np.arange(1, nx + 1) * cell_sub, sub.shape[1]) - np.arange(nx) * cell_sub
    capacity = rows[:, None] * cols[None, :]
    good = (count >= config.min_good_fraction * capacity) & np.isfinite(value) & (count > 0)
    if not good.any():
        raise ValueError("no background cell has enough unmasked pixels")
    # Masks make the used pixels of a cell lopsided; under a gradient that
    # biases the cell value.  Move each value to the cell centre with the
    # gradient of the grid itself (one first-order correction).
    finite = np.isfinite(cells)
    local = (np.arange(cell_sub * cell_sub) % cell_sub, np.arange(cell_sub * cell_sub) // cell_sub)
    with np.errstate(invalid="ignore", divide="ignore"):
        n_finite = finite.sum(axis=-1)
        mean_dx = step * (finite @ local[0].astype(float)) / n_finite - step * (cols[None, :] - 1) / 2.0
        mean_dy = step * (finite @ local[1].astype(float)) / n_finite - step * (rows[:, None] - 1) / 2.0
    grid = _fill_missing(value, good)
    if config.recentre_cells and min(ny, nx) >= 1 and (ny > 1 or nx > 1):
        spacing = float(config.cell_size)
        grad_y = np.gradient(grid, spacing, axis=0) if ny > 1 else np.zeros_like(grid)
        grad_x = np.gradient(grid, spacing, axis=1) if nx > 1 else np.zeros_like(grid)
        shift = np.where(good, grad_x * np.nan_to_num(mean_dx) + grad_y * np.nan_to_num(mean_dy), 0.0)
        grid = grid - shift
    grid_rms = _fill_missing(sigma, good)
    if config.grid_median_filter > 1:
        grid = ndimage.median_filter(grid, size=config.grid_median_filter, mode="nearest")
    # Centres of the pixels actually sampled in each cell (edge cells are partial).
    y_centres = np.arange(ny) * config.cell_size + step * (rows - 1) / 2.0
    x_centres = np.arange(nx) * config.cell_size + step * (cols - 1) / 2.0
    wy = cubic_interpolation_matrix(y_centres, np.arange(height))
    wx = cubic_interpolation_matrix(x_centres, np.arange(width))
    wy32 = wy.astype(np.float32)
    model = wy32 @ (grid @ wx.T).astype(np.float32)
    rms = wy32 @ (grid_rms @ wx.T).astype(np.float32)
    return BackgroundResult(
        model=model,
        rms=rms,
        grid=grid,
        grid_rms=grid_rms,
        x_centres=x_centres,
        y_centres=y_centres,
        n_good_cells=int(good.sum()),
        mean=float(model.mean()),
        mean_rms=float(np.median(grid_rms)),
    )


class BackgroundTask:
    """Measure and subtract the sky background of an exposure.

    Parameters
    ----------
    config : `BackgroundConfig`, optional
        Parameters; defaults if not given.
    """

    ConfigClass = BackgroundConfig

    def __init__(self, config: BackgroundConfig | None = None) -> None:
        self.config = config or BackgroundConfig()

    def run(self, exposure: Exposure) -> BackgroundResult:
        """Measure the background and subtract it.

        Parameters
        ----------
        exposure : `Exposure`
            Input exposure; not modified.

        Returns
        -------
        result : `BackgroundResult`
            The model, and in ``exposure`` a copy of the input with the model
            subtracted from its image (mask, variance and models copied).
        """
        result = estimate_background(exposure.image, exposure.mask, self.config)
        output = exposure.copy()
        output.image -= result.model
        output.metadata["BGMEAN"] = (result.mean, "mean subtracted background")
        output.metadata["BGRMS"] = (result.mean_rms, "median background pixel scatter")
        result.exposure = output
        return result
