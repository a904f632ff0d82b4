"""Finding what a detector-visit needs: reference-catalog shards and calibrations."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from astropy.time import Time
from lsst.daf.butler import Butler, DatasetRef, Timespan
from lsst.sphgeom import HtmPixelization, Region

from ._names import HTM_LEVEL, REFCAT, REFCATS_CHAIN, calib_collection

__all__ = ["find_calibration", "htm7_shards_for_region", "refcat_shards"]


def htm7_shards_for_region(region: Region) -> list[int]:
    """HTM level-7 trixels that may hold points of a region.

    Parameters
    ----------
    region : `lsst.sphgeom.Region`
        E.g. a detector footprint from `promptproc.instrument.predict_footprint`.

    Returns
    -------
    trixels : `list` [`int`]
        Sorted trixel indices whose union covers the region (an envelope: a
        trixel at the edge may only touch it).
    """
    ranges = HtmPixelization(HTM_LEVEL).envelope(region)
    return [index for begin, end in ranges for index in range(begin, end)]


def refcat_shards(
    butler: Butler,
    region: Region,
    collections: str | Iterable[str] = REFCATS_CHAIN,
    dataset_type: str = REFCAT,
) -> list[DatasetRef]:
    """Reference-catalog shards that cover a region.

    Parameters
    ----------
    butler : `lsst.daf.butler.Butler`
        The repository.
    region : `lsst.sphgeom.Region`
        Sky region, e.g. a padded detector footprint.
    collections : `str` or iterable of `str`, optional
        Where to look; the ``refcats`` chain by default.
    dataset_type : `str`, optional
        Shard dataset type (dimensions ``htm7``).

    Returns
    -------
    refs : `list` [`lsst.daf.butler.DatasetRef`]
        Shards that exist, sorted by trixel; shards of the region that hold
        no stars were never written and are absent.
    """
    trixels = htm7_shards_for_region(region)
    if not trixels:
        return []
    refs = butler.query_datasets(
        dataset_type,
        collections=collections,
        where=f"htm{HTM_LEVEL} IN (trixels)",
        bind={"trixels": trixels},
        explain=False,
        limit=None,
    )
    return sorted(refs, key=lambda ref: ref.dataId[f"htm{HTM_LEVEL}"])


def find_calibration(
    butler: Butler,
    name: str,
    data_id: Mapping[str, Any],
    time: Time,
    collections: str | Iterable[str] | None = None,
) -> DatasetRef | None:
    """The calibration valid at a time.

    Parameters
    ----------
    butler : `lsst.daf.butler.Butler`
        The repository.
    name : `str`
        Calibration dataset type, e.g. ``bias``.
    data_id : `~collections.abc.Mapping`
        ``instrument``, ``detector`` (and ``physical_filter`` for flats).
    time : `astropy.time.Time`
        When it should be valid, e.g. the start of the exposure.
    collections : `str` or iterable of `str`, optional
        Where to look; ``{instrument}/calib`` by default.

    Returns
    -------
    ref : `lsst.daf.butler.DatasetRef` or `None`
        The dataset, or `None` if no calibration of that type and data ID is
        valid at ``time``.
    """
    if collections is None:
        collections = calib_collection(str(data_id["instrument"]))
    return butler.find_dataset(name, data_id, collections=collections, timespan=Timespan.fromInstant(time))
