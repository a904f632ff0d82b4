"""Templates: deep, sharp, static coadds per sky-map patch and band.

A template is rendered directly in a patch's outer-box WCS, in nJy: the
static sky (stars, galaxies, variable stars at their mean magnitude, no
transients) through a Moffat PSF of the template seeing, plus the noise of
``depth`` averaged 30-s visits at airmass 1 in dark sky (white noise, the
coadd's background subtracted).  Pixels outside the simulated sky region,
where no visit ever looked, are ``NO_DATA`` with a NaN image and infinite
variance, the convention of `promptproc.image.Exposure.cutout`.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from ..image import Exposure, ImagePsf, MaskPlane, PhotoCalib, VisitInfo, moffat_kernel
from ..instrument import FilterInfo
from ..skymap import PatchInfo
from ._photometry import dark_sky, electrons_per_njy, sky_electrons_per_pixel
from ._render import add_galaxies, add_point_sources
from ._scene import project_sky
from ._skymodel import SkyModel
from ._spherical import SkyRegion, angular_separation

__all__ = ["TEMPLATE_READ_NOISE", "region_mask", "render_template"]

TEMPLATE_READ_NOISE = 5.5
"""Read noise (electrons) of the visits a template stands for."""
_GRID = 16  # pixels between exact evaluations of the region boundary


def region_mask(wcs: WCS, width: int, height: int, region: SkyRegion) -> np.ndarray:
    """Which pixels of an image lie inside a sky region.

    The angular distance from the region's centre is evaluated exactly every
    16 pixels and interpolated bilinearly in between (it is smooth: the
    error is far below a pixel).

    Returns
    -------
    inside : `numpy.ndarray`
        ``(height, width)`` boolean array.
    """
    gx = np.unique(np.append(np.arange(0, width, _GRID), width - 1))
    gy = np.unique(np.append(np.arange(0, height, _GRID), height - 1))
    mx, my = np.meshgrid(gx, gy)
    ra, dec = wcs.all_pix2world(mx.ravel(), my.ravel(), 0)
    distance = angular_separation(region.ra, region.dec, ra, dec).reshape(my.shape)
    xs = np.arange(width)
    ix = np.minimum(np.searchsorted(gx, xs, side="right") - 1, len(gx) - 2)
    wx = (xs - gx[ix]) / (gx[ix + 1] - gx[ix])
    along_x = distance[:, ix] * (1 - wx) + distance[:, ix + 1] * wx  # (len(gy), width)
    inside = np.empty((height, width), dtype=bool)
    for j in range(len(gy) - 1):
        y0, y1 = gy[j], gy[j + 1] + (1 if j == len(gy) - 2 else 0)
        wy = ((np.arange(y0, y1) - gy[j]) / (gy[j + 1] - gy[j]))[:, None]
        block = along_x[j][None, :] * (1 - wy) + along_x[j + 1][None, :] * wy
        inside[y0:y1] = block <= region.radius
    return inside


def render_template(
    model: SkyModel,
    patch: PatchInfo,
    info: FilterInfo,
    seeing: float,
    depth: float,
    exposure_time: float,
    psf_beta: float,
    rng: np.random.Generator,
    skymap_name: str,
) -> Exposure:
    """Render one template.

    Parameters
    ----------
    model : `SkyModel`
        The sky.
    patch : `PatchInfo`
        Where: the patch's outer box and WCS.
    info : `FilterInfo`
        Filter whose band the template is in.
    seeing : `float`
        PSF FWHM, arcsec.
    depth : `float`
        Number of visits averaged.
    exposure_time : `float`
        Exposure time of each visit, seconds.
    psf_beta : `float`
        Moffat index.
    rng : `numpy.random.Generator`
        Random stream of this template.
    skymap_name : `str`
        Recorded in the metadata.

    Returns
    -------
    template : `Exposure`
        Image in nJy (`PhotoCalib` 1.0), variance in nJy^2, PSF model.
    """
    width, height = patch.outer.width, patch.outer.height
    wcs = patch.wcs
    scale = float(np.sqrt(abs(np.linalg.det(wcs.pixel_scale_matrix)))) * 3600.0
    fwhm = seeing / scale
    sources = project_sky(model, wcs, width, height, info.band, None, margin=64.0)
    image = np.zeros((height, width), dtype=np.float32)
    point = sources.is_point
    add_point_sources(image, sources.x[point], sources.y[point], sources.flux[point], fwhm, psf_beta)
    gal = ~point
    add_galaxies(
        image,
        sources.x[gal],
        sources.y[gal],
        sources.flux[gal],
        sources.shape[gal],
        sources.sersic_index[gal],
        fwhm,
        psf_beta,
    )
    per_njy = electrons_per_njy(info, exposure_time, 1.0)
    sky = sky_electrons_per_pixel(info, dark_sky(info.band), exposure_time, scale)
    # Variance of the mean of `depth` calibrated visits, nJy^2.
    variance = image * np.float32(1.0 / (per_njy * depth))
    variance += np.float32((sky + TEMPLATE_READ_NOISE**2) / (per_njy**2 * depth))
    noise = rng.standard_normal((height, width), dtype=np.float32)
    noise *= np.sqrt(variance)
    image += noise
    del noise
    mask = np.zeros((height, width), dtype=np.int32)
    outside = ~region_mask(wcs, width, height, model.region)
    image[outside] = np.nan
    variance[outside] = np.inf
    mask[outside] = int(MaskPlane.NO_DATA)
    metadata = fits.Header()
    metadata["SKYMAP"] = (skymap_name, "sky map")
    metadata["TRACT"] = (patch.tract, "tract")
    metadata["PATCH"] = (patch.id, "patch (sequential ID)")
    metadata["PATCHX"] = (patch.index[0], "patch x index")
    metadata["PATCHY"] = (patch.index[1], "patch y index")
    metadata["OUTX0"] = (patch.outer.x0, "[pix] outer box origin in the tract")
    metadata["OUTY0"] = (patch.outer.y0, "[pix] outer box origin in the tract")
    metadata["NVISITS"] = (depth, "visit equivalents averaged")
    metadata["SEEING"] = (seeing, "[arcsec] PSF FWHM")
    metadata["SIMULATD"] = (True, "made by promptproc.simulation")
    kernel_size = 2 * int(np.ceil(4.0 * fwhm)) + 1
    return Exposure(
        image=image,
        mask=mask,
        variance=variance,
        wcs=wcs.deepcopy(),
        psf=ImagePsf(moffat_kernel(fwhm, psf_beta, kernel_size), fwhm),
        photo_calib=PhotoCalib(1.0),
        visit_info=VisitInfo(band=info.band, observation_type="coadd"),
        metadata=metadata,
    )
