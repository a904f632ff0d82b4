"""Alert packets: official schema, validation, cutouts, deterministic IDs, wire format."""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import CCDData
from lsst.alert.packet import Schema, get_latest_schema_version

from promptproc.alerts import (
    AlertPacketError,
    CutoutMaker,
    build_alerts,
    decode_confluent,
    encode_confluent,
    load_alert_schema,
    read_alerts,
)
from promptproc.errors import ConfigurationError
from promptproc.tasks import alerts as alerts_task

VISIT = 2026112200042


def _run(inputs: Any, **kwargs: Any) -> alerts_task.AlertsResult:
    return alerts_task.run(
        inputs.result.dia_sources,
        inputs.result.dia_objects,
        difference=inputs.difference,
        science=inputs.science,
        template=inputs.template,
        history=inputs.history,
        **kwargs,
    )


def test_latest_official_schema_is_used() -> None:
    schema = load_alert_schema()
    assert schema.version == get_latest_schema_version()
    assert schema.schema_id == Schema.from_uri().get_schema_id()
    assert schema.definition == Schema.from_uri().definition
    top = {"diaSourceId", "diaSource", "diaObject", "prvDiaSources", "cutoutDifference"}
    assert top <= set(schema.top_fields)
    assert {f.name for f in schema.records["diaSource"]} >= {"diaSourceId", "ra", "dec", "psfFlux", "band"}
    assert load_alert_schema("11.0").version == (11, 0)
    with pytest.raises(ConfigurationError, match=r"no alert schema version 99\.0"):
        load_alert_schema((99, 0))
    with pytest.raises(ConfigurationError, match=r"MAJOR\.MINOR"):
        load_alert_schema("latest")


def test_one_valid_packet_per_source(inputs: Any) -> None:
    result = _run(inputs, observation_reason="wfd", target_name="field 7")
    packets = result.alerts
    sources = inputs.result.dia_sources
    assert result.n_alerts == len(sources) == 5
    ids = [p["diaSourceId"] for p in packets]
    assert ids == sources["diaSourceId"].tolist()
    assert len(set(ids)) == len(ids)
    official = Schema.from_uri()
    for packet in packets:
        assert official.validate(packet)
        assert packet["diaSource"]["diaSourceId"] == packet["diaSourceId"]
        assert packet["diaObject"]["diaObjectId"] == packet["diaSource"]["diaObjectId"]
        assert packet["observation_reason"] == "wfd"
        assert packet["prvDiaForcedSources"] is None

    matched, second, dipole = packets[0], packets[1], packets[2]
    # History is sorted by time and never holds the triggering source.
    assert [s["midpointMjdTai"] for s in matched["prvDiaSources"]] == sorted(
        s["midpointMjdTai"] for s in matched["prvDiaSources"]
    )
    assert len(matched["prvDiaSources"]) == 2
    assert len(second["prvDiaSources"]) == 1
    assert dipole["prvDiaSources"] == []  # a new object: history looked up, none found
    assert dipole["diaSource"]["isDipole"] is True
    assert dipole["diaObject"]["nDiaSources"] == 1
    assert matched["diaObject"]["nDiaSources"] == 3
    # Nulls of the APDB rows are Avro nulls, not NaN.
    assert matched["diaSource"]["raErr"] is None
    assert matched["diaObject"]["g_psfFluxMean"] is None
    assert matched["diaObject"]["g_psfFluxNdata"] == 0


def test_cutouts_are_calibrated_fits_with_wcs(inputs: Any) -> None:
    packets = _run(inputs).alerts
    source = packets[1]["diaSource"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hdus = fits.open(io.BytesIO(packets[1]["cutoutScience"]))
        hdus.verify("exception")
    assert [h.name for h in hdus] == ["PRIMARY", "UNCERT", "MASK", "PSFIMAGE"]
    science = CCDData.read(io.BytesIO(packets[1]["cutoutScience"]))
    assert str(science.unit) == "nJy"
    assert science.shape == (40, 40)  # bboxSize 40 within [30, 102]
    centre = science.wcs.pixel_to_world(20, 20)
    assert centre.ra.deg == pytest.approx(source["ra"], abs=1e-7)
    assert centre.dec.deg == pytest.approx(source["dec"], abs=1e-7)
    x0, y0 = hdus[0].header["CUTMINX"], hdus[0].header["CUTMINY"]
    np.testing.assert_allclose(
        science.data, inputs.science.image[y0 : y0 + 40, x0 : x0 + 40] * 2.0, rtol=1e-6
    )
    np.testing.assert_allclose(science.uncertainty.array, 25.0 * 4.0)
    assert hdus[0].header["DIASRCID"] == source["diaSourceId"]

    template = CCDData.read(io.BytesIO(packets[1]["cutoutTemplate"]))
    assert np.nanmean(template.data) == pytest.approx(150.0, rel=0.02)  # 100 counts x 1.5 nJy
    sizes = [CCDData.read(io.BytesIO(p["cutoutDifference"])).shape for p in packets]
    assert sizes == [(30, 30), (40, 40), (30, 30), (30, 30), (102, 102)]
    edge = CCDData.read(io.BytesIO(packets[3]["cutoutDifference"]))
    assert np.isnan(edge.data).any()
    assert edge.mask.any()


def test_rerun_gives_identical_packets(make_alert_inputs: Any) -> None:
    first = _run(make_alert_inputs()).alerts
    second = _run(make_alert_inputs()).alerts
    assert [p["diaSourceId"] for p in first] == [p["diaSourceId"] for p in second]
    schema = load_alert_schema()
    assert [schema.serialize(p) for p in first] == [schema.serialize(p) for p in second]


def test_without_template_or_history(inputs: Any) -> None:
    packets = alerts_task.run(
        inputs.result.dia_sources, inputs.result.dia_objects, difference=inputs.difference
    ).alerts
    assert all(p["cutoutTemplate"] is None and p["cutoutScience"] is None for p in packets)
    assert all(p["cutoutDifference"] is not None for p in packets)
    assert all(p["prvDiaSources"] is None for p in packets)
    assert CutoutMaker(inputs.difference)({"x": -3.0, "y": 5.0}) == (None, None, None)


def test_serialisation_and_wire_format_round_trip(inputs: Any) -> None:
    schema = load_alert_schema()
    packets = _run(inputs).alerts
    for packet in packets:
        message = encode_confluent(packet, schema)
        assert message[0] == 0
        assert int.from_bytes(message[1:5], "big") == schema.schema_id == 1101
        schema_id, payload = decode_confluent(message)
        assert schema_id == schema.schema_id
        assert schema.deserialize(payload) == packet
        assert read_alerts(message) == [packet]
    assert decode_confluent(encode_confluent(packets[0], schema, schema_id=42))[0] == 42
    assert read_alerts([encode_confluent(packets[0], schema, 42)], schema=schema) == [packets[0]]
    with pytest.raises(AlertPacketError, match="names no version"):
        read_alerts([encode_confluent(packets[0], schema, 42)])
    with pytest.raises(AlertPacketError, match="wire format"):
        decode_confluent(b"\x01abc")


def test_bad_rows_are_clear_errors(inputs: Any) -> None:
    schema = load_alert_schema()
    sources = inputs.result.dia_sources
    objects = inputs.result.dia_objects
    with pytest.raises(AlertPacketError, match="required field midpointMjdTai"):
        build_alerts(sources.drop(columns="midpointMjdTai"), objects, schema)
    broken = sources.copy()
    broken["psfNdata"] = broken["psfNdata"].astype("Int64")
    broken.loc[0, "psfNdata"] = None
    with pytest.raises(AlertPacketError, match="psfNdata is required but 1 rows are null"):
        build_alerts(broken, objects, schema)
    packet = build_alerts(sources.iloc[:1], objects, schema)[0]
    packet["diaSource"]["ra"] = "far away"
    with pytest.raises(AlertPacketError, match=r"does not follow lsst\.v11_1\.alert"):
        schema.validate(packet)
    config = alerts_task.AlertsConfig()
    config.min_cutout_size = 200
    config.max_cutout_size = 100
    with pytest.raises(ConfigurationError, match="min_cutout_size"):
        _run(inputs, config=config)
