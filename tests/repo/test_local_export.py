"""Export of a local output run to a central repository with deterministic dataset IDs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from local_testdata import (  # noqa: F401
    CentralSim,
    central_sim,
    fanned_visit,
    local_repo,
    put_outputs,
)
from lsst.daf.butler import Butler, DatasetIdGenEnum, DatasetRef
from repo_testdata import unique_namespace

from promptproc.errors import ConfigurationError
from promptproc.instrument import Instrument
from promptproc.repo import (
    ExportConflictError,
    LocalRepo,
    LocalRepoOptions,
    create_central_repo,
    export_outputs,
    output_run_name,
    register_instrument,
)
from promptproc.testing.services import PostgresDatabase, S3Service

VISIT_ELEMENTS = ("exposure", "visit", "visit_definition", "visit_system_membership", "visit_detector_region")


def count_datasets(butler: Butler) -> int:
    return sum(
        len(butler.query_datasets(dt, collections="*", find_first=False, explain=False, limit=None))
        for dt in butler.registry.queryDatasetTypes()
    )


def writeable_central(root: str, camera: Instrument) -> Butler:
    butler = Butler.from_config(root, writeable=True)
    register_instrument(butler, camera)
    return butler


@pytest.fixture
def camera(central_sim: CentralSim) -> Instrument:  # noqa: F811
    return central_sim.butler().get("camera", instrument="SimCam", collections="SimCam/calib", timespan=None)


@pytest.fixture
def output_central(tmp_path: Path, camera: Instrument) -> Iterator[Butler]:
    """An empty SQLite central repository to export into, with SimCam registered."""
    butler = writeable_central(create_central_repo(tmp_path / "out"), camera)
    yield butler
    butler.close()


def process(repo: LocalRepo, central_sim: CentralSim, detector: int, tmp_path: Path) -> str:  # noqa: F811
    """Prepare, ingest and fake a pipeline run for visit 0; return the output run."""
    sim_visit = central_sim.visits[0]
    visit = fanned_visit(sim_visit, detector)
    repo.prepare(visit)
    raw, _ = central_sim.observatory.write_raw(sim_visit, detector, tmp_path / f"raws{detector}")
    repo.ingest_raw(raw, visit)
    run = output_run_name("SimCam", visit.day_obs, "pipelines/SimCam/ApPipe.yaml", "test-deploy")
    put_outputs(repo.butler, run, sim_visit.exposure_id, detector, seed=detector)
    return run


def test_output_run_name() -> None:
    assert (
        output_run_name("SimCam", 20261122, "pipelines/SimCam/ApPipe.yaml", "promptproc-1.0")
        == "SimCam/prompt/output-2026-11-22/ApPipe/promptproc-1.0"
    )
    assert output_run_name("SimCam", "2026-11-22", "SingleFrame", "d") == (
        "SimCam/prompt/output-2026-11-22/SingleFrame/d"
    )
    with pytest.raises(ConfigurationError, match="day_obs"):
        output_run_name("SimCam", 2026112, "ApPipe", "d")
    with pytest.raises(ConfigurationError, match="deployment"):
        output_run_name("SimCam", 20261122, "ApPipe", "a/b")


def test_export_twice_adds_nothing(
    local_repo: LocalRepo,  # noqa: F811
    central_sim: CentralSim,  # noqa: F811
    output_central: Butler,
    tmp_path: Path,
) -> None:
    run = process(local_repo, central_sim, 4, tmp_path)
    local_refs = local_repo.butler.query_all_datasets(run, find_first=False)
    before = count_datasets(output_central)
    first = local_repo.export_outputs(run, output_central, [".*"])
    after_first = count_datasets(output_central)
    second = local_repo.export_outputs(run, output_central, [".*"])
    assert first.run == run
    assert first.exported == {"calexp": 1, "difference_image": 1, "dia_source_table": 1}
    assert first.skipped == {}
    assert after_first == before + 3
    assert second.exported == {}
    assert second.skipped == first.exported
    assert count_datasets(output_central) == after_first
    # Central IDs are deterministic (type + data ID + run), unlike the local random ones.
    for local_ref in local_refs:
        central_ref = output_central.find_dataset(
            local_ref.datasetType.name, local_ref.dataId, collections=run
        )
        expected = DatasetRef(
            central_ref.datasetType,
            local_ref.dataId,
            run=run,
            id_generation_mode=DatasetIdGenEnum.DATAID_TYPE_RUN,
        )
        assert central_ref.id == expected.id != local_ref.id
    table = output_central.get(
        "dia_source_table",
        instrument="SimCam",
        visit=local_refs[0].dataId["visit"],
        detector=4,
        collections=run,
    )
    assert list(table["diaSourceId"]) == [0, 1, 2, 3, 4]
    # The visit's dimension records came along.
    for element in VISIT_ELEMENTS:
        assert len(output_central.query_dimension_records(element, instrument="SimCam")) == 1
    # A new local run with new random IDs (a re-run of the visit) still adds nothing.
    local_repo.clean_visit()
    run_again = process(local_repo, central_sim, 4, tmp_path)
    assert run_again == run
    third = local_repo.export_outputs(run_again, output_central, [".*"])
    assert third.n_exported == 0
    assert third.n_skipped == 3
    assert count_datasets(output_central) == after_first


def test_patterns_select_dataset_types(
    local_repo: LocalRepo,  # noqa: F811
    central_sim: CentralSim,  # noqa: F811
    output_central: Butler,
    tmp_path: Path,
) -> None:
    run = process(local_repo, central_sim, 4, tmp_path)
    result = export_outputs(
        local_repo.butler, run, output_central, ["dia_.*", "calexp"], central_run="other/run"
    )
    assert result.run == "other/run"
    assert result.exported == {"calexp": 1, "dia_source_table": 1}
    assert result.not_selected == ["difference_image"]
    assert "difference_image" not in {dt.name for dt in output_central.registry.queryDatasetTypes()}
    assert len(output_central.query_datasets("calexp", collections="other/run")) == 1
    nothing = export_outputs(local_repo.butler, run, output_central, ["nothing"])
    assert nothing.n_exported == 0
    assert export_outputs(local_repo.butler, "no/such/run", output_central, [".*"]).n_exported == 0
    with pytest.raises(ConfigurationError, match="invalid export pattern"):
        export_outputs(local_repo.butler, run, output_central, ["("])


def test_other_dataset_at_the_same_data_id_is_an_error(
    local_repo: LocalRepo,  # noqa: F811
    central_sim: CentralSim,  # noqa: F811
    output_central: Butler,
    tmp_path: Path,
) -> None:
    run = process(local_repo, central_sim, 4, tmp_path)
    local_repo.export_outputs(run, output_central, ["dia_source_table"])
    data_id = {"instrument": "SimCam", "visit": central_sim.visits[0].exposure_id, "detector": 4}
    output_central.registry.registerDatasetType(local_repo.butler.get_dataset_type("calexp"))
    image = local_repo.butler.get("calexp", data_id, collections=run)
    output_central.put(image, "calexp", data_id, run=run)  # a random ID, as a plain transfer would give
    before = count_datasets(output_central)
    with pytest.raises(ExportConflictError, match=r"already holds other datasets .* calexp"):
        local_repo.export_outputs(run, output_central, [".*"])
    assert count_datasets(output_central) == before  # difference_image was not exported either


def test_two_detectors_export_the_same_visit_records(
    central_sim: CentralSim,  # noqa: F811
    output_central: Butler,
    tmp_path: Path,
) -> None:
    repos = [
        LocalRepo.create(
            central_sim.butler(), "SimCam", tmp_path / f"w{det}", LocalRepoOptions(preload_padding=5)
        )
        for det in (0, 4)
    ]
    try:
        results = []
        for repo, det in zip(repos, (0, 4), strict=True):
            run = process(repo, central_sim, det, tmp_path)
            results.append(repo.export_outputs(run, output_central, [".*"]))
        assert [r.n_exported for r in results] == [3, 3]
        for element in (
            "exposure",
            "visit",
            "visit_definition",
            "visit_system_membership",
            "group",
            "day_obs",
        ):
            (central_record,) = output_central.query_dimension_records(element, instrument="SimCam")
            for repo in repos:
                (local_record,) = repo.butler.query_dimension_records(element, instrument="SimCam")
                assert local_record.toDict() == central_record.toDict()
        regions = output_central.query_dimension_records("visit_detector_region", instrument="SimCam")
        assert sorted(r.detector for r in regions) == [0, 4]
        assert len(output_central.query_datasets("calexp", collections=results[0].run)) == 2
    finally:
        for repo in repos:
            repo.close()


@pytest.mark.services
def test_export_to_postgres_and_s3(
    local_repo: LocalRepo,  # noqa: F811
    central_sim: CentralSim,  # noqa: F811
    camera: Instrument,
    postgres: PostgresDatabase,
    s3: S3Service,
    tmp_path: Path,
) -> None:
    bucket = s3.create_bucket()
    root = create_central_repo(
        tmp_path / "pg",
        registry=postgres.url,
        namespace=unique_namespace("local_export"),
        datastore_root=f"s3://{bucket}/central",
    )
    central = writeable_central(root, camera)
    try:
        run = process(local_repo, central_sim, 4, tmp_path)
        first = local_repo.export_outputs(run, central, [".*"])
        second = local_repo.export_outputs(run, central, [".*"])
        assert first.n_exported == 3
        assert second.n_exported == 0
        assert second.n_skipped == 3
        assert count_datasets(central) == 3
        keys = [obj["Key"] for obj in s3.client().list_objects_v2(Bucket=bucket)["Contents"]]
        assert len([key for key in keys if key.startswith("central/SimCam/prompt/")]) == 3
        data_id = {"instrument": "SimCam", "visit": central_sim.visits[0].exposure_id, "detector": 4}
        uri = central.getURI("calexp", data_id, collections=run)
        assert uri.scheme == "s3"
        exported = central.get("calexp", data_id, collections=run)
        original = local_repo.butler.get("calexp", data_id, collections=run)
        np.testing.assert_array_equal(exported.image, original.image)
        table = central.get("dia_source_table", data_id, collections=run)
        assert isinstance(table, Table)
        assert len(central.query_dimension_records("visit_detector_region", instrument="SimCam")) == 1
    finally:
        central.close()
