"""Create and open an APDB with the official schema through lsst-dax-apdb."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError, PromptprocError, ServiceUnavailableError
from ._url import is_sqlite, masked, normalize_apdb_url, validate_namespace

if TYPE_CHECKING:
    import sqlalchemy
    from lsst.dax.apdb import Apdb

__all__ = ["create_apdb", "open_apdb"]

_CONNECT_TIMEOUT = 10


def create_apdb(url: str, config_path: str | os.PathLike[str], namespace: str | None = None) -> Path:
    """Create an empty APDB with the official schema and write its config.

    Parameters
    ----------
    url : `str`
        Where to create it: a file path or ``sqlite:///PATH`` (SQLite), or
        ``postgresql://...`` / ``postgresql+psycopg2://...`` (PostgreSQL;
        the first is rewritten to the second, see `normalize_apdb_url`).
    config_path : `str` or `os.PathLike`
        Where to write the APDB config YAML, which `open_apdb` and
        ``Apdb.from_uri`` read.  It must not exist yet.
    namespace : `str`, optional
        PostgreSQL schema for the APDB tables, created if absent.

    Returns
    -------
    config_path : `pathlib.Path`
        Absolute path of the config file written.

    Raises
    ------
    promptproc.errors.ConfigurationError
        If the URL, namespace or config path is unusable, or an APDB already
        exists there (it is never dropped or changed).
    promptproc.errors.ServiceUnavailableError
        If the database server cannot be reached.

    Notes
    -----
    A URL with a password is written to the config as given, and the config
    file is then readable by its owner only; prefer ``~/.lsst/db-auth.yaml``,
    ``PGPASSWORD`` or ``~/.pgpass`` for credentials.
    """
    from lsst.dax.apdb.sql import ApdbSql

    db_url = normalize_apdb_url(url)
    namespace = validate_namespace(namespace, db_url)
    target = Path(config_path).expanduser().absolute()
    if target.exists():
        raise ConfigurationError(f"APDB config file {target} already exists; choose another --config-file")
    target.parent.mkdir(parents=True, exist_ok=True)

    where = _describe(db_url, namespace)
    sqlite_file = Path(db_url.removeprefix("sqlite:///")) if is_sqlite(db_url) else None
    made_file = sqlite_file is not None and not sqlite_file.exists()
    if sqlite_file is not None:
        sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _engine(db_url, where) as engine:
            _refuse_existing(engine, namespace, where)
            if namespace is not None:
                _create_schema(engine, namespace, where)
        with _database_errors(where):
            config = ApdbSql.init_database(db_url=db_url, namespace=namespace)
    except BaseException:
        if made_file and sqlite_file is not None:
            sqlite_file.unlink(missing_ok=True)
        raise
    _write_config(config, target, secret=_has_password(db_url))
    return target


def open_apdb(config_path: str | os.PathLike[str]) -> Apdb:
    """Open the APDB that a config file written by `create_apdb` describes.

    Parameters
    ----------
    config_path : `str` or `os.PathLike`
        APDB config YAML.

    Returns
    -------
    apdb : `lsst.dax.apdb.Apdb`
        A connected APDB.

    Raises
    ------
    promptproc.errors.ConfigurationError
        If the file is missing or invalid, or holds no compatible APDB.
    promptproc.errors.ServiceUnavailableError
        If the database server cannot be reached.
    """
    from lsst.dax.apdb import Apdb, ApdbConfig

    path = Path(config_path).expanduser()
    if not path.is_file():
        raise ConfigurationError(f"APDB config file {path} does not exist")
    try:
        config = ApdbConfig.from_uri(str(path.absolute()))
    except Exception as err:
        raise ConfigurationError(f"invalid APDB config file {path}: {_first_line(err)}") from None
    where = _describe(getattr(config, "db_url", str(path)), getattr(config, "namespace", None))
    with _database_errors(where):
        return Apdb.from_config(config)


def _describe(db_url: str, namespace: str | None) -> str:
    text = masked(db_url)
    return f"{text} (schema {namespace})" if namespace else text


def _has_password(db_url: str) -> bool:
    from sqlalchemy.engine import make_url

    return not is_sqlite(db_url) and make_url(db_url).password is not None


def _first_line(err: BaseException) -> str:
    orig = getattr(err, "orig", None)
    text = str(orig if orig is not None else err).strip()
    return text.splitlines()[0].strip() if text else type(err).__name__


@contextlib.contextmanager
def _database_errors(where: str) -> Iterator[None]:
    """Turn database exceptions into one-line promptproc errors."""
    import sqlalchemy.exc
    from lsst.dax.apdb.versionTuple import IncompatibleVersionError

    try:
        yield
    except PromptprocError:
        raise
    except sqlalchemy.exc.OperationalError as err:
        raise ServiceUnavailableError(f"cannot use the APDB database {where}: {_first_line(err)}") from None
    except sqlalchemy.exc.NoSuchTableError:
        raise ConfigurationError(f"no APDB found at {where}: its metadata table is missing") from None
    except IncompatibleVersionError as err:
        raise ConfigurationError(f"APDB at {where} is incompatible: {_first_line(err)}") from None
    except sqlalchemy.exc.SQLAlchemyError as err:
        raise ConfigurationError(f"APDB database {where} refused the request: {_first_line(err)}") from None


@contextlib.contextmanager
def _engine(db_url: str, where: str) -> Iterator[sqlalchemy.engine.Engine]:
    """Yield an engine whose connection works, failing fast if it does not."""
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    connect_args: dict[str, Any] = {} if is_sqlite(db_url) else {"connect_timeout": _CONNECT_TIMEOUT}
    engine = sqlalchemy.create_engine(db_url, poolclass=NullPool, connect_args=connect_args)
    try:
        with _database_errors(where), engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        yield engine
    finally:
        engine.dispose()


def _refuse_existing(engine: sqlalchemy.engine.Engine, namespace: str | None, where: str) -> None:
    """Raise if any APDB table already exists in that database and schema."""
    import sqlalchemy
    from lsst.dax.apdb.apdbSchema import ApdbTables

    with _database_errors(where):
        present = set(sqlalchemy.inspect(engine).get_table_names(schema=namespace))
    apdb_tables = sorted(present & {table.table_name() for table in ApdbTables})
    if apdb_tables:
        raise ConfigurationError(
            f"an APDB already exists at {where} (tables {', '.join(apdb_tables)}); promptproc never drops"
            " one: pick another file or --namespace, or drop it yourself"
        )


def _create_schema(engine: sqlalchemy.engine.Engine, namespace: str, where: str) -> None:
    import sqlalchemy

    with _database_errors(where), engine.begin() as conn:
        if not sqlalchemy.inspect(conn).has_schema(namespace):
            conn.execute(sqlalchemy.schema.CreateSchema(namespace, if_not_exists=True))


def _write_config(config: Any, target: Path, *, secret: bool) -> None:
    """Save the dax_apdb config atomically; owner-only if it holds a password."""
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    try:
        config.save(temporary)
        if not secret:
            os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
