"""Gaussian-mixture approximations of galaxy and PSF profiles.

A Sersic or Moffat profile is fitted, once per shape and cached, by a
non-negative sum of concentric circular Gaussians with fixed, logarithmically
spaced widths (non-negative least squares on the radial profile, weighted by
area).  Because Gaussians convolve analytically, a galaxy convolved with the
PSF is again a sum of Gaussians: the product of both mixtures, covariances
added.  Widths are in units of the half-light radius (Sersic) or of the
Moffat ``alpha``; amplitudes sum to 1 (unit total flux).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.optimize import nnls
from scipy.special import gamma, gammaincinv

__all__ = ["moffat_alpha", "moffat_mixture", "sersic_mixture"]

# (components, smallest width, largest width, fitted radius), widths in half-light radii.
_SERSIC_GRIDS = {1: (5, 0.08, 1.6, 6.0), 4: (8, 0.003, 4.0, 10.0)}


def moffat_alpha(fwhm: float, beta: float) -> float:
    """The Moffat core width ``alpha`` of a profile with this FWHM."""
    return fwhm / (2.0 * math.sqrt(2.0 ** (1.0 / beta) - 1.0))


def _fit(profile: np.ndarray, radius: np.ndarray, widths: np.ndarray) -> np.ndarray:
    gaussians = np.exp(-0.5 * (radius[:, None] / widths[None, :]) ** 2) / (2.0 * np.pi * widths**2)
    weight = radius  # sqrt of the area element r^2 dln(r) of a logarithmic grid
    amplitudes, _ = nnls(gaussians * weight[:, None], profile * weight)
    return amplitudes / amplitudes.sum()


@functools.cache
def sersic_mixture(index: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian mixture of a Sersic profile of unit half-light radius and unit flux.

    Parameters
    ----------
    index : `int`
        Sersic index, 1 (exponential) or 4 (de Vaucouleurs).

    Returns
    -------
    amplitudes, sigmas : `numpy.ndarray`
        Fraction of the flux in each component and its width (half-light radii),
        components with no flux dropped.
    """
    count, low, high, extent = _SERSIC_GRIDS[index]
    b = float(gammaincinv(2 * index, 0.5))
    total = 2.0 * np.pi * index * math.exp(b) * gamma(2 * index) / b ** (2 * index)
    radius = np.geomspace(1e-3, extent, 400)
    profile = np.exp(-b * (radius ** (1.0 / index) - 1.0)) / total
    widths = np.geomspace(low, high, count)
    amplitudes = _fit(profile, radius, widths)
    keep = amplitudes > 0
    return amplitudes[keep], widths[keep]


@functools.cache
def moffat_mixture(beta: float) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian mixture of a unit-flux Moffat profile with ``alpha = 1``.

    Parameters
    ----------
    beta : `float`
        Moffat index.

    Returns
    -------
    amplitudes, sigmas : `numpy.ndarray`
        Flux fraction and width (in units of ``alpha``) of each component.
    """
    radius = np.geomspace(1e-3, 12.0, 400)
    profile = (1.0 + radius**2) ** (-beta) * (beta - 1.0) / np.pi
    widths = np.geomspace(0.4, 2.0, 3)
    amplitudes = _fit(profile, radius, widths)
    keep = amplitudes > 0
    return amplitudes[keep], widths[keep]
