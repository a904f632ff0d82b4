"""A read-only summary of an APDB for operators."""

from __future__ import annotations

import dataclasses
import os
import urllib.parse
from pathlib import Path

from ._create import _database_errors, _describe, open_apdb
from ._url import masked

__all__ = ["ApdbSummary", "describe_apdb"]


@dataclasses.dataclass(frozen=True)
class ApdbSummary:
    """What `describe_apdb` found.

    Attributes
    ----------
    config_path : `pathlib.Path`
        The config file read.
    implementation : `str`
        dax_apdb implementation class, e.g. ``ApdbSql``.
    database : `str`
        Database URL, password hidden.
    namespace : `str` or `None`
        PostgreSQL schema, if any.
    schema_version : `str`
        APDB schema version recorded in the database.
    code_version : `str`
        Implementation version recorded in the database.
    tables : `tuple` [`str`, ...]
        APDB tables present in the database.
    row_counts : `dict` [`str`, `int`] or `None`
        Rows of the DiaObject, DiaSource and DiaForcedSource tables, when asked for.
    """

    config_path: Path
    implementation: str
    database: str
    namespace: str | None
    schema_version: str
    code_version: str
    tables: tuple[str, ...]
    row_counts: dict[str, int] | None = None

    def lines(self) -> list[str]:
        """Return the summary as ``key: value`` lines.

        Returns
        -------
        lines : `list` [`str`]
            One line per item.
        """
        out = [
            f"config: {self.config_path}",
            f"implementation: {self.implementation}",
            f"database: {self.database}",
            f"namespace: {self.namespace or '(default)'}",
            f"schema version: {self.schema_version}",
            f"code version: {self.code_version}",
            f"tables: {', '.join(self.tables)}",
        ]
        if self.row_counts is not None:
            out += [f"rows in {name}: {count}" for name, count in self.row_counts.items()]
        return out


def describe_apdb(config_path: str | os.PathLike[str], *, count_rows: bool = False) -> ApdbSummary:
    """Open an APDB and summarize it without changing anything.

    Parameters
    ----------
    config_path : `str` or `os.PathLike`
        APDB config YAML written by `create_apdb`.
    count_rows : `bool`, optional
        Also count the rows of the main tables (a full count on PostgreSQL).

    Returns
    -------
    summary : `ApdbSummary`
        Versions, tables and optionally row counts.

    Raises
    ------
    promptproc.errors.ConfigurationError
        If the config is missing or invalid, or holds no compatible APDB.
    promptproc.errors.ServiceUnavailableError
        If the database server cannot be reached.
    """
    import sqlalchemy
    from lsst.dax.apdb.apdbSchema import ApdbTables
    from lsst.utils.db_auth import DbAuth, DbAuthError

    apdb = open_apdb(config_path)
    config = apdb.getConfig()
    db_url = str(getattr(config, "db_url", ""))
    namespace = getattr(config, "namespace", None)
    prefix = getattr(config, "prefix", "") or ""
    where = _describe(db_url, namespace)
    with _database_errors(where):
        try:
            connect_url = DbAuth().getUrl(db_url)
        except DbAuthError:
            connect_url = db_url
        engine = sqlalchemy.create_engine(connect_url, poolclass=sqlalchemy.pool.NullPool)
        try:
            present = set(sqlalchemy.inspect(engine).get_table_names(schema=namespace))
        finally:
            engine.dispose()
        counts = apdb.tableRowCount() if count_rows and hasattr(apdb, "tableRowCount") else None
    known = [table.table_name(prefix) for table in ApdbTables]
    return ApdbSummary(
        config_path=Path(config_path).expanduser().absolute(),
        implementation=type(apdb).__name__,
        # dax_apdb stores SQLite as sqlite:///file%3A/PATH?mode=rw&uri=true; show the path plainly.
        database=urllib.parse.unquote(masked(db_url)) if db_url.startswith("sqlite") else masked(db_url),
        namespace=namespace,
        schema_version=apdb.metadata.get("version:schema") or "unknown",
        code_version=apdb.metadata.get(f"version:{type(apdb).__name__}") or "unknown",
        tables=tuple(name for name in known if name in present),
        row_counts=counts,
    )
