"""Tests of single-frame calibration (background, detection, PSF, astrometry, zero point)."""

from __future__ import annotations

import numpy as np
import pytest
from science_scenes import make_refcat, make_scene

from promptproc.image import MaskPlane, PhotoCalib
from promptproc.instrument import make_tan_wcs
from promptproc.tasks.calibrate import CalibrateConfig, CalibrateTask
from promptproc.tasks.errors import CalibrationFailure

RA0, DEC0 = 150.0, 2.0


def _visit(seed: int, fwhm: float = 4.5):
    rng = np.random.default_rng(seed)
    true = make_tan_wcs(RA0, DEC0, (255.5, 255.5), 0.2, 10.0)
    y, x = np.mgrid[0:512, 0:512]
    scene = make_scene(rng, n_stars=120, wcs=true, sky=1000.0 + 0.3 * x - 0.2 * y, fwhm=fwhm, psf_model=False)
    calib = PhotoCalib.from_zero_point(28.0)
    refcat = make_refcat(scene.truth, calib.njy_per_count)
    cos_dec = np.cos(np.radians(DEC0))
    scene.exposure.wcs = make_tan_wcs(
        RA0 + 3.0 / 3600.0 / cos_dec, DEC0 - 2.0 / 3600.0, (255.5, 255.5), 0.2, 10.03
    )
    return scene, refcat, true


def test_calibrates_a_simulated_visit() -> None:
    scene, refcat, true = _visit(60)
    raw = scene.exposure.copy()
    result = CalibrateTask().run(scene.exposure, refcat)
    summary = result.summary
    assert summary.psf_fwhm == pytest.approx(4.5, rel=0.03)
    assert summary.psf_fwhm_arcsec == pytest.approx(0.9, rel=0.03)
    assert summary.astrometric_rms < 0.05
    assert summary.n_astrometric_matches >= 60
    # The PSF-flux zero point, including the PSF kernel's (tiny) aperture correction.
    assert summary.zero_point == pytest.approx(28.0, abs=0.01)
    assert summary.background_mean == pytest.approx(1000.0 + 0.1 * 255.5, abs=1.0)
    exposure = result.exposure
    assert exposure.psf is not None
    assert exposure.photo_calib is not None
    assert ((exposure.mask & int(MaskPlane.DETECTED)) != 0).any()
    sky_pixels = (exposure.mask & int(MaskPlane.DETECTED)) == 0
    assert abs(float(np.median(exposure.image[sky_pixels]))) < 2.0
    assert exposure.metadata["MAGZERO"] == pytest.approx(summary.zero_point)
    # Sources carry sky positions that agree with the truth.
    sources = result.sources
    ra_true, dec_true = true.all_pix2world(sources["x"], sources["y"], 0)
    offset = (
        np.hypot((sources["ra"] - ra_true) * np.cos(np.radians(DEC0)), sources["dec"] - dec_true) * 3600.0
    )
    assert float(np.median(offset)) < 0.03
    assert sources["photom_used"].sum() >= 20
    # Calibrated PSF fluxes of the calibration stars reproduce the reference fluxes.
    used = result.photometry.used
    kept = np.asarray(used["kept"])
    ratio = sources["psfFlux"][used["source_row"][kept]] / refcat["r_flux"][used["ref_row"][kept]]
    assert float(np.median(ratio)) == pytest.approx(1.0, abs=0.005)
    # The input is untouched.
    np.testing.assert_array_equal(raw.image, scene.exposure.image)
    np.testing.assert_array_equal(raw.mask, scene.exposure.mask)


def test_reference_catalog_elsewhere_fails_astrometry() -> None:
    scene, refcat, _ = _visit(61)
    refcat["coord_dec"] += 0.5  # half a degree away: nothing on the detector
    with pytest.raises(CalibrationFailure, match="astrometry") as info:
        CalibrateTask().run(scene.exposure, refcat)
    assert info.value.step == "astrometry"
    assert "reference stars" in info.value.reason


def test_without_reference_catalog() -> None:
    scene, _, _ = _visit(62)
    with pytest.raises(CalibrationFailure, match="no reference catalog"):
        CalibrateTask().run(scene.exposure, None)
    config = CalibrateConfig(do_astrometry=False, do_photometry=False)
    result = CalibrateTask(config).run(scene.exposure, None)
    assert result.astrometry is None
    assert result.photometry is None
    assert np.isnan(result.summary.zero_point)
    assert result.summary.psf_fwhm == pytest.approx(4.5, rel=0.03)
