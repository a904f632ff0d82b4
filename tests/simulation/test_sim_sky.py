"""The sky model and the reference catalog."""

from __future__ import annotations

import numpy as np
import pytest
from sim_measure import centroid

from promptproc.simulation import SimulatedObservatory
from promptproc.simulation._photometry import mag_to_njy
from promptproc.simulation._spherical import angular_separation


def test_sky_region_covers_every_footprint(obs: SimulatedObservatory) -> None:
    region = obs.region
    for visit in obs.visits:
        for det in obs.instrument.detectors:
            wcs = obs.true_wcs(visit, det.id)
            corners = wcs.all_pix2world([[0, 0], [511, 0], [0, 511], [511, 511]], 0)
            assert region.contains(corners[:, 0], corners[:, 1]).all()
    sky = obs.sky_model
    assert region.contains(sky.stars.ra, sky.stars.dec).all()
    assert region.contains(sky.galaxies.ra, sky.galaxies.dec).all()


def test_star_counts_follow_the_configured_density(obs: SimulatedObservatory) -> None:
    r = obs.sky_model.stars.mag("r")
    expected = obs.config.star_density * obs.region.area
    assert (r < 22).sum() == pytest.approx(expected, rel=0.15)
    # Power law: each magnitude has 10**0.25 times more stars than the previous one.
    n20, n21 = ((r >= 20) & (r < 21)).sum(), ((r >= 21) & (r < 22)).sum()
    assert n21 / n20 == pytest.approx(10**0.25, rel=0.3)
    g_r = obs.sky_model.stars.mag("g") - r
    assert g_r.min() >= 0.1
    assert g_r.max() <= 1.6 + 1e-9


def test_galaxies_have_shapes(obs: SimulatedObservatory) -> None:
    gal = obs.sky_model.galaxies
    assert len(gal) > 50
    assert set(np.unique(gal.sersic_index)) == {1, 4}
    assert (gal.axis_ratio > 0).all()
    assert (gal.axis_ratio <= 1).all()
    bright = gal.half_light_radius[gal.mag("r") < 20]
    faint = gal.half_light_radius[gal.mag("r") > 23]
    assert np.median(bright) > np.median(faint)


def test_transients_and_variables(obs: SimulatedObservatory) -> None:
    sky = obs.sky_model
    transients = sky.transients
    assert len(transients) == obs.config.n_transients
    hosted = transients.host_id >= 0
    assert 0.3 < hosted.mean() < 0.7
    # Hosted transients sit close to their host.
    index = np.searchsorted(sky.galaxies.id, transients.host_id[hosted])
    distance = angular_separation(
        transients.ra[hosted], transients.dec[hosted], sky.galaxies.ra[index], sky.galaxies.dec[index]
    )
    assert np.all(distance * 3600 < 4 * sky.galaxies.half_light_radius[index] + 0.5)
    # Light curves: zero long before the peak, one at the peak, fading after.
    assert np.all(transients.brightness(float(transients.peak_mjd.min()) - 10) == 0)
    first = int(np.argmin(transients.peak_mjd))
    assert transients.brightness(float(transients.peak_mjd[first]))[first] == pytest.approx(1.0)
    later = transients.brightness(float(transients.peak_mjd[first]) + 0.5)[first]
    assert 0 < later < 1
    assert np.isnan(transients.mag("r", float(transients.peak_mjd.min()) - 10)).all()
    # Changes between visits of the night.
    visits = obs.visits
    change = transients.flux("r", visits[0].mjd_mid) - transients.flux("r", visits[-1].mjd_mid)
    assert (np.abs(change) > 0).sum() > len(transients) // 4
    variables = sky.variables
    mags = np.array([variables.mag("r", t) for t in np.linspace(60000, 60001, 200)])
    assert np.allclose(mags.mean(axis=0), variables.mag("r", None), atol=0.1)
    assert np.allclose(np.ptp(mags, axis=0), variables.amplitude, rtol=0.1)


def test_reference_catalog(obs: SimulatedObservatory) -> None:
    refcat = obs.reference_catalog()
    for name in (
        "id",
        "coord_ra",
        "coord_dec",
        "g_flux",
        "g_fluxErr",
        "r_flux",
        "r_fluxErr",
        "i_flux",
        "i_fluxErr",
    ):
        assert name in refcat.colnames
    assert str(refcat["coord_ra"].unit) == "deg"
    assert str(refcat["r_flux"].unit) == "nJy"
    stars = obs.sky_model.stars
    depth_count = (stars.mag("r") <= obs.config.refcat_depth).sum()
    assert len(refcat) == depth_count
    index = np.searchsorted(stars.id, refcat["id"])
    true_flux = mag_to_njy(stars.mag("r")[index])
    pull = (refcat["r_flux"] - true_flux) / refcat["r_fluxErr"]
    assert np.std(pull) == pytest.approx(1.0, rel=0.2)
    offset = angular_separation(refcat["coord_ra"], refcat["coord_dec"], stars.ra[index], stars.dec[index])
    assert np.median(offset) * 3.6e6 < 20  # milliarcseconds


def test_refcat_stars_land_where_the_true_wcs_says(obs: SimulatedObservatory, calibrated) -> None:
    """Centroids of bright, isolated reference stars agree with the true WCS, not the predicted one."""
    refcat = obs.reference_catalog()
    visit = obs.visits[1]
    offsets, predicted_offsets = [], []
    for det in (1, 3, 4, 5, 7):
        exposure = calibrated(1, det)
        true_wcs = obs.true_wcs(visit, det)
        predicted = obs.predicted_wcs(visit, det)
        x, y = true_wcs.all_world2pix(refcat["coord_ra"], refcat["coord_dec"], 0)
        px, py = predicted.all_world2pix(refcat["coord_ra"], refcat["coord_dec"], 0)
        flux = refcat["r_flux"]
        usable = (x > 30) & (x < 481) & (y > 30) & (y < 481) & (flux > 1e4) & (flux < 1e6)
        for xi, yi, pxi, pyi in zip(x[usable], y[usable], px[usable], py[usable], strict=True):
            if exposure.mask[int(yi) - 8 : int(yi) + 9, int(xi) - 8 : int(xi) + 9].any():
                continue
            cx, cy = centroid(exposure.image, xi, yi, half=6)
            offsets.append(np.hypot(cx - xi, cy - yi))
            predicted_offsets.append(np.hypot(cx - pxi, cy - pyi))
    assert len(offsets) >= 8
    assert np.median(offsets) < 0.15  # pixels
    assert np.median(predicted_offsets) > 1.5  # the pointing error is real
