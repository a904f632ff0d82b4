"""``associate``: DIA sources matched to the preloaded DIA objects, as APDB rows.

The task does **not** write to the APDB.  It writes the rows to store,
``dia_source_apdb`` and ``dia_object_apdb`` (APDB-schema DataFrames with
deterministic IDs), and the worker's export phase stores them once
(`promptproc.apdb.store_visit`), so re-running a quantum never duplicates a
row.

The preloaded objects have dimensions (instrument, group, detector): the
preprocessing pipeline makes them before any raw (and so any exposure or
visit) exists.  The quantum-graph builder relates them to this task's
(instrument, visit, detector) quanta through the exposure of the visit
(``exposure.group`` and ``visit_definition``), which the ``isr`` task's
dimensions bring into the graph's query.
"""

from __future__ import annotations

import lsst.pex.config as pex_config
import pandas as pd
from astropy.table import Table
from lsst.pipe.base import (
    InputQuantizedConnection,
    OutputQuantizedConnection,
    PipelineTask,
    PipelineTaskConfig,
    PipelineTaskConnections,
    QuantumContext,
    Struct,
)
from lsst.pipe.base import connectionTypes as cT
from lsst.utils.timer import timeMethod

from ..ids import DiaIdPacker
from ..repo import TABLE_STORAGE_CLASS
from ..tasks.associate import AssociationConfig
from ..tasks.associate import run as associate
from ._common import visit_facts
from ._dataset_types import (
    DATAFRAME_STORAGE_CLASS,
    DIA_OBJECT_APDB,
    DIA_SOURCE_APDB,
    DIA_SOURCES,
    GROUP_DIMENSIONS,
    PRELOADED_DIA_OBJECTS,
    VISIT_DIMENSIONS,
)
from ._errors import science_errors

__all__ = ["AssociatePipeConfig", "AssociatePipeConnections", "AssociatePipeTask"]


class AssociatePipeConnections(PipelineTaskConnections, dimensions=VISIT_DIMENSIONS):
    """Connections of `AssociatePipeTask`."""

    dia_sources = cT.Input(
        doc="DIA sources of the detector-visit.",
        name=DIA_SOURCES,
        storageClass=TABLE_STORAGE_CLASS,
        dimensions=VISIT_DIMENSIONS,
    )
    preloaded_dia_objects = cT.Input(
        doc="DiaObjects read from the APDB around the detector before the raw arrived.",
        name=PRELOADED_DIA_OBJECTS,
        storageClass=DATAFRAME_STORAGE_CLASS,
        dimensions=GROUP_DIMENSIONS,
    )
    dia_source_apdb = cT.Output(
        doc="APDB DiaSource rows to store, each with its diaObjectId.",
        name=DIA_SOURCE_APDB,
        storageClass=DATAFRAME_STORAGE_CLASS,
        dimensions=VISIT_DIMENSIONS,
    )
    dia_object_apdb = cT.Output(
        doc="APDB DiaObject rows to store: new versions of matched objects, then new objects.",
        name=DIA_OBJECT_APDB,
        storageClass=DATAFRAME_STORAGE_CLASS,
        dimensions=VISIT_DIMENSIONS,
    )


class AssociatePipeConfig(PipelineTaskConfig, pipelineConnections=AssociatePipeConnections):
    """Configuration of `AssociatePipeTask`."""

    association = pex_config.ConfigField(
        dtype=AssociationConfig, doc="Matching of DIA sources to DIA objects."
    )


class AssociatePipeTask(PipelineTask):
    """Association of one detector-visit (`promptproc.tasks.associate.run`)."""

    ConfigClass = AssociatePipeConfig
    _DefaultName = "associate"
    config: AssociatePipeConfig

    @timeMethod
    def run(
        self,
        dia_sources: Table | pd.DataFrame,
        preloaded_dia_objects: pd.DataFrame,
        *,
        visit: int,
        detector: int,
        band: str,
        midpoint_mjd_tai: float,
        id_packer: DiaIdPacker,
    ) -> Struct:
        """Associate.

        Parameters
        ----------
        dia_sources : `astropy.table.Table` or `pandas.DataFrame`
            The DIA source catalog.
        preloaded_dia_objects : `pandas.DataFrame`
            The preloaded DiaObjects.
        visit, detector : `int`
            The detector-visit.
        band : `str`
            Band of the visit.
        midpoint_mjd_tai : `float`
            Mid-exposure time, MJD (TAI).
        id_packer : `promptproc.ids.DiaIdPacker`
            Makes the DiaSource IDs.

        Returns
        -------
        result : `lsst.pipe.base.Struct`
            ``dia_source_apdb`` and ``dia_object_apdb`` (`pandas.DataFrame`).
        """
        result = associate(
            dia_sources,
            preloaded_dia_objects,
            visit,
            detector,
            band,
            midpoint_mjd_tai,
            id_packer=id_packer,
            config=self.config.association,
        )
        self.metadata["n_matched"] = result.n_matched
        self.metadata["n_new"] = result.n_new
        self.metadata["n_rejected"] = result.n_rejected
        return Struct(dia_source_apdb=result.dia_sources, dia_object_apdb=result.dia_objects)

    def runQuantum(
        self,
        butlerQC: QuantumContext,
        inputRefs: InputQuantizedConnection,
        outputRefs: OutputQuantizedConnection,
    ) -> None:
        """Read the DIA sources and the preloaded objects, associate, write the rows."""
        inputs = butlerQC.get(inputRefs)
        facts = visit_facts(butlerQC.quantum.dataId)
        with science_errors(self.getName()):
            outputs = self.run(
                inputs["dia_sources"],
                inputs["preloaded_dia_objects"],
                visit=facts.visit,
                detector=facts.detector,
                band=facts.band,
                midpoint_mjd_tai=facts.midpoint_mjd_tai,
                id_packer=DiaIdPacker(facts.detector_max),
            )
        butlerQC.put(outputs, outputRefs)
