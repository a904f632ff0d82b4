"""Small helpers the PipelineTasks share: dimension records of a quantum, single inputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lsst.daf.butler import DataCoordinate, DimensionRecord
from lsst.pipe.base import InvalidQuantumError

__all__ = ["VisitFacts", "only_one", "visit_facts"]


class VisitFacts:
    """What the registry knows about a quantum's visit, read from its expanded data ID.

    Parameters
    ----------
    data_id : `lsst.daf.butler.DataCoordinate`
        Expanded data ID with ``instrument``, ``visit`` (and ``detector``).

    Attributes
    ----------
    instrument : `str`
        Instrument name.
    visit, detector : `int`
        The detector-visit.
    band : `str`
        Abstract band of the visit.
    midpoint_mjd_tai : `float`
        Mid-exposure time, MJD (TAI): start plus half the exposure time.
    detector_max : `int`
        The instrument's ``detector_max`` (the width of the DiaSource ID field).
    observation_reason, target_name : `str` or `None`
        From the visit record.
    """

    def __init__(self, data_id: DataCoordinate) -> None:
        if not data_id.hasRecords():
            raise InvalidQuantumError(f"the quantum data ID {data_id} carries no dimension records")
        visit = _record(data_id, "visit")
        instrument = _record(data_id, "instrument")
        self.instrument = str(data_id["instrument"])
        self.visit = int(data_id["visit"])
        self.detector = int(data_id["detector"]) if "detector" in data_id.dimensions else -1
        self.band = str(data_id["band"])
        begin = visit.timespan.begin.tai.mjd
        exposure_time = float(visit.exposure_time or 0.0)
        self.midpoint_mjd_tai = float(begin + 0.5 * exposure_time / 86400.0)
        self.detector_max = int(instrument.detector_max)
        self.observation_reason: str | None = visit.observation_reason
        self.target_name: str | None = visit.target_name


def visit_facts(data_id: DataCoordinate) -> VisitFacts:
    """The `VisitFacts` of a quantum (see there).

    Parameters
    ----------
    data_id : `lsst.daf.butler.DataCoordinate`
        The quantum's expanded data ID.

    Returns
    -------
    facts : `VisitFacts`
        Visit, detector, band, times and instrument limits.

    Raises
    ------
    lsst.pipe.base.InvalidQuantumError
        If the data ID carries no records.
    """
    return VisitFacts(data_id)


def _record(data_id: DataCoordinate, element: str) -> DimensionRecord:
    record: Any = data_id.records[element]
    if record is None:
        raise InvalidQuantumError(f"the quantum data ID {data_id} has no {element} record")
    return record


def only_one[T](items: Sequence[T] | T, what: str) -> T:
    """The single item of a ``multiple=True`` input that must hold exactly one dataset.

    Parameters
    ----------
    items : `~collections.abc.Sequence` or object
        The datasets (a non-sequence is returned as is).
    what : `str`
        Their name, for the message.

    Returns
    -------
    item : object
        The one dataset.

    Raises
    ------
    lsst.pipe.base.InvalidQuantumError
        If there are none or several (e.g. several snaps in one visit, which
        these pipelines do not combine).
    """
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        return items  # type: ignore[return-value]
    if len(items) != 1:
        raise InvalidQuantumError(f"expected exactly one {what} per visit, got {len(items)}")
    return items[0]
