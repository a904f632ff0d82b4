"""Reading alerts back: from Avro files or from Kafka messages."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import BadInputError, ConfigurationError
from ._packet import decode_confluent
from ._schema import AlertPacketError, AlertSchema, load_alert_schema

__all__ = ["read_alerts"]

_CONTAINER_MAGIC = b"Obj\x01"


def read_alerts(
    source: str | os.PathLike[str] | bytes | Iterable[Any], *, schema: AlertSchema | None = None
) -> list[dict[str, Any]]:
    """Read alert packets from files or Kafka messages.

    Parameters
    ----------
    source : `str`, `os.PathLike`, `bytes` or `~collections.abc.Iterable`
        One of

        - the path of an Avro container file, or of a directory whose
          ``*.avro`` files are read in name order;
        - the bytes of a container file or of one Confluent wire-format
          message;
        - an iterable of wire-format messages: `bytes`, or
          ``confluent_kafka.Message`` objects (their ``value()`` is read).
    schema : `AlertSchema`, optional
        Schema to decode wire-format messages with, whatever their schema
        ID; by default the ID picks the version (``major * 100 + minor``)
        among those lsst-alert-packet ships.  Container files carry their
        own schema.

    Returns
    -------
    alerts : `list` [`dict`]
        The packets, in file and message order.

    Raises
    ------
    promptproc.errors.BadInputError
        If a file is missing or not Avro, or a message is not an alert.
    """
    if isinstance(source, str | os.PathLike):
        return _read_path(Path(source))
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if data.startswith(_CONTAINER_MAGIC):
            return _read_container(data, "bytes")
        return [_decode_message(data, schema)]
    alerts = []
    for item in source:
        value = item.value() if hasattr(item, "value") and callable(item.value) else item
        if value is None:
            raise AlertPacketError("a Kafka message without a value is not an alert")
        alerts.append(_decode_message(bytes(value), schema))
    return alerts


def _read_path(path: Path) -> list[dict[str, Any]]:
    if path.is_dir():
        return [alert for file in sorted(path.glob("*.avro")) for alert in _read_path(file)]
    try:
        data = path.read_bytes()
    except OSError as err:
        raise BadInputError(f"cannot read alert file {path}: {err.strerror or err}") from None
    if not data.startswith(_CONTAINER_MAGIC):
        raise BadInputError(f"{path} is not an Avro container file")
    return _read_container(data, str(path))


def _read_container(data: bytes, where: str) -> list[dict[str, Any]]:
    import io

    import fastavro

    try:
        return list(fastavro.reader(io.BytesIO(data)))  # type: ignore[arg-type]
    except (EOFError, ValueError, TypeError, KeyError, OSError) as err:
        raise BadInputError(f"damaged Avro alert file {where}: {err!r}") from None


def _decode_message(message: bytes, schema: AlertSchema | None) -> dict[str, Any]:
    schema_id, payload = decode_confluent(message)
    if schema is None:
        major, minor = divmod(schema_id, 100)
        try:
            schema = load_alert_schema((major, minor))
        except ConfigurationError:
            raise AlertPacketError(
                f"alert schema ID {schema_id} names no version lsst-alert-packet ships; pass schema="
            ) from None
    return schema.deserialize(payload)
