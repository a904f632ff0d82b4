"""Preloading a visit's inputs into a local repository, and the cache across visits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.time import Time
from local_testdata import (  # noqa: F401
    PADDING,
    CentralSim,
    central_sim,
    fanned_visit,
    local_repo,
    shifted,
)
from lsst.daf.butler import Timespan
from lsst.sphgeom import LonLat

from promptproc.errors import BadInputError
from promptproc.repo import (
    CALIBRATION_TYPES,
    DatasetCache,
    LocalRepo,
    LocalRepoOptions,
    MissingCalibrationError,
    find_calibration,
    htm7_shards_for_region,
)

CALIBS = ("bias", "dark", "flat", "defects")


def associations(butler, name: str) -> dict:
    return {a.ref.id: a.timespan for a in butler.registry.queryDatasetAssociations(name, "SimCam/calib")}


@pytest.mark.parametrize(("index", "epoch"), [(0, "epoch0"), (2, "epoch1")])
def test_right_calibrations_for_the_visit_time(
    local_repo: LocalRepo,  # noqa: F811
    central_sim: CentralSim,  # noqa: F811
    index: int,
    epoch: str,
) -> None:
    central = central_sim.butler()
    sim_visit = central_sim.visits[index]
    visit = fanned_visit(sim_visit, 4)
    result = local_repo.prepare(visit)
    when = Time(sim_visit.mjd_begin, format="mjd", scale="tai")

    assert set(result.calibs) == set(CALIBRATION_TYPES)
    for name in CALIBS:
        data_id = {"instrument": "SimCam", "detector": 4, "physical_filter": "g"}
        expected = find_calibration(central, name, data_id, when)
        assert expected is not None
        assert result.calibs[name].id == expected.id
        assert result.calibs[name].run == f"SimCam/calib/{epoch}"
        # Re-certified locally with the central validity range.
        assert find_calibration(local_repo.butler, name, data_id, when).id == expected.id
        central_span = associations(central, name)[expected.id]
        assert result.validity[name] == central_span
        assert associations(local_repo.butler, name) == {expected.id: central_span}
    assert result.validity["camera"] == Timespan(None, None)
    assert result.band == "g"
    assert result.seconds["total"] > 0
    assert result.n_transferred == len(result.refs)
    assert result.n_reused == 0


def test_shards_and_patches_overlap_the_padded_footprint(
    local_repo: LocalRepo,  # noqa: F811
    central_sim: CentralSim,  # noqa: F811
) -> None:
    central = central_sim.butler()
    visit = fanned_visit(central_sim.visits[0], 0)
    result = local_repo.prepare(visit)
    camera = local_repo.camera()
    region = visit.footprint(camera, PADDING)
    assert result.region == region
    assert not region.isDisjointFrom(visit.footprint(camera))

    # Reference shards: exactly the stored shards of the region's trixels.
    trixels = set(htm7_shards_for_region(region))
    stored = central.query_datasets("sim_refcat", collections="refcats", explain=False, limit=None)
    expected_shards = {ref.id for ref in stored if ref.dataId["htm7"] in trixels}
    assert expected_shards
    assert {ref.id for ref in result.refcat_shards} == expected_shards
    assert len(expected_shards) < len(stored) or len(stored) == len(expected_shards)

    # Templates: exactly the g-band templates of the patches the sky map says overlap.
    skymap = central.get(result.skymap)
    vertices = np.array(
        [[LonLat(v).getLon().asDegrees(), LonLat(v).getLat().asDegrees()] for v in region.getVertices()]
    )
    patches = {(p.tract, p.id) for p in skymap.patches_overlapping(vertices)}
    assert set(result.template_patches) == patches
    assert result.missing_template_patches == []
    assert result.has_templates
    assert result.templates_complete
    all_templates = central.query_datasets("template_coadd", collections="templates/deep", limit=None)
    expected_templates = {
        ref.id
        for ref in all_templates
        if (ref.dataId["tract"], ref.dataId["patch"]) in patches and ref.dataId["band"] == "g"
    }
    assert {ref.id for ref in result.templates} == expected_templates
    assert len(expected_templates) < len(all_templates)
    for ref in result.templates:
        assert (
            not skymap.tract(ref.dataId["tract"]).patch(ref.dataId["patch"]).region().isDisjointFrom(region)
        )

    # Nothing else is in the local repository.
    assert local_repo.dataset_count() == len(result.refs) == 5 + 1 + len(expected_shards) + len(patches)
    assert {ref.id for ref in result.refs} == local_repo.cache.ids()
    for ref in result.refs:
        assert local_repo.butler.stored(ref)


def test_second_visit_of_the_same_detector_transfers_nothing(
    local_repo: LocalRepo,  # noqa: F811
    central_sim: CentralSim,  # noqa: F811
) -> None:
    first = local_repo.prepare(fanned_visit(central_sim.visits[0], 4))
    second = local_repo.prepare(fanned_visit(central_sim.visits[1], 4))
    assert first.n_transferred > 0
    assert second.n_transferred == 0
    assert second.transferred == {}
    assert second.reused == first.transferred
    assert second.evicted == {}
    assert {r.id for r in second.refs} == {r.id for r in first.refs}
    assert second.seconds["transfer"] < first.seconds["transfer"]


def test_least_recently_used_calibrations_are_evicted(
    central_sim: CentralSim,  # noqa: F811
    tmp_path: Path,
) -> None:
    options = LocalRepoOptions(cache_size=2, preload_padding=PADDING, template_cache_size=64)
    sim_visit = central_sim.visits[0]
    with LocalRepo.create(central_sim.butler(), "SimCam", tmp_path, options) as repo:
        det0 = repo.prepare(fanned_visit(sim_visit, 0))
        det1 = repo.prepare(fanned_visit(sim_visit, 1))
        assert det1.evicted == {}
        again = repo.prepare(fanned_visit(sim_visit, 0))  # det 0 is now more recent than det 1
        assert again.transferred == {}
        det4 = repo.prepare(fanned_visit(sim_visit, 4))
        # Each calibration type holds 2: det 1's calibrations, the least recently used, go.
        assert det4.evicted == dict.fromkeys(CALIBS, 1)
        for name in CALIBS:
            gone = det1.calibs[name]
            assert gone not in repo.cache
            assert repo.butler.registry.getDataset(gone.id) is None
            assert gone.id not in associations(repo.butler, name)  # decertified
            assert det0.calibs[name] in repo.cache
            assert repo.butler.stored(det0.calibs[name])
            assert repo.butler.stored(det4.calibs[name])
        # The camera, needed by every visit, stays.
        assert det4.calibs["camera"] in repo.cache
        # Det 0 again: nothing to fetch.
        assert repo.prepare(fanned_visit(sim_visit, 0)).transferred == {}


def test_current_visit_is_never_evicted(central_sim: CentralSim, tmp_path: Path) -> None:  # noqa: F811
    options = LocalRepoOptions(
        cache_size=1, refcat_cache_size=0, template_cache_size=1, preload_padding=PADDING
    )
    sim_visit = central_sim.visits[0]
    with LocalRepo.create(central_sim.butler(), "SimCam", tmp_path, options) as repo:
        det0 = repo.prepare(fanned_visit(sim_visit, 0))
        assert len(det0.templates) > 1
        # Over capacity, but all needed now: nothing evicted, everything stored.
        assert det0.evicted == {}
        assert all(repo.butler.stored(ref) for ref in det0.refs)
        det4 = repo.prepare(fanned_visit(sim_visit, 4))
        kept = {ref.id for ref in det4.refs}
        evicted_templates = {ref.id for ref in det0.templates} - kept
        assert det4.evicted["template_coadd"] == len(evicted_templates)
        assert all(repo.butler.stored(ref) for ref in det4.refs)
        shared_shards = {ref.id for ref in det0.refcat_shards} & {ref.id for ref in det4.refcat_shards}
        assert det4.reused.get("sim_refcat", 0) == len(shared_shards)


def test_missing_templates_are_reported(local_repo: LocalRepo, central_sim: CentralSim) -> None:  # noqa: F811
    visit = shifted(fanned_visit(central_sim.visits[0], 4), position=(30.0, -40.0))
    result = local_repo.prepare(visit)
    assert not result.has_templates
    assert not result.templates_complete
    assert result.template_patches
    assert result.missing_template_patches == result.template_patches
    assert result.refcat_shards == []
    assert set(result.calibs) == set(CALIBRATION_TYPES)


def test_missing_calibrations_are_named(local_repo: LocalRepo, central_sim: CentralSim) -> None:  # noqa: F811
    visit = fanned_visit(central_sim.visits[0], 8)  # no calibrations were made for detector 8
    with pytest.raises(MissingCalibrationError) as info:
        local_repo.prepare(visit)
    message = str(info.value)
    for name in CALIBS:
        assert name in message
    assert "detector 8" in message
    assert info.value.missing == [
        "bias (detector 8)",
        "dark (detector 8)",
        "flat (detector 8, physical_filter g)",
        "defects (detector 8)",
    ]
    # A visit long after the last epoch: only the camera is valid.
    late = shifted(fanned_visit(central_sim.visits[0], 4), startTime=visit.startTime + 400 * 86400.0)
    with pytest.raises(MissingCalibrationError, match="missing bias"):
        local_repo.prepare(late)
    assert local_repo.dataset_count() == 0


def test_bad_visits(local_repo: LocalRepo, central_sim: CentralSim) -> None:  # noqa: F811
    visit = fanned_visit(central_sim.visits[0], 4)
    with pytest.raises(BadInputError, match="physical filter 'z'"):
        local_repo.prepare(shifted(visit, filters="z"))
    with pytest.raises(BadInputError, match="no detector 42"):
        local_repo.prepare(shifted(visit, detector=42))
    with pytest.raises(BadInputError, match="visit is for LSSTCam"):
        local_repo.prepare(shifted(visit, instrument="LSSTCam"))
    assert local_repo.dataset_count() == 0


def test_preload_after_an_interrupted_one(local_repo: LocalRepo, central_sim: CentralSim) -> None:  # noqa: F811
    visit = fanned_visit(central_sim.visits[0], 4)
    first = local_repo.prepare(visit)
    # As if the worker had died after the transfer, before recording the cache.
    local_repo.cache = DatasetCache(local_repo.options.capacity())
    local_repo.certified = {}
    again = local_repo.prepare(visit)
    assert again.n_transferred == 0
    assert {ref.id for ref in again.refs} == {ref.id for ref in first.refs} == local_repo.cache.ids()
    for name in CALIBS:
        assert associations(local_repo.butler, name) == {first.calibs[name].id: first.validity[name]}
    assert local_repo.dataset_count() == len(first.refs)
    local_repo.clean_visit(visit)
    assert local_repo.dataset_count() == len(first.refs)
