"""Association of DIA sources with preloaded DIA objects, on hand-built catalogs."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.table import Table

from promptproc.apdb import make_table_frame, table_columns
from promptproc.errors import BadInputError
from promptproc.ids import DiaIdPacker
from promptproc.tasks.associate import AssociationConfig, match_one_to_one, run

VISIT = 2026112200042
DETECTOR = 4
MJD = 61000.25
PACKER = DiaIdPacker(9)
RA0, DEC0 = 150.0, -30.0
ARCSEC = 1.0 / 3600.0


def _sources(offsets_arcsec: list[tuple[float, float]], **extra: list) -> Table:
    """Sources at (east, north) offsets from (RA0, DEC0) in arcsec."""
    east = np.array([o[0] for o in offsets_arcsec], dtype=float)
    north = np.array([o[1] for o in offsets_arcsec], dtype=float)
    n = len(offsets_arcsec)
    columns = {
        "x": np.arange(n, dtype=float) * 10.0 + 5.0,
        "y": np.arange(n, dtype=float) * 7.0 + 3.0,
        "ra": RA0 + east * ARCSEC / np.cos(np.radians(DEC0)),
        "dec": DEC0 + north * ARCSEC,
        "psfFlux": np.full(n, 1000.0),
        "psfFluxErr": np.full(n, 100.0),
        "snr": np.full(n, 10.0),
    }
    columns.update({name: np.asarray(values) for name, values in extra.items()})
    return Table(columns)


def _objects(offsets_arcsec: list[tuple[float, float]], ids: list[int], **extra: list) -> pd.DataFrame:
    east = np.array([o[0] for o in offsets_arcsec], dtype=float)
    north = np.array([o[1] for o in offsets_arcsec], dtype=float)
    data = {
        "diaObjectId": ids,
        "ra": RA0 + east * ARCSEC / np.cos(np.radians(DEC0)),
        "dec": DEC0 + north * ARCSEC,
        "nDiaSources": [1] * len(ids),
        "validityStartMjdTai": MJD - 1,
    }
    data.update(extra)
    return make_table_frame("DiaObject", data)


def _run(sources: Table, objects: pd.DataFrame, **kwargs: object):  # type: ignore[no-untyped-def]
    return run(
        sources,
        objects,
        VISIT,
        DETECTOR,
        "r",
        MJD,
        id_packer=PACKER,
        time_processed_mjd_tai=MJD + 0.01,
        **kwargs,
    )


def test_matches_new_objects_and_schema_rows() -> None:
    sources = _sources([(0.1, 0.0), (30.0, 0.0), (0.0, 20.2)])
    objects = _objects([(0.0, 0.0), (0.0, 20.0), (100.0, 100.0)], [11, 12, 13])
    result = _run(sources, objects)

    assert (result.n_matched, result.n_new, result.n_rejected) == (2, 1, 0)
    rows = result.dia_sources
    assert list(rows.columns) == list(table_columns("DiaSource").names)
    assert rows["diaSourceId"].tolist() == [PACKER.pack(VISIT, DETECTOR, i) for i in range(3)]
    assert rows["diaObjectId"].tolist() == [11, PACKER.pack(VISIT, DETECTOR, 1), 12]
    assert set(rows["visit"]) == {VISIT}
    assert set(rows["detector"]) == {DETECTOR}
    assert set(rows["band"]) == {"r"}
    assert set(rows["midpointMjdTai"]) == {MJD}
    assert rows["psfNdata"].tolist() == [0, 0, 0]
    assert rows["bboxSize"].tolist() == [0, 0, 0]
    assert rows["x"].dtype == np.float32
    assert rows["diaSourceId"].dtype == "Int64"
    np.testing.assert_allclose(result.match_distance_arcsec, [0.1, np.nan, 0.2], atol=1e-6)

    objs = result.dia_objects.set_index("diaObjectId")
    assert list(result.dia_objects.columns) == list(table_columns("DiaObject").names)
    assert sorted(objs.index) == sorted(set(rows["diaObjectId"]))
    assert 13 not in objs.index  # unmatched preloaded objects are not rewritten
    assert objs.loc[11, "nDiaSources"] == 2
    assert objs.loc[12, "nDiaSources"] == 2
    new = objs.loc[PACKER.pack(VISIT, DETECTOR, 1)]
    assert new["nDiaSources"] == 1
    assert new["ra"] == pytest.approx(sources["ra"][1])
    assert new["dec"] == pytest.approx(sources["dec"][1])
    assert new["r_psfFluxNdata"] == 1
    assert new["g_psfFluxNdata"] == 0
    assert new["r_psfFluxMean"] == pytest.approx(1000.0)
    assert pd.isna(new["r_psfFluxSigma"])
    assert new["firstDiaSourceMjdTai"] == MJD == new["lastDiaSourceMjdTai"]


def test_radius_edge_is_inclusive_and_configurable() -> None:
    objects = _objects([(0.0, 0.0), (0.0, 100.0)], [1, 2])
    sources = _sources([(0.0, 0.999), (0.0, 101.001)])
    result = _run(sources, objects)
    assert result.dia_sources["diaObjectId"].tolist() == [1, PACKER.pack(VISIT, DETECTOR, 1)]

    wider = AssociationConfig()
    wider.match_radius_arcsec = 1.5
    assert _run(sources, objects, config=wider).dia_sources["diaObjectId"].tolist() == [1, 2]

    src_i, obj_i, dist = match_one_to_one(
        np.array([RA0]), np.array([DEC0 + 1.0 * ARCSEC]), np.array([RA0]), np.array([DEC0]), 1.0 + 1e-9
    )
    assert (src_i.tolist(), obj_i.tolist()) == ([0], [0])
    assert dist[0] == pytest.approx(1.0, abs=1e-6)


def test_two_sources_one_object_nearer_wins() -> None:
    objects = _objects([(0.0, 0.0)], [7])
    sources = _sources([(0.6, 0.0), (0.0, 0.3)])
    result = _run(sources, objects)
    assert result.dia_sources["diaObjectId"].tolist() == [PACKER.pack(VISIT, DETECTOR, 0), 7]
    assert (result.n_matched, result.n_new) == (1, 1)


def test_one_source_two_objects_nearest_object() -> None:
    objects = _objects([(0.5, 0.0), (0.0, 0.2)], [7, 8])
    result = _run(_sources([(0.0, 0.0)]), objects)
    assert result.dia_sources["diaObjectId"].tolist() == [8]
    assert result.dia_objects["diaObjectId"].tolist() == [8]


def test_greedy_by_distance_gives_second_source_its_next_object() -> None:
    # s0-o1 0.2", s1-o1 0.3", s1-o2 0.5": s0 takes o1, so s1 falls back to o2.
    objects = _objects([(0.0, 0.0), (0.0, 0.8)], [1, 2])
    sources = _sources([(0.0, -0.2), (0.0, 0.3)])
    result = _run(sources, objects)
    assert result.dia_sources["diaObjectId"].tolist() == [1, 2]
    np.testing.assert_allclose(result.match_distance_arcsec, [0.2, 0.5], atol=1e-6)


def test_ties_are_broken_deterministically() -> None:
    objects = _objects([(0.0, 0.0)], [5])
    sources = _sources([(0.5, 0.0), (-0.5, 0.0)])
    first = _run(sources, objects)
    second = _run(sources, objects)
    assert first.dia_sources["diaObjectId"].tolist()[0] == 5
    pd.testing.assert_frame_equal(first.dia_sources, second.dia_sources)
    pd.testing.assert_frame_equal(first.dia_objects, second.dia_objects)


def test_match_across_ra_zero() -> None:
    objects = make_table_frame(
        "DiaObject", {"diaObjectId": [3], "ra": [359.99990], "dec": [0.0], "nDiaSources": [4]}
    )
    sources = Table(
        {
            "x": [1.0],
            "y": [1.0],
            "ra": [0.0001],
            "dec": [0.0],
            "psfFlux": [1.0],
            "psfFluxErr": [1.0],
            "snr": [5.0],
        }
    )
    result = run(sources, objects, VISIT, 0, "g", MJD, id_packer=PACKER)
    assert result.dia_sources["diaObjectId"].tolist() == [3]
    # Mean of 4 x 359.9999 and 1 x 0.0001, through unit vectors.
    ra = result.dia_objects["ra"].iloc[0]
    assert min(abs(ra - 359.99994), abs(ra - 359.99994 + 360)) < 1e-7


def test_flux_statistics_update() -> None:
    objects = _objects(
        [(0.0, 0.0)],
        [1],
        r_psfFluxNdata=[1],
        r_psfFluxMean=[1000.0],
        r_psfFluxMeanErr=[100.0],
        r_psfFluxMin=[1000.0],
        r_psfFluxMax=[1000.0],
        r_psfFluxErrMean=[100.0],
        g_psfFluxNdata=[3],
        g_psfFluxMean=[50.0],
        firstDiaSourceMjdTai=[MJD - 10],
    )
    sources = _sources([(0.0, 0.0)], psfFlux=[1400.0], psfFluxErr=[50.0])
    obj = _run(sources, objects).dia_objects.iloc[0]
    w_old, w_new = 1 / 100.0**2, 1 / 50.0**2
    assert obj["r_psfFluxNdata"] == 2
    assert obj["r_psfFluxMean"] == pytest.approx((w_old * 1000 + w_new * 1400) / (w_old + w_new), rel=1e-6)
    assert obj["r_psfFluxMeanErr"] == pytest.approx((w_old + w_new) ** -0.5, rel=1e-6)
    assert obj["r_psfFluxSigma"] == pytest.approx(np.std([1000.0, 1400.0], ddof=1), rel=1e-6)
    assert (obj["r_psfFluxMin"], obj["r_psfFluxMax"]) == (1000.0, 1400.0)
    assert obj["r_psfFluxErrMean"] == pytest.approx(75.0)
    assert obj["g_psfFluxNdata"] == 3
    assert obj["g_psfFluxMean"] == pytest.approx(50.0)
    assert obj["firstDiaSourceMjdTai"] == MJD - 10
    assert obj["lastDiaSourceMjdTai"] == MJD


def _with(row: pd.Series) -> dict[str, list]:
    return {name: [value] for name, value in row.items()}


def test_equal_errors_sigma_is_exact() -> None:
    fluxes = [1000.0, 1400.0, 900.0, 1250.0]
    objects = _objects([(0.0, 0.0)], [1])
    state = None
    for k, flux in enumerate(fluxes):
        current = objects if state is None else make_table_frame("DiaObject", _with(state))
        sources = _sources([(0.0, 0.0)], psfFlux=[flux], psfFluxErr=[100.0])
        result = run(sources, current, VISIT + k, DETECTOR, "r", MJD + k, id_packer=PACKER)
        state = result.dia_objects.iloc[0]
    assert state is not None
    assert state["nDiaSources"] == 5
    assert state["r_psfFluxNdata"] == 4
    assert state["r_psfFluxMean"] == pytest.approx(np.mean(fluxes), rel=1e-6)
    assert state["r_psfFluxSigma"] == pytest.approx(np.std(fluxes, ddof=1), rel=1e-5)
    assert state["r_psfFluxMeanErr"] == pytest.approx(100.0 / 2.0, rel=1e-6)


def test_bad_flux_counts_source_but_not_statistics() -> None:
    objects = _objects([(0.0, 0.0)], [1], r_psfFluxNdata=[1], r_psfFluxMean=[10.0], r_psfFluxMeanErr=[1.0])
    sources = _sources([(0.0, 0.0), (40.0, 0.0)], psfFlux=[np.nan, 5.0], psfFluxErr=[1.0, 0.0])
    result = _run(sources, objects)
    matched, new = result.dia_objects.iloc[0], result.dia_objects.iloc[1]
    assert matched["nDiaSources"] == 2
    assert matched["r_psfFluxNdata"] == 1
    assert matched["r_psfFluxMean"] == pytest.approx(10.0)
    assert new["r_psfFluxNdata"] == 0
    assert pd.isna(new["r_psfFluxMean"])


def test_missing_column_is_a_clear_error() -> None:
    sources = _sources([(0.0, 0.0)])
    sources.remove_column("psfFluxErr")
    with pytest.raises(BadInputError, match=r"lacks required column.*psfFluxErr"):
        _run(sources, _objects([], []))
    with pytest.raises(BadInputError, match=r"preloaded DiaObjects lack.*nDiaSources"):
        _run(_sources([(0.0, 0.0)]), pd.DataFrame({"diaObjectId": [1], "ra": [RA0], "dec": [DEC0]}))
    with pytest.raises(BadInputError, match="must be numeric"):
        _run(_sources([(0.0, 0.0)], snr=["high"]), _objects([], []))
    with pytest.raises(BadInputError, match="astropy Table"):
        _run([1, 2, 3], _objects([], []))  # type: ignore[arg-type]


def test_bad_coordinates_are_rejected_and_ids_keep_row_numbers(caplog: pytest.LogCaptureFixture) -> None:
    sources = _sources([(0.0, 0.0), (5.0, 0.0), (10.0, 0.0), (15.0, 0.0)])
    sources["ra"][1] = np.nan
    sources["dec"][2] = 95.0
    sources["x"][3] = np.inf
    with caplog.at_level(logging.WARNING, logger="promptproc.tasks.associate"):
        result = _run(sources, _objects([], []))
    assert result.n_rejected == 3
    assert result.rejected_indices.tolist() == [1, 2, 3]
    assert result.dia_sources["diaSourceId"].tolist() == [PACKER.pack(VISIT, DETECTOR, 0)]
    assert "rejected 3 of 4" in caplog.text


def test_masked_and_unit_columns() -> None:
    sources = _sources([(0.0, 0.0), (20.0, 0.0)])
    sources["ra"] = (sources["ra"] * u.deg).to(u.rad)
    sources["psfFlux"] = [1.0, 2.0] * u.uJy
    sources = Table(sources, masked=True)
    sources["psfFlux"].mask = [False, True]
    result = _run(sources, _objects([], []))
    rows = result.dia_sources
    assert rows["ra"].iloc[0] == pytest.approx(RA0)
    assert rows["psfFlux"].iloc[0] == pytest.approx(1000.0)
    assert pd.isna(rows["psfFlux"].iloc[1])


def test_extra_columns_carried_unknown_dropped(caplog: pytest.LogCaptureFixture) -> None:
    sources = _sources([(0.0, 0.0)], isDipole=[True], bboxSize=[17], notAColumn=[1.0], diaObjectId=[99])
    with caplog.at_level(logging.DEBUG, logger="promptproc.apdb._rows"):
        result = _run(sources, _objects([], []))
    row = result.dia_sources.iloc[0]
    assert bool(row["isDipole"])
    assert row["bboxSize"] == 17
    assert row["diaObjectId"] == row["diaSourceId"]  # always set by association
    assert "notAColumn" not in result.dia_sources.columns
    assert "notAColumn" in caplog.text


def test_empty_inputs() -> None:
    empty = _run(_sources([]), _objects([], []))
    assert (empty.n_matched, empty.n_new, len(empty.dia_sources), len(empty.dia_objects)) == (0, 0, 0, 0)
    assert list(empty.dia_sources.columns) == list(table_columns("DiaSource").names)
    only_sources = _run(_sources([(0.0, 0.0)]), pd.DataFrame())
    assert only_sources.n_new == 1


def test_duplicate_and_unusable_preloaded_objects_are_ignored() -> None:
    objects = pd.concat([_objects([(0.0, 0.0)], [1]), _objects([(0.0, 0.0)], [1])], ignore_index=True)
    objects.loc[1, "nDiaSources"] = 3
    objects = pd.concat([objects, _objects([(0.0, 0.1)], [2])], ignore_index=True)
    objects.loc[2, "ra"] = np.nan
    result = _run(_sources([(0.0, 0.0)]), objects)
    assert result.dia_sources["diaObjectId"].tolist() == [1]
    assert result.dia_objects["nDiaSources"].tolist() == [4]
