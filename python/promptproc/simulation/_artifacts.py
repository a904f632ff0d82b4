"""Detector artefacts drawn into an electron image: cosmic rays and bleed trails.

Images are in electrons, ``image[y, x]``; columns (constant ``x``) are the
parallel-transfer direction, along which excess charge bleeds.
"""

from __future__ import annotations

import numpy as np

__all__ = ["add_cosmic_rays", "bleed_saturation"]

_SENSOR_THICKNESS = 10.0  # pixels (100 um of silicon, 10 um pixels)
_CHARGE_VERTICAL = 8000.0  # electrons left by a muon crossing the sensor vertically (80 e-/um)
_STEP = 0.2  # pixels between charge deposits along a track


def add_cosmic_rays(image: np.ndarray, rng: np.random.Generator, rate: float, exposure_time: float) -> int:
    """Add cosmic-ray tracks to an electron image, in place.

    Muons arrive with a ``cos^2`` zenith-angle distribution; a track's
    projected length is the sensor thickness times ``tan(theta)`` (capped at
    60 pixels) and its charge ~80 e- per micron of path, with a log-normal
    spread; charge is laid down every 0.2 pixels and shared bilinearly
    between the four nearest pixels.

    Parameters
    ----------
    image : `numpy.ndarray`
        2-d C-contiguous float image, electrons.
    rng : `numpy.random.Generator`
        Random stream.
    rate : `float`
        Hits per pixel per second.
    exposure_time : `float`
        Seconds the detector integrates.

    Returns
    -------
    count : `int`
        Number of cosmic rays added.
    """
    height, width = image.shape
    count = int(rng.poisson(rate * height * width * exposure_time))
    if count == 0:
        return 0
    # cos^2 distribution of zenith angle: cos(theta) = u**(1/3).
    cos_theta = rng.random(count) ** (1.0 / 3.0)
    tan_theta = np.sqrt(1.0 - cos_theta**2) / cos_theta
    length = np.minimum(_SENSOR_THICKNESS * tan_theta, 60.0)
    charge = _CHARGE_VERTICAL / cos_theta
    charge *= rng.lognormal(0.0, 0.3, count)
    start_x, start_y = rng.uniform(0, width - 1, count), rng.uniform(0, height - 1, count)
    angle = rng.uniform(0.0, 2.0 * np.pi, count)
    steps = np.floor(length / _STEP).astype(np.int64) + 1
    track = np.repeat(np.arange(count), steps)
    first = np.repeat(np.cumsum(steps) - steps, steps)
    along = (np.arange(len(track)) - first) * _STEP
    px = start_x[track] + along * np.cos(angle[track])
    py = start_y[track] + along * np.sin(angle[track])
    deposit = charge[track] / steps[track]
    x0, y0 = np.floor(px).astype(np.int64), np.floor(py).astype(np.int64)
    fx, fy = px - x0, py - y0
    flat = image.reshape(-1)
    for ox, oy, weight in (
        (0, 0, (1 - fx) * (1 - fy)),
        (1, 0, fx * (1 - fy)),
        (0, 1, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        xs, ys = x0 + ox, y0 + oy
        inside = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
        np.add.at(flat, (ys * width + xs)[inside], (deposit * weight)[inside].astype(image.dtype))
    return count


def _spill(column: np.ndarray, start: int, step: int, charge: float, full_well: float) -> None:
    """Fill pixels from ``start`` in direction ``step`` up to the full well with ``charge`` electrons."""
    stop = len(column) if step > 0 else -1
    indices = np.arange(start, stop, step)
    if not len(indices) or charge <= 0:
        return  # the charge drains off the edge of the detector
    capacity = np.maximum(full_well - column[indices], 0.0)
    filled = np.cumsum(capacity)
    full = int(np.searchsorted(filled, charge))
    column[indices[:full]] = full_well
    if full < len(indices):
        column[indices[full]] += charge - (filled[full - 1] if full else 0.0)


def bleed_saturation(image: np.ndarray, full_well: float) -> int:
    """Clip pixels at the full well and bleed their excess along columns, in place.

    Each run of over-full pixels in a column is set to the full well and its
    excess charge is shared equally up and down the column, filling pixels to
    the full well (charge conserved except what runs off the detector edge).

    Parameters
    ----------
    image : `numpy.ndarray`
        2-d float image, electrons.
    full_well : `float`
        Pixel capacity, electrons.

    Returns
    -------
    columns : `int`
        Number of columns that bled.
    """
    over_columns = np.flatnonzero((image > full_well).any(axis=0))
    for col in over_columns:
        column = image[:, col].astype(np.float64)
        rows = np.flatnonzero(column > full_well)
        breaks = np.flatnonzero(np.diff(rows) > 1)
        starts = np.concatenate([[rows[0]], rows[breaks + 1]])
        ends = np.concatenate([rows[breaks], [rows[-1]]])
        for lo, hi in zip(starts, ends, strict=True):
            excess = float(np.sum(column[lo : hi + 1] - full_well))
            if excess <= 0:
                continue  # an earlier run's spill already filled this one
            column[lo : hi + 1] = full_well
            _spill(column, int(hi) + 1, 1, excess / 2.0, full_well)
            _spill(column, int(lo) - 1, -1, excess / 2.0, full_well)
        image[:, col] = column
    return len(over_columns)
