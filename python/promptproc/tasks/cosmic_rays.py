"""Cosmic-ray detection and repair on a single exposure.

A cosmic ray deposits its charge straight into the silicon, without passing
through the optics, so it can be sharper than anything the PSF lets
through.  The test is a PSF-contrast test in the spirit of the SDSS
``photo`` pipeline and Rubin's ``findCosmicRays``.  For each of the four
directions ``d`` through a pixel (along the row, the column and both
diagonals) let ``m`` be the mean of its two opposite neighbours.  A point
source centred on the pixel has ``m = r I``, with ``r`` the PSF's own
neighbour-to-centre ratio in that direction (read off the PSF kernel); any
other position of the source, and any extended source, gives a larger
ratio.  So a pixel is a cosmic ray when, in at least one direction,

    g r (I - a sigma) > m + a sigma_m,

with ``I`` the pixel's value above the background, ``sigma`` and
``sigma_m`` the noise of the pixel and of the neighbour mean (from the
variance plane), ``a`` = `CosmicRayConfig.noise_sigma` and
``g`` = `CosmicRayConfig.contrast_factor` < 1 a margin for a PSF model that
is slightly off.  A track lying between two rows of pixels lights both
about equally, and neither stands out above its neighbours across the track;
so the same test is also made on pixel pairs: the mean of the pixel and one
neighbour against the mean of the two pixels just outside the pair, with
the PSF's ratio for a source centred between the two (the kernel shifted by
half a pixel).

Steps:

1. **find** the pixels that pass either test, among those more than
   `CosmicRayConfig.min_sigma` of their own noise above the background;
2. **grow** them by `CosmicRayConfig.grow` pixels (square), which takes in
   the faint charge shared with the neighbours;
3. **repair**: each flagged pixel gets the linear interpolation between the
   nearest unflagged pixels of its row and of its column, the two weighted
   by the inverse length of their gaps (the variance likewise); the mask
   gets ``CR`` and ``INTRP``;
4. **iterate**: the pixels around the new cosmic rays are tested again on
   the repaired image, down to `CosmicRayConfig.neighbour_min_sigma` (the
   charge at a track's end hides next to the bright part), at most
   `CosmicRayConfig.max_iterations` passes in all.

Pixels flagged with `CosmicRayConfig.bad_mask_planes` (saturated, no data)
are neither candidates nor neighbours; a test that needs such a pixel or
one off the image is not made.  Pixels ISR interpolated over
(`CosmicRayConfig.neighbour_only_planes`) are no candidates but serve as
neighbours.  The work is done on the candidate pixels only, so the cost is a few
passes over the image plus a little per bright pixel.

Pixel convention: ``image[y, x]``, 0-based, centres at integer coordinates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..image import Exposure, ImagePsf, MaskPlane
from ._numerics import connected_groups
from .detection import mask_bits
from .errors import CalibrationFailure

__all__ = ["CosmicRayConfig", "CosmicRayResult", "CosmicRayTask", "psf_contrast", "repair_pixels"]

_DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))
"""``(dy, dx)`` of the four directions: along the row, the column and the two diagonals."""


@dataclass(frozen=True)
class CosmicRayConfig:
    """How cosmic rays are found and repaired.

    Parameters
    ----------
    min_sigma : `float`
        A candidate pixel is at least this many of its own noise sigmas
        above the background.
    neighbour_min_sigma : `float`
        The same in the passes after the first, for the pixels around the
        cosmic rays found.
    noise_sigma : `float`
        Noise allowance ``a`` of the test, sigmas: the pixel is taken
        ``a`` sigma fainter and its neighbours ``a`` sigma brighter.
    contrast_factor : `float`
        Margin ``g`` (0 < g <= 1) on the PSF's neighbour-to-centre ratio: a
        pixel must stand out by a factor ``1 / g`` more than the PSF allows.
    grow : `int`
        Half-width of the square by which each flagged pixel is grown, pixels.
    max_iterations : `int`
        Most find-and-repair passes.
    max_pixel_fraction : `float`
        More flagged pixels than this fraction of the image means the PSF is
        wrong (stars would be "repaired"): a `CalibrationFailure`.
    bad_mask_planes : `tuple` [`str`, ...]
        Pixels with these planes are neither candidates nor neighbours, and
        are neither flagged nor interpolated from.
    neighbour_only_planes : `tuple` [`str`, ...]
        Pixels with these planes (values interpolated by ISR) are not
        candidates but serve as neighbours, may be flagged by the growing
        (a bad column's interpolation crossed by a track carries the
        track's charge) and are interpolated from.
    """

    min_sigma: float = 6.0
    neighbour_min_sigma: float = 3.0
    noise_sigma: float = 2.5
    contrast_factor: float = 0.6
    grow: int = 1
    max_iterations: int = 3
    max_pixel_fraction: float = 0.01
    bad_mask_planes: tuple[str, ...] = ("SAT", "NO_DATA", "SUSPECT")
    neighbour_only_planes: tuple[str, ...] = ("BAD", "INTRP")

    def __post_init__(self) -> None:
        problems = []
        if self.min_sigma <= 0 or self.neighbour_min_sigma <= 0 or self.noise_sigma < 0:
            problems.append("min_sigma and neighbour_min_sigma must be > 0, noise_sigma >= 0")
        if not 0 < self.contrast_factor <= 1:
            problems.append("contrast_factor must be in (0, 1]")
        if self.grow < 0 or self.max_iterations < 1:
            problems.append("grow must be >= 0 and max_iterations >= 1")
        if not 0 < self.max_pixel_fraction <= 1:
            problems.append("max_pixel_fraction must be in (0, 1]")
        for name in (*self.bad_mask_planes, *self.neighbour_only_planes):
            if name not in MaskPlane.__members__:
                problems.append(f"unknown mask plane {name!r}")
        if problems:
            raise ValueError("invalid cosmic-ray configuration: " + "; ".join(problems))


@dataclass
class CosmicRayResult:
    """Cosmic rays found in an exposure, and the repaired exposure.

    Attributes
    ----------
    exposure : `Exposure`
        The exposure with the cosmic-ray pixels interpolated over (image
        and variance) and flagged ``CR`` and ``INTRP`` (a copy of the input
        unless repaired in place).
    cosmic_rays : `numpy.ndarray`
        Boolean image of the pixels flagged (grown).
    n_cosmic_rays : `int`
        Groups of 8-connected flagged pixels.
    n_pixels : `int`
        Pixels flagged.
    n_iterations : `int`
        Passes that found new pixels.
    """

    exposure: Exposure
    cosmic_rays: np.ndarray
    n_cosmic_rays: int
    n_pixels: int
    n_iterations: int


def psf_contrast(psf: ImagePsf) -> np.ndarray:
    """The PSF's contrast ratios used by the cosmic-ray test.

    Parameters
    ----------
    psf : `ImagePsf`
        PSF model; its kernel is centred on its middle pixel.

    Returns
    -------
    ratios : `numpy.ndarray`
        ``(2, 4)``, for the directions row, column and the two diagonals:
        row 0, the mean of the two opposite neighbours of the kernel's
        centre over the centre value; row 1, for a source centred half way
        between two pixels along the direction (the kernel shifted by half
        a pixel with a Fourier phase), the mean of the two pixels just
        outside the pair over the mean of the pair.  Clipped to ``[0, 1]``;
        all ones for a kernel too small to tell.
    """
    kernel = np.asarray(psf.kernel, dtype=float)
    c = kernel.shape[0] // 2
    ratios = np.ones((2, len(_DIRECTIONS)))
    if c < 2 or kernel[c, c] <= 0:
        return ratios
    fy = np.fft.fftfreq(kernel.shape[0])[:, None]
    fx = np.fft.rfftfreq(kernel.shape[1])[None, :]
    transform = np.fft.rfft2(kernel)
    for k, (dy, dx) in enumerate(_DIRECTIONS):
        ratios[0, k] = 0.5 * (kernel[c - dy, c - dx] + kernel[c + dy, c + dx]) / kernel[c, c]
        phase = np.exp(-1j * np.pi * (fy * dy + fx * dx))
        shifted = np.fft.irfft2(transform * phase, s=kernel.shape)
        inner = shifted[c, c] + shifted[c + dy, c + dx]
        outer = shifted[c - dy, c - dx] + shifted[c + 2 * dy, c + 2 * dx]
        ratios[1, k] = outer / inner if inner > 0 else 1.0
    return np.clip(ratios, 0.0, 1.0)


class _Pixels:
    """Raveled views of an exposure's planes, and which pixels the cosmic-ray test may use."""

    def __init__(self, image: np.ndarray, variance: np.ndarray, mask: np.ndarray, config: CosmicRayConfig):
        self.shape = image.shape
        self.image = image.reshape(-1)
        self.variance = variance.reshape(-1)
        self.mask = mask.reshape(-1)
        self.flagged = np.zeros(self.image.size, dtype=bool)
        self.bad_bits = mask_bits(config.bad_mask_planes)
        self.candidate_bits = self.bad_bits | mask_bits(config.neighbour_only_planes)

    def usable(self, index: np.ndarray) -> np.ndarray:
        """Whether pixels may serve as neighbours (flagged ones, repaired, may)."""
        ok = (self.mask[index] & self.bad_bits) == 0
        ok &= np.isfinite(self.image[index])
        ok &= np.isfinite(self.variance[index])
        return ok

    def anchor(self, index: np.ndarray) -> np.ndarray:
        """Whether pixels may be interpolated from: usable and not flagged."""
        return self.usable(index) & ~self.flagged[index]

    def eligible(self, index: np.ndarray) -> np.ndarray:
        """Whether pixels may be candidates: usable, not interpolated by ISR, not flagged."""
        return self.anchor(index) & ((self.mask[index] & self.candidate_bits) == 0)


def _fill_along(
    line: np.ndarray,
    pos: np.ndarray,
    length: int,
    strides: tuple[int, int],
    anchor: Callable[[np.ndarray], np.ndarray],
    values: tuple[np.ndarray, ...],
) -> tuple[list[np.ndarray], np.ndarray]:
    """Linear interpolation of flagged pixels along lines (rows or columns).

    ``line`` and ``pos`` locate the flagged pixels (sorted by line, then
    position along it; ``length`` positions per line); the raveled index of
    ``(line, pos)`` is ``line * strides[0] + pos * strides[1]``; ``anchor``
    says which raveled indices may be interpolated from and ``values`` are
    raveled arrays.  Returns the interpolated values for each array and the
    weight of each estimate (inverse gap length; half of that from one side
    only; 0 without either side).
    """
    starts = np.ones(line.size, dtype=bool)
    starts[1:] = (line[1:] != line[:-1]) | (pos[1:] != pos[:-1] + 1)
    run = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.append(first[1:], line.size) - 1
    run_line = line[first]
    left, right = pos[first] - 1, pos[last] + 1
    left_index = run_line * strides[0] + np.clip(left, 0, length - 1) * strides[1]
    right_index = run_line * strides[0] + np.clip(right, 0, length - 1) * strides[1]
    has_left = (left >= 0) & anchor(left_index)
    has_right = (right < length) & anchor(right_index)
    gap = (right - left).astype(np.float64)
    fraction = (pos - left[run]) / gap[run]
    weight = np.where(has_left & has_right, 1.0 / gap, np.where(has_left ^ has_right, 0.5 / gap, 0.0))
    out = []
    for array in values:
        lv = array[left_index].astype(np.float64)
        rv = array[right_index].astype(np.float64)
        lv = np.where(has_left, lv, rv)
        rv = np.where(has_right, rv, lv)
        out.append(lv[run] + (rv[run] - lv[run]) * fraction)
    return out, weight[run]


def _repair(
    flat: np.ndarray,
    shape: tuple[int, int],
    image: np.ndarray,
    variance: np.ndarray,
    anchor: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """`repair_pixels` on sorted flat indices; returns those left unfilled."""
    height, width = shape
    flat_image, flat_var = image.reshape(-1), variance.reshape(-1)
    ys, xs = np.divmod(flat, width)
    (row_image, row_var), row_weight = _fill_along(ys, xs, width, (width, 1), anchor, (flat_image, flat_var))
    # Along columns: the same pixels in column-major order.
    order = np.lexsort((ys, xs))
    (col_image, col_var), col_weight = _fill_along(
        xs[order], ys[order], height, (1, width), anchor, (flat_image, flat_var)
    )
    back = np.empty_like(order)
    back[order] = np.arange(order.size)
    col_image, col_var, col_weight = col_image[back], col_var[back], col_weight[back]
    total = row_weight + col_weight
    filled = total > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        new_image = (row_weight * row_image + col_weight * col_image) / total
        new_var = (row_weight * row_var + col_weight * col_var) / total
    flat_image[flat[filled]] = new_image[filled]
    flat_var[flat[filled]] = new_var[filled]
    return flat[~filled]


def repair_pixels(
    flagged: np.ndarray, image: np.ndarray, variance: np.ndarray, usable: np.ndarray | None = None
) -> np.ndarray:
    """Replace flagged pixels by row and column interpolation, in place.

    Each flagged pixel gets the linear interpolation between the nearest
    usable, unflagged pixels of its row and, separately, of its column; the
    two estimates are averaged with weights ``1 / gap`` (gap: distance
    between the two pixels interpolated between), halved for an estimate
    from one side only (a gap touching the edge or an unusable pixel).  The
    variance is interpolated the same way.  The cost grows with the number
    of flagged pixels, not with the image size.

    Parameters
    ----------
    flagged : `numpy.ndarray`
        Boolean ``(height, width)`` image of the pixels to replace.
    image, variance : `numpy.ndarray`
        C-contiguous arrays of the same shape, modified in place.
    usable : `numpy.ndarray`, optional
        Boolean image of pixels that may be interpolated from (finite ones
        by default); flagged pixels never are.

    Returns
    -------
    unfilled : `numpy.ndarray`
        Boolean image of flagged pixels with nothing to interpolate from
        (left unchanged).
    """
    if usable is None:
        usable = np.isfinite(image) & np.isfinite(variance)
    flat_anchor = (usable & ~flagged).reshape(-1)
    unfilled = np.zeros(flagged.shape, dtype=bool)
    flat = np.flatnonzero(flagged)
    if flat.size:
        unfilled.reshape(-1)[_repair(flat, flagged.shape, image, variance, flat_anchor.__getitem__)] = True
    return unfilled


def _grow(flat: np.ndarray, shape: tuple[int, int], half: int) -> np.ndarray:
    """Sorted flat indices of the pixels within a square of half-width ``half`` of ``flat``."""
    if half <= 0 or flat.size == 0:
        return np.unique(flat)
    height, width = shape
    ys, xs = np.divmod(flat, width)
    offsets = np.arange(-half, half + 1)
    box = (flat.size, offsets.size, offsets.size)
    gy = np.broadcast_to(ys[:, None, None] + offsets[None, :, None], box).ravel()
    gx = np.broadcast_to(xs[:, None, None] + offsets[None, None, :], box).ravel()
    inside = (gy >= 0) & (gy < height) & (gx >= 0) & (gx < width)
    return np.unique(gy[inside] * width + gx[inside])


class CosmicRayTask:
    """Find and repair cosmic rays with the PSF-contrast test (see the module notes).

    Parameters
    ----------
    config : `CosmicRayConfig`, optional
        Parameters; defaults if not given.
    """

    ConfigClass = CosmicRayConfig

    def __init__(self, config: CosmicRayConfig | None = None) -> None:
        self.config = config or CosmicRayConfig()

    def _find(
        self, pixels: _Pixels, ratios: np.ndarray, candidates: np.ndarray, min_sigma: float
    ) -> np.ndarray:
        """The candidates (sorted flat indices) that fail a PSF-contrast test (one pass, no growing)."""
        config = self.config
        height, width = pixels.shape
        value = pixels.image[candidates]
        keep = (value > 0) & (np.square(value) > np.float32(min_sigma**2) * pixels.variance[candidates])
        candidates = candidates[keep]
        candidates = candidates[pixels.eligible(candidates)]
        if candidates.size == 0:
            return candidates
        ys, xs = np.divmod(candidates, width)
        a, g = np.float32(config.noise_sigma), np.float32(config.contrast_factor)
        cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

        def pixel(dy: int, dx: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            """Value, variance and usability of the pixels at ``(dy, dx)`` from the candidates."""
            if (dy, dx) not in cache:
                ok = (ys + dy >= 0) & (ys + dy < height) & (xs + dx >= 0) & (xs + dx < width)
                index = np.where(ok, candidates + (dy * width + dx), candidates)
                ok &= pixels.usable(index)
                cache[dy, dx] = (pixels.image[index], np.maximum(pixels.variance[index], 0), ok)
            return cache[dy, dx]

        def mean(offsets: tuple[tuple[int, int], ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            """Mean value, its standard deviation and usability of the pixels at ``offsets``."""
            parts = [pixel(dy, dx) for dy, dx in offsets]
            scale = np.float32(1.0 / len(parts))
            total = sum(p[0] for p in parts) * scale
            sigma = np.sqrt(sum(p[1] for p in parts)) * scale
            ok = parts[0][2]
            for p in parts[1:]:
                ok = ok & p[2]
            return total, sigma, ok

        def sharper(inner: tuple[np.ndarray, ...], outer: tuple[np.ndarray, ...], ratio: float) -> np.ndarray:
            """Whether the inner pixels stand out above the outer ones more than the PSF allows."""
            test = g * np.float32(ratio) * (inner[0] - a * inner[1]) > outer[0] + a * outer[1]
            return test & inner[2] & outer[2]

        single = mean(((0, 0),))
        is_cr = np.zeros(candidates.size, dtype=bool)
        for k, (dy, dx) in enumerate(_DIRECTIONS):
            is_cr |= sharper(single, mean(((-dy, -dx), (dy, dx))), ratios[0, k])
            # The pixel with its neighbour on either side, against the two pixels outside the pair.
            pair = mean(((0, 0), (dy, dx)))
            is_cr |= sharper(pair, mean(((-dy, -dx), (2 * dy, 2 * dx))), ratios[1, k])
            pair = mean(((0, 0), (-dy, -dx)))
            is_cr |= sharper(pair, mean(((dy, dx), (-2 * dy, -2 * dx))), ratios[1, k])
        return candidates[is_cr]

    def run(
        self, exposure: Exposure, psf: ImagePsf | None = None, *, in_place: bool = False
    ) -> CosmicRayResult:
        """Find and repair the cosmic rays of an exposure.

        Parameters
        ----------
        exposure : `Exposure`
            Background-subtracted exposure (counts) with its variance plane;
            not modified unless ``in_place``.
        psf : `ImagePsf`, optional
            The exposure's PSF; by default ``exposure.psf``.
        in_place : `bool`
            Repair the exposure's own image, variance and mask instead of
            copies (saves three image copies when the caller owns them).

        Returns
        -------
        result : `CosmicRayResult`
            The repaired exposure (``exposure`` itself with ``in_place``)
            and what was found.

        Raises
        ------
        ValueError
            If there is no PSF.
        CalibrationFailure
            If more than ``max_pixel_fraction`` of the pixels are flagged
            (step ``"cosmic_rays"``).
        """
        config = self.config
        psf = psf or exposure.psf
        if psf is None:
            raise ValueError("cosmic-ray detection needs a PSF")
        ratios = psf_contrast(psf)
        if in_place:
            repaired = exposure
        else:
            repaired = Exposure(
                image=exposure.image.copy(),
                mask=exposure.mask.copy(),
                variance=exposure.variance.copy(),
                wcs=exposure.wcs,
                psf=exposure.psf,
                photo_calib=exposure.photo_calib,
                visit_info=exposure.visit_info,
                metadata=exposure.metadata.copy(),
            )
        image, variance, mask = repaired.image, repaired.variance, repaired.mask
        shape = image.shape
        pixels = _Pixels(image, variance, mask, config)
        # One cheap pass: everything above min_sigma times the smallest noise of the image.
        floor = float(np.min(variance)) if variance.size else 0.0
        threshold = config.min_sigma * np.sqrt(floor) if np.isfinite(floor) and floor > 0 else 0.0
        candidates = np.flatnonzero(image > np.float32(threshold))
        min_sigma = config.min_sigma
        limit = config.max_pixel_fraction * image.size
        found = np.zeros(0, dtype=np.intp)
        iterations = 0
        for _ in range(config.max_iterations):
            new = self._find(pixels, ratios, candidates, min_sigma)
            if new.size == 0:
                break
            iterations += 1
            grown = _grow(new, shape, config.grow)
            grown = grown[pixels.anchor(grown)]
            found = np.union1d(found, grown)
            if found.size > limit:
                raise CalibrationFailure(
                    "cosmic_rays",
                    f"{found.size} pixels look sharper than the PSF (FWHM {psf.fwhm:.2f} pixels) allows, "
                    f"more than {config.max_pixel_fraction:.1%} of the image: the PSF is probably wrong",
                )
            pixels.flagged[grown] = True
            _repair(found, shape, image, variance, pixels.anchor)
            # Next pass: the pixels around what was just found, on the repaired image.
            candidates = _grow(grown, shape, config.grow + 1)
            min_sigma = config.neighbour_min_sigma
        pixels.mask[found] |= int(MaskPlane.CR | MaskPlane.INTRP)
        return CosmicRayResult(
            exposure=repaired,
            cosmic_rays=pixels.flagged.reshape(shape),
            n_cosmic_rays=connected_groups(found, shape)[0],
            n_pixels=int(found.size),
            n_iterations=iterations,
        )
