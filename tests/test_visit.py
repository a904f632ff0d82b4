import dataclasses
import datetime
import json
import logging
import math
import time
import uuid
from typing import Any

import pytest
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent

from promptproc.errors import BadInputError
from promptproc.instrument import Instrument, make_simcam
from promptproc.visit import (
    CoordSys,
    Dome,
    FannedOutVisit,
    InvalidVisitError,
    RotSys,
    SummitVisit,
    UnsupportedCoordinatesError,
    day_obs_of,
    fan_out,
    tai_to_utc,
    utc_to_tai,
)

# 2026-11-22T03:00:00 UTC; TAI - UTC has been 37 s since 2017-01-01.
UTC0 = datetime.datetime(2026, 11, 22, 3, 0, 0, tzinfo=datetime.UTC).timestamp()
LEAP = 37.0

FIELDS = [
    "salIndex",
    "scriptSalIndex",
    "groupId",
    "coordinateSystem",
    "position",
    "startTime",
    "rotationSystem",
    "cameraAngle",
    "filters",
    "dome",
    "duration",
    "nimages",
    "instrument",
    "survey",
    "totalCheckpoints",
    "private_sndStamp",
]


def summit_dict(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "salIndex": 1,
        "scriptSalIndex": 100017,
        "groupId": "2026-11-22T03:00:00.123",
        "coordinateSystem": 2,
        "position": [150.123456789, -2.5],
        "startTime": UTC0 + LEAP + 10.0,
        "rotationSystem": 2,
        "cameraAngle": 12.25,
        "filters": "r",
        "dome": 2,
        "duration": 30.0,
        "nimages": 1,
        "instrument": "SimCam",
        "survey": "WFD",
        "totalCheckpoints": 0,
        "private_sndStamp": UTC0 + LEAP,
    }
    data.update(changes)
    return data


def fanned_dict(**changes: Any) -> dict[str, Any]:
    return {**summit_dict(), "detector": 4, **changes}


@pytest.fixture
def visit() -> FannedOutVisit:
    return FannedOutVisit.from_dict(fanned_dict())


@pytest.fixture(scope="module")
def simcam() -> Instrument:
    return make_simcam(512)


# -- construction and round trips ----------------------------------------------------------------


def test_fields_and_types(visit: FannedOutVisit) -> None:
    assert [f.name for f in dataclasses.fields(FannedOutVisit)] == [*FIELDS, "detector"]
    assert [f.name for f in dataclasses.fields(SummitVisit)] == FIELDS
    assert visit.coordinateSystem is CoordSys.ICRS
    assert visit.rotationSystem is RotSys.SKY
    assert visit.dome is Dome.OPEN
    assert visit.position == (150.123456789, -2.5)
    assert visit.detector == 4
    assert isinstance(visit.startTime, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        visit.detector = 5  # type: ignore[misc]
    assert hash(visit) == hash(FannedOutVisit.from_dict(fanned_dict()))
    assert visit != visit.summit_visit()


def test_enum_values() -> None:
    assert [(m.name, m.value) for m in CoordSys] == [("NONE", 1), ("ICRS", 2), ("OBSERVED", 3), ("MOUNT", 4)]
    assert [(m.name, m.value) for m in RotSys] == [("NONE", 1), ("SKY", 2), ("HORIZON", 3), ("MOUNT", 4)]
    assert [(m.name, m.value) for m in Dome] == [("CLOSED", 1), ("OPEN", 2), ("EITHER", 3)]


def test_direct_construction_checks_and_converts() -> None:
    data = fanned_dict(coordinateSystem=CoordSys.ICRS, dome=3, position=[1, 2], startTime=1_800_000_000)
    visit = FannedOutVisit(**data)
    assert visit.dome is Dome.EITHER
    assert visit.position == (1.0, 2.0)
    assert isinstance(visit.startTime, float)
    with pytest.raises(InvalidVisitError, match="'detector'"):
        FannedOutVisit(**fanned_dict(detector=-1))


def test_dict_and_json_round_trip(visit: FannedOutVisit) -> None:
    data = visit.to_dict()
    assert data == fanned_dict()
    assert type(data["coordinateSystem"]) is int
    assert isinstance(data["position"], list)
    assert FannedOutVisit.from_dict(data) == visit
    text = visit.to_json()
    assert json.loads(text) == data
    assert FannedOutVisit.from_json(text) == visit
    assert FannedOutVisit.from_json(text.encode()) == visit
    summit = visit.summit_visit()
    assert SummitVisit.from_json(summit.to_json()) == summit


def test_redis_round_trip(visit: FannedOutVisit) -> None:
    fields = visit.to_redis_fields()
    assert all(isinstance(value, str) for value in fields.values())
    assert fields["position"] == "[150.123456789, -2.5]"
    assert fields["coordinateSystem"] == "2"
    # What redis-py hands back: bytes names and values.
    entry = {name.encode(): value.encode() for name, value in fields.items()}
    assert FannedOutVisit.from_redis_fields(entry) == visit
    assert FannedOutVisit.from_redis_fields(fields) == visit


def test_redis_fields_as_rubin_fan_out_writes_them(visit: FannedOutVisit) -> None:
    # The fan-out does str(list) for position and lets redis-py repr() the numbers.
    entry = {
        name: repr(value) if not isinstance(value, str) else value for name, value in fanned_dict().items()
    }
    entry["position"] = str([150.123456789, -2.5])
    entry["private_efdStamp"] = "1795316400.0"
    assert FannedOutVisit.from_redis_fields({k.encode(): v.encode() for k, v in entry.items()}) == visit
    # IntEnum members stored through redis-py become their repr.
    entry["coordinateSystem"] = repr(CoordSys.ICRS)
    entry["dome"] = "Dome.OPEN"
    entry["rotationSystem"] = "SKY"
    assert FannedOutVisit.from_redis_fields(entry) == visit


def test_redis_bad_values() -> None:
    fields = FannedOutVisit.from_dict(fanned_dict()).to_redis_fields()
    for name, value, expected in [
        ("position", "150.1, -2.5", "'position'"),
        ("position", "[150.1]", "'position'"),
        ("position", "[nan, 1.0]", "'position'"),
        ("startTime", "soon", "'startTime' must be a number"),
        ("nimages", "1.5", "'nimages' must be an integer"),
        ("dome", "9", "'dome' must be one of"),
        ("detector", "-3", "'detector' must be at least 0"),
    ]:
        with pytest.raises(InvalidVisitError, match=expected) as info:
            FannedOutVisit.from_redis_fields({**fields, name: value})
        assert info.value.fields == (name,)
    with pytest.raises(InvalidVisitError, match="'groupId' is not UTF-8"):
        FannedOutVisit.from_redis_fields({**fields, "groupId": b"\xff\xfe"})


def test_kafka_round_trip(visit: FannedOutVisit) -> None:
    assert FannedOutVisit.from_kafka_value(visit.to_json().encode()) == visit
    # A structured CloudEvent as a Knative KafkaSink writes it.
    _, body = to_structured(visit.to_cloudevent("test"))
    assert FannedOutVisit.from_kafka_value(body) == visit
    for bad in (None, b"", b"[1, 2]", b"{not json"):
        with pytest.raises(InvalidVisitError):
            FannedOutVisit.from_kafka_value(bad)


@pytest.mark.parametrize("as_string", [False, True])
@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_cloudevent_round_trip(visit: FannedOutVisit, mode: str, as_string: bool) -> None:
    event = visit.to_cloudevent("lsst.sal.ScriptQueue.logevent_nextVisit", data_as_string=as_string)
    assert FannedOutVisit.from_cloudevent(event) == visit
    headers, body = (to_binary if mode == "binary" else to_structured)(event)
    if mode == "binary":
        assert headers["ce-specversion"] == "1.0"
    else:
        assert headers["content-type"] == "application/cloudevents+json"
        assert isinstance(json.loads(body)["data"], str if as_string else dict)
    assert FannedOutVisit.from_http(headers, body) == visit
    assert FannedOutVisit.from_http(headers, body.decode()) == visit


def test_cloudevent_as_rubin_fan_out_sends_it(visit: FannedOutVisit) -> None:
    # Structured mode with data a JSON *string*, written out by hand.
    envelope = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "lsst.sal.ScriptQueue.logevent_nextVisit",
        "type": "com.example.kafka",
        "time": "2026-11-22T03:00:00Z",
        "data": json.dumps(fanned_dict()),
    }
    headers = {"content-type": "application/cloudevents+json"}
    assert FannedOutVisit.from_http(headers, json.dumps(envelope).encode()) == visit
    event = CloudEvent({"type": "com.example.kafka", "source": "topic"}, json.dumps(fanned_dict()))
    assert FannedOutVisit.from_http(*to_structured(event)) == visit


def test_binary_cloudevent_by_hand(visit: FannedOutVisit) -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "partition:0/offset:12",
        "ce-source": "/apis/v1/namespaces/pp/kafkasources/next-visit#visits",
        "ce-type": "dev.knative.kafka.event",
        "content-type": "application/json",
    }
    assert FannedOutVisit.from_http(headers, json.dumps(fanned_dict()).encode()) == visit


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"content-type": "application/json"}, json.dumps(fanned_dict()), "not a valid CloudEvent"),
        ({"content-type": "application/cloudevents+json"}, b"", "no body"),
        ({"content-type": "application/cloudevents+json"}, b"{broken", "not a valid CloudEvent"),
        (
            {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "s", "ce-type": "t"},
            b"not json",
            "CloudEvent data is not JSON",
        ),
        (
            {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "s", "ce-type": "t"},
            b"[1, 2, 3]",
            "must be a JSON object",
        ),
        (
            {"content-type": "application/cloudevents+json"},
            json.dumps({"specversion": "1.0", "id": "1", "source": "s", "type": "t"}),
            "no data",
        ),
    ],
)
def test_http_requests_that_are_not_visits(headers: dict[str, str], body: Any, expected: str) -> None:
    with pytest.raises(InvalidVisitError, match=expected) as info:
        FannedOutVisit.from_http(headers, body)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, BadInputError)


# -- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*FIELDS, "detector"])
def test_every_field_is_required(name: str) -> None:
    data = fanned_dict()
    del data[name]
    with pytest.raises(InvalidVisitError) as info:
        FannedOutVisit.from_dict(data)
    assert str(info.value) == f"invalid visit: missing field {name!r}"
    assert info.value.fields == (name,)
    fields = FannedOutVisit.from_dict(fanned_dict()).to_redis_fields()
    del fields[name]
    with pytest.raises(InvalidVisitError, match=f"missing field {name!r}"):
        FannedOutVisit.from_redis_fields(fields)


def test_summit_visit_does_not_need_a_detector() -> None:
    assert SummitVisit.from_dict(summit_dict()).instrument == "SimCam"
    with pytest.raises(InvalidVisitError, match="'private_sndStamp'"):
        SummitVisit.from_dict({k: v for k, v in summit_dict().items() if k != "private_sndStamp"})


def test_all_problems_in_one_line() -> None:
    data = fanned_dict(dome=7, startTime="later")
    del data["groupId"]
    del data["survey"]
    with pytest.raises(InvalidVisitError) as info:
        FannedOutVisit.from_dict(data)
    message = str(info.value)
    assert message.startswith("invalid visit: missing fields 'groupId', 'survey'; ")
    assert "field 'startTime' must be a number, not 'later'" in message
    assert "field 'dome' must be one of 1 (CLOSED), 2 (OPEN), 3 (EITHER), not 7" in message
    assert set(info.value.fields) == {"groupId", "survey", "startTime", "dome"}
    assert "\n" not in message


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("salIndex", 1.5, "must be an integer"),
        ("salIndex", "1", "must be an integer"),
        ("salIndex", True, "must be an integer"),
        ("scriptSalIndex", None, "must be an integer"),
        ("groupId", 20261122, "must be a string"),
        ("coordinateSystem", 0, "must be one of 1 (NONE), 2 (ICRS)"),
        ("coordinateSystem", 5, "must be one of"),
        ("coordinateSystem", "GALACTIC", "must be one of"),
        ("rotationSystem", 9, "must be one of 1 (NONE), 2 (SKY)"),
        ("dome", -1, "must be one of"),
        ("position", [1.0], "two numbers"),
        ("position", [1.0, 2.0, 3.0], "two numbers"),
        ("position", "[1.0, 2.0]", "list of two numbers"),
        ("position", [math.nan, 2.0], "finite"),
        ("position", [1.0, math.inf], "finite"),
        ("position", ["a", 2.0], "finite"),
        ("position", [10.0, 91.0], "dec must be from -90 to 90"),
        ("startTime", math.nan, "must be a finite number"),
        ("startTime", "1795316447.0", "must be a number"),
        ("cameraAngle", -math.inf, "finite"),
        ("duration", -1.0, "must be at least 0"),
        ("nimages", -1, "must be at least 0"),
        ("totalCheckpoints", -1, "must be at least 0"),
        ("filters", None, "must be a string"),
        ("instrument", "", "must not be empty"),
        ("groupId", "", "must not be empty"),
        ("detector", -1, "must be at least 0"),
        ("detector", "4", "must be an integer"),
        ("private_sndStamp", "now", "must be a number"),
    ],
)
def test_bad_values_name_the_field(name: str, value: Any, expected: str) -> None:
    with pytest.raises(InvalidVisitError) as info:
        FannedOutVisit.from_dict(fanned_dict(**{name: value}))
    assert f"field {name!r}" in str(info.value)
    assert expected in str(info.value)
    assert info.value.fields == (name,)


def test_lenient_but_exact_values() -> None:
    visit = FannedOutVisit.from_dict(fanned_dict(salIndex=1.0, coordinateSystem="icrs", dome="OPEN"))
    assert visit.salIndex == 1
    assert visit.coordinateSystem is CoordSys.ICRS
    assert visit.dome is Dome.OPEN
    # Positions outside the sky range are fine when there is no coordinate system.
    none = FannedOutVisit.from_dict(fanned_dict(coordinateSystem=1, position=[0.0, 400.0]))
    assert none.coordinateSystem is CoordSys.NONE
    # An empty filter or survey is allowed, and so is a blank summit instrument.
    assert FannedOutVisit.from_dict(fanned_dict(filters="", survey="")).filters == ""
    assert SummitVisit.from_dict(summit_dict(instrument="")).instrument == ""


def test_nan_in_json_text_is_rejected() -> None:
    text = json.dumps(fanned_dict()).replace('"cameraAngle": 12.25', '"cameraAngle": NaN')
    with pytest.raises(InvalidVisitError, match="'cameraAngle' must be a finite number"):
        FannedOutVisit.from_json(text)


def test_unknown_fields_are_ignored_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="promptproc.visit"):
        visit = FannedOutVisit.from_dict(fanned_dict(private_efdStamp=1.0, private_seqNum=3))
    assert visit == FannedOutVisit.from_dict(fanned_dict())
    assert "private_efdStamp, private_seqNum" in caplog.text
    assert all(record.levelno == logging.DEBUG for record in caplog.records)


def test_not_a_json_object() -> None:
    for text in ("", "  ", "[]", '"visit"', "{", b"\xff"):
        with pytest.raises(InvalidVisitError):
            FannedOutVisit.from_json(text)
    with pytest.raises(InvalidVisitError, match="must be a JSON object"):
        FannedOutVisit.from_dict([1, 2])  # type: ignore[arg-type]


# -- time ----------------------------------------------------------------------------------------


def test_tai_utc_conversion() -> None:
    assert tai_to_utc(UTC0 + LEAP) == pytest.approx(UTC0, abs=1e-6)
    assert utc_to_tai(UTC0) == pytest.approx(UTC0 + LEAP, abs=1e-6)
    # Before the leap second at the end of 2016, the offset was 36 s.
    utc_2016 = datetime.datetime(2016, 6, 1, tzinfo=datetime.UTC).timestamp()
    assert utc_to_tai(utc_2016) - utc_2016 == pytest.approx(36.0, abs=1e-6)


def test_expiry_uses_tai_send_stamp(visit: FannedOutVisit) -> None:
    # Sent at UTC0 (stamped UTC0 + 37 in TAI).
    assert visit.sent_time_utc == pytest.approx(UTC0, abs=1e-6)
    assert visit.age(UTC0 + 100.0) == pytest.approx(100.0, abs=1e-6)
    assert not visit.is_expired(UTC0 + 3599.0, 3600.0)
    assert visit.is_expired(UTC0 + 3601.0, 3600.0)
    # Reading the TAI stamp as UTC would make the age 37 s too small (here negative).
    assert visit.is_expired(UTC0 + 20.0, 10.0)
    assert not visit.is_expired(UTC0 - 1.0, 0.0)
    # A visit sent just now is not expired with the real clock.
    fresh = FannedOutVisit.from_dict(fanned_dict(private_sndStamp=utc_to_tai(time.time())))
    assert not fresh.is_expired(None, 60.0)
    assert abs(fresh.age()) < 60.0


def test_deadline_arithmetic(visit: FannedOutVisit) -> None:
    # startTime is UTC0 + 10 s (in TAI, UTC0 + 47); exposures take 30 s; wait 20 s more.
    assert visit.start_time_utc == pytest.approx(UTC0 + 10.0, abs=1e-6)
    assert visit.deadline(20.0) == pytest.approx(UTC0 + 60.0, abs=1e-6)
    assert visit.deadline(0.0) == pytest.approx(UTC0 + 40.0, abs=1e-6)
    with pytest.raises(ValueError, match="finite"):
        visit.deadline(math.inf)


@pytest.mark.parametrize(
    ("utc", "day_obs"),
    [
        ("2026-11-22T00:00:00", 20261121),
        ("2026-11-22T11:59:59", 20261121),
        ("2026-11-22T12:00:00", 20261122),
        ("2026-11-22T23:59:59", 20261122),
        ("2026-11-23T00:00:01", 20261122),
        ("2026-11-23T11:59:59.9", 20261122),
        ("2027-01-01T06:00:00", 20261231),
    ],
)
def test_day_obs(utc: str, day_obs: int) -> None:
    moment = datetime.datetime.fromisoformat(utc).replace(tzinfo=datetime.UTC).timestamp()
    assert day_obs_of(moment) == day_obs
    visit = FannedOutVisit.from_dict(fanned_dict(startTime=moment + LEAP))
    assert visit.day_obs == day_obs
    assert visit.log_fields() == {
        "instrument": "SimCam",
        "day_obs": day_obs,
        "group": "2026-11-22T03:00:00.123",
        "detector": 4,
    }


def test_day_obs_is_from_utc_not_tai() -> None:
    # 12:00:10 TAI is 11:59:33 UTC: still the previous observing day.
    noon = datetime.datetime(2026, 11, 22, 12, 0, 10, tzinfo=datetime.UTC).timestamp()
    assert FannedOutVisit.from_dict(fanned_dict(startTime=noon)).day_obs == 20261121


# -- pointing ------------------------------------------------------------------------------------


def test_boresight_and_rotation(visit: FannedOutVisit) -> None:
    assert visit.boresight_icrs() == (150.123456789, -2.5)
    assert visit.sky_rotation() == 12.25
    for system in (CoordSys.NONE, CoordSys.OBSERVED, CoordSys.MOUNT):
        other = FannedOutVisit.from_dict(fanned_dict(coordinateSystem=int(system), position=[180.0, 60.0]))
        with pytest.raises(UnsupportedCoordinatesError, match=f"{system.name} coordinates, not ICRS"):
            other.boresight_icrs()
    for rotation in (RotSys.NONE, RotSys.HORIZON, RotSys.MOUNT):
        other = FannedOutVisit.from_dict(fanned_dict(rotationSystem=int(rotation)))
        with pytest.raises(UnsupportedCoordinatesError, match=f"{rotation.name} rotation, not SKY"):
            other.sky_rotation()


def test_predicted_wcs_and_footprint(visit: FannedOutVisit, simcam: Instrument) -> None:
    from lsst.sphgeom import LonLat, UnitVector3d

    wcs = visit.predicted_wcs(simcam)
    # Detector 4 is the centre of SimCam: its centre pixel is at the boresight.
    ra, dec = wcs.all_pix2world(255.5, 255.5, 0)
    assert float(ra) == pytest.approx(150.123456789, abs=0.2 / 3600)
    assert float(dec) == pytest.approx(-2.5, abs=0.2 / 3600)
    region = visit.footprint(simcam)
    padded = visit.footprint(simcam, padding_arcsec=60.0)
    assert region.contains(UnitVector3d(LonLat.fromDegrees(150.123456789, -2.5)))
    outside = UnitVector3d(LonLat.fromDegrees(150.123456789, -2.5 + (256 * 0.2 + 30) / 3600))
    assert not region.contains(outside)
    assert padded.contains(outside)


def test_prediction_needs_the_right_instrument_and_sky_coordinates(
    visit: FannedOutVisit, simcam: Instrument
) -> None:
    other = dataclasses.replace(simcam, name="OtherCam")
    with pytest.raises(InvalidVisitError, match="'instrument'"):
        visit.predicted_wcs(other)
    with pytest.raises(BadInputError, match="no detector 42"):
        dataclasses.replace(visit, detector=42).footprint(simcam)
    with pytest.raises(UnsupportedCoordinatesError):
        dataclasses.replace(visit, rotationSystem=RotSys.HORIZON).predicted_wcs(simcam)


# -- fan-out -------------------------------------------------------------------------------------


def test_fan_out_and_back() -> None:
    summit = SummitVisit.from_dict(summit_dict(private_efdStamp=0.0))
    visits = fan_out(summit, [3, 0, 3, 8])
    assert [v.detector for v in visits] == [3, 0, 8]
    assert all(isinstance(v, FannedOutVisit) for v in visits)
    assert all(v.summit_visit() == summit for v in visits)
    assert visits[0].to_dict() == {**summit.to_dict(), "detector": 3}
    assert summit.fan_out(range(2)) == fan_out(summit, [0, 1])
    assert fan_out(summit, []) == []


def test_fan_out_refuses_non_observations() -> None:
    with pytest.raises(InvalidVisitError, match="'instrument' must not be empty"):
        fan_out(SummitVisit.from_dict(summit_dict(instrument="")), [0])
    with pytest.raises(InvalidVisitError, match="'detector'"):
        fan_out(SummitVisit.from_dict(summit_dict()), [-1])
