"""Storage classes and formatters through a real Butler (SQLite registry, POSIX datastore)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from lsst.daf.butler import Butler, DatasetType
from lsst.resources import ResourcePath
from repo_testdata import insert_exposure, make_exposure, make_raw

from promptproc.errors import BadInputError
from promptproc.image import Exposure, ImagePsf, PhotoCalib, RawImage, VisitInfo
from promptproc.instrument import BoundingBox, Instrument
from promptproc.repo import (
    CAMERA,
    RAW,
    SKYMAP,
    TEMPLATES_RUN,
    CorruptDatasetError,
    ExposureFormatter,
    ingest_camera,
    ingest_skymap,
    put_dataset,
    raw_run,
    register_skymap,
)
from promptproc.skymap import SkyMap, SkyMapConfig


def _put_template(butler: Butler, exposure: Exposure) -> object:
    skymap = SkyMap(SkyMapConfig(patch_inner=2000))
    tract = skymap.find_tract(150.0, 2.2)
    register_skymap(butler, skymap, [tract])
    ref, written = put_dataset(
        butler,
        exposure,
        "template_coadd",
        {"skymap": skymap.name, "tract": tract, "patch": 0, "band": "g"},
        TEMPLATES_RUN,
    )
    assert written
    return ref


def test_exposure_round_trip_and_components(simcam_repo: Butler, empty_repo: str) -> None:
    exposure = make_exposure(100.0)
    ref = _put_template(simcam_repo, exposure)

    # A new client reads the repository with nothing but butler.yaml.
    reader = Butler.from_config(empty_repo)
    got = reader.get(ref)
    assert isinstance(got, Exposure)
    np.testing.assert_array_equal(got.image, exposure.image)
    np.testing.assert_array_equal(got.mask, exposure.mask)
    np.testing.assert_array_equal(got.variance, exposure.variance)
    assert got.visit_info == exposure.visit_info
    assert got.metadata["TESTVAL"] == 100.0
    assert got.photo_calib == exposure.photo_calib

    wcs = reader.get(ref.makeComponentRef("wcs"))
    assert isinstance(wcs, WCS)
    np.testing.assert_allclose(
        wcs.pixel_to_world_values(3.0, 4.0), exposure.wcs.pixel_to_world_values(3.0, 4.0)
    )
    visit_info = reader.get(ref.makeComponentRef("visitInfo"))
    assert isinstance(visit_info, VisitInfo)
    assert visit_info == exposure.visit_info
    psf = reader.get(ref.makeComponentRef("psf"))
    assert isinstance(psf, ImagePsf)
    assert psf.fwhm == pytest.approx(3.0)
    assert reader.get(ref.makeComponentRef("photoCalib")) == PhotoCalib(0.5, 0.01)
    np.testing.assert_array_equal(reader.get(ref.makeComponentRef("mask")), exposure.mask)
    assert reader.get(ref.makeComponentRef("metadata"))["TESTVAL"] == 100.0

    cutout = reader.get(ref, parameters={"bbox": BoundingBox(4, 5, 10, 6)})
    assert cutout.shape == (6, 10)
    np.testing.assert_array_equal(cutout.image, exposure.image[5:11, 4:14])
    assert reader.get(ref, parameters={"bbox": (0, 0, 3, 2)}).shape == (2, 3)
    reader.close()


def test_exposure_without_optional_parts(simcam_repo: Butler) -> None:
    exposure = Exposure(np.zeros((8, 8)))
    ref = _put_template(simcam_repo, exposure)
    assert simcam_repo.get(ref.makeComponentRef("wcs")) is None
    assert simcam_repo.get(ref.makeComponentRef("psf")) is None
    assert simcam_repo.get(ref.makeComponentRef("photoCalib")) is None


def test_raw_round_trip(simcam_repo: Butler, simcam: Instrument) -> None:
    exposure_id = simcam.exposure_id(20261122, 3)
    insert_exposure(simcam_repo, simcam, exposure_id, "g")
    raw = make_raw(simcam, 4, exposure_id)
    ref, _ = put_dataset(
        simcam_repo,
        raw,
        RAW,
        {"instrument": simcam.name, "exposure": exposure_id, "detector": 4},
        raw_run("SimCam"),
    )
    got = simcam_repo.get(ref)
    assert isinstance(got, RawImage)
    assert got.obs_id == raw.obs_id
    assert got.detector == 4
    assert [a.name for a in got.amplifiers] == [a.name for a in raw.amplifiers]
    np.testing.assert_array_equal(got.amplifiers[5].data, raw.amplifiers[5].data)
    header = simcam_repo.get(ref.makeComponentRef("metadata"))
    assert isinstance(header, fits.Header)
    assert header["OBSID"] == raw.obs_id


def test_camera_and_skymap_round_trip(simcam_repo: Butler, simcam: Instrument) -> None:
    skymap = SkyMap(SkyMapConfig(patch_inner=2000))
    register_skymap(simcam_repo, skymap, [skymap.find_tract(150.0, 2.2)])
    ingest_skymap(simcam_repo, skymap)
    ingest_camera(simcam_repo, simcam)
    assert simcam_repo.get(SKYMAP, skymap=skymap.name, collections="skymaps") == skymap
    camera = simcam_repo.get(CAMERA, instrument="SimCam", collections="SimCam/calib/unbounded")
    assert camera == simcam


def test_defects_table_uses_arrow_astropy(simcam_repo: Butler) -> None:
    table = Table({"x0": [1, 5], "y0": [2, 6], "width": [3, 1], "height": [1, 40]})
    ref, _ = put_dataset(
        simcam_repo, table, "defects", {"instrument": "SimCam", "detector": 0}, "SimCam/calib/x"
    )
    got = simcam_repo.get(ref)
    assert isinstance(got, Table)
    assert list(got["height"]) == [1, 40]


def _corrupt_file(butler: Butler, ref: object, keep: int) -> Path:
    """Overwrite a stored file after ``keep`` bytes, keeping its size (the datastore checks it)."""
    path = Path(butler.getURI(ref).ospath)
    data = path.read_bytes()
    path.write_bytes(data[:keep] + b"\x00garbage" * ((len(data) - keep) // 8 + 1))
    with path.open("r+b") as out:
        out.truncate(len(data))
    return path


@pytest.mark.parametrize("keep", [0, 2880 * 2])
def test_corrupt_exposure_file_is_a_clear_bad_input_error(simcam_repo: Butler, keep: int) -> None:
    ref = _put_template(simcam_repo, make_exposure(5.0, size=64))
    path = _corrupt_file(simcam_repo, ref, keep)
    with pytest.raises(BadInputError) as info:
        simcam_repo.get(ref)
    assert isinstance(info.value, CorruptDatasetError)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert str(path) in message
    assert "template_coadd" in message
    # Header-only components fail the same way.
    with pytest.raises(CorruptDatasetError):
        simcam_repo.get(ref.makeComponentRef("wcs" if keep == 0 else "psf"))


def test_truncated_raw_ingested_is_a_clear_error(
    simcam_repo: Butler, simcam: Instrument, tmp_path: Path
) -> None:
    from lsst.daf.butler import FileDataset

    from promptproc.image import write_raw_fits
    from promptproc.repo import RawImageFormatter, deterministic_ref

    exposure_id = simcam.exposure_id(20261122, 4)
    insert_exposure(simcam_repo, simcam, exposure_id, "g")
    path = tmp_path / "raw.fits"
    write_raw_fits(make_raw(simcam, 2, exposure_id), path)
    path.write_bytes(path.read_bytes()[:10000])
    ref = deterministic_ref(
        simcam_repo, RAW, {"instrument": "SimCam", "exposure": exposure_id, "detector": 2}, raw_run("SimCam")
    )
    simcam_repo.ingest(FileDataset(path=str(path), refs=[ref], formatter=RawImageFormatter), transfer="copy")
    with pytest.raises(CorruptDatasetError) as info:
        simcam_repo.get(ref)
    assert "cannot read raw (raw image)" in str(info.value)
    assert len(str(info.value).splitlines()) == 1


def test_corrupt_camera_json_is_a_clear_error(simcam_repo: Butler, simcam: Instrument) -> None:
    ref = ingest_camera(simcam_repo, simcam)
    uri = simcam_repo.getURI(ref)
    size = len(uri.read())
    ResourcePath(uri).write(b'{"name": "SimCam"'.ljust(size), overwrite=True)
    with pytest.raises(CorruptDatasetError, match="cannot read camera"):
        simcam_repo.get(ref)


def test_formatter_reads_a_corrupt_file_directly(tmp_path: Path, simcam_repo: Butler) -> None:
    from lsst.daf.butler import DatasetRef, FileDescriptor, Location, StorageClassFactory

    bad = tmp_path / "bad.fits"
    bad.write_bytes(b"SIMPLE  =                    T" + b" " * 50)
    storage_class = StorageClassFactory().getStorageClass("PromptExposure")
    dataset_type = DatasetType("x", simcam_repo.dimensions.empty, storage_class)
    ref = DatasetRef(dataset_type, simcam_repo.registry.expandDataId({}), run="r")
    formatter = ExposureFormatter(FileDescriptor(Location(None, str(bad)), storage_class), ref=ref)
    with pytest.raises(CorruptDatasetError, match=r"bad\.fits"):
        formatter.read()
