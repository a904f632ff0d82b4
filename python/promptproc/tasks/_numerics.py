"""Numerical building blocks shared by the science tasks.

FFT convolution at fast transform sizes, robust statistics, separable cubic
interpolation matrices and Lanczos shift matrices.  Pixel convention
everywhere: pixel ``(x, y)`` is ``array[y, x]``, 0-based, centre at integer
coordinates.  Nothing here knows about exposures or tables.

FFTs use `scipy.fft` without a ``workers`` argument, so a caller sets the
thread count for a whole step with ``scipy.fft.set_workers(n)``.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import fft as sfft
from scipy.interpolate import CubicSpline
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = [
    "BAD_PIXEL_BITS",
    "FftConvolver",
    "connected_groups",
    "cubic_interpolation_matrix",
    "fft_convolve",
    "gather_stamps",
    "grow_mask",
    "lanczos_shift_matrices",
    "robust_sigma",
    "sigma_clipped_mean_std",
    "sigma_clipped_median",
]

MAD_TO_SIGMA = 1.482602218505602
"""Standard deviation of a normal distribution per unit median absolute deviation."""

BAD_PIXEL_BITS = ("BAD", "SAT", "CR", "NO_DATA")
"""Default names of the mask planes whose pixels measurements ignore."""


class FftConvolver:
    """Convolve one image with several small kernels, transforming the image once.

    The image is zero-padded to a fast FFT size so that nothing wraps around;
    the result has the image's shape and is the linear ("same") convolution
    with each kernel centred on its middle pixel.

    Parameters
    ----------
    image : `numpy.ndarray`
        2-d real array; ``float32`` input keeps the transforms in single
        precision.
    max_kernel_shape : `tuple` [`int`, `int`]
        Largest (odd) kernel shape that will be used.
    """

    def __init__(self, image: np.ndarray, max_kernel_shape: tuple[int, int]) -> None:
        image = np.asarray(image)
        self.dtype = np.float32 if image.dtype == np.float32 else np.float64
        self.shape = image.shape
        ky, kx = max_kernel_shape
        self.pad_shape = (
            sfft.next_fast_len(image.shape[0] + ky - 1, real=True),
            sfft.next_fast_len(image.shape[1] + kx - 1, real=True),
        )
        self.max_kernel_shape = (ky, kx)
        self._image_ft = sfft.rfft2(image.astype(self.dtype, copy=False), s=self.pad_shape)

    def kernel_transform(self, kernel: np.ndarray) -> np.ndarray:
        """The transform of a kernel, for reuse with `convolve_transform`."""
        kernel = np.asarray(kernel, dtype=self.dtype)
        if kernel.shape[0] > self.max_kernel_shape[0] or kernel.shape[1] > self.max_kernel_shape[1]:
            raise ValueError(f"kernel {kernel.shape} exceeds the planned {self.max_kernel_shape}")
        if kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
            raise ValueError(f"kernel shape {kernel.shape} must be odd")
        return sfft.rfft2(kernel, s=self.pad_shape)

    def convolve_transform(self, kernel_ft: np.ndarray) -> np.ndarray:
        """Convolve with a kernel given by its transform (from `kernel_transform`)."""
        full = sfft.irfft2(self._image_ft * kernel_ft, s=self.pad_shape)
        return full

    def convolve(self, kernel: np.ndarray) -> np.ndarray:
        """Same-shape convolution of the image with ``kernel`` (centred on its middle pixel)."""
        kernel = np.asarray(kernel)
        full = self.convolve_transform(self.kernel_transform(kernel))
        hy, hx = kernel.shape[0] // 2, kernel.shape[1] // 2
        return full[hy : hy + self.shape[0], hx : hx + self.shape[1]]

    def crop(self, full: np.ndarray, kernel_shape: tuple[int, int]) -> np.ndarray:
        """Cut the same-shape result out of `convolve_transform` output."""
        hy, hx = kernel_shape[0] // 2, kernel_shape[1] // 2
        return full[hy : hy + self.shape[0], hx : hx + self.shape[1]]


def fft_convolve(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Same-shape linear convolution of ``image`` with an odd-sized ``kernel``.

    Parameters
    ----------
    image : `numpy.ndarray`
        2-d array; outside it the image is taken as zero.
    kernel : `numpy.ndarray`
        2-d odd-sized kernel, centred on its middle pixel.

    Returns
    -------
    result : `numpy.ndarray`
        Same shape as ``image``; ``float32`` for ``float32`` input.
    """
    return FftConvolver(image, kernel.shape).convolve(kernel)


def robust_sigma(values: np.ndarray) -> float:
    """Standard deviation estimated from the median absolute deviation (NaNs ignored)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan")
    return float(MAD_TO_SIGMA * np.median(np.abs(values - np.median(values))))


def sigma_clipped_median(
    values: np.ndarray, nsigma: float = 3.0, iterations: int = 5
) -> tuple[float, float, np.ndarray]:
    """Median and robust scatter after iterative clipping.

    Parameters
    ----------
    values : `numpy.ndarray`
        1-d values; NaNs are ignored.
    nsigma : `float`
        Clip at this many robust sigmas from the median.
    iterations : `int`
        Maximum number of clipping passes.

    Returns
    -------
    median : `float`
        Median of the kept values.
    sigma : `float`
        MAD-based standard deviation of the kept values.
    keep : `numpy.ndarray`
        Boolean array, ``True`` for the kept values.
    """
    values = np.asarray(values, dtype=float)
    keep = np.isfinite(values)
    median, sigma = float("nan"), float("nan")
    for _ in range(max(iterations, 1)):
        if not keep.any():
            break
        median = float(np.median(values[keep]))
        sigma = robust_sigma(values[keep])
        new_keep = np.isfinite(values) & (np.abs(values - median) <= nsigma * max(sigma, 1e-300))
        if np.array_equal(new_keep, keep):
            break
        keep = new_keep
    return median, sigma, keep


def sigma_clipped_mean_std(
    values: np.ndarray, nsigma: float = 3.0, iterations: int = 3, axis: int = -1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised clipped mean and scatter along one axis (NaNs are missing values).

    Each pass clips at ``nsigma`` robust sigmas (from the interquartile
    range) around the median of the kept values; the mean of what is left
    is returned.

    Parameters
    ----------
    values : `numpy.ndarray`
        Array of samples; NaN marks a missing sample.
    nsigma : `float`
        Clipping threshold in sigmas.
    iterations : `int`
        Number of clipping passes.
    axis : `int`
        Axis along which the samples lie.

    Returns
    -------
    mean : `numpy.ndarray`
        Mean of the kept samples (NaN where none).
    sigma : `numpy.ndarray`
        Robust (interquartile) standard deviation of the kept samples.
    count : `numpy.ndarray`
        Number of kept samples.
    """
    work = np.moveaxis(np.asarray(values, dtype=np.float64), axis, -1).copy()
    for _ in range(max(iterations, 0)):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            q25, median, q75 = np.nanpercentile(work, [25.0, 50.0, 75.0], axis=-1)
        sigma = (q75 - q25) / 1.3489795
        with np.errstate(invalid="ignore"):
            outside = np.abs(work - median[..., None]) > nsigma * sigma[..., None]
        work[outside] = np.nan
    count = np.sum(np.isfinite(work), axis=-1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        q25, q75 = np.nanpercentile(work, [25.0, 75.0], axis=-1)
        mean = np.nanmean(work, axis=-1)
    return mean, (q75 - q25) / 1.3489795, count


def cubic_interpolation_matrix(nodes: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Weights that interpolate values at ``nodes`` to ``points`` with a cubic spline.

    The spline has not-a-knot end conditions, so between the nodes it
    reproduces any cubic polynomial exactly (three nodes: the parabola
    through them); outside ``[nodes[0], nodes[-1]]`` it is continued linearly
    with the end value and slope, which keeps planes exact and limits the
    noise amplification of extrapolation.  With two nodes the interpolation
    is linear, with one constant.

    Parameters
    ----------
    nodes : `numpy.ndarray`
        Increasing 1-d node coordinates.
    points : `numpy.ndarray`
        1-d coordinates to interpolate to.

    Returns
    -------
    matrix : `numpy.ndarray`
        ``(len(points), len(nodes))`` array ``W`` such that
        ``W @ values_at_nodes`` are the interpolated values.
    """
    nodes = np.asarray(nodes, dtype=float)
    points = np.asarray(points, dtype=float)
    n = nodes.size
    if n == 1:
        return np.ones((points.size, 1))
    if n == 2:
        t = (points - nodes[0]) / (nodes[1] - nodes[0])
        return np.column_stack([1.0 - t, t])
    spline = CubicSpline(nodes, np.eye(n), bc_type="not-a-knot")
    matrix = spline(np.clip(points, nodes[0], nodes[-1]))
    # Linear continuation: extrapolating the end cubics amplifies noise in the end nodes.
    for end, outside in ((0, points < nodes[0]), (-1, points > nodes[-1])):
        if outside.any():
            slope = spline(nodes[end], 1)
            matrix[outside] += (points[outside] - nodes[end])[:, None] * slope[None, :]
    return matrix


def _lanczos(t: np.ndarray, order: int) -> np.ndarray:
    """The Lanczos window ``sinc(t) sinc(t / order)`` for ``|t| < order``, else 0."""
    return np.where(np.abs(t) < order, np.sinc(t) * np.sinc(t / order), 0.0)


def lanczos_shift_matrices(shift: np.ndarray, out_half: int, in_half: int, order: int = 3) -> np.ndarray:
    """Matrices that resample a centred 1-d profile at a sub-pixel shift.

    For an input profile ``p[a]``, ``a = -in_half .. in_half``, and output
    offsets ``i = -out_half .. out_half``, ``(W @ p)[i]`` is the Lanczos
    interpolant of ``p`` at ``i - shift``: the profile moved by ``+shift``
    pixels.  Rows are normalised by the sum of all the Lanczos taps, so a
    constant is preserved exactly.

    Parameters
    ----------
    shift : `numpy.ndarray`
        ``(N,)`` shifts in pixels (any real values).
    out_half, in_half : `int`
        Half-widths of the output and input profiles.
    order : `int`
        Lanczos order ``a``; the interpolant uses ``2 a`` taps.

    Returns
    -------
    matrices : `numpy.ndarray`
        ``(N, 2 out_half + 1, 2 in_half + 1)`` weights.
    """
    shift = np.atleast_1d(np.asarray(shift, dtype=float))
    i = np.arange(-out_half, out_half + 1, dtype=float)
    a = np.arange(-in_half, in_half + 1, dtype=float)
    t = i[None, :, None] - shift[:, None, None] - a[None, None, :]
    weights = _lanczos(t, order)
    frac = shift - np.floor(shift)
    taps = np.arange(-order + 1, order + 1, dtype=float)
    norm = _lanczos(taps[None, :] - frac[:, None], order).sum(axis=1)
    return weights / norm[:, None, None]


def gather_stamps(
    array: np.ndarray, cx: np.ndarray, cy: np.ndarray, half: int, fill: float | int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Square stamps centred on integer pixels, padded where they leave the array.

    Parameters
    ----------
    array : `numpy.ndarray`
        2-d array.
    cx, cy : `numpy.ndarray`
        ``(N,)`` integer centre pixels.
    half : `int`
        Stamp half-width; stamps are ``2 half + 1`` pixels square.
    fill : scalar
        Value of stamp pixels outside the array.

    Returns
    -------
    stamps : `numpy.ndarray`
        ``(N, 2 half + 1, 2 half + 1)``; ``stamps[n, j, i]`` is
        ``array[cy[n] - half + j, cx[n] - half + i]``.
    inside : `numpy.ndarray`
        Boolean, same shape, ``False`` where the stamp is off the array.
    """
    offsets = np.arange(-half, half + 1)
    ys = np.asarray(cy, dtype=np.intp)[:, None, None] + offsets[None, :, None]
    xs = np.asarray(cx, dtype=np.intp)[:, None, None] + offsets[None, None, :]
    inside = (ys >= 0) & (ys < array.shape[0]) & (xs >= 0) & (xs < array.shape[1])
    stamps = array[np.clip(ys, 0, array.shape[0] - 1), np.clip(xs, 0, array.shape[1] - 1)]
    if not inside.all():
        stamps = np.where(inside, stamps, np.asarray(fill, dtype=array.dtype))
    return stamps, inside


def grow_mask(mask: np.ndarray, half: int) -> np.ndarray:
    """Square dilation by ``half`` pixels of a boolean or bit-mask image (bits are OR-ed).

    Each axis is done by OR-ing shifted copies with doubling shifts, so the
    cost grows with ``log2(half)``, not ``half``.

    Parameters
    ----------
    mask : `numpy.ndarray`
        2-d ``bool`` or integer array.
    half : `int`
        Half-width of the square structuring element, pixels.

    Returns
    -------
    grown : `numpy.ndarray`
        New array of the same dtype.
    """
    grown = mask.copy()
    for axis in (0, 1):
        reach = 0
        while reach < half:
            step = min(reach + 1, half - reach)
            shifted = grown.copy()
            if axis == 0:
                shifted[step:] |= grown[:-step]
                shifted[:-step] |= grown[step:]
            else:
                shifted[:, step:] |= grown[:, :-step]
                shifted[:, :-step] |= grown[:, step:]
            grown = shifted
            reach += step
    return grown


def connected_groups(flat: np.ndarray, shape: tuple[int, int]) -> tuple[int, np.ndarray]:
    """8-connected groups among a sparse set of pixels.

    The cost grows with the number of pixels, not with the image size
    (unlike `scipy.ndimage.label`).

    Parameters
    ----------
    flat : `numpy.ndarray`
        Sorted, unique flat indices (``y * width + x``) of the pixels.
    shape : `tuple` [`int`, `int`]
        ``(height, width)`` of the image.

    Returns
    -------
    n_groups : `int`
        Number of groups.
    labels : `numpy.ndarray`
        Group of each pixel, ``0 .. n_groups - 1``.
    """
    flat = np.asarray(flat, dtype=np.intp)
    if flat.size == 0:
        return 0, np.zeros(0, dtype=np.int32)
    height, width = shape
    ys, xs = np.divmod(flat, width)
    rows, cols = [], []
    # Half of the 8 neighbours suffice: the graph is undirected.
    for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):
        ny, nx = ys + dy, xs + dx
        target = ny * width + nx
        where = np.searchsorted(flat, target)
        ok = (nx >= 0) & (nx < width) & (ny < height) & (where < flat.size)
        ok[ok] &= flat[where[ok]] == target[ok]
        rows.append(np.flatnonzero(ok))
        cols.append(where[ok])
    row, col = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(row.size, dtype=np.int8), (row, col)), shape=(flat.size, flat.size))
    n_groups, labels = connected_components(graph, directed=False)
    return int(n_groups), labels.astype(np.int32)
