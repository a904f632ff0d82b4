"""Butler glue: storage classes and formatters, central repository creation and bootstrap.

The formatters, delegates and storage classes are named in every
repository's ``butler.yaml`` by their dotted names under ``promptproc.repo``
(e.g. ``promptproc.repo.ExposureFormatter``); keep those names importable.
"""

from ._bootstrap import BootstrapSummary, DatasetCount, bootstrap_sim, open_butler, simulation_config
from ._config import (
    CAMERA_STORAGE_CLASS,
    EXPOSURE_STORAGE_CLASS,
    RAW_STORAGE_CLASS,
    SKYMAP_STORAGE_CLASS,
    TABLE_STORAGE_CLASS,
    repo_seed_config,
    storage_config,
)
from ._create import create_central_repo, masked_url, normalize_registry_url
from ._errors import CorruptDatasetError, RepoExistsError
from ._formatters import (
    CameraFormatter,
    ExposureDelegate,
    ExposureFormatter,
    RawImageDelegate,
    RawImageFormatter,
    SkyMapFormatter,
)
from ._ingest import (
    UNBOUNDED,
    CalibrationEpochLike,
    certify_calibrations,
    deterministic_ref,
    ensure_collection,
    ingest_calibration,
    ingest_camera,
    ingest_refcat,
    ingest_skymap,
    ingest_template,
    put_dataset,
    register_dataset_types,
    setup_collections,
    shard_by_htm,
)
from ._lookup import find_calibration, htm7_shards_for_region, refcat_shards
from ._names import (
    CALIBRATION_TYPES,
    CAMERA,
    DATASET_TYPES,
    HTM_LEVEL,
    RAW,
    REFCAT,
    REFCAT_RUN,
    REFCATS_CHAIN,
    SKYMAP,
    SKYMAPS_RUN,
    TEMPLATE,
    TEMPLATES_RUN,
    UNBOUNDED_EPOCH,
    DatasetTypeSpec,
    calib_collection,
    calib_run,
    dataset_type,
    defaults_collection,
    raw_run,
)
from ._register import INSTRUMENT_CLASS_NAME, VISIT_SYSTEMS, register_instrument, register_skymap

__all__ = [
    "CALIBRATION_TYPES",
    "CAMERA",
    "CAMERA_STORAGE_CLASS",
    "DATASET_TYPES",
    "EXPOSURE_STORAGE_CLASS",
    "HTM_LEVEL",
    "INSTRUMENT_CLASS_NAME",
    "RAW",
    "RAW_STORAGE_CLASS",
    "REFCAT",
    "REFCATS_CHAIN",
    "REFCAT_RUN",
    "SKYMAP",
    "SKYMAPS_RUN",
    "SKYMAP_STORAGE_CLASS",
    "TABLE_STORAGE_CLASS",
    "TEMPLATE",
    "TEMPLATES_RUN",
    "UNBOUNDED",
    "UNBOUNDED_EPOCH",
    "VISIT_SYSTEMS",
    "BootstrapSummary",
    "CalibrationEpochLike",
    "CameraFormatter",
    "CorruptDatasetError",
    "DatasetCount",
    "DatasetTypeSpec",
    "ExposureDelegate",
    "ExposureFormatter",
    "RawImageDelegate",
    "RawImageFormatter",
    "RepoExistsError",
    "SkyMapFormatter",
    "bootstrap_sim",
    "calib_collection",
    "calib_run",
    "certify_calibrations",
    "create_central_repo",
    "dataset_type",
    "defaults_collection",
    "deterministic_ref",
    "ensure_collection",
    "find_calibration",
    "htm7_shards_for_region",
    "ingest_calibration",
    "ingest_camera",
    "ingest_refcat",
    "ingest_skymap",
    "ingest_template",
    "masked_url",
    "normalize_registry_url",
    "open_butler",
    "put_dataset",
    "raw_run",
    "refcat_shards",
    "register_dataset_types",
    "register_instrument",
    "register_skymap",
    "repo_seed_config",
    "setup_collections",
    "shard_by_htm",
    "simulation_config",
    "storage_config",
]

# Local repository of a worker: preload and cache, raw ingest, export, cleanup.
from ._cache import CacheCapacity, DatasetCache
from ._cleanup import CleanupResult, clean_visit
from ._export import (
    ExportConflictError,
    ExportResult,
    compile_patterns,
    export_outputs,
    output_run_name,
)
from ._local import LocalRepo, LocalRepoOptions
from ._preload import MissingCalibrationError, PreloadResult, preload
from ._raw_ingest import (
    RAW_TRANSFER_MODES,
    RawIngestResult,
    RawMismatchError,
    check_raw_header,
    ingest_raw,
    read_raw_header,
)
from ._visit_records import (
    ONE_TO_ONE_VISIT_SYSTEM,
    VisitRecords,
    camera_region,
    day_obs_timespan,
    visit_records_from_header,
    write_visit_records,
)

__all__ += [
    "ONE_TO_ONE_VISIT_SYSTEM",
    "RAW_TRANSFER_MODES",
    "CacheCapacity",
    "CleanupResult",
    "DatasetCache",
    "ExportConflictError",
    "ExportResult",
    "LocalRepo",
    "LocalRepoOptions",
    "MissingCalibrationError",
    "PreloadResult",
    "RawIngestResult",
    "RawMismatchError",
    "VisitRecords",
    "camera_region",
    "check_raw_header",
    "clean_visit",
    "compile_patterns",
    "day_obs_timespan",
    "export_outputs",
    "ingest_raw",
    "output_run_name",
    "preload",
    "read_raw_header",
    "visit_records_from_header",
    "write_visit_records",
]
