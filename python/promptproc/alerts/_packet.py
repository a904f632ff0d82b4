"""Alert packets: one Avro record per DiaSource, in the official schema.

A packet holds the triggering DiaSource, its DiaObject, the object's earlier
DiaSources (``prvDiaSources``) and FITS cutouts of the difference, science
and template images.  Rows are turned into records column by column: every
field of the schema record is filled from the column of the same name; a
null (``None``, ``NA`` or NaN) becomes Avro ``null`` in a nullable field; a
column missing from the rows leaves a nullable field ``null``.  The packet's
``diaSourceId`` is its alert ID (`promptproc.ids.alert_id`) and the Kafka
message key.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from ._schema import AlertPacketError, AlertSchema, FieldSpec

__all__ = [
    "CONFLUENT_MAGIC",
    "CutoutFunction",
    "build_alerts",
    "decode_confluent",
    "encode_confluent",
    "records_from_frame",
]

_LOG = logging.getLogger(__name__)

CONFLUENT_MAGIC = 0
"""First byte of a Confluent wire-format message."""

_WIRE_HEADER = struct.Struct(">bI")

CutoutFunction = Callable[[dict[str, Any]], tuple[bytes | None, bytes | None, bytes | None]]
"""Makes ``(difference, science, template)`` cutouts for a DiaSource record."""

_INTEGER_KINDS = ("long", "int")
_FLOAT_KINDS = ("float", "double")


def records_from_frame(frame: pd.DataFrame, fields: Iterable[FieldSpec], what: str) -> list[dict[str, Any]]:
    """Turn table rows into Avro records of one record type.

    Parameters
    ----------
    frame : `pandas.DataFrame`
        The rows (APDB-schema columns).
    fields : `~collections.abc.Iterable` [`FieldSpec`]
        The record's fields, from `AlertSchema.records`.
    what : `str`
        The record type, for messages.

    Returns
    -------
    records : `list` [`dict`]
        One record per row, with plain Python values.

    Raises
    ------
    AlertPacketError
        If a required field has no column or has nulls.
    """
    n_rows = len(frame)
    names = []
    columns = []
    for spec in fields:
        names.append(spec.name)
        columns.append(_column(frame, spec, n_rows, what))
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)] if names else []


def build_alerts(
    dia_sources: pd.DataFrame,
    dia_objects: pd.DataFrame,
    schema: AlertSchema,
    *,
    history: pd.DataFrame | None = None,
    cutouts: CutoutFunction | None = None,
    observation_reason: str | None = None,
    target_name: str | None = None,
    validate: bool = True,
) -> list[dict[str, Any]]:
    """Build one alert packet per DiaSource.

    Parameters
    ----------
    dia_sources : `pandas.DataFrame`
        APDB DiaSource rows of this detector-visit, with ``diaObjectId``.
    dia_objects : `pandas.DataFrame`
        APDB DiaObject rows, at least those the sources belong to.
    schema : `AlertSchema`
        The alert schema.
    history : `pandas.DataFrame`, optional
        Earlier DiaSource rows of the objects (from
        `promptproc.apdb.load_dia_source_history`).  Given, each packet's
        ``prvDiaSources`` lists its object's earlier sources by time (empty
        when there are none); not given, ``prvDiaSources`` is null.
    cutouts : `CutoutFunction`, optional
        Makes the three cutouts of a DiaSource record; null cutouts without.
    observation_reason, target_name : `str`, optional
        Scheduler reason and target of the visit (RTN-097).
    validate : `bool`, optional
        Check every packet against the schema.

    Returns
    -------
    alerts : `list` [`dict`]
        Packets in the order of ``dia_sources``.

    Raises
    ------
    AlertPacketError
        If rows cannot fill the schema or a packet does not validate.
    """
    source_records = records_from_frame(dia_sources, schema.records["diaSource"], "diaSource")
    object_ids = pd.to_numeric(dia_objects["diaObjectId"]).to_numpy(np.int64) if len(dia_objects) else []
    object_records = dict(
        zip(
            (int(i) for i in object_ids),
            records_from_frame(dia_objects, schema.records["diaObject"], "diaObject"),
            strict=True,
        )
    )
    previous = _history_by_object(history, schema, {r["diaSourceId"] for r in source_records})
    alerts = []
    for record in source_records:
        object_id = record.get("diaObjectId")
        dia_object = object_records.get(object_id) if object_id is not None else None
        if dia_object is None:
            _LOG.warning("DiaSource %d has no DiaObject row; its alert has none", record["diaSourceId"])
        difference, science, template = cutouts(record) if cutouts is not None else (None, None, None)
        values = {
            "diaSourceId": record["diaSourceId"],
            "observation_reason": observation_reason,
            "target_name": target_name,
            "diaSource": record,
            "prvDiaSources": None if previous is None else previous.get(object_id, []),
            "prvDiaForcedSources": None,
            "diaObject": dia_object,
            "cutoutDifference": difference,
            "cutoutScience": science,
            "cutoutTemplate": template,
        }
        alert = {name: values.get(name) for name in schema.top_fields}
        if validate:
            schema.validate(alert)
        alerts.append(alert)
    return alerts


def encode_confluent(alert: dict[str, Any], schema: AlertSchema, schema_id: int | None = None) -> bytes:
    """Serialise a packet in the Confluent wire format.

    Parameters
    ----------
    alert : `dict`
        The packet.
    schema : `AlertSchema`
        Its schema.
    schema_id : `int`, optional
        Registry ID to write; ``schema.schema_id`` if not given.

    Returns
    -------
    message : `bytes`
        Magic byte 0, the 4-byte big-endian schema ID, then schemaless Avro.
    """
    header = _WIRE_HEADER.pack(CONFLUENT_MAGIC, schema.schema_id if schema_id is None else schema_id)
    return header + schema.serialize(alert)


def decode_confluent(message: bytes) -> tuple[int, bytes]:
    """Split a Confluent wire-format message.

    Parameters
    ----------
    message : `bytes`
        The message value.

    Returns
    -------
    schema_id : `int`
        The schema ID in the header.
    payload : `bytes`
        The schemaless Avro that follows.

    Raises
    ------
    AlertPacketError
        If the message is too short or does not start with the magic byte.
    """
    if len(message) < _WIRE_HEADER.size or message[0] != CONFLUENT_MAGIC:
        raise AlertPacketError("message is not in the Confluent wire format (magic byte 0 + schema ID)")
    _, schema_id = _WIRE_HEADER.unpack_from(message)
    return int(schema_id), bytes(message[_WIRE_HEADER.size :])


def _history_by_object(
    history: pd.DataFrame | None, schema: AlertSchema, current: set[int]
) -> dict[int, list[dict[str, Any]]] | None:
    if history is None:
        return None
    out: dict[int, list[dict[str, Any]]] = {}
    if len(history) == 0:
        return out
    rows = history[history["diaObjectId"].notna()]
    rows = rows[~rows["diaSourceId"].isin(current)].drop_duplicates("diaSourceId")
    rows = rows.sort_values(["diaObjectId", "midpointMjdTai", "diaSourceId"], kind="stable")
    records = records_from_frame(rows, schema.records["diaSource"], "prvDiaSources")
    for object_id, record in zip(rows["diaObjectId"].to_numpy(np.int64).tolist(), records, strict=True):
        out.setdefault(object_id, []).append(record)
    return out


def _column(frame: pd.DataFrame, spec: FieldSpec, n_rows: int, what: str) -> list[Any]:
    """One record field for every row, as plain Python values."""
    if spec.name not in frame.columns:
        if spec.nullable or n_rows == 0:
            return [None] * n_rows
        raise AlertPacketError(f"{what} rows have no column for the required field {spec.name}")
    series = frame[spec.name]
    nulls = series.isna().to_numpy()
    if nulls.any() and not spec.nullable:
        raise AlertPacketError(f"{what} field {spec.name} is required but {int(nulls.sum())} rows are null")
    try:
        if spec.kind in _FLOAT_KINDS:
            values = series.to_numpy(dtype=float, na_value=np.nan).tolist()
            if not spec.nullable:
                return values
        elif spec.kind in _INTEGER_KINDS:
            values = series.to_numpy(dtype=np.int64, na_value=0).tolist()
        elif spec.kind == "boolean":
            values = series.to_numpy(dtype=bool, na_value=False).tolist()
        elif spec.kind == "string":
            values = [str(v) for v in series.to_numpy(dtype=object)]
        elif spec.kind == "bytes":
            values = [bytes(v) if v is not None and not nulls[k] else None for k, v in enumerate(series)]
        else:
            raise AlertPacketError(f"{what} field {spec.name} has unsupported type {spec.kind}")
    except (TypeError, ValueError) as err:
        raise AlertPacketError(f"{what} field {spec.name} cannot be {spec.kind}: {err}") from None
    if nulls.any():
        return [None if null else value for value, null in zip(values, nulls.tolist(), strict=True)]
    return values
