"""Tests of PSF estimation."""

from __future__ import annotations

import numpy as np
import pytest
from science_scenes import make_scene

from promptproc.image import ImagePsf
from promptproc.tasks.background import BackgroundTask
from promptproc.tasks.detection import DetectionTask
from promptproc.tasks.errors import CalibrationFailure
from promptproc.tasks.measurement import MeasurementTask
from promptproc.tasks.psf import PsfEstimateConfig, PsfEstimateTask, moffat_fwhm


def _sources(fwhm: float, n: int, seed: int):
    rng = np.random.default_rng(seed)
    scene = make_scene(rng, n_stars=n, fwhm=fwhm, flux_range=(1e4, 3e5), psf_model=False)
    background = BackgroundTask().run(scene.exposure)
    guess = ImagePsf.gaussian(4.0)  # deliberately wrong first guess
    detection = DetectionTask().run(background.exposure, guess)
    exposure = background.exposure
    exposure.mask = detection.mask
    return exposure, MeasurementTask().run(exposure, detection.peaks, guess), scene


@pytest.mark.parametrize(("fwhm", "seed"), [(3.0, 30), (4.5, 31), (6.5, 32)])
def test_fwhm_recovered_within_three_percent(fwhm: float, seed: int) -> None:
    exposure, sources, _ = _sources(fwhm, 80, seed)
    result = PsfEstimateTask().run(exposure, sources)
    assert result.fwhm == pytest.approx(fwhm, rel=0.03)
    assert result.psf.fwhm == result.fwhm
    assert result.n_stars >= 10
    assert result.moffat_beta == pytest.approx(3.5, abs=0.6)
    assert result.flux_fraction > 0.99
    kernel = result.psf.kernel
    assert kernel.sum() == pytest.approx(1.0)
    centre = kernel.shape[0] // 2
    assert np.unravel_index(np.argmax(kernel), kernel.shape) == (centre, centre)


def test_psf_fluxes_with_the_estimated_psf() -> None:
    exposure, sources, scene = _sources(4.5, 80, 33)
    result = PsfEstimateTask().run(exposure, sources)
    remeasured = MeasurementTask().run(exposure, DetectionTask().run(exposure, result.psf).peaks, result.psf)
    dist = np.hypot(
        remeasured["x"][:, None] - scene.truth["x"][None, :],
        remeasured["y"][:, None] - scene.truth["y"][None, :],
    )
    rows = np.argmin(dist, axis=1)
    good = (dist.min(axis=1) < 0.5) & ~remeasured["blended"] & (remeasured["snr"] > 50)
    ratio = remeasured["psfInstFlux"][good] / scene.truth["flux"][rows[good]]
    assert float(np.median(ratio)) == pytest.approx(1.0, abs=0.015)


def test_moffat_only_model_and_fwhm_formula() -> None:
    exposure, sources, _ = _sources(4.0, 60, 34)
    result = PsfEstimateTask(PsfEstimateConfig(model="moffat")).run(exposure, sources)
    assert moffat_fwhm(result.moffat_alpha, result.moffat_beta) == pytest.approx(result.fwhm)
    assert result.fwhm == pytest.approx(4.0, rel=0.03)


def test_too_few_stars_is_a_calibration_failure() -> None:
    exposure, sources, _ = _sources(4.0, 3, 35)
    with pytest.raises(CalibrationFailure, match="usable PSF stars") as info:
        PsfEstimateTask().run(exposure, sources)
    assert info.value.step == "psf"
