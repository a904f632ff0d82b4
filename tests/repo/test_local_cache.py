"""The bounded LRU record of cached inputs (no repository needed)."""

from __future__ import annotations

import pytest
from lsst.daf.butler import DataCoordinate, DatasetRef, DatasetType, DimensionUniverse

from promptproc.repo import CacheCapacity, DatasetCache

UNIVERSE = DimensionUniverse()


def refs(name: str, count: int, run: str = "r") -> list[DatasetRef]:
    dataset_type = DatasetType(name, (), "ArrowAstropy", universe=UNIVERSE)
    empty = DataCoordinate.make_empty(UNIVERSE)
    return [DatasetRef(dataset_type, empty, run=f"{run}{i}") for i in range(count)]


def test_capacity_per_type() -> None:
    capacity = CacheCapacity(3, {"sim_refcat": 0, "template_coadd": 16})
    assert capacity.of("bias") == 3
    assert capacity.of("sim_refcat") == 0
    assert capacity.of("template_coadd") == 16
    with pytest.raises(ValueError, match="must be >= 0"):
        CacheCapacity(-1)


def test_least_recently_used_are_evicted_first() -> None:
    cache = DatasetCache(CacheCapacity(2))
    a, b, c = refs("bias", 3)
    cache.use([a, b])
    cache.use([a])  # b is now the least recently used
    cache.use([c])
    assert cache.refs("bias") == [b, a, c]
    assert cache.evictions() == [b]
    cache.discard([b])
    assert b not in cache
    assert a in cache
    assert c in cache
    assert cache.evictions() == []


def test_pinned_datasets_are_never_evicted() -> None:
    cache = DatasetCache(CacheCapacity(1))
    old, new1, new2 = refs("flat", 3)
    cache.use([old, new1, new2])
    # The visit needs two flats: both stay although the capacity is 1; the old one goes.
    assert cache.evictions(pinned={new1.id, new2.id}) == [old]
    cache.discard([old])
    assert cache.evictions(pinned={new1.id, new2.id}) == []
    # Once the visit is over, the least recently used goes.
    assert cache.evictions() == [new1]


def test_types_are_independent_and_zero_keeps_nothing() -> None:
    cache = DatasetCache(CacheCapacity(1, {"sim_refcat": 0}))
    shards = refs("sim_refcat", 2)
    bias = refs("bias", 1)
    cache.use(shards + bias)
    assert len(cache) == 3
    assert set(cache.dataset_types()) == {"sim_refcat", "bias"}
    assert cache.evictions(pinned=cache.ids()) == []
    assert cache.evictions() == shards
    assert cache.ids() == {ref.id for ref in shards + bias}


def test_components_are_rejected() -> None:
    parent = DatasetType("calexp", (), "ArrowAstropy", universe=UNIVERSE)
    empty = DataCoordinate.make_empty(UNIVERSE)
    ref = DatasetRef(parent, empty, run="r").makeComponentRef("columns")
    with pytest.raises(ValueError, match="component"):
        DatasetCache(CacheCapacity(1)).use([ref])
