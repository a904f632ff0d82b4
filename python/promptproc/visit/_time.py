"""Time conversions for visits: TAI unix seconds to UTC, and the observing day.

The observatory stamps events in TAI unix seconds (``startTime``,
``private_sndStamp``); clocks on worker hosts (`time.time`) are UTC unix.
The two differ by the leap seconds, 37 s since 2017, which astropy knows.
"""

from __future__ import annotations

import datetime

from astropy.time import Time

__all__ = ["DAY_OBS_OFFSET", "day_obs_of", "tai_to_utc", "utc_to_tai"]

DAY_OBS_OFFSET = datetime.timedelta(hours=12)
"""The observing day is the date in the time zone UTC-12h (Rubin's definition)."""


def tai_to_utc(tai_unix: float) -> float:
    """Convert TAI unix seconds to UTC unix seconds.

    Parameters
    ----------
    tai_unix : `float`
        Seconds in astropy's ``unix_tai`` format, as the observatory sends.

    Returns
    -------
    utc_unix : `float`
        The same instant as POSIX (UTC) seconds, comparable with `time.time`.
    """
    return float(Time(tai_unix, format="unix_tai").utc.unix)


def utc_to_tai(utc_unix: float) -> float:
    """Convert UTC unix seconds to TAI unix seconds (the inverse of `tai_to_utc`).

    Parameters
    ----------
    utc_unix : `float`
        POSIX seconds, e.g. from `time.time`.

    Returns
    -------
    tai_unix : `float`
        The same instant in astropy's ``unix_tai`` format.
    """
    return float(Time(utc_unix, format="unix", scale="utc").unix_tai)


def day_obs_of(utc_unix: float) -> int:
    """Observing day of an instant.

    Parameters
    ----------
    utc_unix : `float`
        POSIX (UTC) seconds.

    Returns
    -------
    day_obs : `int`
        ``YYYYMMDD`` of the date in UTC-12h: the day rolls over at 12:00 UTC,
        so a whole night in Chile has one ``day_obs``.
    """
    moment = datetime.datetime.fromtimestamp(utc_unix, tz=datetime.UTC) - DAY_OBS_OFFSET
    return moment.year * 10_000 + moment.month * 100 + moment.day
