"""Storage classes and formatters of promptproc, as Butler configuration.

The configuration is written into every repository's ``butler.yaml`` when the
repository is made (`repo_seed_config`), so any Butler client -- ``butler
query-datasets``, a worker, a notebook -- reads the repository without extra
setup, as long as ``promptproc`` is importable.

The names carry a ``Prompt`` prefix because the Butler's default
configuration already defines ``Exposure``, ``Camera`` and ``SkyMap`` for the
C++ stack (afw, skymap); a repository's configuration is merged into those
defaults, so reusing a name would mix their components and delegates into
ours.
"""

from __future__ import annotations

from typing import Any

from lsst.daf.butler import Config

__all__ = [
    "ALERT_PACKETS_STORAGE_CLASS",
    "CAMERA_STORAGE_CLASS",
    "EXPOSURE_STORAGE_CLASS",
    "RAW_STORAGE_CLASS",
    "REGION_TIME_STORAGE_CLASS",
    "SKYMAP_STORAGE_CLASS",
    "TABLE_STORAGE_CLASS",
    "repo_seed_config",
    "storage_config",
]

EXPOSURE_STORAGE_CLASS = "PromptExposure"
"""Storage class of `promptproc.image.Exposure` (calibs, templates, processed images)."""

RAW_STORAGE_CLASS = "PromptRawImage"
"""Storage class of `promptproc.image.RawImage` (camera files)."""

SKYMAP_STORAGE_CLASS = "PromptSkyMap"
"""Storage class of `promptproc.skymap.SkyMap`."""

CAMERA_STORAGE_CLASS = "PromptCamera"
"""Storage class of `promptproc.instrument.Instrument` (the ``camera`` dataset)."""

TABLE_STORAGE_CLASS = "ArrowAstropy"
"""The Butler's own storage class for `astropy.table.Table` (parquet)."""

REGION_TIME_STORAGE_CLASS = "PromptRegionTime"
"""Storage class of `promptproc.pipetasks.RegionTime` (predicted region and time of a visit, JSON)."""

ALERT_PACKETS_STORAGE_CLASS = "PromptAlertPackets"
"""Storage class of `promptproc.pipetasks.AlertPackets` (a detector-visit's alerts, Avro container)."""

_STORAGE_CLASSES: dict[str, dict[str, Any]] = {
    EXPOSURE_STORAGE_CLASS: {
        "pytype": "promptproc.image.Exposure",
        "delegate": "promptproc.repo.ExposureDelegate",
        "parameters": ["bbox"],
        "components": {
            "image": "PromptImageArray",
            "mask": "PromptImageArray",
            "variance": "PromptImageArray",
            "wcs": "PromptWcs",
            "psf": "PromptPsf",
            "photoCalib": "PromptPhotoCalib",
            "visitInfo": "PromptVisitInfo",
            "metadata": "PromptFitsHeader",
        },
    },
    RAW_STORAGE_CLASS: {
        "pytype": "promptproc.image.RawImage",
        "delegate": "promptproc.repo.RawImageDelegate",
        "derivedComponents": {"metadata": "PromptFitsHeader"},
    },
    SKYMAP_STORAGE_CLASS: {"pytype": "promptproc.skymap.SkyMap"},
    CAMERA_STORAGE_CLASS: {"pytype": "promptproc.instrument.Instrument"},
    REGION_TIME_STORAGE_CLASS: {"pytype": "promptproc.pipetasks.RegionTime"},
    ALERT_PACKETS_STORAGE_CLASS: {"pytype": "promptproc.pipetasks.AlertPackets"},
    # Component types; they are never stored on their own.
    "PromptImageArray": {"pytype": "numpy.ndarray"},
    "PromptWcs": {"pytype": "astropy.wcs.WCS"},
    "PromptPsf": {"pytype": "promptproc.image.ImagePsf"},
    "PromptPhotoCalib": {"pytype": "promptproc.image.PhotoCalib"},
    "PromptVisitInfo": {"pytype": "promptproc.image.VisitInfo"},
    "PromptFitsHeader": {"pytype": "astropy.io.fits.Header"},
}

_FORMATTERS: dict[str, str] = {
    EXPOSURE_STORAGE_CLASS: "promptproc.repo.ExposureFormatter",
    RAW_STORAGE_CLASS: "promptproc.repo.RawImageFormatter",
    SKYMAP_STORAGE_CLASS: "promptproc.repo.SkyMapFormatter",
    CAMERA_STORAGE_CLASS: "promptproc.repo.CameraFormatter",
    REGION_TIME_STORAGE_CLASS: "promptproc.pipetasks.RegionTimeFormatter",
    ALERT_PACKETS_STORAGE_CLASS: "promptproc.pipetasks.AlertPacketsFormatter",
}


def storage_config() -> Config:
    """Butler configuration declaring promptproc's storage classes and formatters.

    Returns
    -------
    config : `lsst.daf.butler.Config`
        ``storageClasses`` and ``datastore.formatters`` entries; merge it into
        the seed configuration of any repository (central or local).
    """
    return Config(
        {
            "storageClasses": {name: dict(spec) for name, spec in _STORAGE_CLASSES.items()},
            "datastore": {"formatters": dict(_FORMATTERS)},
        }
    )


def repo_seed_config(
    registry_db: str | None = None,
    namespace: str | None = None,
    datastore_root: str | None = None,
) -> Config:
    """The seed configuration `~lsst.daf.butler.Butler.makeRepo` writes to ``butler.yaml``.

    Parameters
    ----------
    registry_db : `str`, optional
        SQLAlchemy URL of the registry; the Butler's default (SQLite in the
        repository root) when `None`.
    namespace : `str`, optional
        PostgreSQL schema of the registry tables.
    datastore_root : `str`, optional
        Datastore root URI (directory or ``s3://bucket/prefix/``); the
        repository root when `None`.

    Returns
    -------
    config : `lsst.daf.butler.Config`
        Storage classes, formatters and the given registry/datastore settings.
    """
    config = storage_config()
    if registry_db is not None:
        config["registry", "db"] = registry_db
    if namespace is not None:
        config["registry", "namespace"] = namespace
    if datastore_root is not None:
        config["datastore", "root"] = datastore_root
    return config
