"""ISR of simulated raws: levels, noise, variance, masks, interpolation, epochs and bad inputs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from astropy.table import Table

from promptproc.errors import BadInputError, ConfigurationError
from promptproc.image import Exposure, MaskPlane
from promptproc.simulation import SimulatedObservatory, SimulationConfig
from promptproc.tasks.isr import IsrConfig, IsrTask, interpolate_rows, overscan_levels, run_isr


@pytest.fixture(scope="module")
def obs() -> SimulatedObservatory:
    return SimulatedObservatory(SimulationConfig(seed=11, detector_size=512, n_visits=3))


@pytest.fixture(scope="module")
def case(obs: SimulatedObservatory):
    """Visit 1 (r) on detector 4 with the masters of its epoch, ISR'd."""
    visit = obs.visits[1]
    epoch = obs.epoch_for(visit.mjd_begin)
    masters = {
        "bias": obs.master_bias(4, epoch),
        "dark": obs.master_dark(4, epoch),
        "flat": obs.master_flat(4, visit.physical_filter, epoch),
        "defects": obs.defects(4, epoch),
    }
    raw = obs.raw(visit, 4)
    exposure = run_isr(
        raw, masters["bias"], masters["dark"], masters["flat"], masters["defects"], instrument=obs.instrument
    )
    return visit, epoch, raw, masters, exposure


def _sky_pixels(obs: SimulatedObservatory, visit, exposure: Exposure, detector: int = 4) -> np.ndarray:
    """Pixels away from every source brighter than the noise and from masked pixels."""
    truth = obs.truth(visit, detector)
    keep = exposure.mask == 0
    yy, xx = np.mgrid[: exposure.height, : exposure.width]
    for row in truth[truth["peak"] > 5]:
        radius = 3 * obs.visit_truth(visit).psf_fwhm * (1 + np.log10(row["peak"] / 5) / 2)
        x0, x1 = int(max(row["x"] - radius, 0)), int(min(row["x"] + radius + 1, exposure.width))
        y0, y1 = int(max(row["y"] - radius, 0)), int(min(row["y"] + radius + 1, exposure.height))
        keep[y0:y1, x0:x1] &= np.hypot(xx[y0:y1, x0:x1] - row["x"], yy[y0:y1, x0:x1] - row["y"]) > radius
    return keep


def test_sky_level_and_noise_match_the_simulation(obs: SimulatedObservatory, case) -> None:
    visit, _, _, _, exposure = case
    truth = obs.visit_truth(visit)
    sky = _sky_pixels(obs, visit, exposure)
    assert sky.mean() > 0.3
    level = float(np.median(exposure.image[sky]))
    assert level == pytest.approx(truth.sky_electrons, rel=0.02)
    noise = 1.4826 * float(np.median(np.abs(exposure.image[sky] - level)))
    read = np.mean([a.read_noise**2 for a in obs.instrument.detector(4).amplifiers])
    expected = np.sqrt(truth.sky_electrons + obs.config.dark_current * visit.exposure_time + read)
    assert noise == pytest.approx(expected, rel=0.04)


def test_variance_is_consistent_with_the_pixel_scatter(obs: SimulatedObservatory, case) -> None:
    visit, _, _, _, exposure = case
    sky = _sky_pixels(obs, visit, exposure)
    level = float(np.median(exposure.image[sky]))
    pull = (exposure.image[sky] - level) / np.sqrt(exposure.variance[sky])
    assert 1.4826 * np.median(np.abs(pull)) == pytest.approx(1.0, abs=0.03)
    # On sources too: the variance grows with the signal.
    assert exposure.variance.max() > 10 * np.median(exposure.variance)


def test_image_is_flat_across_amplifiers(obs: SimulatedObservatory, case) -> None:
    visit, _, _, _, exposure = case
    sky = _sky_pixels(obs, visit, exposure)
    levels = []
    for amp in obs.instrument.detector(4).amplifiers:
        box = amp.data_box.slices
        levels.append(np.median(exposure.image[box][sky[box]]))
    assert np.ptp(levels) < 0.01 * np.mean(levels)
    # Row-wise bias drift is gone: row medians scatter only as the noise allows.
    rows = np.array([np.median(exposure.image[y][sky[y]]) for y in range(0, 512, 4) if sky[y].sum() > 100])
    assert np.std(rows) < 6.0


def test_saturation_and_bleed_trails_are_masked(obs: SimulatedObservatory) -> None:
    # Find a saturated star in the simulation.
    for visit in obs.visits:
        for det in range(9):
            truth = obs.truth(visit, det)
            bright = truth[(truth["kind"] == "star") & (truth["peak"] > 2 * obs.config.full_well)]
            if len(bright):
                break
        else:
            continue
        break
    else:
        pytest.fail("no saturated star in the test sky")
    epoch = obs.epoch_for(visit.mjd_begin)
    raw = obs.raw(visit, det)
    exposure = run_isr(
        raw,
        obs.master_bias(det, epoch),
        obs.master_dark(det, epoch),
        obs.master_flat(det, visit.physical_filter, epoch),
        obs.defects(det, epoch),
    )
    raw_saturated = np.zeros(raw.detector_shape, dtype=bool)
    for amp in raw.amplifiers:
        raw_saturated[amp.detector_box.slices] = amp.imaging() >= amp.saturation
    sat = (exposure.mask & int(MaskPlane.SAT)) != 0
    assert raw_saturated.sum() > 0
    assert sat[raw_saturated].all()  # every saturated raw pixel, bleed trails included
    assert sat.sum() > raw_saturated.sum()  # grown by one pixel
    assert ((exposure.mask[sat] & int(MaskPlane.INTRP)) != 0).all()
    assert np.isfinite(exposure.image).all()
    assert exposure.metadata["ISRNSAT"] == int(sat.sum())


def test_defects_are_masked_and_interpolated(obs: SimulatedObservatory, case) -> None:
    _, _, _, masters, exposure = case
    defects = masters["defects"]
    bad = (exposure.mask & int(MaskPlane.BAD)) != 0
    for row in defects:
        box = bad[row["y0"] : row["y0"] + row["height"], row["x0"] : row["x0"] + row["width"]]
        assert box.all()
    assert ((exposure.mask[bad] & int(MaskPlane.INTRP)) != 0).all()
    # Interpolated columns look like their neighbours.
    columns = defects[(defects["kind"] != "hot_pixel") & (defects["height"] > 100)]
    for row in columns:
        x = int(row["x0"]) + int(row["width"]) // 2
        ys = slice(int(row["y0"]) + 20, int(row["y0"] + row["height"]) - 20)
        inside = np.median(exposure.image[ys, x])
        beside = np.median(exposure.image[ys, max(x - 6, 0)])
        assert inside == pytest.approx(beside, rel=0.02)


def test_wrong_epoch_bias_leaves_a_measurable_offset(obs: SimulatedObservatory, case) -> None:
    visit, epoch, raw, masters, exposure = case
    other = next(e for e in obs.calibration_epochs if e.name != epoch.name)
    wrong = run_isr(raw, obs.master_bias(4, other), masters["dark"], masters["flat"], masters["defects"])
    sky = _sky_pixels(obs, visit, exposure)
    offset = float(np.median(wrong.image[sky] - exposure.image[sky]))
    sigma = np.sqrt(np.median(exposure.variance[sky]) / sky.sum())
    assert abs(offset) > 4.0  # electrons
    assert abs(offset) > 50 * sigma
    assert exposure.metadata["BIASEPO"] == epoch.name
    assert wrong.metadata["BIASEPO"] == other.name


def test_metadata_visit_info_and_wcs(obs: SimulatedObservatory, case) -> None:
    visit, _, raw, _, exposure = case
    assert exposure.visit_info.exposure_id == visit.exposure_id
    assert exposure.visit_info.physical_filter == visit.physical_filter
    assert exposure.visit_info.exposure_time == visit.exposure_time
    assert exposure.metadata["OBSID"] == visit.obs_id
    assert exposure.metadata["GROUPID"] == visit.group
    assert exposure.wcs is not None
    predicted = obs.predicted_wcs(visit, 4)
    np.testing.assert_allclose(exposure.wcs.wcs.crval, predicted.wcs.crval)
    np.testing.assert_allclose(exposure.wcs.wcs.crpix, predicted.wcs.crpix)
    given = run_isr(
        raw,
        None,
        None,
        None,
        None,
        IsrConfig(do_bias=False, do_dark=False, do_flat=False),
        wcs=obs.true_wcs(visit, 4),
    )
    np.testing.assert_allclose(given.wcs.wcs.crval, obs.true_wcs(visit, 4).wcs.crval)
    assert given.image.dtype == np.float32


def test_sources_land_on_their_true_pixels(obs: SimulatedObservatory, case) -> None:
    """Flipped and unflipped amplifiers are assembled into the right places."""
    visit, _, _, _, exposure = case
    truth = obs.truth(visit, 4)
    stars = truth[
        (truth["kind"] == "star") & (truth["snr"] > 50) & (truth["peak"] < 0.5 * obs.config.full_well)
    ]
    offsets = []
    for row in stars:
        x, y = round(float(row["x"])), round(float(row["y"]))
        if not (8 <= x < 504 and 8 <= y < 504) or exposure.mask[y - 6 : y + 7, x - 6 : x + 7].any():
            continue
        cut = exposure.image[y - 5 : y + 6, x - 5 : x + 6].astype(float)
        cut = np.clip(cut - np.median(exposure.image[y - 12 : y + 13, x - 12 : x + 13]), 0, None)
        yy, xx = np.mgrid[y - 5 : y + 6, x - 5 : x + 6]
        offsets.append(
            np.hypot((cut * xx).sum() / cut.sum() - row["x"], (cut * yy).sum() / cut.sum() - row["y"])
        )
    assert len(offsets) >= 4
    assert np.median(offsets) < 0.2


def test_task_object_matches_function(case) -> None:
    _, _, raw, masters, exposure = case
    again = IsrTask().run(raw, **masters)
    np.testing.assert_array_equal(again.image, exposure.image)
    np.testing.assert_array_equal(again.mask, exposure.mask)


def test_overscan_statistics(obs: SimulatedObservatory, case) -> None:
    _, _, raw, _, _ = case
    amp = raw.amplifiers[0]
    clipped = overscan_levels(amp, IsrConfig())
    median = overscan_levels(amp, IsrConfig(overscan_statistic="median"))
    smooth = overscan_levels(amp, IsrConfig(overscan_smooth_rows=5))
    assert clipped.shape == (amp.data.shape[0],)
    assert np.abs(clipped - median).max() < 3
    assert np.std(np.diff(smooth)) < np.std(np.diff(clipped))
    # A cosmic ray in the overscan does not move the clipped level.
    hit = replace(amp, data=amp.data.copy())
    hit.overscan()[10, 5] += 5000
    assert overscan_levels(hit, IsrConfig())[10] == pytest.approx(clipped[10], abs=0.5)


def test_interpolate_rows() -> None:
    values = np.tile(np.arange(10, dtype=np.float32) * 2.0, (3, 1))
    other = values.copy()
    bad = np.zeros_like(values, dtype=bool)
    bad[0, 3:6] = True
    bad[1, :2] = True
    bad[2, :] = True
    values[bad] = -99
    other[bad] = -99
    unfilled = interpolate_rows(bad, values, other)
    np.testing.assert_allclose(values[0], np.arange(10) * 2.0)
    np.testing.assert_allclose(values[1, :2], 4.0)  # edge run takes its one neighbour
    np.testing.assert_array_equal(values, other)
    assert unfilled[2].all()
    assert not unfilled[:2].any()


def test_bad_inputs(obs: SimulatedObservatory, case) -> None:
    visit, epoch, raw, masters, _ = case
    small = Exposure(np.zeros((10, 10), dtype=np.float32))
    with pytest.raises(BadInputError, match="master bias"):
        run_isr(raw, small, masters["dark"], masters["flat"], None)
    with pytest.raises(BadInputError, match="needs a master dark"):
        run_isr(raw, masters["bias"], None, masters["flat"], None)
    g_flat = obs.master_flat(4, "g", epoch)
    with pytest.raises(BadInputError, match="filter 'g'"):
        run_isr(raw, masters["bias"], masters["dark"], g_flat, None)
    with pytest.raises(BadInputError, match="lacks column"):
        run_isr(raw, masters["bias"], masters["dark"], masters["flat"], Table({"x": [1]}))
    with pytest.raises(ConfigurationError, match="overscan_statistic"):
        IsrConfig(overscan_statistic="mode")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="odd"):
        IsrConfig(overscan_smooth_rows=4)
    with pytest.raises(ConfigurationError, match="flat_min"):
        IsrConfig(flat_min=1.5)
    del visit
