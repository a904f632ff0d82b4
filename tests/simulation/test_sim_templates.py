"""Templates: coverage, units, PSF, depth, static sky, NO_DATA outside the simulated sky."""

from __future__ import annotations

import numpy as np
import pytest
from sim_measure import forced_psf_flux

from promptproc.image import MaskPlane, read_exposure_fits, write_exposure_fits
from promptproc.instrument import wcs_corners
from promptproc.simulation import SimulatedObservatory


def test_template_patches_cover_every_detector(obs: SimulatedObservatory) -> None:
    patches = obs.template_patches()
    assert patches == sorted(patches, key=lambda p: (p.tract, p.id))
    keys = {(p.tract, p.id) for p in patches}
    assert len(keys) == len(patches)
    for visit in obs.visits:
        for det in obs.instrument.detectors:
            corners = wcs_corners(obs.predicted_wcs(visit, det.id), det.width, det.height)
            assert {(p.tract, p.id) for p in obs.skymap.patches_overlapping(corners)} <= keys
    # The default sky map's patches are a detector wide.
    assert patches[0].inner.width == 512


@pytest.fixture(scope="module")
def template_and_patch(obs: SimulatedObservatory):
    """The r template of the patch holding the centre of detector 4 in visit 1."""
    visit = obs.visits[1]
    centre = obs.true_wcs(visit, 4).all_pix2world([[255.5, 255.5]], 0)[0]
    for patch in obs.template_patches():
        x, y = patch.wcs.all_world2pix([centre], 0)[0]
        if 0 <= x < patch.outer.width and 0 <= y < patch.outer.height:
            return obs.template(patch, "r"), patch
    raise AssertionError("no patch holds the detector centre")


def test_template_units_and_psf(obs: SimulatedObservatory, template_and_patch) -> None:
    template, patch = template_and_patch
    assert template.shape == (patch.outer.height, patch.outer.width)
    assert template.photo_calib is not None
    assert template.photo_calib.njy_per_count == 1.0
    assert template.psf is not None
    assert template.psf.fwhm == pytest.approx(obs.config.template_seeing / 0.2)
    assert template.visit_info.band == "r"
    assert template.metadata["TRACT"] == patch.tract
    assert template.metadata["PATCH"] == patch.id
    good = template.mask == 0
    assert abs(float(np.median(template.image[good]))) < 1.0  # background-subtracted, nJy
    residual = template.image[good] / np.sqrt(template.variance[good])
    robust_std = 1.4826 * np.median(np.abs(residual - np.median(residual)))
    assert robust_std == pytest.approx(1.0, abs=0.05)  # sources are in the image, not in the noise


def test_outside_the_sky_is_no_data(obs: SimulatedObservatory) -> None:
    patches = obs.template_patches()
    corner = obs.template(patches[0], "g")  # a corner patch reaches outside the sky region
    no_data = (corner.mask & int(MaskPlane.NO_DATA)) != 0
    assert no_data.any()
    assert np.isnan(corner.image[no_data]).all()
    assert np.isinf(corner.variance[no_data]).all()
    assert np.isfinite(corner.image[~no_data]).all()
    ys, xs = np.nonzero(~no_data)
    ra, dec = patches[0].wcs.all_pix2world(xs[::97], ys[::97], 0)
    assert obs.region.contains(ra, dec).all()


def test_template_is_deeper_and_sharper_than_a_raw(
    obs: SimulatedObservatory, calibrated, template_and_patch
) -> None:
    template, _ = template_and_patch
    visit = obs.visits[1]
    exposure = calibrated(1, 4)
    per_njy = obs.visit_truth(visit).electrons_per_njy
    raw_noise = np.sqrt(np.median(exposure.variance[exposure.mask == 0])) / per_njy
    template_noise = np.sqrt(np.median(template.variance[template.mask == 0]))
    assert template_noise < raw_noise / 3
    assert template.psf.fwhm < obs.visit_truth(visit).psf_fwhm + 0.5 or visit.seeing < 0.75


def test_template_holds_static_sources_only(obs: SimulatedObservatory, template_and_patch) -> None:
    template, patch = template_and_patch
    sky = obs.sky_model
    fwhm = template.psf.fwhm
    x, y = patch.wcs.all_world2pix(sky.stars.ra, sky.stars.dec, 0)
    inside = (x > 40) & (x < patch.outer.width - 40) & (y > 40) & (y < patch.outer.height - 40)
    bright = inside & (sky.stars.mag("r") > 16) & (sky.stars.mag("r") < 23)
    ratios = []
    for xi, yi, mag in zip(x[bright], y[bright], sky.stars.mag("r")[bright], strict=True):
        if template.mask[int(yi) - 20 : int(yi) + 21, int(xi) - 20 : int(xi) + 21].any():
            continue
        flux, _ = forced_psf_flux(template.image, template.variance, xi, yi, fwhm, obs.config.psf_beta)
        ratios.append(flux / 10 ** (-0.4 * (mag - 31.4)))
    assert len(ratios) >= 5
    assert np.median(ratios) == pytest.approx(1.0, abs=0.05)
    # Hostless transients are absent: forced photometry at their positions is consistent with zero.
    tra = sky.transients
    tx, ty = patch.wcs.all_world2pix(tra.ra, tra.dec, 0)
    hostless = (
        (tra.host_id < 0)
        & (tx > 40)
        & (tx < patch.outer.width - 40)
        & (ty > 40)
        & (ty < patch.outer.height - 40)
    )
    for xi, yi in zip(tx[hostless], ty[hostless], strict=True):
        if template.mask[int(yi) - 20 : int(yi) + 21, int(xi) - 20 : int(xi) + 21].any():
            continue
        flux, error = forced_psf_flux(template.image, template.variance, xi, yi, fwhm, obs.config.psf_beta)
        assert abs(flux) < 6 * error or abs(flux) < 200  # nJy: nothing like a transient


def test_template_fits_round_trip(template_and_patch, tmp_path) -> None:
    template, _ = template_and_patch
    path = tmp_path / "template.fits"
    write_exposure_fits(template, path)
    back = read_exposure_fits(path)
    np.testing.assert_array_equal(back.image, template.image)
    assert back.psf is not None
    assert back.photo_calib == template.photo_calib
