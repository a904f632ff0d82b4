"""Tests of single-frame measurement."""

from __future__ import annotations

import numpy as np
import pytest
from science_scenes import make_scene, render_moffat

from promptproc.image import Exposure, ImagePsf, MaskPlane, moffat_kernel
from promptproc.tasks.detection import DetectionTask
from promptproc.tasks.measurement import MeasurementTask, forced_psf_flux, psf_moments


def _measure(exposure: Exposure):
    detection = DetectionTask().run(exposure)
    exposure.mask = detection.mask
    return MeasurementTask().run(exposure, detection.peaks)


def _match(sources, xs, ys):
    dist = np.hypot(sources["x"][:, None] - xs[None, :], sources["y"][:, None] - ys[None, :])
    return np.argmin(dist, axis=0), dist.min(axis=0)


def test_bright_star_centroids_fluxes_and_errors() -> None:
    rng = np.random.default_rng(20)
    g = 40.0 + 60.0 * np.arange(8)
    xs, ys = (a.ravel() + rng.uniform(-0.5, 0.5, 64) for a in np.meshgrid(g, g))
    flux = 2e5
    scene = make_scene(rng, positions=(xs, ys), fluxes=np.full(64, flux), fwhm=4.0)
    scene.exposure.image -= np.float32(1000.0)
    sources = _measure(scene.exposure)
    rows, dist = _match(sources, xs, ys)
    assert dist.max() < 0.1
    matched = sources[rows]
    # Centroid bias < 0.05 px; PSF flux within 2% (the unit-sum kernel box holds ~99.5% of the Moffat).
    assert abs(float(np.mean(matched["x"] - xs))) < 0.05
    assert abs(float(np.mean(matched["y"] - ys))) < 0.05
    ratio = np.asarray(matched["psfInstFlux"]) / flux
    assert abs(float(np.median(ratio)) - 1.0) < 0.02
    # Reported errors match the scatter.
    pulls = (np.asarray(matched["x"]) - xs) / np.asarray(matched["xErr"])
    assert 0.7 < float(np.std(pulls)) < 1.4
    flux_pulls = (ratio - np.mean(ratio)) * flux / np.asarray(matched["psfInstFluxErr"])
    assert 0.7 < float(np.std(flux_pulls)) < 1.4
    assert np.median(matched["psfChi2"] / matched["psfNdata"]) == pytest.approx(1.0, abs=0.2)
    # Aperture flux (12 px radius holds ~99% of a FWHM-4 Moffat) and window-corrected moments.
    assert float(np.median(matched["apInstFlux"] / flux)) == pytest.approx(0.99, abs=0.015)
    ixx, iyy, _ixy = psf_moments(scene.exposure.psf)
    assert float(np.median(matched["ixx"])) == pytest.approx(ixx, rel=0.03)
    assert float(np.median(matched["iyy"])) == pytest.approx(iyy, rel=0.03)
    assert abs(float(np.median(matched["ixy"]))) < 0.05
    assert not matched["centroid_flag"].any()
    assert not matched["psfFlux_flag"].any()


def test_faint_star_fluxes_are_unbiased() -> None:
    rng = np.random.default_rng(21)
    g = 40.0 + 60.0 * np.arange(8)
    xs, ys = (a.ravel() + rng.uniform(-0.5, 0.5, 64) for a in np.meshgrid(g, g))
    flux = 4000.0  # SNR ~ 20
    scene = make_scene(rng, positions=(xs, ys), fluxes=np.full(64, flux), fwhm=4.0)
    scene.exposure.image -= np.float32(1000.0)
    forced = forced_psf_flux(scene.exposure, xs, ys)
    ratio = np.asarray(forced["flux"]) / flux
    assert abs(float(np.mean(ratio)) - 0.995) < 3 * float(np.std(ratio)) / 8
    assert float(np.std(ratio)) == pytest.approx(float(np.median(forced["fluxErr"])) / flux, rel=0.3)


def test_noiseless_forced_photometry_is_exact() -> None:
    kernel = moffat_kernel(3.5, 3.5, size=41)
    psf = ImagePsf(kernel, 3.5)
    xs, ys = np.array([30.25, 70.8]), np.array([40.6, 81.1])
    image = render_moffat((128, 128), xs, ys, np.array([1e4, 2e4]), 3.5, radius=20)
    exposure = Exposure(image=image, variance=np.ones((128, 128)), psf=psf)
    forced = forced_psf_flux(exposure, xs, ys)
    np.testing.assert_allclose(forced["flux"], [1e4, 2e4], rtol=3e-3)


def test_flags() -> None:
    rng = np.random.default_rng(22)
    xs = np.array([100.0, 300.0, 3.0, 400.0])
    ys = np.array([100.0, 300.0, 250.0, 100.0])
    scene = make_scene(rng, positions=(xs, ys), fluxes=np.full(4, 1e5), margin=0.0)
    exposure = scene.exposure
    exposure.image -= np.float32(1000.0)
    exposure.mask[300, 300] = int(MaskPlane.SAT)
    exposure.mask[104, 100] = int(MaskPlane.CR)
    exposure.mask[99:102, 402:405] = int(MaskPlane.NO_DATA)
    sources = _measure(exposure)
    rows, dist = _match(sources, xs, ys)
    assert dist.max() < 0.5
    s = sources[rows]
    assert s["pixelFlags_saturatedCenter"][1]
    assert s["pixelFlags_saturated"][1]
    assert s["pixelFlags_cr"][0]
    assert not s["pixelFlags_crCenter"][0]
    assert s["pixelFlags_edge"][2]
    assert s["psfFlux_flag_edge"][2]
    assert s["pixelFlags_nodata"][3]
    assert not s["pixelFlags_nodataCenter"][3]
    # The masked pixels are left out of the fit, which still measures the flux.
    assert s["psfInstFlux"][3] == pytest.approx(1e5 * 0.995, rel=0.02)
    assert not s["pixelFlags_saturated"][0]


def test_blended_pair_fluxes_fitted_together() -> None:
    rng = np.random.default_rng(23)
    xs, ys = np.array([200.0, 211.0]), np.array([250.0, 252.0])
    fluxes = np.array([1e5, 5e4])
    scene = make_scene(rng, positions=(xs, ys), fluxes=fluxes)
    scene.exposure.image -= np.float32(1000.0)
    sources = _measure(scene.exposure)
    rows, _ = _match(sources, xs, ys)
    assert sources["blended"][rows].all()
    np.testing.assert_allclose(sources["psfInstFlux"][rows], fluxes * 0.995, rtol=0.02)


def test_needs_a_psf() -> None:
    exposure = Exposure(image=np.zeros((32, 32)))
    detection = DetectionTask().run(
        Exposure(image=np.zeros((32, 32)), variance=np.ones((32, 32))), ImagePsf.gaussian(3)
    )
    with pytest.raises(ValueError, match="PSF"):
        MeasurementTask().run(exposure, detection.peaks)
