"""Point-spread function models."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ImagePsf", "gaussian_kernel", "moffat_kernel"]

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def gaussian_kernel(sigma: float, size: int | None = None) -> np.ndarray:
    """A normalised, centred circular Gaussian sampled on an odd square grid.

    Parameters
    ----------
    sigma : `float`
        Standard deviation in pixels.
    size : `int`, optional
        Side of the grid (odd); by default ``2 * ceil(5 sigma) + 1``.

    Returns
    -------
    kernel : `numpy.ndarray`
        ``float64`` array summing to 1, centre at ``(size // 2, size // 2)``.
    """
    if size is None:
        size = 2 * int(np.ceil(5.0 * sigma)) + 1
    half = size // 2
    coords = np.arange(-half, half + 1, dtype=float)
    prof = np.exp(-0.5 * (coords / sigma) ** 2)
    kernel = np.outer(prof, prof)
    return kernel / kernel.sum()


def moffat_kernel(fwhm: float, beta: float = 3.5, size: int | None = None) -> np.ndarray:
    """A normalised, centred circular Moffat profile sampled on an odd square grid.

    Parameters
    ----------
    fwhm : `float`
        Full width at half maximum in pixels.
    beta : `float`
        Moffat power index; 2.5-4.5 describes atmospheric seeing.
    size : `int`, optional
        Side of the grid (odd); by default ``2 * ceil(3 fwhm) + 1``.

    Returns
    -------
    kernel : `numpy.ndarray`
        ``float64`` array summing to 1.
    """
    if size is None:
        size = 2 * int(np.ceil(3.0 * fwhm)) + 1
    alpha = fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
    half = size // 2
    y, x = np.mgrid[-half : half + 1, -half : half + 1].astype(float)
    kernel = (1.0 + (x * x + y * y) / (alpha * alpha)) ** (-beta)
    return kernel / kernel.sum()


@dataclass
class ImagePsf:
    """A PSF given as a sampled image, constant over the exposure.

    Parameters
    ----------
    kernel : `numpy.ndarray`
        Odd-sized square image of the PSF centred on its middle pixel,
        normalised to unit sum.
    fwhm : `float`
        Full width at half maximum in pixels.
    """

    kernel: np.ndarray
    fwhm: float

    def __post_init__(self) -> None:
        kernel = np.asarray(self.kernel, dtype=float)
        if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
            raise ValueError(f"PSF kernel must be an odd square image, not shape {kernel.shape}")
        total = kernel.sum()
        if not np.isfinite(total) or total <= 0:
            raise ValueError("PSF kernel must have a positive, finite sum")
        self.kernel = kernel / total
        self.fwhm = float(self.fwhm)

    @classmethod
    def gaussian(cls, fwhm: float) -> ImagePsf:
        """A Gaussian PSF of the given FWHM in pixels."""
        return cls(gaussian_kernel(fwhm / FWHM_PER_SIGMA), fwhm)

    @property
    def sigma(self) -> float:
        """The Gaussian-equivalent standard deviation in pixels."""
        return self.fwhm / FWHM_PER_SIGMA

    @property
    def effective_area(self) -> float:
        """Noise-equivalent area ``1 / sum(psf^2)`` in pixels."""
        return float(1.0 / np.sum(self.kernel**2))
