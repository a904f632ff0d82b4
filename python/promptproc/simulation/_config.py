"""Parameters of a simulated observatory."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigurationError
from ..instrument import make_simcam
from ..skymap import SkyMapConfig
from ._photometry import dark_sky
from ._site import day_obs_of, default_start_mjd

__all__ = ["SimulationConfig", "default_skymap_config"]


def default_skymap_config(detector_size: int) -> SkyMapConfig:
    """The sky map used with detectors of a given size.

    Patches are as wide as a detector with a 2.5% border, the proportions of
    Rubin's sky maps (4000-pixel patches, 100-pixel borders): a worker then
    loads at most four patches of about a detector's size per visit.
    """
    return SkyMapConfig(patch_inner=detector_size, patch_border=max(detector_size // 40, 8))


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate.  Every field has a sensible default.

    Parameters
    ----------
    seed : `int`
        Seed of every random stream (non-negative).
    detector_size : `int`
        SimCam detector width and height, pixels (multiple of 8, >= 64).
    ra, dec : `float`
        Field centre, degrees (ICRS).
    rotation : `float`
        Nominal sky position angle of the camera ``+y`` axis, degrees east of north.
    n_visits : `int`
        Number of visits in the night.
    filters : `tuple` [`str`, ...]
        Physical filters, cycled visit after visit.
    day_obs : `int`
        Observing day, ``YYYYMMDD``.
    start_mjd : `float`, optional
        Start of the first visit, TAI MJD; by default the time of the night
        when the field is highest.  Must fall in ``day_obs``.
    first_seq_num : `int`
        Sequence number of the first visit.
    visit_interval : `float`
        Seconds between the starts of consecutive visits.
    exposure_time : `float`
        Open-shutter time of a visit, seconds.
    dither : `float`, optional
        Radius of the random dithers about the field centre, arcseconds; by
        default a quarter of a detector width.
    rotation_dither : `float`
        Largest random change of the rotation between visits, degrees.
    pointing_error : `float`
        Typical offset of the true boresight from the commanded one, arcsec.
    rotation_error : `float`
        Typical difference of the true rotation from the commanded one, degrees.
    seeing : `tuple` [`float`, `float`]
        Range of the delivered PSF FWHM of the visits, arcsec (log-uniform).
    psf_beta : `float`
        Moffat index of the PSF.
    star_density : `float`
        Stars per square degree brighter than r = 22.
    star_mags : `tuple` [`float`, `float`]
        r-band magnitude range of the stars.
    star_count_slope : `float`
        Slope of the cumulative star counts, ``d log10 N / d m``.
    galaxies : `bool`
        Whether to simulate galaxies.
    galaxy_density : `float`
        Galaxies per square degree brighter than r = 24.
    galaxy_mags : `tuple` [`float`, `float`]
        r-band magnitude range of the galaxies.
    n_transients : `int`
        Transients in the sky region, about half of them on galaxies.
    n_variables : `int`
        Periodic variable stars in the sky region.
    refcat_depth : `float`
        Faintest r magnitude in the reference catalog.
    template_seeing : `float`
        PSF FWHM of the templates, arcsec.
    template_depth : `float`
        Depth of the templates in visit equivalents.
    n_calib_frames : `int`
        Frames combined into each master calibration.
    n_epochs : `int`
        Calibration epochs; the visits are split evenly between them.
    full_well : `float`
        Pixel full well, electrons; charge above it bleeds along columns.
    dark_current : `float`
        Mean dark current, electrons per second per pixel.
    cosmic_ray_rate : `float`
        Cosmic-ray hits per pixel per second (1e-6 is ~1 per cm^2 per second
        for 10 um pixels).
    sky_padding : `float`
        Margin, arcsec, by which the simulated sky exceeds every footprint.
    skymap : `SkyMapConfig`, optional
        The sky map of the templates; `default_skymap_config` when not given.

    Notes
    -----
    ``dither``, ``start_mjd`` and ``skymap`` are resolved when the
    configuration is made, so the object always holds the values used.
    """

    seed: int = 42
    detector_size: int = 4096
    ra: float = 150.0
    dec: float = 2.2
    rotation: float = 0.0
    n_visits: int = 6
    filters: tuple[str, ...] = ("g", "r", "i")
    day_obs: int = 20261122
    start_mjd: float | None = None
    first_seq_num: int = 1
    visit_interval: float = 600.0
    exposure_time: float = 30.0
    dither: float | None = None
    rotation_dither: float = 1.0
    pointing_error: float = 1.5
    rotation_error: float = 0.01
    seeing: tuple[float, float] = (0.6, 1.3)
    psf_beta: float = 3.5
    star_density: float = 8000.0
    star_mags: tuple[float, float] = (10.0, 25.0)
    star_count_slope: float = 0.25
    galaxies: bool = True
    galaxy_density: float = 10000.0
    galaxy_mags: tuple[float, float] = (17.0, 24.5)
    n_transients: int = 50
    n_variables: int = 30
    refcat_depth: float = 22.0
    template_seeing: float = 0.7
    template_depth: float = 20.0
    n_calib_frames: int = 20
    n_epochs: int = 2
    full_well: float = 140_000.0
    dark_current: float = 0.02
    cosmic_ray_rate: float = 1.0e-6
    sky_padding: float = 60.0
    skymap: SkyMapConfig | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "filters", tuple(self.filters))
        set_(self, "seeing", tuple(float(v) for v in self.seeing))
        set_(self, "star_mags", tuple(float(v) for v in self.star_mags))
        set_(self, "galaxy_mags", tuple(float(v) for v in self.galaxy_mags))
        if self.skymap is None:
            set_(self, "skymap", default_skymap_config(self.detector_size))
        pixel_scale = self._validate()
        if self.dither is None:
            set_(self, "dither", 0.25 * self.detector_size * pixel_scale)
        if self.start_mjd is None:
            set_(self, "start_mjd", default_start_mjd(self.ra, self.dec, self.day_obs))
        elif day_obs_of(self.start_mjd) != self.day_obs:
            raise ConfigurationError(
                f"start_mjd {self.start_mjd} falls in day_obs {day_obs_of(self.start_mjd)}, "
                f"not {self.day_obs}"
            )

    def _validate(self) -> float:
        instrument = make_simcam(self.detector_size)  # raises ConfigurationError on a bad size
        known = {f.name for f in instrument.filters}
        problems = []
        if not isinstance(self.seed, int) or self.seed < 0:
            problems.append(f"seed must be a non-negative integer, not {self.seed!r}")
        if not self.filters:
            problems.append("at least one filter is needed")
        unknown = [name for name in self.filters if name not in known]
        if unknown:
            problems.append(f"unknown filter(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        for name in self.filters:
            if name in known:
                dark_sky(instrument.filter(name).band)
        if self.n_visits < 1 or self.n_visits > 99_999 - self.first_seq_num:
            problems.append(f"n_visits must be between 1 and {99_999 - self.first_seq_num}")
        if self.first_seq_num < 0:
            problems.append("first_seq_num must be >= 0")
        if not -90.0 <= self.dec <= 90.0 or not math.isfinite(self.ra):
            problems.append(f"field centre RA {self.ra} Dec {self.dec} is not a sky position")
        if self.exposure_time <= 0 or self.visit_interval < self.exposure_time:
            problems.append("exposure_time must be > 0 and visit_interval >= exposure_time")
        if not 0 < self.seeing[0] <= self.seeing[1] or self.template_seeing <= 0:
            problems.append("seeing ranges must be positive and increasing")
        if self.psf_beta <= 1.5:
            problems.append("psf_beta must exceed 1.5")
        if self.star_mags[0] >= self.star_mags[1] or self.galaxy_mags[0] >= self.galaxy_mags[1]:
            problems.append("magnitude ranges must increase")
        if min(self.star_density, self.galaxy_density, self.n_transients, self.n_variables) < 0:
            problems.append("densities and counts must be >= 0")
        if self.n_calib_frames < 1 or self.n_epochs < 1 or self.template_depth <= 0:
            problems.append("n_calib_frames, n_epochs and template_depth must be positive")
        if self.full_well <= 0 or self.dark_current < 0 or self.cosmic_ray_rate < 0:
            problems.append("full_well must be > 0, dark_current and cosmic_ray_rate >= 0")
        if self.dither is not None and self.dither < 0:
            problems.append("dither must be >= 0")
        if problems:
            raise ConfigurationError("invalid simulation configuration: " + "; ".join(problems))
        return instrument.pixel_scale
