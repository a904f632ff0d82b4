"""Names of the collections and dataset types of a promptproc repository.

Collections of a central repository (``{instrument}`` is e.g. ``SimCam``):

========================= ============ ==============================================
name                      type         holds
========================= ============ ==============================================
``{instrument}/raw/all``  RUN          raws (``raw``)
``{instrument}/calib``    CALIBRATION  ``camera``, ``bias``, ``dark``, ``flat``,
                                       ``defects``, each certified for its epoch
``{instrument}/calib/X``  RUN          the calibration files of epoch ``X``
                                       (``unbounded`` for the camera)
``templates/deep``        RUN          ``template_coadd``
``refcats/sim``           RUN          ``sim_refcat`` shards (HTM level 7)
``refcats``               CHAINED      ``refcats/sim``
``skymaps``               RUN          ``skyMap``
``{instrument}/defaults`` CHAINED      raw/all, calib, templates/deep, refcats, skymaps
========================= ============ ==============================================
"""

from __future__ import annotations

from dataclasses import dataclass

from lsst.daf.butler import DatasetType, DimensionUniverse

from ._config import (
    CAMERA_STORAGE_CLASS,
    EXPOSURE_STORAGE_CLASS,
    RAW_STORAGE_CLASS,
    SKYMAP_STORAGE_CLASS,
    TABLE_STORAGE_CLASS,
)

__all__ = [
    "CALIBRATION_TYPES",
    "CAMERA",
    "DATASET_TYPES",
    "HTM_LEVEL",
    "RAW",
    "REFCAT",
    "REFCATS_CHAIN",
    "REFCAT_RUN",
    "SKYMAP",
    "SKYMAPS_RUN",
    "TEMPLATE",
    "TEMPLATES_RUN",
    "UNBOUNDED_EPOCH",
    "DatasetTypeSpec",
    "calib_collection",
    "calib_run",
    "dataset_type",
    "defaults_collection",
    "raw_run",
]

HTM_LEVEL = 7
"""HTM level of the reference-catalog shards (the ``htm7`` dimension)."""

RAW = "raw"
CAMERA = "camera"
TEMPLATE = "template_coadd"
REFCAT = "sim_refcat"
SKYMAP = "skyMap"

TEMPLATES_RUN = "templates/deep"
REFCAT_RUN = "refcats/sim"
REFCATS_CHAIN = "refcats"
SKYMAPS_RUN = "skymaps"

UNBOUNDED_EPOCH = "unbounded"


@dataclass(frozen=True)
class DatasetTypeSpec:
    """What defines a dataset type, without a dimension universe.

    Parameters
    ----------
    name : `str`
        Dataset type name.
    dimensions : `tuple` [`str`, ...]
        Required dimensions.
    storage_class : `str`
        Storage class name.
    is_calibration : `bool`
        Whether it is looked up by validity time in a CALIBRATION collection.
    """

    name: str
    dimensions: tuple[str, ...]
    storage_class: str
    is_calibration: bool = False

    def make(self, universe: DimensionUniverse) -> DatasetType:
        """Build the dataset type in a repository's universe.

        Parameters
        ----------
        universe : `lsst.daf.butler.DimensionUniverse`
            The repository's dimensions.

        Returns
        -------
        dataset_type : `lsst.daf.butler.DatasetType`
            The dataset type.
        """
        return DatasetType(
            self.name,
            self.dimensions,
            self.storage_class,
            universe=universe,
            isCalibration=self.is_calibration,
        )


_SPECS = (
    DatasetTypeSpec(RAW, ("instrument", "exposure", "detector"), RAW_STORAGE_CLASS),
    DatasetTypeSpec(CAMERA, ("instrument",), CAMERA_STORAGE_CLASS, True),
    DatasetTypeSpec("bias", ("instrument", "detector"), EXPOSURE_STORAGE_CLASS, True),
    DatasetTypeSpec("dark", ("instrument", "detector"), EXPOSURE_STORAGE_CLASS, True),
    DatasetTypeSpec("flat", ("instrument", "physical_filter", "detector"), EXPOSURE_STORAGE_CLASS, True),
    DatasetTypeSpec("defects", ("instrument", "detector"), TABLE_STORAGE_CLASS, True),
    DatasetTypeSpec(TEMPLATE, ("skymap", "tract", "patch", "band"), EXPOSURE_STORAGE_CLASS),
    DatasetTypeSpec(REFCAT, (f"htm{HTM_LEVEL}",), TABLE_STORAGE_CLASS),
    DatasetTypeSpec(SKYMAP, ("skymap",), SKYMAP_STORAGE_CLASS),
)

DATASET_TYPES: dict[str, DatasetTypeSpec] = {spec.name: spec for spec in _SPECS}
"""Every dataset type a central repository is bootstrapped with, by name."""

CALIBRATION_TYPES: tuple[str, ...] = tuple(spec.name for spec in _SPECS if spec.is_calibration)
"""Names of the calibration dataset types."""


def dataset_type(name: str, universe: DimensionUniverse) -> DatasetType:
    """The dataset type of one of `DATASET_TYPES`.

    Parameters
    ----------
    name : `str`
        Dataset type name, e.g. ``"bias"``.
    universe : `lsst.daf.butler.DimensionUniverse`
        The repository's dimensions.

    Returns
    -------
    dataset_type : `lsst.daf.butler.DatasetType`
        The dataset type.

    Raises
    ------
    KeyError
        If promptproc defines no dataset type of that name.
    """
    return DATASET_TYPES[name].make(universe)


def raw_run(instrument: str) -> str:
    """RUN of an instrument's raws, ``{instrument}/raw/all``."""
    return f"{instrument}/raw/all"


def calib_collection(instrument: str) -> str:
    """CALIBRATION collection of an instrument, ``{instrument}/calib``."""
    return f"{instrument}/calib"


def calib_run(instrument: str, epoch: str) -> str:
    """RUN holding one calibration epoch's files, ``{instrument}/calib/{epoch}``."""
    return f"{instrument}/calib/{epoch}"


def defaults_collection(instrument: str) -> str:
    """The chain a worker searches, ``{instrument}/defaults``."""
    return f"{instrument}/defaults"
