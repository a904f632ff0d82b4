"""The enumerations of the observatory's ``nextVisit`` event.

The values are those of the Rubin ScriptQueue's SAL ``logevent_nextVisit``
topic, so a summit message and a fanned-out message mean the same thing.
"""

from __future__ import annotations

import enum

__all__ = ["CoordSys", "Dome", "RotSys"]


class CoordSys(enum.IntEnum):
    """Coordinate system of the visit's ``position``.

    ``ICRS`` positions are ``(ra, dec)``; ``OBSERVED`` and ``MOUNT`` are
    ``(az, alt)``, in degrees.
    """

    NONE = 1
    """No particular position (e.g. a calibration or a dome flat)."""
    ICRS = 2
    """Right ascension and declination, ICRS."""
    OBSERVED = 3
    """Azimuth and altitude including refraction."""
    MOUNT = 4
    """Mount azimuth and elevation."""


class RotSys(enum.IntEnum):
    """Reference frame of the visit's ``cameraAngle``."""

    NONE = 1
    """No particular rotation."""
    SKY = 2
    """Position angle on the sky, degrees east of north."""
    HORIZON = 3
    """Angle relative to the horizon."""
    MOUNT = 4
    """Rotator angle of the mount."""


class Dome(enum.IntEnum):
    """State the dome must be in for the visit."""

    CLOSED = 1
    OPEN = 2
    EITHER = 3
