"""``template``: the template patches overlapping a detector, warped onto its pixel grid.

``template_coadd`` is a regular input (``multiple``) of the patches whose
region overlaps the quantum's ``visit_detector_region``; the quantum-graph
builder relates them spatially.  The task's dimensions include ``skymap``
so that one quantum never mixes the patches of two sky maps.  With no template patch at all
there is no quantum (and in ``ApPipe.yaml`` no graph: the worker then runs
``SingleFrame.yaml``).  Only the ``wcs`` component of the ``visit_image`` is
read; the detector size comes from the ``camera``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lsst.pex.config as pex_config
from astropy.wcs import WCS
from lsst.daf.butler import DeferredDatasetHandle
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
from ..instrument import Instrument
from ..repo import CAMERA, CAMERA_STORAGE_CLASS, EXPOSURE_STORAGE_CLASS, TEMPLATE
from ..tasks.warp import TemplateWarpTask, WarpConfig
from ._dataset_types import TEMPLATE_DETECTOR, VISIT_DIMENSIONS, VISIT_IMAGE
from ._errors import science_errors

__all__ = ["TemplatePipeConfig", "TemplatePipeConnections", "TemplatePipeTask"]

_DEFAULT = WarpConfig()


class TemplatePipeConnections(PipelineTaskConnections, dimensions=(*VISIT_DIMENSIONS, "skymap")):
    """Connections of `TemplatePipeTask`."""

    template_coadd = cT.Input(
        doc="Template patches of the visit's band overlapping the detector.",
        name=TEMPLATE,
        storageClass=EXPOSURE_STORAGE_CLASS,
        dimensions=("skymap", "tract", "patch", "band"),
        multiple=True,
        deferLoad=True,
    )
    science_wcs = cT.Input(
        doc="WCS of the calibrated science exposure (header component only).",
        name=f"{VISIT_IMAGE}.wcs",
        storageClass="PromptWcs",
        dimensions=VISIT_DIMENSIONS,
    )
    camera = cT.PrerequisiteInput(
        doc="Camera geometry, for the detector size.",
        name=CAMERA,
        storageClass=CAMERA_STORAGE_CLASS,
        dimensions=("instrument",),
        isCalibration=True,
    )
    template_detector = cT.Output(
        doc="Template warped onto the detector's pixel grid (nJy per pixel).",
        name=TEMPLATE_DETECTOR,
        storageClass=EXPOSURE_STORAGE_CLASS,
        dimensions=VISIT_DIMENSIONS,
    )


class TemplatePipeConfig(PipelineTaskConfig, pipelineConnections=TemplatePipeConnections):
    """Configuration of `TemplatePipeTask`; the fields of `promptproc.tasks.warp.WarpConfig`."""

    interpolation = pex_config.ChoiceField[str](
        doc="Image interpolation.",
        default=_DEFAULT.interpolation,
        allowed={"cubic": "cubic B-spline", "linear": "bilinear"},
    )
    grid_spacing = pex_config.Field[int](
        doc="Science pixels between exactly mapped nodes.", default=_DEFAULT.grid_spacing
    )
    border = pex_config.Field[int](
        doc="Template pixels at a patch edge (or next to NO_DATA) not used.", default=_DEFAULT.border
    )
    min_coverage = pex_config.Field[float](
        doc="A covered fraction at or below this means no template (no work).", default=_DEFAULT.min_coverage
    )
    block_rows = pex_config.Field[int](doc="Science rows warped at once.", default=_DEFAULT.block_rows)

    def to_task_config(self) -> WarpConfig:
        """The science configuration these fields describe.

        Returns
        -------
        config : `promptproc.tasks.warp.WarpConfig`
            The frozen dataclass `~promptproc.tasks.warp.TemplateWarpTask` takes.
        """
        return WarpConfig(
            interpolation=self.interpolation,  # type: ignore[arg-type]
            grid_spacing=self.grid_spacing,
            border=self.border,
            min_coverage=self.min_coverage,
            block_rows=self.block_rows,
        )

    def validate(self) -> None:
        """Check the fields, and that they make a valid `WarpConfig`."""
        super().validate()
        self.to_task_config()


class TemplatePipeTask(PipelineTask):
    """Warp the template patches onto a detector (`promptproc.tasks.warp.TemplateWarpTask`)."""

    ConfigClass = TemplatePipeConfig
    _DefaultName = "template"
    config: TemplatePipeConfig

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.science = TemplateWarpTask(self.config.to_task_config())

    @timeMethod
    def run(self, template_coadd: Sequence[Exposure], science_wcs: WCS, shape: tuple[int, int]) -> Struct:
        """Warp and combine template patches.

        Parameters
        ----------
        template_coadd : sequence of `promptproc.image.Exposure`
            The patches.
        science_wcs : `astropy.wcs.WCS`
            WCS of the science exposure.
        shape : `tuple` [`int`, `int`]
            ``(height, width)`` of the detector.

        Returns
        -------
        result : `lsst.pipe.base.Struct`
            ``template_detector``: the warped template.

        Raises
        ------
        promptproc.tasks.errors.TemplateCoverageError
            If the patches cover too little of the detector.
        """
        result = self.science.run(list(template_coadd), science_wcs, shape)
        self.metadata["coverage"] = result.coverage
        self.metadata["n_patches"] = result.n_patches
        self.metadata["max_mapping_error"] = result.max_mapping_error
        return Struct(template_detector=result.exposure)

    def runQuantum(
        self,
        butlerQC: QuantumContext,
        inputRefs: InputQuantizedConnection,
        outputRefs: OutputQuantizedConnection,
    ) -> None:
        """Read the patches and the science WCS, warp, write ``template_detector``."""
        inputs = butlerQC.get(inputRefs)
        camera: Instrument = inputs["camera"]
        detector = camera.detector(int(butlerQC.quantum.dataId["detector"]))
        handles: list[DeferredDatasetHandle] = inputs["template_coadd"]
        templates = [handle.get() for handle in handles]
        with science_errors(self.getName()):
            outputs = self.run(templates, inputs["science_wcs"], (detector.height, detector.width))
        butlerQC.put(outputs, outputRefs)
