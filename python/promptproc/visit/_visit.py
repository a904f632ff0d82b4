"""`SummitVisit` and `FannedOutVisit`: the next-visit event and its per-detector form."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from ._base import VisitBase
from ._errors import InvalidVisitError
from ._fields import BASE_FIELDS, DETECTOR_FIELD, FieldSpec

if TYPE_CHECKING:
    from astropy.wcs import WCS
    from lsst.sphgeom import ConvexPolygon

    from ..instrument import Instrument

__all__ = ["FannedOutVisit", "SummitVisit", "fan_out"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class SummitVisit(VisitBase):
    """The observatory's announcement of the next visit (Rubin ``nextVisit``).

    Every field is checked on construction; a bad one raises
    `InvalidVisitError` naming it. Build one from the wire with `from_dict`,
    `from_json`, `from_kafka_value`, `from_cloudevent`, `from_http` or
    `from_redis_fields`.

    Parameters
    ----------
    salIndex : `int`
        ScriptQueue index (1 main telescope, 2 auxiliary, ...).
    scriptSalIndex : `int`
        SAL index of the script.
    groupId : `str`
        Group ID of the visit's exposures (Butler ``group``).
    coordinateSystem : `CoordSys`
        System of ``position``.
    position : `tuple` [`float`, `float`]
        ``(ra, dec)`` or ``(az, alt)``, degrees.
    startTime : `float`
        Expected start of the first exposure, TAI unix seconds.
    rotationSystem : `RotSys`
        System of ``cameraAngle``.
    cameraAngle : `float`
        Camera rotation, degrees.
    filters : `str`
        Physical filter (empty for none in particular).
    dome : `Dome`
        Required dome state.
    duration : `float`
        Expected duration of the visit's exposures, seconds (at least 0).
    nimages : `int`
        Expected number of snaps; 0 means unknown.
    instrument : `str`
        Instrument short name; empty means the visit is not an observation.
    survey : `str`
        Survey or observing block, used to choose pipelines.
    totalCheckpoints : `int`
        Number of script checkpoints.
    private_sndStamp : `float`
        When the event was published, TAI unix seconds.
    """

    def fan_out(self, detectors: Iterable[int]) -> list[FannedOutVisit]:
        """Make one `FannedOutVisit` per detector; see `fan_out`."""
        return fan_out(self, detectors)


@dataclasses.dataclass(frozen=True, kw_only=True)
class FannedOutVisit(VisitBase):
    """The next visit as one detector's worker receives it.

    The fields of `SummitVisit` plus ``detector``. ``instrument`` and
    ``groupId`` must not be empty, and ``detector`` must not be negative.

    Parameters
    ----------
    detector : `int`
        Detector ID.
    **fields
        The fields of `SummitVisit`.
    """

    detector: int

    _SPECS: ClassVar[tuple[FieldSpec, ...]] = (*BASE_FIELDS, DETECTOR_FIELD)

    def _check_consistency(self) -> list[tuple[str, str]]:
        problems = super()._check_consistency()
        for name in ("groupId", "instrument"):
            if not getattr(self, name):
                problems.append((name, "must not be empty"))
        return problems

    def summit_visit(self) -> SummitVisit:
        """The summit visit this was fanned out from (every field but ``detector``)."""
        return SummitVisit(**self._base_fields())

    def log_fields(self) -> dict[str, Any]:
        """Logging context of the visit: ``instrument``, ``day_obs``, ``group`` and ``detector``."""
        return {**super().log_fields(), "detector": self.detector}

    def _check_instrument(self, instrument: Instrument) -> None:
        if instrument.name != self.instrument:
            raise InvalidVisitError(
                f"invalid visit: field 'instrument' is {self.instrument!r}, but this worker "
                f"processes {instrument.name!r}",
                ["instrument"],
            )

    def predicted_wcs(self, instrument: Instrument) -> WCS:
        """Predict the detector's WCS from the announced pointing.

        Parameters
        ----------
        instrument : `~promptproc.instrument.Instrument`
            The visit's instrument.

        Returns
        -------
        wcs : `astropy.wcs.WCS`
            A TAN WCS at the boresight with the nominal plate scale.

        Raises
        ------
        UnsupportedCoordinatesError
            Raised if the position is not ICRS or the rotation not SKY.
        InvalidVisitError
            Raised if the visit is for another instrument.
        BadInputError
            Raised if the instrument has no such detector.
        """
        from ..instrument import predict_detector_wcs

        self._check_instrument(instrument)
        ra, dec = self.boresight_icrs()
        return predict_detector_wcs(instrument, self.detector, ra, dec, self.sky_rotation())

    def footprint(self, instrument: Instrument, padding_arcsec: float = 0.0) -> ConvexPolygon:
        """Predict the sky region the detector will see.

        Parameters
        ----------
        instrument : `~promptproc.instrument.Instrument`
            The visit's instrument.
        padding_arcsec : `float`
            Margin added on every side for pointing errors (``PRELOAD_PADDING``).

        Returns
        -------
        region : `lsst.sphgeom.ConvexPolygon`
            The padded detector footprint.

        Raises
        ------
        UnsupportedCoordinatesError
            Raised if the position is not ICRS or the rotation not SKY.
        InvalidVisitError
            Raised if the visit is for another instrument.
        BadInputError
            Raised if the instrument has no such detector.
        """
        from ..instrument import predict_footprint

        self._check_instrument(instrument)
        ra, dec = self.boresight_icrs()
        return predict_footprint(instrument, self.detector, ra, dec, self.sky_rotation(), padding_arcsec)


def fan_out(summit_visit: SummitVisit, detectors: Iterable[int]) -> list[FannedOutVisit]:
    """Make the per-detector visits of a summit visit.

    Parameters
    ----------
    summit_visit : `SummitVisit`
        The observatory's event.
    detectors : iterable [`int`]
        Detectors to process; repeats are dropped, the order is kept.

    Returns
    -------
    visits : `list` [`FannedOutVisit`]
        One visit per detector, each with every field of ``summit_visit``.

    Raises
    ------
    InvalidVisitError
        Raised if the summit visit has no instrument (it is not an
        observation) or no group, or a detector is not a non-negative integer.
    """
    fields = summit_visit._base_fields()
    return [FannedOutVisit(**fields, detector=detector) for detector in dict.fromkeys(detectors)]
