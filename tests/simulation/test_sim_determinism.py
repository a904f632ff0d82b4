"""Every product is a function of the seed and its identity only."""

from __future__ import annotations

import dataclasses

import numpy as np

from promptproc.simulation import SimulatedObservatory, SimulationConfig, derive_rng

TINY = {"seed": 5, "detector_size": 128, "n_visits": 3}


def _raw_arrays(raw) -> list[np.ndarray]:
    return [amp.data for amp in raw.amplifiers]


def test_same_seed_gives_identical_products_in_any_order() -> None:
    first = SimulatedObservatory(SimulationConfig(**TINY))
    second = SimulatedObservatory(SimulationConfig(**TINY))
    # Make products in a different order in the second observatory.
    epoch = second.calibration_epochs[1]
    flat_b = second.master_flat(3, "r", epoch)
    raw_b = second.raw(second.visits[2], 3)
    raw_a = first.raw(first.visits[2], 3)
    flat_a = first.master_flat(3, "r", first.calibration_epochs[1])
    for a, b in zip(_raw_arrays(raw_a), _raw_arrays(raw_b), strict=True):
        np.testing.assert_array_equal(a, b)
    assert raw_a.header == raw_b.header
    np.testing.assert_array_equal(flat_a.image, flat_b.image)
    np.testing.assert_array_equal(first.master_bias(0, epoch).image, second.master_bias(0, epoch).image)
    patch = first.template_patches()[0]
    np.testing.assert_array_equal(first.template(patch, "g").image, second.template(patch, "g").image)
    assert (first.truth(first.visits[0], 4) == second.truth(second.visits[0], 4)).all()
    assert (first.reference_catalog() == second.reference_catalog()).all()


def test_different_seeds_differ() -> None:
    first = SimulatedObservatory(SimulationConfig(**TINY))
    other = SimulatedObservatory(SimulationConfig(**{**TINY, "seed": 6}))
    assert not np.array_equal(
        first.raw(first.visits[0], 4).amplifiers[0].data, other.raw(other.visits[0], 4).amplifiers[0].data
    )
    assert len(first.sky_model.stars) != len(other.sky_model.stars) or not np.array_equal(
        first.sky_model.stars.ra, other.sky_model.stars.ra
    )
    assert first.visits[1].seeing != other.visits[1].seeing


def test_visits_and_sky_do_not_depend_on_the_number_of_visits() -> None:
    short = SimulatedObservatory(SimulationConfig(**TINY))
    long = SimulatedObservatory(SimulationConfig(**{**TINY, "n_visits": 5}))
    assert short.visits == long.visits[:3]
    np.testing.assert_array_equal(short.sky_model.stars.ra, long.sky_model.stars.ra)
    np.testing.assert_array_equal(short.sky_model.galaxies.mag("r"), long.sky_model.galaxies.mag("r"))


def test_a_raw_made_alone_equals_one_made_after_others() -> None:
    busy = SimulatedObservatory(SimulationConfig(**TINY))
    for visit in busy.visits:
        busy.raw(visit, 1)
    busy.master_dark(2, busy.calibration_epochs[0])
    fresh = SimulatedObservatory(SimulationConfig(**TINY))
    for a, b in zip(
        _raw_arrays(busy.raw(busy.visits[1], 2)), _raw_arrays(fresh.raw(fresh.visits[1], 2)), strict=True
    ):
        np.testing.assert_array_equal(a, b)


def test_derived_streams_are_independent_and_repeatable() -> None:
    a = derive_rng(1, "raw", 7, 4).random(4)
    np.testing.assert_array_equal(a, derive_rng(1, "raw", 7, 4).random(4))
    assert not np.array_equal(a, derive_rng(1, "raw", 7, 5).random(4))
    assert not np.array_equal(a, derive_rng(2, "raw", 7, 4).random(4))


def test_config_equality_drives_everything() -> None:
    config = SimulationConfig(**TINY)
    assert dataclasses.replace(config) == config
