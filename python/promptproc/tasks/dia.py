"""DIA source detection and measurement on a difference image.

1. **Detect** positive and negative sources at `DetectionConfig.threshold`
   (5 sigma) with the difference image's PSF as matched filter, noise from
   the propagated variance; by default the significance is also divided by
   its own robust scatter, which absorbs noise the variance plane misses
   (correlations from warping and convolution).
2. **Measure** every peak (`MeasurementTask`): windowed centroid, PSF flux
   (forced at the centroid), aperture flux, moments, pixel flags; negative
   peaks get negative fluxes.
3. **Dipoles**: a positive and a negative source closer than
   `DiaConfig.dipole_max_separation_fwhm` PSF FWHM (one-to-one, closest
   first) are merged into one DiaSource with ``isDipole`` set: its position
   is the flux-weighted mean of the lobes, its ``psfFlux`` the PSF fit
   there, and ``dipoleMeanFlux``, ``dipoleFluxDiff``, ``dipoleLength``,
   ``dipoleAngle`` come from the lobes' measurements (no dipole-model fit:
   the lobe separation exceeds the true shift when that is below ~1 FWHM).
4. **Calibrate**: fluxes to nJy with the difference's `PhotoCalib`,
   positions to ``ra``/``dec`` with its WCS; forced PSF fluxes on the
   science image (``scienceFlux``) and on the matched template
   (``templateFlux``) when given.
5. **Filter** (`DiaConfig.do_filter`, `DiaFilterTask`): sources at the
   image edge, on masked pixels, in the halos of saturated stars,
   fragments of brighter sources split off by masked pixels, and the
   opposite-sign lobes of imperfectly subtracted template sources are
   dropped; they are returned apart (`DiaResult.rejected`, with the reason) and
   counted per reason (`DiaResult.rejections`), so they reach neither the
   APDB nor the alerts.

Columns are named as in the APDB ``DiaSource`` table where one exists.
Pixel convention: ``image[y, x]``, 0-based, centres at integer coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table
from scipy.spatial import cKDTree

from ..image import Exposure
from .astrometry import pixel_scale_arcsec
from .detection import DetectionConfig, DetectionTask
from .filter import REASON_DTYPE, REJECTION_REASONS, DiaFilterConfig, DiaFilterTask
from .measurement import MeasurementConfig, MeasurementTask, forced_psf_flux, psf_moments

__all__ = ["DiaConfig", "DiaResult", "DiaTask"]


def _default_detection() -> DetectionConfig:
    return DetectionConfig(
        threshold=5.0,
        polarity="both",
        rescale_to_empirical_noise=True,
        grow_fwhm=0.5,
        bad_mask_planes=("NO_DATA", "BAD", "SAT"),
    )


@dataclass(frozen=True)
class DiaConfig:
    """How DIA sources are found and measured.

    Parameters
    ----------
    detection : `DetectionConfig`
        Detection on the difference (both polarities, 5 sigma by default).
    measurement : `MeasurementConfig`
        Measurement of every peak.
    merge_dipoles : `bool`
        Merge adjacent positive/negative pairs into one dipole source.
    dipole_max_separation_fwhm : `float`
        Largest lobe separation of a dipole, PSF FWHM.
    do_filter : `bool`
        Drop the sources the difference cannot vouch for (`DiaFilterTask`).
    filter : `DiaFilterConfig`
        What is dropped.
    """

    detection: DetectionConfig = field(default_factory=_default_detection)
    measurement: MeasurementConfig = field(default_factory=MeasurementConfig)
    merge_dipoles: bool = True
    dipole_max_separation_fwhm: float = 2.0
    do_filter: bool = True
    filter: DiaFilterConfig = field(default_factory=DiaFilterConfig)


@dataclass
class DiaResult:
    """DIA sources of one difference image.

    Attributes
    ----------
    sources : `astropy.table.Table`
        One row per DiaSource, ordered by ``y`` then ``x`` (see `DiaTask.run`).
    n_positive, n_negative : `int`
        Footprints of each sign found.
    n_dipoles : `int`
        Dipole sources (each from one positive and one negative peak).
    noise_scale : `float`
        Factor the significance image was divided by.
    rejected : `astropy.table.Table`
        Sources dropped by the filter, with the same columns plus
        ``reason`` (empty without filtering).
    rejections : `dict` [`str`, `int`]
        Sources dropped per reason (every reason of
        `~promptproc.tasks.filter.REJECTION_REASONS`, zeros without filtering).
    """

    sources: Table
    n_positive: int
    n_negative: int
    n_dipoles: int
    noise_scale: float
    rejected: Table
    rejections: dict[str, int]


def _pair_dipoles(
    x: np.ndarray, y: np.ndarray, negative: np.ndarray, max_sep: float
) -> list[tuple[int, int]]:
    """One-to-one (positive row, negative row) pairs closer than ``max_sep``, closest first."""
    pos, neg = np.flatnonzero(~negative), np.flatnonzero(negative)
    if pos.size == 0 or neg.size == 0:
        return []
    pairs = cKDTree(np.column_stack([x[pos], y[pos]])).sparse_distance_matrix(
        cKDTree(np.column_stack([x[neg], y[neg]])), max_sep, output_type="ndarray"
    )
    if pairs.size == 0:
        return []
    used_pos: set[int] = set()
    used_neg: set[int] = set()
    result = []
    for k in np.argsort(pairs["v"], kind="stable"):
        i, j = int(pos[pairs["i"][k]]), int(neg[pairs["j"][k]])
        if i in used_pos or j in used_neg:
            continue
        used_pos.add(i)
        used_neg.add(j)
        result.append((i, j))
    return result


class DiaTask:
    """Detect and measure DIA sources.

    Parameters
    ----------
    config : `DiaConfig`, optional
        Parameters; defaults if not given.
    """

    ConfigClass = DiaConfig

    def __init__(self, config: DiaConfig | None = None) -> None:
        self.config = config or DiaConfig()

    def run(
        self,
        difference: Exposure,
        science: Exposure | None = None,
        matched_template: Exposure | None = None,
        band: str | None = None,
        detector: int = -1,
    ) -> DiaResult:
        """Find and measure the sources of a difference image.

        Parameters
        ----------
        difference : `Exposure`
            Difference image (science counts) with PSF, WCS and PhotoCalib.
        science : `Exposure`, optional
            The science exposure, for ``scienceFlux`` and the saturated
            stars' halos of the filter.
        matched_template : `Exposure`, optional
            The template as subtracted, for ``templateFlux`` (which the
            filter's subtraction-residual test needs).
        band : `str`, optional
            Band; by default the difference's ``visit_info.band``.
        detector : `int`
            Detector ID recorded in the table.

        Returns
        -------
        result : `DiaResult`
            The sources the filter keeps.  Table columns (fluxes in nJy,
            positions in pixels and degrees):

            ``visit``, ``detector``, ``band``, ``midpointMjdTai``,
            ``x``, ``y``, ``xErr``, ``yErr``, ``ra``, ``dec``, ``raErr``,
            ``decErr`` (deg), ``centroid_flag``,
            ``psfFlux``, ``psfFluxErr``, ``psfChi2``, ``psfNdata``,
            ``psfFlux_flag``, ``psfFlux_flag_edge``,
            ``psfFlux_flag_noGoodPixels``, ``snr`` (detection significance,
            absolute), ``isNegative``, ``apFlux``, ``apFluxErr``,
            ``apFlux_flag``, ``apFlux_flag_apertureTruncated``,
            ``scienceFlux``, ``scienceFluxErr``, ``forced_PsfFlux_flag``,
            ``templateFlux``, ``templateFluxErr``,
            ``ixx``, ``iyy``, ``ixy``, ``ixxPSF``, ``iyyPSF``, ``ixyPSF``
            (pix²), ``shape_flag``, ``isDipole``, ``dipoleMeanFlux``,
            ``dipoleFluxDiff``, ``dipoleLength`` (arcsec), ``dipoleAngle``
            (deg east of north, negative to positive lobe),
            ``dipoleFitAttempted``, ``bboxSize``, ``blended``, ``pixelFlags``,
            ``pixelFlags_{bad,cr,nodata,interpolated,saturated,suspect,streak}``
            and ``...Center``, ``pixelFlags_edge``, ``pixelFlags_offimage``.

        Raises
        ------
        ValueError
            If the difference has no PSF.
        """
        config = self.config
        psf = difference.psf
        if psf is None:
            raise ValueError("the difference image needs a PSF")
        detection = DetectionTask(config.detection).run(difference, psf)
        work = Exposure(
            image=difference.image,
            mask=detection.mask,
            variance=difference.variance,
            wcs=difference.wcs,
            psf=psf,
            photo_calib=difference.photo_calib,
        )
        measured = MeasurementTask(config.measurement).run(work, detection.peaks, psf)
        n = len(measured)
        x = np.asarray(measured["x"], dtype=float)
        y = np.asarray(measured["y"], dtype=float)
        negative = np.asarray(measured["is_negative"], dtype=bool)
        flux = np.asarray(measured["psfInstFlux"], dtype=float)
        pairs = (
            _pair_dipoles(x, y, negative, config.dipole_max_separation_fwhm * psf.fwhm)
            if config.merge_dipoles
            else []
        )
        scale = pixel_scale_arcsec(difference.wcs) if difference.wcs is not None else float("nan")
        table = measured.copy(copy_data=True)
        table["isDipole"] = np.zeros(n, dtype=bool)
        for name in ("dipoleMeanFlux", "dipoleFluxDiff", "dipoleLength", "dipoleAngle"):
            table[name] = np.full(n, np.nan)
        drop = []
        flag_names = [
            c for c in table.colnames if c.startswith("pixelFlags_") or c.endswith("_flag") or "_flag_" in c
        ]
        for i, j in pairs:
            wi, wj = (
                abs(flux[i]) if np.isfinite(flux[i]) else 0.0,
                abs(flux[j]) if np.isfinite(flux[j]) else 0.0,
            )
            total = wi + wj
            mx = (wi * x[i] + wj * x[j]) / total if total > 0 else 0.5 * (x[i] + x[j])
            my = (wi * y[i] + wj * y[j]) / total if total > 0 else 0.5 * (y[i] + y[j])
            table["x"][i], table["y"][i] = mx, my
            table["isDipole"][i] = True
            table["dipoleMeanFlux"][i] = 0.5 * total
            table["dipoleFluxDiff"][i] = wi - wj
            table["dipoleLength"][i] = float(np.hypot(x[i] - x[j], y[i] - y[j])) * scale
            table["dipoleAngle"][i] = self._position_angle(difference, x[j], y[j], x[i], y[i])
            table["peak_snr"][i] = max(float(table["peak_snr"][i]), float(table["peak_snr"][j]))
            table["xErr"][i] = np.hypot(table["xErr"][i], table["xErr"][j]) / 2.0
            table["yErr"][i] = np.hypot(table["yErr"][i], table["yErr"][j]) / 2.0
            for name in flag_names:
                table[name][i] = bool(table[name][i]) or bool(table[name][j])
            drop.append(j)
        if drop:
            table.remove_rows(drop)
        dipole = np.asarray(table["isDipole"], dtype=bool)
        if dipole.any():
            # The PSF flux of a dipole is the PSF fit at its centre.
            forced = forced_psf_flux(
                work, np.asarray(table["x"])[dipole], np.asarray(table["y"])[dipole], psf, config.measurement
            )
            table["psfInstFlux"][dipole] = forced["flux"]
            table["psfInstFluxErr"][dipole] = forced["fluxErr"]
            table["psfChi2"][dipole] = forced["chi2"]
            table["psfNdata"][dipole] = forced["ndata"]
        result = self._finish(table, difference, science, matched_template, band, detector, psf)
        rejected = result[:0].copy()
        rejected["reason"] = np.zeros(0, dtype=REASON_DTYPE)
        rejections = dict.fromkeys(REJECTION_REASONS, 0)
        if config.do_filter:
            filtered = DiaFilterTask(config.filter).run(result, difference, science)
            result, rejected, rejections = filtered.sources, filtered.rejected, filtered.counts
        return DiaResult(
            sources=result,
            n_positive=detection.n_positive,
            n_negative=detection.n_negative,
            n_dipoles=len(pairs),
            noise_scale=detection.noise_scale,
            rejected=rejected,
            rejections=rejections,
        )

    @staticmethod
    def _position_angle(exposure: Exposure, x0: float, y0: float, x1: float, y1: float) -> float:
        """Position angle (degrees east of north) of the vector from pixel 0 to pixel 1."""
        if exposure.wcs is None:
            return float("nan")
        ra, dec = exposure.wcs.all_pix2world([x0, x1], [y0, y1], 0)
        east = ((ra[1] - ra[0] + 180.0) % 360.0 - 180.0) * np.cos(np.radians(dec[0]))
        return float(np.degrees(np.arctan2(east, dec[1] - dec[0])) % 360.0)

    def _finish(
        self,
        table: Table,
        difference: Exposure,
        science: Exposure | None,
        matched_template: Exposure | None,
        band: str | None,
        detector: int,
        psf,
    ) -> Table:
        """Calibrate, add sky positions and forced fluxes, and name the columns as the APDB does."""
        n = len(table)
        njy = difference.photo_calib.njy_per_count if difference.photo_calib is not None else float("nan")
        x = np.asarray(table["x"], dtype=float)
        y = np.asarray(table["y"], dtype=float)
        out = Table()
        visit_info = difference.visit_info
        out["visit"] = np.full(n, visit_info.exposure_id, dtype=np.int64)
        out["detector"] = np.full(n, detector, dtype=np.int16)
        out["band"] = np.full(n, band or visit_info.band or "", dtype="U8")
        out["midpointMjdTai"] = np.full(n, visit_info.mjd_mid)
        for name in ("x", "y", "xErr", "yErr"):
            out[name] = np.asarray(table[name], dtype=np.float64)
            out[name].unit = "pix"
        if difference.wcs is not None:
            ra, dec = difference.wcs.all_pix2world(x, y, 0)
            scale_deg = pixel_scale_arcsec(difference.wcs) / 3600.0
        else:
            ra = dec = np.full(n, np.nan)
            scale_deg = float("nan")
        out["ra"], out["dec"] = ra, dec
        out["raErr"] = np.asarray(table["xErr"], dtype=float) * scale_deg
        out["decErr"] = np.asarray(table["yErr"], dtype=float) * scale_deg
        for name in ("ra", "dec", "raErr", "decErr"):
            out[name].unit = "deg"
        out["centroid_flag"] = table["centroid_flag"]
        out["psfFlux"] = np.asarray(table["psfInstFlux"], dtype=float) * njy
        out["psfFluxErr"] = np.asarray(table["psfInstFluxErr"], dtype=float) * njy
        out["psfChi2"] = table["psfChi2"]
        out["psfNdata"] = table["psfNdata"]
        for name in ("psfFlux_flag", "psfFlux_flag_edge", "psfFlux_flag_noGoodPixels"):
            out[name] = table[name]
        out["snr"] = np.abs(np.asarray(table["peak_snr"], dtype=float))
        out["isNegative"] = np.asarray(table["is_negative"], dtype=bool) & ~np.asarray(
            table["isDipole"], dtype=bool
        )
        out["apFlux"] = np.asarray(table["apInstFlux"], dtype=float) * njy
        out["apFluxErr"] = np.asarray(table["apInstFluxErr"], dtype=float) * njy
        out["apFlux_flag"] = table["apFlux_flag"]
        out["apFlux_flag_apertureTruncated"] = table["apFlux_flag_apertureTruncated"]
        for prefix, exposure in (("science", science), ("template", matched_template)):
            values = np.full(n, np.nan)
            errors = np.full(n, np.nan)
            flag = np.ones(n, dtype=bool)
            if exposure is not None and n and exposure.psf is not None:
                forced = forced_psf_flux(exposure, x, y, exposure.psf, self.config.measurement)
                calib = exposure.photo_calib.njy_per_count if exposure.photo_calib is not None else njy
                values = np.asarray(forced["flux"]) * calib
                errors = np.asarray(forced["fluxErr"]) * calib
                flag = np.asarray(forced["flag"], dtype=bool)
            out[f"{prefix}Flux"] = values
            out[f"{prefix}FluxErr"] = errors
            if prefix == "science":
                out["forced_PsfFlux_flag"] = flag
        for name in (
            "psfFlux",
            "psfFluxErr",
            "apFlux",
            "apFluxErr",
            "scienceFlux",
            "scienceFluxErr",
            "templateFlux",
            "templateFluxErr",
        ):
            out[name].unit = "nJy"
        for name in ("ixx", "iyy", "ixy"):
            out[name] = table[name]
            out[name].unit = "pix2"
        ixx_psf, iyy_psf, ixy_psf = psf_moments(psf)
        out["ixxPSF"] = np.full(n, ixx_psf)
        out["iyyPSF"] = np.full(n, iyy_psf)
        out["ixyPSF"] = np.full(n, ixy_psf)
        out["shape_flag"] = table["shape_flag"]
        out["isDipole"] = table["isDipole"]
        out["dipoleMeanFlux"] = np.asarray(table["dipoleMeanFlux"], dtype=float) * njy
        out["dipoleFluxDiff"] = np.asarray(table["dipoleFluxDiff"], dtype=float) * njy
        out["dipoleMeanFlux"].unit = out["dipoleFluxDiff"].unit = "nJy"
        out["dipoleLength"] = table["dipoleLength"]
        out["dipoleLength"].unit = "arcsec"
        out["dipoleAngle"] = table["dipoleAngle"]
        out["dipoleAngle"].unit = "deg"
        out["dipoleFitAttempted"] = np.zeros(n, dtype=bool)
        out["bboxSize"] = table["bboxSize"]
        out["blended"] = table["blended"]
        out["pixelFlags"] = np.zeros(n, dtype=bool)
        for name in table.colnames:
            # The APDB has no bad-pixel-at-centre flag.
            if name.startswith("pixelFlags_") and name != "pixelFlags_badCenter":
                out[name] = table[name]
        order = np.lexsort((x, y))
        return out[order]
