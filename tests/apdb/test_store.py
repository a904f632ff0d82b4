"""APDB rows from association stored once per detector-visit, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import astropy.time
import numpy as np
import pandas as pd
import pytest
from astropy.table import Table
from lsst.dax.apdb import Apdb
from lsst.sphgeom import Angle, Circle, LonLat, UnitVector3d

from promptproc.apdb import (
    create_apdb,
    empty_table_frame,
    load_dia_objects,
    load_dia_source_history,
    make_table_frame,
    open_apdb,
    store_visit,
    table_columns,
)
from promptproc.errors import BadInputError, ConfigurationError
from promptproc.ids import DiaIdPacker
from promptproc.tasks import associate

RA, DEC = 215.0, -12.0
PACKER = DiaIdPacker(9)
VISITS = (2026112200042, 2026112200043)
DETECTOR = 5


def _time(visit: int) -> astropy.time.Time:
    return astropy.time.Time(61000.0 + (visit % 100) * 0.001, format="mjd", scale="tai")


def _region(radius_deg: float = 0.05) -> Circle:
    return Circle(UnitVector3d(LonLat.fromDegrees(RA, DEC)), Angle.fromDegrees(radius_deg))


def _catalog(n: int, jitter_arcsec: float, seed: int) -> Table:
    rng = np.random.default_rng(seed)
    grid = np.arange(n, dtype=float)
    return Table(
        {
            "x": 50.0 + 20.0 * grid,
            "y": 60.0 + 10.0 * grid,
            "ra": RA + 0.002 * grid + rng.normal(0, jitter_arcsec / 3600, n),
            "dec": DEC + 0.001 * grid,
            "psfFlux": 1000.0 + 10.0 * grid,
            "psfFluxErr": np.full(n, 50.0),
            "snr": np.full(n, 20.0),
            "isDipole": np.zeros(n, dtype=bool),
            "bboxSize": np.full(n, 15),
        }
    )


def _associate(apdb: Apdb, visit: int, catalog: Table) -> associate.AssociationResult:
    preloaded = load_dia_objects(apdb, _region())
    return associate.run(catalog, preloaded, visit, DETECTOR, "r", _time(visit).mjd, id_packer=PACKER)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def apdb(request: pytest.FixtureRequest, tmp_path: Path) -> Apdb:
    if request.param == "sqlite":
        config = create_apdb(str(tmp_path / "apdb.sqlite3"), tmp_path / "apdb.yaml")
    else:
        postgres = request.getfixturevalue("postgres")
        namespace = f"store_{uuid.uuid4().hex[:8]}"
        config = create_apdb(postgres.psycopg2_url, tmp_path / "apdb.yaml", namespace=namespace)
    return open_apdb(config)


def test_two_visits_store_once_and_read_back(apdb: Apdb) -> None:
    first = _associate(apdb, VISITS[0], _catalog(6, 0.0, seed=1))
    assert (first.n_matched, first.n_new) == (0, 6)
    stored = store_visit(apdb, _time(VISITS[0]), first.dia_objects, first.dia_sources)
    assert stored.status == "stored"
    assert (stored.visit, stored.detector, stored.n_objects, stored.n_sources) == (VISITS[0], DETECTOR, 6, 6)
    counts = apdb.tableRowCount()

    # A retry of the same visit (same deterministic rows) writes nothing.
    again = _associate(apdb, VISITS[0], _catalog(6, 0.0, seed=1))
    retried = store_visit(apdb, _time(VISITS[0]), again.dia_objects, again.dia_sources)
    assert retried.already_stored
    assert retried.status == "already stored"
    assert apdb.tableRowCount() == counts

    read = apdb.getDiaSources(_region(), None, _time(VISITS[0]))
    assert read is not None
    assert sorted(read["diaSourceId"]) == sorted(first.dia_sources["diaSourceId"])
    assert {PACKER.unpack(int(i)).visit for i in read["diaSourceId"]} == {VISITS[0]}

    # The next visit sees the same sky: every source matches, objects gain a version.
    second = _associate(apdb, VISITS[1], _catalog(6, 0.2, seed=2))
    assert (second.n_matched, second.n_new) == (6, 0)
    assert store_visit(apdb, _time(VISITS[1]), second.dia_objects, second.dia_sources).stored
    objects = load_dia_objects(apdb, _region())
    assert len(objects) == 6
    assert set(objects["nDiaSources"]) == {2}
    assert set(objects["r_psfFluxNdata"]) == {2}
    assert set(objects["diaObjectId"]) == set(first.dia_sources["diaSourceId"])
    assert objects["validityStartMjdTai"].to_numpy() == pytest.approx(_time(VISITS[1]).mjd)

    history = load_dia_source_history(apdb, _region(), objects["diaObjectId"], _time(VISITS[1]))
    assert len(history) == 12
    assert history.groupby("diaObjectId").size().tolist() == [2] * 6
    assert list(history.columns) == list(table_columns("DiaSource", apdb).names)
    assert load_dia_source_history(apdb, _region(), [], _time(VISITS[1])).empty


def test_frames_match_what_the_apdb_returns(apdb: Apdb) -> None:
    result = _associate(apdb, VISITS[0], _catalog(3, 0.0, seed=3))
    store_visit(apdb, _time(VISITS[0]), result.dia_objects, result.dia_sources)
    read_objects = load_dia_objects(apdb, _region())
    built = make_table_frame("DiaObject", read_objects, apdb=apdb)
    assert list(built.columns) == list(read_objects.columns)
    assert dict(built.dtypes) == dict(read_objects.dtypes)
    read_sources = load_dia_source_history(apdb, _region(), read_objects["diaObjectId"], _time(VISITS[0]))
    assert dict(result.dia_sources.dtypes) == dict(read_sources.dtypes)
    pd.testing.assert_frame_equal(
        result.dia_sources.drop(columns=["timeProcessedMjdTai"])
        .sort_values("diaSourceId")
        .reset_index(drop=True),
        read_sources.drop(columns=["timeProcessedMjdTai"]).sort_values("diaSourceId").reset_index(drop=True),
        check_exact=False,
    )
    empty = load_dia_objects(
        apdb, Circle(UnitVector3d(LonLat.fromDegrees(RA + 90, DEC)), Angle.fromDegrees(0.1))
    )
    assert empty.empty
    assert list(empty.columns) == list(table_columns("DiaObject", apdb).names)


def test_store_visit_checks_its_rows(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    apdb = open_apdb(create_apdb(str(tmp_path / "apdb.sqlite3"), tmp_path / "apdb.yaml"))
    result = _associate(apdb, VISITS[0], _catalog(2, 0.0, seed=4))
    mixed = result.dia_sources.copy()
    mixed.loc[1, "detector"] = DETECTOR + 1
    with pytest.raises(BadInputError, match="several detectors"):
        store_visit(apdb, _time(VISITS[0]), result.dia_objects, mixed)
    with pytest.raises(BadInputError, match="not 3"):
        store_visit(apdb, _time(VISITS[0]), result.dia_objects, result.dia_sources, detector=3)
    with pytest.raises(BadInputError, match="pass visit="):
        store_visit(apdb, _time(VISITS[0]), result.dia_objects, result.dia_sources.iloc[:0])
    with pytest.raises(BadInputError, match=r"required column.*bboxSize"):
        store_visit(apdb, _time(VISITS[0]), result.dia_objects, result.dia_sources.drop(columns="bboxSize"))
    nothing = store_visit(
        apdb, _time(VISITS[0]), result.dia_objects, result.dia_sources.iloc[:0], visit=VISITS[0], detector=1
    )
    assert nothing.status == "nothing to store"
    assert apdb.tableRowCount()["DiaObject"] == 0

    # Unknown columns are dropped (and logged), not sent to the database.
    extra = result.dia_sources.assign(notInSchema=1.5)
    with caplog.at_level(logging.DEBUG, logger="promptproc.apdb._rows"):
        assert store_visit(apdb, _time(VISITS[0]), result.dia_objects, extra).stored
    assert "notInSchema" in caplog.text

    # Rows whose IDs collide with stored ones under another visit are refused as a whole:
    # the transaction rolls back and the visit is not reported as stored.
    counts = apdb.tableRowCount()
    clash = result.dia_sources.assign(visit=VISITS[1])
    with pytest.raises(ConfigurationError, match=r"refused the rows: .*UNIQUE constraint") as caught:
        store_visit(apdb, _time(VISITS[0]), result.dia_objects, clash)
    assert "\n" not in str(caught.value)
    assert apdb.tableRowCount() == counts
    assert not apdb.containsVisitDetector(VISITS[1], DETECTOR)


def test_make_table_frame_fills_and_refuses() -> None:
    frame = make_table_frame(
        "DiaObject", {"diaObjectId": [1, 2], "ra": [1.0, 2.0], "dec": [0.0, 0.0], "nDiaSources": 1}
    )
    assert frame["u_psfFluxNdata"].tolist() == [0, 0]
    assert frame["nDiaSources"].tolist() == [1, 1]
    assert frame["raErr"].isna().all()
    assert frame["diaObjectId"].dtype == "Int64"
    with pytest.raises(BadInputError, match=r"lack required column.*nDiaSources"):
        make_table_frame("DiaObject", {"diaObjectId": [1], "ra": [1.0], "dec": [0.0]})
    with pytest.raises(BadInputError, match=r"nulls in required column.*ra"):
        make_table_frame("DiaObject", {"diaObjectId": [1], "ra": [np.nan], "dec": [0.0], "nDiaSources": [1]})
    with pytest.raises(BadInputError, match="cannot be Int64"):
        make_table_frame("DiaObject", {"diaObjectId": [1.5], "ra": [1.0], "dec": [0.0], "nDiaSources": [1]})
    with pytest.raises(BadInputError, match="differ in length"):
        make_table_frame("DiaObject", {"diaObjectId": [1, 2], "ra": [1.0], "dec": [0.0], "nDiaSources": 1})
    assert len(empty_table_frame("DiaForcedSource")) == 0
