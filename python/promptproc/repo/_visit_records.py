"""Exposure and visit dimension records made from a raw's header, without obs_base.

Every record is computed only from the header cards that all detectors of an
exposure share (pointing, times, filter, identifiers) and from the camera
description, never from the detector's own pixels, so every worker of a
visit makes the same ``exposure``, ``visit`` and related records and the
central repository can take them from any worker.  Only
``visit_detector_region`` is the worker's own.

Visits are one-to-one with exposures (visit ID = exposure ID, visit system
0), as ``DefineVisitsTask`` with ``groupExposures="one-to-one"`` makes them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from astropy.io import fits
from astropy.time import Time, TimeDelta
from lsst.daf.butler import Butler, Timespan
from lsst.daf.butler.registry import ConflictingDefinitionError

from ..errors import BadInputError
from ..instrument import Instrument, predict_detector_wcs, predict_footprint, sky_polygon, wcs_corners

__all__ = [
    "ONE_TO_ONE_VISIT_SYSTEM",
    "VisitRecords",
    "camera_region",
    "day_obs_timespan",
    "visit_records_from_header",
    "write_visit_records",
]

ONE_TO_ONE_VISIT_SYSTEM = 0
"""ID of the ``one-to-one`` visit system (see `promptproc.repo.VISIT_SYSTEMS`)."""

# Observation types that look at the sky and so get a visit.
_SKY_TYPES = frozenset({"science", "object", "acq", "focus", "cwfs", "engtest", "stuttered"})
_DARK_TYPES = frozenset({"bias", "dark", "zero"})

# Insert order: every element after those it depends on.
_ELEMENTS = (
    "day_obs",
    "group",
    "exposure",
    "visit",
    "visit_definition",
    "visit_system_membership",
    "visit_detector_region",
)


@dataclass(frozen=True)
class VisitRecords:
    """The dimension records of one raw: its exposure, visit and detector region.

    Attributes
    ----------
    instrument : `str`
        Instrument name.
    exposure_id : `int`
        Exposure ID (and visit ID).
    detector : `int`
        Detector of the raw.
    records : `dict` [`str`, `dict` [`str`, `object`]]
        Record values by dimension element, in insertion order; the visit
        elements are absent for exposures that do not see the sky.
    """

    instrument: str
    exposure_id: int
    detector: int
    records: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def has_visit(self) -> bool:
        """Whether the exposure defines a visit (it looks at the sky)."""
        return "visit" in self.records

    @property
    def data_id(self) -> dict[str, Any]:
        """Data ID of the raw: ``instrument``, ``exposure``, ``detector``."""
        return {"instrument": self.instrument, "exposure": self.exposure_id, "detector": self.detector}

    def shared(self) -> dict[str, dict[str, Any]]:
        """The records every detector's worker makes identically (all but the detector region)."""
        return {name: values for name, values in self.records.items() if name != "visit_detector_region"}


def _card(header: fits.Header, key: str, kind: type, path: str) -> Any:
    if key not in header:
        raise BadInputError(f"{path}: raw header lacks {key}")
    value = header[key]
    try:
        if kind is str:
            if not isinstance(value, str) or not value.strip():
                raise ValueError
            return value.strip()
        if kind is int:
            if isinstance(value, bool) or float(value) != int(value):
                raise ValueError
            return int(value)
        result = float(value)
        if not math.isfinite(result):
            raise ValueError
        return result
    except (TypeError, ValueError):
        raise BadInputError(
            f"{path}: raw header card {key} = {value!r} is not a valid {kind.__name__}"
        ) from None


def _optional_float(header: fits.Header, key: str) -> float | None:
    value = header.get(key)
    if value is None or isinstance(value, bool | str):
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def _optional_str(header: fits.Header, key: str, default: str) -> str:
    value = header.get(key)
    return value.strip() if isinstance(value, str) and value.strip() else default


def day_obs_timespan(day_obs: int) -> Timespan:
    """The period of an observing day: 12:00 UTC on its date to 12:00 UTC the next day.

    Parameters
    ----------
    day_obs : `int`
        ``YYYYMMDD``.

    Returns
    -------
    timespan : `lsst.daf.butler.Timespan`
        In TAI, as the Butler stores times.

    Raises
    ------
    promptproc.errors.BadInputError
        If ``day_obs`` is not a date.
    """
    text = f"{day_obs:08d}"
    try:
        begin = Time(f"{text[:4]}-{text[4:6]}-{text[6:]}T12:00:00", format="isot", scale="utc").tai
    except ValueError:
        raise BadInputError(f"day_obs {day_obs} is not a date") from None
    return Timespan(begin, begin + TimeDelta(1.0, format="jd"))


def camera_region(instrument: Instrument, ra: float, dec: float, rotation: float):  # -> ConvexPolygon
    """Predicted sky region of the whole focal plane: the hull of every detector's corners.

    Parameters
    ----------
    instrument : `promptproc.instrument.Instrument`
        The camera.
    ra, dec : `float`
        Boresight, degrees (ICRS).
    rotation : `float`
        Sky position angle of the camera ``+y`` axis, degrees east of north.

    Returns
    -------
    region : `lsst.sphgeom.ConvexPolygon`
        The convex hull, the same on every worker for the same pointing.
    """
    import numpy as np

    corners = [
        wcs_corners(predict_detector_wcs(instrument, det.id, ra, dec, rotation), det.width, det.height)
        for det in instrument.detectors
    ]
    return sky_polygon(np.concatenate(corners))


def visit_records_from_header(
    header: fits.Header, instrument: Instrument, source: str = "raw"
) -> VisitRecords:
    """Make the dimension records of a raw from its primary header.

    Parameters
    ----------
    header : `astropy.io.fits.Header`
        Primary header with `promptproc.image.RAW_PRIMARY_KEYS`.
    instrument : `promptproc.instrument.Instrument`
        The camera (the ``camera`` dataset), for the regions.
    source : `str`, optional
        Name of the file, for messages.

    Returns
    -------
    records : `VisitRecords`
        ``day_obs``, ``group``, ``exposure`` and, for an exposure that sees
        the sky, ``visit``, ``visit_definition``,
        ``visit_system_membership`` and this detector's
        ``visit_detector_region``.

    Raises
    ------
    promptproc.errors.BadInputError
        If a card is missing or malformed, names another instrument or an
        unknown detector or filter, or the exposure ID disagrees with the
        day and sequence number.
    """
    name = _card(header, "INSTRUME", str, source)
    if name != instrument.name:
        raise BadInputError(f"{source}: raw is from instrument {name!r}, not {instrument.name!r}")
    detector = instrument.detector(_card(header, "DETNUM", int, source))
    physical_filter = instrument.filter(_card(header, "FILTER", str, source)).name
    day_obs = _card(header, "DAYOBS", int, source)
    seq_num = _card(header, "SEQNUM", int, source)
    exposure_id = instrument.exposure_id(day_obs, seq_num)
    if "EXPID" in header and _card(header, "EXPID", int, source) != exposure_id:
        raise BadInputError(
            f"{source}: EXPID {header['EXPID']} disagrees with DAYOBS {day_obs} and SEQNUM {seq_num}"
        )
    obs_id = _card(header, "OBSID", str, source)
    group = _card(header, "GROUPID", str, source)
    exposure_time = _card(header, "EXPTIME", float, source)
    if exposure_time < 0:
        raise BadInputError(f"{source}: negative EXPTIME {exposure_time}")
    dark_time = _optional_float(header, "DARKTIME")
    mjd_begin = _card(header, "MJD-BEG", float, source)
    ra = _card(header, "RA", float, source)
    dec = _card(header, "DEC", float, source)
    rotation = _card(header, "ROTPA", float, source)
    observation_type = _card(header, "IMGTYPE", str, source).lower()
    observation_reason = _optional_str(header, "REASON", observation_type)
    target_name = _optional_str(header, "OBJECT", "UNKNOWN")
    science_program = _optional_str(header, "PROGRAM", "unknown")
    altitude = _optional_float(header, "ELSTART")
    zenith_angle = None if altitude is None else 90.0 - altitude
    azimuth = _optional_float(header, "AZSTART")
    sees_sky = observation_type in _SKY_TYPES
    can_see_sky = True if sees_sky else (False if observation_type in _DARK_TYPES else None)

    begin = Time(mjd_begin, format="mjd", scale="tai")
    timespan = Timespan(begin, begin + TimeDelta(exposure_time, format="sec"))
    base = {"instrument": instrument.name}
    records: dict[str, dict[str, Any]] = {
        "day_obs": {**base, "id": day_obs, "timespan": day_obs_timespan(day_obs)},
        "group": {**base, "name": group},
        "exposure": {
            **base,
            "id": exposure_id,
            "day_obs": day_obs,
            "group": group,
            "physical_filter": physical_filter,
            "obs_id": obs_id,
            "exposure_time": exposure_time,
            "dark_time": exposure_time if dark_time is None else dark_time,
            "observation_type": observation_type,
            "observation_reason": observation_reason,
            "seq_num": seq_num,
            "seq_start": seq_num,
            "seq_end": seq_num,
            "target_name": target_name,
            "science_program": science_program,
            "tracking_ra": ra,
            "tracking_dec": dec,
            "sky_angle": rotation,
            "azimuth": azimuth,
            "zenith_angle": zenith_angle,
            "has_simulated": "SIMSEED" in header,
            "can_see_sky": can_see_sky,
            "timespan": timespan,
        },
    }
    if sees_sky:
        records["visit"] = {
            **base,
            "id": exposure_id,
            "day_obs": day_obs,
            "physical_filter": physical_filter,
            "name": obs_id,
            "seq_num": seq_num,
            "exposure_time": exposure_time,
            "target_name": target_name,
            "observation_reason": observation_reason,
            "science_program": science_program,
            "azimuth": azimuth,
            "zenith_angle": zenith_angle,
            "region": camera_region(instrument, ra, dec, rotation),
            "timespan": timespan,
        }
        records["visit_definition"] = {**base, "exposure": exposure_id, "visit": exposure_id}
        records["visit_system_membership"] = {
            **base,
            "visit_system": ONE_TO_ONE_VISIT_SYSTEM,
            "visit": exposure_id,
        }
        records["visit_detector_region"] = {
            **base,
            "detector": detector.id,
            "visit": exposure_id,
            "region": predict_footprint(instrument, detector.id, ra, dec, rotation),
        }
    return VisitRecords(instrument.name, exposure_id, detector.id, records)


def write_visit_records(butler: Butler, records: VisitRecords | Mapping[str, Mapping[str, Any]]) -> int:
    """Insert dimension records, skipping those already there identically.

    Parameters
    ----------
    butler : `lsst.daf.butler.Butler`
        A writeable Butler with the instrument, detectors, filters and visit
        systems registered.
    records : `VisitRecords` or `~collections.abc.Mapping`
        Records by dimension element.

    Returns
    -------
    inserted : `int`
        Number of records that were new.

    Raises
    ------
    promptproc.errors.BadInputError
        If a record with the same key exists with other values (two
        different raws claim the same exposure).
    """
    values = records.records if isinstance(records, VisitRecords) else records
    inserted = 0
    registry = butler.registry
    with registry.transaction():
        for element in sorted(values, key=lambda name: _ELEMENTS.index(name) if name in _ELEMENTS else 99):
            try:
                inserted += bool(registry.syncDimensionData(element, dict(values[element])))
            except ConflictingDefinitionError as err:
                raise BadInputError(
                    f"{element} record {_key(values[element])} already exists with other values: "
                    f"{str(err).splitlines()[0]}"
                ) from None
    return inserted


def _key(values: Mapping[str, Any]) -> str:
    keys = [k for k in ("id", "name", "exposure", "visit", "detector") if k in values]
    return ", ".join(f"{k}={values[k]!r}" for k in keys)
