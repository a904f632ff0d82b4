"""``subtract``: PSF-matched subtraction of the warped template from the visit image.

Writes the ``difference_image``, the template as subtracted
(``template_matched``, science counts: the DIA step measures template fluxes
on it) and a one-row ``difference_kernel`` table with the matching kernel at
the detector centre and the quality of the fit.
"""

from __future__ import annotations

from typing import Any

import lsst.pex.config as pex_config
import numpy as np
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

from ..image import Exposure
from ..repo import EXPOSURE_STORAGE_CLASS, TABLE_STORAGE_CLASS
from ..tasks.subtract import SubtractConfig, SubtractResult, SubtractTask
from ._dataset_types import (
    DIFFERENCE_IMAGE,
    DIFFERENCE_KERNEL,
    TEMPLATE_DETECTOR,
    TEMPLATE_MATCHED,
    VISIT_DIMENSIONS,
    VISIT_IMAGE,
    VISIT_SOURCES,
)
from ._errors import science_errors

__all__ = ["SubtractPipeConfig", "SubtractPipeConnections", "SubtractPipeTask", "kernel_table"]

_DEFAULT = SubtractConfig()


class SubtractPipeConnections(PipelineTaskConnections, dimensions=VISIT_DIMENSIONS):
    """Connections of `SubtractPipeTask`."""

    visit_image = cT.Input(
        doc="Calibrated science exposure.",
        name=VISIT_IMAGE,
        storageClass=EXPOSURE_STORAGE_CLASS,
        dimensions=VISIT_DIMENSIONS,
    )
    visit_sources = cT.Input(
        doc="Science sources, to choose the kernel stamps from.",
        name=VISIT_SOURCES,
        storageClass=TABLE_STORAGE_CLASS,
        dimensions=VISIT_DIMENSIONS,
    )
    template_detector = cT.Input(
        doc="Template warped onto the detector.",
        name=TEMPLATE_DETECTOR,
        storageClass=EXPOSURE_STORAGE_CLASS,
        dimensions=VISIT_DIMENSIONS,
    )
    difference_image = cT.Output(
        doc="Science minus PSF-matched template, science counts.",
        name=DIFFERENCE_IMAGE,
        storageClass=EXPOSURE_STORAGE_CLASS,
        dimensions=VISIT_DIMENSIONS,
    )
    template_matched = cT.Output(
        doc="The template as subtracted (convolved or not), science counts.",
        name=TEMPLATE_MATCHED,
        storageClass=EXPOSURE_STORAGE_CLASS,
        dimensions=VISIT_DIMENSIONS,
    )
    difference_kernel = cT.Output(
        doc="One row: the matching kernel at the detector centre and the fit's quality.",
        name=DIFFERENCE_KERNEL,
        storageClass=TABLE_STORAGE_CLASS,
        dimensions=VISIT_DIMENSIONS,
    )


class SubtractPipeConfig(PipelineTaskConfig, pipelineConnections=SubtractPipeConnections):
    """Configuration of `SubtractPipeTask`: the main fields of `promptproc.tasks.subtract.SubtractConfig`.

    Fields not mirrored here keep the science defaults.
    """

    mode = pex_config.ChoiceField[str](
        doc="Which image is convolved.",
        default=_DEFAULT.mode,
        allowed={
            "auto": "the sharper one",
            "convolveTemplate": "always the template",
            "convolveScience": "always the science image",
        },
    )
    spatial_order = pex_config.Field[int](
        doc="Order of the kernel's spatial variation (0: constant).", default=_DEFAULT.spatial_order
    )
    constant_flux_scaling = pex_config.Field[bool](
        doc="Keep the kernel sum constant over the detector.", default=_DEFAULT.constant_flux_scaling
    )
    background_order = pex_config.Field[int](
        doc="Order of the differential background (-1: none).", default=_DEFAULT.background_order
    )
    kernel_half_min = pex_config.Field[int](
        doc="Least kernel half-width, pixels.", default=_DEFAULT.kernel_half_min
    )
    kernel_half_max = pex_config.Field[int](
        doc="Largest kernel half-width, pixels.", default=_DEFAULT.kernel_half_max
    )
    max_stamps = pex_config.Field[int](doc="Most kernel stamps used.", default=_DEFAULT.max_stamps)
    min_stamps = pex_config.Field[int](doc="Fewer usable stamps is a failure.", default=_DEFAULT.min_stamps)
    stamp_min_snr = pex_config.Field[float](
        doc="Least PSF signal-to-noise ratio of a stamp star.", default=_DEFAULT.stamp_min_snr
    )
    stamp_grid = pex_config.Field[int](
        doc="Stamps are spread over a stamp_grid x stamp_grid grid of cells.", default=_DEFAULT.stamp_grid
    )

    def to_task_config(self) -> SubtractConfig:
        """The science configuration: the defaults with these fields replaced.

        Returns
        -------
        config : `promptproc.tasks.subtract.SubtractConfig`
            The frozen dataclass `~promptproc.tasks.subtract.SubtractTask` takes.
        """
        return SubtractConfig(
            mode=self.mode,  # type: ignore[arg-type]
            spatial_order=self.spatial_order,
            constant_flux_scaling=self.constant_flux_scaling,
            background_order=self.background_order,
            kernel_half_min=self.kernel_half_min,
            kernel_half_max=self.kernel_half_max,
            max_stamps=self.max_stamps,
            min_stamps=self.min_stamps,
            stamp_min_snr=self.stamp_min_snr,
            stamp_grid=self.stamp_grid,
        )

    def validate(self) -> None:
        """Check the fields, and that they make a valid `SubtractConfig`."""
        super().validate()
        self.to_task_config()


def kernel_table(result: SubtractResult) -> Table:
    """The one-row ``difference_kernel`` table of a subtraction.

    Parameters
    ----------
    result : `promptproc.tasks.subtract.SubtractResult`
        The subtraction.

    Returns
    -------
    table : `astropy.table.Table`
        ``kernel`` (the kernel at the detector centre, shape ``(1, n, n)``),
        ``kernel_sum``, ``mode``, ``n_stamps``, ``background_offset``,
        ``residual_mean``, ``residual_std_ratio``, ``residual_mad_ratio``.
    """
    return Table(
        {
            "kernel": np.asarray(result.kernel, dtype=np.float64)[np.newaxis],
            "kernel_sum": [float(result.kernel_sum)],
            "mode": [result.mode],
            "n_stamps": [np.int64(result.n_stamps)],
            "background_offset": [float(result.background_offset)],
            "residual_mean": [float(result.residual_mean)],
            "residual_std_ratio": [float(result.residual_std_ratio)],
            "residual_mad_ratio": [float(result.residual_mad_ratio)],
        }
    )


class SubtractPipeTask(PipelineTask):
    """Image subtraction of one detector-visit (`promptproc.tasks.subtract.SubtractTask`)."""

    ConfigClass = SubtractPipeConfig
    _DefaultName = "subtract"
    config: SubtractPipeConfig

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.science = SubtractTask(self.config.to_task_config())

    @timeMethod
    def run(
        self, visit_image: Exposure, template_detector: Exposure, visit_sources: Table | None = None
    ) -> Struct:
        """Subtract the template.

        Parameters
        ----------
        visit_image : `promptproc.image.Exposure`
            Calibrated science exposure.
        template_detector : `promptproc.image.Exposure`
            Warped template.
        visit_sources : `astropy.table.Table`, optional
            Science sources for the kernel stamps.

        Returns
        -------
        result : `lsst.pipe.base.Struct`
            ``difference_image``, ``template_matched`` (`promptproc.image.Exposure`)
            and ``difference_kernel`` (`astropy.table.Table`, see `kernel_table`).

        Raises
        ------
        promptproc.tasks.errors.SubtractionError
            If the kernel cannot be fitted.
        """
        result = self.science.run(visit_image, template_detector, visit_sources)
        self.metadata["mode"] = result.mode
        self.metadata["kernel_sum"] = result.kernel_sum
        self.metadata["n_stamps"] = result.n_stamps
        self.metadata["residual_std_ratio"] = result.residual_std_ratio
        return Struct(
            difference_image=result.difference,
            template_matched=result.matched_template,
            difference_kernel=kernel_table(result),
        )

    def runQuantum(
        self,
        butlerQC: QuantumContext,
        inputRefs: InputQuantizedConnection,
        outputRefs: OutputQuantizedConnection,
    ) -> None:
        """Read the science exposure, sources and template, subtract, write the products."""
        inputs = butlerQC.get(inputRefs)
        with science_errors(self.getName()):
            outputs = self.run(**inputs)
        butlerQC.put(outputs, outputRefs)
