"""Tests of cosmic-ray detection and repair."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from science_scenes import make_scene
from scipy import ndimage

from promptproc.image import Exposure, ImagePsf, MaskPlane, gaussian_kernel, moffat_kernel
from promptproc.simulation import SimulatedObservatory, SimulationConfig
from promptproc.tasks._numerics import connected_groups
from promptproc.tasks.background import BackgroundConfig, estimate_background
from promptproc.tasks.cosmic_rays import CosmicRayConfig, CosmicRayTask, psf_contrast, repair_pixels
from promptproc.tasks.errors import CalibrationFailure
from promptproc.tasks.isr import run_isr

FULL_WELL = 140_000.0


def _flat_field(rng: np.random.Generator, shape=(128, 128), sky: float = 1000.0) -> Exposure:
    """Background-subtracted sky noise with its variance."""
    variance = np.full(shape, sky + 25.0, dtype=np.float32)
    image = (rng.normal(size=shape) * np.sqrt(variance)).astype(np.float32)
    return Exposure(image=image, variance=variance)


def test_psf_contrast_of_a_gaussian() -> None:
    sigma = 1.8
    ratios = psf_contrast(ImagePsf(gaussian_kernel(sigma), 2.3548 * sigma))
    # Neighbour over centre: exp(-d^2 / 2 sigma^2) for d = 1 (row, column) and sqrt(2) (diagonals).
    np.testing.assert_allclose(ratios[0], np.exp(-np.array([1, 1, 2, 2]) / (2 * sigma**2)), rtol=1e-6)
    # A source between two pixels: outer pair over inner pair, exp(-d^2 / sigma^2).
    np.testing.assert_allclose(ratios[1], np.exp(-np.array([1, 1, 2, 2]) / sigma**2), rtol=1e-3)


@pytest.mark.parametrize("fwhm", [2.0, 3.0, 4.5, 6.0])
@pytest.mark.parametrize("psf_scale", [0.9, 1.0, 1.15])
def test_stars_are_not_flagged(fwhm: float, psf_scale: float) -> None:
    # Stars from the noise to the full well, at random sub-pixel positions; the PSF model off by up to 15%.
    rng = np.random.default_rng(int(fwhm * 10) + int(psf_scale * 100))
    peak_per_flux = moffat_kernel(fwhm, 3.5).max()
    scene = make_scene(
        rng,
        shape=(256, 256),
        n_stars=150,
        fwhm=fwhm,
        flux_range=(300.0, FULL_WELL / peak_per_flux),
        sky=800.0,
    )
    assert scene.noiseless.max() > 0.5 * FULL_WELL
    exposure = scene.exposure
    exposure.image -= np.float32(800.0)
    psf = ImagePsf(moffat_kernel(fwhm * psf_scale, 3.5), fwhm * psf_scale)
    result = CosmicRayTask().run(exposure, psf)
    assert result.n_pixels == 0
    assert not result.cosmic_rays.any()
    assert not (result.exposure.mask & int(MaskPlane.CR)).any()


def test_a_track_is_found_flagged_and_repaired() -> None:
    rng = np.random.default_rng(5)
    exposure = _flat_field(rng)
    clean = exposure.image.copy()
    # A straight track between two pixel rows (both lit), and a single-pixel hit.
    exposure.image[60, 20:50] += np.float32(600.0)
    exposure.image[61, 20:50] += np.float32(500.0)
    exposure.image[100, 100] += np.float32(3000.0)
    exposure.variance[60:62, 20:50] += np.float32(550.0)
    before = exposure.copy()
    psf = ImagePsf.gaussian(4.5)
    result = CosmicRayTask().run(exposure, psf)
    # The input is untouched.
    np.testing.assert_array_equal(exposure.image, before.image)
    np.testing.assert_array_equal(exposure.mask, before.mask)
    assert result.n_cosmic_rays == 2
    flagged = result.cosmic_rays
    assert flagged[60:62, 20:50].all()
    assert flagged[100, 100]
    # Grown by one pixel, nothing further away.
    assert flagged[59:63, 19:51].sum() == 4 * 32
    assert flagged.sum() == result.n_pixels == 4 * 32 + 9
    repaired = result.exposure
    bits = int(MaskPlane.CR | MaskPlane.INTRP)
    assert ((repaired.mask[flagged] & bits) == bits).all()
    assert not (repaired.mask[~flagged] & bits).any()
    # The repaired pixels are sky again, with sky variance.
    residual = repaired.image[flagged] - clean[flagged]
    assert abs(float(np.mean(repaired.image[flagged]))) < 15.0
    assert float(np.std(residual)) < 1.5 * np.sqrt(1025.0)
    np.testing.assert_allclose(repaired.variance[flagged], 1025.0, rtol=1e-5)
    np.testing.assert_array_equal(repaired.image[~flagged], clean[~flagged])


def test_in_place_repairs_the_exposure_itself() -> None:
    exposure = _flat_field(np.random.default_rng(6))
    exposure.image[40, 40] += np.float32(5000.0)
    image = exposure.image
    result = CosmicRayTask().run(exposure, ImagePsf.gaussian(4.0), in_place=True)
    assert result.exposure is exposure
    assert exposure.image is image
    assert exposure.image[40, 40] < 200.0
    assert exposure.mask[40, 40] & int(MaskPlane.CR)


def test_saturated_and_bad_pixels_are_left_alone() -> None:
    exposure = _flat_field(np.random.default_rng(7))
    exposure.image[30, 30] += np.float32(5000.0)
    exposure.mask[30, 30] = int(MaskPlane.SAT)
    exposure.image[31, 80] += np.float32(5000.0)
    exposure.mask[31, 80] = int(MaskPlane.BAD | MaskPlane.INTRP)
    result = CosmicRayTask().run(exposure, ImagePsf.gaussian(4.0))
    assert result.n_pixels == 0


def test_a_psf_far_too_broad_is_a_calibration_failure() -> None:
    # Sharp stars with a PSF model four times too broad look like cosmic rays everywhere.
    scene = make_scene(np.random.default_rng(8), shape=(128, 128), n_stars=200, fwhm=1.5, sky=800.0)
    scene.exposure.image -= np.float32(800.0)
    config = CosmicRayConfig(max_pixel_fraction=0.001)
    with pytest.raises(CalibrationFailure, match="PSF") as info:
        CosmicRayTask(config).run(scene.exposure, ImagePsf.gaussian(6.0))
    assert info.value.step == "cosmic_rays"


def test_repair_pixels_reproduces_a_plane() -> None:
    yy, xx = np.mgrid[0:40, 0:50].astype(np.float32)
    plane = 3.0 * xx - 2.0 * yy + 10.0
    image, variance = plane.copy(), np.ones_like(plane)
    flagged = np.zeros(plane.shape, dtype=bool)
    flagged[10:14, 20:27] = True
    flagged[30, 5:9] = True
    image[flagged] = 1e6
    variance[flagged] = 1e6
    unfilled = repair_pixels(flagged, image, variance)
    assert not unfilled.any()
    np.testing.assert_allclose(image, plane, atol=1e-3)
    np.testing.assert_allclose(variance, 1.0)


def test_connected_groups() -> None:
    image = np.zeros((20, 20), dtype=bool)
    image[2, 2:6] = True  # a row
    image[5, 5] = image[6, 6] = True  # diagonal neighbours: one group
    image[19, 0] = image[0, 19] = True  # corners
    flat = np.flatnonzero(image)
    n, labels = connected_groups(flat, image.shape)
    expected, count = ndimage.label(image, structure=np.ones((3, 3)))
    assert n == count == 4
    # The same partition as scipy's labelling.
    pairs = set(zip(labels.tolist(), expected.ravel()[flat].tolist(), strict=True))
    assert len(pairs) == 4
    assert connected_groups(np.zeros(0, dtype=np.intp), image.shape)[0] == 0


def test_invalid_config() -> None:
    with pytest.raises(ValueError, match="contrast_factor"):
        CosmicRayConfig(contrast_factor=1.5)
    with pytest.raises(ValueError, match="max_iterations"):
        CosmicRayConfig(max_iterations=0)
    with pytest.raises(ValueError, match="unknown mask plane"):
        CosmicRayConfig(bad_mask_planes=("SATURATED",))


def test_finds_the_simulated_cosmic_rays() -> None:
    """Raws with and without cosmic rays differ only by them: the difference is the truth."""
    config = SimulationConfig(seed=11, detector_size=512, n_visits=2)
    observatory = SimulatedObservatory(config)
    without = SimulatedObservatory(dataclasses.replace(config, cosmic_ray_rate=0.0))
    cr_pixels = found = false = near_stars = 0
    for visit in observatory.visits:
        epoch = observatory.epoch_for(visit.mjd_begin)
        fwhm = observatory.visit_truth(visit).psf_fwhm
        psf = ImagePsf(moffat_kernel(fwhm, config.psf_beta), fwhm)
        for detector in (0, 4, 8):
            masters = (
                observatory.master_bias(detector, epoch),
                observatory.master_dark(detector, epoch),
                observatory.master_flat(detector, visit.physical_filter, epoch),
                observatory.defects(detector, epoch),
            )
            exposure = run_isr(observatory.raw(visit, detector), *masters)
            charge = exposure.image - run_isr(without.raw(visit, detector), *masters).image
            sigma = np.sqrt(np.maximum(exposure.variance, 1.0))
            background = estimate_background(exposure.image, exposure.mask, BackgroundConfig())
            exposure.image -= background.model
            flagged = CosmicRayTask().run(exposure, psf).cosmic_rays
            saturated = (exposure.mask & int(MaskPlane.SAT)) != 0
            truth = charge > 5.0 * sigma
            cr_pixels += int((truth & ~saturated).sum())
            found += int((truth & flagged).sum())
            # Flags further than a pixel from any charge of a cosmic ray are false.
            wrong = flagged & ~ndimage.binary_dilation(charge > 2.0 * sigma, np.ones((3, 3), dtype=bool))
            false += int(wrong.sum())
            stars = observatory.truth(visit, detector)
            stars = stars[(stars["kind"] != "transient") & (stars["peak"] > 5.0 * np.median(sigma))]
            yy, xx = np.mgrid[: exposure.height, : exposure.width]
            on_stars = np.zeros(exposure.shape, dtype=bool)
            for row in stars:
                on_stars |= np.hypot(xx - row["x"], yy - row["y"]) < 2.0 * fwhm
            near_stars += int((wrong & on_stars).sum())
    assert cr_pixels > 500
    assert found >= 0.97 * cr_pixels, f"found {found} of {cr_pixels} cosmic-ray pixels"
    assert false <= 0.002 * cr_pixels
    assert near_stars <= 0.002 * cr_pixels
