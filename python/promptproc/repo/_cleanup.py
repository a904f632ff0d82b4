"""Cleaning a worker's local repository after a visit.

Everything a visit added that is not a cached input goes: its raws, its
output runs (and any other collection that is not part of the input
structure), and the inputs that exceed the cache sizes.  Calibrations,
reference-catalog shards and templates within the cache stay for the next
visit, so a worker's repository does not grow with the number of visits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lsst.daf.butler import CollectionType, MissingDatasetTypeError
from lsst.daf.butler.registry import MissingCollectionError

from ._names import RAW

if TYPE_CHECKING:
    from ..visit import FannedOutVisit
    from ._local import LocalRepo

__all__ = ["CleanupResult", "clean_visit"]

_LOG = logging.getLogger(__name__)


@dataclass
class CleanupResult:
    """What `clean_visit` removed.

    Attributes
    ----------
    raws : `int`
        Raws pruned.
    runs : `list` [`str`]
        RUN collections removed with their datasets.
    collections : `list` [`str`]
        Other (CHAINED, TAGGED) collections removed.
    evicted : `dict` [`str`, `int`]
        Cached inputs removed because their type held more than its size.
    seconds : `float`
        Wall time.
    """

    raws: int = 0
    runs: list[str] = field(default_factory=list)
    collections: list[str] = field(default_factory=list)
    evicted: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def clean_visit(
    repo: LocalRepo, visit: FannedOutVisit | None = None, runs: Iterable[str] | None = None
) -> CleanupResult:
    """Remove a visit's raws and outputs from a local repository, keeping the cache.

    Parameters
    ----------
    repo : `LocalRepo`
        The worker's local repository.
    visit : `promptproc.visit.FannedOutVisit`, optional
        The visit, for the log; every raw is removed regardless (a worker
        handles one visit at a time, so any raw left over is stale).
    runs : iterable of `str`, optional
        RUN collections to remove.  By default every collection that is not
        part of the input structure (the mirrored ``{instrument}/defaults``
        chain, the CALIBRATION collection, the raw run and the runs of
        cached inputs) -- so output runs are removed even if the caller
        forgets one.

    Returns
    -------
    result : `CleanupResult`
        What was removed.
    """
    start = time.perf_counter()
    butler = repo.butler
    result = CleanupResult()

    try:
        raws = butler.query_datasets(RAW, collections=repo.raw_run, explain=False, limit=None)
    except (MissingDatasetTypeError, MissingCollectionError):
        raws = []
    if raws:
        butler.pruneDatasets(raws, disassociate=True, unstore=True, purge=True)
        result.raws = len(raws)

    # The runs of cached inputs are kept even if they were never recorded as inputs.
    inputs = repo.input_collections | {ref.run for ref in repo.cache.refs()}
    if runs is not None:
        doomed_runs = [name for name in dict.fromkeys(runs) if name not in inputs]
        others: list[str] = []
        existing = {info.name for info in butler.collections.query_info("*")}
        doomed_runs = [name for name in doomed_runs if name in existing]
    else:
        doomed_runs, others = [], []
        for info in butler.collections.query_info("*"):
            if info.name in inputs:
                continue
            if info.type == CollectionType.RUN:
                doomed_runs.append(info.name)
            elif info.type != CollectionType.CALIBRATION:
                others.append(info.name)
    if doomed_runs:
        butler.removeRuns(doomed_runs, unlink_from_chains=True)
        result.runs = doomed_runs
    # Chains may contain one another: remove parents before children.
    pending = list(others)
    while pending:
        progress = False
        for name in list(pending):
            if butler.collections.get_info(name, include_parents=True).parents:
                continue
            butler.collections.x_remove(name)
            pending.remove(name)
            result.collections.append(name)
            progress = True
        if not progress:
            _LOG.warning("could not remove collections %s (still in a chain)", ", ".join(pending))
            break

    result.evicted = repo.trim_cache()
    result.seconds = time.perf_counter() - start
    _LOG.info(
        "cleaned local repository%s: %d raws, %d runs, %d collections, %d evicted in %.3f s",
        f" after group {visit.groupId} detector {visit.detector}" if visit is not None else "",
        result.raws,
        len(result.runs),
        len(result.collections),
        sum(result.evicted.values()),
        result.seconds,
    )
    return result
