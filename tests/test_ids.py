"""Deterministic DiaSource/DiaObject/alert IDs: layout, ranges, uniqueness, reversibility."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

from promptproc.errors import BadInputError, ConfigurationError
from promptproc.ids import SEQ_NUM_BITS, DiaIdPacker, DiaSourceKey, alert_id, new_dia_object_id
from promptproc.instrument import Instrument, make_simcam


def _visit(day: datetime.date, seq_num: int) -> int:
    return Instrument.exposure_id(int(day.strftime("%Y%m%d")), seq_num)


def _random_keys(packer: DiaIdPacker, n: int, seed: int) -> list[DiaSourceKey]:
    rng = np.random.default_rng(seed)
    days = rng.integers(0, 1 << packer.day_bits, n)
    seqs = rng.integers(0, 100_000, n)
    detectors = rng.integers(0, packer.detector_max, n)
    indices = rng.integers(0, packer.index_max, n)
    return [
        DiaSourceKey(_visit(packer.epoch + datetime.timedelta(days=int(d)), int(s)), int(det), int(i))
        for d, s, det, i in zip(days, seqs, detectors, indices, strict=True)
    ]


@pytest.mark.parametrize("detector_max", [1, 9, 189, 205, 1024])
def test_random_keys_round_trip_and_stay_positive(detector_max: int) -> None:
    packer = DiaIdPacker(detector_max)
    keys = _random_keys(packer, 5_000, seed=detector_max)
    ids = [packer.pack(k.visit, k.detector, k.index) for k in keys]
    assert all(0 < i < 2**63 for i in ids)
    assert [packer.unpack(i) for i in ids] == keys
    assert len(set(ids)) == len(set(keys))


def test_extremes_of_every_field_round_trip() -> None:
    packer = DiaIdPacker(205)
    assert packer.detector_bits == 8
    assert packer.index_bits == 63 - 15 - SEQ_NUM_BITS - 8 == 23
    assert packer.last_day == datetime.date(2109, 9, 18)
    for day in (packer.epoch, packer.last_day):
        for seq in (0, 99_999):
            for detector in (0, 204):
                for index in (0, packer.index_max - 1):
                    key = DiaSourceKey(_visit(day, seq), detector, index)
                    value = packer.pack(key.visit, key.detector, key.index)
                    assert 0 <= value < 2**63
                    assert packer.unpack(value) == key
    assert packer.pack(_visit(packer.last_day, 99_999), 204, packer.index_max - 1) < 2**63


def test_dense_grid_is_unique() -> None:
    """Every combination over a small grid of each field gives a distinct ID."""
    packer = DiaIdPacker(9)
    days = [packer.epoch + datetime.timedelta(days=d) for d in (0, 1, 2, 365, 2519, 32767)]
    visits = [_visit(day, seq) for day in days for seq in (0, 1, 2, 4095, 99_999)]
    ids = np.concatenate(
        [packer.pack_many(visit, det, np.arange(300)) for visit in visits for det in range(9)]
    )
    assert ids.dtype == np.int64
    assert len(np.unique(ids)) == len(ids) == len(visits) * 9 * 300
    assert ids.min() >= 0


def test_pack_many_matches_pack_and_orders_by_time() -> None:
    packer = DiaIdPacker.for_instrument(make_simcam())
    assert packer.detector_max == 9
    visit = 2026112200042
    many = packer.pack_many(visit, 3, np.array([0, 1, 7, 1000]))
    assert many.tolist() == [packer.pack(visit, 3, i) for i in (0, 1, 7, 1000)]
    # Later visits have larger IDs: the day is the most significant field.
    assert (
        packer.pack(2026112200042, 8, 5) < packer.pack(2026112200043, 0, 0) < packer.pack(2026112300000, 0, 0)
    )
    assert packer.unpack(int(many[2])) == DiaSourceKey(visit, 3, 7)


def test_object_and_alert_ids_are_the_source_id() -> None:
    packer = DiaIdPacker(9)
    source_id = packer.pack(2026112200042, 4, 17)
    assert new_dia_object_id(source_id) == source_id
    assert alert_id(source_id) == source_id


@pytest.mark.parametrize(
    ("visit", "detector", "index", "match"),
    [
        (2019123100001, 0, 0, "outside the days"),
        (2109091900001, 0, 0, "outside the days"),
        (2026134000001, 0, 0, "YYYYMMDD"),
        (42, 0, 0, "YYYYMMDD"),
        (2026112200042, 9, 0, "detector 9 is out of range"),
        (2026112200042, -1, 0, "detector -1 is out of range"),
        (2026112200042, 0, -1, "index -1 is out of range"),
        (2026112200042, 0, 1 << 27, "out of range"),
    ],
)
def test_out_of_range_values_are_clear_errors(visit: int, detector: int, index: int, match: str) -> None:
    packer = DiaIdPacker(9)
    with pytest.raises(BadInputError, match=match):
        packer.pack(visit, detector, index)


def test_pack_many_rejects_bad_indices() -> None:
    packer = DiaIdPacker(9)
    with pytest.raises(BadInputError, match="out of range"):
        packer.pack_many(2026112200042, 0, np.array([0, packer.index_max]))
    with pytest.raises(BadInputError, match="integers"):
        packer.pack_many(2026112200042, 0, np.array([0.5]))
    assert packer.pack_many(2026112200042, 0, np.zeros(0, dtype=np.int64)).size == 0


def test_unpack_rejects_foreign_numbers() -> None:
    packer = DiaIdPacker(9)
    with pytest.raises(BadInputError, match="not a DiaSource ID"):
        packer.unpack(-5)
    with pytest.raises(BadInputError, match="not a DiaSource ID"):
        packer.unpack(2**63)
    with pytest.raises(BadInputError, match="not a DiaSource ID"):
        packer.unpack(packer.pack(2026112200042, 8, 0) + (1 << packer.index_bits))  # detector 9


def test_layout_that_leaves_too_few_index_bits_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="index"):
        DiaIdPacker(1 << 20)
    with pytest.raises(ConfigurationError):
        DiaIdPacker(0)
