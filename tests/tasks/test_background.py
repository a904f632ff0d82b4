"""Tests of the mesh background."""

from __future__ import annotations

import numpy as np
import pytest
from science_scenes import make_scene

from promptproc.image import MaskPlane
from promptproc.tasks.background import BackgroundConfig, BackgroundTask, estimate_background
from promptproc.tasks.detection import DetectionTask


def _gradient(shape: tuple[int, int]) -> np.ndarray:
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)
    return 1000.0 + 0.4 * x - 0.25 * y + 1e-4 * (x - 200.0) ** 2


def test_recovers_planted_gradient_under_stars() -> None:
    rng = np.random.default_rng(1)
    sky = _gradient((512, 384))
    scene = make_scene(rng, shape=(512, 384), n_stars=60, sky=sky)
    first = BackgroundTask().run(scene.exposure)
    detected = DetectionTask().run(first.exposure)
    second = estimate_background(scene.exposure.image, detected.mask)
    error = second.model - sky
    # Cell statistics carry ~0.6 e- of noise (sigma 32 e- over 4096 pixels); stars are masked.
    assert abs(float(error.mean())) < 0.5
    assert float(np.sqrt(np.mean(error**2))) < 1.5
    assert float(np.abs(error).max()) < 8.0  # corners: extrapolated half cells
    # The scatter map is the sky noise plus the spread of the gradient across a 128-pixel cell.
    ramp_variance = (0.4**2 + 0.25**2) * 128.0**2 / 12.0
    assert np.median(second.rms) == pytest.approx(np.sqrt(1025.0 + ramp_variance), rel=0.1)


def test_planted_plane_is_exact_without_noise() -> None:
    y, x = np.mgrid[0:300, 0:500].astype(float)
    plane = 50.0 + 0.3 * x - 0.2 * y
    result = estimate_background(plane.astype(np.float32), config=BackgroundConfig(cell_size=64))
    assert np.abs(result.model - plane).max() < 1e-2


def test_masked_pixels_are_ignored() -> None:
    rng = np.random.default_rng(2)
    image = (100.0 + rng.normal(0.0, 5.0, (256, 256))).astype(np.float32)
    mask = np.zeros(image.shape, dtype=np.int32)
    image[50:120, 30:200] = 1e5  # a saturated bleed
    mask[50:120, 30:200] = int(MaskPlane.SAT)
    image[200:, 200:] = np.nan  # no data
    mask[200:, 200:] = int(MaskPlane.NO_DATA)
    result = estimate_background(image, mask, BackgroundConfig(cell_size=64))
    assert np.abs(result.model - 100.0).max() < 3.0  # unmasked, the bleed would add ~1e4
    assert result.n_good_cells >= result.grid.size - 2  # cells under the bleed are filled


def test_task_returns_subtracted_copy() -> None:
    rng = np.random.default_rng(3)
    scene = make_scene(rng, shape=(256, 256), n_stars=10, sky=500.0)
    before = scene.exposure.image.copy()
    result = BackgroundTask(BackgroundConfig(cell_size=64)).run(scene.exposure)
    np.testing.assert_array_equal(scene.exposure.image, before)
    np.testing.assert_allclose(result.exposure.image, before - result.model, rtol=1e-6)
    assert result.exposure.metadata["BGMEAN"] == pytest.approx(500.0, abs=2.0)


def test_all_masked_is_an_error_and_bad_config_rejected() -> None:
    image = np.zeros((128, 128), dtype=np.float32)
    mask = np.full(image.shape, int(MaskPlane.BAD), dtype=np.int32)
    with pytest.raises(ValueError, match="no background cell"):
        estimate_background(image, mask)
    with pytest.raises(ValueError, match="multiple"):
        BackgroundConfig(cell_size=65, subsample=2)
    with pytest.raises(ValueError, match="statistic"):
        BackgroundConfig(statistic="mean-ish")  # type: ignore[arg-type]


@pytest.mark.parametrize("statistic", ["median", "mean", "mode"])
def test_statistics_agree_on_pure_noise(statistic: str) -> None:
    rng = np.random.default_rng(4)
    image = (20.0 + rng.normal(0.0, 3.0, (256, 256))).astype(np.float32)
    result = estimate_background(image, config=BackgroundConfig(cell_size=64, statistic=statistic))
    assert result.mean == pytest.approx(20.0, abs=0.1)
    assert result.mean_rms == pytest.approx(3.0, rel=0.1)
