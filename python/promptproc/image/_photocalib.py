"""Photometric calibration: instrumental counts to physical flux."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["NANOJANSKY_AB_ZERO_POINT", "PhotoCalib"]

# An AB magnitude of 31.4 is 1 nJy: m_AB = 31.4 - 2.5 log10(f / nJy).
NANOJANSKY_AB_ZERO_POINT = 31.4


@dataclass(frozen=True)
class PhotoCalib:
    """A constant calibration of an exposure.

    Parameters
    ----------
    njy_per_count : `float`
        Flux in nanojansky of one count (ADU or electron, as the image is
        scaled) in this exposure.
    error : `float`
        Standard error of ``njy_per_count``.
    """

    njy_per_count: float
    error: float = 0.0

    @classmethod
    def from_zero_point(cls, zero_point: float, error_mag: float = 0.0) -> PhotoCalib:
        """Build from the AB magnitude of a source of one count.

        Parameters
        ----------
        zero_point : `float`
            ``m_AB`` of a source giving one count in the image.
        error_mag : `float`
            Uncertainty of the zero point, magnitudes.
        """
        scale = 10.0 ** (-0.4 * (zero_point - NANOJANSKY_AB_ZERO_POINT))
        return cls(scale, scale * error_mag * np.log(10.0) / 2.5)

    @property
    def zero_point(self) -> float:
        """AB magnitude of a source of one count."""
        return NANOJANSKY_AB_ZERO_POINT - 2.5 * float(np.log10(self.njy_per_count))

    def to_nanojansky(self, counts: np.ndarray | float) -> np.ndarray | float:
        """Convert instrumental counts to nanojansky."""
        return (
            np.asarray(counts) * self.njy_per_count
            if isinstance(counts, np.ndarray)
            else counts * self.njy_per_count
        )

    def to_magnitude(self, counts: np.ndarray | float) -> np.ndarray | float:
        """Convert instrumental counts to AB magnitudes (NaN for non-positive counts)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            flux = np.asarray(counts, dtype=float) * self.njy_per_count
            mags = np.where(flux > 0, NANOJANSKY_AB_ZERO_POINT - 2.5 * np.log10(flux), np.nan)
        return mags if np.ndim(counts) else float(mags)
