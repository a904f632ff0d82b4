"""The night plan: visit identity, conditions, pointing errors and calibration epochs."""

from __future__ import annotations

import re

import numpy as np
import pytest

from promptproc.errors import BadInputError
from promptproc.simulation import CalibrationEpoch, SimulatedObservatory, SimVisit
from promptproc.simulation._spherical import angular_separation


def test_visit_identity(obs: SimulatedObservatory) -> None:
    assert len(obs.visits) == 3
    for index, visit in enumerate(obs.visits):
        assert isinstance(visit, SimVisit)
        assert visit.seq_num == obs.config.first_seq_num + index
        assert visit.exposure_id == obs.instrument.exposure_id(visit.day_obs, visit.seq_num)
        assert visit.obs_id == obs.instrument.obs_id(visit.day_obs, visit.seq_num)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", visit.group)
        assert visit.group == visit.date_begin
        assert visit.physical_filter == obs.config.filters[index % 3]
        assert visit.band == visit.physical_filter
        assert visit.exposure_time == 30.0
    assert len({v.group for v in obs.visits}) == 3
    assert all(b.mjd_begin > a.mjd_end for a, b in zip(obs.visits, obs.visits[1:], strict=False))


def test_visit_conditions(obs: SimulatedObservatory) -> None:
    for visit in obs.visits:
        assert 0.6 <= visit.seeing <= 1.3
        assert 1.0 <= visit.airmass < 3.0
        assert 19.0 < visit.sky_mag < 23.0
        # Dithers stay within the configured radius.
        offset = angular_separation(visit.ra, visit.dec, obs.config.ra, obs.config.dec) * 3600
        assert offset <= obs.config.dither + 1e-6
    assert len({v.seeing for v in obs.visits}) == 3


def test_true_pointing_differs_from_commanded(obs: SimulatedObservatory) -> None:
    for visit in obs.visits:
        truth = obs.visit_truth(visit)
        error = angular_separation(visit.ra, visit.dec, truth.ra, truth.dec) * 3600
        assert 0.3 < error < 3.0
        rotation = abs((truth.rotation - visit.rotation + 180) % 360 - 180)
        assert 0.001 < rotation < 0.03
        assert truth.psf_fwhm == pytest.approx(visit.seeing / 0.2)
        predicted = obs.predicted_wcs(visit, 4)
        true = obs.true_wcs(visit, 4)
        shift = np.hypot(
            *(
                np.array(true.all_world2pix([[visit.ra, visit.dec]], 0)[0])
                - predicted.all_world2pix([[visit.ra, visit.dec]], 0)[0]
            )
        )
        assert 1.0 < shift < 20.0  # pixels


def test_visit_info(obs: SimulatedObservatory) -> None:
    visit = obs.visits[0]
    info = visit.visit_info()
    assert info.exposure_id == visit.exposure_id
    assert info.ra == visit.ra
    assert info.rotation == visit.rotation
    assert info.mjd_begin == visit.mjd_begin


def test_epochs_cover_the_visits_and_split_them(obs: SimulatedObservatory) -> None:
    epochs = obs.calibration_epochs
    assert len(epochs) == 2
    assert all(isinstance(e, CalibrationEpoch) for e in epochs)
    assert epochs[0].end == epochs[1].begin
    assert epochs[0].begin.scale == "tai"
    names = [obs.epoch_for(v.mjd_begin).name for v in obs.visits]
    assert set(names) == {"epoch0", "epoch1"}
    assert names == sorted(names)
    with pytest.raises(BadInputError, match="no calibration epoch"):
        obs.epoch_for(obs.visits[0].mjd_begin - 100.0)


def test_unknown_visits_are_rejected(obs: SimulatedObservatory) -> None:
    from dataclasses import replace

    stranger = replace(obs.visits[0], seq_num=999, exposure_id=obs.visits[0].exposure_id + 900)
    with pytest.raises(BadInputError, match="not one this observatory planned"):
        obs.raw(stranger, 4)
    tampered = replace(obs.visits[0], ra=obs.visits[0].ra + 1.0)
    with pytest.raises(BadInputError):
        obs.truth(tampered, 4)
    with pytest.raises(BadInputError, match="visit index"):
        obs.visit(3)
