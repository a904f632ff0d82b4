"""Preloading a visit's inputs from the central repository into a worker's local repository.

For one detector-visit, `preload` finds in the central repository

- the ``camera`` and the calibrations (``bias``, ``dark``, ``flat``,
  ``defects``) valid at the visit's start for its detector and physical
  filter, with their validity ranges;
- the ``skyMap``, and the template patches (``template_coadd`` of the
  visit's band) that overlap the predicted detector footprint padded by
  ``PRELOAD_PADDING``, found with the sky map's geometry;
- the reference-catalog shards (HTM level 7) that overlap the same region;

transfers those not already in the local repository, re-certifies the new
calibrations into the local CALIBRATION collection with their central
validity (``transfer_from`` carries no certification), and updates the
bounded cache, evicting the least recently used datasets the visit does not
need.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy.time import Time
from lsst.daf.butler import DatasetRef, MissingDatasetTypeError, Timespan
from lsst.daf.butler.registry import ConflictingDefinitionError, MissingCollectionError
from lsst.sphgeom import ConvexPolygon, LonLat

from ..errors import BadInputError, ConfigurationError
from ._lookup import refcat_shards
from ._names import CAMERA

if TYPE_CHECKING:
    from ..instrument import Instrument
    from ..visit import FannedOutVisit
    from ._local import LocalRepo

__all__ = ["MissingCalibrationError", "PreloadResult", "preload"]

_LOG = logging.getLogger(__name__)


class MissingCalibrationError(ConfigurationError):
    """A calibration the visit needs is not valid (or not stored) in the central repository.

    Parameters
    ----------
    message : `str`
        The explanation, naming what is missing.
    missing : `list` [`str`]
        The missing calibrations, e.g. ``["flat (detector 4, physical_filter g)"]``.
    """

    def __init__(self, message: str, missing: list[str]) -> None:
        super().__init__(message)
        self.missing = missing


@dataclass
class PreloadResult:
    """What `preload` found, transferred, reused and evicted for a detector-visit.

    Attributes
    ----------
    instrument : `str`
        Instrument name.
    group : `str`
        The visit's group ID.
    detector : `int`
        Detector.
    time : `astropy.time.Time`
        Start of the visit; calibrations are valid then.
    physical_filter, band : `str`
        Filter of the visit and its band.
    region : `lsst.sphgeom.ConvexPolygon` or `None`
        Predicted detector footprint padded by ``PRELOAD_PADDING``; `None`
        if the visit's position is not on the sky (then no reference
        catalog or template is loaded).
    calibs : `dict` [`str`, `lsst.daf.butler.DatasetRef`]
        Calibrations (and the camera) by dataset type.
    validity : `dict` [`str`, `lsst.daf.butler.Timespan`]
        Their validity ranges, by dataset type.
    skymap : `lsst.daf.butler.DatasetRef` or `None`
        The sky map.
    refcat_shards : `list` [`lsst.daf.butler.DatasetRef`]
        Reference-catalog shards overlapping the region.
    templates : `list` [`lsst.daf.butler.DatasetRef`]
        Templates of the patches overlapping the region.
    template_patches : `list` [`tuple` [`int`, `int`]]
        ``(tract, patch)`` of every patch overlapping the region.
    missing_template_patches : `list` [`tuple` [`int`, `int`]]
        Those without a template in the visit's band.
    transferred, reused, evicted : `dict` [`str`, `int`]
        Datasets copied from the central repository, found already local, and
        removed from the cache, by dataset type.
    seconds : `dict` [`str`, `float`]
        Wall time of each step (``search``, ``transfer``, ``certify``,
        ``evict``) and ``total``.
    """

    instrument: str
    group: str
    detector: int
    time: Time
    physical_filter: str
    band: str
    region: ConvexPolygon | None = None
    calibs: dict[str, DatasetRef] = field(default_factory=dict)
    validity: dict[str, Timespan] = field(default_factory=dict)
    skymap: DatasetRef | None = None
    refcat_shards: list[DatasetRef] = field(default_factory=list)
    templates: list[DatasetRef] = field(default_factory=list)
    template_patches: list[tuple[int, int]] = field(default_factory=list)
    missing_template_patches: list[tuple[int, int]] = field(default_factory=list)
    transferred: dict[str, int] = field(default_factory=dict)
    reused: dict[str, int] = field(default_factory=dict)
    evicted: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def has_templates(self) -> bool:
        """Whether any template covers the footprint; if not, run the single-frame pipeline."""
        return bool(self.templates)

    @property
    def templates_complete(self) -> bool:
        """Whether every patch overlapping the footprint has a template."""
        return bool(self.template_patches) and not self.missing_template_patches

    @property
    def n_transferred(self) -> int:
        """Datasets copied from the central repository."""
        return sum(self.transferred.values())

    @property
    def n_reused(self) -> int:
        """Datasets that were already local."""
        return sum(self.reused.values())

    @property
    def n_evicted(self) -> int:
        """Datasets removed from the cache."""
        return sum(self.evicted.values())

    @property
    def refs(self) -> list[DatasetRef]:
        """Every dataset the visit needs."""
        extra = [self.skymap] if self.skymap is not None else []
        return [*self.calibs.values(), *extra, *self.refcat_shards, *self.templates]

    def summary(self) -> str:
        """One line for the log."""
        templates = (
            f"{len(self.templates)}/{len(self.template_patches)} template patches"
            if self.template_patches
            else "no template patches"
        )
        return (
            f"preload {self.instrument} group {self.group} detector {self.detector}: "
            f"{len(self.calibs)} calibs, {len(self.refcat_shards)} refcat shards, {templates}; "
            f"transferred {self.n_transferred}, reused {self.n_reused}, evicted {self.n_evicted} "
            f"in {self.seconds.get('total', 0.0):.3f} s"
        )


def _add(counts: dict[str, int], refs: Iterable[DatasetRef]) -> None:
    for ref in refs:
        counts[ref.datasetType.name] = counts.get(ref.datasetType.name, 0) + 1


def _calib_data_id(name: str, dimensions: Iterable[str], visit: FannedOutVisit) -> dict:
    values: dict[str, Any] = {"instrument": visit.instrument, "detector": visit.detector}
    if visit.filters:
        values["physical_filter"] = visit.filters
    data_id = {}
    for dimension in dimensions:
        if dimension not in values:
            if dimension == "physical_filter":
                raise MissingCalibrationError(
                    f"calibration {name} needs a physical filter, but visit {visit.groupId} has none",
                    [name],
                )
            raise ConfigurationError(
                f"calibration {name} has dimension {dimension}, which a visit cannot give"
            )
        data_id[dimension] = values[dimension]
    return data_id


def _describe(name: str, data_id: Mapping[str, Any]) -> str:
    keys = ", ".join(f"{k} {v}" for k, v in data_id.items() if k != "instrument")
    return f"{name} ({keys})" if keys else name


def _find_calibrations(
    repo: LocalRepo, names: Iterable[str], visit: FannedOutVisit, when: Time
) -> tuple[dict[str, DatasetRef], dict[str, Timespan]]:
    """Find calibrations valid at ``when``, with their central validity ranges."""
    central = repo.central
    try:
        order = central.collections.query(repo.calib_collection, flatten_chains=True)
    except MissingCollectionError:
        order = []
    if not order:
        raise MissingCalibrationError(
            f"the central repo has no calibration collection {repo.calib_collection}", [repo.calib_collection]
        )
    rank = {name: index for index, name in enumerate(order)}
    refs: dict[str, DatasetRef] = {}
    spans: dict[str, Timespan] = {}
    missing: list[str] = []
    for name in names:
        try:
            dataset_type = central.get_dataset_type(name)
        except MissingDatasetTypeError:
            missing.append(f"{name} (no such dataset type)")
            continue
        try:
            data_id = _calib_data_id(name, dataset_type.dimensions.required, visit)
        except MissingCalibrationError as err:
            missing.extend(err.missing)
            continue
        with central.query() as query:
            query = query.join_dataset_search(name, collections=order)
            query = query.where(query.expression_factory[name].timespan.overlaps(when), data_id)
            results = query.general(
                dataset_type.dimensions,
                dataset_fields={name: {"dataset_id", "run", "collection", "timespan"}},
                find_first=False,
            )
            rows = list(results.iter_tuples(dataset_type))
        if not rows:
            missing.append(_describe(name, data_id))
            continue
        # The first collection of the (flattened) calibration chain wins, as in a find-first search.
        best = min(rows, key=lambda row: rank.get(row.raw_row[f"{name}.collection"], len(rank)))
        refs[name] = best.refs[0]
        spans[name] = best.raw_row[f"{name}.timespan"]
    if missing:
        raise MissingCalibrationError(
            f"no calibration valid at {when.tai.isot} TAI in {repo.calib_collection} for "
            f"{visit.instrument} detector {visit.detector}: missing {', '.join(missing)}",
            missing,
        )
    return refs, spans


def _vertices(region: ConvexPolygon) -> np.ndarray:
    points = [LonLat(vertex) for vertex in region.getVertices()]
    return np.array([[p.getLon().asDegrees(), p.getLat().asDegrees()] for p in points])


def _find_skymap(repo: LocalRepo) -> DatasetRef | None:
    options = repo.options
    where, bind = ("skymap = name", {"name": options.skymap}) if options.skymap else ("", None)
    try:
        refs = repo.central.query_datasets(
            options.skymap_type,
            collections=options.skymap_collections,
            where=where,
            bind=bind,
            explain=False,
            limit=None,
        )
    except (MissingDatasetTypeError, MissingCollectionError):
        refs = []
    if len(refs) > 1:
        names = sorted(str(ref.dataId["skymap"]) for ref in refs)
        raise ConfigurationError(f"the central repo has several sky maps ({', '.join(names)}); name one")
    return refs[0] if refs else None


def _find_templates(
    repo: LocalRepo, skymap_ref: DatasetRef, region: ConvexPolygon, band: str
) -> tuple[list[DatasetRef], list[tuple[int, int]]]:
    """Templates of the patches overlapping the region, and every such patch."""
    skymap = repo.read_input(skymap_ref)
    skymap_name = str(skymap_ref.dataId["skymap"])
    patches = sorted((p.tract, p.id) for p in skymap.patches_overlapping(_vertices(region)))
    by_tract: dict[int, list[int]] = {}
    for tract, patch in patches:
        by_tract.setdefault(tract, []).append(patch)
    found: list[DatasetRef] = []
    for tract, ids in sorted(by_tract.items()):
        try:
            found.extend(
                repo.central.query_datasets(
                    repo.options.template_type,
                    collections=repo.options.template_collections,
                    where="skymap = skymap_name AND tract = tract_id AND band = band_name AND patch IN (ids)",
                    bind={"skymap_name": skymap_name, "tract_id": tract, "band_name": band, "ids": ids},
                    explain=False,
                    limit=None,
                )
            )
        except (MissingDatasetTypeError, MissingCollectionError):
            break
    found.sort(key=lambda ref: (ref.dataId["tract"], ref.dataId["patch"]))
    return found, patches


def _find_refcats(repo: LocalRepo, region: ConvexPolygon) -> list[DatasetRef]:
    try:
        return refcat_shards(
            repo.central,
            region,
            collections=repo.options.refcat_collections,
            dataset_type=repo.options.refcat_type,
        )
    except (MissingDatasetTypeError, MissingCollectionError):
        return []


def _certify(repo: LocalRepo, calibs: Mapping[str, DatasetRef], spans: Mapping[str, Timespan]) -> int:
    """Certify calibrations locally with their central validity, unless already so certified.

    A local certification is always a dataset's whole central validity range.
    A dataset certified here over a range that overlaps the new one (the
    same dataset with an outdated range, or another dataset of the same
    data ID) is decertified entirely first; it stays cached, and is
    certified again if a later visit needs it.  Certifications the worker
    does not know of (left by an interrupted preload) are cleared over the
    new range.
    """
    registry = repo.butler.registry
    todo = [(ref, spans[name]) for name, ref in calibs.items() if repo.certified.get(ref.id) != spans[name]]
    if not todo:
        return 0
    certified = dict(repo.certified)
    with registry.transaction():
        for ref, span in todo:
            for other in repo.cache.refs(ref.datasetType.name):
                other_span = certified.get(other.id)
                if other_span is None or other.dataId != ref.dataId:
                    continue
                if other.id == ref.id or other_span.overlaps(span):
                    registry.decertify(
                        repo.calib_collection, ref.datasetType, other_span, dataIds=[ref.dataId]
                    )
                    del certified[other.id]
            try:
                with registry.transaction(savepoint=True):
                    registry.certify(repo.calib_collection, [ref], span)
            except ConflictingDefinitionError:
                registry.decertify(repo.calib_collection, ref.datasetType, span, dataIds=[ref.dataId])
                registry.certify(repo.calib_collection, [ref], span)
            certified[ref.id] = span
    repo.certified = certified
    return len(todo)


def preload(repo: LocalRepo, visit: FannedOutVisit) -> PreloadResult:
    """Bring everything a detector-visit needs into the local repository.

    Parameters
    ----------
    repo : `LocalRepo`
        The worker's local repository.
    visit : `promptproc.visit.FannedOutVisit`
        The visit.

    Returns
    -------
    result : `PreloadResult`
        What the visit uses, what was transferred, reused and evicted, and
        seconds per step.  Missing templates are reported, not raised.

    Raises
    ------
    MissingCalibrationError
        If the camera or a calibration is not valid at the visit's start
        (the message names every missing one); nothing is transferred.
    promptproc.errors.BadInputError
        If the visit is for another instrument or an unknown detector or
        physical filter.
    promptproc.errors.ConfigurationError
        If the sky map is ambiguous.
    """
    from ..visit import UnsupportedCoordinatesError

    start = time.perf_counter()
    if visit.instrument != repo.instrument:
        raise BadInputError(f"visit is for {visit.instrument}, this repository for {repo.instrument}")
    when = Time(visit.startTime, format="unix_tai")
    seconds: dict[str, float] = {}

    calibs, spans = _find_calibrations(repo, [CAMERA], visit, when)
    camera: Instrument = repo.read_input(calibs[CAMERA])
    camera.detector(visit.detector)  # BadInputError for an unknown detector or filter
    band = camera.filter(visit.filters).band if visit.filters else ""
    others = [name for name in repo.options.calibration_types if name != CAMERA]
    found, found_spans = _find_calibrations(repo, others, visit, when)
    calibs.update(found)
    spans.update(found_spans)
    result = PreloadResult(
        instrument=visit.instrument,
        group=visit.groupId,
        detector=visit.detector,
        time=when,
        physical_filter=visit.filters,
        band=band,
        calibs=calibs,
        validity=spans,
    )
    try:
        result.region = visit.footprint(camera, repo.options.preload_padding)
    except UnsupportedCoordinatesError as err:
        _LOG.warning("%s: no reference catalog or template is preloaded", err)
    if result.region is not None:
        result.refcat_shards = _find_refcats(repo, result.region)
        result.skymap = _find_skymap(repo)
        if result.skymap is not None and band:
            result.templates, result.template_patches = _find_templates(
                repo, result.skymap, result.region, band
            )
            have = {(ref.dataId["tract"], ref.dataId["patch"]) for ref in result.templates}
            result.missing_template_patches = [p for p in result.template_patches if p not in have]
    seconds["search"] = time.perf_counter() - start

    mark = time.perf_counter()
    needed = result.refs
    todo = [ref for ref in needed if ref not in repo.cache]
    if todo:
        # Datasets already here but not cached (left by an interrupted preload) are reused.
        stored = repo.butler.stored_many(todo)
        todo = [ref for ref in todo if not stored[ref]]
    _add(result.reused, (ref for ref in needed if ref not in todo))
    if todo:
        got = repo.butler.transfer_from(
            repo.central,
            todo,
            transfer="copy",
            register_dataset_types=True,
            transfer_dimensions=True,
        )
        _add(result.transferred, got)
        lost = {ref.id for ref in todo} - {ref.id for ref in got}
        if lost:
            _drop_lost(result, lost)
    repo.input_collections.update(ref.run for ref in result.refs)
    seconds["transfer"] = time.perf_counter() - mark

    mark = time.perf_counter()
    _certify(repo, result.calibs, result.validity)
    seconds["certify"] = time.perf_counter() - mark

    mark = time.perf_counter()
    needed = result.refs
    repo.cache.use(needed)
    result.evicted = repo.trim_cache(pinned={ref.id for ref in needed})
    seconds["evict"] = time.perf_counter() - mark
    seconds["total"] = time.perf_counter() - start
    result.seconds = seconds
    _LOG.info(result.summary())
    return result


def _drop_lost(result: PreloadResult, lost: set) -> None:
    """Handle datasets the central registry lists but whose files could not be copied."""
    lost_calibs = [name for name, ref in result.calibs.items() if ref.id in lost]
    if lost_calibs:
        raise MissingCalibrationError(
            f"calibration files missing from the central datastore: {', '.join(lost_calibs)}", lost_calibs
        )
    if result.skymap is not None and result.skymap.id in lost:
        result.skymap = None
    before = len(result.refcat_shards) + len(result.templates)
    result.refcat_shards = [ref for ref in result.refcat_shards if ref.id not in lost]
    result.templates = [ref for ref in result.templates if ref.id not in lost]
    have = {(ref.dataId["tract"], ref.dataId["patch"]) for ref in result.templates}
    result.missing_template_patches = [p for p in result.template_patches if p not in have]
    _LOG.warning(
        "%d datasets had no file in the central datastore and were skipped",
        before - len(result.refcat_shards) - len(result.templates),
    )
