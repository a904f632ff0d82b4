"""Shared fixtures of the simulation tests: one small observatory and cached products."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from promptproc.image import Exposure, RawImage
from promptproc.simulation import SimulatedObservatory, SimulationConfig

SMALL = {"seed": 42, "detector_size": 512, "n_visits": 3, "n_transients": 120, "n_variables": 40}


@pytest.fixture(scope="session")
def config() -> SimulationConfig:
    return SimulationConfig(**SMALL)


@pytest.fixture(scope="session")
def obs(config: SimulationConfig) -> SimulatedObservatory:
    return SimulatedObservatory(config)


@pytest.fixture(scope="session")
def raw_of(obs: SimulatedObservatory) -> Callable[[int, int], RawImage]:
    cache: dict[tuple[int, int], RawImage] = {}

    def get(visit_index: int, detector: int) -> RawImage:
        key = (visit_index, detector)
        if key not in cache:
            cache[key] = obs.raw(obs.visits[visit_index], detector)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def calibrated(obs: SimulatedObservatory, raw_of) -> Callable[[int, int], Exposure]:
    from promptproc.tasks.isr import run_isr

    cache: dict[tuple[int, int], Exposure] = {}

    def get(visit_index: int, detector: int) -> Exposure:
        key = (visit_index, detector)
        if key not in cache:
            visit = obs.visits[visit_index]
            epoch = obs.epoch_for(visit.mjd_begin)
            cache[key] = run_isr(
                raw_of(visit_index, detector),
                obs.master_bias(detector, epoch),
                obs.master_dark(detector, epoch),
                obs.master_flat(detector, visit.physical_filter, epoch),
                obs.defects(detector, epoch),
                instrument=obs.instrument,
            )
        return cache[key]

    return get
