"""Calibration look-up by time and reference-catalog shards by region."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table, vstack
from astropy.time import Time
from lsst.daf.butler import Butler
from lsst.sphgeom import HtmPixelization, LonLat, UnitVector3d
from repo_testdata import EPOCHS, make_exposure

from promptproc.errors import BadInputError, ConfigurationError
from promptproc.instrument import Instrument, predict_footprint
from promptproc.repo import (
    find_calibration,
    htm7_shards_for_region,
    ingest_calibration,
    ingest_camera,
    ingest_refcat,
    refcat_shards,
    shard_by_htm,
)

BIAS_ID = {"instrument": "SimCam", "detector": 4}


def test_calibration_valid_at_a_time(simcam_repo: Butler, simcam: Instrument) -> None:
    for value, epoch in zip((10.0, 20.0), EPOCHS, strict=True):
        ingest_calibration(simcam_repo, "bias", make_exposure(value), BIAS_ID, epoch)
    ingest_camera(simcam_repo, simcam)

    first = find_calibration(simcam_repo, "bias", BIAS_ID, Time("2026-03-01T00:00:00", scale="tai"))
    second = find_calibration(simcam_repo, "bias", BIAS_ID, Time("2026-09-01T00:00:00", scale="tai"))
    assert first is not None
    assert second is not None
    assert first.run == "SimCam/calib/2026a"
    assert second.run == "SimCam/calib/2026b"
    assert simcam_repo.get(first).metadata["TESTVAL"] == 10.0
    assert simcam_repo.get(second).metadata["TESTVAL"] == 20.0
    # Validity ranges are half-open: the boundary belongs to the later epoch.
    assert find_calibration(simcam_repo, "bias", BIAS_ID, EPOCHS[1].begin).run == "SimCam/calib/2026b"
    assert find_calibration(simcam_repo, "bias", BIAS_ID, Time("2025-12-31T23:00:00", scale="tai")) is None
    assert find_calibration(simcam_repo, "bias", BIAS_ID, Time("2027-02-01T00:00:00", scale="tai")) is None
    assert find_calibration(simcam_repo, "bias", {**BIAS_ID, "detector": 5}, EPOCHS[0].begin) is None
    # The camera is valid at any time.
    for when in ("1990-01-01", "2099-01-01"):
        camera = find_calibration(simcam_repo, "camera", {"instrument": "SimCam"}, Time(when, scale="tai"))
        assert camera is not None
        assert simcam_repo.get(camera) == simcam


def test_recertifying_is_idempotent_but_overlaps_are_refused(simcam_repo: Butler) -> None:
    ref = ingest_calibration(simcam_repo, "bias", make_exposure(10.0), BIAS_ID, EPOCHS[0])
    assert ingest_calibration(simcam_repo, "bias", make_exposure(99.0), BIAS_ID, EPOCHS[0]) == ref
    assert simcam_repo.get(ref).metadata["TESTVAL"] == 10.0
    overlapping = type(EPOCHS[0])("2026x", Time("2026-06-01", scale="tai"), Time("2026-08-01", scale="tai"))
    with pytest.raises(ConfigurationError, match="cannot certify 1 calibrations for epoch 2026x"):
        ingest_calibration(simcam_repo, "bias", make_exposure(30.0), BIAS_ID, overlapping)


def _catalog(ra: float, dec: float, n: int, half_width: float, seed: int) -> Table:
    rng = np.random.default_rng(seed)
    return Table(
        {
            "id": np.arange(n, dtype=np.int64) + 1000 * seed,
            "coord_ra": ra + rng.uniform(-half_width, half_width, n) / np.cos(np.radians(dec)),
            "coord_dec": dec + rng.uniform(-half_width, half_width, n),
            "g_flux": rng.uniform(1e3, 1e6, n),
            "g_fluxErr": np.full(n, 10.0),
        }
    )


def test_shard_by_htm() -> None:
    table = _catalog(150.0, 2.2, 500, 1.0, 1)
    shards = shard_by_htm(table)
    assert sum(len(s) for s in shards.values()) == len(table)
    pixelization = HtmPixelization(7)
    for trixel, shard in shards.items():
        for row in shard[:5]:
            point = UnitVector3d(LonLat.fromDegrees(row["coord_ra"], row["coord_dec"]))
            assert pixelization.index(point) == trixel
    assert sorted(vstack(list(shards.values()))["id"]) == sorted(table["id"])
    with pytest.raises(BadInputError, match="lacks column coord_dec"):
        shard_by_htm(Table({"coord_ra": [1.0]}))
    with pytest.raises(BadInputError, match="non-finite"):
        shard_by_htm(Table({"coord_ra": [1.0], "coord_dec": [np.nan]}))


def test_refcat_shards_for_a_predicted_footprint(simcam_repo: Butler, simcam: Instrument) -> None:
    table = _catalog(150.0, 2.2, 3000, 0.5, 2)
    refs, written = ingest_refcat(simcam_repo, table)
    assert written == len(refs) > 1
    assert ingest_refcat(simcam_repo, table)[1] == 0

    region = predict_footprint(simcam, 4, 150.0, 2.2, 30.0, padding_arcsec=10.0)
    shards = refcat_shards(simcam_repo, region)
    assert shards
    assert {ref.dataId["htm7"] for ref in shards} <= set(htm7_shards_for_region(region))
    loaded = vstack([simcam_repo.get(ref) for ref in shards])
    inside = [
        region.contains(UnitVector3d(LonLat.fromDegrees(r, d)))
        for r, d in zip(table["coord_ra"], table["coord_dec"], strict=True)
    ]
    expected = set(table["id"][np.array(inside)])
    assert expected
    assert expected <= set(loaded["id"])

    # A region far away finds nothing.
    assert refcat_shards(simcam_repo, predict_footprint(simcam, 0, 10.0, -40.0, 0.0)) == []
