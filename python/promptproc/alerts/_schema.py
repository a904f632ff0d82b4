"""The official Rubin alert schema, as shipped in lsst-alert-packet."""

from __future__ import annotations

import dataclasses
import functools
import io
from typing import Any

from ..errors import BadInputError, ConfigurationError

__all__ = ["AlertPacketError", "AlertSchema", "FieldSpec", "load_alert_schema"]

_RECORDS = ("diaSource", "diaObject", "diaForcedSource")


class AlertPacketError(BadInputError):
    """An alert packet does not follow its schema."""


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """One field of an alert record.

    Attributes
    ----------
    name : `str`
        Field name.
    kind : `str`
        Avro primitive type: ``long``, ``int``, ``float``, ``double``,
        ``boolean``, ``string`` or ``bytes``.
    nullable : `bool`
        Whether the field is a union with ``null``.
    """

    name: str
    kind: str
    nullable: bool


@dataclasses.dataclass(frozen=True, eq=False)
class AlertSchema:
    """An alert schema version with what packet building needs from it.

    Attributes
    ----------
    version : `tuple` [`int`, `int`]
        ``(major, minor)``, e.g. ``(11, 1)``.
    definition : `dict`
        The resolved Avro schema (``lsst.alert.packet.Schema.definition``).
    parsed : `typing.Any`
        The same, parsed by fastavro (parsed once, reused for every packet).
    schema_id : `int`
        ID of this schema in Rubin's Confluent schema registry convention
        (``major * 100 + minor``, as ``lsst.alert.packet.Schema.get_schema_id``).
    top_fields : `tuple` [`str`, ...]
        Names of the alert record's fields.
    records : `dict` [`str`, `tuple` [`FieldSpec`, ...]]
        Fields of the ``diaSource``, ``diaObject`` and ``diaForcedSource``
        records.
    """

    version: tuple[int, int]
    definition: dict[str, Any]
    parsed: Any
    schema_id: int
    top_fields: tuple[str, ...]
    records: dict[str, tuple[FieldSpec, ...]]

    @property
    def name(self) -> str:
        """Full name of the alert record, e.g. ``lsst.v11_1.alert``."""
        return str(self.definition["name"])

    def validate(self, alert: dict[str, Any]) -> None:
        """Check one packet against the schema.

        Parameters
        ----------
        alert : `dict`
            An alert packet.

        Raises
        ------
        AlertPacketError
            If it does not follow the schema; the message names the field.
        """
        from fastavro.validation import ValidationError, validate

        if validate(alert, self.parsed, raise_errors=False):
            return
        try:
            validate(alert, self.parsed, raise_errors=True)
        except ValidationError as err:
            details = "; ".join(str(e) for e in err.errors[:3]) if err.errors else str(err)
            raise AlertPacketError(
                f"alert {alert.get('diaSourceId')} does not follow {self.name}: {details}"
            ) from None
        raise AlertPacketError(f"alert {alert.get('diaSourceId')} does not follow {self.name}")

    def serialize(self, alert: dict[str, Any]) -> bytes:
        """Encode one packet as schemaless Avro (no header, no schema).

        Parameters
        ----------
        alert : `dict`
            An alert packet.

        Returns
        -------
        data : `bytes`
            The Avro binary encoding.
        """
        import fastavro

        buffer = io.BytesIO()
        try:
            fastavro.schemaless_writer(buffer, self.parsed, alert)
        except (TypeError, ValueError, AttributeError, KeyError) as err:
            raise AlertPacketError(f"alert {alert.get('diaSourceId')} cannot be encoded: {err}") from None
        return buffer.getvalue()

    def deserialize(self, data: bytes) -> dict[str, Any]:
        """Decode one schemaless Avro packet written with this schema.

        Parameters
        ----------
        data : `bytes`
            The Avro binary encoding.

        Returns
        -------
        alert : `dict`
            The packet.
        """
        import fastavro

        try:
            return fastavro.schemaless_reader(io.BytesIO(data), self.parsed)  # type: ignore[return-value]
        except (EOFError, ValueError, TypeError, IndexError, UnicodeDecodeError) as err:
            raise AlertPacketError(f"not a {self.name} packet: {err!r}") from None


def load_alert_schema(version: tuple[int, int] | str | None = None) -> AlertSchema:
    """Load an alert schema shipped in lsst-alert-packet.

    Parameters
    ----------
    version : `tuple` [`int`, `int`] or `str`, optional
        ``(major, minor)`` or ``"major.minor"``; the package's latest
        (``lsst.alert.packet.get_latest_schema_version``) if not given.

    Returns
    -------
    schema : `AlertSchema`
        The schema; loaded once per version and process.

    Raises
    ------
    promptproc.errors.ConfigurationError
        If the installed package does not ship that version.
    """
    from lsst.alert.packet import get_latest_schema_version

    if version is None:
        major, minor = get_latest_schema_version()
    elif isinstance(version, str):
        try:
            major, minor = (int(part) for part in version.split("."))
        except ValueError:
            raise ConfigurationError(f"alert schema version {version!r} is not MAJOR.MINOR") from None
    else:
        major, minor = (int(part) for part in version)
    return _load(major, minor)


@functools.lru_cache(maxsize=4)
def _load(major: int, minor: int) -> AlertSchema:
    import fastavro
    from lsst.alert.packet import Schema, get_schema_uri

    uri = get_schema_uri(major, minor).join(f"lsst.v{major}_{minor}.alert.avsc")
    if not uri.exists():
        raise ConfigurationError(f"lsst-alert-packet has no alert schema version {major}.{minor}")
    schema = Schema.from_uri(uri)
    definition = schema.definition
    records: dict[str, tuple[FieldSpec, ...]] = {}
    _collect_records(definition, records)
    missing = [name for name in ("diaSource", "diaObject") if name not in records]
    if missing:
        raise ConfigurationError(f"alert schema {major}.{minor} has no {', '.join(missing)} record")
    return AlertSchema(
        version=(major, minor),
        definition=definition,
        parsed=fastavro.parse_schema(definition),
        schema_id=int(schema.get_schema_id()),
        top_fields=tuple(field["name"] for field in definition["fields"]),
        records=records,
    )


def _collect_records(node: Any, out: dict[str, tuple[FieldSpec, ...]]) -> None:
    """Find the named DIA records anywhere in a resolved definition."""
    if isinstance(node, list):
        for item in node:
            _collect_records(item, out)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "record":
        short = str(node["name"]).rsplit(".", 1)[-1]
        if short in _RECORDS and short not in out:
            out[short] = tuple(_field_spec(field) for field in node["fields"])
        for field in node.get("fields", ()):
            _collect_records(field["type"], out)
    elif node.get("type") == "array":
        _collect_records(node.get("items"), out)


def _field_spec(field: dict[str, Any]) -> FieldSpec:
    kind = field["type"]
    nullable = False
    if isinstance(kind, list):
        nullable = "null" in kind
        others = [k for k in kind if k != "null"]
        kind = others[0] if len(others) == 1 else others
    if isinstance(kind, dict):
        kind = kind.get("logicalType", kind.get("type"))
    if not isinstance(kind, str):
        raise ConfigurationError(f"alert field {field['name']} has an unsupported type {field['type']!r}")
    return FieldSpec(field["name"], kind, nullable)
