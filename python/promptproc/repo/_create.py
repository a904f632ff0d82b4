"""Creation of a central repository: registry and datastore checks, then ``makeRepo``."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from lsst.daf.butler import Butler
from lsst.resources import ResourcePath, ResourcePathExpression

from ..errors import ConfigurationError, ServiceUnavailableError
from ._config import repo_seed_config
from ._errors import RepoExistsError

__all__ = ["create_central_repo", "masked_url", "normalize_registry_url"]

_LOG = logging.getLogger(__name__)

_NAMESPACE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_REGISTRY_FORMS = "a file path, sqlite:///PATH, or postgresql[+driver]://USER@HOST:PORT/DB"
_CONNECT_TIMEOUT = 5


def masked_url(url: str) -> str:
    """Return a database URL with its password hidden, for messages.

    Parameters
    ----------
    url : `str`
        SQLAlchemy URL.

    Returns
    -------
    url : `str`
        The URL with ``***`` for any password.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def normalize_registry_url(registry: str) -> str:
    """Turn an operator's registry argument into a SQLAlchemy URL.

    Parameters
    ----------
    registry : `str`
        A file path (SQLite), ``sqlite:///PATH`` or ``postgresql://...``
        (any ``postgresql+driver``).

    Returns
    -------
    url : `str`
        ``sqlite:////absolute/path`` or the PostgreSQL URL unchanged.

    Raises
    ------
    promptproc.errors.ConfigurationError
        If the scheme is not SQLite or PostgreSQL, or the URL is malformed.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = registry.strip()
    if not text:
        raise ConfigurationError(f"empty registry; give {_REGISTRY_FORMS}")
    if "://" not in text:
        return f"sqlite:///{Path(text).expanduser().absolute()}"
    scheme = text.split("://", 1)[0].lower()
    if scheme == "sqlite":
        database = text.split("://", 1)[1].removeprefix("/").split("?", 1)[0]
        if not database or database.startswith(":memory:"):
            raise ConfigurationError(f"registry {registry!r} names no database file; use sqlite:///PATH")
        return f"sqlite:///{Path(database).expanduser().absolute()}"
    if scheme != "postgresql" and not scheme.startswith("postgresql+"):
        raise ConfigurationError(f"unsupported registry scheme {scheme!r}; give {_REGISTRY_FORMS}")
    try:
        parsed = make_url(text)
    except ArgumentError as err:
        raise ConfigurationError(f"malformed registry URL {masked_url(text)!r}: {err}") from None
    if not parsed.database:
        raise ConfigurationError(f"registry URL {masked_url(text)!r} names no database")
    return text


def _first_line(err: BaseException) -> str:
    text = str(getattr(err, "orig", None) or err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _prepare_postgres(url: str, namespace: str | None) -> None:
    """Check the server, add ``btree_gist`` and the schema; refuse an existing registry."""
    import sqlalchemy
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    engine = sqlalchemy.create_engine(
        url, connect_args={"connect_timeout": _CONNECT_TIMEOUT}, poolclass=sqlalchemy.pool.NullPool
    )
    schema = namespace or "public"
    try:
        with engine.connect() as conn:
            try:
                conn.execute(sqlalchemy.text("CREATE EXTENSION IF NOT EXISTS btree_gist"))
            except DBAPIError as err:
                raise ConfigurationError(
                    f"cannot add the btree_gist extension the Butler needs to {masked_url(url)} "
                    f"(it needs a superuser): {_first_line(err)}"
                ) from None
            if namespace is not None:
                conn.execute(sqlalchemy.text(f'CREATE SCHEMA IF NOT EXISTS "{namespace}"'))
            found = conn.execute(
                sqlalchemy.text(
                    "SELECT 1 FROM information_schema.tables "
                    "WHERE table_schema = :schema AND table_name = 'butler_attributes'"
                ),
                {"schema": schema},
            ).first()
            conn.commit()
    except SQLAlchemyError as err:
        if (isinstance(err, DBAPIError) and err.connection_invalidated) or _is_connection_error(err):
            raise ServiceUnavailableError(
                f"cannot connect to PostgreSQL at {masked_url(url)}: {_first_line(err)}"
            ) from None
        raise ConfigurationError(f"PostgreSQL at {masked_url(url)} refused: {_first_line(err)}") from None
    finally:
        engine.dispose()
    if found is not None:
        raise RepoExistsError(
            f"a Butler registry already exists in schema {schema!r} of {masked_url(url)}; "
            "use another --namespace"
        )


def _is_connection_error(err: BaseException) -> bool:
    from sqlalchemy.exc import InterfaceError, OperationalError

    return isinstance(err, OperationalError | InterfaceError)


def _check_bucket(uri: ResourcePath) -> None:
    """Raise unless the bucket of an ``s3://`` URI exists and answers."""
    from botocore.exceptions import BotoCoreError, ClientError
    from lsst.resources.s3utils import getS3Client

    bucket = uri.netloc
    try:
        getS3Client().head_bucket(Bucket=bucket)
    except ClientError as err:
        code = str(err.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise ConfigurationError(f"bucket {bucket!r} of {uri} does not exist") from None
        raise ConfigurationError(f"bucket {bucket!r} of {uri} cannot be used: {_first_line(err)}") from None
    except BotoCoreError as err:
        raise ServiceUnavailableError(
            f"cannot reach the object store for {uri}: {_first_line(err)}"
        ) from None


def _remove_quietly(uri: ResourcePath) -> None:
    try:
        uri.remove()
    except (FileNotFoundError, OSError):
        _LOG.warning("could not remove %s after a failed repository creation", uri)


def _check_location(uri: ResourcePath, what: str) -> None:
    if uri.scheme == "s3":
        _check_bucket(uri)
    elif uri.scheme != "file":
        raise ConfigurationError(f"unsupported {what} {uri}; give a directory or s3://bucket/prefix")


def create_central_repo(
    root: ResourcePathExpression,
    registry: str | None = None,
    datastore_root: ResourcePathExpression | None = None,
    namespace: str | None = None,
) -> str:
    """Create an empty central repository with promptproc's storage classes.

    Parameters
    ----------
    root : `str` or `lsst.resources.ResourcePath`
        Directory or ``s3://`` URI that will hold ``butler.yaml``.
    registry : `str`, optional
        Registry database: a file path or ``sqlite:///PATH``, or
        ``postgresql://...``.  SQLite in ``root`` by default (only for a
        local ``root``).  A PostgreSQL database gets ``btree_gist`` and the
        ``namespace`` schema first.
    datastore_root : `str` or `lsst.resources.ResourcePath`, optional
        Where the datastore writes files (directory or ``s3://bucket/prefix``);
        ``root`` by default.
    namespace : `str`, optional
        PostgreSQL schema for the registry tables; the default schema if
        `None`.

    Returns
    -------
    root : `str`
        URI of the repository, for ``Butler.from_config``.

    Raises
    ------
    promptproc.repo.RepoExistsError
        If ``root`` already holds a repository, or the registry schema
        already holds Butler tables.
    promptproc.errors.ServiceUnavailableError
        If the PostgreSQL server or object store cannot be reached.
    promptproc.errors.ConfigurationError
        For an unknown registry scheme or location, an invalid namespace, a
        missing bucket, or SQLite asked for in an ``s3://`` root.
    """
    root_uri = ResourcePath(root, forceDirectory=True)
    _check_location(root_uri, "repository root")
    if root_uri.join("butler.yaml").exists():
        raise RepoExistsError(f"a repository already exists at {root_uri}")

    datastore_uri: ResourcePath | None = None
    if datastore_root is not None:
        datastore_uri = ResourcePath(datastore_root, forceDirectory=True)
        _check_location(datastore_uri, "datastore root")

    db_url: str | None = None
    if registry is not None:
        db_url = normalize_registry_url(registry)
    if namespace is not None and not _NAMESPACE.fullmatch(namespace):
        raise ConfigurationError(f"invalid namespace {namespace!r}; use letters, digits and _")
    if db_url is None or db_url.startswith("sqlite"):
        if namespace is not None:
            raise ConfigurationError("--namespace applies to a PostgreSQL registry only")
        if db_url is None and root_uri.scheme != "file":
            raise ConfigurationError(f"a repository at {root_uri} needs a postgresql:// registry")
        sqlite_file = (
            Path(db_url.removeprefix("sqlite:///")) if db_url else Path(root_uri.ospath) / "gen3.sqlite3"
        )
        if sqlite_file.exists() and sqlite_file.stat().st_size > 0:
            raise RepoExistsError(f"registry database {sqlite_file} already exists")
    else:
        _prepare_postgres(db_url, namespace)

    seed = repo_seed_config(
        registry_db=db_url,
        namespace=namespace,
        datastore_root=str(datastore_uri) if datastore_uri is not None else None,
    )
    from sqlalchemy.exc import SQLAlchemyError

    try:
        # With forceConfigRoot (the default) makeRepo silently replaces the
        # datastore root by the repository root.
        Butler.makeRepo(root_uri, config=seed, forceConfigRoot=datastore_uri is None)
    except FileExistsError as err:
        raise RepoExistsError(f"a repository already exists at {root_uri}: {_first_line(err)}") from None
    except SQLAlchemyError as err:
        # makeRepo writes butler.yaml before the registry: do not leave a
        # repository that looks made but is not.
        _remove_quietly(root_uri.join("butler.yaml"))
        if _is_connection_error(err):
            raise ServiceUnavailableError(f"cannot reach the registry database: {_first_line(err)}") from None
        raise ConfigurationError(f"cannot create the registry: {_first_line(err)}") from None
    _LOG.info("created repository %s (registry %s)", root_uri, masked_url(db_url or "sqlite in root"))
    return str(root_uri)
