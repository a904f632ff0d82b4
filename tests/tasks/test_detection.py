"""Tests of matched-filter detection."""

from __future__ import annotations

import numpy as np
import pytest
from science_scenes import make_scene

from promptproc.image import Exposure, ImagePsf, MaskPlane
from promptproc.tasks.detection import DetectionConfig, DetectionTask, matched_filter_snr


def _grid_positions(rng: np.random.Generator, n_side: int = 8, spacing: float = 60.0, start: float = 40.0):
    g = start + spacing * np.arange(n_side)
    xs, ys = np.meshgrid(g, g)
    return xs.ravel() + rng.uniform(-0.5, 0.5, xs.size), ys.ravel() + rng.uniform(-0.5, 0.5, ys.size)


def _subtracted(scene) -> Exposure:
    exposure = scene.exposure
    exposure.image -= np.float32(1000.0)
    return exposure


def test_finds_planted_stars_at_their_positions() -> None:
    rng = np.random.default_rng(10)
    xs, ys = _grid_positions(rng)
    fluxes = np.exp(rng.uniform(np.log(2e3), np.log(2e5), xs.size))
    exposure = _subtracted(make_scene(rng, positions=(xs, ys), fluxes=fluxes))
    result = DetectionTask().run(exposure)
    peaks = result.peaks
    assert len(peaks) == xs.size
    assert result.n_positive == xs.size
    assert result.n_negative == 0
    dist = np.hypot(peaks["peak_x"][:, None] - xs[None, :], peaks["peak_y"][:, None] - ys[None, :]).min(
        axis=0
    )
    assert dist.max() <= 1.0
    # The faintest star (2e3 e- on 1025 e- sky, FWHM 4 px) is ~12 sigma.
    assert np.all(peaks["peak_snr"] > 5.0)
    # Footprints are flagged DETECTED and grown; the input mask is untouched.
    detected = (result.mask & int(MaskPlane.DETECTED)) != 0
    assert detected[np.rint(ys).astype(int), np.rint(xs).astype(int)].all()
    assert detected.sum() > (result.labels > 0).sum()
    assert not (exposure.mask & int(MaskPlane.DETECTED)).any()


def test_pure_noise_gives_almost_nothing() -> None:
    rng = np.random.default_rng(11)
    image = rng.normal(0.0, 10.0, (512, 512)).astype(np.float32)
    exposure = Exposure(image=image, variance=np.full(image.shape, 100.0), psf=ImagePsf.gaussian(4.0))
    result = DetectionTask(DetectionConfig(polarity="both")).run(exposure)
    # Expected 5-sigma peaks of a 512^2 Gaussian random field smoothed by a 4-px PSF: ~0.05 per sign.
    assert len(result.peaks) <= 2
    snr = result.snr[50:-50, 50:-50]
    assert np.std(snr) == pytest.approx(1.0, abs=0.05)


def test_negative_sources_and_rescaled_noise() -> None:
    rng = np.random.default_rng(12)
    xs, ys = np.array([100.3, 300.7]), np.array([200.2, 350.9])
    scene = make_scene(rng, shape=(512, 512), positions=(xs, ys), fluxes=np.array([2e4, 2e4]))
    exposure = _subtracted(scene)
    exposure.image = -exposure.image
    # A variance plane twice too large: the empirical rescale recovers the right significance.
    exposure.variance = exposure.variance * np.float32(2.0)
    config = DetectionConfig(polarity="negative", rescale_to_empirical_noise=True)
    result = DetectionTask(config).run(exposure)
    assert len(result.peaks) == 2
    assert result.peaks["is_negative"].all()
    assert result.noise_scale == pytest.approx(1.0 / np.sqrt(2.0), rel=0.05)
    assert ((result.mask & int(MaskPlane.DETECTED_NEGATIVE)) != 0).any()


def test_close_pair_is_one_footprint_with_two_peaks() -> None:
    rng = np.random.default_rng(13)
    xs, ys = np.array([200.0, 211.0]), np.array([250.0, 252.0])
    exposure = _subtracted(make_scene(rng, positions=(xs, ys), fluxes=np.array([1e5, 5e4])))
    peaks = DetectionTask().run(exposure).peaks
    assert len(peaks) == 2
    assert peaks["footprint_id"][0] == peaks["footprint_id"][1]
    assert (peaks["n_peaks"] == 2).all()


def test_masked_and_non_finite_pixels_are_ignored() -> None:
    rng = np.random.default_rng(14)
    image = rng.normal(0.0, 10.0, (256, 256)).astype(np.float32)
    mask = np.zeros(image.shape, dtype=np.int32)
    image[100:110, 100:110] = 1e6
    mask[100:110, 100:110] = int(MaskPlane.BAD)
    image[10:20, 10:20] = np.nan
    exposure = Exposure(
        image=image, mask=mask, variance=np.full(image.shape, 100.0), psf=ImagePsf.gaussian(3.0)
    )
    result = DetectionTask().run(exposure)
    assert len(result.peaks) <= 1
    snr = matched_filter_snr(image, exposure.variance, exposure.psf.kernel, (mask != 0))
    assert np.isfinite(snr).all()


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="polarity"):
        DetectionConfig(polarity="up")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="threshold"):
        DetectionConfig(threshold=0.0)
