"""Measurements the simulation tests make on images: centroids, PSF fits, forced photometry."""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares

from promptproc.image import MaskPlane


def stamp(image: np.ndarray, x: float, y: float, half: int) -> tuple[np.ndarray, int, int] | None:
    """A ``(2 half + 1)^2`` cut-out around the pixel nearest ``(x, y)``, or None near the edge."""
    cx, cy = round(x), round(y)
    if cx - half < 0 or cy - half < 0 or cx + half >= image.shape[1] or cy + half >= image.shape[0]:
        return None
    return image[cy - half : cy + half + 1, cx - half : cx + half + 1], cx - half, cy - half


def local_background(image: np.ndarray, x: float, y: float, inner: int, outer: int) -> float:
    """Median of an annulus around ``(x, y)``."""
    cut = stamp(image, x, y, outer)
    assert cut is not None
    pixels, x0, y0 = cut
    yy, xx = np.mgrid[: pixels.shape[0], : pixels.shape[1]]
    r = np.hypot(xx + x0 - x, yy + y0 - y)
    return float(np.median(pixels[(r >= inner) & (r <= outer)]))


def centroid(image: np.ndarray, x: float, y: float, half: int = 5) -> tuple[float, float]:
    """Background-subtracted first moments in a box around a guess."""
    background = local_background(image, x, y, 3 * half, 4 * half)
    cut = stamp(image, x, y, half)
    assert cut is not None
    pixels, x0, y0 = cut
    weights = np.clip(pixels - background, 0, None)
    yy, xx = np.mgrid[: pixels.shape[0], : pixels.shape[1]]
    total = weights.sum()
    return float((weights * xx).sum() / total + x0), float((weights * yy).sum() / total + y0)


def moffat(xx: np.ndarray, yy: np.ndarray, x: float, y: float, fwhm: float, beta: float) -> np.ndarray:
    """Unit-flux Moffat sampled at pixel centres."""
    alpha = fwhm / (2 * np.sqrt(2 ** (1 / beta) - 1))
    return (beta - 1) / (np.pi * alpha**2) * (1 + ((xx - x) ** 2 + (yy - y) ** 2) / alpha**2) ** (-beta)


def fit_moffat(
    image: np.ndarray, x: float, y: float, beta: float, half: int = 12
) -> tuple[float, float, float]:
    """Fit a Moffat (fixed beta) with free centre, FWHM, flux and background: ``(fwhm, x, y)``."""
    cut = stamp(image, x, y, half)
    assert cut is not None
    pixels, x0, y0 = cut
    yy, xx = np.mgrid[: pixels.shape[0], : pixels.shape[1]]
    xx, yy = xx + x0, yy + y0

    def residual(p: np.ndarray) -> np.ndarray:
        return (p[3] * moffat(xx, yy, p[0], p[1], p[2], beta) + p[4] - pixels).ravel()

    guess = [x, y, 4.0, float(pixels.sum() - pixels.size * np.median(pixels)), float(np.median(pixels))]
    fit = least_squares(residual, guess, x_scale="jac")
    return float(fit.x[2]), float(fit.x[0]), float(fit.x[1])


def forced_psf_flux(
    image: np.ndarray, variance: np.ndarray, x: float, y: float, fwhm: float, beta: float, half: int = 12
) -> tuple[float, float]:
    """Forced PSF photometry at a known position with a local annulus background: ``(flux, error)``."""
    background = local_background(image, x, y, half + 4, half + 12)
    cut = stamp(image, x, y, half)
    assert cut is not None
    pixels, x0, y0 = cut
    var = variance[y0 : y0 + pixels.shape[0], x0 : x0 + pixels.shape[1]]
    yy, xx = np.mgrid[: pixels.shape[0], : pixels.shape[1]]
    model = moffat(xx + x0, yy + y0, x, y, fwhm, beta)
    weight = model / var
    flux = float((weight * (pixels - background)).sum() / (weight * model).sum())
    error = float(1 / np.sqrt((model * model / var).sum()))
    return flux, error


def clean(mask: np.ndarray) -> np.ndarray:
    """Pixels with no mask bit set."""
    return mask == 0


def flagged(mask: np.ndarray, plane: MaskPlane) -> np.ndarray:
    """Pixels with a given mask plane set."""
    return (mask & int(plane)) != 0
