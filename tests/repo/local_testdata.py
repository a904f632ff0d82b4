"""Test data and fixtures of the local-repository tests (``test_local_*``).

The central repository is bootstrapped once per session from a simulation
whose visits all point at the same field (no dithers), so two visits of a
detector need the same reference-catalog shards and templates; visits 0 and
1 fall in calibration epoch 0, visits 2 and 3 in epoch 1.  Calibrations
exist for detectors 0, 1 and 4 only.

Import the fixtures into a test module with
``from local_testdata import central_sim, local_repo  # noqa: F401``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.table import Table
from astropy.time import Time
from lsst.daf.butler import Butler, DatasetRef, DatasetType

from promptproc.repo import (
    EXPOSURE_STORAGE_CLASS,
    TABLE_STORAGE_CLASS,
    BootstrapSummary,
    LocalRepo,
    LocalRepoOptions,
    bootstrap_sim,
    create_central_repo,
    simulation_config,
)
from promptproc.simulation import SimulatedObservatory, SimVisit
from promptproc.visit import FannedOutVisit

DETECTOR_SIZE = 256
DETECTORS = (0, 1, 4)
PADDING = 5.0
"""Preload padding of the tests, arcsec (small, so few patches per detector)."""

OUTPUT_TYPES = {
    "calexp": EXPOSURE_STORAGE_CLASS,
    "difference_image": EXPOSURE_STORAGE_CLASS,
    "dia_source_table": TABLE_STORAGE_CLASS,
}


def local_simulation(**overrides: Any) -> Any:
    """Four visits of one field in g, 256-pixel detectors, two calibration epochs."""
    options: dict[str, Any] = {
        "seed": 11,
        "detector_size": DETECTOR_SIZE,
        "n_visits": 4,
        "n_epochs": 2,
        "filters": ["g"],
        "dither": 0.0,
        "rotation_dither": 0.0,
        "n_calib_frames": 2,
        "n_transients": 2,
        "n_variables": 2,
        "galaxies": False,
    }
    options.update(overrides)
    return simulation_config(**options)


@dataclass
class CentralSim:
    """The session's bootstrapped central repository and its simulation."""

    root: str
    observatory: SimulatedObservatory
    summary: BootstrapSummary

    @property
    def visits(self) -> list[SimVisit]:
        """The simulated visits."""
        return list(self.observatory.visits)

    def butler(self, writeable: bool = False) -> Butler:
        """A new Butler of the central repository."""
        return Butler.from_config(self.root, writeable=writeable)


def fanned_visit(visit: SimVisit, detector: int, **changes: Any) -> FannedOutVisit:
    """The next-visit event a worker of ``detector`` receives for a simulated visit."""
    start = float(Time(visit.mjd_begin, format="mjd", scale="tai").unix_tai)
    fields: dict[str, Any] = {
        "salIndex": 1,
        "scriptSalIndex": 100017,
        "groupId": visit.group,
        "coordinateSystem": 2,
        "position": [visit.ra, visit.dec],
        "startTime": start,
        "rotationSystem": 2,
        "cameraAngle": visit.rotation,
        "filters": visit.physical_filter,
        "dome": 2,
        "duration": visit.exposure_time,
        "nimages": 1,
        "instrument": "SimCam",
        "survey": "WFD",
        "totalCheckpoints": 0,
        "private_sndStamp": start - 30.0,
        "detector": detector,
    }
    fields.update(changes)
    return FannedOutVisit(**fields)


def shifted(visit: FannedOutVisit, **changes: Any) -> FannedOutVisit:
    """A copy of a visit with some fields changed."""
    return dataclasses.replace(visit, **changes)


def put_outputs(butler: Butler, run: str, visit: int, detector: int, seed: int = 0) -> list[DatasetRef]:
    """Put pipeline-like outputs of one detector-visit into a local run (random dataset IDs)."""
    from promptproc.image import Exposure

    for name, storage_class in OUTPUT_TYPES.items():
        butler.registry.registerDatasetType(
            DatasetType(name, ("instrument", "visit", "detector"), storage_class, universe=butler.dimensions)
        )
    butler.collections.register(run)
    rng = np.random.default_rng(seed)
    data_id = {"instrument": "SimCam", "visit": visit, "detector": detector}
    refs = []
    for name in ("calexp", "difference_image"):
        image = rng.normal(0.0, 1.0, size=(32, 32)).astype(np.float32)
        refs.append(butler.put(Exposure(image=image), name, data_id, run=run))
    table = Table({"diaSourceId": np.arange(5, dtype=np.int64), "flux": rng.normal(size=5)})
    refs.append(butler.put(table, "dia_source_table", data_id, run=run))
    return refs


def datastore_bytes(repo: LocalRepo) -> int:
    """Bytes of the dataset files of a local repository (everything but the registry)."""
    return sum(
        path.stat().st_size
        for path in repo.root.rglob("*")
        if path.is_file() and not path.name.startswith("gen3.sqlite3") and path.name != "butler.yaml"
    )


def sqlite_bytes(repo: LocalRepo) -> int:
    """Bytes of the registry database files."""
    return sum(path.stat().st_size for path in repo.root.glob("gen3.sqlite3*"))


_SESSION: dict[str, CentralSim] = {}


@pytest.fixture(scope="session")
def central_sim(tmp_path_factory: pytest.TempPathFactory) -> CentralSim:
    """A SQLite central repository bootstrapped for detectors 0, 1 and 4 (read it only).

    Each test module imports this fixture, which makes it a separate fixture
    per module; the repository is still made only once per session.
    """
    if "central" not in _SESSION:
        root = create_central_repo(tmp_path_factory.mktemp("local-central") / "repo")
        config = local_simulation()
        summary = bootstrap_sim(root, config, detectors=DETECTORS)
        _SESSION["central"] = CentralSim(root, SimulatedObservatory(config), summary)
    return _SESSION["central"]


@pytest.fixture
def local_repo(central_sim: CentralSim, tmp_path: Path) -> Iterator[LocalRepo]:
    """A fresh local repository on the session's central repository."""
    central = central_sim.butler()
    repo = LocalRepo.create(central, "SimCam", tmp_path / "local", LocalRepoOptions(preload_padding=PADDING))
    yield repo
    repo.close()
    central.close()
