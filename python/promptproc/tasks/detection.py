"""Detection: matched-filter significance, thresholded footprints and their peaks.

The significance image is the optimal PSF-flux signal-to-noise ratio at
every pixel,

    snr = (psf ⋆ image) / sqrt(psf² ⋆ variance),

with ``⋆`` the cross-correlation (FFT) and the image's variance plane, so the
threshold is in units of the local noise, including sources' own shot noise
(``variance_mode="pixel"``) or of the typical sky noise
(``variance_mode="median"``).  Pixels flagged with `DetectionConfig.bad_mask_planes`
or not finite count as zero in both.  Optionally the significance is divided
by its own robust scatter, which corrects a variance plane that misstates
the noise (e.g. correlated noise after warping and convolution).

Footprints are 8-connected pixels at or above the threshold (and, for
negative polarity, at or below minus the threshold).  Peaks are local
maxima of the significance (ties broken in raster order); a secondary peak
in a footprint is kept only if its prominence — its significance minus the
lowest significance on the straight line to a brighter kept peak — reaches
`DetectionConfig.min_prominence`, which rejects noise bumps on the wings of
bright stars.  Footprints grown by `DetectionConfig.grow_fwhm` PSF widths (a
square grow) set ``DETECTED`` / ``DETECTED_NEGATIVE`` in the output mask.

Pixel ``(x, y)`` is ``image[y, x]``, 0-based, centres at integer coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from astropy.table import Table
from scipy import ndimage

from ..image import Exposure, ImagePsf, MaskPlane
from ._numerics import FftConvolver, grow_mask, robust_sigma

__all__ = ["DetectionConfig", "DetectionResult", "DetectionTask", "mask_bits", "matched_filter_snr"]

_EIGHT = np.ones((3, 3), dtype=bool)


def mask_bits(names: tuple[str, ...] | list[str]) -> int:
    """OR of the `MaskPlane` bits with these names."""
    bits = 0
    for name in names:
        bits |= int(MaskPlane[name])
    return bits


@dataclass(frozen=True)
class DetectionConfig:
    """How sources are detected.

    Parameters
    ----------
    threshold : `float`
        Detection threshold in units of the matched-filter noise (sigma).
    polarity : `str`
        ``"positive"``, ``"negative"`` or ``"both"``.
    min_pixels : `int`
        Smallest footprint kept, pixels above threshold.
    min_prominence : `float`
        Least prominence (sigma) of a secondary peak in a footprint.
    max_peaks : `int`
        Most peaks kept per footprint (the most significant ones).
    grow_fwhm : `float`
        Half-width of the square grow of the ``DETECTED`` mask, in PSF FWHM.
    variance_mode : `str`
        ``"pixel"``: the noise of the filtered image from the variance plane
        convolved with the squared PSF; ``"median"``: from the median
        variance (faster, ignores sources' shot noise).
    rescale_to_empirical_noise : `bool`
        Divide the significance by its robust scatter over the image.
    fallback_fwhm : `float`
        Gaussian FWHM (pixels) of the filter when the exposure has no PSF.
    bad_mask_planes : `tuple` [`str`, ...]
        Pixels with these planes set are ignored.
    """

    threshold: float = 5.0
    polarity: Literal["positive", "negative", "both"] = "positive"
    min_pixels: int = 1
    min_prominence: float = 3.0
    max_peaks: int = 20
    grow_fwhm: float = 1.0
    variance_mode: Literal["pixel", "median"] = "pixel"
    rescale_to_empirical_noise: bool = False
    fallback_fwhm: float = 4.0
    bad_mask_planes: tuple[str, ...] = ("NO_DATA", "BAD")

    def __post_init__(self) -> None:
        if self.polarity not in ("positive", "negative", "both"):
            raise ValueError(f"unknown polarity {self.polarity!r}")
        if self.variance_mode not in ("pixel", "median"):
            raise ValueError(f"unknown variance mode {self.variance_mode!r}")
        if self.threshold <= 0:
            raise ValueError("threshold must be positive")


@dataclass
class DetectionResult:
    """Footprints and peaks of one detection pass.

    Attributes
    ----------
    peaks : `astropy.table.Table`
        One row per peak, ordered by footprint then significance:
        ``id`` (0-based row number), ``footprint_id`` (label in ``labels``),
        ``peak_x``, ``peak_y`` (integer pixel), ``peak_snr`` (absolute
        significance, sigma), ``is_negative``, ``n_peaks`` (peaks in the
        footprint), ``footprint_npix``, ``footprint_bbox`` (side of the
        smallest square holding the footprint, pixels), ``footprint_mask``
        (OR of the mask bits inside the footprint, and of the whole
        bounding box when it holds ignored pixels).
    labels : `numpy.ndarray`
        ``int32`` footprint labels (0: none), ungrown.
    snr : `numpy.ndarray`
        ``float32`` signed significance image.
    mask : `numpy.ndarray`
        Input mask with ``DETECTED`` / ``DETECTED_NEGATIVE`` of the grown
        footprints added.
    n_positive, n_negative : `int`
        Footprints of each sign.
    noise_scale : `float`
        Factor the significance was divided by (1 unless rescaled).
    """

    peaks: Table
    labels: np.ndarray
    snr: np.ndarray
    mask: np.ndarray
    n_positive: int
    n_negative: int
    noise_scale: float


def matched_filter_snr(
    image: np.ndarray,
    variance: np.ndarray,
    kernel: np.ndarray,
    bad: np.ndarray | None = None,
    variance_mode: str = "pixel",
) -> np.ndarray:
    """Matched-filter signal-to-noise image.

    Parameters
    ----------
    image : `numpy.ndarray`
        Background-subtracted image.
    variance : `numpy.ndarray`
        Per-pixel variance, image units squared.
    kernel : `numpy.ndarray`
        Odd-sized PSF image (any normalisation), centred on its middle pixel.
    bad : `numpy.ndarray`, optional
        Boolean array of pixels to ignore (non-finite pixels are always ignored).
    variance_mode : `str`
        ``"pixel"`` or ``"median"`` (see `DetectionConfig`).

    Returns
    -------
    snr : `numpy.ndarray`
        ``float32`` significance, zero where no good pixel contributes.
    """
    ignore = ~np.isfinite(image) | ~np.isfinite(variance)
    if bad is not None:
        ignore |= bad
    flipped = np.asarray(kernel, dtype=np.float32)[::-1, ::-1]
    clean = np.where(ignore, np.float32(0), image).astype(np.float32, copy=False)
    numerator = FftConvolver(clean, flipped.shape).convolve(flipped)
    if variance_mode == "pixel":
        clean_var = np.where(ignore, np.float32(0), variance).astype(np.float32, copy=False)
        denominator = FftConvolver(clean_var, flipped.shape).convolve(flipped * flipped)
    else:
        good_var = variance[::4, ::4][~ignore[::4, ::4]]
        typical = float(np.median(good_var)) if good_var.size else 0.0
        denominator = np.full(image.shape, typical * float(np.sum(flipped * flipped)), dtype=np.float32)
    # Round-off of the FFT leaves tiny values where nothing contributes.
    floor = 1e-6 * float(np.max(denominator)) if denominator.size else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(denominator > floor, numerator / np.sqrt(np.maximum(denominator, floor)), 0.0)
    return snr.astype(np.float32, copy=False)


def _local_maxima(values: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Which flat ``candidates`` are local maxima of ``values`` among their 8 neighbours."""
    height, width = values.shape
    ys, xs = np.divmod(candidates, width)
    centre = values.ravel()[candidates]
    is_peak = np.ones(candidates.size, dtype=bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == 0 and dx == 0:
                continue
            ny, nx = ys + dy, xs + dx
            inside = (ny >= 0) & (ny < height) & (nx >= 0) & (nx < width)
            neighbour = np.where(
                inside, values[np.clip(ny, 0, height - 1), np.clip(nx, 0, width - 1)], -np.inf
            )
            # Earlier pixels in raster order win ties, so a plateau gives one peak.
            earlier = dy < 0 or (dy == 0 and dx < 0)
            is_peak &= centre > neighbour if earlier else centre >= neighbour
    return is_peak


def _prune_peaks(
    values: np.ndarray, bad: np.ndarray, px: np.ndarray, py: np.ndarray, min_prominence: float, max_peaks: int
) -> np.ndarray:
    """Indices (into the footprint's peaks, sorted by decreasing value) of the peaks to keep.

    Masked pixels on the line between two peaks are skipped: a hole is not a saddle.
    """
    order = np.argsort(-values[py, px], kind="stable")
    kept = [order[0]]
    for j in order[1:]:
        if len(kept) >= max_peaks:
            break
        height = values[py[j], px[j]]
        best_saddle = -np.inf
        for i in kept:
            steps = int(max(abs(px[i] - px[j]), abs(py[i] - py[j]))) + 1
            line_x = np.rint(np.linspace(px[j], px[i], steps + 1)).astype(np.intp)
            line_y = np.rint(np.linspace(py[j], py[i], steps + 1)).astype(np.intp)
            usable = ~bad[line_y, line_x]
            saddle = float(values[line_y, line_x][usable].min()) if usable.any() else height
            best_saddle = max(best_saddle, saddle)
        if height - best_saddle >= min_prominence:
            kept.append(j)
    return np.array(kept, dtype=np.intp)


class DetectionTask:
    """Find sources in a background-subtracted exposure.

    Parameters
    ----------
    config : `DetectionConfig`, optional
        Parameters; defaults if not given.
    """

    ConfigClass = DetectionConfig

    def __init__(self, config: DetectionConfig | None = None) -> None:
        self.config = config or DetectionConfig()

    def run(self, exposure: Exposure, psf: ImagePsf | None = None) -> DetectionResult:
        """Detect sources.

        Parameters
        ----------
        exposure : `Exposure`
            Background-subtracted exposure with a variance plane; not modified.
        psf : `ImagePsf`, optional
            Filter; by default the exposure's PSF, else a Gaussian of
            ``config.fallback_fwhm``.

        Returns
        -------
        result : `DetectionResult`
            Peaks, footprints and the new mask.
        """
        config = self.config
        psf = psf or exposure.psf or ImagePsf.gaussian(config.fallback_fwhm)
        bad = (exposure.mask & mask_bits(config.bad_mask_planes)) != 0
        snr = matched_filter_snr(exposure.image, exposure.variance, psf.kernel, bad, config.variance_mode)
        noise_scale = 1.0
        if config.rescale_to_empirical_noise:
            sample = snr[::3, ::3][~bad[::3, ::3] & (snr[::3, ::3] != 0)]
            scale = robust_sigma(sample) if sample.size > 100 else float("nan")
            if np.isfinite(scale) and scale > 0:
                noise_scale = scale
                snr = snr / np.float32(scale)
        snr[bad] = 0.0
        labels = np.zeros(snr.shape, dtype=np.int32)
        signs = []
        if config.polarity in ("positive", "both"):
            signs.append(1.0)
        if config.polarity in ("negative", "both"):
            signs.append(-1.0)
        mask = exposure.mask.copy()
        half_grow = int(np.ceil(config.grow_fwhm * psf.fwhm))
        rows = []
        counts = {1.0: 0, -1.0: 0}
        for sign in signs:
            above = (snr * np.float32(sign)) >= config.threshold
            sign_labels, n_found = ndimage.label(above, structure=_EIGHT)
            if n_found == 0:
                continue
            flat = np.flatnonzero(sign_labels)
            ids = sign_labels.ravel()[flat]
            npix = np.bincount(ids, minlength=n_found + 1)
            keep_fp = npix >= config.min_pixels
            keep_fp[0] = False
            if not keep_fp[1:].any():
                continue
            # Renumber the kept footprints after those already labelled.
            new_id = np.zeros(n_found + 1, dtype=np.int32)
            offset = int(labels.max())
            new_id[keep_fp] = offset + np.arange(1, int(keep_fp.sum()) + 1, dtype=np.int32)
            ids_new = new_id[ids]
            use = ids_new > 0
            flat, ids_new, ids_old = flat[use], ids_new[use], ids[use]
            labels.ravel()[flat] = ids_new
            bits = np.zeros(n_found + 1, dtype=np.int64)
            np.bitwise_or.at(bits, ids_old, mask.ravel()[flat].astype(np.int64))
            plane = MaskPlane.DETECTED if sign > 0 else MaskPlane.DETECTED_NEGATIVE
            selected = above if keep_fp[1:].all() else keep_fp[sign_labels]
            grown = grow_mask(selected, half_grow)
            mask[grown] |= int(plane)
            counts[sign] = int(keep_fp.sum())
            signed = snr * np.float32(sign)
            peak_flags = _local_maxima(signed, flat)
            peak_flat = flat[peak_flags]
            peak_fp = ids_old[peak_flags]
            slices = ndimage.find_objects(sign_labels)
            order = np.argsort(peak_fp, kind="stable")
            peak_flat, peak_fp = peak_flat[order], peak_fp[order]
            starts = np.searchsorted(peak_fp, np.arange(n_found + 2))
            py_all, px_all = np.divmod(peak_flat, snr.shape[1])
            for fp in np.flatnonzero(keep_fp):
                lo, hi = starts[fp], starts[fp + 1]
                px, py = px_all[lo:hi], py_all[lo:hi]
                if px.size == 0:
                    continue
                chosen = _prune_peaks(signed, bad, px, py, config.min_prominence, config.max_peaks)
                sl = slices[fp - 1]
                bbox = max(sl[0].stop - sl[0].start, sl[1].stop - sl[1].start)
                # Masked pixels inside the footprint's box count too (they are never above threshold).
                box_bits = int(np.bitwise_or.reduce(mask[sl], axis=None)) if bad[sl].any() else 0
                for k in chosen:
                    rows.append(
                        (
                            int(new_id[fp]),
                            int(px[k]),
                            int(py[k]),
                            float(signed[py[k], px[k]]),
                            sign < 0,
                            len(chosen),
                            int(npix[fp]),
                            bbox,
                            int(bits[fp]) | box_bits,
                        )
                    )
        names = (
            "footprint_id",
            "peak_x",
            "peak_y",
            "peak_snr",
            "is_negative",
            "n_peaks",
            "footprint_npix",
            "footprint_bbox",
            "footprint_mask",
        )
        dtypes = (np.int32, np.int32, np.int32, np.float64, bool, np.int32, np.int32, np.int32, np.int64)
        if rows:
            columns = list(zip(*rows, strict=True))
            peaks = Table([np.array(c, dtype=d) for c, d in zip(columns, dtypes, strict=True)], names=names)
        else:
            peaks = Table([np.zeros(0, dtype=d) for d in dtypes], names=names)
        peaks.add_column(np.arange(len(peaks), dtype=np.int64), name="id", index=0)
        peaks["peak_x"].unit = peaks["peak_y"].unit = "pix"
        return DetectionResult(
            peaks=peaks,
            labels=labels,
            snr=snr,
            mask=mask,
            n_positive=counts[1.0],
            n_negative=counts[-1.0],
            noise_scale=noise_scale,
        )
