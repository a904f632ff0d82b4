"""A bounded, least-recently-used record of the input datasets kept in a local repository.

The cache itself holds no data: it remembers which datasets a worker's local
repository holds between visits (calibrations, reference-catalog shards,
templates, the sky map) and in which order they were last used, and it
decides which of them to remove when a dataset type holds more than its
share.  The caller removes what the cache gives back (`LocalRepo` prunes
them from the Butler).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lsst.daf.butler import DatasetId, DatasetRef

__all__ = ["CacheCapacity", "DatasetCache"]


@dataclass(frozen=True)
class CacheCapacity:
    """How many datasets of each dataset type the local repository keeps between visits.

    Parameters
    ----------
    default : `int`
        Datasets of any dataset type not named in ``per_type``
        (``LOCAL_REPO_CACHE_SIZE``: calibrations, sky maps).
    per_type : `~collections.abc.Mapping` [`str`, `int`]
        Other sizes by dataset type name, e.g. the reference-catalog shards
        (``LOCAL_REPO_REFCAT_CACHE_SIZE``) and the templates
        (``LOCAL_REPO_TEMPLATE_CACHE_SIZE``).  0 keeps none: they are
        downloaded for every visit.

    Raises
    ------
    ValueError
        If a size is negative.
    """

    default: int
    per_type: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "per_type", dict(self.per_type))
        for name, size in (("default", self.default), *self.per_type.items()):
            if size < 0:
                raise ValueError(f"cache size of {name} must be >= 0, not {size}")

    def of(self, dataset_type: str) -> int:
        """The capacity for one dataset type.

        Parameters
        ----------
        dataset_type : `str`
            Dataset type name.

        Returns
        -------
        size : `int`
            How many datasets of that type may be kept.
        """
        return self.per_type.get(dataset_type, self.default)


class DatasetCache:
    """Which input datasets a local repository holds, least recently used first.

    One ordered set of datasets per dataset type; using a dataset moves it to
    the end.  `evictions` chooses the datasets to remove so that no type holds
    more than its capacity, never choosing a dataset the caller pins (those
    the current visit needs, even if they alone exceed the capacity).

    Parameters
    ----------
    capacity : `CacheCapacity`
        Sizes per dataset type.
    """

    def __init__(self, capacity: CacheCapacity) -> None:
        self.capacity = capacity
        self._entries: dict[str, OrderedDict[DatasetId, DatasetRef]] = {}

    def __contains__(self, ref: object) -> bool:
        if not isinstance(ref, DatasetRef):
            return False
        return ref.id in self._entries.get(ref.datasetType.name, {})

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._entries.values())

    def refs(self, dataset_type: str | None = None) -> list[DatasetRef]:
        """The cached datasets, least recently used first.

        Parameters
        ----------
        dataset_type : `str`, optional
            Only this dataset type; all types (grouped by type) by default.

        Returns
        -------
        refs : `list` [`lsst.daf.butler.DatasetRef`]
            The datasets.
        """
        if dataset_type is not None:
            return list(self._entries.get(dataset_type, {}).values())
        return [ref for entries in self._entries.values() for ref in entries.values()]

    def dataset_types(self) -> list[str]:
        """Names of the dataset types with cached datasets."""
        return [name for name, entries in self._entries.items() if entries]

    def ids(self) -> set[DatasetId]:
        """IDs of every cached dataset."""
        return {dataset_id for entries in self._entries.values() for dataset_id in entries}

    def use(self, refs: Iterable[DatasetRef]) -> None:
        """Record that datasets are in the repository and were just used.

        Parameters
        ----------
        refs : iterable of `lsst.daf.butler.DatasetRef`
            Datasets, added if new; each becomes the most recently used of
            its type, in the given order.

        Raises
        ------
        ValueError
            If a reference is to a component (only whole datasets can be
            removed from a repository).
        """
        for ref in refs:
            if ref.datasetType.isComponent():
                raise ValueError(f"cannot cache the component dataset {ref.datasetType.name}")
            entries = self._entries.setdefault(ref.datasetType.name, OrderedDict())
            entries.pop(ref.id, None)
            entries[ref.id] = ref

    def evictions(self, pinned: Iterable[DatasetId] = ()) -> list[DatasetRef]:
        """Choose the least recently used datasets that exceed the capacity.

        Parameters
        ----------
        pinned : iterable of `lsst.daf.butler.DatasetId`
            Datasets that must stay (needed by the current visit); they count
            towards the capacity but are never chosen.

        Returns
        -------
        refs : `list` [`lsst.daf.butler.DatasetRef`]
            Datasets to remove, oldest first within each type.  They are
            still recorded; call `discard` once they are gone.
        """
        keep = set(pinned)
        chosen: list[DatasetRef] = []
        for name, entries in self._entries.items():
            excess = len(entries) - self.capacity.of(name)
            for dataset_id, ref in entries.items():
                if excess <= 0:
                    break
                if dataset_id not in keep:
                    chosen.append(ref)
                    excess -= 1
        return chosen

    def discard(self, refs: Iterable[DatasetRef]) -> None:
        """Forget datasets (removed from the repository).

        Parameters
        ----------
        refs : iterable of `lsst.daf.butler.DatasetRef`
            Datasets; unknown ones are ignored.
        """
        for ref in refs:
            entries = self._entries.get(ref.datasetType.name)
            if entries is not None:
                entries.pop(ref.id, None)
