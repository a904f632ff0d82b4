"""Single-frame calibration: background, detection, PSF, astrometry and zero point.

Steps, on an ISR-processed exposure (electrons):

1. background measured with the existing mask and subtracted;
2. detection (matched filter with the exposure's PSF, or a Gaussian of
   `CalibrateConfig.initial_fwhm_arcsec`), footprints set ``DETECTED``;
3. background measured again with the footprints masked (second pass,
   `CalibrateConfig.background_passes`), replacing the first;
4. measurement with the first-guess PSF, PSF estimation from the isolated
   bright stars (the size clip keeps cosmic rays out);
5. cosmic rays found with that PSF, interpolated over and flagged ``CR``
   (`CosmicRayTask`, `CalibrateConfig.do_cosmic_rays`); detections whose
   peak pixel was a cosmic ray are dropped;
6. measurement again with the new PSF, on the repaired image;
7. astrometric fit against the reference catalog (new WCS, ``ra``/``dec``
   of every source);
8. photometric zero point from the matched stars (`PhotoCalib`, fluxes in nJy).

A step that cannot give a trustworthy answer raises `CalibrationFailure`
naming the step and the reason.  Pixel convention: ``image[y, x]``, 0-based,
centres at integer coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table

from ..image import Exposure, ImagePsf, PhotoCalib
from .astrometry import AstrometryConfig, AstrometryResult, AstrometryTask, pixel_scale_arcsec
from .background import BackgroundConfig, BackgroundResult, estimate_background
from .cosmic_rays import CosmicRayConfig, CosmicRayResult, CosmicRayTask
from .detection import DetectionConfig, DetectionTask
from .errors import CalibrationFailure
from .measurement import MeasurementConfig, MeasurementTask
from .photometry import PhotometryConfig, PhotometryResult, PhotometryTask
from .psf import PsfEstimateConfig, PsfEstimateResult, PsfEstimateTask

__all__ = ["CalibrateConfig", "CalibrateResult", "CalibrateTask", "CalibrationSummary"]


@dataclass(frozen=True)
class CalibrateConfig:
    """What single-frame calibration does.

    Parameters
    ----------
    background : `BackgroundConfig`
        Background mesh.
    detection : `DetectionConfig`
        Source detection (positive only); the threshold is in units of the
        median sky noise (``variance_mode="median"``, one FFT convolution
        less than per-pixel noise; bright stars are detected either way).
    measurement : `MeasurementConfig`
        Source measurement.
    psf : `PsfEstimateConfig`
        PSF estimation.
    cosmic_rays : `CosmicRayConfig`
        Cosmic-ray detection and repair.
    astrometry : `AstrometryConfig`
        WCS fit.
    photometry : `PhotometryConfig`
        Zero point.
    background_passes : `int`
        1: background from the raw mask only; 2: measured again with the
        detected sources masked.
    initial_fwhm_arcsec : `float`
        Seeing guess when the exposure carries no PSF, arcseconds.
    do_cosmic_rays : `bool`
        Find, flag and repair cosmic rays once the PSF is known.
    do_astrometry : `bool`
        Fit the WCS (else keep the input WCS).
    do_photometry : `bool`
        Fit the zero point (else keep the input calibration, if any).
    """

    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    detection: DetectionConfig = field(default_factory=lambda: DetectionConfig(variance_mode="median"))
    measurement: MeasurementConfig = field(default_factory=MeasurementConfig)
    psf: PsfEstimateConfig = field(default_factory=PsfEstimateConfig)
    cosmic_rays: CosmicRayConfig = field(default_factory=CosmicRayConfig)
    astrometry: AstrometryConfig = field(default_factory=AstrometryConfig)
    photometry: PhotometryConfig = field(default_factory=PhotometryConfig)
    background_passes: int = 2
    initial_fwhm_arcsec: float = 1.0
    do_cosmic_rays: bool = True
    do_astrometry: bool = True
    do_photometry: bool = True


@dataclass
class CalibrationSummary:
    """Summary statistics of a calibrated exposure.

    Attributes
    ----------
    n_sources : `int`
        Sources detected.
    psf_fwhm : `float`
        PSF FWHM, pixels.
    psf_fwhm_arcsec : `float`
        PSF FWHM, arcseconds.
    n_psf_stars : `int`
        Stars in the PSF model.
    astrometric_rms : `float`
        WCS residual RMS, arcseconds (NaN without astrometry).
    n_astrometric_matches : `int`
        Reference matches in the WCS fit.
    zero_point : `float`
        AB magnitude of one count (NaN without photometry).
    zero_point_err : `float`
        Its error, magnitudes.
    n_photometric_stars : `int`
        Stars in the zero point.
    background_mean : `float`
        Mean subtracted background, counts per pixel.
    background_rms : `float`
        Median background pixel scatter, counts.
    """

    n_sources: int
    psf_fwhm: float
    psf_fwhm_arcsec: float
    n_psf_stars: int
    astrometric_rms: float
    n_astrometric_matches: int
    zero_point: float
    zero_point_err: float
    n_photometric_stars: int
    background_mean: float
    background_rms: float

    def to_metadata(self) -> dict[str, tuple[float | int, str]]:
        """FITS cards (key: (value, comment)) for the exposure metadata."""
        return {
            "NSOURCE": (self.n_sources, "sources detected in calibration"),
            "PSFFWHM": (self.psf_fwhm, "[pix] PSF FWHM"),
            "SEEING": (self.psf_fwhm_arcsec, "[arcsec] PSF FWHM"),
            "NPSFSTAR": (self.n_psf_stars, "stars in the PSF model"),
            "ASTRMRMS": (self.astrometric_rms, "[arcsec] WCS residual RMS"),
            "ASTRMNUM": (self.n_astrometric_matches, "reference matches in the WCS fit"),
            "MAGZERO": (self.zero_point, "[mag] AB magnitude of one count"),
            "MAGZERR": (self.zero_point_err, "[mag] zero point error"),
            "NPHOTSTR": (self.n_photometric_stars, "stars in the zero point"),
            "BGMEAN": (self.background_mean, "mean subtracted background"),
            "BGRMS": (self.background_rms, "median background pixel scatter"),
        }


@dataclass
class CalibrateResult:
    """Output of `CalibrateTask.run`.

    Attributes
    ----------
    exposure : `Exposure`
        Background-subtracted exposure with ``DETECTED`` (and ``CR``) mask,
        cosmic rays interpolated over, fitted WCS, PSF and photometric
        calibration; summary cards in its metadata (``CRNUM``, ``CRNPIX``:
        cosmic rays and their pixels).
    sources : `astropy.table.Table`
        `MeasurementTask` columns plus ``ra``, ``dec`` (degrees) and, with a
        zero point, ``psfFlux``, ``psfFluxErr``, ``apFlux``, ``apFluxErr``
        (nJy); ``astrom_matched`` and ``photom_used`` mark calibration stars.
    summary : `CalibrationSummary`
        Summary statistics.
    background : `BackgroundResult`
        The subtracted background model.
    psf : `PsfEstimateResult`
        PSF estimation details.
    cosmic_rays : `CosmicRayResult` or `None`
        Cosmic rays found (`None` with ``do_cosmic_rays`` off).
    astrometry : `AstrometryResult` or `None`
        WCS fit details.
    photometry : `PhotometryResult` or `None`
        Zero point details.
    """

    exposure: Exposure
    sources: Table
    summary: CalibrationSummary
    background: BackgroundResult
    psf: PsfEstimateResult
    cosmic_rays: CosmicRayResult | None
    astrometry: AstrometryResult | None
    photometry: PhotometryResult | None


class CalibrateTask:
    """Calibrate a single exposure.

    Parameters
    ----------
    config : `CalibrateConfig`, optional
        Parameters; defaults if not given.
    """

    ConfigClass = CalibrateConfig

    def __init__(self, config: CalibrateConfig | None = None) -> None:
        self.config = config or CalibrateConfig()

    def run(
        self, exposure: Exposure, refcat: Table | None = None, band: str | None = None
    ) -> CalibrateResult:
        """Calibrate an exposure.

        Parameters
        ----------
        exposure : `Exposure`
            ISR output (counts, with variance, mask and a predicted WCS); not modified.
        refcat : `astropy.table.Table`, optional
            Reference catalog (``coord_ra``, ``coord_dec`` in degrees,
            ``{band}_flux`` in nJy); required for astrometry and photometry.
        band : `str`, optional
            Band; by default the exposure's ``visit_info.band``.

        Returns
        -------
        result : `CalibrateResult`
            The calibrated exposure, its sources and summary.

        Raises
        ------
        CalibrationFailure
            If a step fails (``step`` says which).
        """
        config = self.config
        band = band or exposure.visit_info.band
        if exposure.wcs is None and (config.do_astrometry or exposure.psf is None):
            raise CalibrationFailure("astrometry", "the exposure has no WCS to start from")
        if refcat is None and (config.do_astrometry or config.do_photometry):
            raise CalibrationFailure("astrometry", "no reference catalog was given")
        if exposure.psf is not None:
            psf0 = exposure.psf
        else:
            psf0 = ImagePsf.gaussian(config.initial_fwhm_arcsec / pixel_scale_arcsec(exposure.wcs))
        try:
            background = estimate_background(exposure.image, exposure.mask, config.background)
        except ValueError as exc:
            raise CalibrationFailure("background", str(exc)) from None
        work = Exposure(
            image=exposure.image - background.model,
            mask=exposure.mask,
            variance=exposure.variance,
            wcs=exposure.wcs,
            psf=psf0,
            visit_info=exposure.visit_info,
        )
        detection = DetectionTask(config.detection).run(work, psf0)
        work.mask = detection.mask
        if config.background_passes >= 2:
            try:
                background = estimate_background(exposure.image, detection.mask, config.background)
            except ValueError as exc:
                raise CalibrationFailure("background", str(exc)) from None
            work.image = exposure.image - background.model
        measure = MeasurementTask(config.measurement)
        first = measure.run(work, detection.peaks, psf0)
        psf_result = PsfEstimateTask(config.psf).run(work, first)
        work.psf = psf_result.psf
        # From here on the variance is the output's own copy: cosmic rays are repaired in place.
        work.variance = exposure.variance.copy()
        peaks = detection.peaks
        cosmic_rays = None
        if config.do_cosmic_rays:
            cosmic_rays = CosmicRayTask(config.cosmic_rays).run(work, psf_result.psf, in_place=True)
            on_cosmic_ray = cosmic_rays.cosmic_rays[np.asarray(peaks["peak_y"]), np.asarray(peaks["peak_x"])]
            if on_cosmic_ray.any():
                peaks = peaks[~on_cosmic_ray]
                peaks["id"] = np.arange(len(peaks), dtype=np.int64)
        sources = measure.run(work, peaks, psf_result.psf)
        wcs = exposure.wcs
        astrometry = None
        sources["astrom_matched"] = np.zeros(len(sources), dtype=bool)
        if config.do_astrometry:
            astrometry = AstrometryTask(config.astrometry).run(
                sources, refcat, exposure.wcs, exposure.shape, band
            )
            wcs = astrometry.wcs
            sources["astrom_matched"][np.asarray(astrometry.matches["source_row"])] = True
        if wcs is not None:
            ra, dec = wcs.all_pix2world(np.asarray(sources["x"]), np.asarray(sources["y"]), 0)
            sources["ra"], sources["dec"] = ra, dec
            sources["ra"].unit = sources["dec"].unit = "deg"
        photo_calib = exposure.photo_calib
        photometry = None
        sources["photom_used"] = np.zeros(len(sources), dtype=bool)
        if config.do_photometry:
            if astrometry is None:
                raise CalibrationFailure("photometry", "the zero point needs the astrometric matches")
            photometry = PhotometryTask(config.photometry).run(sources, refcat, astrometry.matches, band)
            photo_calib = photometry.photo_calib
            used = photometry.used
            sources["photom_used"][np.asarray(used["source_row"])[np.asarray(used["kept"])]] = True
        if photo_calib is not None:
            _add_calibrated_fluxes(sources, photo_calib)
        scale = pixel_scale_arcsec(wcs) if wcs is not None else float("nan")
        summary = CalibrationSummary(
            n_sources=len(sources),
            psf_fwhm=psf_result.fwhm,
            psf_fwhm_arcsec=psf_result.fwhm * scale,
            n_psf_stars=psf_result.n_stars,
            astrometric_rms=astrometry.rms_arcsec if astrometry else float("nan"),
            n_astrometric_matches=astrometry.n_matched if astrometry else 0,
            zero_point=photometry.zero_point if photometry else float("nan"),
            zero_point_err=photometry.zero_point_err if photometry else float("nan"),
            n_photometric_stars=photometry.n_stars if photometry else 0,
            background_mean=background.mean,
            background_rms=background.mean_rms,
        )
        metadata = exposure.metadata.copy()
        for key, (value, comment) in summary.to_metadata().items():
            metadata[key] = (value if np.isfinite(value) else None, comment)
        if cosmic_rays is not None:
            metadata["CRNUM"] = (cosmic_rays.n_cosmic_rays, "cosmic rays repaired")
            metadata["CRNPIX"] = (cosmic_rays.n_pixels, "pixels flagged CR")
        output = Exposure(
            image=work.image,
            mask=work.mask,
            variance=work.variance,
            wcs=wcs.deepcopy() if wcs is not None else None,
            psf=psf_result.psf,
            photo_calib=photo_calib,
            visit_info=exposure.visit_info,
            metadata=metadata,
        )
        return CalibrateResult(
            exposure=output,
            sources=sources,
            summary=summary,
            background=background,
            psf=psf_result,
            cosmic_rays=cosmic_rays,
            astrometry=astrometry,
            photometry=photometry,
        )


def _add_calibrated_fluxes(sources: Table, photo_calib: PhotoCalib) -> None:
    """Add nJy columns next to the instrumental fluxes (the zero-point error is not included)."""
    for inst, calibrated in (("psfInstFlux", "psfFlux"), ("apInstFlux", "apFlux")):
        sources[calibrated] = np.asarray(sources[inst], dtype=float) * photo_calib.njy_per_count
        sources[f"{calibrated}Err"] = (
            np.asarray(sources[f"{inst}Err"], dtype=float) * photo_calib.njy_per_count
        )
        sources[calibrated].unit = sources[f"{calibrated}Err"].unit = "nJy"
