"""Master calibrations and defects: units, noise, epochs, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from promptproc.errors import BadInputError
from promptproc.simulation import CalibrationEpoch, SimulatedObservatory


def test_master_bias_is_the_structure_in_electrons(obs: SimulatedObservatory) -> None:
    epoch = obs.calibration_epochs[0]
    bias = obs.master_bias(4, epoch)
    assert bias.shape == (512, 512)
    assert bias.visit_info.observation_type == "bias"
    assert bias.metadata["CALIBEPO"] == "epoch0"
    assert bias.metadata["NCOMBINE"] == obs.config.n_calib_frames
    # A few ADU of structure times the gain; noise read_noise / sqrt(N).
    assert -10 < float(np.median(bias.image)) < 30
    signature = obs.signature(4, epoch).bias_electrons()
    residual = bias.image - signature
    expected = np.sqrt(np.mean(obs.signature(4, epoch).read_noise_map() ** 2) / obs.config.n_calib_frames)
    assert np.std(residual) == pytest.approx(expected, rel=0.05)
    assert np.sqrt(np.median(bias.variance)) == pytest.approx(expected, rel=0.2)


def test_master_dark_has_hot_pixels(obs: SimulatedObservatory) -> None:
    dark = obs.master_dark(4, obs.calibration_epochs[0])
    assert float(np.median(dark.image)) == pytest.approx(obs.config.dark_current, abs=0.01)
    assert dark.image.max() > 1.0  # hot pixels, e-/s
    assert dark.visit_info.observation_type == "dark"


def test_master_flat_is_normalised_with_structure(obs: SimulatedObservatory) -> None:
    flat = obs.master_flat(4, "r", obs.calibration_epochs[0])
    assert float(flat.image.mean()) == pytest.approx(1.0, abs=1e-5)
    assert flat.visit_info.physical_filter == "r"
    assert 0.005 < float(np.std(flat.image[flat.image > 0.5])) < 0.05
    g_flat = obs.master_flat(4, "g", obs.calibration_epochs[0])
    assert not np.allclose(g_flat.image, flat.image)
    assert np.corrcoef(g_flat.image.ravel(), flat.image.ravel())[0, 1] > 0.7  # same PRNU pattern


def test_defects(obs: SimulatedObservatory) -> None:
    defects = obs.defects(4, obs.calibration_epochs[0])
    assert {"x0", "y0", "width", "height", "kind"} <= set(defects.colnames)
    assert len(defects) >= 3
    assert (defects["x0"] >= 0).all()
    assert (defects["x0"] + defects["width"] <= 512).all()
    assert (defects["y0"] + defects["height"] <= 512).all()
    assert {"dead_column", "hot_column"} & set(defects["kind"])
    later = obs.defects(4, obs.calibration_epochs[1])
    assert len(later) > len(defects)  # a new hot column (and hot pixels) appear


def test_calibration_epochs_differ_measurably(obs: SimulatedObservatory) -> None:
    first, second = obs.calibration_epochs
    for det in (0, 4, 8):
        step = float(np.median(obs.master_bias(det, second).image - obs.master_bias(det, first).image))
        assert step > 5.0  # electrons
    dark_a = obs.master_dark(4, first).image
    dark_b = obs.master_dark(4, second).image
    assert ((dark_b > 0.5) & (dark_a < 0.1)).sum() >= 0
    flat_a = obs.master_flat(4, "r", first).image
    flat_b = obs.master_flat(4, "r", second).image
    assert np.abs(flat_b - flat_a).max() > 0.01  # a new dust donut


def test_bad_inputs(obs: SimulatedObservatory) -> None:
    epoch = obs.calibration_epochs[0]
    with pytest.raises(BadInputError, match="no physical filter"):
        obs.master_flat(4, "z", epoch)
    with pytest.raises(BadInputError, match="no detector"):
        obs.master_bias(42, epoch)
    with pytest.raises(BadInputError, match="unknown calibration epoch"):
        obs.master_dark(4, CalibrationEpoch("epoch9", epoch.begin, epoch.end))
    with pytest.raises(BadInputError, match="no band"):
        obs.template(obs.template_patches()[0], "z")
