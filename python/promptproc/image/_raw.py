"""A raw image as the camera writes it: one array per amplifier, overscan included."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from ..instrument import BoundingBox

__all__ = ["RAW_PRIMARY_KEYS", "RawAmplifier", "RawImage"]

# Header cards every raw carries in its primary HDU (and its JSON sidecar).
RAW_PRIMARY_KEYS: tuple[str, ...] = (
    "INSTRUME",
    "DETECTOR",
    "DETNUM",
    "OBSID",
    "GROUPID",
    "DAYOBS",
    "SEQNUM",
    "FILTER",
    "RA",
    "DEC",
    "ROTPA",
    "DATE-BEG",
    "MJD-BEG",
    "EXPTIME",
    "IMGTYPE",
)


@dataclass
class RawAmplifier:
    """One amplifier's raw pixels.

    Parameters
    ----------
    name : `str`
        Amplifier name.
    data : `numpy.ndarray`
        Raw counts (ADU), ``int32``, imaging and overscan columns.
    data_box : `BoundingBox`
        Imaging pixels within ``data``.
    overscan_box : `BoundingBox`
        Serial overscan within ``data``.
    detector_box : `BoundingBox`
        Where the imaging pixels go in the assembled detector.
    flip_x : `bool`
        Whether raw columns run opposite to detector columns.
    gain : `float`
        Nominal gain, electrons per ADU.
    read_noise : `float`
        Nominal read noise, electrons.
    saturation : `float`
        Saturation level, ADU.
    """

    name: str
    data: np.ndarray
    data_box: BoundingBox
    overscan_box: BoundingBox
    detector_box: BoundingBox
    flip_x: bool
    gain: float
    read_noise: float
    saturation: float

    def imaging(self) -> np.ndarray:
        """The imaging pixels in detector orientation (a view, flipped as needed)."""
        pixels = self.data[self.data_box.slices]
        return pixels[:, ::-1] if self.flip_x else pixels

    def overscan(self) -> np.ndarray:
        """The overscan pixels (a view)."""
        return self.data[self.overscan_box.slices]


@dataclass
class RawImage:
    """A raw detector image.

    Parameters
    ----------
    header : `astropy.io.fits.Header`
        Primary header; holds at least `RAW_PRIMARY_KEYS`.
    amplifiers : `list` [`RawAmplifier`]
        Amplifiers in readout order.
    """

    header: fits.Header
    amplifiers: list[RawAmplifier]

    @property
    def detector_shape(self) -> tuple[int, int]:
        """``(height, width)`` of the assembled, trimmed detector."""
        return (
            max(a.detector_box.y1 for a in self.amplifiers),
            max(a.detector_box.x1 for a in self.amplifiers),
        )

    @property
    def instrument(self) -> str:
        """Instrument name."""
        return str(self.header["INSTRUME"])

    @property
    def detector(self) -> int:
        """Detector ID."""
        return int(self.header["DETNUM"])

    @property
    def detector_name(self) -> str:
        """Detector name."""
        return str(self.header["DETECTOR"])

    @property
    def obs_id(self) -> str:
        """Observation ID."""
        return str(self.header["OBSID"])

    @property
    def group(self) -> str:
        """Observatory group ID."""
        return str(self.header["GROUPID"])

    @property
    def day_obs(self) -> int:
        """Observing day, ``YYYYMMDD``."""
        return int(self.header["DAYOBS"])

    @property
    def seq_num(self) -> int:
        """Sequence number within the day."""
        return int(self.header["SEQNUM"])

    @property
    def physical_filter(self) -> str:
        """Physical filter."""
        return str(self.header["FILTER"])

    @property
    def exposure_time(self) -> float:
        """Open-shutter time, seconds."""
        return float(self.header["EXPTIME"])

    @property
    def mjd_begin(self) -> float:
        """Start of exposure, MJD (TAI)."""
        return float(self.header["MJD-BEG"])
