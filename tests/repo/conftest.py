"""Fixtures of the repository tests: small instruments and repositories."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lsst.daf.butler import Butler
from repo_testdata import DETECTOR_SIZE, BootstrappedRepo, small_simulation

from promptproc.instrument import Instrument, make_simcam
from promptproc.repo import (
    bootstrap_sim,
    create_central_repo,
    register_dataset_types,
    register_instrument,
    setup_collections,
)


@pytest.fixture(scope="session")
def simcam() -> Instrument:
    """SimCam with small detectors."""
    return make_simcam(DETECTOR_SIZE)


@pytest.fixture
def empty_repo(tmp_path: Path) -> str:
    """A new SQLite central repository with nothing in it."""
    return create_central_repo(tmp_path / "repo")


@pytest.fixture
def simcam_repo(empty_repo: str, simcam: Instrument) -> Iterator[Butler]:
    """A writeable SQLite repository with SimCam, the dataset types and collections."""
    butler = Butler.from_config(empty_repo, writeable=True)
    register_instrument(butler, simcam)
    register_dataset_types(butler)
    setup_collections(butler, simcam.name)
    yield butler
    butler.close()


@pytest.fixture(scope="session")
def sqlite_bootstrapped(tmp_path_factory: pytest.TempPathFactory) -> BootstrappedRepo:
    """A SQLite central repository bootstrapped once for the whole session (read it only)."""
    root = create_central_repo(tmp_path_factory.mktemp("central") / "repo")
    config = small_simulation()
    summary = bootstrap_sim(root, config)
    return BootstrappedRepo(root, config, summary)
