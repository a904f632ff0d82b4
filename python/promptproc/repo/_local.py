"""A worker's local repository: one SQLite Butler per worker process, reused across visits.

`LocalRepo.create` makes a fresh ``butler-XXXXXXXX`` directory under
``LOCAL_REPOS`` with the central repository's dimension universe and
promptproc's storage classes, copies the instrument's records and the shape
of the central ``{instrument}/defaults`` chain, and then serves every visit
of the worker:

1. `LocalRepo.prepare` -- preload calibrations, sky map, reference-catalog
   shards and templates for the visit (`promptproc.repo.PreloadResult`);
2. `LocalRepo.ingest_raw` -- check and ingest the raw;
3. the pipeline runs against the local Butler (`LocalRepo.butler`);
4. `LocalRepo.export_outputs` -- copy outputs to the central repository;
5. `LocalRepo.clean_visit` -- remove raws and output runs, keep the cache.

`LocalRepo.close` deletes the directory.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from astropy.time import Time
from lsst.daf.butler import Butler, CollectionType, DatasetId, DatasetRef, MissingDatasetTypeError, Timespan
from lsst.daf.butler.registry import MissingCollectionError
from lsst.resources import ResourcePathExpression

from ..errors import BadInputError, ConfigurationError
from ..instrument import Instrument
from ._cache import CacheCapacity, DatasetCache
from ._config import repo_seed_config
from ._ingest import ensure_collection
from ._lookup import find_calibration
from ._names import (
    CALIBRATION_TYPES,
    CAMERA,
    RAW,
    REFCAT,
    REFCATS_CHAIN,
    SKYMAP,
    SKYMAPS_RUN,
    TEMPLATE,
    TEMPLATES_RUN,
    calib_collection,
    defaults_collection,
    raw_run,
)

if TYPE_CHECKING:
    from ..visit import FannedOutVisit
    from ._cleanup import CleanupResult
    from ._export import ExportResult
    from ._preload import PreloadResult

__all__ = ["LocalRepo", "LocalRepoOptions"]

_LOG = logging.getLogger(__name__)

# Records of the instrument copied verbatim from the central repository, in insert order.
_INSTRUMENT_ELEMENTS = ("instrument", "physical_filter", "detector", "visit_system")


@dataclass(frozen=True)
class LocalRepoOptions:
    """How a local repository preloads, caches and ingests.

    Parameters
    ----------
    cache_size : `int`
        Datasets of each calibration type (and of the sky map) kept between
        visits (``LOCAL_REPO_CACHE_SIZE``).
    refcat_cache_size : `int`
        Reference-catalog shards kept between visits
        (``LOCAL_REPO_REFCAT_CACHE_SIZE``); 0 downloads them for every visit.
    template_cache_size : `int`
        Template patches kept between visits
        (``LOCAL_REPO_TEMPLATE_CACHE_SIZE``); 0 downloads them for every visit.
    preload_padding : `float`
        Margin around the predicted detector footprint, arcseconds
        (``PRELOAD_PADDING``).
    raw_transfer : `str`
        Transfer mode of raw ingest (``copy``, ``move``, ``direct``, ``link``...).
    calibration_types : `tuple` [`str`, ...]
        Calibrations to preload; the ``camera`` is always loaded.
    refcat_type, template_type, skymap_type : `str`
        Dataset type names of the reference-catalog shards, the templates
        and the sky map.
    skymap : `str`, optional
        Name of the sky map of the templates; the only ``skyMap`` in the
        central repository by default.
    refcat_collections, template_collections, skymap_collections : `str`
        Central collections searched for shards, templates and the sky map.
    """

    cache_size: int = 3
    refcat_cache_size: int = 32
    template_cache_size: int = 16
    preload_padding: float = 30.0
    raw_transfer: str = "copy"
    calibration_types: tuple[str, ...] = CALIBRATION_TYPES
    refcat_type: str = REFCAT
    template_type: str = TEMPLATE
    skymap_type: str = SKYMAP
    skymap: str | None = None
    refcat_collections: str = REFCATS_CHAIN
    template_collections: str = TEMPLATES_RUN
    skymap_collections: str = SKYMAPS_RUN

    def __post_init__(self) -> None:
        from ._raw_ingest import RAW_TRANSFER_MODES

        if self.cache_size < 1:
            raise ConfigurationError(f"the calibration cache size must be >= 1, not {self.cache_size}")
        if self.refcat_cache_size < 0 or self.template_cache_size < 0:
            raise ConfigurationError("the reference-catalog and template cache sizes must be >= 0")
        if not self.preload_padding >= 0:
            raise ConfigurationError(f"the preload padding must be >= 0, not {self.preload_padding}")
        if self.raw_transfer not in RAW_TRANSFER_MODES:
            raise ConfigurationError(
                f"unknown raw transfer mode {self.raw_transfer!r}; use one of {', '.join(RAW_TRANSFER_MODES)}"
            )
        object.__setattr__(self, "calibration_types", tuple(self.calibration_types))

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> LocalRepoOptions:
        """Options from the service settings.

        Parameters
        ----------
        settings : `promptproc.settings.Settings`
            Read for ``local_repo_cache_size``, ``local_repo_refcat_cache_size``,
            ``local_repo_template_cache_size`` and ``preload_padding``.
        **overrides
            Other fields.

        Returns
        -------
        options : `LocalRepoOptions`
            The options.
        """
        return cls(
            cache_size=settings.local_repo_cache_size,
            refcat_cache_size=settings.local_repo_refcat_cache_size,
            template_cache_size=settings.local_repo_template_cache_size,
            preload_padding=settings.preload_padding,
            **overrides,
        )

    def capacity(self) -> CacheCapacity:
        """Cache sizes per dataset type."""
        return CacheCapacity(
            self.cache_size,
            {self.refcat_type: self.refcat_cache_size, self.template_type: self.template_cache_size},
        )


class LocalRepo:
    """A worker's local Butler repository, with its cache of input datasets.

    Make one with `create`; it is meant to live as long as the worker
    process.  Not thread-safe: one visit at a time.

    Parameters
    ----------
    root : `pathlib.Path`
        The repository directory (owned: `close` deletes it).
    butler : `lsst.daf.butler.Butler`
        Writeable Butler of the repository.
    central : `lsst.daf.butler.Butler`
        The central repository inputs are read from.
    instrument : `str`
        Instrument name.
    options : `LocalRepoOptions`
        Preload, cache and ingest options.
    """

    def __init__(
        self, root: Path, butler: Butler, central: Butler, instrument: str, options: LocalRepoOptions
    ) -> None:
        self.root = root
        self.butler = butler
        self.central = central
        self.instrument = instrument
        self.options = options
        self.cache = DatasetCache(options.capacity())
        self.calib_collection = calib_collection(instrument)
        self.defaults_collection = defaults_collection(instrument)
        self.raw_run = raw_run(instrument)
        self.input_collections: set[str] = set()
        # Validity of each calibration certified here, by dataset ID.
        self.certified: dict[DatasetId, Timespan] = {}
        self._objects: dict[DatasetId, Any] = {}
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(root), True)

    # --- life cycle ---------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        central: Butler,
        instrument: str,
        parent: str | Path,
        options: LocalRepoOptions | None = None,
    ) -> LocalRepo:
        """Make a new, empty local repository for a worker.

        Parameters
        ----------
        central : `lsst.daf.butler.Butler`
            The central repository (read only here).
        instrument : `str`
            Instrument the worker processes; it must be registered centrally.
        parent : `str` or `pathlib.Path`
            Directory where the repository directory is made
            (``LOCAL_REPOS``); created if needed.
        options : `LocalRepoOptions`, optional
            Defaults if not given.

        Returns
        -------
        repo : `LocalRepo`
            The repository, with the instrument's records, the ``raw``
            dataset type and the collections of the central
            ``{instrument}/defaults`` chain.

        Raises
        ------
        promptproc.errors.ConfigurationError
            If the instrument or the defaults chain is missing centrally.
        """
        options = options or LocalRepoOptions()
        parent_path = Path(parent)
        parent_path.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix="butler-", dir=parent_path))
        try:
            Butler.makeRepo(
                str(root), config=repo_seed_config(), dimensionConfig=central.dimensions.dimensionConfig
            )
            butler = Butler.from_config(str(root), writeable=True)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        repo = cls(root, butler, central, instrument, options)
        try:
            if butler.dimensions != central.dimensions:
                raise ConfigurationError(
                    f"local dimension universe {butler.dimensions} differs from the central "
                    f"{central.dimensions}"
                )
            repo._copy_instrument_records()
            butler.registry.registerDatasetType(central.get_dataset_type(RAW))
            repo._mirror_collection(repo.defaults_collection)
            ensure_collection(butler, repo.calib_collection, CollectionType.CALIBRATION)
            ensure_collection(butler, repo.raw_run, CollectionType.RUN)
            repo.input_collections.update({repo.calib_collection, repo.raw_run})
        except BaseException:
            repo.close()
            raise
        _LOG.info("created local repository %s for %s", root, instrument)
        return repo

    def close(self) -> None:
        """Close the Butler and delete the repository directory."""
        try:
            self.butler.close()
        finally:
            self._finalizer()

    @property
    def closed(self) -> bool:
        """Whether `close` was called."""
        return not self._finalizer.alive

    def __enter__(self) -> LocalRepo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LocalRepo({str(self.root)!r}, instrument={self.instrument!r})"

    def _copy_instrument_records(self) -> None:
        """Copy the instrument, filter, detector and visit-system records from the central repo."""
        records = {
            element: self.central.query_dimension_records(
                element, instrument=self.instrument, explain=False, limit=None
            )
            for element in _INSTRUMENT_ELEMENTS
        }
        if not records["instrument"]:
            raise ConfigurationError(f"instrument {self.instrument} is not registered in the central repo")
        with self.butler.registry.transaction():
            for element in _INSTRUMENT_ELEMENTS:
                if records[element]:
                    self.butler.registry.insertDimensionData(element, *records[element], skip_existing=True)

    def _mirror_collection(self, name: str) -> None:
        """Create a central collection here with the same type, and a chain's children recursively."""
        if name == self.calib_collection:
            # All calibrations are certified into one local CALIBRATION collection.
            ensure_collection(self.butler, name, CollectionType.CALIBRATION)
            self.input_collections.add(name)
            return
        try:
            info = self.central.collections.get_info(name)
        except MissingCollectionError:
            raise ConfigurationError(f"collection {name} does not exist in the central repo") from None
        ensure_collection(self.butler, name, info.type)
        self.input_collections.add(name)
        if info.type == CollectionType.CHAINED:
            for child in info.children:
                self._mirror_collection(child)
            self.butler.collections.redefine_chain(name, list(info.children))

    # --- objects read from datasets -----------------------------------------------------

    def read_input(self, ref: DatasetRef) -> Any:
        """Read an input dataset (camera, sky map) once, from here if cached, else centrally.

        Parameters
        ----------
        ref : `lsst.daf.butler.DatasetRef`
            The dataset.

        Returns
        -------
        obj : `object`
            The in-memory dataset, kept for later calls (the last few only).
        """
        found = self._objects.get(ref.id)
        if found is None:
            found = self.butler.get(ref) if ref in self.cache else self.central.get(ref)
            if len(self._objects) >= 8:
                self._objects.pop(next(iter(self._objects)))
            self._objects[ref.id] = found
        return found

    def camera(self, time: Time | None = None) -> Instrument:
        """The camera (``camera`` calibration) valid at a time.

        Parameters
        ----------
        time : `astropy.time.Time`, optional
            When; now by default.

        Returns
        -------
        instrument : `promptproc.instrument.Instrument`
            The camera, from the local repository if it holds it.

        Raises
        ------
        MissingCalibrationError
            If no camera is valid at that time in either repository.
        """
        from ._preload import MissingCalibrationError

        when = Time.now() if time is None else time
        data_id = {"instrument": self.instrument}
        try:
            ref = find_calibration(self.butler, CAMERA, data_id, when, self.calib_collection)
        except MissingDatasetTypeError:  # nothing preloaded yet
            ref = None
        if ref is None:
            ref = find_calibration(self.central, CAMERA, data_id, when, self.calib_collection)
        if ref is None:
            raise MissingCalibrationError(
                f"no {CAMERA} of {self.instrument} is valid at {when.tai.isot} TAI", [CAMERA]
            )
        return self.read_input(ref)

    # --- cache maintenance --------------------------------------------------------------

    def remove_inputs(self, refs: Sequence[DatasetRef]) -> dict[str, int]:
        """Remove cached input datasets from the repository (files, records, certifications).

        Parameters
        ----------
        refs : `~collections.abc.Sequence` [`lsst.daf.butler.DatasetRef`]
            Datasets to remove.

        Returns
        -------
        removed : `dict` [`str`, `int`]
            Number removed by dataset type.
        """
        if not refs:
            return {}
        # Purging a dataset also drops its CALIBRATION associations (it is decertified).
        self.butler.pruneDatasets(refs, disassociate=True, unstore=True, purge=True)
        self.cache.discard(refs)
        removed: dict[str, int] = {}
        for ref in refs:
            self.certified.pop(ref.id, None)
            self._objects.pop(ref.id, None)
            removed[ref.datasetType.name] = removed.get(ref.datasetType.name, 0) + 1
        _LOG.info("evicted %s from the local repository", _counts(removed))
        return removed

    def trim_cache(self, pinned: Iterable[DatasetId] = ()) -> dict[str, int]:
        """Remove the least recently used inputs beyond each dataset type's capacity.

        Parameters
        ----------
        pinned : iterable of `lsst.daf.butler.DatasetId`
            Datasets to keep regardless (the current visit's).

        Returns
        -------
        removed : `dict` [`str`, `int`]
            Number removed by dataset type.
        """
        return self.remove_inputs(self.cache.evictions(pinned))

    # --- the visit steps ----------------------------------------------------------------

    def prepare(self, visit: FannedOutVisit) -> PreloadResult:
        """Preload everything a visit needs from the central repository; see `preload`."""
        from ._preload import preload

        return preload(self, visit)

    def ingest_raw(
        self, path: ResourcePathExpression, visit: FannedOutVisit, transfer: str | None = None
    ) -> DatasetRef:
        """Check a raw against its visit and ingest it with its dimension records.

        Parameters
        ----------
        path : `str` or `lsst.resources.ResourcePath`
            The raw file (local, or remote and downloaded).
        visit : `promptproc.visit.FannedOutVisit`
            The visit it was delivered for.
        transfer : `str`, optional
            Transfer mode; ``options.raw_transfer`` by default.

        Returns
        -------
        ref : `lsst.daf.butler.DatasetRef`
            The raw (the existing one if it was already ingested).

        Raises
        ------
        promptproc.repo.RawMismatchError
            If the header disagrees with the visit; nothing is ingested.
        promptproc.errors.BadInputError
            If the file is unreadable or its header malformed.
        """
        from ._raw_ingest import ingest_raw

        if visit.instrument != self.instrument:
            raise BadInputError(f"visit is for {visit.instrument}, this repository for {self.instrument}")
        camera = self.camera(Time(visit.startTime, format="unix_tai"))
        result = ingest_raw(self.butler, path, visit, camera, transfer or self.options.raw_transfer)
        return result.ref

    def export_outputs(
        self,
        run: str,
        central: Butler,
        dataset_type_patterns: Iterable[Any],
        central_run: str | None = None,
    ) -> ExportResult:
        """Copy a pipeline's outputs to the central repository; see `promptproc.repo.export_outputs`."""
        from ._export import export_outputs

        return export_outputs(self.butler, run, central, dataset_type_patterns, central_run=central_run)

    def clean_visit(
        self, visit: FannedOutVisit | None = None, runs: Iterable[str] | None = None
    ) -> CleanupResult:
        """Remove a visit's raws and outputs, keep the cache; see `promptproc.repo.clean_visit`."""
        from ._cleanup import clean_visit

        return clean_visit(self, visit, runs)

    # --- inspection ---------------------------------------------------------------------

    def size_on_disk(self) -> int:
        """Bytes of every file of the repository (registry database and datasets)."""
        return sum(path.stat().st_size for path in self.root.rglob("*") if path.is_file())

    def dataset_count(self) -> int:
        """Number of datasets in the repository, all collections."""
        count = 0
        for dataset_type in self.butler.registry.queryDatasetTypes():
            count += len(
                self.butler.query_datasets(
                    dataset_type, collections="*", find_first=False, explain=False, limit=None
                )
            )
        return count


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {name}" for name, n in sorted(counts.items())) or "nothing"
