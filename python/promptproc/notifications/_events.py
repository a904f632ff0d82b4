"""S3 bucket-notification messages: parsing them into `ObjectCreated` and building them.

The message is the S3 event-notification JSON that AWS, Ceph RGW and MinIO
all send, of which only these fields are used::

    {"Records": [{"eventName": "ObjectCreated:Put",
                  "s3": {"bucket": {"name": "rubin-raws"},
                         "object": {"key": "SimCam/20261121/SC_O_20261121_000042/..._R22_S11.fits"}}}]}

Differences between senders that matter:

- AWS and Ceph RGW write ``eventName`` as ``ObjectCreated:Put``; MinIO (and
  some RGW versions) as ``s3:ObjectCreated:Put``. Both are accepted.
- Keys are returned **as sent, not URL-decoded** (as Rubin does): Ceph RGW
  sends keys as stored, while AWS and MinIO URL-encode them (MinIO even
  ``/`` as ``%2F``); `decoded_key` gives the decoded form for callers that
  want to try it.
- AWS sends an ``s3:TestEvent`` message without ``Records`` when a
  notification is configured; it is skipped quietly.

Nothing here raises on a bad message: a malformed message or record is
logged and skipped, so one bad notification never fails a visit.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

__all__ = [
    "ObjectCreated",
    "decoded_key",
    "is_sidecar_key",
    "make_s3_event",
    "parse_s3_event",
]

_log = logging.getLogger(__name__)

_CREATED = "ObjectCreated"
_SIDECAR_SUFFIX = ".json"
_MAX_SHOWN = 200


@dataclass(frozen=True)
class ObjectCreated:
    """One object was created (or overwritten) in a bucket.

    Parameters
    ----------
    bucket : `str`
        Bucket name as the notification gives it; empty if it gave none.
    key : `str`
        Object key exactly as the notification gives it (not URL-decoded).
    """

    bucket: str
    key: str

    @property
    def is_sidecar(self) -> bool:
        """Whether the object is a JSON sidecar (``*.json``), not a raw."""
        return is_sidecar_key(self.key)


def is_sidecar_key(key: str) -> bool:
    """Whether a key names a JSON sidecar (``*.json``), which is never matched as a raw."""
    return key.endswith(_SIDECAR_SUFFIX)


def decoded_key(key: str) -> str:
    """URL-decode a notification key (``%2F`` → ``/``, ``+`` → space), as AWS and MinIO encode them."""
    return unquote_plus(key)


def _shown(payload: Any) -> str:
    text = payload if isinstance(payload, str) else repr(payload)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."


def _parse_record(record: Any, index: int) -> ObjectCreated | None:
    if not isinstance(record, Mapping):
        _log.warning("Skipping bucket notification record %d: not a JSON object: %s", index, _shown(record))
        return None
    event_name = record.get("eventName")
    if not isinstance(event_name, str):
        _log.warning("Skipping bucket notification record %d without an eventName: %s", index, _shown(record))
        return None
    name = event_name.removeprefix("s3:")
    if name != _CREATED and not name.startswith(_CREATED + ":"):
        _log.debug("Skipping bucket notification record %d for event %s", index, event_name)
        return None
    s3 = record.get("s3")
    obj = s3.get("object") if isinstance(s3, Mapping) else None
    key = obj.get("key") if isinstance(obj, Mapping) else None
    if not isinstance(key, str) or not key:
        _log.warning(
            "Skipping bucket notification record %d without s3.object.key: %s", index, _shown(record)
        )
        return None
    bucket = s3.get("bucket") if isinstance(s3, Mapping) else None
    name_of_bucket = bucket.get("name") if isinstance(bucket, Mapping) else None
    if not isinstance(name_of_bucket, str):
        _log.debug("Bucket notification record %d for %s names no bucket", index, key)
        name_of_bucket = ""
    return ObjectCreated(bucket=name_of_bucket, key=key)


def parse_s3_event(payload: str | bytes | bytearray | Mapping[str, Any] | None) -> list[ObjectCreated]:
    """Read the objects created from an S3 event-notification message.

    Parameters
    ----------
    payload : `str`, `bytes` or `~collections.abc.Mapping`
        The message: JSON text (e.g. a Kafka message value) or already decoded.

    Returns
    -------
    created : `list` [`ObjectCreated`]
        One entry per ``ObjectCreated:*`` record, in message order. Records
        of other events (``ObjectRemoved:*`` ...) are skipped; a malformed
        message or record is logged as a warning and skipped. Sidecars are
        included (see `ObjectCreated.is_sidecar`). Never raises.
    """
    if payload is None:
        _log.warning("Skipping an empty bucket notification")
        return []
    if isinstance(payload, Mapping):
        data: Any = payload
    else:
        try:
            data = json.loads(payload)
        except (ValueError, TypeError) as err:  # UnicodeDecodeError is a ValueError
            _log.warning("Skipping a bucket notification that is not JSON (%s): %s", err, _shown(payload))
            return []
    if not isinstance(data, Mapping):
        _log.warning("Skipping a bucket notification that is not a JSON object: %s", _shown(payload))
        return []
    records = data.get("Records")
    if records is None:
        if str(data.get("Event", "")).endswith("TestEvent"):
            _log.debug("Skipping an S3 test event")
        else:
            _log.warning("Skipping a bucket notification without Records: %s", _shown(payload))
        return []
    if not isinstance(records, list):
        _log.warning("Skipping a bucket notification whose Records is not a list: %s", _shown(payload))
        return []
    created = (_parse_record(record, index) for index, record in enumerate(records))
    return [event for event in created if event is not None]


def make_s3_event(
    bucket: str,
    key: str,
    event_name: str = "ObjectCreated:Put",
    *,
    size: int = 0,
    event_time: datetime.datetime | None = None,
) -> dict[str, Any]:
    """Build an S3 event-notification message for one object, as AWS and Ceph RGW send it.

    Parameters
    ----------
    bucket : `str`
        Bucket name.
    key : `str`
        Object key, written as given (not URL-encoded, as Ceph RGW sends it).
    event_name : `str`
        Event type, e.g. ``ObjectCreated:Put`` or ``ObjectRemoved:Delete``.
    size : `int`
        Object size in bytes.
    event_time : `datetime.datetime`, optional
        When the event happened; now by default.

    Returns
    -------
    message : `dict`
        ``{"Records": [record]}``; `json.dumps` it to send it.
    """
    when = event_time or datetime.datetime.now(datetime.UTC)
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "promptproc:s3",
                "awsRegion": "",
                "eventTime": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "eventName": event_name,
                "userIdentity": {"principalId": "promptproc"},
                "requestParameters": {"sourceIPAddress": ""},
                "responseElements": {},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "promptproc",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": key, "size": int(size)},
                },
            }
        ]
    }
