"""Bootstrapping central repositories from the simulated observatory, and reading them back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.table import vstack
from astropy.time import Time
from lsst.daf.butler import Butler, CollectionType
from lsst.sphgeom import LonLat, UnitVector3d
from repo_testdata import BootstrappedRepo, small_simulation, unique_namespace

from promptproc.errors import ConfigurationError
from promptproc.image import Exposure
from promptproc.instrument import predict_footprint
from promptproc.repo import (
    bootstrap_sim,
    calib_run,
    create_central_repo,
    find_calibration,
    refcat_shards,
    simulation_config,
)
from promptproc.skymap import SkyMap
from promptproc.testing.services import PostgresDatabase

BUTLER = Path(sys.executable).with_name("butler")
N_DETECTORS = 9


def _counts(butler: Butler) -> dict[str, int]:
    counts = {}
    for dataset_type in butler.registry.queryDatasetTypes():
        refs = butler.query_datasets(
            dataset_type, collections="*", find_first=False, explain=False, limit=None
        )
        counts[dataset_type.name] = len(refs)
    return counts


def _observatory(config: object):
    from promptproc.simulation import SimulatedObservatory

    return SimulatedObservatory(config)


def test_sqlite_bootstrap_summary(sqlite_bootstrapped: BootstrappedRepo) -> None:
    summary = sqlite_bootstrapped.summary
    n_epochs = sqlite_bootstrapped.config.n_epochs
    assert summary.instrument == "SimCam"
    assert summary.count("camera").written == 1
    assert summary.count("skyMap").written == 1
    for name in ("bias", "dark", "defects", "flat"):  # one filter
        assert summary.count(name).written == N_DETECTORS * n_epochs, name
    assert summary.count("template_coadd").written >= 1
    assert summary.count("sim_refcat").written >= 1
    assert summary.certified == 1 + 4 * N_DETECTORS * n_epochs
    assert not summary.already_bootstrapped
    assert list(summary.seconds) == [
        "open",
        "simulate",
        "register",
        "camera",
        "skymap",
        "calibs",
        "templates",
        "refcat",
    ]
    text = summary.format()
    assert "template_coadd" in text
    assert "total" in text


def test_fresh_client_reads_everything(sqlite_bootstrapped: BootstrappedRepo) -> None:
    summary = sqlite_bootstrapped.summary
    butler = Butler.from_config(sqlite_bootstrapped.root)
    counts = _counts(butler)
    for name, count in summary.counts.items():
        assert counts[name] == count.total, name
    assert counts["raw"] == 0
    assert butler.collections.get_info("SimCam/defaults").children == (
        "SimCam/raw/all",
        "SimCam/calib",
        "templates/deep",
        "refcats",
        "skymaps",
    )
    assert butler.collections.get_info("SimCam/raw/all").type == CollectionType.RUN

    skymap = butler.get("skyMap", skymap=summary.skymap, collections="SimCam/defaults")
    assert isinstance(skymap, SkyMap)
    camera_ref = find_calibration(butler, "camera", {"instrument": "SimCam"}, Time.now())
    camera = butler.get(camera_ref)
    assert camera.detector(4).width == sqlite_bootstrapped.config.detector_size

    (template_ref, *_) = butler.query_datasets("template_coadd", collections="SimCam/defaults")
    template = butler.get(template_ref)
    assert isinstance(template, Exposure)
    assert template.wcs is not None
    assert template_ref.dataId["tract"] in summary.tracts

    # Through the chain, a calibration lookup by time works as it does in a worker.
    observatory = _observatory(sqlite_bootstrapped.config)
    visit = observatory.visits[0]
    when = Time(visit.mjd_begin, format="mjd", scale="tai")
    flat = butler.find_dataset(
        "flat",
        instrument="SimCam",
        detector=4,
        physical_filter=visit.physical_filter,
        collections="SimCam/defaults",
        timespan=__import__("lsst.daf.butler", fromlist=["Timespan"]).Timespan.fromInstant(when),
    )
    assert flat is not None
    defects = butler.get("defects", instrument="SimCam", detector=4, collections=flat.run)
    assert len(defects) >= 0
    butler.close()


def test_calibrations_by_time_follow_the_simulated_epochs(sqlite_bootstrapped: BootstrappedRepo) -> None:
    observatory = _observatory(sqlite_bootstrapped.config)
    butler = Butler.from_config(sqlite_bootstrapped.root)
    data_id = {"instrument": "SimCam", "detector": 2}
    epochs = observatory.calibration_epochs
    assert len(epochs) == 2
    biases = []
    for visit in observatory.visits:
        when = Time(visit.mjd_begin, format="mjd", scale="tai")
        (epoch,) = [e for e in epochs if e.contains(visit.mjd_begin)]
        ref = find_calibration(butler, "bias", data_id, when)
        assert ref is not None
        assert ref.run == calib_run("SimCam", epoch.name)
        biases.append(butler.get(ref))
    # Two visits, one in each epoch: their biases differ.
    assert not np.array_equal(biases[0].image, biases[1].image)
    np.testing.assert_array_equal(biases[0].image, observatory.master_bias(2, epochs[0]).image)
    before = Time(epochs[0].begin.tai.mjd - 1.0, format="mjd", scale="tai")
    after = Time(epochs[-1].end.tai.mjd + 1.0, format="mjd", scale="tai")
    assert find_calibration(butler, "bias", data_id, before) is None
    assert find_calibration(butler, "bias", data_id, after) is None
    butler.close()


def test_refcat_shards_hold_the_stars_of_a_planned_visit(sqlite_bootstrapped: BootstrappedRepo) -> None:
    observatory = _observatory(sqlite_bootstrapped.config)
    refcat = observatory.reference_catalog()
    butler = Butler.from_config(sqlite_bootstrapped.root)
    for visit in observatory.visits:
        for detector in (0, 4, 8):
            region = predict_footprint(
                observatory.instrument, detector, visit.ra, visit.dec, visit.rotation, padding_arcsec=20.0
            )
            shards = refcat_shards(butler, region)
            assert shards, (visit.obs_id, detector)
            loaded = vstack([butler.get(ref) for ref in shards])
            inside = np.array(
                [
                    region.contains(UnitVector3d(LonLat.fromDegrees(ra, dec)))
                    for ra, dec in zip(refcat["coord_ra"], refcat["coord_dec"], strict=True)
                ]
            )
            assert inside.any()
            assert set(refcat["id"][inside]) <= set(loaded["id"])
    butler.close()


def test_bootstrapping_again_writes_nothing(sqlite_bootstrapped: BootstrappedRepo) -> None:
    butler = Butler.from_config(sqlite_bootstrapped.root)
    before = _counts(butler)
    butler.close()
    summary = bootstrap_sim(sqlite_bootstrapped.root, sqlite_bootstrapped.config)
    assert summary.already_bootstrapped
    assert summary.written == 0
    assert summary.certified == 0
    assert "already bootstrapped" in summary.format()
    butler = Butler.from_config(sqlite_bootstrapped.root)
    assert _counts(butler) == before
    butler.close()


def test_butler_query_datasets_cli(sqlite_bootstrapped: BootstrappedRepo) -> None:
    result = subprocess.run(
        [str(BUTLER), "query-datasets", sqlite_bootstrapped.root, "*", "--collections", "*"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for name in ("camera", "bias", "dark", "flat", "defects", "template_coadd", "sim_refcat", "skyMap"):
        assert name in out, name
    assert "SimCam/calib/epoch0" in out
    assert "refcats/sim" in out
    assert "templates/deep" in out


def test_interrupted_bootstrap_is_completed(tmp_path: Path) -> None:
    root = create_central_repo(tmp_path / "repo")
    config = small_simulation()
    partial = bootstrap_sim(root, config, detectors=[0])
    assert partial.count("bias").written == 2
    full = bootstrap_sim(root, config, detectors=[0, 1])
    assert full.count("bias").written == 2
    assert full.count("bias").existing == 2
    assert full.count("template_coadd").written == 0
    assert not full.already_bootstrapped


def test_unknown_instrument_or_detector(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="unknown instrument 'NoCam'"):
        simulation_config(instrument="NoCam")
    with pytest.raises(ConfigurationError, match="invalid simulation configuration"):
        small_simulation(filters=["z"])
    with pytest.raises(ConfigurationError, match="no Butler repository"):
        bootstrap_sim(tmp_path / "nothing", small_simulation())


@pytest.mark.services
def test_postgres_central_repo_bootstrap(postgres: PostgresDatabase, tmp_path: Path) -> None:
    namespace = unique_namespace("central")
    root = create_central_repo(tmp_path / "repo", registry=postgres.url, namespace=namespace)
    config = small_simulation(seed=11)
    summary = bootstrap_sim(root, config, detectors=[3, 4])
    assert summary.count("bias").written == 2 * config.n_epochs
    assert summary.count("flat").written == 2 * config.n_epochs

    butler = Butler.from_config(root)
    counts = _counts(butler)
    for name, count in summary.counts.items():
        assert counts[name] == count.total, name
    observatory = _observatory(config)
    visit = observatory.visits[-1]
    when = Time(visit.mjd_begin, format="mjd", scale="tai")
    ref = find_calibration(butler, "dark", {"instrument": "SimCam", "detector": 4}, when)
    assert ref is not None
    assert butler.get(ref).shape == (config.detector_size, config.detector_size)
    region = predict_footprint(observatory.instrument, 4, visit.ra, visit.dec, visit.rotation, 10.0)
    assert refcat_shards(butler, region)
    butler.close()
    assert bootstrap_sim(root, config, detectors=[3, 4]).already_bootstrapped
