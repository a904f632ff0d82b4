"""Tests of PSF-matched image subtraction."""

from __future__ import annotations

import numpy as np
import pytest
from science_scenes import make_pair, prepare

from promptproc.image import MaskPlane
from promptproc.tasks.errors import SubtractionError
from promptproc.tasks.measurement import forced_psf_flux
from promptproc.tasks.subtract import SubtractConfig, SubtractTask, alard_lupton_basis


def test_residuals_are_noise_and_transients_survive() -> None:
    pair = make_pair(np.random.default_rng(80))
    science, template, sources = prepare(pair)
    result = SubtractTask().run(science, template, sources)
    assert result.mode == "convolveTemplate"
    assert result.kernel_sum == pytest.approx(1.0, abs=0.01)
    assert result.kernel.sum() == pytest.approx(result.kernel_sum, rel=0.02)
    assert result.n_stamps >= 20
    assert 0.9 < result.residual_std_ratio < 1.1
    assert 0.9 < result.residual_mad_ratio < 1.1
    assert abs(result.residual_mean) < 1.0
    diff = result.difference
    assert diff.psf is science.psf
    assert diff.photo_calib is science.photo_calib
    # Injected sources keep their flux (PSF photometry on the difference, science counts).
    forced = forced_psf_flux(diff, pair.injected["x"], pair.injected["y"])
    ratio = np.asarray(forced["flux"]) / np.asarray(pair.injected["flux"])
    assert float(np.mean(ratio)) == pytest.approx(1.0, abs=0.1)
    # Static stars are gone to within a few sigma.
    stars = forced_psf_flux(diff, pair.stars["x"], pair.stars["y"])
    bright = np.asarray(pair.stars["flux"]) > 3e4
    pulls = np.asarray(stars["flux"])[bright] / np.asarray(stars["fluxErr"])[bright]
    assert float(np.median(np.abs(pulls))) < 2.0


def test_spatially_constant_kernel_and_background_off() -> None:
    pair = make_pair(np.random.default_rng(81), n_injected=0)
    science, template, sources = prepare(pair)
    config = SubtractConfig(spatial_order=0, background_order=-1)
    result = SubtractTask(config).run(science, template, sources)
    assert 0.9 < result.residual_std_ratio < 1.1
    assert result.background_offset == 0.0


def test_template_worse_than_science_convolves_the_science() -> None:
    pair = make_pair(np.random.default_rng(82), science_fwhm=3.5, template_fwhm=5.0, template_depth=20.0)
    science, template, sources = prepare(pair)
    result = SubtractTask().run(science, template, sources)
    assert result.mode == "convolveScience"
    assert result.difference.psf.fwhm == pytest.approx(template.psf.fwhm)
    assert 1.0 / result.kernel_sum == pytest.approx(1.0, abs=0.02)
    assert 0.9 < result.residual_std_ratio < 1.1
    forced = forced_psf_flux(result.difference, pair.injected["x"], pair.injected["y"])
    ratio = np.asarray(forced["flux"]) / np.asarray(pair.injected["flux"])
    assert float(np.mean(ratio)) == pytest.approx(1.0, abs=0.1)


def test_template_holes_propagate_as_no_data() -> None:
    pair = make_pair(np.random.default_rng(83), n_injected=0)
    science, template, sources = prepare(pair)
    template.image[200:230, 100:130] = np.nan
    template.mask[200:230, 100:130] |= int(MaskPlane.NO_DATA)
    result = SubtractTask().run(science, template, sources)
    diff = result.difference
    no_data = (diff.mask & int(MaskPlane.NO_DATA)) != 0
    k_half = result.kernel.shape[0] // 2
    assert no_data[200 - k_half : 230 + k_half, 100 - k_half : 130 + k_half].all()
    assert np.isnan(diff.image[no_data]).all()
    assert np.isinf(diff.variance[no_data]).all()
    assert np.isfinite(diff.image[~no_data]).all()
    assert 0.9 < result.residual_std_ratio < 1.1


def test_stamps_found_without_a_source_table() -> None:
    pair = make_pair(np.random.default_rng(84), n_injected=0)
    science, template, _ = prepare(pair)
    result = SubtractTask().run(science, template)
    assert result.n_stamps >= 10
    assert 0.9 < result.residual_std_ratio < 1.1


def test_failures() -> None:
    pair = make_pair(np.random.default_rng(85), n_stars=20, n_injected=0)
    science, template, sources = prepare(pair)
    no_calib = science.copy()
    no_calib.photo_calib = None
    with pytest.raises(SubtractionError, match="photometric calibration"):
        SubtractTask().run(no_calib, template, sources)
    with pytest.raises(SubtractionError, match="differ in shape"):
        SubtractTask().run(science, template.cutout(0, 0, 100, 100), sources)
    with pytest.raises(SubtractionError, match="stamps"):
        SubtractTask(SubtractConfig(min_stamps=500)).run(science, template, sources)


def test_basis_normalisation() -> None:
    basis = alard_lupton_basis(8, (1.0, 2.0, 4.0), (4, 2, 0))
    assert basis.shape == (15 + 6 + 1, 17, 17)
    assert basis[0].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(basis[1:].sum(axis=(1, 2)), 0.0, atol=1e-10)
