"""Raw ingest into a local repository: header checks, dimension records, transfer modes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from astropy.io import fits
from local_testdata import CentralSim, central_sim, fanned_visit, local_repo, shifted  # noqa: F401

from promptproc.errors import BadInputError
from promptproc.repo import (
    LocalRepo,
    RawMismatchError,
    deterministic_ref,
    ingest_raw,
    read_raw_header,
    visit_records_from_header,
)

VISIT_ELEMENTS = ("exposure", "visit", "visit_definition", "visit_system_membership", "visit_detector_region")


@pytest.fixture(scope="module")
def raw_files(central_sim: CentralSim, tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:  # noqa: F811
    """Raws of visit 0 for detectors 0 and 4 (read them only; copy before changing)."""
    root = tmp_path_factory.mktemp("raws")
    visit = central_sim.visits[0]
    return {det: central_sim.observatory.write_raw(visit, det, root)[0] for det in (0, 4)}


def copy_raw(source: Path, tmp_path: Path, **cards: object) -> Path:
    target = tmp_path / source.name
    shutil.copyfile(source, target)
    for key, value in cards.items():
        fits.setval(target, key, value=value)
    return target


def count(repo: LocalRepo, element: str) -> int:
    return len(repo.butler.query_dimension_records(element, instrument="SimCam", explain=False))


def test_good_raw_is_ingested_once(
    local_repo: LocalRepo,  # noqa: F811
    central_sim: CentralSim,  # noqa: F811
    raw_files: dict[int, Path],
    tmp_path: Path,
) -> None:
    sim_visit = central_sim.visits[0]
    visit = fanned_visit(sim_visit, 4)
    path = copy_raw(raw_files[4], tmp_path)
    ref = local_repo.ingest_raw(path, visit)
    butler = local_repo.butler
    expected = deterministic_ref(
        butler,
        "raw",
        {"instrument": "SimCam", "exposure": sim_visit.exposure_id, "detector": 4},
        "SimCam/raw/all",
    )
    assert ref.id == expected.id
    assert ref.run == "SimCam/raw/all"
    assert path.exists()  # copied
    raw = butler.get(ref)
    assert raw.group == visit.groupId
    assert raw.detector_shape == (256, 256)

    (exposure,) = butler.query_dimension_records("exposure", instrument="SimCam")
    assert exposure.id == sim_visit.exposure_id
    assert exposure.group == sim_visit.group
    assert exposure.physical_filter == "g"
    assert exposure.obs_id == sim_visit.obs_id
    assert exposure.observation_type == "science"
    assert exposure.tracking_ra == pytest.approx(sim_visit.ra)
    assert exposure.sky_angle == pytest.approx(sim_visit.rotation)
    assert exposure.has_simulated
    assert exposure.can_see_sky
    assert exposure.zenith_angle is not None
    assert exposure.timespan.begin.tai.mjd == pytest.approx(sim_visit.mjd_begin, abs=1e-9)
    (visit_record,) = butler.query_dimension_records("visit", instrument="SimCam")
    assert visit_record.id == exposure.id
    assert visit_record.timespan == exposure.timespan
    (region,) = butler.query_dimension_records("visit_detector_region", instrument="SimCam")
    assert region.detector == 4
    assert visit_record.region.contains(region.region.getCentroid())
    (membership,) = butler.query_dimension_records("visit_system_membership", instrument="SimCam")
    assert membership.visit_system == 0
    # The raw is findable by visit, through visit_definition.
    found = butler.query_datasets(
        "raw",
        collections="SimCam/raw/all",
        where="instrument = 'SimCam' AND visit = v AND detector = 4",
        bind={"v": exposure.id},
    )
    assert [r.id for r in found] == [ref.id]

    # A redelivered visit: same raw, nothing new.
    again = local_repo.ingest_raw(path, visit)
    assert again.id == ref.id
    assert len(butler.query_datasets("raw", collections="SimCam/raw/all")) == 1
    for element in VISIT_ELEMENTS:
        assert count(local_repo, element) == 1


@pytest.mark.parametrize(
    ("cards", "field"),
    [
        ({"INSTRUME": "LSSTCam"}, "instrument"),
        ({"DETNUM": 0}, "detector"),
        ({"DETECTOR": "R22_S00"}, "detector"),
        ({"GROUPID": "2026-11-23T00:00:00.000"}, "groupId"),
        ({"FILTER": "r"}, "filters"),
    ],
)
def test_header_mismatch_ingests_nothing(
    local_repo: LocalRepo,  # noqa: F811
    central_sim: CentralSim,  # noqa: F811
    raw_files: dict[int, Path],
    tmp_path: Path,
    cards: dict[str, object],
    field: str,
) -> None:
    visit = fanned_visit(central_sim.visits[0], 4)
    path = copy_raw(raw_files[4], tmp_path, **cards)
    key = next(iter(cards))
    with pytest.raises(
        RawMismatchError, match=f"header {key} = .* does not match the visit's {field}"
    ) as info:
        local_repo.ingest_raw(path, visit)
    assert info.value.field == field
    assert isinstance(info.value, BadInputError)
    assert local_repo.dataset_count() == 0
    for element in ("exposure", "visit", "group"):
        assert count(local_repo, element) == 0


def test_unreadable_raws(
    local_repo: LocalRepo,  # noqa: F811
    central_sim: CentralSim,  # noqa: F811
    raw_files: dict[int, Path],
    tmp_path: Path,
) -> None:
    visit = fanned_visit(central_sim.visits[0], 4)
    junk = tmp_path / "junk.fits"
    junk.write_bytes(b"not a FITS file at all" * 200)
    with pytest.raises(BadInputError, match="not a readable FITS file"):
        local_repo.ingest_raw(junk, visit)
    with pytest.raises(BadInputError, match="does not exist"):
        local_repo.ingest_raw(tmp_path / "missing.fits", visit)
    stripped = copy_raw(raw_files[4], tmp_path)
    with fits.open(stripped, mode="update") as hdus:
        del hdus[0].header["SEQNUM"]
    with pytest.raises(BadInputError, match="lacks SEQNUM"):
        local_repo.ingest_raw(stripped, visit)
    assert local_repo.dataset_count() == 0


@pytest.mark.parametrize("transfer", ["copy", "move", "direct", "link"])
def test_transfer_modes(
    local_repo: LocalRepo,  # noqa: F811
    central_sim: CentralSim,  # noqa: F811
    raw_files: dict[int, Path],
    tmp_path: Path,
    transfer: str,
) -> None:
    visit = fanned_visit(central_sim.visits[0], 4)
    path = copy_raw(raw_files[4], tmp_path)
    ref = local_repo.ingest_raw(path, visit, transfer=transfer)
    uri = local_repo.butler.getURI(ref)
    assert path.exists() == (transfer != "move")
    if transfer == "direct":
        assert Path(uri.ospath) == path
    else:
        assert Path(uri.ospath).is_relative_to(local_repo.root)
    assert local_repo.butler.get(ref).detector == 4
    local_repo.clean_visit(visit)
    assert local_repo.butler.query_datasets("raw", collections="SimCam/raw/all", explain=False) == []
    # Cleanup never deletes a file the repository does not own.
    assert path.exists() == (transfer not in ("move",))


def test_every_detector_makes_the_same_visit_records(
    central_sim: CentralSim,  # noqa: F811
    raw_files: dict[int, Path],
    tmp_path: Path,
) -> None:
    central = central_sim.butler()
    camera = central.get("camera", instrument="SimCam", collections="SimCam/calib", timespan=None)
    records0 = visit_records_from_header(read_raw_header(raw_files[0]), camera)
    records4 = visit_records_from_header(read_raw_header(raw_files[4]), camera)
    assert records0.shared() == records4.shared()
    assert records0.records["visit_detector_region"] != records4.records["visit_detector_region"]
    # Two workers' local repositories hold identical records.
    repos = [LocalRepo.create(central, "SimCam", tmp_path / str(det)) for det in (0, 4)]
    try:
        for repo, det in zip(repos, (0, 4), strict=True):
            ingest_raw(repo.butler, raw_files[det], fanned_visit(central_sim.visits[0], det), camera)
        for element in (
            "day_obs",
            "group",
            "exposure",
            "visit",
            "visit_definition",
            "visit_system_membership",
        ):
            first, second = (
                repo.butler.query_dimension_records(element, instrument="SimCam") for repo in repos
            )
            assert [r.toDict() for r in first] == [r.toDict() for r in second]
    finally:
        for repo in repos:
            repo.close()
