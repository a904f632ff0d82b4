"""Instrument and sky-map registration, collections and dataset types: idempotent and checked."""

from __future__ import annotations

import pytest
from lsst.daf.butler import Butler, CollectionType

from promptproc.errors import ConfigurationError
from promptproc.instrument import Instrument, make_simcam
from promptproc.repo import (
    DATASET_TYPES,
    INSTRUMENT_CLASS_NAME,
    register_dataset_types,
    register_instrument,
    register_skymap,
    setup_collections,
)
from promptproc.skymap import SkyMap, SkyMapConfig


def test_instrument_records(empty_repo: str, simcam: Instrument) -> None:
    butler = Butler.from_config(empty_repo, writeable=True)
    assert register_instrument(butler, simcam) is True
    assert register_instrument(butler, simcam) is False
    (record,) = butler.query_dimension_records("instrument")
    assert record.name == "SimCam"
    assert record.class_name == INSTRUMENT_CLASS_NAME
    assert record.detector_max == 9
    assert record.visit_system == 0
    detectors = butler.query_dimension_records("detector", instrument="SimCam")
    assert sorted(d.full_name for d in detectors) == [d.name for d in simcam.detectors]
    by_name = {d.full_name: d for d in detectors}
    assert by_name["R22_S11"].raft == "R22"
    assert by_name["R22_S11"].name_in_raft == "S11"
    assert by_name["R22_S11"].purpose == "SCIENCE"
    filters = {r.name: r.band for r in butler.query_dimension_records("physical_filter", instrument="SimCam")}
    assert filters == {"g": "g", "r": "r", "i": "i"}
    systems = {r.id: r.name for r in butler.query_dimension_records("visit_system", instrument="SimCam")}
    assert systems[0] == "one-to-one"
    butler.close()


def test_instrument_with_other_limits_conflicts(empty_repo: str, simcam: Instrument) -> None:
    butler = Butler.from_config(empty_repo, writeable=True)
    register_instrument(butler, simcam)
    other = Instrument(
        name="SimCam",
        obs_id_prefix="SC",
        pixel_scale=0.2,
        detectors=simcam.detectors[:4],
        filters=simcam.filters,
    )
    with pytest.raises(ConfigurationError, match="instrument SimCam is already registered"):
        register_instrument(butler, other)
    # Detector size does not enter the records: a bigger SimCam is the same instrument.
    assert register_instrument(butler, make_simcam(512)) is False
    butler.close()


def test_skymap_tracts_and_patches(empty_repo: str) -> None:
    butler = Butler.from_config(empty_repo, writeable=True)
    skymap = SkyMap(SkyMapConfig(patch_inner=4000))
    tract_id = skymap.find_tract(150.0, 2.2)
    tract = skymap.tract(tract_id)
    n = register_skymap(butler, skymap, [tract_id])
    assert n == tract.patches_x * tract.patches_y
    assert register_skymap(butler, skymap, [tract_id, tract_id]) == n
    (record,) = butler.query_dimension_records("skymap")
    assert record.hash == skymap.hash()
    assert record.tract_max == skymap.num_tracts
    assert (record.patch_nx_max, record.patch_ny_max) == skymap.max_patches
    assert [t.id for t in butler.query_dimension_records("tract", skymap=skymap.name)] == [tract_id]
    patches = butler.query_dimension_records("patch", skymap=skymap.name, tract=tract_id, limit=None)
    assert len(patches) == n
    patch = next(p for p in patches if p.id == 1)
    assert (patch.cell_x, patch.cell_y) == (1, 0)
    assert patch.region.contains(tract.patch(1).region().getCentroid())

    # A redefined sky map of the same name is refused.
    changed = SkyMap(SkyMapConfig(patch_inner=3000))
    with pytest.raises(ConfigurationError, match="sky map sim_rings is already registered"):
        register_skymap(butler, changed, [tract_id])
    butler.close()


def test_patch_regions_answer_spatial_queries(empty_repo: str) -> None:
    from promptproc.instrument import sky_polygon

    butler = Butler.from_config(empty_repo, writeable=True)
    skymap = SkyMap(SkyMapConfig(patch_inner=4000))
    tract_id = skymap.find_tract(150.0, 2.2)
    register_skymap(butler, skymap, [tract_id])
    corners = [[150.0, 2.2], [150.01, 2.2], [150.0, 2.21]]
    with butler.query() as query:
        found = list(
            query.where(
                "patch.region OVERLAPS r", bind={"r": sky_polygon(corners)}, skymap=skymap.name
            ).data_ids(["tract", "patch"])
        )
    expected = {p.id for p in skymap.tract(tract_id).patches_overlapping(corners)}
    assert found
    assert {d["patch"] for d in found} == expected
    butler.close()


def test_collections_and_dataset_types(empty_repo: str) -> None:
    butler = Butler.from_config(empty_repo, writeable=True)
    kinds = setup_collections(butler, "SimCam")
    # Running again, or after an operator added a child, keeps the chains intact.
    butler.collections.register("SimCam/extra", CollectionType.RUN)
    butler.collections.prepend_chain("SimCam/defaults", "SimCam/extra")
    assert setup_collections(butler, "SimCam") == kinds
    assert butler.collections.get_info("SimCam/defaults").children == (
        "SimCam/extra",
        "SimCam/raw/all",
        "SimCam/calib",
        "templates/deep",
        "refcats",
        "skymaps",
    )
    assert butler.collections.get_info("refcats").children == ("refcats/sim",)
    assert butler.collections.get_info("SimCam/calib").type == CollectionType.CALIBRATION

    types = register_dataset_types(butler)
    assert set(types) == set(DATASET_TYPES)
    assert register_dataset_types(butler) == types
    assert butler.get_dataset_type("flat").isCalibration()
    assert set(butler.get_dataset_type("sim_refcat").dimensions.names) == {"htm7"}
    assert butler.get_dataset_type("template_coadd").dimensions.required >= {"skymap", "tract", "patch"}
    butler.close()


def test_conflicting_collection_type_is_a_configuration_error(empty_repo: str) -> None:
    butler = Butler.from_config(empty_repo, writeable=True)
    butler.collections.register("skymaps", CollectionType.TAGGED)
    with pytest.raises(ConfigurationError, match="skymaps is a TAGGED collection, not RUN"):
        setup_collections(butler, "SimCam")
    butler.close()
