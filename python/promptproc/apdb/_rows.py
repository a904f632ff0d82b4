"""APDB table rows as pandas DataFrames that ``Apdb.store`` accepts.

The columns come from the official APDB schema at run time, either from an
open APDB (``Apdb.tableDef``) or from the schema file dax_apdb uses by default
(``resource://lsst.sdm.schemas/apdb.yaml``), never from a list kept here.
A frame made by `make_table_frame` holds every column of the table, in schema
order, with the dtype dax_apdb itself returns from queries (nullable pandas
types: ``Int64``, ``Int32``, ``boolean``, ``float32``/``float64``, ``object``
for strings).  Columns not in the schema are dropped (``Apdb.store`` would
fail on them); required (NOT NULL) columns must be present unless the schema
gives a default, they are ``*Ndata`` counts (default 0), or ``Apdb.store``
fills them itself (``validityStartMjdTai``, and the spatial index ``pixelId``
that ``ApdbSql`` adds to the schema, which is left out of the frames).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import BadInputError, ConfigurationError

if TYPE_CHECKING:
    from lsst.dax.apdb import Apdb

__all__ = ["TableColumns", "empty_table_frame", "make_table_frame", "table_columns"]

_LOG = logging.getLogger(__name__)

# felis data type -> pandas dtype; the nullable types dax_apdb uses when it reads.
_PANDAS_DTYPES = {
    "double": "float64",
    "float": "float32",
    "long": "Int64",
    "int": "Int32",
    "short": "Int16",
    "byte": "Int8",
    "boolean": "boolean",
    "char": "object",
    "string": "object",
    "unicode": "object",
    "text": "object",
    "binary": "object",
    "timestamp": "datetime64[ms]",
}
# NOT NULL columns that Apdb.store fills in itself.
_FILLED_BY_STORE = frozenset({"validityStartMjdTai"})


@dataclasses.dataclass(frozen=True)
class TableColumns:
    """The columns of one APDB table, as the schema defines them.

    Attributes
    ----------
    table : `str`
        Table name, e.g. ``DiaSource``.
    names : `tuple` [`str`, ...]
        Column names in schema order.
    dtypes : `dict` [`str`, `str`]
        pandas dtype of each column.
    required : `frozenset` [`str`]
        Columns declared NOT NULL.
    defaults : `dict` [`str`, `typing.Any`]
        Values of the required columns that may be left out.
    """

    table: str
    names: tuple[str, ...]
    dtypes: dict[str, str]
    required: frozenset[str]
    defaults: dict[str, Any]

    def __contains__(self, name: object) -> bool:
        return name in self.dtypes


def table_columns(table: str, apdb: Apdb | None = None) -> TableColumns:
    """Return the columns of an APDB table from the official schema.

    Parameters
    ----------
    table : `str`
        ``DiaObject``, ``DiaSource``, ``DiaForcedSource`` or another
        `lsst.dax.apdb.ApdbTables` name.
    apdb : `lsst.dax.apdb.Apdb`, optional
        Read the schema this APDB uses; without it, the schema file of a
        default dax_apdb SQL configuration.

    Returns
    -------
    columns : `TableColumns`
        Names, dtypes, required columns and defaults.

    Raises
    ------
    promptproc.errors.ConfigurationError
        If the schema has no such table.
    """
    if apdb is None:
        return _default_table_columns(table)
    return _columns_of(table, _table_def(table, apdb), skip=_implementation_columns(apdb))


def make_table_frame(
    table: str | TableColumns, data: Mapping[str, Any] | pd.DataFrame, *, apdb: Apdb | None = None
) -> pd.DataFrame:
    """Build a DataFrame of an APDB table: exactly its columns, its dtypes.

    Parameters
    ----------
    table : `str` or `TableColumns`
        The table, by name (read from the schema as `table_columns` does) or
        as columns already read.
    data : `~collections.abc.Mapping` or `pandas.DataFrame`
        Column name to values (arrays, lists or scalars broadcast to the
        number of rows).  A DataFrame's index is ignored.
    apdb : `lsst.dax.apdb.Apdb`, optional
        APDB whose schema to use when ``table`` is a name.

    Returns
    -------
    frame : `pandas.DataFrame`
        One column per schema column, in schema order, with a default
        ``RangeIndex``; absent optional columns are null.

    Raises
    ------
    promptproc.errors.BadInputError
        If a required column is missing or holds nulls, or values cannot be
        converted to the column's type.
    """
    columns = table if isinstance(table, TableColumns) else table_columns(table, apdb)
    if isinstance(data, pd.DataFrame):
        data = {name: data[name].to_numpy() for name in data.columns}
    unknown = sorted(set(data) - set(columns.names))
    if unknown:
        _LOG.debug("dropping columns not in the APDB %s schema: %s", columns.table, ", ".join(unknown))
    n_rows = _row_count(data, columns.table)
    out: dict[str, Any] = {}
    missing = []
    for name in columns.names:
        dtype = columns.dtypes[name]
        if name in data:
            out[name] = _convert(data[name], dtype, n_rows, columns.table, name)
        elif name in columns.defaults:
            out[name] = _convert(columns.defaults[name], dtype, n_rows, columns.table, name)
        elif name in columns.required and name not in _FILLED_BY_STORE:
            missing.append(name)
        else:
            out[name] = _null_column(dtype, n_rows)
    if missing:
        raise BadInputError(f"APDB {columns.table} rows lack required column(s): {', '.join(missing)}")
    frame = pd.DataFrame(out, index=pd.RangeIndex(n_rows))
    nulls = [
        name
        for name in columns.required
        if name in data and name not in _FILLED_BY_STORE and bool(frame[name].isna().any())
    ]
    if nulls:
        raise BadInputError(
            f"APDB {columns.table} rows have nulls in required column(s): {', '.join(sorted(nulls))}"
        )
    return frame


def empty_table_frame(table: str | TableColumns, *, apdb: Apdb | None = None) -> pd.DataFrame:
    """Return a frame of an APDB table with no rows.

    Parameters
    ----------
    table : `str` or `TableColumns`
        The table, as for `make_table_frame`.
    apdb : `lsst.dax.apdb.Apdb`, optional
        APDB whose schema to use when ``table`` is a name.

    Returns
    -------
    frame : `pandas.DataFrame`
        Every column, with its dtype, and no rows.
    """
    columns = table if isinstance(table, TableColumns) else table_columns(table, apdb)
    return pd.DataFrame({name: _null_column(columns.dtypes[name], 0) for name in columns.names})


@functools.lru_cache(maxsize=8)
def _default_table_columns(table: str) -> TableColumns:
    """Columns of a table in dax_apdb's default schema file (read once)."""
    from lsst.dax.apdb.apdbSchema import ApdbSchema
    from lsst.dax.apdb.sql import ApdbSqlConfig

    enum = _table_enum(table)
    schema = ApdbSchema(ApdbSqlConfig(db_url="sqlite://").schema_file, "")
    definition = schema.tableSchemas.get(enum)
    if definition is None:
        raise ConfigurationError(f"the default APDB schema has no table {table}")
    return _columns_of(table, definition)


def _table_def(table: str, apdb: Apdb) -> Any:
    definition = apdb.tableDef(_table_enum(table))
    if definition is None:
        raise ConfigurationError(f"this APDB ({type(apdb).__name__}) has no table {table}")
    return definition


def _table_enum(table: str) -> Any:
    from lsst.dax.apdb.apdbSchema import ApdbTables

    try:
        return ApdbTables(table)
    except ValueError:
        known = ", ".join(t.value for t in ApdbTables)
        raise ConfigurationError(f"{table!r} is not an APDB table (known: {known})") from None


def _implementation_columns(apdb: Apdb) -> frozenset[str]:
    """Columns an APDB implementation adds to the official schema and fills itself.

    ``ApdbSql`` adds the spatial index ``pixelId`` (NOT NULL) to DiaObject and
    DiaSource; ``store`` computes it from ra/dec and queries do not return it.
    """
    pixelization = getattr(apdb.getConfig(), "pixelization", None)
    column = getattr(pixelization, "htm_index_column", None)
    return frozenset({column}) if column else frozenset()


def _columns_of(table: str, definition: Any, skip: frozenset[str] = frozenset()) -> TableColumns:
    names = []
    dtypes = {}
    required = set()
    defaults: dict[str, Any] = {}
    for column in definition.columns:
        if column.name in skip:
            continue
        kind = getattr(column.datatype, "value", str(column.datatype))
        names.append(column.name)
        dtypes[column.name] = _PANDAS_DTYPES.get(kind, "object")
        if not column.nullable:
            required.add(column.name)
            if column.value is not None:
                defaults[column.name] = column.value
            elif column.name.endswith("Ndata") and dtypes[column.name].startswith("Int"):
                defaults[column.name] = 0
    return TableColumns(table, tuple(names), dtypes, frozenset(required), defaults)


def _row_count(data: Mapping[str, Any], table: str) -> int:
    lengths = {len(value) for value in data.values() if not np.isscalar(value) and value is not None}
    if len(lengths) > 1:
        raise BadInputError(f"APDB {table} columns differ in length: {sorted(lengths)}")
    return lengths.pop() if lengths else 0


def _null_column(dtype: str, n_rows: int) -> pd.Series:
    if dtype == "object":
        return pd.Series(np.full(n_rows, None, dtype=object))
    if dtype.startswith("float"):
        return pd.Series(np.full(n_rows, np.nan, dtype=dtype))
    return pd.Series(pd.array(np.full(n_rows, None, dtype=object), dtype=dtype))


def _convert(values: Any, dtype: str, n_rows: int, table: str, name: str) -> Any:
    """Return ``values`` as a column of ``dtype`` (a scalar is broadcast)."""
    if values is None or values is pd.NA or (isinstance(values, float) and np.isnan(values)):
        return _null_column(dtype, n_rows)
    if np.isscalar(values):
        values = np.full(n_rows, values, dtype=object if isinstance(values, str) else None)
    try:
        if dtype == "object":
            array = np.asarray(values, dtype=object)
            return pd.Series([None if _is_null(v) else _plain(v) for v in array], dtype=object)
        if dtype.startswith("float"):
            array = np.asarray(values)
            if array.dtype.kind in "iuf":
                return pd.Series(array.astype(dtype))
            return pd.Series(pd.to_numeric(pd.Series(values), errors="raise").astype(dtype).to_numpy())
        if dtype == "boolean":
            array = np.asarray(values)
            if array.dtype == bool:
                return pd.Series(pd.array(array, dtype="boolean"))
            return pd.Series(pd.array([None if _is_null(v) else bool(v) for v in array], dtype="boolean"))
        series = pd.Series(values)
        if series.dtype.kind == "f":
            finite = series.dropna()
            if not np.array_equal(finite, np.round(finite)):
                raise ValueError("non-integer values")
        return series.astype(dtype).reset_index(drop=True)
    except (TypeError, ValueError, OverflowError) as err:
        raise BadInputError(f"APDB {table} column {name} cannot be {dtype}: {err}") from None


def _is_null(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float | np.floating) and np.isnan(value))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
