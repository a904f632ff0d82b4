from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from promptproc.errors import BadInputError
from promptproc.image import (
    Exposure,
    ImagePsf,
    MaskPlane,
    PhotoCalib,
    RawAmplifier,
    RawImage,
    VisitInfo,
    moffat_kernel,
    read_exposure_fits,
    read_raw_fits,
    write_exposure_fits,
    write_raw_fits,
)
from promptproc.instrument import BoundingBox, make_tan_wcs


def make_exposure() -> Exposure:
    rng = np.random.default_rng(1)
    image = rng.normal(100, 5, size=(40, 60)).astype(np.float32)
    mask = np.zeros(image.shape, dtype=np.int32)
    mask[3, 4] = MaskPlane.BAD | MaskPlane.SAT
    exposure = Exposure(
        image=image,
        mask=mask,
        variance=np.full(image.shape, 25.0),
        wcs=make_tan_wcs(150.0, 2.2, (30.0, 20.0), 0.2, 15.0),
        psf=ImagePsf.gaussian(3.2),
        photo_calib=PhotoCalib.from_zero_point(31.4, 0.01),
        visit_info=VisitInfo(exposure_id=2026112200001, exposure_time=30.0, physical_filter="r", band="r"),
    )
    exposure.metadata["SKYLEVEL"] = (123.4, "[e-] sky")
    return exposure


def test_exposure_round_trip(tmp_path: Path) -> None:
    exposure = make_exposure()
    path = tmp_path / "exp.fits"
    write_exposure_fits(exposure, path)
    back = read_exposure_fits(path)
    np.testing.assert_array_equal(back.image, exposure.image)
    np.testing.assert_array_equal(back.mask, exposure.mask)
    np.testing.assert_array_equal(back.variance, exposure.variance)
    pix = np.array([[0.0, 0.0], [59.0, 39.0]])
    np.testing.assert_allclose(back.wcs.all_pix2world(pix, 0), exposure.wcs.all_pix2world(pix, 0), atol=1e-10)
    assert back.psf.fwhm == pytest.approx(3.2)
    np.testing.assert_allclose(back.psf.kernel, exposure.psf.kernel, atol=1e-7)
    assert back.photo_calib.njy_per_count == pytest.approx(1.0)
    assert back.visit_info == exposure.visit_info
    assert back.metadata["SKYLEVEL"] == pytest.approx(123.4)
    # Any FITS reader sees the WCS on the IMAGE extension and the mask plane names.
    with fits.open(path) as hdus:
        assert hdus["IMAGE"].header["CTYPE1"] == "RA---TAN"
        assert hdus["MASK"].header["MP0"] == "BAD"


def test_cutout_keeps_sky_positions() -> None:
    exposure = make_exposure()
    cut = exposure.cutout(-5, 10, 20, 20)
    assert cut.shape == (20, 20)
    assert np.isnan(cut.image[0, 0])
    assert cut.mask[0, 0] & MaskPlane.NO_DATA
    assert cut.image[0, 5] == exposure.image[10, 0]
    np.testing.assert_allclose(
        cut.wcs.all_pix2world([[5.0, 0.0]], 0), exposure.wcs.all_pix2world([[0.0, 10.0]], 0), atol=1e-10
    )


def test_psf_kernels() -> None:
    moffat = moffat_kernel(4.0)
    assert moffat.sum() == pytest.approx(1.0)
    centre = moffat.shape[0] // 2
    # Half maximum is reached 2 pixels from the centre for a 4-pixel FWHM.
    profile = moffat[centre, centre:]
    half = np.interp(0.5 * profile[0], profile[::-1], np.arange(len(profile))[::-1])
    assert half == pytest.approx(2.0, abs=0.05)
    with pytest.raises(ValueError, match="odd square"):
        ImagePsf(np.ones((4, 4)), 2.0)


def test_photocalib() -> None:
    calib = PhotoCalib.from_zero_point(27.0)
    assert calib.zero_point == pytest.approx(27.0)
    assert calib.to_magnitude(1.0) == pytest.approx(27.0)
    assert np.isnan(calib.to_magnitude(np.array([-1.0]))[0])


def make_raw() -> RawImage:
    header = fits.Header()
    for key, value in {
        "INSTRUME": "SimCam",
        "DETECTOR": "R22_S11",
        "DETNUM": 4,
        "OBSID": "SC_O_20261122_000001",
        "GROUPID": "2026-11-22T01:00:00.000",
        "DAYOBS": 20261122,
        "SEQNUM": 1,
        "FILTER": "r",
        "RA": 150.0,
        "DEC": 2.2,
        "ROTPA": 0.0,
        "DATE-BEG": "2026-11-22T01:00:30.000",
        "MJD-BEG": 61366.04,
        "EXPTIME": 30.0,
        "IMGTYPE": "OBJECT",
    }.items():
        header[key] = value
    amps = []
    for index in range(2):
        data = np.full((16, 12), 1000 + index, dtype=np.int32)
        amps.append(
            RawAmplifier(
                name=f"C0{index}",
                data=data,
                data_box=BoundingBox(0, 0, 8, 16),
                overscan_box=BoundingBox(8, 0, 4, 16),
                detector_box=BoundingBox(8 * index, 0, 8, 16),
                flip_x=bool(index),
                gain=1.5,
                read_noise=5.0,
                saturation=9e4,
            )
        )
    return RawImage(header=header, amplifiers=amps)


def test_raw_round_trip(tmp_path: Path) -> None:
    raw = make_raw()
    path = tmp_path / "raw.fits"
    write_raw_fits(raw, path)
    back = read_raw_fits(path)
    assert back.detector_shape == (16, 16)
    assert back.obs_id == "SC_O_20261122_000001"
    assert back.detector == 4
    assert [a.name for a in back.amplifiers] == ["C00", "C01"]
    assert back.amplifiers[1].flip_x
    np.testing.assert_array_equal(back.amplifiers[1].data, raw.amplifiers[1].data)


def test_raw_missing_card(tmp_path: Path) -> None:
    raw = make_raw()
    del raw.header["GROUPID"]
    path = tmp_path / "raw.fits"
    write_raw_fits(raw, path)
    with pytest.raises(BadInputError, match="lacks GROUPID"):
        read_raw_fits(path)


def test_raw_bad_section(tmp_path: Path) -> None:
    path = tmp_path / "raw.fits"
    write_raw_fits(make_raw(), path)
    with fits.open(path, mode="update") as hdus:
        hdus["C00"].header["BIASSEC"] = "[9:40,1:16]"
    with pytest.raises(BadInputError, match="BIASSEC lies outside"):
        read_raw_fits(path)


@pytest.mark.parametrize("reader", [read_raw_fits, read_exposure_fits])
def test_corrupt_files(tmp_path: Path, reader) -> None:
    missing = tmp_path / "missing.fits"
    with pytest.raises(BadInputError, match="no such file"):
        reader(missing)
    garbage = tmp_path / "garbage.fits"
    garbage.write_bytes(b"\x00\x01not fits at all" * 200)
    with pytest.raises(BadInputError, match="not a readable FITS file"):
        reader(garbage)
    # A real file cut in half.
    whole = tmp_path / "whole.fits"
    if reader is read_raw_fits:
        write_raw_fits(make_raw(), whole)
    else:
        write_exposure_fits(make_exposure(), whole)
    truncated = tmp_path / "truncated.fits"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(BadInputError):
        reader(truncated)
