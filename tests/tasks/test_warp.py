"""Tests of template warping."""

from __future__ import annotations

import numpy as np
import pytest
from science_scenes import render_moffat

from promptproc.image import Exposure, ImagePsf, MaskPlane, PhotoCalib, moffat_kernel
from promptproc.instrument import make_tan_wcs
from promptproc.tasks.detection import DetectionTask
from promptproc.tasks.errors import TemplateCoverageError
from promptproc.tasks.measurement import MeasurementTask, forced_psf_flux
from promptproc.tasks.warp import TemplateWarpTask, WarpConfig, warp_psf

SCI_WCS = make_tan_wcs(150.0, 2.0, (255.5, 255.5), 0.2, 0.0)


def _template(rng: np.random.Generator, rotation: float = 30.0, size: int = 700, fwhm: float = 3.0):
    wcs = make_tan_wcs(
        150.0 + 10.0 / 3600.0, 2.0 - 5.0 / 3600.0, ((size - 1) / 2, (size - 1) / 2), 0.2, rotation
    )
    n = 40
    xs, ys = rng.uniform(20, 490, n), rng.uniform(20, 490, n)
    fluxes = rng.uniform(1e4, 1e5, n)
    ra, dec = SCI_WCS.all_pix2world(xs, ys, 0)
    tx, ty = wcs.all_world2pix(ra, dec, 0)
    image = render_moffat((size, size), tx, ty, fluxes, fwhm)
    template = Exposure(
        image=image,
        variance=np.full((size, size), 4.0),
        wcs=wcs,
        psf=ImagePsf(moffat_kernel(fwhm, 3.5), fwhm),
        photo_calib=PhotoCalib(1.0),
    )
    return template, xs, ys, fluxes


@pytest.mark.parametrize("interpolation", ["cubic", "linear"])
def test_preserves_fluxes_and_positions(interpolation: str) -> None:
    rng = np.random.default_rng(70)
    template, xs, ys, fluxes = _template(rng)
    result = TemplateWarpTask(WarpConfig(interpolation=interpolation)).run([template], SCI_WCS, (512, 512))
    assert result.n_patches == 1
    assert result.max_mapping_error < 1e-3
    warped = result.exposure
    assert warped.photo_calib.njy_per_count == 1.0
    assert warped.psf.fwhm == pytest.approx(3.0, rel=1e-3)
    forced = forced_psf_flux(warped, xs, ys)
    ratio = np.asarray(forced["flux"]) / fluxes
    # Cubic interpolation keeps the PSF flux to < 1% (the kernel box holds ~99.5%); bilinear interpolation
    # blurs a 3-px PSF enough to lose ~5% against the unblurred PSF model (PSF matching absorbs it).
    assert float(np.median(ratio)) == pytest.approx(0.995, abs=0.01 if interpolation == "cubic" else 0.07)
    warped.variance = np.where(np.isfinite(warped.variance), np.float32(1.0), np.float32(np.inf))
    peaks = DetectionTask().run(warped).peaks
    sources = MeasurementTask().run(warped, peaks)
    dist = np.hypot(sources["x"][:, None] - xs[None, :], sources["y"][:, None] - ys[None, :]).min(axis=0)
    assert float(np.max(dist)) < 0.02


def test_coverage_and_no_data() -> None:
    rng = np.random.default_rng(71)
    template, *_ = _template(rng, rotation=30.0)
    template.mask[300:320, 300:320] = int(MaskPlane.NO_DATA)
    template.image[300:320, 300:320] = np.nan
    template.mask[100:103, 350:353] |= int(MaskPlane.SAT | MaskPlane.DETECTED)
    result = TemplateWarpTask().run([template], SCI_WCS, (512, 512))
    warped = result.exposure
    no_data = (warped.mask & int(MaskPlane.NO_DATA)) != 0
    # The rotated 700-px patch leaves the corners of the 512-px field empty; the hole is not covered either.
    assert 0.9 < result.coverage < 1.0
    assert no_data.mean() == pytest.approx(1.0 - result.coverage)
    assert np.isnan(warped.image[no_data]).all()
    assert np.isinf(warped.variance[no_data]).all()
    assert np.isfinite(warped.image[~no_data]).all()
    ra, dec = template.wcs.all_pix2world([310.0], [310.0], 0)
    hx, hy = SCI_WCS.all_world2pix(ra, dec, 0)
    assert no_data[round(hy[0]), round(hx[0])]
    assert ((warped.mask & int(MaskPlane.SAT)) != 0).any()
    assert not ((warped.mask & int(MaskPlane.DETECTED)) != 0).any()


def test_overlapping_patches_match_one_big_patch() -> None:
    rng = np.random.default_rng(72)
    template, *_ = _template(rng)
    whole = TemplateWarpTask().run([template], SCI_WCS, (512, 512)).exposure
    left = template.cutout(0, 0, 400, 700)
    right = template.cutout(300, 0, 400, 700)
    result = TemplateWarpTask().run([left, right], SCI_WCS, (512, 512))
    assert result.n_patches == 2
    finite = np.isfinite(whole.image)
    np.testing.assert_allclose(result.exposure.image[finite], whole.image[finite], atol=1e-3)


def test_no_overlap_raises() -> None:
    rng = np.random.default_rng(73)
    template, *_ = _template(rng)
    far = make_tan_wcs(160.0, 10.0, (255.5, 255.5), 0.2, 0.0)
    with pytest.raises(TemplateCoverageError, match=r"cover 0\.0%") as info:
        TemplateWarpTask().run([template], far, (512, 512))
    assert info.value.coverage == 0.0
    with pytest.raises(TemplateCoverageError):
        TemplateWarpTask().run([], SCI_WCS, (512, 512))
    with pytest.raises(TemplateCoverageError):
        TemplateWarpTask(WarpConfig(min_coverage=0.99)).run([template], SCI_WCS, (512, 512))


def test_psf_rotation_and_scale() -> None:
    kernel = np.zeros((21, 21))
    kernel[10, 10:14] = 1.0  # a horizontal streak
    psf = ImagePsf(kernel, 2.0)
    quarter = np.array([[0.0, -1.0], [1.0, 0.0]])  # science +x maps to template +y
    rotated = warp_psf(psf, quarter)
    assert rotated.kernel[7, 10] > 0.1
    assert rotated.kernel[10, 12] < 1e-3
    half = warp_psf(ImagePsf.gaussian(4.0), 0.5 * np.eye(2))
    assert half.fwhm == pytest.approx(8.0)
