"""Small-angle geometry on the sphere: offsets, separations and sky caps.

Angles are degrees; position angles are measured from north through east.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SkyRegion", "angular_separation", "offset_position", "sample_in_cap"]


def angular_separation(
    ra1: np.ndarray | float, dec1: np.ndarray | float, ra2: np.ndarray | float, dec2: np.ndarray | float
) -> np.ndarray:
    """Great-circle distance between positions, degrees (haversine formula)."""
    ra1, dec1, ra2, dec2 = (np.radians(np.asarray(v, dtype=float)) for v in (ra1, dec1, ra2, dec2))
    hav = np.sin((dec2 - dec1) / 2) ** 2 + np.cos(dec1) * np.cos(dec2) * np.sin((ra2 - ra1) / 2) ** 2
    return np.degrees(2.0 * np.arcsin(np.sqrt(np.clip(hav, 0.0, 1.0))))


def offset_position(
    ra: np.ndarray | float,
    dec: np.ndarray | float,
    separation: np.ndarray | float,
    position_angle: np.ndarray | float,
) -> tuple[np.ndarray, np.ndarray]:
    """Move positions along great circles.

    Parameters
    ----------
    ra, dec : `float` or `numpy.ndarray`
        Starting positions, degrees.
    separation : `float` or `numpy.ndarray`
        Distance to move, degrees.
    position_angle : `float` or `numpy.ndarray`
        Direction, degrees east of north.

    Returns
    -------
    ra, dec : `numpy.ndarray`
        The new positions, degrees; RA in ``[0, 360)``.
    """
    ra_r, dec_r = np.radians(ra), np.radians(dec)
    sep, pa = np.radians(separation), np.radians(position_angle)
    sin_dec = np.sin(dec_r) * np.cos(sep) + np.cos(dec_r) * np.sin(sep) * np.cos(pa)
    new_dec = np.arcsin(np.clip(sin_dec, -1.0, 1.0))
    new_ra = ra_r + np.arctan2(
        np.sin(pa) * np.sin(sep) * np.cos(dec_r), np.cos(sep) - np.sin(dec_r) * sin_dec
    )
    return np.mod(np.degrees(new_ra), 360.0), np.degrees(new_dec)


def sample_in_cap(
    rng: np.random.Generator, ra: float, dec: float, radius: float, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Positions distributed uniformly over a spherical cap.

    Parameters
    ----------
    rng : `numpy.random.Generator`
        Random stream.
    ra, dec : `float`
        Cap centre, degrees.
    radius : `float`
        Cap radius, degrees.
    size : `int`
        Number of positions.
    """
    cos_r = np.cos(np.radians(radius))
    separation = np.degrees(np.arccos(1.0 - rng.random(size) * (1.0 - cos_r)))
    return offset_position(ra, dec, separation, rng.uniform(0.0, 360.0, size))


@dataclass(frozen=True)
class SkyRegion:
    """A circular region of the sky, where the simulated sources live.

    Parameters
    ----------
    ra, dec : `float`
        Centre, degrees.
    radius : `float`
        Radius, degrees.
    """

    ra: float
    dec: float
    radius: float

    @property
    def area(self) -> float:
        """Solid angle, square degrees."""
        return float(2.0 * np.pi * (1.0 - np.cos(np.radians(self.radius))) * (180.0 / np.pi) ** 2)

    def contains(self, ra: np.ndarray | float, dec: np.ndarray | float) -> np.ndarray:
        """Whether positions (degrees) lie inside the region."""
        return angular_separation(self.ra, self.dec, ra, dec) <= self.radius

    def sample(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Uniformly distributed positions inside the region, degrees."""
        return sample_in_cap(rng, self.ra, self.dec, self.radius, size)
