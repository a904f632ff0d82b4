"""What the raws contain: PSF width, transients at their true positions and fluxes, truth tables."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from sim_measure import fit_moffat, forced_psf_flux

from promptproc.simulation import KINDS, SimulatedObservatory


def _isolated(truth, row, exposure, radius: float = 15.0) -> bool:
    others = np.hypot(truth["x"] - row["x"], truth["y"] - row["y"])
    crowded = ((others > 0) & (others < radius) & (truth["counts"] > 0.05 * row["counts"])).any()
    x, y = int(row["x"]), int(row["y"])
    masked = exposure.mask[max(y - 12, 0) : y + 13, max(x - 12, 0) : x + 13].any()
    inside = 30 < row["x"] < 481 and 30 < row["y"] < 481
    return inside and not crowded and not masked


@pytest.mark.parametrize("visit_index", [0, 1, 2])
def test_psf_fwhm_matches_the_visit_seeing(obs: SimulatedObservatory, calibrated, visit_index: int) -> None:
    visit = obs.visits[visit_index]
    widths = []
    for det in (0, 2, 4, 6, 8):
        exposure = calibrated(visit_index, det)
        truth = obs.truth(visit, det)
        stars = truth[
            (truth["kind"] == "star") & (truth["snr"] > 80) & (truth["peak"] < 0.5 * obs.config.full_well)
        ]
        for row in stars:
            if _isolated(truth, row, exposure):
                widths.append(fit_moffat(exposure.image, row["x"], row["y"], obs.config.psf_beta)[0])
    assert len(widths) >= 5
    assert np.median(widths) * 0.2 == pytest.approx(visit.seeing, rel=0.04)


def test_transients_appear_at_their_true_positions(obs: SimulatedObservatory, calibrated) -> None:
    pulls, ratios, checked = [], [], 0
    for index, visit in enumerate(obs.visits):
        for det in range(9):
            truth = obs.truth(visit, det)
            chosen = truth[(truth["kind"] == "transient") & (truth["host_id"] < 0) & (truth["snr"] > 15)]
            if not len(chosen):
                continue
            exposure = calibrated(index, det)
            fwhm = obs.visit_truth(visit).psf_fwhm
            for row in chosen:
                if not _isolated(truth, row, exposure):
                    continue
                flux, error = forced_psf_flux(
                    exposure.image, exposure.variance, row["x"], row["y"], fwhm, obs.config.psf_beta
                )
                pulls.append((flux - row["counts"]) / error)
                ratios.append(flux / row["counts"])
                checked += 1
    assert checked >= 4
    assert np.median(ratios) == pytest.approx(1.0, abs=0.03)
    assert np.all(np.abs(np.array(ratios) - 1) < 0.25)
    assert np.std(pulls) < 2.0


def test_hosted_transients_sit_on_their_hosts(obs: SimulatedObservatory) -> None:
    found = 0
    for visit in obs.visits:
        for det in range(9):
            truth = obs.truth(visit, det)
            hosted = truth[(truth["kind"] == "transient") & (truth["host_id"] >= 0)]
            galaxies = truth[truth["kind"] == "galaxy"]
            for row in hosted:
                host = galaxies[galaxies["id"] == row["host_id"]]
                if len(host):
                    found += 1
                    assert np.hypot(host["x"][0] - row["x"], host["y"][0] - row["y"]) < 30
    assert found >= 3


def test_truth_table_columns(obs: SimulatedObservatory) -> None:
    truth = obs.truth(obs.visits[0], 4)
    for name in ("id", "kind", "ra", "dec", "x", "y", "mag", "flux", "counts", "snr"):
        assert name in truth.colnames
    assert set(Counter(truth["kind"])) <= set(KINDS)
    assert (truth["x"] >= -0.5).all()
    assert (truth["x"] < 511.5).all()
    assert str(truth["flux"].unit) == "nJy"
    visible = truth["flux"] > 0
    expected = 31.4 - 2.5 * np.log10(truth["flux"][visible])
    np.testing.assert_allclose(truth["mag"][visible], expected, atol=1e-6)
    assert truth.meta["EXPID"] == obs.visits[0].exposure_id
    # S/N grows with flux for point sources.
    stars = truth[truth["kind"] == "star"]
    order = np.argsort(stars["counts"])
    assert np.all(np.diff(stars["snr"][order]) > 0)


def test_variables_change_between_visits(obs: SimulatedObservatory) -> None:
    variables = obs.sky_model.variables
    mags = [
        variables.mag(visit.band, visit.mjd_mid) - variables.mag(visit.band, None) for visit in obs.visits
    ]
    assert np.std(np.array(mags), axis=0).mean() > 0.01
