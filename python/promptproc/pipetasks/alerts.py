"""``alerts``: the Avro alert packets of a detector-visit, with their cutouts.

The task builds and validates the packets and writes them as one
``alert_packets`` dataset (an Avro container file).  It sends nothing: the
worker's export phase hands them to the alert sink only when its APDB store
of the same detector-visit actually happened (see
``promptproc.alerts._sinks`` for the exactly-once strategy).
"""

from __future__ import annotations

from typing import Any

import lsst.pex.config as pex_config
import pandas as pd
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

from ..image import Exposure
from ..repo import ALERT_PACKETS_STORAGE_CLASS, EXPOSURE_STORAGE_CLASS
from ..tasks.alerts import AlertsConfig
from ..tasks.alerts import run as build_packets
from ._common import visit_facts
from ._dataset_types import (
    ALERT_PACKETS,
    DATAFRAME_STORAGE_CLASS,
    DIA_OBJECT_APDB,
    DIA_SOURCE_APDB,
    DIFFERENCE_IMAGE,
    GROUP_DIMENSIONS,
    PRELOADED_DIA_SOURCES,
    TEMPLATE_DETECTOR,
    VISIT_DIMENSIONS,
    VISIT_IMAGE,
)
from ._errors import science_errors
from ._storage import AlertPackets

__all__ = ["AlertsPipeConfig", "AlertsPipeConnections", "AlertsPipeTask"]


class AlertsPipeConnections(PipelineTaskConnections, dimensions=VISIT_DIMENSIONS):
    """Connections of `AlertsPipeTask`."""

    dia_source_apdb = cT.Input(
        doc="APDB DiaSource rows of the detector-visit.",
        name=DIA_SOURCE_APDB,
        storageClass=DATAFRAME_STORAGE_CLASS,
        dimensions=VISIT_DIMENSIONS,
    )
    dia_object_apdb = cT.Input(
        doc="APDB DiaObject rows of the detector-visit.",
        name=DIA_OBJECT_APDB,
        storageClass=DATAFRAME_STORAGE_CLASS,
        dimensions=VISIT_DIMENSIONS,
    )
    preloaded_dia_sources = cT.Input(
        doc="Earlier DiaSources of the preloaded objects (the packets' history).",
        name=PRELOADED_DIA_SOURCES,
        storageClass=DATAFRAME_STORAGE_CLASS,
        dimensions=GROUP_DIMENSIONS,
    )
    difference_image = cT.Input(
        doc="Difference image, for the difference cutouts.",
        name=DIFFERENCE_IMAGE,
        storageClass=EXPOSURE_STORAGE_CLASS,
        dimensions=VISIT_DIMENSIONS,
    )
    visit_image = cT.Input(
        doc="Calibrated science exposure, for the science cutouts.",
        name=VISIT_IMAGE,
        storageClass=EXPOSURE_STORAGE_CLASS,
        dimensions=VISIT_DIMENSIONS,
    )
    template_detector = cT.Input(
        doc="Warped template, for the template cutouts.",
        name=TEMPLATE_DETECTOR,
        storageClass=EXPOSURE_STORAGE_CLASS,
        dimensions=VISIT_DIMENSIONS,
    )
    alert_packets = cT.Output(
        doc="The validated alert packets of the detector-visit (Avro container file).",
        name=ALERT_PACKETS,
        storageClass=ALERT_PACKETS_STORAGE_CLASS,
        dimensions=VISIT_DIMENSIONS,
    )

    def __init__(self, *, config: AlertsPipeConfig) -> None:
        super().__init__(config=config)
        if not config.do_history:
            del self.preloaded_dia_sources


class AlertsPipeConfig(PipelineTaskConfig, pipelineConnections=AlertsPipeConnections):
    """Configuration of `AlertsPipeTask`."""

    packets = pex_config.ConfigField(dtype=AlertsConfig, doc="Schema and cutouts of the packets.")
    do_history = pex_config.Field[bool](doc="Fill prvDiaSources from the preloaded DiaSources.", default=True)


class AlertsPipeTask(PipelineTask):
    """Alert packaging of one detector-visit (`promptproc.tasks.alerts.run`)."""

    ConfigClass = AlertsPipeConfig
    _DefaultName = "alerts"
    config: AlertsPipeConfig

    @timeMethod
    def run(
        self,
        dia_source_apdb: pd.DataFrame,
        dia_object_apdb: pd.DataFrame,
        *,
        difference_image: Exposure,
        visit_image: Exposure | None = None,
        template_detector: Exposure | None = None,
        preloaded_dia_sources: pd.DataFrame | None = None,
        observation_reason: str | None = None,
        target_name: str | None = None,
    ) -> Struct:
        """Build the packets.

        Parameters
        ----------
        dia_source_apdb, dia_object_apdb : `pandas.DataFrame`
            The rows association made.
        difference_image : `promptproc.image.Exposure`
            Difference image to cut out.
        visit_image, template_detector : `promptproc.image.Exposure`, optional
            Science and template images to cut out.
        preloaded_dia_sources : `pandas.DataFrame`, optional
            Earlier DiaSources of the objects.
        observation_reason, target_name : `str`, optional
            From the visit.

        Returns
        -------
        result : `lsst.pipe.base.Struct`
            ``alert_packets``: the `AlertPackets`.
        """
        result = build_packets(
            dia_source_apdb,
            dia_object_apdb,
            difference=difference_image,
            science=visit_image,
            template=template_detector,
            history=preloaded_dia_sources,
            config=self.config.packets,
            observation_reason=observation_reason,
            target_name=target_name,
        )
        self.metadata["n_alerts"] = result.n_alerts
        return Struct(alert_packets=AlertPackets.from_schema(result.alerts, result.schema))

    def runQuantum(
        self,
        butlerQC: QuantumContext,
        inputRefs: InputQuantizedConnection,
        outputRefs: OutputQuantizedConnection,
    ) -> None:
        """Read the rows, history and images, build the packets, write ``alert_packets``."""
        inputs: dict[str, Any] = butlerQC.get(inputRefs)
        facts = visit_facts(butlerQC.quantum.dataId)
        with science_errors(self.getName()):
            outputs = self.run(
                inputs.pop("dia_source_apdb"),
                inputs.pop("dia_object_apdb"),
                observation_reason=facts.observation_reason,
                target_name=facts.target_name,
                **inputs,
            )
        butlerQC.put(outputs, outputRefs)
