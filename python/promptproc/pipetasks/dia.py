"""``dia``: DIA sources detected and measured on the difference image.

The catalog (``dia_sources``) has APDB-named columns; its row order is
deterministic, which makes the DiaSource IDs the ``associate`` step derives
from it deterministic too.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import lsst.pex.config as pex_config
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
from ..repo import EXPOSURE_STORAGE_CLASS, TABLE_STORAGE_CLASS
from ..tasks.dia import DiaConfig, DiaTask
from ._dataset_types import DIA_SOURCES, DIFFERENCE_IMAGE, TEMPLATE_MATCHED, VISIT_DIMENSIONS, VISIT_IMAGE
from ._errors import science_errors

__all__ = ["DiaPipeConfig", "DiaPipeConnections", "DiaPipeTask"]

_DEFAULT = DiaConfig()


class DiaPipeConnections(PipelineTaskConnections, dimensions=VISIT_DIMENSIONS):
    """Connections of `DiaPipeTask`."""

    difference_image = cT.Input(
        doc="Difference image.",
        name=DIFFERENCE_IMAGE,
        storageClass=EXPOSURE_STORAGE_CLASS,
        dimensions=VISIT_DIMENSIONS,
    )
    visit_image = cT.Input(
        doc="Calibrated science exposure, for the forced science fluxes.",
        name=VISIT_IMAGE,
        storageClass=EXPOSURE_STORAGE_CLASS,
        dimensions=VISIT_DIMENSIONS,
    )
    template_matched = cT.Input(
        doc="The template as subtracted, for the forced template fluxes.",
        name=TEMPLATE_MATCHED,
        storageClass=EXPOSURE_STORAGE_CLASS,
        dimensions=VISIT_DIMENSIONS,
    )
    dia_sources = cT.Output(
        doc="DIA sources of the detector-visit (APDB column names; pixels, degrees, nJy).",
        name=DIA_SOURCES,
        storageClass=TABLE_STORAGE_CLASS,
        dimensions=VISIT_DIMENSIONS,
    )

    def __init__(self, *, config: DiaPipeConfig) -> None:
        super().__init__(config=config)
        if not config.do_forced_fluxes:
            del self.visit_image
            del self.template_matched


class DiaPipeConfig(PipelineTaskConfig, pipelineConnections=DiaPipeConnections):
    """Configuration of `DiaPipeTask`: the main fields of `promptproc.tasks.dia.DiaConfig`.

    Fields not mirrored here keep the science defaults.
    """

    detection_threshold = pex_config.Field[float](
        doc="Detection threshold on the difference, sigmas.", default=_DEFAULT.detection.threshold
    )
    min_pixels = pex_config.Field[int](
        doc="Fewest pixels above threshold in a detection.", default=_DEFAULT.detection.min_pixels
    )
    rescale_to_empirical_noise = pex_config.Field[bool](
        doc="Divide the significance by its own robust scatter (absorbs correlated noise).",
        default=_DEFAULT.detection.rescale_to_empirical_noise,
    )
    merge_dipoles = pex_config.Field[bool](
        doc="Merge adjacent positive/negative pairs into dipoles.", default=_DEFAULT.merge_dipoles
    )
    dipole_max_separation_fwhm = pex_config.Field[float](
        doc="Largest lobe separation of a dipole, PSF FWHM.", default=_DEFAULT.dipole_max_separation_fwhm
    )
    do_filter = pex_config.Field[bool](
        doc="Drop sources at the edge, on masked pixels, in saturated stars' halos, fragments, "
        "and lobes of imperfectly subtracted template sources.",
        default=_DEFAULT.do_filter,
    )
    filter_edge_margin = pex_config.Field[float](
        doc="Sources closer than this to the image boundary are dropped, pixels.",
        default=_DEFAULT.filter.edge_margin,
    )
    do_forced_fluxes = pex_config.Field[bool](
        doc="Measure forced PSF fluxes on the science image and the matched template.", default=True
    )

    def to_task_config(self) -> DiaConfig:
        """The science configuration: the defaults with these fields replaced.

        Returns
        -------
        config : `promptproc.tasks.dia.DiaConfig`
            The frozen dataclass `~promptproc.tasks.dia.DiaTask` takes.
        """
        base = DiaConfig()
        return dataclasses.replace(
            base,
            detection=dataclasses.replace(
                base.detection,
                threshold=self.detection_threshold,
                min_pixels=self.min_pixels,
                rescale_to_empirical_noise=self.rescale_to_empirical_noise,
            ),
            merge_dipoles=self.merge_dipoles,
            dipole_max_separation_fwhm=self.dipole_max_separation_fwhm,
            do_filter=self.do_filter,
            filter=dataclasses.replace(base.filter, edge_margin=self.filter_edge_margin),
        )

    def validate(self) -> None:
        """Check the fields, and that they make a valid `DiaConfig`."""
        super().validate()
        self.to_task_config()


class DiaPipeTask(PipelineTask):
    """DIA detection and measurement of one detector-visit (`promptproc.tasks.dia.DiaTask`)."""

    ConfigClass = DiaPipeConfig
    _DefaultName = "dia"
    config: DiaPipeConfig

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.science = DiaTask(self.config.to_task_config())

    @timeMethod
    def run(
        self,
        difference_image: Exposure,
        band: str,
        detector: int,
        visit_image: Exposure | None = None,
        template_matched: Exposure | None = None,
    ) -> Struct:
        """Detect and measure.

        Parameters
        ----------
        difference_image : `promptproc.image.Exposure`
            Difference image with PSF, WCS and photometric calibration.
        band : `str`
            Band of the visit.
        detector : `int`
            Detector ID recorded in the catalog.
        visit_image, template_matched : `promptproc.image.Exposure`, optional
            For the forced science and template fluxes; the visit image
            also sets the saturated stars' halos of the filter.

        Returns
        -------
        result : `lsst.pipe.base.Struct`
            ``dia_sources``: the `astropy.table.Table` of DIA sources.
        """
        result = self.science.run(difference_image, visit_image, template_matched, band, detector)
        self.metadata["n_dia_sources"] = len(result.sources)
        self.metadata["n_positive"] = result.n_positive
        self.metadata["n_negative"] = result.n_negative
        self.metadata["n_dipoles"] = result.n_dipoles
        self.metadata["noise_scale"] = result.noise_scale
        self.metadata["n_rejected"] = len(result.rejected)
        for reason, count in result.rejections.items():
            self.metadata[f"n_rejected_{reason}"] = count
        return Struct(dia_sources=result.sources)

    def runQuantum(
        self,
        butlerQC: QuantumContext,
        inputRefs: InputQuantizedConnection,
        outputRefs: OutputQuantizedConnection,
    ) -> None:
        """Read the difference (and science and matched template), detect, write ``dia_sources``."""
        inputs = butlerQC.get(inputRefs)
        data_id = butlerQC.quantum.dataId
        with science_errors(self.getName()):
            outputs = self.run(band=str(data_id["band"]), detector=int(data_id["detector"]), **inputs)
        butlerQC.put(outputs, outputRefs)
