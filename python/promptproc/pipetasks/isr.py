"""``isr``: a raw to a ``post_isr_image``, with the calibrations valid at the exposure.

The calibrations are prerequisite inputs looked up by the exposure's time span
in the CALIBRATION collection (``bias``, ``dark``, ``defects`` per detector,
``flat`` per physical filter and detector); the ``camera`` predicts the WCS
from the commanded pointing in the raw's header.  A step switched off in the
configuration drops its calibration from the connections, so the graph does
not need it.
"""

from __future__ import annotations

from typing import Any

import lsst.pex.config as pex_config
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

from ..errors import ConfigurationError
from ..image import Exposure, RawImage
from ..instrument import Instrument
from ..repo import (
    CAMERA,
    CAMERA_STORAGE_CLASS,
    EXPOSURE_STORAGE_CLASS,
    RAW,
    RAW_STORAGE_CLASS,
    TABLE_STORAGE_CLASS,
)
from ..tasks.isr import IsrConfig, run_isr
from ._dataset_types import EXPOSURE_DIMENSIONS, POST_ISR_IMAGE
from ._errors import science_errors

__all__ = ["IsrPipeConfig", "IsrPipeConnections", "IsrPipeTask"]

_DEFAULT = IsrConfig()


class IsrPipeConnections(PipelineTaskConnections, dimensions=EXPOSURE_DIMENSIONS):
    """Connections of `IsrPipeTask`: one raw, its calibrations, one ``post_isr_image``."""

    raw = cT.Input(
        doc="The raw of one detector (ADU, with overscan).",
        name=RAW,
        storageClass=RAW_STORAGE_CLASS,
        dimensions=EXPOSURE_DIMENSIONS,
    )
    camera = cT.PrerequisiteInput(
        doc="Camera geometry, to predict the WCS from the commanded pointing.",
        name=CAMERA,
        storageClass=CAMERA_STORAGE_CLASS,
        dimensions=("instrument",),
        isCalibration=True,
    )
    bias = cT.PrerequisiteInput(
        doc="Master bias (electrons).",
        name="bias",
        storageClass=EXPOSURE_STORAGE_CLASS,
        dimensions=("instrument", "detector"),
        isCalibration=True,
    )
    dark = cT.PrerequisiteInput(
        doc="Master dark (electrons per second).",
        name="dark",
        storageClass=EXPOSURE_STORAGE_CLASS,
        dimensions=("instrument", "detector"),
        isCalibration=True,
    )
    flat = cT.PrerequisiteInput(
        doc="Master flat of the exposure's physical filter (mean 1).",
        name="flat",
        storageClass=EXPOSURE_STORAGE_CLASS,
        dimensions=("instrument", "physical_filter", "detector"),
        isCalibration=True,
    )
    defects = cT.PrerequisiteInput(
        doc="Known bad-pixel boxes.",
        name="defects",
        storageClass=TABLE_STORAGE_CLASS,
        dimensions=("instrument", "detector"),
        isCalibration=True,
    )
    post_isr_image = cT.Output(
        doc="The exposure in electrons, with mask, variance and predicted WCS.",
        name=POST_ISR_IMAGE,
        storageClass=EXPOSURE_STORAGE_CLASS,
        dimensions=EXPOSURE_DIMENSIONS,
    )

    def __init__(self, *, config: IsrPipeConfig) -> None:
        super().__init__(config=config)
        if not config.do_bias:
            del self.bias
        if not config.do_dark:
            del self.dark
        if not config.do_flat:
            del self.flat
        if not config.do_defects:
            del self.defects


class IsrPipeConfig(PipelineTaskConfig, pipelineConnections=IsrPipeConnections):
    """Configuration of `IsrPipeTask`; the fields of `promptproc.tasks.isr.IsrConfig`."""

    do_overscan = pex_config.Field[bool](
        doc="Subtract the per-row overscan level.", default=_DEFAULT.do_overscan
    )
    overscan_statistic = pex_config.ChoiceField[str](
        doc="Per-row overscan statistic.",
        default=_DEFAULT.overscan_statistic,
        allowed={
            "clipped_mean": "mean within overscan_clip robust sigmas of the row median",
            "median": "median",
            "mean": "mean",
        },
    )
    overscan_clip = pex_config.Field[float](
        doc="Clipping threshold of the overscan mean, robust sigmas.", default=_DEFAULT.overscan_clip
    )
    overscan_skip = pex_config.Field[int](
        doc="Overscan columns next to the imaging area that are ignored.", default=_DEFAULT.overscan_skip
    )
    overscan_smooth_rows = pex_config.Field[int](
        doc="Rows in the running mean of the per-row levels (odd; 1: none).",
        default=_DEFAULT.overscan_smooth_rows,
    )
    do_saturation = pex_config.Field[bool](doc="Flag saturated pixels SAT.", default=_DEFAULT.do_saturation)
    saturated_grow = pex_config.Field[int](
        doc="Pixels by which the SAT mask is grown.", default=_DEFAULT.saturated_grow
    )
    do_bias = pex_config.Field[bool](doc="Subtract the master bias.", default=_DEFAULT.do_bias)
    do_dark = pex_config.Field[bool](doc="Subtract the scaled master dark.", default=_DEFAULT.do_dark)
    do_flat = pex_config.Field[bool](doc="Divide by the master flat.", default=_DEFAULT.do_flat)
    flat_min = pex_config.Field[float](
        doc="Flat values below this are flagged BAD and not divided by.", default=_DEFAULT.flat_min
    )
    do_defects = pex_config.Field[bool](doc="Flag the known defects BAD.", default=_DEFAULT.do_defects)
    do_interpolate = pex_config.Field[bool](
        doc="Interpolate over BAD pixels along rows (flagged INTRP).", default=_DEFAULT.do_interpolate
    )
    interpolate_saturated = pex_config.Field[bool](
        doc="Interpolate over SAT pixels as well.", default=_DEFAULT.interpolate_saturated
    )

    def to_task_config(self) -> IsrConfig:
        """The science configuration these fields describe.

        Returns
        -------
        config : `promptproc.tasks.isr.IsrConfig`
            The frozen dataclass `promptproc.tasks.isr.run_isr` takes.

        Raises
        ------
        promptproc.errors.ConfigurationError
            If the values are inconsistent.
        """
        return IsrConfig(
            do_overscan=self.do_overscan,
            overscan_statistic=self.overscan_statistic,  # type: ignore[arg-type]
            overscan_clip=self.overscan_clip,
            overscan_skip=self.overscan_skip,
            overscan_smooth_rows=self.overscan_smooth_rows,
            do_saturation=self.do_saturation,
            saturated_grow=self.saturated_grow,
            do_bias=self.do_bias,
            do_dark=self.do_dark,
            do_flat=self.do_flat,
            flat_min=self.flat_min,
            do_defects=self.do_defects,
            do_interpolate=self.do_interpolate,
            interpolate_saturated=self.interpolate_saturated,
        )

    def validate(self) -> None:
        """Check the fields, and that they make a valid `IsrConfig`."""
        super().validate()
        try:
            self.to_task_config()
        except ConfigurationError as err:
            raise ValueError(str(err)) from None


class IsrPipeTask(PipelineTask):
    """Instrument signature removal of one detector's raw (`promptproc.tasks.isr.run_isr`)."""

    ConfigClass = IsrPipeConfig
    _DefaultName = "isr"
    config: IsrPipeConfig

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task_config = self.config.to_task_config()

    @timeMethod
    def run(
        self,
        raw: RawImage,
        camera: Instrument,
        bias: Exposure | None = None,
        dark: Exposure | None = None,
        flat: Exposure | None = None,
        defects: Table | None = None,
    ) -> Struct:
        """Remove the instrument signature.

        Parameters
        ----------
        raw : `promptproc.image.RawImage`
            The raw (ADU).
        camera : `promptproc.instrument.Instrument`
            The camera, to predict the WCS.
        bias, dark, flat : `promptproc.image.Exposure`, optional
            Master calibrations (needed when their step is on).
        defects : `astropy.table.Table`, optional
            Defect boxes.

        Returns
        -------
        result : `lsst.pipe.base.Struct`
            ``post_isr_image``: the `promptproc.image.Exposure` in electrons.

        Raises
        ------
        promptproc.errors.BadInputError
            If a calibration is missing or does not match the raw.
        """
        exposure = run_isr(raw, bias, dark, flat, defects, self.task_config, instrument=camera)
        self.metadata["n_saturated"] = int(exposure.metadata.get("ISRNSAT", 0))
        self.metadata["n_bad"] = int(exposure.metadata.get("ISRNBAD", 0))
        return Struct(post_isr_image=exposure)

    def runQuantum(
        self,
        butlerQC: QuantumContext,
        inputRefs: InputQuantizedConnection,
        outputRefs: OutputQuantizedConnection,
    ) -> None:
        """Read the raw and calibrations, run ISR, write the ``post_isr_image``."""
        inputs = butlerQC.get(inputRefs)
        with science_errors(self.getName()):
            outputs = self.run(**inputs)
        butlerQC.put(outputs, outputRefs)
