"""``preload``: the APDB's DIA objects (and their sources) around a detector, before its raw.

Run by ``Preprocessing.yaml`` as soon as the next-visit event arrives.  Its
quanta have dimensions (instrument, group, detector), the only ones known
before a raw exists (there is no exposure or visit yet).  The worker writes
the ``region_time`` input first: the predicted, padded footprint and the
visit's time span (`RegionTime`).  The APDB is named by the configuration
field ``apdb_config``, which the pipelines set from their
``parameters.apdb_config`` (the worker substitutes ``CONFIG_APDB``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import lsst.pex.config as pex_config
from lsst.pipe.base import (
    InputQuantizedConnection,
    InvalidQuantumError,
    OutputQuantizedConnection,
    PipelineTask,
    PipelineTaskConfig,
    PipelineTaskConnections,
    QuantumContext,
    Struct,
)
from lsst.pipe.base import connectionTypes as cT
from lsst.sphgeom import Angle, Region
from lsst.utils.timer import timeMethod

from ..apdb import empty_table_frame, load_dia_objects, load_dia_source_history, open_apdb, table_columns
from ..repo import REGION_TIME_STORAGE_CLASS
from ._dataset_types import (
    DATAFRAME_STORAGE_CLASS,
    GROUP_DIMENSIONS,
    PRELOADED_DIA_OBJECTS,
    PRELOADED_DIA_SOURCES,
    REGION_TIME,
)
from ._errors import science_errors
from ._storage import RegionTime

if TYPE_CHECKING:
    from lsst.daf.butler import Butler, DatasetRef
    from lsst.dax.apdb import Apdb

    from ..instrument import Instrument
    from ..visit import FannedOutVisit

__all__ = [
    "PreloadPipeConfig",
    "PreloadPipeConnections",
    "PreloadPipeTask",
    "open_apdb_uri",
    "write_region_time",
]


class PreloadPipeConnections(PipelineTaskConnections, dimensions=GROUP_DIMENSIONS):
    """Connections of `PreloadPipeTask`."""

    region_time = cT.Input(
        doc="Predicted padded footprint and time span of the detector (written by the worker).",
        name=REGION_TIME,
        storageClass=REGION_TIME_STORAGE_CLASS,
        dimensions=GROUP_DIMENSIONS,
    )
    preloaded_dia_objects = cT.Output(
        doc="Latest versions of the APDB DiaObjects in the region.",
        name=PRELOADED_DIA_OBJECTS,
        storageClass=DATAFRAME_STORAGE_CLASS,
        dimensions=GROUP_DIMENSIONS,
    )
    preloaded_dia_sources = cT.Output(
        doc="Earlier DiaSources of those objects, for the alert history.",
        name=PRELOADED_DIA_SOURCES,
        storageClass=DATAFRAME_STORAGE_CLASS,
        dimensions=GROUP_DIMENSIONS,
    )


class PreloadPipeConfig(PipelineTaskConfig, pipelineConnections=PreloadPipeConnections):
    """Configuration of `PreloadPipeTask`."""

    apdb_config = pex_config.Field[str](
        doc="APDB config file, URI or 'label:NAME'; pipelines set it to parameters.apdb_config.",
        default="",
    )
    padding_arcsec = pex_config.Field[float](
        doc="Extra margin around the region, arcseconds (at least the association radius); "
        "the region is then widened to its bounding circle.",
        default=2.0,
    )
    do_load_sources = pex_config.Field[bool](
        doc="Read the earlier DiaSources of the objects (otherwise write an empty table).", default=True
    )

    def validate(self) -> None:
        """Check that the padding is not negative."""
        super().validate()
        if self.padding_arcsec < 0:
            raise ValueError(f"padding_arcsec must be >= 0, not {self.padding_arcsec}")


def open_apdb_uri(uri: str) -> Apdb:
    """Open the APDB a pipeline's ``apdb_config`` names.

    Parameters
    ----------
    uri : `str`
        A local config file (read by `promptproc.apdb.open_apdb`), another
        URI or ``label:NAME`` (read by ``lsst.dax.apdb.Apdb.from_uri``).

    Returns
    -------
    apdb : `lsst.dax.apdb.Apdb`
        The connected APDB.

    Raises
    ------
    lsst.pipe.base.InvalidQuantumError
        If no APDB is configured.
    promptproc.errors.ConfigurationError
        If the file is missing or invalid.
    promptproc.errors.ServiceUnavailableError
        If the database cannot be reached.
    """
    if not uri:
        raise InvalidQuantumError("no APDB is configured: set the pipeline's parameters.apdb_config")
    if uri.startswith("label:") or ("://" in uri and not uri.startswith("file://")):
        from lsst.dax.apdb import Apdb

        return Apdb.from_uri(uri)
    return open_apdb(uri.removeprefix("file://"))


def write_region_time(
    butler: Butler, visit: FannedOutVisit, instrument: Instrument, padding_arcsec: float, run: str
) -> DatasetRef:
    """Write the ``region_time`` of a detector-visit: what ``Preprocessing.yaml`` reads.

    Also makes what it needs: the visit's ``group`` dimension record (the
    raw, which normally brings it, has not arrived yet), the ``region_time``
    dataset type and the RUN.  Writing it again for the same group and
    detector in the same RUN is an error of the Butler
    (`lsst.daf.butler.registry.ConflictingDefinitionError`).

    Parameters
    ----------
    butler : `lsst.daf.butler.Butler`
        Writeable Butler of the local repository.
    visit : `promptproc.visit.FannedOutVisit`
        The next-visit event of the detector.
    instrument : `promptproc.instrument.Instrument`
        Its camera.
    padding_arcsec : `float`
        Margin around the predicted footprint (``PRELOAD_PADDING``).
    run : `str`
        RUN collection to write to (e.g. the visit's preload run).

    Returns
    -------
    ref : `lsst.daf.butler.DatasetRef`
        The dataset written.

    Raises
    ------
    promptproc.visit.UnsupportedCoordinatesError
        If the visit's position is not on the sky (then there is nothing to
        preload: skip ``Preprocessing.yaml``).
    """
    from lsst.daf.butler import CollectionType

    from ._dataset_types import register_pipeline_dataset_types

    region_time = RegionTime.for_visit(visit, instrument, padding_arcsec)
    butler.registry.syncDimensionData("group", {"instrument": visit.instrument, "name": visit.groupId})
    register_pipeline_dataset_types(butler, [REGION_TIME])
    butler.collections.register(run, CollectionType.RUN)
    return butler.put(
        region_time,
        REGION_TIME,
        instrument=visit.instrument,
        group=visit.groupId,
        detector=visit.detector,
        run=run,
    )


class PreloadPipeTask(PipelineTask):
    """Read the APDB around a detector before its raw arrives."""

    ConfigClass = PreloadPipeConfig
    _DefaultName = "preload"
    config: PreloadPipeConfig

    def padded_region(self, region: Region) -> Region:
        """The region to read: ``region`` widened by ``padding_arcsec`` (as a circle).

        Parameters
        ----------
        region : `lsst.sphgeom.Region`
            The predicted footprint.

        Returns
        -------
        region : `lsst.sphgeom.Region`
            The footprint itself without padding, else its bounding circle dilated.
        """
        if self.config.padding_arcsec <= 0:
            return region
        return region.getBoundingCircle().dilatedBy(Angle.fromDegrees(self.config.padding_arcsec / 3600.0))

    @timeMethod
    def run(self, region_time: RegionTime, apdb: Apdb) -> Struct:
        """Read the objects and their sources.

        Parameters
        ----------
        region_time : `RegionTime`
            Where and when the detector observes.
        apdb : `lsst.dax.apdb.Apdb`
            The APDB.

        Returns
        -------
        result : `lsst.pipe.base.Struct`
            ``preloaded_dia_objects`` and ``preloaded_dia_sources``
            (`pandas.DataFrame`, every schema column, possibly no rows).
        """
        region = self.padded_region(region_time.region)
        objects = load_dia_objects(apdb, region)
        if self.config.do_load_sources:
            sources = load_dia_source_history(
                apdb, region, objects["diaObjectId"].tolist(), region_time.timespan.begin
            )
        else:
            sources = empty_table_frame(table_columns("DiaSource", apdb))
        self.metadata["n_dia_objects"] = len(objects)
        self.metadata["n_dia_sources"] = len(sources)
        self.log.info("preloaded %d DiaObjects and %d DiaSources", len(objects), len(sources))
        return Struct(preloaded_dia_objects=objects, preloaded_dia_sources=sources)

    def runQuantum(
        self,
        butlerQC: QuantumContext,
        inputRefs: InputQuantizedConnection,
        outputRefs: OutputQuantizedConnection,
    ) -> None:
        """Read the region and time, open the APDB, preload, write the tables."""
        inputs: dict[str, Any] = butlerQC.get(inputRefs)
        with science_errors(self.getName()):
            apdb = open_apdb_uri(self.config.apdb_config)
            outputs = self.run(inputs["region_time"], apdb)
        butlerQC.put(outputs, outputRefs)
