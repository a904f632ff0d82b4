"""Tests of the astrometric fit."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table, vstack
from science_scenes import make_refcat, make_scene

from promptproc.instrument import make_tan_wcs
from promptproc.tasks.astrometry import (
    AstrometryConfig,
    AstrometryTask,
    fit_tan_sip,
    gnomonic_forward,
    gnomonic_inverse,
)
from promptproc.tasks.detection import DetectionTask
from promptproc.tasks.errors import CalibrationFailure
from promptproc.tasks.measurement import MeasurementTask

RA0, DEC0 = 150.0, 2.0


def _field(seed: int, n_outliers: int = 40, ref_noise_arcsec: float = 0.02):
    rng = np.random.default_rng(seed)
    true = make_tan_wcs(RA0, DEC0, (255.5, 255.5), 0.2, 10.0)
    scene = make_scene(rng, n_stars=120, wcs=true)
    scene.exposure.image -= np.float32(1000.0)
    refcat = make_refcat(scene.truth, 1.0)
    cos_dec = np.cos(np.radians(DEC0))
    refcat["coord_ra"] += rng.normal(0.0, ref_noise_arcsec / 3600.0, len(refcat)) / cos_dec
    refcat["coord_dec"] += rng.normal(0.0, ref_noise_arcsec / 3600.0, len(refcat))
    # Reference stars that are not in the image (too faint, moved, spurious).
    out_ra, out_dec = true.all_pix2world(rng.uniform(0, 511, n_outliers), rng.uniform(0, 511, n_outliers), 0)
    outliers = Table(
        {
            "id": np.arange(n_outliers) + 10_000,
            "coord_ra": out_ra,
            "coord_dec": out_dec,
            "r_flux": rng.uniform(3e3, 3e5, n_outliers),
            "r_fluxErr": np.ones(n_outliers),
        }
    )
    refcat = vstack([refcat, outliers])
    detection = DetectionTask().run(scene.exposure)
    sources = MeasurementTask().run(scene.exposure, detection.peaks)
    # Predicted WCS: 3 arcsec off in RA, 2 in Dec, rotated by 0.03 degrees.
    guess = make_tan_wcs(RA0 + 3.0 / 3600.0 / cos_dec, DEC0 - 2.0 / 3600.0, (255.5, 255.5), 0.2, 10.03)
    return true, guess, sources, refcat


def _wcs_error_arcsec(fitted, true) -> float:
    gx, gy = np.meshgrid(np.linspace(0, 511, 12), np.linspace(0, 511, 12))
    ra1, dec1 = fitted.all_pix2world(gx.ravel(), gy.ravel(), 0)
    ra0, dec0 = true.all_pix2world(gx.ravel(), gy.ravel(), 0)
    return float(
        np.sqrt(np.mean(((ra1 - ra0) * np.cos(np.radians(dec0))) ** 2 + (dec1 - dec0) ** 2)) * 3600.0
    )


def test_recovers_shift_and_rotation_despite_outliers() -> None:
    true, guess, sources, refcat = _field(40)
    result = AstrometryTask().run(sources, refcat, guess, (512, 512), band="r")
    assert result.rms_arcsec < 0.05
    assert _wcs_error_arcsec(result.wcs, true) < 0.05
    assert result.n_matched >= 80
    # No outlier reference star is matched.
    assert (refcat["id"][result.matches["ref_row"]] < 10_000).all()
    assert result.offset_arcsec[0] == pytest.approx(-3.0, abs=0.05)
    assert result.offset_arcsec[1] == pytest.approx(2.0, abs=0.05)
    assert result.rotation_deg == pytest.approx(-0.03, abs=0.01)
    assert result.vote_significance > 5


def test_sip_fit_recovers_a_distortion() -> None:
    rng = np.random.default_rng(41)
    true = make_tan_wcs(RA0, DEC0, (1000.0, 1000.0), 0.2, 0.0)
    x, y = rng.uniform(0, 2000, 400), rng.uniform(0, 2000, 400)
    u, v = x - 1000.0, y - 1000.0
    # A quadratic distortion of up to ~2 pixels at the corners.
    dx, dy = 1e-6 * (u * u - v * v), 2e-6 * u * v
    ra, dec = true.all_pix2world(x + dx, y + dy, 0)
    tan = fit_tan_sip(x, y, ra, dec, (1000.0, 1000.0), (RA0 + 0.01, DEC0 - 0.01), sip_order=0)
    sip = fit_tan_sip(x, y, ra, dec, (1000.0, 1000.0), (RA0 + 0.01, DEC0 - 0.01), sip_order=2)
    fit_ra, fit_dec = sip.all_pix2world(x, y, 0)
    err = np.hypot((fit_ra - ra) * np.cos(np.radians(dec)), fit_dec - dec) * 3600.0
    assert err.max() < 1e-3
    tan_ra, tan_dec = tan.all_pix2world(x, y, 0)
    assert np.hypot((tan_ra - ra) * np.cos(np.radians(dec)), tan_dec - dec).max() * 3600.0 > 0.1
    # The inverse SIP polynomials round-trip.
    back_x, back_y = sip.all_world2pix(fit_ra, fit_dec, 0)
    assert np.abs(back_x - x).max() < 1e-3
    assert np.abs(back_y - y).max() < 1e-3


def test_gnomonic_round_trip() -> None:
    ra = np.array([149.9, 150.0, 150.2])
    dec = np.array([1.9, 2.0, 2.3])
    xi, eta = gnomonic_forward(ra, dec, RA0, DEC0)
    back_ra, back_dec = gnomonic_inverse(xi, eta, RA0, DEC0)
    np.testing.assert_allclose(back_ra, ra, atol=1e-10)
    np.testing.assert_allclose(back_dec, dec, atol=1e-10)
    assert xi[2] > 0  # east is positive


def test_too_few_reference_stars_fails_with_reason() -> None:
    _, guess, sources, refcat = _field(42, n_outliers=0)
    with pytest.raises(CalibrationFailure, match="reference stars on the detector") as info:
        AstrometryTask().run(sources, refcat[:3], guess, (512, 512), band="r")
    assert info.value.step == "astrometry"


def test_unrelated_reference_catalog_fails() -> None:
    rng = np.random.default_rng(43)
    _, guess, sources, _ = _field(43, n_outliers=0)
    ra, dec = guess.all_pix2world(rng.uniform(0, 511, 150), rng.uniform(0, 511, 150), 0)
    refcat = Table({"id": np.arange(150), "coord_ra": ra, "coord_dec": dec, "r_flux": np.ones(150)})
    with pytest.raises(CalibrationFailure) as info:
        AstrometryTask(AstrometryConfig(min_matches=10)).run(sources, refcat, guess, (512, 512), band="r")
    assert info.value.step == "astrometry"
