"""The pipelines end to end through `run_pipeline` on a worker's local repository.

One simulated visit of one 512-pixel detector (dense star field so that a
small detector still has enough PSF, astrometry and kernel stars, many
transients so that several land on it), a SQLite central repository
bootstrapped from the simulation, a `LocalRepo` prepared for the visit as the
worker does it, and a SQLite APDB holding DiaObjects from an earlier visit
at the positions of three of the detector's transients (and one far away).

Order, as in the worker: preload the local repository, write the visit's
``region_time``, run ``Preprocessing.yaml``, ingest the raw, run
``SingleFrame.yaml`` and ``ApPipe.yaml``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.time import Time
from lsst.daf.butler import Butler, DatasetRef
from lsst.sphgeom import LonLat, UnitVector3d

from promptproc.apdb import create_apdb, empty_table_frame, open_apdb, store_visit
from promptproc.errors import ConfigurationError
from promptproc.ids import DiaIdPacker
from promptproc.image import Exposure
from promptproc.pipetasks import (
    AlertPackets,
    CalibrationAlgorithmError,
    PipelineGraphError,
    PipelineRunResult,
    QuantumStatus,
    run_pipeline,
    write_region_time,
)
from promptproc.repo import LocalRepo, LocalRepoOptions, bootstrap_sim, create_central_repo, simulation_config
from promptproc.simulation import SimulatedObservatory, SimVisit
from promptproc.tasks.associate import run as associate
from promptproc.tasks.errors import CalibrationFailure
from promptproc.visit import FannedOutVisit

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines" / "SimCam"
INSTRUMENT = "SimCam"
DETECTOR = 4
PADDING = 10.0
PRELOAD_RUN = "SimCam/prompt/preload"
PREPROCESSING_RUN = "SimCam/prompt/Preprocessing"
EARLIER_VISIT = 2026112100001
N_SEEDED = 3


def _event(visit: SimVisit, detector: int) -> FannedOutVisit:
    """The next-visit event of one detector of a simulated visit."""
    start = float(Time(visit.mjd_begin, format="mjd", scale="tai").unix_tai)
    return FannedOutVisit(
        salIndex=1,
        scriptSalIndex=100017,
        groupId=visit.group,
        coordinateSystem=2,
        position=[visit.ra, visit.dec],
        startTime=start,
        rotationSystem=2,
        cameraAngle=visit.rotation,
        filters=visit.physical_filter,
        dome=2,
        duration=visit.exposure_time,
        nimages=1,
        instrument=INSTRUMENT,
        survey="WFD",
        totalCheckpoints=0,
        private_sndStamp=start - 30.0,
        detector=detector,
    )


@dataclass
class World:
    """The local repository after the pipelines ran, and what the tests compare with."""

    repo: LocalRepo
    observatory: SimulatedObservatory
    visit: SimVisit
    event: FannedOutVisit
    raw: DatasetRef
    apdb_config: Path
    seeded_ids: list[int]
    preprocessing: PipelineRunResult
    single_frame: PipelineRunResult
    ap_pipe: PipelineRunResult

    @property
    def butler(self) -> Butler:
        return self.repo.butler

    @property
    def exposure(self) -> int:
        return int(self.raw.dataId["exposure"])

    @property
    def main_data_id(self) -> dict[str, Any]:
        return {"instrument": INSTRUMENT, "exposure": self.exposure, "detector": DETECTOR}

    @property
    def visit_data_id(self) -> dict[str, Any]:
        return {"instrument": INSTRUMENT, "visit": self.exposure, "detector": DETECTOR}

    def main_inputs(self) -> list[str]:
        return [PREPROCESSING_RUN, self.repo.defaults_collection]

    def get(self, name: str, result: PipelineRunResult) -> Any:
        (ref,) = result.outputs_of(name)
        return self.butler.get(ref)

    def transients(self) -> Table:
        truth = self.observatory.truth(self.visit, DETECTOR)
        return truth[truth["kind"] == "transient"]


def _seed_apdb(
    world_dir: Path, transients: Table, visit: SimVisit, detector_max: int
) -> tuple[Path, list[int]]:
    """An APDB with DiaObjects (and one DiaSource each) of an earlier visit: some transients, one far away."""
    config = create_apdb(str(world_dir / "apdb.sqlite3"), world_dir / "apdb.yaml")
    chosen = transients[np.argsort(-np.asarray(transients["snr"]))[:N_SEEDED]]
    catalog = Table(
        {
            "x": np.r_[np.asarray(chosen["x"], float), 10.0],
            "y": np.r_[np.asarray(chosen["y"], float), 10.0],
            "ra": np.r_[np.asarray(chosen["ra"], float), visit.ra + 1.0],
            "dec": np.r_[np.asarray(chosen["dec"], float), visit.dec],
            "psfFlux": np.r_[np.asarray(chosen["flux"], float), 500.0],
            "psfFluxErr": np.full(N_SEEDED + 1, 50.0),
            "snr": np.full(N_SEEDED + 1, 20.0),
        }
    )
    earlier = visit.mjd_begin - 1.0
    rows = associate(
        catalog,
        empty_table_frame("DiaObject"),
        EARLIER_VISIT,
        DETECTOR,
        visit.band,
        earlier,
        id_packer=DiaIdPacker(detector_max),
    )
    apdb = open_apdb(config)
    stored = store_visit(apdb, Time(earlier, format="mjd", scale="tai"), rows.dia_objects, rows.dia_sources)
    assert stored.stored
    return config, [int(i) for i in rows.dia_objects["diaObjectId"][:N_SEEDED]]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("pipelines")
    config = simulation_config(
        seed=5,
        detector_size=512,
        n_visits=1,
        n_epochs=1,
        filters=["r"],
        dither=0.0,
        rotation_dither=0.0,
        n_calib_frames=2,
        n_transients=300,
        n_variables=0,
        galaxies=False,
        star_density=60000.0,
    )
    central_root = create_central_repo(root / "central")
    bootstrap_sim(central_root, config, detectors=[DETECTOR])
    observatory = SimulatedObservatory(config)
    central = Butler.from_config(central_root)
    repo = LocalRepo.create(central, INSTRUMENT, root / "local", LocalRepoOptions(preload_padding=PADDING))
    try:
        visit = observatory.visits[0]
        event = _event(visit, DETECTOR)
        prepared = repo.prepare(event)
        assert prepared.has_templates
        camera = repo.camera()
        truth = observatory.truth(visit, DETECTOR)
        apdb_config, seeded = _seed_apdb(
            root, truth[truth["kind"] == "transient"], visit, camera.detector_max
        )

        # Before the raw: the group record, the region and time, the preload.
        butler = repo.butler
        ref = write_region_time(butler, event, camera, PADDING, PRELOAD_RUN)
        # Detector 4 is the centre of SimCam's 3 x 3 focal plane: it sees the boresight.
        assert butler.get(ref).region.contains(UnitVector3d(LonLat.fromDegrees(visit.ra, visit.dec)))
        preprocessing = run_pipeline(
            butler,
            PIPELINES / "Preprocessing.yaml",
            [PRELOAD_RUN],
            PREPROCESSING_RUN,
            data_id={"instrument": INSTRUMENT, "group": event.groupId, "detector": DETECTOR},
            parameters={"apdb_config": str(apdb_config)},
        )

        raw_path, _ = observatory.write_raw(visit, DETECTOR, root / "raws")
        raw = repo.ingest_raw(raw_path, event)
        data_id = {"instrument": INSTRUMENT, "exposure": int(raw.dataId["exposure"]), "detector": DETECTOR}
        inputs = [PREPROCESSING_RUN, repo.defaults_collection]
        single_frame = run_pipeline(
            butler, PIPELINES / "SingleFrame.yaml", inputs, "SimCam/prompt/SingleFrame", data_id=data_id
        )
        ap_pipe = run_pipeline(
            butler,
            PIPELINES / "ApPipe.yaml",
            inputs,
            "SimCam/prompt/ApPipe",
            data_id=data_id,
            parameters={"apdb_config": str(apdb_config)},
            require_all_tasks=True,
        )
        yield World(
            repo, observatory, visit, event, raw, apdb_config, seeded, preprocessing, single_frame, ap_pipe
        )
    finally:
        repo.close()
        central.close()


def test_preprocessing_preloads_the_objects_around_the_detector(world: World) -> None:
    result = world.preprocessing
    assert result.complete, result.summary()
    assert [q.label for q in result.quanta] == ["preload"]
    objects = world.get("preloaded_dia_objects", result)
    assert sorted(objects["diaObjectId"]) == sorted(world.seeded_ids)  # not the far one
    history = world.get("preloaded_dia_sources", result)
    assert len(history) == N_SEEDED
    assert set(history["visit"]) == {EARLIER_VISIT}
    names = {ref.datasetType.name for ref in result.outputs}
    assert names == {
        "preloaded_dia_objects",
        "preloaded_dia_sources",
        "preload_config",
        "preload_log",
        "preload_metadata",
    }


def test_single_frame_calibrates(world: World) -> None:
    result = world.single_frame
    assert result.complete, result.summary()
    assert [q.label for q in result.quanta] == ["isr", "calibrate"]
    image = world.get("visit_image", result)
    assert isinstance(image, Exposure)
    assert image.shape == (512, 512)
    assert image.psf is not None
    assert image.photo_calib is not None
    (summary,) = world.get("visit_summary", result)
    assert summary["visit"] == world.exposure
    assert summary["failed_step"] == ""
    assert summary["astrometric_rms"] < 0.1
    assert summary["n_psf_stars"] >= 5
    assert len(world.get("visit_sources", result)) == summary["n_sources"]
    assert {"graph", "execute", "total"} <= set(result.seconds)


def test_ap_pipe_runs_every_step(world: World) -> None:
    result = world.ap_pipe
    assert result.complete, result.summary()
    assert [q.label for q in result.quanta] == [
        "isr",
        "calibrate",
        "template",
        "subtract",
        "dia",
        "associate",
        "alerts",
    ]
    assert set(result.task_seconds) == {q.label for q in result.quanta}
    difference = world.get("difference_image", result)
    assert isinstance(difference, Exposure)
    assert difference.shape == (512, 512)
    (kernel,) = world.get("difference_kernel", result)
    assert kernel["kernel"].ndim == 2
    assert 0.5 < kernel["residual_std_ratio"] < 1.5


def test_injected_transients_are_found(world: World) -> None:
    sources = world.get("dia_sources", world.ap_pipe)
    transients = world.transients()
    assert len(transients) >= 3
    found = SkyCoord(sources["ra"], sources["dec"], unit="deg")
    truth = SkyCoord(transients["ra"], transients["dec"], unit="deg")
    _, separation, _ = truth.match_to_catalog_sky(found)
    bright = np.asarray(transients["snr"]) > 10
    assert np.count_nonzero(separation.arcsec[bright] < 1.0) >= max(3, int(0.7 * bright.sum()))


def test_association_rows_and_alerts(world: World) -> None:
    result = world.ap_pipe
    sources = world.get("dia_source_apdb", result)
    objects = world.get("dia_object_apdb", result)
    dia_sources = world.get("dia_sources", result)
    assert len(sources) == len(dia_sources)
    assert sources["diaSourceId"].is_unique
    packer = DiaIdPacker(world.repo.camera().detector_max)
    keys = [packer.unpack(int(i)) for i in sources["diaSourceId"]]
    assert {(k.visit, k.detector) for k in keys} == {(world.exposure, DETECTOR)}
    assert [k.index for k in keys] == list(range(len(sources)))
    # The seeded objects were matched: their new versions count two sources.
    matched = objects[objects["diaObjectId"].isin(world.seeded_ids)]
    assert len(matched) >= 2
    assert set(matched["nDiaSources"]) == {2}
    assert set(objects["diaObjectId"]) == set(sources["diaObjectId"])

    packets = world.get("alert_packets", result)
    assert isinstance(packets, AlertPackets)
    assert packets.dia_source_ids == [int(i) for i in sources["diaSourceId"]]
    with_history = [a for a in packets if a["diaObject"]["diaObjectId"] in world.seeded_ids]
    assert with_history
    assert all(len(a["prvDiaSources"]) == 1 for a in with_history)
    assert all(a["cutoutDifference"] and a["cutoutScience"] and a["cutoutTemplate"] for a in packets)


def test_failing_calibration_is_a_failed_quantum(world: World) -> None:
    butler = world.butler
    butler.collections.register("refcats/empty")
    shards = butler.query_datasets("sim_refcat", collections=world.repo.defaults_collection, explain=False)
    for shard in shards:
        butler.put(butler.get(shard)[:0], "sim_refcat", shard.dataId, run="refcats/empty")
    inputs = ["refcats/empty", *world.main_inputs()]

    result = run_pipeline(
        butler, PIPELINES / "ApPipe.yaml", inputs, "fail/ApPipe", data_id=world.main_data_id
    )
    assert not result.ok
    statuses = {q.label: q.status for q in result.quanta}
    assert statuses["isr"] is QuantumStatus.SUCCEEDED
    assert statuses["calibrate"] is QuantumStatus.FAILED
    assert {statuses[label] for label in ("template", "subtract", "dia", "associate", "alerts")} == {
        QuantumStatus.BLOCKED
    }
    failure = result.outcome("calibrate")
    assert isinstance(failure.error, CalibrationAlgorithmError)
    assert isinstance(failure.error.science_error, CalibrationFailure)
    assert failure.error_metadata["step"] == "astrometry"
    assert "reference stars" in failure.message
    assert "calibrate" in result.summary()
    # The summary row says why; no visit image was written.
    (summary,) = world.get("visit_summary", result)
    assert summary["failed_step"] == "astrometry"
    assert not result.outputs_of("visit_image")

    # As a qualified success, downstream quanta find no work instead of being blocked.
    lenient = run_pipeline(
        butler,
        PIPELINES / "SingleFrame.yaml",
        inputs,
        "fail/SingleFrame",
        data_id=world.main_data_id,
        raise_on_partial_outputs=False,
    )
    calibrate = lenient.outcome("calibrate")
    assert calibrate.status is QuantumStatus.PARTIAL
    assert calibrate.error_metadata["step"] == "astrometry"
    assert not lenient.ok


def test_graph_errors_before_anything_runs(world: World) -> None:
    butler = world.butler
    no_templates = [PREPROCESSING_RUN, "SimCam/raw/all", "SimCam/calib", "refcats", "skymaps"]
    with pytest.raises(PipelineGraphError, match="empty"):
        run_pipeline(
            butler, PIPELINES / "ApPipe.yaml", no_templates, "none/ApPipe", data_id=world.main_data_id
        )
    assert not butler.collections.query("none/*")  # the RUN made for the call is gone
    # Without the preprocessing outputs there is no ApPipe graph either.
    with pytest.raises(PipelineGraphError):
        run_pipeline(
            butler,
            PIPELINES / "ApPipe.yaml",
            [world.repo.defaults_collection],
            "none/ApPipe2",
            data_id=world.main_data_id,
        )
    # Without region_time there is nothing to preload.
    with pytest.raises(PipelineGraphError):
        run_pipeline(
            butler,
            PIPELINES / "Preprocessing.yaml",
            [world.repo.defaults_collection],
            "none/Preprocessing",
            data_id={"instrument": INSTRUMENT, "group": world.event.groupId, "detector": DETECTOR},
        )
    # A bad configuration is a configuration error, not a graph error.
    with pytest.raises(ConfigurationError, match="overscan_smooth_rows"):
        run_pipeline(
            butler,
            PIPELINES / "SingleFrame.yaml",
            world.main_inputs(),
            "none/bad-config",
            data_id=world.main_data_id,
            config={"isr": {"overscan_smooth_rows": 2}},
        )
    # The outputs of a run cannot be written twice into the same run.
    with pytest.raises(PipelineGraphError):
        run_pipeline(
            butler,
            PIPELINES / "SingleFrame.yaml",
            world.main_inputs(),
            "SimCam/prompt/SingleFrame",
            data_id=world.main_data_id,
        )


class _StopError(Exception):
    pass


def test_check_stops_between_quanta(world: World) -> None:
    calls: list[int] = []

    def check() -> None:
        calls.append(len(calls))
        if len(calls) == 3:  # graph, isr, then stop before calibrate
            raise _StopError

    with pytest.raises(_StopError):
        run_pipeline(
            world.butler,
            PIPELINES / "SingleFrame.yaml",
            world.main_inputs(),
            "stopped/SingleFrame",
            data_id=world.main_data_id,
            check=check,
        )
    assert calls == [0, 1, 2]
    # The caller's Butler sees what the run wrote (run_pipeline refreshes its caches).
    written = {
        ref.datasetType.name for ref in world.butler.query_all_datasets("stopped/SingleFrame", limit=None)
    }
    assert "post_isr_image" in written
    assert "visit_image" not in written
