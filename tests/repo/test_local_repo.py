"""Creating and closing a worker's local repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from local_testdata import CentralSim, central_sim, local_repo  # noqa: F401
from lsst.daf.butler import Butler, CollectionType

from promptproc.errors import ConfigurationError
from promptproc.repo import LocalRepo, LocalRepoOptions


def test_local_repo_mirrors_the_central_structure(local_repo: LocalRepo, central_sim: CentralSim) -> None:  # noqa: F811
    central = central_sim.butler()
    local = local_repo.butler
    assert re.fullmatch(r"butler-[a-z0-9_]{8}", local_repo.root.name)
    assert (local_repo.root / "butler.yaml").exists()
    assert local.dimensions == central.dimensions
    # Our storage classes and formatters are in the local configuration too.
    assert local.storageClasses.getStorageClass("PromptExposure").pytype.__name__ == "Exposure"
    for element in ("instrument", "detector", "physical_filter", "visit_system"):
        assert {r.dataId for r in local.query_dimension_records(element, instrument="SimCam")} == {
            r.dataId for r in central.query_dimension_records(element, instrument="SimCam")
        }
    central_chain = central.collections.get_info("SimCam/defaults")
    local_chain = local.collections.get_info("SimCam/defaults")
    assert local_chain.type == CollectionType.CHAINED
    assert local_chain.children == central_chain.children
    assert local.collections.get_info("refcats").children == central.collections.get_info("refcats").children
    assert local.collections.get_info("SimCam/calib").type == CollectionType.CALIBRATION
    assert local.collections.get_info("SimCam/raw/all").type == CollectionType.RUN
    assert local.get_dataset_type("raw") == central.get_dataset_type("raw")
    assert local_repo.dataset_count() == 0


def test_close_removes_the_directory(central_sim: CentralSim, tmp_path: Path) -> None:  # noqa: F811
    central = central_sim.butler()
    with LocalRepo.create(central, "SimCam", tmp_path / "a") as repo:
        root = repo.root
        assert root.parent == tmp_path / "a"
        assert root.is_dir()
    assert repo.closed
    assert not root.exists()
    other = LocalRepo.create(central, "SimCam", tmp_path / "a")
    assert other.root != root
    other.close()
    other.close()  # a second close is harmless
    assert list((tmp_path / "a").iterdir()) == []


def test_unknown_instrument_leaves_nothing(central_sim: CentralSim, tmp_path: Path) -> None:  # noqa: F811
    with pytest.raises(ConfigurationError, match="instrument LSSTCam is not registered"):
        LocalRepo.create(central_sim.butler(), "LSSTCam", tmp_path / "b")
    assert list((tmp_path / "b").iterdir()) == []


def test_options(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="transfer mode"):
        LocalRepoOptions(raw_transfer="teleport")
    with pytest.raises(ConfigurationError, match="cache size"):
        LocalRepoOptions(cache_size=0)

    class Settings:
        local_repo_cache_size = 2
        local_repo_refcat_cache_size = 0
        local_repo_template_cache_size = 5
        preload_padding = 12.5

    options = LocalRepoOptions.from_settings(Settings(), raw_transfer="direct")
    assert (options.cache_size, options.refcat_cache_size, options.template_cache_size) == (2, 0, 5)
    assert options.preload_padding == 12.5
    assert options.raw_transfer == "direct"
    capacity = options.capacity()
    assert capacity.of("bias") == 2
    assert capacity.of("sim_refcat") == 0
    assert capacity.of("template_coadd") == 5


def test_universe_of_the_central_repo_is_used(central_sim: CentralSim, tmp_path: Path) -> None:  # noqa: F811
    central = central_sim.butler()
    with LocalRepo.create(central, "SimCam", tmp_path) as repo:
        reopened = Butler.from_config(str(repo.root))
        assert reopened.dimensions.version == central.dimensions.version
        assert reopened.dimensions.namespace == central.dimensions.namespace
        reopened.close()
