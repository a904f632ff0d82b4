"""``calibrate``: a ``post_isr_image`` to a ``visit_image``, its sources and summary.

The reference catalog is a prerequisite input: every ``sim_refcat`` shard
(HTM level 7) whose trixel overlaps the quantum's ``visit_detector_region``;
the quantum-graph builder finds them spatially, and they are loaded only
when the task runs (``deferLoad``).  No shard at all is not a graph-building
error (``minimum=0``): the quantum runs and fails with a clear reason.

When the calibration fails (`~promptproc.tasks.errors.CalibrationFailure`),
the task still writes a ``visit_summary`` row naming the failed step and
reason, then raises `~lsst.pipe.base.AnnotatedPartialOutputsError` chained
to a `CalibrationAlgorithmError`: with the executor's default
``raise_on_partial_outputs=True`` the quantum fails with that error and
every downstream quantum is blocked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import lsst.pex.config as pex_config
import numpy as np
from astropy.table import Table, vstack
from lsst.daf.butler import DeferredDatasetHandle
from lsst.pipe.base import (
    AnnotatedPartialOutputsError,
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
from ..repo import EXPOSURE_STORAGE_CLASS, HTM_LEVEL, REFCAT, TABLE_STORAGE_CLASS
from ..tasks.calibrate import CalibrateConfig, CalibrateTask, CalibrationSummary
from ..tasks.errors import CalibrationFailure
from ._common import only_one
from ._dataset_types import (
    EXPOSURE_DIMENSIONS,
    POST_ISR_IMAGE,
    VISIT_DIMENSIONS,
    VISIT_IMAGE,
    VISIT_SOURCES,
    VISIT_SUMMARY,
)
from ._errors import CalibrationAlgorithmError, science_errors

__all__ = ["CalibratePipeConfig", "CalibratePipeConnections", "CalibratePipeTask", "summary_table"]

_DEFAULT = CalibrateConfig()


class CalibratePipeConnections(PipelineTaskConnections, dimensions=VISIT_DIMENSIONS):
    """Connections of `CalibratePipeTask`."""

    post_isr_image = cT.Input(
        doc="The ISR output of the visit's exposure (one-to-one visits: exactly one).",
        name=POST_ISR_IMAGE,
        storageClass=EXPOSURE_STORAGE_CLASS,
        dimensions=EXPOSURE_DIMENSIONS,
        multiple=True,
    )
    refcat = cT.PrerequisiteInput(
        doc="Reference-catalog shards overlapping the detector (found spatially, loaded when used).",
        name=REFCAT,
        storageClass=TABLE_STORAGE_CLASS,
        dimensions=(f"htm{HTM_LEVEL}",),
        deferLoad=True,
        multiple=True,
        minimum=0,
    )
    visit_image = cT.Output(
        doc="Background-subtracted exposure with fitted WCS, PSF and photometric calibration.",
        name=VISIT_IMAGE,
        storageClass=EXPOSURE_STORAGE_CLASS,
        dimensions=VISIT_DIMENSIONS,
    )
    visit_sources = cT.Output(
        doc="Sources measured on the visit image (pixels, degrees, nJy).",
        name=VISIT_SOURCES,
        storageClass=TABLE_STORAGE_CLASS,
        dimensions=VISIT_DIMENSIONS,
    )
    visit_summary = cT.Output(
        doc="One row of calibration metrics (or of the failure) of the detector-visit.",
        name=VISIT_SUMMARY,
        storageClass=TABLE_STORAGE_CLASS,
        dimensions=VISIT_DIMENSIONS,
    )


class CalibratePipeConfig(PipelineTaskConfig, pipelineConnections=CalibratePipeConnections):
    """Configuration of `CalibratePipeTask`: the main fields of `promptproc.tasks.calibrate.CalibrateConfig`.

    Fields not mirrored here keep the science defaults.
    """

    background_cell_size = pex_config.Field[int](
        doc="Background mesh cell, pixels.", default=_DEFAULT.background.cell_size
    )
    background_passes = pex_config.ChoiceField[int](
        doc="Background passes.",
        default=_DEFAULT.background_passes,
        allowed={1: "from the ISR mask only", 2: "again with the detected sources masked"},
    )
    initial_fwhm_arcsec = pex_config.Field[float](
        doc="Seeing guess when the exposure has no PSF, arcseconds.", default=_DEFAULT.initial_fwhm_arcsec
    )
    detection_threshold = pex_config.Field[float](
        doc="Detection threshold, sigmas of the median sky noise.", default=_DEFAULT.detection.threshold
    )
    psf_min_snr = pex_config.Field[float](
        doc="Least signal-to-noise ratio of a PSF star.", default=_DEFAULT.psf.min_snr
    )
    psf_min_stars = pex_config.Field[int](doc="Fewest PSF stars.", default=_DEFAULT.psf.min_stars)
    do_cosmic_rays = pex_config.Field[bool](
        doc="Find, flag (CR) and repair cosmic rays once the PSF is known.", default=_DEFAULT.do_cosmic_rays
    )
    psf_model = pex_config.ChoiceField[str](
        doc="PSF model.",
        default=_DEFAULT.psf.model,
        allowed={"pixel": "stacked pixel image", "moffat": "fitted Moffat profile"},
    )
    do_astrometry = pex_config.Field[bool](
        doc="Fit the WCS to the reference catalog.", default=_DEFAULT.do_astrometry
    )
    astrometry_max_offset_arcsec = pex_config.Field[float](
        doc="Largest offset of the predicted WCS searched, arcseconds.",
        default=_DEFAULT.astrometry.max_offset_arcsec,
    )
    astrometry_match_radius_arcsec = pex_config.Field[float](
        doc="Source-reference match radius, arcseconds.", default=_DEFAULT.astrometry.match_radius_arcsec
    )
    astrometry_min_matches = pex_config.Field[int](
        doc="Fewest reference matches of an accepted WCS.", default=_DEFAULT.astrometry.min_matches
    )
    astrometry_max_rms_arcsec = pex_config.Field[float](
        doc="Largest residual RMS of an accepted WCS, arcseconds.", default=_DEFAULT.astrometry.max_rms_arcsec
    )
    astrometry_sip_order = pex_config.Field[int](
        doc="SIP distortion order (0: none).", default=_DEFAULT.astrometry.sip_order
    )
    do_photometry = pex_config.Field[bool](
        doc="Fit the photometric zero point.", default=_DEFAULT.do_photometry
    )
    photometry_min_snr = pex_config.Field[float](
        doc="Least signal-to-noise ratio of a zero-point star.", default=_DEFAULT.photometry.min_snr
    )
    photometry_min_stars = pex_config.Field[int](
        doc="Fewest zero-point stars.", default=_DEFAULT.photometry.min_stars
    )

    def to_task_config(self) -> CalibrateConfig:
        """The science configuration: the defaults with these fields replaced.

        Returns
        -------
        config : `promptproc.tasks.calibrate.CalibrateConfig`
            The frozen dataclass `~promptproc.tasks.calibrate.CalibrateTask` takes.
        """
        base = CalibrateConfig()
        return dataclasses.replace(
            base,
            background=dataclasses.replace(base.background, cell_size=self.background_cell_size),
            background_passes=self.background_passes,
            initial_fwhm_arcsec=self.initial_fwhm_arcsec,
            detection=dataclasses.replace(base.detection, threshold=self.detection_threshold),
            psf=dataclasses.replace(
                base.psf, min_snr=self.psf_min_snr, min_stars=self.psf_min_stars, model=self.psf_model
            ),
            do_cosmic_rays=self.do_cosmic_rays,
            do_astrometry=self.do_astrometry,
            astrometry=dataclasses.replace(
                base.astrometry,
                max_offset_arcsec=self.astrometry_max_offset_arcsec,
                match_radius_arcsec=self.astrometry_match_radius_arcsec,
                min_matches=self.astrometry_min_matches,
                max_rms_arcsec=self.astrometry_max_rms_arcsec,
                sip_order=self.astrometry_sip_order,
            ),
            do_photometry=self.do_photometry,
            photometry=dataclasses.replace(
                base.photometry, min_snr=self.photometry_min_snr, min_stars=self.photometry_min_stars
            ),
        )

    def validate(self) -> None:
        """Check the fields, and that they make a valid `CalibrateConfig`."""
        super().validate()
        try:
            self.to_task_config()
        except (ValueError, TypeError) as err:
            raise ValueError(f"invalid calibration configuration: {err}") from None


def summary_table(
    visit: int,
    detector: int,
    summary: CalibrationSummary | None,
    failure: CalibrationFailure | None = None,
) -> Table:
    """The one-row ``visit_summary`` table of a detector-visit.

    Parameters
    ----------
    visit, detector : `int`
        The detector-visit.
    summary : `promptproc.tasks.calibrate.CalibrationSummary` or `None`
        The metrics; `None` (NaN and 0 columns) when the calibration failed.
    failure : `promptproc.tasks.errors.CalibrationFailure`, optional
        Why it failed.

    Returns
    -------
    table : `astropy.table.Table`
        Columns ``visit``, ``detector``, every `CalibrationSummary` field,
        ``failed_step`` and ``failure`` (empty strings on success).
    """
    row: dict[str, Any] = {"visit": [np.int64(visit)], "detector": [np.int64(detector)]}
    for spec in dataclasses.fields(CalibrationSummary):
        if summary is not None:
            value = getattr(summary, spec.name)
        else:
            value = 0 if spec.type in (int, "int") else float("nan")
        row[spec.name] = [value]
    row["failed_step"] = [failure.step if failure is not None else ""]
    row["failure"] = [failure.reason if failure is not None else ""]
    return Table(row)


class CalibratePipeTask(PipelineTask):
    """Single-frame calibration of one detector-visit (`promptproc.tasks.calibrate.CalibrateTask`)."""

    ConfigClass = CalibratePipeConfig
    _DefaultName = "calibrate"
    config: CalibratePipeConfig

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.science = CalibrateTask(self.config.to_task_config())

    @timeMethod
    def run(
        self,
        post_isr_image: Exposure | Sequence[Exposure],
        refcat: Table | Sequence[Table] | None,
        band: str,
        visit: int = 0,
        detector: int = -1,
    ) -> Struct:
        """Calibrate an ISR-processed exposure.

        Parameters
        ----------
        post_isr_image : `promptproc.image.Exposure` or a sequence of one
            The ISR output.
        refcat : `astropy.table.Table`, a sequence of them, or `None`
            Reference-catalog shards (concatenated here).
        band : `str`
            Band of the visit.
        visit, detector : `int`, optional
            Recorded in the summary row.

        Returns
        -------
        result : `lsst.pipe.base.Struct`
            ``visit_image`` (`promptproc.image.Exposure`), ``visit_sources``
            and ``visit_summary`` (`astropy.table.Table`).

        Raises
        ------
        promptproc.tasks.errors.CalibrationFailure
            If a step fails, including when no reference-catalog shard
            overlaps the detector.
        """
        exposure = only_one(post_isr_image, POST_ISR_IMAGE)
        if refcat is not None and not isinstance(refcat, Table):
            shards = list(refcat)
            if not shards and (self.science.config.do_astrometry or self.science.config.do_photometry):
                raise CalibrationFailure("astrometry", "no reference-catalog shard overlaps the detector")
            refcat = vstack(shards, metadata_conflicts="silent") if shards else None
        result = self.science.run(exposure, refcat, band)
        summary = result.summary
        for name, value in dataclasses.asdict(summary).items():
            self.metadata[name] = value
        if result.cosmic_rays is not None:
            self.metadata["n_cosmic_rays"] = result.cosmic_rays.n_cosmic_rays
            self.metadata["n_cosmic_ray_pixels"] = result.cosmic_rays.n_pixels
        return Struct(
            visit_image=result.exposure,
            visit_sources=result.sources,
            visit_summary=summary_table(visit, detector, summary),
        )

    def runQuantum(
        self,
        butlerQC: QuantumContext,
        inputRefs: InputQuantizedConnection,
        outputRefs: OutputQuantizedConnection,
    ) -> None:
        """Read the ISR output and the shards, calibrate, write the products.

        On a calibration failure only ``visit_summary`` is written, with the
        failed step and reason; see the module notes.
        """
        inputs = butlerQC.get(inputRefs)
        handles: list[DeferredDatasetHandle] = inputs.pop("refcat")
        data_id = butlerQC.quantum.dataId
        visit, detector, band = int(data_id["visit"]), int(data_id["detector"]), str(data_id["band"])
        shards = [handle.get() for handle in handles]
        try:
            with science_errors(self.getName()):
                outputs = self.run(inputs["post_isr_image"], shards, band, visit, detector)
        except CalibrationAlgorithmError as err:
            failure = err.science_error
            assert isinstance(failure, CalibrationFailure)
            butlerQC.put(summary_table(visit, detector, None, failure), outputRefs.visit_summary)
            error = AnnotatedPartialOutputsError.annotate(err, self, log=self.log)
            raise error from err
        butlerQC.put(outputs, outputRefs)
