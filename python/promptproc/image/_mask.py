"""Mask planes: one bit per reason a pixel is special."""

from __future__ import annotations

import enum

__all__ = ["MaskPlane"]


class MaskPlane(enum.IntFlag):
    """Bits of an exposure's mask array (``uint32``).

    The names follow the Rubin/afw conventions so that people reading a mask
    in any FITS viewer recognise them; the mask extension's header names each
    bit (``MP<bit> = '<NAME>'`` cards) as well.
    """

    BAD = 1 << 0
    """Known bad pixel (defect: bad column, hot pixel)."""
    SAT = 1 << 1
    """Saturated in the raw."""
    INTRP = 1 << 2
    """Value interpolated from neighbours."""
    CR = 1 << 3
    """Cosmic ray."""
    EDGE = 1 << 4
    """Too close to the edge for measurement."""
    DETECTED = 1 << 5
    """Part of a positive detection footprint."""
    DETECTED_NEGATIVE = 1 << 6
    """Part of a negative detection footprint."""
    SUSPECT = 1 << 7
    """Value may be unreliable (e.g. near saturation, nonlinear)."""
    NO_DATA = 1 << 8
    """No data (outside a warped template, in a gap)."""
    STREAK = 1 << 9
    """Satellite or meteor trail."""

    @classmethod
    def header_cards(cls) -> dict[str, str]:
        """FITS cards ``MP<bit> = <plane name>`` describing the mask bits."""
        return {f"MP{plane.value.bit_length() - 1}": str(plane.name) for plane in cls}
