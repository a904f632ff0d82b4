"""The Alert Production Database (APDB): creation, opening and inspection.

The APDB uses the official schema through lsst-dax-apdb: SQLite for the
embedded default and PostgreSQL (through psycopg2) in deployment.
"""

from ._create import create_apdb, open_apdb
from ._info import ApdbSummary, describe_apdb
from ._url import normalize_apdb_url

__all__ = ["ApdbSummary", "create_apdb", "describe_apdb", "normalize_apdb_url", "open_apdb"]
