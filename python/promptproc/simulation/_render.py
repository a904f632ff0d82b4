"""Drawing sources into images: point sources and Gaussian mixtures, in stamps.

Each source is evaluated on a square stamp around its nearest pixel and
added into the image with one scatter-add per batch of similar stamps; no
Python loop runs over pixels or over individual sources.  Pixel ``(x, y)``
is ``image[y, x]`` with its centre at integer coordinates; profiles are
sampled at pixel centres and normalised analytically, so the image holds the
source's total counts up to the light beyond the stamp.
"""

from __future__ import annotations

import numpy as np

from ._profiles import moffat_alpha, moffat_mixture, sersic_mixture

__all__ = ["add_galaxies", "add_point_sources", "galaxy_shape_covariance", "moffat_stamp_radius"]

# Stamp half-widths are rounded up to one of these, so that stamps batch well.
_RADII = np.array([3, 4, 6, 8, 11, 16, 22, 32, 45, 64, 90, 128, 181, 256])
_BATCH_PIXELS = 1 << 22  # stamp pixels evaluated at once


def _radius_class(radius: np.ndarray) -> np.ndarray:
    index = np.searchsorted(_RADII, np.ceil(radius))
    return _RADII[np.minimum(index, len(_RADII) - 1)]


def _scatter(image: np.ndarray, cx: np.ndarray, cy: np.ndarray, half: int, stamps: np.ndarray) -> None:
    """Add ``(n, 2 half + 1, 2 half + 1)`` stamps centred on pixels ``(cx, cy)``."""
    height, width = image.shape
    offsets = np.arange(-half, half + 1)
    xs = cx[:, None, None] + offsets[None, None, :]
    ys = cy[:, None, None] + offsets[None, :, None]
    inside = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
    flat = ys * width + xs
    np.add.at(image.reshape(-1), flat[inside], stamps[inside].astype(image.dtype, copy=False))


def _batches(radius: np.ndarray):
    """Yield ``(half, indices)`` groups of sources sharing a stamp size, in bounded batches."""
    classes = _radius_class(radius)
    for half in np.unique(classes):
        members = np.flatnonzero(classes == half)
        per_batch = max(1, _BATCH_PIXELS // (2 * int(half) + 1) ** 2)
        for start in range(0, len(members), per_batch):
            yield int(half), members[start : start + per_batch]


def moffat_stamp_radius(
    counts: np.ndarray, fwhm: float, beta: float, floor: float = 0.25, max_radius: float = 256.0
) -> np.ndarray:
    """Stamp half-width (pixels) beyond which a Moffat source is fainter than ``floor`` per pixel.

    Never less than twice the FWHM, never more than ``max_radius``.
    """
    alpha = moffat_alpha(fwhm, beta)
    peak = np.maximum(counts, 0.0) * (beta - 1.0) / (np.pi * alpha**2)
    ratio = np.maximum(peak / floor, 1.0) ** (1.0 / beta)
    radius = alpha * np.sqrt(ratio - 1.0)
    return np.clip(radius, 2.0 * fwhm, max_radius)


def add_point_sources(
    image: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    counts: np.ndarray,
    fwhm: float,
    beta: float,
    floor: float = 0.25,
) -> None:
    """Add circular Moffat point sources to an image, in place.

    Parameters
    ----------
    image : `numpy.ndarray`
        2-d C-contiguous image (any float type) to add into.
    x, y : `numpy.ndarray`
        Source centres, pixels (0-based; centres may lie off the image).
    counts : `numpy.ndarray`
        Total counts of each source (image units).
    fwhm : `float`
        PSF FWHM, pixels.
    beta : `float`
        Moffat index.
    floor : `float`
        Per-pixel level below which the profile is cut; sets the stamp size.
    """
    x, y, counts = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (x, y, counts))
    if not len(x):
        return
    alpha = moffat_alpha(fwhm, beta)
    norm = (beta - 1.0) / (np.pi * alpha**2)
    radius = moffat_stamp_radius(counts, fwhm, beta, floor)
    for half, members in _batches(radius):
        cx, cy = np.rint(x[members]).astype(np.int64), np.rint(y[members]).astype(np.int64)
        offsets = np.arange(-half, half + 1, dtype=np.float32)
        dx = offsets[None, None, :] - (x[members] - cx).astype(np.float32)[:, None, None]
        dy = offsets[None, :, None] - (y[members] - cy).astype(np.float32)[:, None, None]
        base = 1.0 + (dx * dx + dy * dy) / np.float32(alpha * alpha)
        # (1 + r^2/alpha^2)^-beta; the usual beta = 3.5 avoids a slow general power.
        profile = 1.0 / (base * base * base * np.sqrt(base)) if beta == 3.5 else base ** np.float32(-beta)
        profile *= (counts[members] * norm).astype(np.float32)[:, None, None]
        _scatter(image, cx, cy, half, profile)


def galaxy_shape_covariance(
    half_light_radius: np.ndarray,
    axis_ratio: np.ndarray,
    position_angle: np.ndarray,
    sky_to_pixel: np.ndarray,
) -> np.ndarray:
    """Pixel-frame shape matrices of galaxies.

    Parameters
    ----------
    half_light_radius : `numpy.ndarray`
        Major-axis half-light radius, arcsec.
    axis_ratio : `numpy.ndarray`
        Minor over major axis.
    position_angle : `numpy.ndarray`
        Major-axis direction, degrees east of north.
    sky_to_pixel : `numpy.ndarray`
        ``(2, 2)`` linear map from local (east, north) offsets in arcsec to
        pixel offsets ``(dx, dy)``, e.g. the inverse of a WCS CD matrix with
        the first intermediate axis pointing east.

    Returns
    -------
    shape : `numpy.ndarray`
        ``(n, 2, 2)`` covariance (pixels squared) of the profile scaled so
        that its "radius" is the half-light radius: a mixture component of
        width ``s`` (in half-light radii) has covariance ``s**2 * shape``.
    """
    pa = np.radians(position_angle)
    major = np.stack([np.sin(pa), np.cos(pa)], axis=-1)  # (east, north)
    minor = np.stack([np.cos(pa), -np.sin(pa)], axis=-1)
    a2 = half_light_radius**2
    b2 = (half_light_radius * axis_ratio) ** 2
    sky = a2[:, None, None] * major[:, :, None] * major[:, None, :]
    sky += b2[:, None, None] * minor[:, :, None] * minor[:, None, :]
    return np.einsum("ij,njk,lk->nil", sky_to_pixel, sky, sky_to_pixel)


def add_galaxies(
    image: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    counts: np.ndarray,
    shape: np.ndarray,
    sersic_index: np.ndarray,
    psf_fwhm: float,
    psf_beta: float,
    floor: float = 0.25,
) -> None:
    """Add Sersic galaxies convolved with a Moffat PSF to an image, in place.

    Parameters
    ----------
    image : `numpy.ndarray`
        2-d C-contiguous image to add into.
    x, y : `numpy.ndarray`
        Galaxy centres, pixels.
    counts : `numpy.ndarray`
        Total counts of each galaxy.
    shape : `numpy.ndarray`
        ``(n, 2, 2)`` shape matrices from `galaxy_shape_covariance`.
    sersic_index : `numpy.ndarray`
        1 or 4 per galaxy.
    psf_fwhm : `float`
        PSF FWHM, pixels.
    psf_beta : `float`
        PSF Moffat index.
    floor : `float`
        Per-pixel level that sets the stamp size.
    """
    x, y, counts = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (x, y, counts))
    if not len(x):
        return
    psf_amp, psf_sigma = moffat_mixture(float(psf_beta))
    psf_var = (psf_sigma * moffat_alpha(psf_fwhm, psf_beta)) ** 2
    largest = np.linalg.eigvalsh(shape)[:, -1]
    for index in np.unique(sersic_index):
        chosen = np.flatnonzero(sersic_index == index)
        gal_amp, gal_sigma = sersic_mixture(int(index))
        # Stamp: 3 sigma of the widest significant component, or where the light is below the floor.
        wide = gal_sigma[np.flatnonzero(gal_amp > 0.02)[-1]]
        extent = np.sqrt(wide**2 * largest[chosen] + psf_var.max())
        peak = counts[chosen] / (2.0 * np.pi * extent**2)
        radius = extent * np.sqrt(2.0 * np.log(np.maximum(peak / floor, 1.0)))
        radius = np.clip(np.maximum(radius, 1.5 * psf_fwhm), 0.0, 3.5 * extent + 2.0 * psf_fwhm)
        for half, members in _batches(radius):
            rows = chosen[members]
            cx, cy = np.rint(x[rows]).astype(np.int64), np.rint(y[rows]).astype(np.int64)
            offsets = np.arange(-half, half + 1, dtype=np.float32)
            dx = offsets[None, None, :] - (x[rows] - cx).astype(np.float32)[:, None, None]
            dy = offsets[None, :, None] - (y[rows] - cy).astype(np.float32)[:, None, None]
            stamp = np.zeros((len(rows), 2 * half + 1, 2 * half + 1), dtype=np.float32)
            for g_amp, g_sigma in zip(gal_amp, gal_sigma, strict=True):
                for p_amp, p_var in zip(psf_amp, psf_var, strict=True):
                    cov = g_sigma**2 * shape[rows] + p_var * np.eye(2)
                    det = cov[:, 0, 0] * cov[:, 1, 1] - cov[:, 0, 1] ** 2
                    ixx = (cov[:, 1, 1] / det).astype(np.float32)[:, None, None]
                    iyy = (cov[:, 0, 0] / det).astype(np.float32)[:, None, None]
                    ixy = (-cov[:, 0, 1] / det).astype(np.float32)[:, None, None]
                    scale = (g_amp * p_amp * counts[rows] / (2.0 * np.pi * np.sqrt(det))).astype(np.float32)
                    quad = ixx * dx * dx + 2.0 * ixy * dx * dy + iyy * dy * dy
                    stamp += scale[:, None, None] * np.exp(-0.5 * quad)
            _scatter(image, cx, cy, half, stamp)
