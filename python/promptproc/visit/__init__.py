"""The next-visit events: `SummitVisit` from the observatory, `FannedOutVisit` per detector.

Both are frozen dataclasses with the fields of Rubin's ``nextVisit`` event,
checked when they are made: a missing, ill-typed or out-of-range field raises
`InvalidVisitError` (a `~promptproc.errors.BadInputError`) whose one-line
message names it, and unknown fields are ignored.  They are read from every
transport a worker listens on:

- a decoded JSON object (`~SummitVisit.from_dict`) or JSON text
  (`~SummitVisit.from_json`);
- a CloudEvent (`~SummitVisit.from_cloudevent`), or an HTTP request in
  binary or structured mode (`~SummitVisit.from_http`), whose data may be
  an object or a JSON string as Rubin's fan-out sends it;
- a Redis stream entry, every value text (`~SummitVisit.from_redis_fields`);
- a Kafka message value (`~SummitVisit.from_kafka_value`);

and written back with `~SummitVisit.to_dict`, `~SummitVisit.to_json`,
`~SummitVisit.to_redis_fields` and `~SummitVisit.to_cloudevent`.

Times on the wire are TAI unix seconds; `~SummitVisit.deadline`,
`~SummitVisit.is_expired` and `~SummitVisit.day_obs` convert them to UTC.
"""

from ._base import NEXT_VISIT_EVENT_TYPE, VisitBase
from ._enums import CoordSys, Dome, RotSys
from ._errors import InvalidVisitError, UnsupportedCoordinatesError
from ._time import DAY_OBS_OFFSET, day_obs_of, tai_to_utc, utc_to_tai
from ._visit import FannedOutVisit, SummitVisit, fan_out

__all__ = [
    "DAY_OBS_OFFSET",
    "NEXT_VISIT_EVENT_TYPE",
    "CoordSys",
    "Dome",
    "FannedOutVisit",
    "InvalidVisitError",
    "RotSys",
    "SummitVisit",
    "UnsupportedCoordinatesError",
    "VisitBase",
    "day_obs_of",
    "fan_out",
    "tai_to_utc",
    "utc_to_tai",
]
