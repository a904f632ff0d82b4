"""The Alert Production Database (APDB): creation, opening, inspection and DIA rows.

The APDB uses the official schema through lsst-dax-apdb: SQLite for the
embedded default and PostgreSQL (through psycopg2) in deployment.  Rows are
built as DataFrames of exactly the schema's columns (`make_table_frame`) and
stored once per detector-visit (`store_visit`).
"""

from ._create import create_apdb, open_apdb
from ._info import ApdbSummary, describe_apdb
from ._rows import TableColumns, empty_table_frame, make_table_frame, table_columns
from ._store import StoreResult, load_dia_objects, load_dia_source_history, store_visit
from ._url import normalize_apdb_url

__all__ = [
    "ApdbSummary",
    "StoreResult",
    "TableColumns",
    "create_apdb",
    "describe_apdb",
    "empty_table_frame",
    "load_dia_objects",
    "load_dia_source_history",
    "make_table_frame",
    "normalize_apdb_url",
    "open_apdb",
    "store_visit",
    "table_columns",
]
