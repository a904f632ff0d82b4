"""Where and when SimCam observes: the site, observing days, airmass.

Times are MJD in the TAI scale.  Sidereal time uses the linear GMST formula
(accurate to ~0.1 s over decades, ample for airmass); UT1 is taken as
TAI - 37 s.  Observing days follow the Rubin convention: the day changes at
noon UTC-12, so a whole night shares one ``day_obs``.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
from astropy.time import Time

from ..errors import ConfigurationError

__all__ = [
    "MINIMUM_ALTITUDE",
    "SITE_LATITUDE",
    "SITE_LONGITUDE",
    "airmass",
    "altitude",
    "day_obs_of",
    "default_start_mjd",
    "iso_tai",
    "night_window",
]

SITE_LATITUDE = -30.2446
"""Geodetic latitude of the simulated site (Cerro Pachon), degrees."""
SITE_LONGITUDE = -70.7494
"""East longitude of the simulated site, degrees."""
MINIMUM_ALTITUDE = 15.0
"""Lowest altitude (degrees) at which a visit may be planned."""

_MJD_EPOCH = dt.date(1858, 11, 17)
_TAI_MINUS_UT1 = 37.0 / 86400.0  # days, ignoring the sub-second UT1-UTC difference


def _mjd_of_date(day: dt.date) -> float:
    return float((day - _MJD_EPOCH).days)


def _date_of_day_obs(day_obs: int) -> dt.date:
    try:
        return dt.date(day_obs // 10000, day_obs // 100 % 100, day_obs % 100)
    except ValueError as err:
        raise ConfigurationError(f"day_obs {day_obs} is not a valid YYYYMMDD date") from err


def day_obs_of(mjd: float) -> int:
    """Observing day (``YYYYMMDD``) of a TAI MJD: the date at UTC-12 hours."""
    day = _MJD_EPOCH + dt.timedelta(days=math.floor(mjd - 0.5))
    return day.year * 10000 + day.month * 100 + day.day


def night_window(day_obs: int) -> tuple[float, float]:
    """The dark hours of an observing day at the site, ``(begin, end)`` TAI MJD.

    A fixed 23:00-09:30 UTC window (evening to morning in Chile); the Sun is
    not computed.
    """
    midnight = _mjd_of_date(_date_of_day_obs(day_obs)) + 1.0  # 00:00 UTC after the evening
    return midnight - 1.0 / 24.0 + _TAI_MINUS_UT1, midnight + 9.5 / 24.0 + _TAI_MINUS_UT1


def _local_sidereal_degrees(mjd: float | np.ndarray) -> float | np.ndarray:
    days = np.asarray(mjd, dtype=float) - _TAI_MINUS_UT1 - 51544.5  # from J2000.0
    gmst = 280.46061837 + 360.98564736629 * days
    return np.mod(gmst + SITE_LONGITUDE, 360.0)


def altitude(ra: float, dec: float, mjd: float | np.ndarray) -> float | np.ndarray:
    """Altitude (degrees) of a position (degrees, ICRS) at TAI MJD ``mjd`` from the site."""
    hour_angle = np.radians(_local_sidereal_degrees(mjd) - ra)
    lat, dec_r = math.radians(SITE_LATITUDE), math.radians(dec)
    sin_alt = math.sin(lat) * math.sin(dec_r) + math.cos(lat) * math.cos(dec_r) * np.cos(hour_angle)
    return np.degrees(np.arcsin(np.clip(sin_alt, -1.0, 1.0)))


def airmass(ra: float, dec: float, mjd: float) -> float:
    """Airmass (plane-parallel, ``sec z``) of a position at a time.

    Raises
    ------
    ConfigurationError
        If the position is below `MINIMUM_ALTITUDE` at that time.
    """
    alt = float(altitude(ra, dec, mjd))
    if alt < MINIMUM_ALTITUDE:
        raise ConfigurationError(
            f"RA {ra:.3f} Dec {dec:.3f} is at altitude {alt:.1f} deg at MJD {mjd:.5f}, "
            f"below {MINIMUM_ALTITUDE} deg; choose another start time or field"
        )
    return 1.0 / math.sin(math.radians(alt))


def default_start_mjd(ra: float, dec: float, day_obs: int) -> float:
    """The time in the night of ``day_obs`` when a field is highest, TAI MJD.

    The window's last hour is left out so that a sequence of visits fits.
    Rounded to the whole second.
    """
    begin, end = night_window(day_obs)
    grid = np.arange(begin, end - 1.0 / 24.0, 60.0 / 86400.0)
    best = float(grid[int(np.argmax(altitude(ra, dec, grid)))])
    return round(best * 86400.0) / 86400.0


def iso_tai(mjd: float, precision: int = 3) -> str:
    """ISO-8601 text (``YYYY-MM-DDThh:mm:ss.sss``) of a TAI MJD, in TAI."""
    time = Time(mjd, format="mjd", scale="tai", precision=precision)
    return str(time.isot)
