"""SimulationConfig: defaults, resolution of derived values, validation."""

from __future__ import annotations

import dataclasses

import pytest

from promptproc.errors import ConfigurationError
from promptproc.simulation import SimulationConfig, default_skymap_config
from promptproc.simulation._site import day_obs_of, night_window


def test_defaults_are_resolved() -> None:
    config = SimulationConfig(detector_size=512)
    assert config.skymap == default_skymap_config(512)
    assert config.skymap.patch_inner == 512
    assert config.skymap.patch_border == 12
    assert config.dither == pytest.approx(0.25 * 512 * 0.2)
    assert config.start_mjd is not None
    assert day_obs_of(config.start_mjd) == config.day_obs
    begin, end = night_window(config.day_obs)
    assert begin <= config.start_mjd <= end
    assert config.filters == ("g", "r", "i")


def test_config_is_frozen_and_lists_become_tuples() -> None:
    config = SimulationConfig(detector_size=256, filters=["r"])  # type: ignore[arg-type]
    assert config.filters == ("r",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"filters": ("z",)}, "unknown filter"),
        ({"filters": ()}, "at least one filter"),
        ({"detector_size": 100}, "multiple of 8"),
        ({"seed": -1}, "seed"),
        ({"n_visits": 0}, "n_visits"),
        ({"seeing": (1.2, 0.6)}, "seeing"),
        ({"dec": 95.0}, "sky position"),
        ({"day_obs": 20261399}, "not a valid"),
        ({"start_mjd": 61300.0}, "falls in day_obs"),
        ({"exposure_time": 0.0}, "exposure_time"),
        ({"n_epochs": 0}, "n_epochs"),
    ],
)
def test_invalid_configurations_are_rejected(options: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        SimulationConfig(detector_size=options.pop("detector_size", 256), **options)


def test_field_that_never_rises_is_rejected() -> None:
    from promptproc.simulation import SimulatedObservatory

    with pytest.raises(ConfigurationError, match="altitude"):
        SimulatedObservatory(SimulationConfig(detector_size=256, dec=80.0, n_visits=1))
