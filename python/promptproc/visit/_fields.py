"""Checking and converting the fields of a visit, one field at a time.

Each field has a `FieldSpec` that turns a value into the field's Python type
or says, in a few words, what is wrong with it.  Two kinds of input are
understood:

- *native* values, as JSON decoding gives them (``int``, ``float``, ``str``,
  ``list``), where a value of the wrong type is an error;
- *text* values, as a Redis stream holds them, where every value is a string
  to be parsed (``"2"``, ``"1.5"``, ``"[10.0, -5.0]"``).

The callers combine the reasons into one `InvalidVisitError` naming every
offending field.
"""

from __future__ import annotations

import enum
import math
import numbers
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._enums import CoordSys, Dome, RotSys

__all__ = ["BASE_FIELDS", "DETECTOR_FIELD", "FieldSpec", "FieldValueError", "show"]

_SHOWN_LENGTH = 40
# What redis-py stores for an IntEnum member (it encodes numbers with repr()).
_ENUM_REPR = re.compile(r"<(?:\w+\.)?(?P<name>\w+): (?P<value>-?\d+)>")


class FieldValueError(ValueError):
    """Why a value does not fit a field, as the end of "field 'x' ..."."""


def show(value: Any) -> str:
    """Shorten ``repr(value)`` to fit in a one-line message.

    Parameters
    ----------
    value : `object`
        Any value, possibly long or containing line breaks.

    Returns
    -------
    text : `str`
        The repr, cut to about 40 characters; never contains a line break.
    """
    text = repr(value)
    if len(text) > _SHOWN_LENGTH:
        text = text[: _SHOWN_LENGTH - 3] + "..."
    return text


def _to_int(value: Any, minimum: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise FieldValueError(f"must be an integer, not {show(value)}")
    if isinstance(value, numbers.Integral):
        result = int(value)
    elif math.isfinite(float(value)) and float(value).is_integer():
        result = int(float(value))
    else:
        raise FieldValueError(f"must be an integer, not {show(value)}")
    if minimum is not None and result < minimum:
        raise FieldValueError(f"must be at least {minimum}, not {result}")
    return result


def _to_float(value: Any, minimum: float | None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise FieldValueError(f"must be a number, not {show(value)}")
    result = float(value)
    if not math.isfinite(result):
        raise FieldValueError(f"must be a finite number, not {result!r}")
    if minimum is not None and result < minimum:
        raise FieldValueError(f"must be at least {minimum:g}, not {result!r}")
    return result


def _to_str(value: Any) -> str:
    if not isinstance(value, str):
        raise FieldValueError(f"must be a string, not {show(value)}")
    return value


def _enum_choices(enum_type: type[enum.IntEnum]) -> str:
    return ", ".join(f"{member.value} ({member.name})" for member in enum_type)


def _to_enum(enum_type: type[enum.IntEnum], value: Any) -> enum.IntEnum:
    if isinstance(value, enum_type):
        return value
    if isinstance(value, str):
        member = enum_type.__members__.get(value.strip().upper())
        if member is None:
            raise FieldValueError(f"must be one of {_enum_choices(enum_type)}, not {show(value)}")
        return member
    try:
        number = _to_int(value, None)
    except FieldValueError:
        raise FieldValueError(f"must be one of {_enum_choices(enum_type)}, not {show(value)}") from None
    try:
        return enum_type(number)
    except ValueError:
        raise FieldValueError(f"must be one of {_enum_choices(enum_type)}, not {number}") from None


def _to_position(value: Any) -> tuple[float, float]:
    if isinstance(value, str | bytes | bytearray | Mapping) or not hasattr(value, "__iter__"):
        raise FieldValueError(f"must be a list of two numbers [ra, dec], not {show(value)}")
    items = list(value)
    if len(items) != 2:
        raise FieldValueError(f"must be a list of two numbers [ra, dec], not {len(items)} values")
    try:
        first, second = (_to_float(item, None) for item in items)
    except FieldValueError:
        raise FieldValueError(f"must be two finite numbers [ra, dec], not {show(value)}") from None
    return first, second


def _parse_int(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        return _parse_float(text)


def _parse_float(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def _parse_enum(text: str) -> Any:
    stripped = text.strip()
    match = _ENUM_REPR.fullmatch(stripped)
    if match is not None:
        return int(match.group("value"))
    number = _parse_int(stripped)
    if not isinstance(number, str):
        return number
    return stripped.rsplit(".", 1)[-1]  # "ICRS" or "CoordSys.ICRS"


def _parse_position(text: str) -> Any:
    stripped = text.strip()
    if len(stripped) < 2 or stripped[0] + stripped[-1] not in ("[]", "()"):
        raise FieldValueError(f'must be "[ra, dec]", not {show(text)}')
    parts = [part.strip() for part in stripped[1:-1].split(",")]
    if len(parts) != 2:
        raise FieldValueError(f'must be "[ra, dec]" with two numbers, not {show(text)}')
    try:
        return [float(part) for part in parts]
    except ValueError:
        raise FieldValueError(f'must be "[ra, dec]" with two numbers, not {show(text)}') from None


@dataclass(frozen=True)
class FieldSpec:
    """How one visit field is checked and parsed.

    Parameters
    ----------
    name : `str`
        Field name, as on the wire (``startTime``).
    convert : callable
        Turns a native value into the field's type; raises `FieldValueError`.
    parse : callable
        Turns a string into a native value for ``convert``; raises
        `FieldValueError` or returns something ``convert`` will reject.
    kind : `str`
        What the value is, for serialisation: ``int``, ``float``, ``str``,
        ``enum`` or ``position``.
    """

    name: str
    convert: Callable[[Any], Any]
    parse: Callable[[str], Any]
    kind: str

    def from_native(self, value: Any) -> Any:
        """Check a native value and return it in the field's type.

        Raises
        ------
        FieldValueError
            Raised if the value does not fit.
        """
        return self.convert(value)

    def from_text(self, value: Any) -> Any:
        """Parse a string (or check a native value) and return it in the field's type.

        Raises
        ------
        FieldValueError
            Raised if the value does not fit.
        """
        if isinstance(value, str):
            value = self.parse(value)
        return self.convert(value)

    def to_text(self, value: Any) -> str:
        """Write a value of this field as text that `from_text` reads back exactly."""
        match self.kind:
            case "float":
                return repr(float(value))
            case "int" | "enum":
                return str(int(value))
            case "position":
                return f"[{float(value[0])!r}, {float(value[1])!r}]"
            case _:
                return str(value)

    def to_json(self, value: Any) -> Any:
        """Return a value of this field as a plain JSON-compatible object."""
        match self.kind:
            case "int" | "enum":
                return int(value)
            case "float":
                return float(value)
            case "position":
                return [float(value[0]), float(value[1])]
            case _:
                return value


def _int(name: str, minimum: int | None = None) -> FieldSpec:
    return FieldSpec(name, lambda value: _to_int(value, minimum), _parse_int, "int")


def _float(name: str, minimum: float | None = None) -> FieldSpec:
    return FieldSpec(name, lambda value: _to_float(value, minimum), _parse_float, "float")


def _str(name: str) -> FieldSpec:
    return FieldSpec(name, _to_str, lambda text: text, "str")


def _enum(name: str, enum_type: type[enum.IntEnum]) -> FieldSpec:
    return FieldSpec(name, lambda value: _to_enum(enum_type, value), _parse_enum, "enum")


BASE_FIELDS: tuple[FieldSpec, ...] = (
    _int("salIndex"),
    _int("scriptSalIndex"),
    _str("groupId"),
    _enum("coordinateSystem", CoordSys),
    FieldSpec("position", _to_position, _parse_position, "position"),
    _float("startTime"),
    _enum("rotationSystem", RotSys),
    _float("cameraAngle"),
    _str("filters"),
    _enum("dome", Dome),
    _float("duration", 0.0),
    _int("nimages", 0),
    _str("instrument"),
    _str("survey"),
    _int("totalCheckpoints", 0),
    _float("private_sndStamp"),
)
"""The fields of a summit ``nextVisit`` that promptproc keeps, in wire order."""

DETECTOR_FIELD: FieldSpec = _int("detector", 0)
"""The field the fan-out adds: one detector per message."""
