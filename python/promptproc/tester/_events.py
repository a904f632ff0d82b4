"""The next-visit event the observatory would announce for a simulated visit."""

from __future__ import annotations

import time

from astropy.time import Time

from ..simulation import SimVisit
from ..visit import CoordSys, Dome, RotSys, SummitVisit, tai_to_utc, utc_to_tai

__all__ = ["next_visit_event", "visit_start_tai", "visit_times_utc"]

SCRIPT_SAL_INDEX = 100_017
"""``scriptSalIndex`` of the events the tester sends (any script number will do)."""


def visit_start_tai(visit: SimVisit) -> float:
    """Start of a simulated visit's exposure, TAI unix seconds (``startTime``)."""
    return float(Time(visit.mjd_begin, format="mjd", scale="tai").unix_tai)


def visit_times_utc(visit: SimVisit) -> tuple[float, float]:
    """Start and end of a simulated visit's exposure, UTC unix seconds (comparable with `time.time`)."""
    start = tai_to_utc(visit_start_tai(visit))
    return start, start + visit.exposure_time


def next_visit_event(
    visit: SimVisit,
    instrument: str = "SimCam",
    *,
    survey: str = "SURVEY",
    sent_at: float | None = None,
    sal_index: int = 1,
) -> SummitVisit:
    """The ``nextVisit`` event announcing a simulated visit, as the ScriptQueue sends it.

    Parameters
    ----------
    visit : `~promptproc.simulation.SimVisit`
        The visit: its group, commanded ICRS pointing, sky rotation, filter,
        start and exposure time become the event's fields.
    instrument : `str`, optional
        Instrument name.
    survey : `str`, optional
        Survey name (pipelines are chosen by it).
    sent_at : `float`, optional
        When the event is sent, UTC unix seconds; now by default.
    sal_index : `int`, optional
        ScriptQueue index (1 is the main telescope).

    Returns
    -------
    event : `~promptproc.visit.SummitVisit`
        One exposure (``nimages`` 1) of ``exposure_time`` seconds.
    """
    sent = time.time() if sent_at is None else sent_at
    return SummitVisit(
        salIndex=sal_index,
        scriptSalIndex=SCRIPT_SAL_INDEX,
        groupId=visit.group,
        coordinateSystem=CoordSys.ICRS,
        position=(visit.ra, visit.dec),
        startTime=visit_start_tai(visit),
        rotationSystem=RotSys.SKY,
        cameraAngle=visit.rotation,
        filters=visit.physical_filter,
        dome=Dome.OPEN,
        duration=visit.exposure_time,
        nimages=1,
        instrument=instrument,
        survey=survey,
        totalCheckpoints=0,
        private_sndStamp=utc_to_tai(sent),
    )
