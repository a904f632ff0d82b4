"""Preview images (PNG) of a raw, its calibrated version and the matching template.

Drawn with matplotlib's object API on an Agg canvas (no display, no global
backend change), with a zscale interval and an asinh stretch.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np
from astropy.visualization import AsinhStretch, ImageNormalize, ZScaleInterval
from astropy.wcs import WCS
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy.ndimage import map_coordinates

from ..errors import BadInputError
from ..image import Exposure, RawImage
from ..instrument import wcs_corners
from ._observatory import SimulatedObservatory
from ._visits import SimVisit

__all__ = [
    "brightest_star_detector",
    "raw_mosaic",
    "warp_patches",
    "warp_to_detector",
    "write_previews",
]

_GAP = 8  # pixels between amplifiers in the raw mosaic


def raw_mosaic(raw: RawImage) -> np.ndarray:
    """The amplifiers as read out (overscan included, flipped ones mirrored), in their detector places.

    Each amplifier's median overscan level is subtracted so that one stretch
    shows them all; gaps are NaN.

    Returns
    -------
    mosaic : `numpy.ndarray`
        ``float32`` ADU above each amplifier's overscan level.
    """
    widths = {amp.detector_box.x0: amp.data.shape[1] for amp in raw.amplifiers}
    heights = {amp.detector_box.y0: amp.data.shape[0] for amp in raw.amplifiers}
    x_at, y_at = {}, {}
    position = 0
    for x0 in sorted(widths):
        x_at[x0] = position
        position += widths[x0] + _GAP
    width = position - _GAP
    position = 0
    for y0 in sorted(heights):
        y_at[y0] = position
        position += heights[y0] + _GAP
    height = position - _GAP
    mosaic = np.full((height, width), np.nan, dtype=np.float32)
    for amp in raw.amplifiers:
        rows, cols = amp.data.shape
        x, y = x_at[amp.detector_box.x0], y_at[amp.detector_box.y0]
        mosaic[y : y + rows, x : x + cols] = amp.data - np.float32(np.median(amp.overscan()))
    return mosaic


def warp_to_detector(template: Exposure, wcs: WCS, width: int, height: int, step: int = 16) -> np.ndarray:
    """Resample a template onto a detector's pixel grid (bilinear), NaN where it has no data.

    The detector-to-template pixel mapping is computed exactly every ``step``
    pixels and interpolated in between.
    """
    if template.wcs is None:
        raise BadInputError("the template has no WCS")
    gx = np.unique(np.append(np.arange(0, width, step), width - 1))
    gy = np.unique(np.append(np.arange(0, height, step), height - 1))
    mx, my = np.meshgrid(gx, gy)
    ra, dec = wcs.all_pix2world(mx.ravel(), my.ravel(), 0)
    tx, ty = template.wcs.all_world2pix(ra, dec, 0)
    tx, ty = tx.reshape(my.shape), ty.reshape(my.shape)
    # Interpolate the smooth mapping to every detector pixel.
    fy = np.interp(np.arange(height), gy, np.arange(len(gy)))
    fx = np.interp(np.arange(width), gx, np.arange(len(gx)))
    grid_y, grid_x = np.meshgrid(fy, fx, indexing="ij")
    full_x = map_coordinates(tx, [grid_y, grid_x], order=1)
    full_y = map_coordinates(ty, [grid_y, grid_x], order=1)
    image = np.where(np.isfinite(template.image), template.image, 0.0)
    valid = np.isfinite(template.image).astype(np.float32)
    out = map_coordinates(image, [full_y, full_x], order=1, cval=np.nan)
    coverage = map_coordinates(valid, [full_y, full_x], order=1, cval=0.0)
    out[coverage < 0.999] = np.nan
    return out.astype(np.float32)


def brightest_star_detector(obs: SimulatedObservatory, visit: SimVisit) -> int:
    """The detector holding the visit's star of highest peak (most likely to show a bleed trail)."""
    best, best_peak = obs.instrument.detectors[0].id, -np.inf
    for det in obs.instrument.detectors:
        truth = obs.truth(visit, det.id)
        stars = truth[truth["kind"] == "star"]
        if len(stars) and float(np.max(stars["peak"])) > best_peak:
            best, best_peak = det.id, float(np.max(stars["peak"]))
    return best


def warp_patches(obs: SimulatedObservatory, visit: SimVisit, detector: int) -> tuple[np.ndarray, str]:
    """The templates of every patch touching a detector, warped onto it and stitched.

    Returns
    -------
    image : `numpy.ndarray`
        Template in nJy on the detector's pixel grid (true WCS); NaN where no patch has data.
    label : `str`
        ``tract/patch`` of the patches used.
    """
    det = obs.instrument.detector(detector)
    wcs = obs.true_wcs(visit, det.id)
    corners = wcs_corners(wcs, det.width, det.height)
    image = np.full((det.height, det.width), np.nan, dtype=np.float32)
    used = []
    for patch in obs.skymap.patches_overlapping(corners):
        warped = warp_to_detector(obs.template(patch, visit.band), wcs, det.width, det.height)
        fill = np.isnan(image) & np.isfinite(warped)
        if fill.any():
            image[fill] = warped[fill]
            used.append(f"{patch.tract}/{patch.id}")
    if not used:
        raise BadInputError(f"no template patch covers detector {det.name} in visit {visit.obs_id}")
    return image, ", ".join(used)


def _save(image: np.ndarray, path: Path, title: str, unit: str, pixels: tuple[int, int]) -> None:
    height, width = pixels
    dpi = 100
    figure = Figure(figsize=(width / dpi * 1.18 + 0.6, height / dpi * 1.08 + 0.6), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.06, 0.05, 0.78, 0.88))
    finite = image[np.isfinite(image)]
    norm = ImageNormalize(finite, interval=ZScaleInterval(contrast=0.15), stretch=AsinhStretch(0.1))
    colours = matplotlib.colormaps["gray"].with_extremes(bad="#4a78b0")
    shown = axes.imshow(image, origin="lower", cmap=colours, norm=norm, interpolation="nearest")
    axes.set_title(title, fontsize=10)
    axes.set_xlabel("x (pixels)")
    axes.set_ylabel("y (pixels)")
    bar_axes = figure.add_axes((0.86, 0.05, 0.025, 0.88))
    figure.colorbar(shown, cax=bar_axes, label=unit)
    figure.savefig(os.fspath(path), dpi=dpi)


def write_previews(
    obs: SimulatedObservatory,
    out_dir: str | os.PathLike[str],
    visit_index: int = 0,
    detector: int | None = None,
) -> list[Path]:
    """Write ``raw.png``, ``calibrated.png`` and ``template.png`` for one detector of one visit.

    Parameters
    ----------
    obs : `SimulatedObservatory`
        The observatory.
    out_dir : `str` or `os.PathLike`
        Directory for the PNGs (created if needed).
    visit_index : `int`
        Which visit.
    detector : `int`, optional
        Which detector; by default the one with the visit's brightest star.

    Returns
    -------
    paths : `list` [`pathlib.Path`]
        The three PNG files.
    """
    from ..tasks.isr import run_isr

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    visit = obs.visit(visit_index)
    det_id = brightest_star_detector(obs, visit) if detector is None else obs.instrument.detector(detector).id
    det = obs.instrument.detector(det_id)
    epoch = obs.epoch_for(visit.mjd_begin)
    raw = obs.raw(visit, det_id)
    calibrated = run_isr(
        raw,
        obs.master_bias(det_id, epoch),
        obs.master_dark(det_id, epoch),
        obs.master_flat(det_id, visit.physical_filter, epoch),
        obs.defects(det_id, epoch),
        instrument=obs.instrument,
    )
    template, patches = warp_patches(obs, visit, det_id)
    label = f'{visit.obs_id} {det.name} ({visit.physical_filter}, seeing {visit.seeing:.2f}")'
    mosaic = raw_mosaic(raw)
    paths = [out / "raw.png", out / "calibrated.png", out / "template.png"]
    _save(
        mosaic,
        paths[0],
        f"Raw {label}: 8 amplifiers with overscan, as read out",
        "ADU above overscan level",
        mosaic.shape,
    )
    _save(calibrated.image, paths[1], f"Calibrated (ISR) {label}", "electrons", calibrated.shape)
    _save(
        template,
        paths[2],
        f'Template {patches} ({visit.band}, seeing {obs.config.template_seeing:.2f}"), warped to detector',
        "nJy",
        template.shape,
    )
    return paths
