"""Parsing S3 event notifications as AWS, MinIO and Ceph RGW send them."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from promptproc.notifications import (
    ObjectCreated,
    decoded_key,
    is_sidecar_key,
    make_s3_event,
    parse_s3_event,
)

RAW = "SimCam/20261121/SC_O_20261121_000042/SC_O_20261121_000042_R22_S11.fits"

AWS = {
    "Records": [
        {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-west-2",
            "eventTime": "2026-11-22T03:04:05.678Z",
            "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:EXAMPLE"},
            "requestParameters": {"sourceIPAddress": "10.0.0.1"},
            "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8"},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "raws",
                "bucket": {
                    "name": "rubin-raws",
                    "ownerIdentity": {"principalId": "EXAMPLE"},
                    "arn": "arn:aws:s3:::rubin-raws",
                },
                "object": {
                    "key": "odd/red+flower.jpg",
                    "size": 1024,
                    "eTag": "d41d8cd9",
                    "sequencer": "0A1B",
                },
            },
        }
    ]
}

MINIO = {
    "EventName": "s3:ObjectCreated:Put",
    "Key": "rubin-raws/SimCam%2F20261121%2Fx.fits",
    "Records": [
        {
            "eventVersion": "2.0",
            "eventSource": "minio:s3",
            "awsRegion": "",
            "eventTime": "2026-11-22T03:04:05.678Z",
            "eventName": "s3:ObjectCreated:Put",
            "userIdentity": {"principalId": "minioadmin"},
            "requestParameters": {"principalId": "minioadmin", "region": "", "sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": "16F7", "x-minio-origin-endpoint": "http://minio:9000"},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "Config",
                "bucket": {
                    "name": "rubin-raws",
                    "ownerIdentity": {"principalId": "minioadmin"},
                    "arn": "arn:aws:s3:::rubin-raws",
                },
                "object": {
                    "key": "SimCam%2F20261121%2Fx.fits",
                    "size": 17,
                    "eTag": "5fc7",
                    "contentType": "application/fits",
                    "userMetadata": {"content-type": "application/fits"},
                    "sequencer": "16F7",
                },
            },
            "source": {"host": "127.0.0.1", "port": "", "userAgent": "MinIO (linux; amd64) minio-go/v7"},
        }
    ],
}


def ceph_record(key: str, event_name: str = "ObjectCreated:Put") -> dict[str, Any]:
    return {
        "eventVersion": "2.2",
        "eventSource": "ceph:s3",
        "awsRegion": "default",
        "eventTime": "2026-11-22T03:04:05.678901Z",
        "eventName": event_name,
        "userIdentity": {"principalId": "camera"},
        "requestParameters": {"sourceIPAddress": ""},
        "responseElements": {"x-amz-request-id": "503a4c37.5330.903595", "x-amz-id-2": "14d2-zone1"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "rubin-prompt-processing",
            "bucket": {
                "name": "rubin-raws",
                "ownerIdentity": {"principalId": "camera"},
                "arn": "arn:aws:s3:default::rubin-raws",
                "id": "503a4c37.5332.38",
            },
            "object": {
                "key": key,
                "size": "1024",
                "eTag": "37b51d19",
                "versionId": "",
                "sequencer": "F7E6D75DC742D108",
                "metadata": [],
                "tags": [],
            },
        },
        "eventId": "1575221657.102001.80dad3aad8584778352c68ea4fd8b51d",
        "opaqueData": "",
    }


def test_aws_key_is_not_url_decoded() -> None:
    assert parse_s3_event(json.dumps(AWS)) == [ObjectCreated("rubin-raws", "odd/red+flower.jpg")]
    assert decoded_key("odd/red+flower.jpg") == "odd/red flower.jpg"


def test_minio_event_name_and_encoded_key() -> None:
    [event] = parse_s3_event(json.dumps(MINIO).encode())
    assert event == ObjectCreated("rubin-raws", "SimCam%2F20261121%2Fx.fits")
    assert decoded_key(event.key) == "SimCam/20261121/x.fits"


def test_ceph_several_records_and_event_types() -> None:
    message = {
        "Records": [
            ceph_record(RAW.replace(".fits", ".json")),
            ceph_record(RAW),
            ceph_record(RAW + ".fz", "ObjectCreated:CompleteMultipartUpload"),
            ceph_record("other", "ObjectRemoved:Delete"),
            ceph_record("copied", "s3:ObjectCreated:Copy"),
        ]
    }
    events = parse_s3_event(json.dumps(message))
    assert [event.key for event in events] == [RAW.replace(".fits", ".json"), RAW, RAW + ".fz", "copied"]
    assert {event.bucket for event in events} == {"rubin-raws"}
    assert [event.is_sidecar for event in events] == [True, False, False, False]


@pytest.mark.parametrize(
    "event_name",
    ["ObjectRemoved:Delete", "s3:ObjectAccessed:Get", "ObjectCreatedSoon", "ObjectRestore:Post", "Created"],
)
def test_other_event_types_are_skipped(event_name: str) -> None:
    assert parse_s3_event({"Records": [ceph_record(RAW, event_name)]}) == []


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b"\xff\xfe\x00",
        "",
        "null",
        "[]",
        '"Records"',
        "{}",
        None,
        {"Records": "nope"},
        {"Records": {"0": {}}},
        {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "rubin-raws"},
    ],
)
def test_malformed_messages_are_skipped(payload: Any) -> None:
    assert parse_s3_event(payload) == []


def test_malformed_records_are_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    good = ceph_record(RAW)
    no_key = ceph_record(RAW)
    del no_key["s3"]["object"]["key"]
    empty_key = ceph_record("")
    numeric_key = ceph_record(RAW)
    numeric_key["s3"]["object"]["key"] = 42
    no_name = ceph_record(RAW)
    del no_name["eventName"]
    records = [1, "x", None, {}, {"eventName": 5}, {"eventName": "ObjectCreated:Put"}]
    records += [{"eventName": "ObjectCreated:Put", "s3": []}, no_key, empty_key, numeric_key, no_name, good]
    with caplog.at_level(logging.WARNING, logger="promptproc.notifications"):
        assert parse_s3_event({"Records": records}) == [ObjectCreated("rubin-raws", RAW)]
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == len(records) - 1


def test_missing_bucket_name_is_tolerated() -> None:
    record = ceph_record(RAW)
    del record["s3"]["bucket"]
    assert parse_s3_event({"Records": [record]}) == [ObjectCreated("", RAW)]


def test_never_raises_on_junk() -> None:
    junk: list[Any] = [0, 1.5, [], [[]], {"Records": [[]]}, {"Records": [{"s3": None, "eventName": None}]}]
    junk += [{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": None, "bucket": 3}}]}]
    junk += [{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "k"}, "bucket": 3}}]}]
    results = [parse_s3_event(json.dumps(item)) for item in junk]
    assert results[-1] == [ObjectCreated("", "k")]
    assert all(result == [] for result in results[:-1])


def test_make_s3_event_round_trip() -> None:
    message = make_s3_event("rubin-raws", RAW, size=7)
    assert parse_s3_event(json.dumps(message)) == [ObjectCreated("rubin-raws", RAW)]
    assert message["Records"][0]["s3"]["object"]["size"] == 7
    removed = make_s3_event("rubin-raws", RAW, "ObjectRemoved:Delete")
    assert parse_s3_event(removed) == []


def test_is_sidecar_key() -> None:
    assert is_sidecar_key(RAW.replace(".fits", ".json"))
    assert not is_sidecar_key(RAW)
