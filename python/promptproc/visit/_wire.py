"""Unwrapping visit payloads from their transports: JSON, CloudEvents, Redis, Kafka.

Every function here returns the visit's fields as a mapping (or raises
`InvalidVisitError` saying why there is none); checking the fields is the
visit classes' job.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cloudevents.abstract import CloudEvent as AbstractCloudEvent
from cloudevents.exceptions import GenericException as CloudEventError
from cloudevents.http import CloudEvent, from_http, from_json

from ._errors import InvalidVisitError
from ._fields import show

__all__ = [
    "cloudevent_payload",
    "http_payload",
    "json_payload",
    "kafka_payload",
    "make_cloudevent",
    "redis_payload",
]

_MESSAGE_LENGTH = 200


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= _MESSAGE_LENGTH else line[: _MESSAGE_LENGTH - 3] + "..."


def _decode(data: bytes | bytearray | memoryview | str, what: str) -> str:
    if isinstance(data, str):
        return data
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidVisitError(f"{what} is not UTF-8 text: {err.reason} at byte {err.start}") from None


def _object(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidVisitError(f"{what} must be a JSON object, not {type(data).__name__} {show(data)}")
    return data


def json_payload(text: str | bytes | bytearray | memoryview, what: str = "visit") -> Mapping[str, Any]:
    """Decode a JSON object.

    Parameters
    ----------
    text : `str` or `bytes`
        UTF-8 JSON text.
    what : `str`
        What the text is, for messages.

    Returns
    -------
    fields : `~collections.abc.Mapping`
        The decoded object.

    Raises
    ------
    InvalidVisitError
        Raised if the text is not a JSON object.
    """
    decoded = _decode(text, what)
    if not decoded.strip():
        raise InvalidVisitError(f"{what} is empty")
    try:
        data = json.loads(decoded)
    except json.JSONDecodeError as err:
        where = f"line {err.lineno} column {err.colno}"
        raise InvalidVisitError(f"{what} is not JSON: {err.msg} at {where}") from None
    return _object(data, what)


def cloudevent_payload(event: AbstractCloudEvent) -> Mapping[str, Any]:
    """Return the visit carried by a CloudEvent.

    Parameters
    ----------
    event : `cloudevents.abstract.CloudEvent`
        The event, from binary or structured mode. Its data may be a JSON
        object, a JSON *string* holding an object (as Rubin's fan-out sends),
        or bytes of either.

    Returns
    -------
    fields : `~collections.abc.Mapping`
        The visit's fields.

    Raises
    ------
    InvalidVisitError
        Raised if the event carries no JSON object.
    """
    data = event.get_data()
    if data is None or (isinstance(data, str | bytes | bytearray) and not data):
        raise InvalidVisitError("the CloudEvent has no data")
    if isinstance(data, bytes | bytearray | memoryview | str):
        return json_payload(data, "the CloudEvent data")
    return _object(data, "the CloudEvent data")


def http_payload(headers: Any, body: bytes | str | None) -> Mapping[str, Any]:
    """Return the visit carried by an HTTP request holding a CloudEvent.

    Parameters
    ----------
    headers : mapping of `str` to `str`
        The request headers (a `dict`, or the web framework's multi-dict).
        Binary mode carries the event attributes as ``ce-*`` headers;
        structured mode has ``Content-Type: application/cloudevents+json``.
    body : `bytes` or `str` or `None`
        The request body.

    Returns
    -------
    fields : `~collections.abc.Mapping`
        The visit's fields.

    Raises
    ------
    InvalidVisitError
        Raised if the request is not a CloudEvent or carries no JSON object.
    """
    if body is None or not body:
        raise InvalidVisitError("the request has no body (expected a CloudEvent carrying a visit)")
    try:
        event = from_http(headers, body)
    except CloudEventError as err:
        raise InvalidVisitError(f"the request is not a valid CloudEvent: {_one_line(str(err))}") from None
    return cloudevent_payload(event)


def redis_payload(fields: Mapping[Any, Any]) -> dict[str, Any]:
    """Decode the fields of a Redis stream entry.

    Parameters
    ----------
    fields : mapping of `bytes` or `str` to `bytes` or `str`
        The entry, as redis-py returns it (bytes unless the client decodes
        responses).

    Returns
    -------
    fields : `dict` [`str`, `str`]
        Field names and values as text.

    Raises
    ------
    InvalidVisitError
        Raised if a name or value is not UTF-8, or the entry is not a mapping.
    """
    if not isinstance(fields, Mapping):
        raise InvalidVisitError(f"a Redis stream entry must be a mapping, not {type(fields).__name__}")
    decoded: dict[str, Any] = {}
    for key, value in fields.items():
        name = _decode(key, "a Redis field name") if isinstance(key, bytes | bytearray | str) else str(key)
        if isinstance(value, bytes | bytearray | memoryview):
            try:
                value = bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidVisitError(f"invalid visit: field {name!r} is not UTF-8 text", [name]) from None
        decoded[name] = value
    return decoded


def kafka_payload(value: bytes | str | None) -> Mapping[str, Any]:
    """Decode the value of a Kafka message carrying a visit.

    Parameters
    ----------
    value : `bytes` or `str` or `None`
        The message value: a JSON object with the visit's fields, or a
        structured-mode CloudEvent (``specversion`` and ``data`` keys), as a
        Knative KafkaSink writes them.

    Returns
    -------
    fields : `~collections.abc.Mapping`
        The visit's fields.

    Raises
    ------
    InvalidVisitError
        Raised if the value is empty or not a JSON object.
    """
    if value is None or not value:
        raise InvalidVisitError("the Kafka message has no value")
    data = json_payload(value, "the Kafka message value")
    if "specversion" in data and ("data" in data or "data_base64" in data):
        try:
            event = from_json(_decode(value, "the Kafka message value"))
        except CloudEventError as err:
            reason = _one_line(str(err))
            raise InvalidVisitError(f"the Kafka message is not a valid CloudEvent: {reason}") from None
        return cloudevent_payload(event)
    return data


def make_cloudevent(
    fields: Mapping[str, Any], *, source: str, event_type: str, data_as_string: bool
) -> CloudEvent:
    """Wrap a visit's fields in a CloudEvent.

    Parameters
    ----------
    fields : `~collections.abc.Mapping`
        JSON-compatible visit fields.
    source : `str`
        The ``source`` attribute (e.g. the next-visit topic).
    event_type : `str`
        The ``type`` attribute.
    data_as_string : `bool`
        Whether ``data`` is the JSON text of the fields (as Rubin's fan-out
        sends it) instead of the object itself.

    Returns
    -------
    event : `cloudevents.http.CloudEvent`
        The event, with ``datacontenttype`` ``application/json``; a fresh
        ``id`` and the current ``time`` are set by the SDK.
    """
    attributes = {"type": event_type, "source": source, "datacontenttype": "application/json"}
    data: Any = json.dumps(dict(fields), allow_nan=False) if data_as_string else dict(fields)
    return CloudEvent(attributes, data)
