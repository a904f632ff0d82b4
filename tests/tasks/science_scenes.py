"""Synthetic scenes with known truth for the science-task tests and benchmarks.

Stars are circular Moffat profiles sampled at pixel centres (pixel ``(x, y)``
is ``image[y, x]``, 0-based, centre at integer coordinates), normalised so
that the profile integrates to the given flux.  Noise is Gaussian with the
Poisson variance of sky plus source plus read noise, and the variance plane
holds the noiseless expectation of that variance (as ISR would estimate it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.table import Table
from astropy.wcs import WCS

from promptproc.image import Exposure, ImagePsf, VisitInfo, moffat_kernel
from promptproc.instrument import make_tan_wcs

__all__ = ["Pair", "Scene", "make_pair", "make_refcat", "make_scene", "prepare", "render_moffat"]

PIXEL_SCALE = 0.2  # arcsec per pixel


def render_moffat(
    shape: tuple[int, int],
    x: np.ndarray,
    y: np.ndarray,
    flux: np.ndarray,
    fwhm: float,
    beta: float = 3.5,
    radius: int | None = None,
) -> np.ndarray:
    """Sum of Moffat point sources, ``float64`` image of total ``flux`` each."""
    image = np.zeros(shape, dtype=np.float64)
    x, y, flux = (
        np.atleast_1d(x).astype(float),
        np.atleast_1d(y).astype(float),
        np.atleast_1d(flux).astype(float),
    )
    if x.size == 0:
        return image
    alpha = fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
    half = radius if radius is not None else int(np.ceil(8 * fwhm))
    offsets = np.arange(-half, half + 1)
    height, width = shape
    for start in range(0, x.size, 2000):
        sl = slice(start, start + 2000)
        cx, cy = np.rint(x[sl]).astype(int), np.rint(y[sl]).astype(int)
        xs = cx[:, None, None] + offsets[None, None, :]
        ys = cy[:, None, None] + offsets[None, :, None]
        r2 = (xs - x[sl, None, None]) ** 2 + (ys - y[sl, None, None]) ** 2
        stamps = flux[sl, None, None] * (beta - 1.0) / (np.pi * alpha**2) * (1.0 + r2 / alpha**2) ** (-beta)
        inside = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
        inside = np.broadcast_to(inside, stamps.shape)
        flat = np.broadcast_to(ys * width + xs, stamps.shape)
        np.add.at(image.reshape(-1), flat[inside], stamps[inside])
    return image


@dataclass
class Scene:
    """A simulated exposure and its truth."""

    exposure: Exposure
    truth: Table  # x, y, flux (electrons), ra, dec
    wcs: WCS  # true WCS
    sky: np.ndarray  # true background, electrons
    noiseless: np.ndarray  # sources only, electrons


def make_scene(
    rng: np.random.Generator,
    shape: tuple[int, int] = (512, 512),
    n_stars: int = 150,
    fwhm: float = 4.0,
    beta: float = 3.5,
    sky: float | np.ndarray = 1000.0,
    read_noise: float = 5.0,
    flux_range: tuple[float, float] = (3e3, 3e5),
    wcs: WCS | None = None,
    positions: tuple[np.ndarray, np.ndarray] | None = None,
    fluxes: np.ndarray | None = None,
    margin: float = 5.0,
    psf_model: bool = True,
) -> Scene:
    """A star field with noise; fluxes log-uniform in ``flux_range`` (electrons)."""
    height, width = shape
    if positions is None:
        xs = rng.uniform(margin, width - 1 - margin, n_stars)
        ys = rng.uniform(margin, height - 1 - margin, n_stars)
    else:
        xs, ys = (np.asarray(p, dtype=float) for p in positions)
    if fluxes is None:
        fluxes = np.exp(rng.uniform(np.log(flux_range[0]), np.log(flux_range[1]), xs.size))
    if wcs is None:
        wcs = make_tan_wcs(150.0, 2.0, ((width - 1) / 2, (height - 1) / 2), PIXEL_SCALE, 0.0)
    sources = render_moffat(shape, xs, ys, fluxes, fwhm, beta)
    sky_image = np.broadcast_to(np.asarray(sky, dtype=float), shape)
    expected = sky_image + sources
    variance = expected + read_noise**2
    image = expected + rng.normal(size=shape) * np.sqrt(variance)
    ra, dec = wcs.all_pix2world(xs, ys, 0)
    truth = Table({"x": xs, "y": ys, "flux": fluxes, "ra": ra, "dec": dec})
    psf = ImagePsf(moffat_kernel(fwhm, beta), fwhm) if psf_model else None
    exposure = Exposure(
        image=image.astype(np.float32),
        variance=variance.astype(np.float32),
        wcs=wcs,
        psf=psf,
        visit_info=VisitInfo(exposure_id=1, exposure_time=30.0, mjd_begin=60000.0, band="r"),
    )
    return Scene(exposure, truth, wcs, np.array(sky_image), sources)


def make_refcat(truth: Table, njy_per_count: float, band: str = "r") -> Table:
    """A reference catalog of the truth: positions and fluxes in nJy."""
    flux = np.asarray(truth["flux"]) * njy_per_count
    return Table(
        {
            "id": np.arange(len(truth), dtype=np.int64),
            "coord_ra": np.asarray(truth["ra"], dtype=float),
            "coord_dec": np.asarray(truth["dec"], dtype=float),
            f"{band}_flux": flux,
            f"{band}_fluxErr": 0.01 * flux,
        }
    )


@dataclass
class Pair:
    """A science exposure (calibrated counts) and a template patch (nJy) of the same stars."""

    science: Exposure
    template: Exposure
    injected: Table  # x, y, flux (science counts) of sources only in the science image
    stars: Table  # x, y, flux (science counts) of the static stars
    njy_per_count: float


def make_pair(
    rng: np.random.Generator,
    shape: tuple[int, int] = (512, 512),
    n_stars: int = 150,
    science_fwhm: float = 4.5,
    template_fwhm: float = 3.0,
    n_injected: int = 10,
    injected_snr: float = 20.0,
    sky: float = 1000.0,
    template_depth: float = 10.0,
    template_rotation: float = 20.0,
    template_offset: tuple[float, float] = (40.0, -30.0),
) -> Pair:
    """Science (background-subtracted, with PSF and PhotoCalib) and a deeper, rotated template patch.

    Injected sources have the requested PSF signal-to-noise ratio on the
    science background noise.
    """
    from promptproc.image import PhotoCalib

    height, width = shape
    sci_wcs = make_tan_wcs(150.0, 2.0, ((width - 1) / 2, (height - 1) / 2), PIXEL_SCALE, 0.0)
    xs = rng.uniform(8, width - 9, n_stars)
    ys = rng.uniform(8, height - 9, n_stars)
    fluxes = np.exp(rng.uniform(np.log(3e3), np.log(3e5), n_stars))
    # PSF noise-equivalent area of a Moffat beta=3.5 profile is ~ 4 pi sigma^2 * 1.2.
    kernel = moffat_kernel(science_fwhm, 3.5)
    neff = 1.0 / np.sum(kernel**2)
    injected_flux = injected_snr * np.sqrt((sky + 25.0) * neff)
    ix = rng.uniform(20, width - 21, n_injected)
    iy = rng.uniform(20, height - 21, n_injected)
    calib = PhotoCalib.from_zero_point(28.0)
    scene = make_scene(
        rng,
        shape,
        fwhm=science_fwhm,
        sky=sky,
        wcs=sci_wcs,
        positions=(np.r_[xs, ix], np.r_[ys, iy]),
        fluxes=np.r_[fluxes, np.full(n_injected, injected_flux)],
    )
    science = scene.exposure
    science.image -= np.float32(sky)
    science.photo_calib = calib
    # Template: a larger patch around the science field, rotated and offset, deeper, in nJy.
    t_size = int(1.5 * max(shape))
    centre_ra, centre_dec = sci_wcs.all_pix2world(
        [(width - 1) / 2 + template_offset[0]], [(height - 1) / 2 + template_offset[1]], 0
    )
    tmpl_wcs = make_tan_wcs(
        float(centre_ra[0]),
        float(centre_dec[0]),
        ((t_size - 1) / 2, (t_size - 1) / 2),
        PIXEL_SCALE,
        template_rotation,
    )
    ra, dec = sci_wcs.all_pix2world(xs, ys, 0)
    tx, ty = tmpl_wcs.all_world2pix(ra, dec, 0)
    t_sources = render_moffat((t_size, t_size), tx, ty, fluxes, template_fwhm)
    t_var = np.full((t_size, t_size), (sky + 25.0) / template_depth)
    t_image = t_sources + rng.normal(size=(t_size, t_size)) * np.sqrt(t_var)
    template = Exposure(
        image=(t_image * calib.njy_per_count).astype(np.float32),
        variance=(t_var * calib.njy_per_count**2).astype(np.float32),
        wcs=tmpl_wcs,
        psf=ImagePsf(moffat_kernel(template_fwhm, 3.5), template_fwhm),
        photo_calib=PhotoCalib(1.0),
        visit_info=VisitInfo(observation_type="coadd", band="r"),
    )
    return Pair(
        science=science,
        template=template,
        injected=Table({"x": ix, "y": iy, "flux": np.full(n_injected, injected_flux)}),
        stars=Table({"x": xs, "y": ys, "flux": fluxes}),
        njy_per_count=calib.njy_per_count,
    )


def prepare(pair: Pair):
    """Detect and measure the science exposure and warp the template: the inputs of subtraction."""
    from promptproc.tasks.detection import DetectionTask
    from promptproc.tasks.measurement import MeasurementTask
    from promptproc.tasks.warp import TemplateWarpTask

    science = pair.science
    detection = DetectionTask().run(science)
    science.mask = detection.mask
    sources = MeasurementTask().run(science, detection.peaks)
    warped = TemplateWarpTask().run([pair.template], science.wcs, science.shape).exposure
    return science, warped, sources
