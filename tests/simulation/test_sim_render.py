"""The drawing primitives: flux conservation, positions, profiles, artefacts."""

from __future__ import annotations

import numpy as np
import pytest

from promptproc.simulation._artifacts import add_cosmic_rays, bleed_saturation
from promptproc.simulation._electrons import add_shot_noise
from promptproc.simulation._profiles import moffat_mixture, sersic_mixture
from promptproc.simulation._render import add_galaxies, add_point_sources, galaxy_shape_covariance


def test_point_sources_conserve_flux_and_position() -> None:
    image = np.zeros((120, 120), dtype=np.float32)
    add_point_sources(image, np.array([40.3, 80.7]), np.array([60.45, 30.2]), np.array([1e5, 3e3]), 4.0, 3.5)
    assert image.sum() == pytest.approx(1.03e5, rel=0.01)
    cut = image[40:81, 20:61].astype(float)  # around (40.3, 60.45)
    yy, xx = np.mgrid[40:81, 20:61]
    assert (cut * xx).sum() / cut.sum() == pytest.approx(40.3, abs=0.02)
    assert (cut * yy).sum() / cut.sum() == pytest.approx(60.45, abs=0.02)
    # Half maximum at half the FWHM from the centre.
    single = np.zeros((61, 61), dtype=np.float32)
    add_point_sources(single, np.array([30.0]), np.array([30.0]), np.array([1e4]), 6.0, 3.5)
    assert single[30, 33] / single[30, 30] == pytest.approx(0.5, rel=0.01)


def test_sources_off_the_edge_are_clipped() -> None:
    image = np.zeros((50, 50), dtype=np.float32)
    add_point_sources(image, np.array([-3.0, 200.0]), np.array([25.0, 25.0]), np.array([1e4, 1e4]), 4.0, 3.5)
    assert 0 < image.sum() < 1e4


def test_galaxies_conserve_flux_and_orientation() -> None:
    image = np.zeros((200, 200), dtype=np.float32)
    # East is -x, north +y (the usual sky parity): position angle 0 is along +y.
    sky_to_pixel = np.array([[-5.0, 0.0], [0.0, 5.0]])  # 0.2 arcsec pixels
    shape = galaxy_shape_covariance(
        np.array([1.5, 1.0]), np.array([0.3, 0.6]), np.array([0.0, 90.0]), sky_to_pixel
    )
    add_galaxies(
        image,
        np.array([60.0, 140.0]),
        np.array([100.0, 100.0]),
        np.array([5e4, 5e4]),
        shape,
        np.array([1, 4]),
        4.0,
        3.5,
    )
    assert image.sum() == pytest.approx(1e5, rel=0.03)
    disc = image[40:161, 20:101].astype(float)
    yy, xx = np.mgrid[40:161, 20:101]
    var_x = (disc * (xx - 60) ** 2).sum() / disc.sum()
    var_y = (disc * (yy - 100) ** 2).sum() / disc.sum()
    assert var_y > 3 * var_x  # elongated north-south


def test_profile_mixtures_are_normalised() -> None:
    for index in (1, 4):
        amplitudes, widths = sersic_mixture(index)
        assert amplitudes.sum() == pytest.approx(1.0)
        assert (widths > 0).all()
        # Half the light within one half-light radius (to a few per cent).
        r = 1.0
        enclosed = np.sum(amplitudes * (1 - np.exp(-0.5 * (r / widths) ** 2)))
        assert enclosed == pytest.approx(0.5, abs=0.03)
    amplitudes, _ = moffat_mixture(3.5)
    assert amplitudes.sum() == pytest.approx(1.0)


def test_bleed_conserves_charge_and_runs_along_columns() -> None:
    image = np.full((100, 20), 100.0, dtype=np.float32)
    image[50, 10] = 1_000_000.0
    total = image.sum()
    columns = bleed_saturation(image, 100_000.0)
    assert columns == 1
    assert image.max() <= 100_000.0
    assert image.sum() == pytest.approx(total, rel=1e-6)
    full = np.flatnonzero(image[:, 10] >= 99_999)
    assert len(full) >= 9
    assert np.ptp(full) == len(full) - 1  # contiguous
    assert (image[:, 9] == 100.0).all()


def test_bleed_charge_drains_off_the_edge() -> None:
    image = np.zeros((10, 3), dtype=np.float32)
    image[0, 1] = 1e7
    bleed_saturation(image, 1e5)
    assert (image[:, 1] == 1e5).all()


def test_cosmic_rays() -> None:
    image = np.zeros((400, 400), dtype=np.float32)
    count = add_cosmic_rays(image, np.random.default_rng(3), 1e-5, 30.0)
    assert count == pytest.approx(48, abs=25)
    assert image.sum() > count * 5000
    assert add_cosmic_rays(image, np.random.default_rng(3), 0.0, 30.0) == 0


def test_shot_noise_statistics() -> None:
    rng = np.random.default_rng(1)
    for level in (5.0, 1000.0):
        image = np.full((300, 300), level, dtype=np.float32)
        add_shot_noise(image, rng)
        assert image.mean() == pytest.approx(level, rel=0.01)
        assert image.var() == pytest.approx(level, rel=0.03)
