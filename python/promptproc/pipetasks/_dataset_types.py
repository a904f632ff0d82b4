"""Dataset types the pipelines read and write, besides the central repository's inputs.

Main pipelines (``ApPipe``, ``SingleFrame``, ``Isr``), per detector:

========================== ============================== ====================== =====================
name                       dimensions                     storage class          written by
========================== ============================== ====================== =====================
``post_isr_image``         instrument, exposure, detector ``PromptExposure``     ``isr``
``visit_image``            instrument, visit, detector    ``PromptExposure``     ``calibrate``
``visit_sources``          instrument, visit, detector    ``ArrowAstropy``       ``calibrate``
``visit_summary``          instrument, visit, detector    ``ArrowAstropy``       ``calibrate``
``template_detector``      instrument, visit, detector    ``PromptExposure``     ``template``
``difference_image``       instrument, visit, detector    ``PromptExposure``     ``subtract``
``template_matched``       instrument, visit, detector    ``PromptExposure``     ``subtract``
``difference_kernel``      instrument, visit, detector    ``ArrowAstropy``       ``subtract``
``dia_sources``            instrument, visit, detector    ``ArrowAstropy``       ``dia``
``dia_source_apdb``        instrument, visit, detector    ``DataFrame``          ``associate``
``dia_object_apdb``        instrument, visit, detector    ``DataFrame``          ``associate``
``alert_packets``          instrument, visit, detector    ``PromptAlertPackets`` ``alerts``
========================== ============================== ====================== =====================

Preprocessing (before the raws arrive), per detector of a group:

========================== ============================== ====================== =====================
``region_time``            instrument, group, detector    ``PromptRegionTime``   the worker
``preloaded_dia_objects``  instrument, group, detector    ``DataFrame``          ``preload``
``preloaded_dia_sources``  instrument, group, detector    ``DataFrame``          ``preload``
========================== ============================== ====================== =====================

The executor registers the outputs of a pipeline itself; only ``region_time``,
which the worker writes before running ``Preprocessing.yaml``, must be
registered beforehand (`register_pipeline_dataset_types`).
"""

from __future__ import annotations

from collections.abc import Iterable

from lsst.daf.butler import Butler, DatasetType
from lsst.daf.butler.registry import ConflictingDefinitionError

from ..errors import ConfigurationError
from ..repo import (
    ALERT_PACKETS_STORAGE_CLASS,
    EXPOSURE_STORAGE_CLASS,
    REGION_TIME_STORAGE_CLASS,
    TABLE_STORAGE_CLASS,
    DatasetTypeSpec,
)

__all__ = [
    "ALERT_PACKETS",
    "DATAFRAME_STORAGE_CLASS",
    "DIA_OBJECT_APDB",
    "DIA_SOURCES",
    "DIA_SOURCE_APDB",
    "DIFFERENCE_IMAGE",
    "DIFFERENCE_KERNEL",
    "EXPOSURE_DIMENSIONS",
    "GROUP_DIMENSIONS",
    "PIPELINE_DATASET_TYPES",
    "POST_ISR_IMAGE",
    "PRELOADED_DIA_OBJECTS",
    "PRELOADED_DIA_SOURCES",
    "REGION_TIME",
    "TEMPLATE_DETECTOR",
    "TEMPLATE_MATCHED",
    "VISIT_DIMENSIONS",
    "VISIT_IMAGE",
    "VISIT_SOURCES",
    "VISIT_SUMMARY",
    "register_pipeline_dataset_types",
]

DATAFRAME_STORAGE_CLASS = "DataFrame"
"""The Butler's storage class for `pandas.DataFrame` (parquet); APDB rows use it."""

EXPOSURE_DIMENSIONS = ("instrument", "exposure", "detector")
"""Dimensions of the per-detector products of an exposure (before visits matter)."""
VISIT_DIMENSIONS = ("instrument", "visit", "detector")
"""Dimensions of the per-detector products of a visit."""
GROUP_DIMENSIONS = ("instrument", "group", "detector")
"""Dimensions of the preprocessing products: known before any raw (and so any exposure) exists."""

POST_ISR_IMAGE = "post_isr_image"
VISIT_IMAGE = "visit_image"
VISIT_SOURCES = "visit_sources"
VISIT_SUMMARY = "visit_summary"
TEMPLATE_DETECTOR = "template_detector"
DIFFERENCE_IMAGE = "difference_image"
TEMPLATE_MATCHED = "template_matched"
DIFFERENCE_KERNEL = "difference_kernel"
DIA_SOURCES = "dia_sources"
DIA_SOURCE_APDB = "dia_source_apdb"
DIA_OBJECT_APDB = "dia_object_apdb"
ALERT_PACKETS = "alert_packets"
REGION_TIME = "region_time"
PRELOADED_DIA_OBJECTS = "preloaded_dia_objects"
PRELOADED_DIA_SOURCES = "preloaded_dia_sources"

_SPECS = (
    DatasetTypeSpec(POST_ISR_IMAGE, EXPOSURE_DIMENSIONS, EXPOSURE_STORAGE_CLASS),
    DatasetTypeSpec(VISIT_IMAGE, VISIT_DIMENSIONS, EXPOSURE_STORAGE_CLASS),
    DatasetTypeSpec(VISIT_SOURCES, VISIT_DIMENSIONS, TABLE_STORAGE_CLASS),
    DatasetTypeSpec(VISIT_SUMMARY, VISIT_DIMENSIONS, TABLE_STORAGE_CLASS),
    DatasetTypeSpec(TEMPLATE_DETECTOR, VISIT_DIMENSIONS, EXPOSURE_STORAGE_CLASS),
    DatasetTypeSpec(DIFFERENCE_IMAGE, VISIT_DIMENSIONS, EXPOSURE_STORAGE_CLASS),
    DatasetTypeSpec(TEMPLATE_MATCHED, VISIT_DIMENSIONS, EXPOSURE_STORAGE_CLASS),
    DatasetTypeSpec(DIFFERENCE_KERNEL, VISIT_DIMENSIONS, TABLE_STORAGE_CLASS),
    DatasetTypeSpec(DIA_SOURCES, VISIT_DIMENSIONS, TABLE_STORAGE_CLASS),
    DatasetTypeSpec(DIA_SOURCE_APDB, VISIT_DIMENSIONS, DATAFRAME_STORAGE_CLASS),
    DatasetTypeSpec(DIA_OBJECT_APDB, VISIT_DIMENSIONS, DATAFRAME_STORAGE_CLASS),
    DatasetTypeSpec(ALERT_PACKETS, VISIT_DIMENSIONS, ALERT_PACKETS_STORAGE_CLASS),
    DatasetTypeSpec(REGION_TIME, GROUP_DIMENSIONS, REGION_TIME_STORAGE_CLASS),
    DatasetTypeSpec(PRELOADED_DIA_OBJECTS, GROUP_DIMENSIONS, DATAFRAME_STORAGE_CLASS),
    DatasetTypeSpec(PRELOADED_DIA_SOURCES, GROUP_DIMENSIONS, DATAFRAME_STORAGE_CLASS),
)

PIPELINE_DATASET_TYPES: dict[str, DatasetTypeSpec] = {spec.name: spec for spec in _SPECS}
"""Every dataset type the pipelines (and the worker, for ``region_time``) write, by name."""


def register_pipeline_dataset_types(
    butler: Butler, names: Iterable[str] | None = None
) -> dict[str, DatasetType]:
    """Register pipeline dataset types in a repository (all by default).

    Parameters
    ----------
    butler : `lsst.daf.butler.Butler`
        A writeable Butler.
    names : iterable of `str`, optional
        Which of `PIPELINE_DATASET_TYPES`; e.g. ``[REGION_TIME]`` before the
        worker writes a visit's region and time.

    Returns
    -------
    types : `dict` [`str`, `lsst.daf.butler.DatasetType`]
        The registered dataset types by name.

    Raises
    ------
    promptproc.errors.ConfigurationError
        If a dataset type of the same name exists with another definition.
    KeyError
        If a name is not one of `PIPELINE_DATASET_TYPES`.
    """
    result = {}
    for name in PIPELINE_DATASET_TYPES if names is None else names:
        dataset_type = PIPELINE_DATASET_TYPES[name].make(butler.dimensions)
        try:
            butler.registry.registerDatasetType(dataset_type)
        except ConflictingDefinitionError as err:
            raise ConfigurationError(
                f"dataset type {name} exists with another definition: {str(err).splitlines()[0]}"
            ) from None
        result[name] = dataset_type
    return result
