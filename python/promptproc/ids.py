"""Deterministic 64-bit IDs of DIA sources, DIA objects and alerts.

A DiaSource ID is a function of ``(visit, detector, index)`` only, where
``index`` is the row of the source in the detector's DIA source catalog, so a
re-run of a visit writes exactly the same rows and the same alert IDs.  The
ID is a positive signed 64-bit integer (the APDB stores ``BIGINT``), packed
from the most significant bit down as

=================  ===================  =======================================
field              bits                 range
=================  ===================  =======================================
sign               1                    always 0
day                ``day_bits`` (15)    days since ``epoch`` (2020-01-01):
                                        2020-01-01 .. 2109-09-18
sequence number    17                   0 .. 99,999 (exposure IDs allow 5 digits)
detector           from ``detector_max`` 0 .. ``detector_max - 1``
index              the rest             0 .. ``2**index_bits - 1``
=================  ===================  =======================================

Visit IDs are ``day_obs * 100000 + seq_num`` with ``day_obs`` written
``YYYYMMDD`` (see `promptproc.instrument.Instrument.exposure_id`); storing the
day as a day count instead of ``YYYYMMDD`` is what makes the layout fit.  With
SimCam (9 detectors, 4 detector bits) a detector-visit may hold 2**27
sources; with 205 detectors (8 bits) 2**23, about 8.4 million.

A new DiaObject takes the ID of its first DiaSource, and an alert takes the ID
of its triggering DiaSource, so all three share one ID space without
collisions.  The layout depends on ``detector_max``: keep it fixed for the
life of an APDB, and use one APDB per instrument.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .errors import BadInputError, ConfigurationError

if TYPE_CHECKING:
    from .instrument import Instrument

__all__ = [
    "DEFAULT_DAY_BITS",
    "DEFAULT_EPOCH",
    "SEQ_NUM_BITS",
    "DiaIdPacker",
    "DiaSourceKey",
    "alert_id",
    "new_dia_object_id",
]

DEFAULT_EPOCH = datetime.date(2020, 1, 1)
"""First day that a DiaSource ID can encode."""

DEFAULT_DAY_BITS = 15
"""Bits for the day count: 32,768 days, about 89.7 years."""

SEQ_NUM_BITS = 17
"""Bits for the sequence number: 0..131,071, enough for 5-digit sequence numbers."""

_ID_BITS = 63
_SEQ_NUM_FACTOR = 100_000
_MIN_INDEX_BITS = 16


@dataclass(frozen=True)
class DiaSourceKey:
    """What a DiaSource ID encodes.

    Attributes
    ----------
    visit : `int`
        Visit ID, ``day_obs * 100000 + seq_num``.
    detector : `int`
        Detector ID.
    index : `int`
        Row of the source in the detector-visit's DIA source catalog (0-based).
    """

    visit: int
    detector: int
    index: int


class DiaIdPacker:
    """Pack and unpack DiaSource IDs for one instrument.

    Parameters
    ----------
    detector_max : `int`
        One more than the largest detector ID
        (`promptproc.instrument.Instrument.detector_max`).
    epoch : `datetime.date`, optional
        Day 0 of the day count.
    day_bits : `int`, optional
        Bits for the day count.

    Raises
    ------
    promptproc.errors.ConfigurationError
        If the fields leave fewer than 16 bits for the source index.
    """

    def __init__(
        self, detector_max: int, *, epoch: datetime.date = DEFAULT_EPOCH, day_bits: int = DEFAULT_DAY_BITS
    ) -> None:
        if detector_max < 1:
            raise ConfigurationError(f"detector_max must be at least 1, not {detector_max}")
        if day_bits < 1:
            raise ConfigurationError(f"day_bits must be at least 1, not {day_bits}")
        self.detector_max = int(detector_max)
        self.epoch = epoch
        self.day_bits = int(day_bits)
        self.detector_bits = max(1, (self.detector_max - 1).bit_length())
        self.index_bits = _ID_BITS - self.day_bits - SEQ_NUM_BITS - self.detector_bits
        if self.index_bits < _MIN_INDEX_BITS:
            raise ConfigurationError(
                f"DiaSource IDs cannot hold {self.detector_max} detectors with {self.day_bits} day bits:"
                f" only {self.index_bits} bits would be left for the source index (need {_MIN_INDEX_BITS})"
            )
        self._epoch_ordinal = epoch.toordinal()

    @classmethod
    def for_instrument(cls, instrument: Instrument) -> DiaIdPacker:
        """Return the packer for an instrument's detectors.

        Parameters
        ----------
        instrument : `promptproc.instrument.Instrument`
            The instrument.

        Returns
        -------
        packer : `DiaIdPacker`
            A packer with the default epoch and day bits.
        """
        return cls(instrument.detector_max)

    def __repr__(self) -> str:
        return (
            f"DiaIdPacker(detector_max={self.detector_max}, epoch={self.epoch.isoformat()},"
            f" day_bits={self.day_bits})"
        )

    @property
    def index_max(self) -> int:
        """One more than the largest source index a detector-visit may have."""
        return 1 << self.index_bits

    @property
    def last_day(self) -> datetime.date:
        """The last observing day that IDs can encode."""
        return datetime.date.fromordinal(self._epoch_ordinal + (1 << self.day_bits) - 1)

    def pack(self, visit: int, detector: int, index: int) -> int:
        """Return the DiaSource ID of one source.

        Parameters
        ----------
        visit : `int`
            Visit ID, ``day_obs * 100000 + seq_num``.
        detector : `int`
            Detector ID, ``0 <= detector < detector_max``.
        index : `int`
            Row of the source in its catalog, ``0 <= index < index_max``.

        Returns
        -------
        dia_source_id : `int`
            A positive ID below ``2**63``.

        Raises
        ------
        promptproc.errors.BadInputError
            If any value is out of range; the message says which and why.
        """
        prefix = self._prefix(visit, detector)
        index = int(index)
        if not 0 <= index < self.index_max:
            raise BadInputError(
                f"DIA source index {index} is out of range 0..{self.index_max - 1} for visit {visit}"
                f" detector {detector} ({self.index_bits} index bits)"
            )
        return prefix | index

    def pack_many(self, visit: int, detector: int, indices: np.ndarray) -> np.ndarray:
        """Return the DiaSource IDs of many sources of one detector-visit.

        Parameters
        ----------
        visit, detector : `int`
            As for `pack`.
        indices : `numpy.ndarray`
            Integer row indices.

        Returns
        -------
        ids : `numpy.ndarray`
            ``int64`` IDs, in the order of ``indices``.

        Raises
        ------
        promptproc.errors.BadInputError
            If the visit, detector or any index is out of range.
        """
        prefix = self._prefix(visit, detector)
        indices = np.asarray(indices)
        if indices.size and not np.issubdtype(indices.dtype, np.integer):
            raise BadInputError(f"DIA source indices must be integers, not {indices.dtype}")
        indices = indices.astype(np.int64, copy=False)
        if indices.size and (indices.min() < 0 or indices.max() >= self.index_max):
            raise BadInputError(
                f"DIA source indices {indices.min()}..{indices.max()} are out of range"
                f" 0..{self.index_max - 1} for visit {visit} detector {detector}"
            )
        return np.int64(prefix) | indices

    def unpack(self, dia_source_id: int) -> DiaSourceKey:
        """Return what a DiaSource ID encodes.

        Parameters
        ----------
        dia_source_id : `int`
            An ID made by `pack` with the same layout.

        Returns
        -------
        key : `DiaSourceKey`
            Visit, detector and index.

        Raises
        ------
        promptproc.errors.BadInputError
            If the ID is negative, too large, or decodes to a detector this
            layout does not have.
        """
        value = int(dia_source_id)
        if not 0 <= value < (1 << _ID_BITS):
            raise BadInputError(f"{value} is not a DiaSource ID: it must lie in 0..2**63-1")
        index = value & ((1 << self.index_bits) - 1)
        value >>= self.index_bits
        detector = value & ((1 << self.detector_bits) - 1)
        value >>= self.detector_bits
        seq_num = value & ((1 << SEQ_NUM_BITS) - 1)
        days = value >> SEQ_NUM_BITS
        if detector >= self.detector_max or seq_num >= _SEQ_NUM_FACTOR:
            raise BadInputError(f"{dia_source_id} is not a DiaSource ID of {self!r}")
        day = datetime.date.fromordinal(self._epoch_ordinal + days)
        day_obs = day.year * 10_000 + day.month * 100 + day.day
        return DiaSourceKey(visit=day_obs * _SEQ_NUM_FACTOR + seq_num, detector=detector, index=index)

    def _prefix(self, visit: int, detector: int) -> int:
        """Return the ID with index 0: day, sequence number and detector bits."""
        visit = int(visit)
        detector = int(detector)
        if not 0 <= detector < self.detector_max:
            raise BadInputError(f"detector {detector} is out of range 0..{self.detector_max - 1}")
        day_obs, seq_num = divmod(visit, _SEQ_NUM_FACTOR)
        year, month_day = divmod(day_obs, 10_000)
        month, day = divmod(month_day, 100)
        try:
            date = datetime.date(year, month, day)
        except ValueError:
            raise BadInputError(
                f"visit {visit} is not day_obs * 100000 + seq_num with day_obs a YYYYMMDD date"
            ) from None
        days = date.toordinal() - self._epoch_ordinal
        if not 0 <= days < (1 << self.day_bits):
            raise BadInputError(
                f"visit {visit} (day {date.isoformat()}) is outside the days DiaSource IDs can encode,"
                f" {self.epoch.isoformat()} .. {self.last_day.isoformat()}"
            )
        return (((days << SEQ_NUM_BITS) | seq_num) << self.detector_bits | detector) << self.index_bits


def new_dia_object_id(dia_source_id: int) -> int:
    """Return the ID of a DiaObject first seen as a given DiaSource.

    Parameters
    ----------
    dia_source_id : `int`
        ID of the object's first DiaSource.

    Returns
    -------
    dia_object_id : `int`
        The same number: a source creates at most one object.
    """
    return int(dia_source_id)


def alert_id(dia_source_id: int) -> int:
    """Return the ID of the alert a DiaSource triggers.

    Parameters
    ----------
    dia_source_id : `int`
        ID of the triggering DiaSource.

    Returns
    -------
    alert_id : `int`
        The same number; it is the alert packet's ``diaSourceId`` and the
        Kafka message key.
    """
    return int(dia_source_id)
