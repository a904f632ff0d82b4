"""APDB creation on SQLite and PostgreSQL, a store/read round trip, and clear errors."""

from __future__ import annotations

import uuid
from pathlib import Path

import astropy.time
import pandas as pd
import pytest
from click.testing import CliRunner
from lsst.sphgeom import Angle, Circle, LonLat, UnitVector3d

from promptproc.apdb import create_apdb, describe_apdb, normalize_apdb_url, open_apdb
from promptproc.cli import cli, main
from promptproc.errors import ConfigurationError, ServiceUnavailableError
from promptproc.testing.services import PostgresDatabase

VISIT_TIME = astropy.time.Time("2026-03-01T04:00:00", scale="tai")
RA, DEC = 150.0, 2.0
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/postgres"


def _circle(ra: float, dec: float, radius_deg: float = 0.2) -> Circle:
    return Circle(UnitVector3d(LonLat.fromDegrees(ra, dec)), Angle.fromDegrees(radius_deg))


def _catalogs(visit: int = 42, detector: int = 7, n: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Minimal DiaObject and DiaSource frames (the columns dax_apdb requires)."""
    object_ids = [visit * 1000 + detector * 100 + i for i in range(n)]
    ras = [RA + 0.01 * i for i in range(n)]
    decs = [DEC - 0.01 * i for i in range(n)]
    objects = pd.DataFrame(
        {
            "diaObjectId": object_ids,
            "ra": ras,
            "dec": decs,
            "nDiaSources": [1] * n,
            **{f"{band}_psfFluxNdata": [0] * n for band in "ugrizy"},
        }
    )
    sources = pd.DataFrame(
        {
            "diaSourceId": [oid * 10 for oid in object_ids],
            "diaObjectId": object_ids,
            "visit": [visit] * n,
            "detector": [detector] * n,
            "midpointMjdTai": [VISIT_TIME.tai.mjd] * n,
            "ra": ras,
            "dec": decs,
            "x": [100.0 + i for i in range(n)],
            "y": [200.0 + i for i in range(n)],
            "psfNdata": [0] * n,
            "dipoleNdata": [0] * n,
            "timeProcessedMjdTai": [VISIT_TIME.tai.mjd + 0.001] * n,
            "bboxSize": [12] * n,
            "band": ["r"] * n,
        }
    )
    return objects, sources


def _round_trip(config: Path) -> None:
    apdb = open_apdb(config)
    objects, sources = _catalogs()
    assert not apdb.containsVisitDetector(42, 7)
    apdb.store(VISIT_TIME, objects, sources)

    found = apdb.getDiaObjects(_circle(RA, DEC))
    assert sorted(found["diaObjectId"]) == sorted(objects["diaObjectId"])
    assert found.set_index("diaObjectId").loc[objects["diaObjectId"][0], "ra"] == pytest.approx(RA)
    assert apdb.getDiaObjects(_circle(RA + 90.0, DEC)).empty

    read = apdb.getDiaSources(_circle(RA, DEC), list(objects["diaObjectId"]), VISIT_TIME)
    assert read is not None
    assert sorted(read["diaSourceId"]) == sorted(sources["diaSourceId"])
    assert set(read["visit"]) == {42}
    assert apdb.containsVisitDetector(42, 7)


def test_sqlite_create_store_and_read(tmp_path: Path) -> None:
    config = create_apdb(str(tmp_path / "db" / "apdb.sqlite3"), tmp_path / "apdb.yaml")
    assert config == tmp_path / "apdb.yaml"
    assert (tmp_path / "db" / "apdb.sqlite3").is_file()
    _round_trip(config)
    summary = describe_apdb(config, count_rows=True)
    assert summary.schema_version.count(".") == 2
    assert {"DiaObject", "DiaSource", "DiaForcedSource", "metadata"} <= set(summary.tables)
    assert summary.row_counts == {"DiaObject": 5, "DiaSource": 5, "DiaForcedSource": 0}


@pytest.mark.services
def test_postgres_create_store_and_read(postgres: PostgresDatabase, tmp_path: Path) -> None:
    namespace = f"apdb_{uuid.uuid4().hex[:8]}"
    # A plain postgresql:// URL must be stored with the psycopg2 driver, or store() fails.
    config = create_apdb(postgres.url, tmp_path / "apdb.yaml", namespace=namespace)
    assert "postgresql+psycopg2://" in config.read_text()
    with postgres.connect() as conn:
        tables = {
            row[0]
            for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (namespace,))
        }
    assert {"DiaObject", "DiaSource", "DiaForcedSource", "metadata"} <= tables
    _round_trip(config)
    assert describe_apdb(config).namespace == namespace

    with pytest.raises(ConfigurationError, match="already exists") as caught:
        create_apdb(postgres.psycopg2_url, tmp_path / "again.yaml", namespace=namespace)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "again.yaml").exists()


def test_sqlite_create_twice_refuses_and_keeps_data(tmp_path: Path) -> None:
    database = tmp_path / "apdb.sqlite3"
    config = create_apdb(f"sqlite:///{database}", tmp_path / "apdb.yaml")
    objects, sources = _catalogs()
    open_apdb(config).store(VISIT_TIME, objects, sources)

    with pytest.raises(ConfigurationError, match="an APDB already exists") as caught:
        create_apdb(str(database), tmp_path / "other.yaml")
    assert "\n" not in str(caught.value)
    with pytest.raises(ConfigurationError, match="already exists"):
        create_apdb(str(tmp_path / "new.sqlite3"), config)
    assert not (tmp_path / "new.sqlite3").exists()
    assert len(open_apdb(config).getDiaObjects(_circle(RA, DEC))) == len(objects)


def test_unreachable_postgres(tmp_path: Path) -> None:
    with pytest.raises(ServiceUnavailableError, match=r"127\.0\.0\.1") as caught:
        create_apdb(UNREACHABLE, tmp_path / "apdb.yaml", namespace="apdb")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "apdb.yaml").exists()


@pytest.mark.parametrize(
    "url",
    ["mysql://user@127.0.0.1/apdb", "postgresql+psycopg://postgres@127.0.0.1/apdb", "sqlite://", "s3://b/k"],
)
def test_unsupported_url(url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        create_apdb(url, tmp_path / "apdb.yaml")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "apdb.yaml").exists()


def test_bad_namespace(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="PostgreSQL only"):
        create_apdb(str(tmp_path / "a.sqlite3"), tmp_path / "a.yaml", namespace="apdb")
    with pytest.raises(ConfigurationError, match="invalid namespace"):
        create_apdb(UNREACHABLE, tmp_path / "a.yaml", namespace="bad-name; drop")
    assert not (tmp_path / "a.sqlite3").exists()


def test_normalize_apdb_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert normalize_apdb_url("apdb.db") == f"sqlite:///{tmp_path}/apdb.db"
    assert normalize_apdb_url("sqlite:///rel.db") == f"sqlite:///{tmp_path}/rel.db"
    assert normalize_apdb_url("sqlite:////abs/x.db") == "sqlite:////abs/x.db"
    assert normalize_apdb_url("postgresql://u:p@h:5/db") == "postgresql+psycopg2://u:p@h:5/db"
    assert normalize_apdb_url("postgresql+psycopg2://h/db") == "postgresql+psycopg2://h/db"


def test_open_missing_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        open_apdb(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("just a string\n")
    with pytest.raises(ConfigurationError, match="invalid APDB config"):
        open_apdb(tmp_path / "bad.yaml")


def test_cli_create_and_info(tmp_path: Path) -> None:
    runner = CliRunner()
    config = tmp_path / "apdb.yaml"
    created = runner.invoke(
        cli, ["apdb", "create", str(tmp_path / "apdb.sqlite3"), "--config-file", str(config)]
    )
    assert created.exit_code == 0, created.output
    assert str(config) in created.output
    shown = runner.invoke(cli, ["apdb", "info", str(config)])
    assert shown.exit_code == 0, shown.output
    assert "schema version: " in shown.output
    assert "DiaSource" in shown.output


def test_cli_error_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["apdb", "create", UNREACHABLE, "--config-file", str(tmp_path / "apdb.yaml")]
    with pytest.raises(SystemExit) as stopped:
        main(args)
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("promptproc: error: cannot use the APDB database")
    assert err.count("\n") == 1
