"""The fields and behaviour `SummitVisit` and `FannedOutVisit` share."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self

from ._enums import CoordSys, Dome, RotSys
from ._errors import InvalidVisitError, UnsupportedCoordinatesError
from ._fields import BASE_FIELDS, FieldSpec, FieldValueError
from ._time import day_obs_of, tai_to_utc
from ._wire import (
    cloudevent_payload,
    http_payload,
    json_payload,
    kafka_payload,
    make_cloudevent,
    redis_payload,
)

if TYPE_CHECKING:
    from cloudevents.abstract import CloudEvent as AbstractCloudEvent
    from cloudevents.http import CloudEvent


__all__ = ["NEXT_VISIT_EVENT_TYPE", "VisitBase", "invalid_visit"]

NEXT_VISIT_EVENT_TYPE = "promptproc.next_visit"
"""Default CloudEvent ``type`` of the events `FannedOutVisit.to_cloudevent` makes.

Receivers do not check the type (Rubin's fan-out sends ``com.example.kafka``).
"""

_log = logging.getLogger("promptproc.visit")


@dataclasses.dataclass(frozen=True, kw_only=True)
class VisitBase:
    """Fields and behaviour shared by `SummitVisit` and `FannedOutVisit`."""

    salIndex: int
    scriptSalIndex: int
    groupId: str
    coordinateSystem: CoordSys
    position: tuple[float, float]
    startTime: float
    rotationSystem: RotSys
    cameraAngle: float
    filters: str
    dome: Dome
    duration: float
    nimages: int
    instrument: str
    survey: str
    totalCheckpoints: int
    private_sndStamp: float

    _SPECS: ClassVar[tuple[FieldSpec, ...]] = BASE_FIELDS

    def __post_init__(self) -> None:
        problems: list[tuple[str, str]] = []
        for spec in self._SPECS:
            try:
                object.__setattr__(self, spec.name, spec.from_native(getattr(self, spec.name)))
            except FieldValueError as err:
                problems.append((spec.name, str(err)))
        if not problems:
            problems = self._check_consistency()
        if problems:
            raise invalid_visit(problems)

    def _check_consistency(self) -> list[tuple[str, str]]:
        """Return problems that involve more than one field."""
        problems = []
        if self.coordinateSystem != CoordSys.NONE and not -90.0 <= self.position[1] <= 90.0:
            what = "dec" if self.coordinateSystem == CoordSys.ICRS else "altitude"
            problems.append(("position", f"{what} must be from -90 to 90 degrees, not {self.position[1]!r}"))
        return problems

    # -- parsing -----------------------------------------------------------------------------

    @classmethod
    def _build(cls, values: Mapping[str, Any], *, text: bool) -> Self:
        names = {spec.name for spec in cls._SPECS}
        unknown = sorted(str(key) for key in values if key not in names)
        if unknown:
            _log.debug("Ignoring unknown fields of a %s: %s", cls.__name__, ", ".join(unknown))
        problems: list[tuple[str, str]] = []
        kwargs: dict[str, Any] = {}
        for spec in cls._SPECS:
            if spec.name not in values:
                problems.append((spec.name, ""))
                continue
            try:
                value = values[spec.name]
                kwargs[spec.name] = spec.from_text(value) if text else spec.from_native(value)
            except FieldValueError as err:
                problems.append((spec.name, str(err)))
        if problems:
            raise invalid_visit(problems)
        return cls(**kwargs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Make a visit from a decoded JSON object.

        Parameters
        ----------
        data : `~collections.abc.Mapping` [`str`, `object`]
            Field names and JSON values (numbers as numbers, ``position`` as
            a two-number list, enums as integers or member names). Unknown
            fields are ignored.

        Returns
        -------
        visit : `SummitVisit` or `FannedOutVisit`
            The checked visit.

        Raises
        ------
        InvalidVisitError
            Raised if a field is missing, of the wrong type or out of range;
            the one-line message names every such field.
        """
        if not isinstance(data, Mapping):
            raise InvalidVisitError(f"a visit must be a JSON object, not {type(data).__name__}")
        return cls._build(data, text=False)

    @classmethod
    def from_json(cls, text: str | bytes | bytearray) -> Self:
        """Make a visit from JSON text (see `from_dict`).

        Raises
        ------
        InvalidVisitError
            Raised if the text is not a JSON object or a field is bad.
        """
        return cls._build(json_payload(text), text=False)

    @classmethod
    def from_cloudevent(cls, event: AbstractCloudEvent) -> Self:
        """Make a visit from a CloudEvent whose data is the visit.

        Parameters
        ----------
        event : `cloudevents.abstract.CloudEvent`
            The event; ``data`` may be the JSON object, JSON text of it (as
            Rubin's fan-out sends), or UTF-8 bytes of that text.

        Raises
        ------
        InvalidVisitError
            Raised if the event has no JSON object or a field is bad.
        """
        return cls._build(cloudevent_payload(event), text=False)

    @classmethod
    def from_http(cls, headers: Any, body: bytes | str | None) -> Self:
        """Make a visit from an HTTP request carrying a CloudEvent.

        Parameters
        ----------
        headers : mapping of `str` to `str`
            The request headers; binary (``ce-*`` headers) and structured
            (``application/cloudevents+json``) modes are both accepted.
        body : `bytes` or `str` or `None`
            The request body.

        Raises
        ------
        InvalidVisitError
            Raised if the request is not a CloudEvent with a visit, or a
            field is bad.
        """
        return cls._build(http_payload(headers, body), text=False)

    @classmethod
    def from_redis_fields(cls, fields: Mapping[Any, Any]) -> Self:
        """Make a visit from a Redis stream entry.

        Parameters
        ----------
        fields : mapping of `bytes` or `str` to `bytes` or `str`
            The entry's field-value pairs, every value text: numbers in
            decimal, enums as integers, ``position`` as ``"[ra, dec]"``.

        Raises
        ------
        InvalidVisitError
            Raised if a field is missing or cannot be parsed.
        """
        return cls._build(redis_payload(fields), text=True)

    @classmethod
    def from_kafka_value(cls, value: bytes | str | None) -> Self:
        """Make a visit from the value of a Kafka message.

        Parameters
        ----------
        value : `bytes` or `str` or `None`
            A JSON object, or a structured-mode CloudEvent carrying one.

        Raises
        ------
        InvalidVisitError
            Raised if the value holds no JSON object or a field is bad.
        """
        return cls._build(kafka_payload(value), text=False)

    # -- serialising -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-compatible dict that `from_dict` reads back.

        Enums are plain integers and ``position`` is a list, as on the wire.
        """
        return {spec.name: spec.to_json(getattr(self, spec.name)) for spec in self._SPECS}

    def to_json(self) -> str:
        """Return the fields as JSON text that `from_json` reads back."""
        return json.dumps(self.to_dict(), allow_nan=False)

    def to_redis_fields(self) -> dict[str, str]:
        """Return the fields as text for ``XADD``, which `from_redis_fields` reads back exactly.

        Every value is a string, so redis-py stores it unchanged (given an
        `enum.IntEnum` it would store its repr).
        """
        return {spec.name: spec.to_text(getattr(self, spec.name)) for spec in self._SPECS}

    def to_cloudevent(
        self, source: str, *, event_type: str = NEXT_VISIT_EVENT_TYPE, data_as_string: bool = False
    ) -> CloudEvent:
        """Wrap the visit in a CloudEvent, for `cloudevents.conversion.to_binary` or ``to_structured``.

        Parameters
        ----------
        source : `str`
            The event's ``source`` (e.g. the next-visit topic).
        event_type : `str`
            The event's ``type``.
        data_as_string : `bool`
            Send ``data`` as JSON text, as Rubin's fan-out does, instead of
            as an object.

        Returns
        -------
        event : `cloudevents.http.CloudEvent`
            The event, with a fresh ``id``.
        """
        return make_cloudevent(
            self.to_dict(), source=source, event_type=event_type, data_as_string=data_as_string
        )

    # -- time --------------------------------------------------------------------------------

    @property
    def start_time_utc(self) -> float:
        """``startTime`` as UTC (POSIX) seconds."""
        return tai_to_utc(self.startTime)

    @property
    def sent_time_utc(self) -> float:
        """``private_sndStamp``, when the event was published, as UTC (POSIX) seconds."""
        return tai_to_utc(self.private_sndStamp)

    @property
    def day_obs(self) -> int:
        """Observing day of ``startTime``: ``YYYYMMDD`` of the date in UTC-12h."""
        return day_obs_of(self.start_time_utc)

    def age(self, now: float | None = None) -> float:
        """Seconds since the event was published.

        Parameters
        ----------
        now : `float`, optional
            Current UTC (POSIX) time; `time.time` by default.

        Returns
        -------
        age : `float`
            ``now`` minus ``private_sndStamp`` converted from TAI to UTC.
        """
        return (time.time() if now is None else now) - self.sent_time_utc

    def is_expired(self, now: float | None, max_age: float) -> bool:
        """Whether the event is too old to process (the staleness check).

        Parameters
        ----------
        now : `float` or `None`
            Current UTC (POSIX) time; `None` means `time.time`.
        max_age : `float`
            Largest acceptable age in seconds (``MESSAGE_EXPIRATION``).

        Returns
        -------
        expired : `bool`
            `True` if the event was published more than ``max_age`` seconds
            before ``now``.
        """
        return self.age(now) > max_age

    def deadline(self, image_timeout: float) -> float:
        """When to stop waiting for this visit's raws.

        Parameters
        ----------
        image_timeout : `float`
            Seconds to keep waiting after the exposure should have ended
            (``IMAGE_TIMEOUT``).

        Returns
        -------
        deadline : `float`
            ``startTime + duration + image_timeout`` as UTC (POSIX) seconds,
            comparable with `time.time`.
        """
        if not math.isfinite(image_timeout):
            raise ValueError(f"image_timeout must be finite, not {image_timeout!r}")
        return tai_to_utc(self.startTime + self.duration + image_timeout)

    # -- pointing ----------------------------------------------------------------------------

    def boresight_icrs(self) -> tuple[float, float]:
        """The boresight, ``(ra, dec)`` in degrees (ICRS).

        Raises
        ------
        UnsupportedCoordinatesError
            Raised if ``coordinateSystem`` is not ICRS: a horizontal or mount
            position cannot be placed on the sky without the exact time and
            site, and NONE has no position at all.
        """
        if self.coordinateSystem != CoordSys.ICRS:
            raise UnsupportedCoordinatesError(
                f"visit {self.groupId!r} has {self.coordinateSystem.name} coordinates, "
                "not ICRS, so its sky position is unknown"
            )
        return self.position

    def sky_rotation(self) -> float:
        """The camera's position angle on the sky, degrees east of north.

        Raises
        ------
        UnsupportedCoordinatesError
            Raised if ``rotationSystem`` is not SKY.
        """
        if self.rotationSystem != RotSys.SKY:
            raise UnsupportedCoordinatesError(
                f"visit {self.groupId!r} has a {self.rotationSystem.name} rotation, "
                "not SKY, so its sky rotation is unknown"
            )
        return self.cameraAngle

    def log_fields(self) -> dict[str, Any]:
        """Logging context of the visit: ``instrument``, ``day_obs``, ``group`` (and ``detector``)."""
        return {"instrument": self.instrument, "day_obs": self.day_obs, "group": self.groupId}

    def _base_fields(self) -> dict[str, Any]:
        return {spec.name: getattr(self, spec.name) for spec in BASE_FIELDS}


def invalid_visit(problems: list[tuple[str, str]]) -> InvalidVisitError:
    """Make the error for a list of ``(field, reason)`` problems.

    Parameters
    ----------
    problems : `list` [`tuple` [`str`, `str`]]
        Each offending field with what is wrong with it, or an empty reason
        if the field is missing.

    Returns
    -------
    error : `InvalidVisitError`
        One line: ``invalid visit: missing fields 'a', 'b'; field 'c' must ...``.
    """
    missing = [name for name, reason in problems if not reason]
    reasons = []
    if missing:
        plural = "s" if len(missing) > 1 else ""
        reasons.append(f"missing field{plural} " + ", ".join(repr(name) for name in missing))
    reasons += [f"field {name!r} {reason}" for name, reason in problems if reason]
    return InvalidVisitError("invalid visit: " + "; ".join(reasons), [name for name, _ in problems])
