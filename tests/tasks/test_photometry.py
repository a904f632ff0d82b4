"""Tests of the photometric zero point."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from promptproc.tasks.errors import CalibrationFailure
from promptproc.tasks.photometry import PhotometryConfig, PhotometryTask


def _catalogs(rng: np.random.Generator, n: int, zero_point: float, n_variable: int = 0):
    counts = np.exp(rng.uniform(np.log(5e3), np.log(5e5), n))
    err = np.sqrt(counts + 1025.0 * 60.0)
    measured = counts + rng.normal(size=n) * err
    njy = 10.0 ** (-0.4 * (zero_point - 31.4))
    ref_flux = counts * njy
    # Variable stars and mismatches: way off.
    ref_flux[:n_variable] *= rng.uniform(1.5, 3.0, n_variable)
    sources = Table(
        {
            "psfInstFlux": measured,
            "psfInstFluxErr": err,
            "snr": measured / err,
            "psfFlux_flag": np.zeros(n, dtype=bool),
            "pixelFlags_saturated": np.zeros(n, dtype=bool),
        }
    )
    refcat = Table({"id": np.arange(n), "r_flux": ref_flux})
    matches = Table({"source_row": np.arange(n), "ref_row": np.arange(n)})
    return sources, refcat, matches


def test_zero_point_within_10_mmag_with_outliers() -> None:
    rng = np.random.default_rng(50)
    sources, refcat, matches = _catalogs(rng, 120, 28.3, n_variable=15)
    result = PhotometryTask().run(sources, refcat, matches, "r")
    assert result.zero_point == pytest.approx(28.3, abs=0.01)
    assert result.photo_calib.zero_point == pytest.approx(result.zero_point)
    assert 0 < result.zero_point_err < 0.01
    assert result.n_stars <= 120 - 15 + 2
    assert not result.used["kept"][:15].any()


def test_saturated_stars_are_not_used() -> None:
    rng = np.random.default_rng(51)
    sources, refcat, matches = _catalogs(rng, 40, 27.0)
    sources["pixelFlags_saturated"][:10] = True
    sources["psfInstFlux"][:10] *= 0.5
    result = PhotometryTask().run(sources, refcat, matches, "r")
    assert result.zero_point == pytest.approx(27.0, abs=0.01)
    assert not set(result.used["source_row"]) & set(range(10))


def test_failures() -> None:
    rng = np.random.default_rng(52)
    sources, refcat, matches = _catalogs(rng, 4, 28.0)
    with pytest.raises(CalibrationFailure, match="need 5") as info:
        PhotometryTask().run(sources, refcat, matches, "r")
    assert info.value.step == "photometry"
    with pytest.raises(CalibrationFailure, match="no column 'g_flux'"):
        PhotometryTask().run(sources, refcat, matches, "g")
    with pytest.raises(CalibrationFailure):
        PhotometryTask(PhotometryConfig(min_snr=1e9)).run(*_catalogs(rng, 50, 28.0), "r")
