"""Putting calibrations, templates, reference catalogs and sky maps into a repository.

Every dataset gets a deterministic ID (from its dataset type, data ID and
RUN), so putting the same thing twice is recognised and skipped instead of
duplicated.  Calibrations are put in a RUN per epoch and certified into the
instrument's CALIBRATION collection with the epoch's validity.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from astropy.table import Table
from astropy.time import Time
from lsst.daf.butler import (
    Butler,
    CollectionType,
    DataCoordinate,
    DatasetIdGenEnum,
    DatasetRef,
    DatasetType,
    Timespan,
)
from lsst.daf.butler.registry import ConflictingDefinitionError
from lsst.sphgeom import HtmPixelization, LonLat, UnitVector3d

from ..errors import BadInputError, ConfigurationError
from ..image import Exposure
from ..instrument import Instrument
from ..skymap import SkyMap
from ._names import (
    CAMERA,
    DATASET_TYPES,
    HTM_LEVEL,
    REFCAT,
    REFCAT_RUN,
    REFCATS_CHAIN,
    SKYMAP,
    SKYMAPS_RUN,
    TEMPLATE,
    TEMPLATES_RUN,
    UNBOUNDED_EPOCH,
    calib_collection,
    calib_run,
    dataset_type,
    defaults_collection,
    raw_run,
)

__all__ = [
    "UNBOUNDED",
    "CalibrationEpochLike",
    "certify_calibrations",
    "deterministic_ref",
    "ensure_collection",
    "ingest_calibration",
    "ingest_camera",
    "ingest_refcat",
    "ingest_skymap",
    "ingest_template",
    "put_dataset",
    "register_dataset_types",
    "setup_collections",
    "shard_by_htm",
]

_LOG = logging.getLogger(__name__)


class CalibrationEpochLike(Protocol):
    """A calibration epoch: a name and the validity of its calibrations.

    ``begin`` may be `None` for validity from the beginning of time and
    ``end`` `None` for validity until further notice.
    """

    name: str
    begin: Time | None
    end: Time | None


def register_dataset_types(butler: Butler, names: Iterable[str] | None = None) -> dict[str, DatasetType]:
    """Register promptproc's dataset types (all of `DATASET_TYPES` by default).

    Parameters
    ----------
    butler : `lsst.daf.butler.Butler`
        A writeable Butler.
    names : iterable of `str`, optional
        Which dataset types.

    Returns
    -------
    types : `dict` [`str`, `lsst.daf.butler.DatasetType`]
        The registered dataset types by name.

    Raises
    ------
    promptproc.errors.ConfigurationError
        If a dataset type of the same name exists with another definition.
    """
    result = {}
    for name in DATASET_TYPES if names is None else names:
        dt = dataset_type(name, butler.dimensions)
        try:
            butler.registry.registerDatasetType(dt)
        except ConflictingDefinitionError as err:
            raise ConfigurationError(
                f"dataset type {name} exists with another definition: {str(err).splitlines()[0]}"
            ) from None
        result[name] = dt
    return result


def ensure_collection(butler: Butler, name: str, kind: CollectionType) -> bool:
    """Register a collection, or check that the existing one has the right type.

    Parameters
    ----------
    butler : `lsst.daf.butler.Butler`
        A writeable Butler.
    name : `str`
        Collection name.
    kind : `lsst.daf.butler.CollectionType`
        Its type.

    Returns
    -------
    created : `bool`
        `True` if the collection is new.

    Raises
    ------
    promptproc.errors.ConfigurationError
        If a collection of that name exists with another type (the Butler
        itself would silently keep it).
    """
    created = butler.collections.register(name, kind)
    if not created:
        found = butler.collections.get_info(name).type
        if found != kind:
            raise ConfigurationError(f"collection {name} is a {found.name} collection, not {kind.name}")
    return created


def _ensure_chain(butler: Butler, name: str, children: Sequence[str]) -> None:
    """Create a chain, or append the children it lacks (never reorder or drop others)."""
    ensure_collection(butler, name, CollectionType.CHAINED)
    present = butler.collections.get_info(name).children
    missing = [child for child in children if child not in present]
    if missing:
        butler.collections.extend_chain(name, missing)


def setup_collections(butler: Butler, instrument: str) -> dict[str, str]:
    """Create the collections a central repository is bootstrapped with.

    ``{instrument}/raw/all``, ``templates/deep``, ``refcats/sim`` and
    ``skymaps`` (RUN), ``{instrument}/calib`` (CALIBRATION), ``refcats``
    (CHAINED: ``refcats/sim``) and ``{instrument}/defaults`` (CHAINED: raw/all,
    calib, templates/deep, refcats, skymaps).  Existing collections are kept;
    a chain only gains the children it lacks.

    Parameters
    ----------
    butler : `lsst.daf.butler.Butler`
        A writeable Butler.
    instrument : `str`
        Instrument name.

    Returns
    -------
    collections : `dict` [`str`, `str`]
        Collection type by collection name.

    Raises
    ------
    promptproc.errors.ConfigurationError
        If a collection of one of these names exists with another type.
    """
    runs = [raw_run(instrument), TEMPLATES_RUN, REFCAT_RUN, SKYMAPS_RUN]
    calib = calib_collection(instrument)
    defaults = defaults_collection(instrument)
    try:
        for run in runs:
            ensure_collection(butler, run, CollectionType.RUN)
        ensure_collection(butler, calib, CollectionType.CALIBRATION)
        _ensure_chain(butler, REFCATS_CHAIN, [REFCAT_RUN])
        _ensure_chain(
            butler, defaults, [raw_run(instrument), calib, TEMPLATES_RUN, REFCATS_CHAIN, SKYMAPS_RUN]
        )
    except (ConflictingDefinitionError, ConfigurationError) as err:
        raise ConfigurationError(f"cannot set up collections: {str(err).splitlines()[0]}") from None
    kinds = dict.fromkeys(runs, "RUN") | {calib: "CALIBRATION", REFCATS_CHAIN: "CHAINED", defaults: "CHAINED"}
    return kinds


def deterministic_ref(butler: Butler, name: str, data_id: Mapping[str, Any], run: str) -> DatasetRef:
    """The reference a dataset gets in ``run``, with an ID fixed by type, data ID and run.

    Parameters
    ----------
    butler : `lsst.daf.butler.Butler`
        The repository (for its dataset types and dimensions).
    name : `str`
        Registered dataset type name.
    data_id : `~collections.abc.Mapping`
        Values of the dataset type's required dimensions (implied ones are
        filled in from the registry).
    run : `str`
        RUN collection.

    Returns
    -------
    ref : `lsst.daf.butler.DatasetRef`
        The resolved reference, with an expanded data ID (as file templates
        need).
    """
    dt = butler.get_dataset_type(name)
    coordinate = butler.registry.expandDataId(DataCoordinate.standardize(data_id, dimensions=dt.dimensions))
    return DatasetRef(dt, coordinate, run=run, id_generation_mode=DatasetIdGenEnum.DATAID_TYPE_RUN)


def put_dataset(
    butler: Butler, obj: Any, name: str, data_id: Mapping[str, Any], run: str
) -> tuple[DatasetRef, bool]:
    """Put a dataset unless it is already in the run.

    Parameters
    ----------
    butler : `lsst.daf.butler.Butler`
        A writeable Butler.
    obj : `object`
        The in-memory dataset.
    name : `str`
        Dataset type name.
    data_id : `~collections.abc.Mapping`
        Its data ID.
    run : `str`
        RUN collection (created if needed).

    Returns
    -------
    ref : `lsst.daf.butler.DatasetRef`
        The stored dataset.
    written : `bool`
        `False` if the dataset was already there and nothing was written.
    """
    ref = deterministic_ref(butler, name, data_id, run)
    if butler.registry.getDataset(ref.id) is not None:
        return ref, False
    ensure_collection(butler, run, CollectionType.RUN)
    return butler.put(obj, ref), True


def certify_calibrations(
    butler: Butler, instrument: str, refs: Sequence[DatasetRef], epoch: CalibrationEpochLike
) -> int:
    """Certify calibrations into ``{instrument}/calib`` for an epoch, skipping certified ones.

    Parameters
    ----------
    butler : `lsst.daf.butler.Butler`
        A writeable Butler.
    instrument : `str`
        Instrument name.
    refs : `~collections.abc.Sequence` [`lsst.daf.butler.DatasetRef`]
        Calibration datasets (of calibration dataset types).
    epoch : `CalibrationEpochLike`
        Gives the validity range.

    Returns
    -------
    certified : `int`
        Number of datasets newly certified.

    Raises
    ------
    promptproc.errors.ConfigurationError
        If another dataset with the same data ID is already valid for part
        of the epoch.
    """
    if not refs:
        return 0
    collection = calib_collection(instrument)
    ensure_collection(butler, collection, CollectionType.CALIBRATION)
    timespan = Timespan(epoch.begin, epoch.end)
    todo: list[DatasetRef] = []
    for type_name in sorted({ref.datasetType.name for ref in refs}):
        certified = {
            assoc.ref.id
            for assoc in butler.registry.queryDatasetAssociations(type_name, collections=[collection])
        }
        todo.extend(ref for ref in refs if ref.datasetType.name == type_name and ref.id not in certified)
    if todo:
        try:
            butler.registry.certify(collection, todo, timespan)
        except ConflictingDefinitionError as err:
            raise ConfigurationError(
                f"cannot certify {len(todo)} calibrations for epoch {epoch.name}: {str(err).splitlines()[0]}"
            ) from None
    return len(todo)


def ingest_calibration(
    butler: Butler,
    name: str,
    obj: Any,
    data_id: Mapping[str, Any],
    epoch: CalibrationEpochLike,
) -> DatasetRef:
    """Put a master calibration into ``{instrument}/calib/{epoch}`` and certify it.

    Parameters
    ----------
    butler : `lsst.daf.butler.Butler`
        A writeable Butler.
    name : `str`
        ``bias``, ``dark``, ``flat``, ``defects`` (or ``camera``).
    obj : `object`
        The calibration (an `~promptproc.image.Exposure`, or an
        `astropy.table.Table` for defects).
    data_id : `~collections.abc.Mapping`
        ``instrument``, ``detector`` (and ``physical_filter`` for flats).
    epoch : `CalibrationEpochLike`
        Name and validity of the calibration epoch.

    Returns
    -------
    ref : `lsst.daf.butler.DatasetRef`
        The certified dataset (new or already there).
    """
    instrument = str(data_id["instrument"])
    ref, _ = put_dataset(butler, obj, name, data_id, calib_run(instrument, epoch.name))
    certify_calibrations(butler, instrument, [ref], epoch)
    return ref


@dataclass(frozen=True)
class _Epoch:
    name: str
    begin: Time | None
    end: Time | None


UNBOUNDED: CalibrationEpochLike = _Epoch(UNBOUNDED_EPOCH, None, None)
"""The epoch of calibrations valid at all times (the ``camera``)."""


def ingest_camera(butler: Butler, instrument: Instrument) -> DatasetRef:
    """Put the ``camera`` (the instrument as JSON), valid at all times.

    Parameters
    ----------
    butler : `lsst.daf.butler.Butler`
        A writeable Butler with the instrument registered.
    instrument : `promptproc.instrument.Instrument`
        The instrument.

    Returns
    -------
    ref : `lsst.daf.butler.DatasetRef`
        The ``camera`` dataset, in ``{instrument}/calib/unbounded`` and
        certified in ``{instrument}/calib`` with an unbounded validity.
    """
    return ingest_calibration(butler, CAMERA, instrument, {"instrument": instrument.name}, UNBOUNDED)


def ingest_template(
    butler: Butler,
    exposure: Exposure,
    skymap: str,
    tract: int,
    patch: int,
    band: str,
    run: str = TEMPLATES_RUN,
) -> tuple[DatasetRef, bool]:
    """Put a template coadd (``template_coadd``) of one patch and band.

    Parameters
    ----------
    butler : `lsst.daf.butler.Butler`
        A writeable Butler with the sky map's tract and patch registered.
    exposure : `promptproc.image.Exposure`
        The coadd.
    skymap : `str`
        Sky map name.
    tract, patch : `int`
        Tract and sequential patch ID.
    band : `str`
        Band.
    run : `str`, optional
        RUN collection.

    Returns
    -------
    ref : `lsst.daf.butler.DatasetRef`
        The dataset.
    written : `bool`
        `False` if it was already there.
    """
    data_id = {"skymap": skymap, "tract": tract, "patch": patch, "band": band}
    return put_dataset(butler, exposure, TEMPLATE, data_id, run)


def ingest_skymap(butler: Butler, skymap: SkyMap) -> DatasetRef:
    """Put the ``skyMap`` dataset in the ``skymaps`` RUN.

    Parameters
    ----------
    butler : `lsst.daf.butler.Butler`
        A writeable Butler with the sky map registered.
    skymap : `promptproc.skymap.SkyMap`
        The sky map.

    Returns
    -------
    ref : `lsst.daf.butler.DatasetRef`
        The dataset (new or already there).
    """
    ref, _ = put_dataset(butler, skymap, SKYMAP, {"skymap": skymap.name}, SKYMAPS_RUN)
    return ref


def shard_by_htm(table: Table, level: int = HTM_LEVEL) -> dict[int, Table]:
    """Split a catalog into HTM trixels.

    Parameters
    ----------
    table : `astropy.table.Table`
        Catalog with ``coord_ra`` and ``coord_dec`` in degrees.
    level : `int`, optional
        HTM level.

    Returns
    -------
    shards : `dict` [`int`, `astropy.table.Table`]
        Rows of each trixel that holds any, by trixel index, in input order.

    Raises
    ------
    promptproc.errors.BadInputError
        If the coordinate columns are missing or not finite.
    """
    for column in ("coord_ra", "coord_dec"):
        if column not in table.colnames:
            raise BadInputError(f"reference catalog lacks column {column}")
    ra = np.asarray(table["coord_ra"], dtype=float)
    dec = np.asarray(table["coord_dec"], dtype=float)
    if not (np.all(np.isfinite(ra)) and np.all(np.isfinite(dec))):
        raise BadInputError("reference catalog has non-finite coordinates")
    pixelization = HtmPixelization(level)
    index = np.fromiter(
        (pixelization.index(UnitVector3d(LonLat.fromDegrees(r, d))) for r, d in zip(ra, dec, strict=True)),
        dtype=np.int64,
        count=len(ra),
    )
    order = np.argsort(index, kind="stable")
    cuts = np.flatnonzero(np.diff(index[order])) + 1
    return {int(index[rows[0]]): table[rows] for rows in np.split(order, cuts) if len(rows)}


def ingest_refcat(butler: Butler, table: Table, run: str = REFCAT_RUN) -> tuple[list[DatasetRef], int]:
    """Put a reference catalog as ``sim_refcat`` shards, one per HTM level-7 trixel.

    Parameters
    ----------
    butler : `lsst.daf.butler.Butler`
        A writeable Butler.
    table : `astropy.table.Table`
        The catalog (``coord_ra``, ``coord_dec`` in degrees, fluxes in nJy).
    run : `str`, optional
        RUN collection.

    Returns
    -------
    refs : `list` [`lsst.daf.butler.DatasetRef`]
        One per shard, new or already there.
    written : `int`
        Number of shards written now.
    """
    refs = []
    written = 0
    for trixel, shard in sorted(shard_by_htm(table).items()):
        ref, new = put_dataset(butler, shard, REFCAT, {f"htm{HTM_LEVEL}": trixel}, run)
        refs.append(ref)
        written += int(new)
    return refs, written
