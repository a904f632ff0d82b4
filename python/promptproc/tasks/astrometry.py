"""Astrometric calibration: match sources to a reference catalog and fit a TAN(-SIP) WCS.

1. **Selection**: the brightest unflagged sources above
   `AstrometryConfig.min_snr`; the brightest reference stars that the guessed
   WCS puts on the detector (grown by the largest pointing error).
2. **Coarse match** (pattern-free, robust to outliers): for a few trial
   rotations about the detector centre spanning
   ``±`` `AstrometryConfig.max_rotation_deg`, every source-reference pair
   closer than `AstrometryConfig.max_offset_arcsec` votes for its pixel offset
   in a 2-d histogram; the rotation and offset with the largest 3x3-bin
   vote win.  The vote peak must stand out from the pairs' background by
   `AstrometryConfig.min_vote_significance` Poisson sigmas.
3. **Fit**: nearest-neighbour matches within a radius (one-to-one), then
   iterations of: linear least squares of the tangent-plane coordinates of
   the matched references, ``(ξ, η) = CD · (u + f, v + g)`` with ``u, v``
   pixel offsets from the detector centre (CRPIX) and ``f, g`` SIP
   polynomials of orders 2..`AstrometryConfig.sip_order` (none by default);
   the tangent point (CRVAL) is moved to the fitted zero point and the fit
   repeated until it stays there; matches whose residual exceeds
   `AstrometryConfig.clip_nsigma` robust sigmas on either axis are dropped;
   references are re-projected with the new WCS and re-matched.

Residual RMS is in arcseconds on the sky.  Pixel positions are 0-based with
centres at integer coordinates (astropy WCS ``origin=0``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.table import Table
from astropy.wcs import WCS, Sip
from scipy import ndimage
from scipy.spatial import cKDTree

from ._numerics import MAD_TO_SIGMA
from .errors import CalibrationFailure

__all__ = [
    "AstrometryConfig",
    "AstrometryResult",
    "AstrometryTask",
    "fit_tan_sip",
    "gnomonic_forward",
    "gnomonic_inverse",
    "pixel_scale_arcsec",
]

_SOURCE_REJECT = (
    "centroid_flag",
    "psfFlux_flag",
    "is_negative",
    "pixelFlags_saturatedCenter",
    "pixelFlags_edge",
    "pixelFlags_nodataCenter",
    "pixelFlags_crCenter",
)


@dataclass(frozen=True)
class AstrometryConfig:
    """How the WCS is fitted.

    Parameters
    ----------
    max_offset_arcsec : `float`
        Largest pointing error searched, arcseconds.
    max_rotation_deg : `float`
        Largest rotation error searched, degrees.
    vote_bin_pix : `float`
        Bin size of the offset histogram, pixels.
    min_vote_significance : `float`
        Least excess of the winning vote over the pair background, Poisson sigma.
    max_sources : `int`
        Brightest sources used.
    max_refs : `int`
        Brightest reference stars used.
    min_snr : `float`
        Least PSF signal-to-noise ratio of a source used.
    match_radius_arcsec : `float`
        Match radius once the WCS has been fitted once, arcseconds.
    iterations : `int`
        Fit / clip / re-match iterations.
    clip_nsigma : `float`
        Residual clipping threshold, robust sigmas per axis.
    min_sigma_arcsec : `float`
        Floor of the clipping sigma, arcseconds (keeps a near-perfect fit from
        clipping good stars).
    sip_order : `int`
        Order of the SIP distortion polynomials (0 or 1: pure TAN).
    min_matches : `int`
        Fewer final matches is a `CalibrationFailure`.
    max_rms_arcsec : `float`
        A larger final residual RMS is a `CalibrationFailure`.
    """

    max_offset_arcsec: float = 10.0
    max_rotation_deg: float = 0.1
    vote_bin_pix: float = 2.0
    min_vote_significance: float = 5.0
    max_sources: int = 400
    max_refs: int = 2000
    min_snr: float = 10.0
    match_radius_arcsec: float = 1.0
    iterations: int = 4
    clip_nsigma: float = 3.0
    min_sigma_arcsec: float = 0.01
    sip_order: int = 0
    min_matches: int = 6
    max_rms_arcsec: float = 0.5


@dataclass
class AstrometryResult:
    """A fitted WCS.

    Attributes
    ----------
    wcs : `astropy.wcs.WCS`
        TAN (or TAN-SIP) WCS, CRPIX at the detector centre.
    rms_arcsec : `float`
        RMS of the matched residual vectors, arcseconds (``sqrt(<dx² + dy²>)``).
    rms_ra_arcsec, rms_dec_arcsec : `float`
        RMS per axis (``dRA cos(dec)`` and ``dDec``), arcseconds.
    n_matched : `int`
        Matches kept by the last fit.
    matches : `astropy.table.Table`
        ``source_row``, ``ref_row`` (rows of the inputs), ``dra``, ``ddec``
        (arcsec, ``dRA cos(dec)``, fitted minus reference).
    offset_arcsec : `tuple` [`float`, `float`]
        Fitted minus guessed sky position of the detector centre,
        ``(dRA cos(dec), dDec)`` arcseconds.
    rotation_deg : `float`
        Fitted minus guessed position angle of the detector ``+y`` axis,
        degrees (east of north).
    vote_significance : `float`
        Excess of the winning vote, Poisson sigma.
    """

    wcs: WCS
    rms_arcsec: float
    rms_ra_arcsec: float
    rms_dec_arcsec: float
    n_matched: int
    matches: Table
    offset_arcsec: tuple[float, float]
    rotation_deg: float
    vote_significance: float


def gnomonic_forward(
    ra: np.ndarray, dec: np.ndarray, ra0: float, dec0: float
) -> tuple[np.ndarray, np.ndarray]:
    """Standard coordinates ``(ξ, η)`` (degrees, ξ towards east) of sky positions (degrees)."""
    a, d = np.radians(ra), np.radians(dec)
    a0, d0 = np.radians(ra0), np.radians(dec0)
    cos_c = np.sin(d0) * np.sin(d) + np.cos(d0) * np.cos(d) * np.cos(a - a0)
    xi = np.cos(d) * np.sin(a - a0) / cos_c
    eta = (np.cos(d0) * np.sin(d) - np.sin(d0) * np.cos(d) * np.cos(a - a0)) / cos_c
    return np.degrees(xi), np.degrees(eta)


def gnomonic_inverse(
    xi: np.ndarray, eta: np.ndarray, ra0: float, dec0: float
) -> tuple[np.ndarray, np.ndarray]:
    """Sky positions (degrees) of standard coordinates ``(ξ, η)`` (degrees)."""
    x, y = np.radians(xi), np.radians(eta)
    a0, d0 = np.radians(ra0), np.radians(dec0)
    denom = np.cos(d0) - y * np.sin(d0)
    ra = a0 + np.arctan2(x, denom)
    dec = np.arctan2(np.sin(d0) + y * np.cos(d0), np.hypot(x, denom))
    return np.degrees(ra) % 360.0, np.degrees(dec)


def pixel_scale_arcsec(wcs: WCS) -> float:
    """Mean pixel scale of a celestial WCS at its reference pixel, arcseconds."""
    return float(3600.0 * np.sqrt(abs(np.linalg.det(wcs.pixel_scale_matrix))))


def _poly_terms(
    u: np.ndarray, v: np.ndarray, order: int, min_order: int
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Columns ``u^p v^q`` for ``min_order <= p + q <= order``."""
    powers = [(p, total - p) for total in range(min_order, order + 1) for p in range(total, -1, -1)]
    if not powers:
        return np.zeros((u.size, 0)), []
    return np.column_stack([u**p * v**q for p, q in powers]), powers


def fit_tan_sip(
    x: np.ndarray,
    y: np.ndarray,
    ra: np.ndarray,
    dec: np.ndarray,
    crpix: tuple[float, float],
    crval: tuple[float, float],
    sip_order: int = 0,
    iterations: int = 5,
) -> WCS:
    """Least-squares TAN(-SIP) WCS through matched pixel and sky positions.

    Parameters
    ----------
    x, y : `numpy.ndarray`
        0-based pixel positions.
    ra, dec : `numpy.ndarray`
        Sky positions, degrees.
    crpix : `tuple` [`float`, `float`]
        0-based reference pixel (kept fixed).
    crval : `tuple` [`float`, `float`]
        Starting tangent point, degrees; it is moved to the fitted position
        of ``crpix``.
    sip_order : `int`
        SIP order; below 2 the WCS is pure TAN.
    iterations : `int`
        Tangent-point updates.

    Returns
    -------
    wcs : `astropy.wcs.WCS`
        The fitted WCS (with inverse SIP polynomials when ``sip_order >= 2``).
    """
    u = np.asarray(x, dtype=float) - crpix[0]
    v = np.asarray(y, dtype=float) - crpix[1]
    order = sip_order if sip_order >= 2 else 1
    design, powers = _poly_terms(u, v, order, 0)
    ra0, dec0 = float(crval[0]), float(crval[1])
    for _ in range(max(iterations, 1)):
        xi, eta = gnomonic_forward(ra, dec, ra0, dec0)
        coef_xi, *_ = np.linalg.lstsq(design, xi, rcond=None)
        coef_eta, *_ = np.linalg.lstsq(design, eta, rcond=None)
        ra0, dec0 = (float(c) for c in gnomonic_inverse(coef_xi[0], coef_eta[0], ra0, dec0))
        if abs(coef_xi[0]) < 1e-10 and abs(coef_eta[0]) < 1e-10:
            break
    xi, eta = gnomonic_forward(ra, dec, ra0, dec0)
    coef_xi, *_ = np.linalg.lstsq(design, xi, rcond=None)
    coef_eta, *_ = np.linalg.lstsq(design, eta, rcond=None)
    index = {pq: k for k, pq in enumerate(powers)}
    cd = np.array(
        [[coef_xi[index[(1, 0)]], coef_xi[index[(0, 1)]]], [coef_eta[index[(1, 0)]], coef_eta[index[(0, 1)]]]]
    )
    wcs = WCS(naxis=2)
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.radesys = "ICRS"
    wcs.wcs.crpix = [crpix[0] + 1.0, crpix[1] + 1.0]
    wcs.wcs.crval = [ra0, dec0]
    wcs.wcs.cd = cd
    if sip_order >= 2:
        inverse_cd = np.linalg.inv(cd)
        a = np.zeros((sip_order + 1, sip_order + 1))
        b = np.zeros((sip_order + 1, sip_order + 1))
        for (p, q), k in index.items():
            if p + q >= 2:
                a[p, q], b[p, q] = inverse_cd @ np.array([coef_xi[k], coef_eta[k]])
        # Inverse polynomials: fitted on a grid spanning the matched positions.
        gu, gv = np.meshgrid(
            np.linspace(u.min(), u.max(), 25), np.linspace(v.min(), v.max(), 25), indexing="xy"
        )
        gu, gv = gu.ravel(), gv.ravel()
        terms_hi, powers_hi = _poly_terms(gu, gv, sip_order, 2)
        fu = gu + terms_hi @ np.array([a[p, q] for p, q in powers_hi])
        fv = gv + terms_hi @ np.array([b[p, q] for p, q in powers_hi])
        inv_design, inv_powers = _poly_terms(fu, fv, sip_order, 1)
        coef_u, *_ = np.linalg.lstsq(inv_design, gu - fu, rcond=None)
        coef_v, *_ = np.linalg.lstsq(inv_design, gv - fv, rcond=None)
        ap = np.zeros_like(a)
        bp = np.zeros_like(b)
        for k, (p, q) in enumerate(inv_powers):
            ap[p, q], bp[p, q] = coef_u[k], coef_v[k]
        wcs.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
        wcs.sip = Sip(a, b, ap, bp, wcs.wcs.crpix)
    else:
        wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.set()
    return wcs


def _sky_residuals(
    wcs: WCS, x: np.ndarray, y: np.ndarray, ra: np.ndarray, dec: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Fitted minus reference, ``(dRA cos(dec), dDec)`` in arcseconds."""
    fit_ra, fit_dec = wcs.all_pix2world(x, y, 0)
    dra = ((fit_ra - ra + 180.0) % 360.0 - 180.0) * np.cos(np.radians(dec)) * 3600.0
    ddec = (fit_dec - dec) * 3600.0
    return dra, ddec


def _position_angle(wcs: WCS, pixel: tuple[float, float]) -> float:
    """Position angle (degrees east of north) of the pixel ``+y`` direction at ``pixel``."""
    ra, dec = wcs.all_pix2world([pixel[0], pixel[0]], [pixel[1], pixel[1] + 1.0], 0)
    east = ((ra[1] - ra[0] + 180.0) % 360.0 - 180.0) * np.cos(np.radians(dec[0]))
    north = dec[1] - dec[0]
    return float(np.degrees(np.arctan2(east, north)))


def _match_unique(src_xy: np.ndarray, ref_xy: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one nearest-neighbour matches within ``radius`` (pixels)."""
    if src_xy.shape[0] == 0 or ref_xy.shape[0] == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    tree = cKDTree(ref_xy)
    dist, ref_idx = tree.query(src_xy, distance_upper_bound=radius)
    src_idx = np.flatnonzero(np.isfinite(dist))
    ref_idx, dist = ref_idx[src_idx], dist[src_idx]
    # Where several sources claim one reference, the closest keeps it.
    order = np.lexsort((dist, ref_idx))
    src_idx, ref_idx = src_idx[order], ref_idx[order]
    first = np.ones(ref_idx.size, dtype=bool)
    first[1:] = ref_idx[1:] != ref_idx[:-1]
    return src_idx[first], ref_idx[first]


class AstrometryTask:
    """Fit the WCS of an exposure against a reference catalog.

    Parameters
    ----------
    config : `AstrometryConfig`, optional
        Parameters; defaults if not given.
    """

    ConfigClass = AstrometryConfig

    def __init__(self, config: AstrometryConfig | None = None) -> None:
        self.config = config or AstrometryConfig()

    def _select_sources(self, sources: Table) -> np.ndarray:
        ok = np.isfinite(np.asarray(sources["x"], dtype=float)) & np.isfinite(
            np.asarray(sources["y"], dtype=float)
        )
        for name in _SOURCE_REJECT:
            if name in sources.colnames:
                ok &= ~np.asarray(sources[name], dtype=bool)
        snr = np.asarray(sources["snr"], dtype=float)
        ok &= np.isfinite(snr) & (snr >= self.config.min_snr)
        rows = np.flatnonzero(ok)
        flux = np.asarray(sources["psfInstFlux"], dtype=float)[rows]
        return rows[np.argsort(-flux, kind="stable")][: self.config.max_sources]

    def _select_refs(self, refcat: Table, wcs: WCS, shape: tuple[int, int], band: str | None, margin: float):
        ra = np.asarray(refcat["coord_ra"], dtype=float)
        dec = np.asarray(refcat["coord_dec"], dtype=float)
        with np.errstate(all="ignore"):
            rx, ry = wcs.all_world2pix(ra, dec, 0)
        height, width = shape
        ok = np.isfinite(rx) & np.isfinite(ry)
        ok &= (rx > -margin) & (rx < width - 1 + margin) & (ry > -margin) & (ry < height - 1 + margin)
        rows = np.flatnonzero(ok)
        column = f"{band}_flux" if band else None
        if column and column in refcat.colnames:
            flux = np.asarray(refcat[column], dtype=float)[rows]
            rows = rows[np.argsort(-np.nan_to_num(flux, nan=-np.inf), kind="stable")]
        return rows[: self.config.max_refs], rx, ry

    def _vote(
        self, sx: np.ndarray, sy: np.ndarray, rx: np.ndarray, ry: np.ndarray, centre, max_offset: float
    ):
        """Coarse rotation and offset (pixels) mapping source positions onto references."""
        config = self.config
        radius_max = float(np.max(np.hypot(sx - centre[0], sy - centre[1]))) if sx.size else 1.0
        step = np.degrees(config.vote_bin_pix / max(radius_max, 1.0))
        n_side = int(np.ceil(config.max_rotation_deg / step)) if config.max_rotation_deg > 0 else 0
        rotations = (
            np.linspace(-config.max_rotation_deg, config.max_rotation_deg, 2 * n_side + 1)
            if n_side
            else [0.0]
        )
        # Smallest rotations first, so that a tie keeps the one nearest the guess.
        rotations = sorted(rotations, key=abs)
        ref_tree = cKDTree(np.column_stack([rx, ry]))
        nbins = int(np.ceil(2 * max_offset / config.vote_bin_pix))
        edges = np.linspace(-max_offset, max_offset, nbins + 1)
        best = (-np.inf, 0.0, 0.0, 0.0, 0.0)
        for theta in rotations:
            c, s = np.cos(np.radians(theta)), np.sin(np.radians(theta))
            tx = centre[0] + c * (sx - centre[0]) - s * (sy - centre[1])
            ty = centre[1] + s * (sx - centre[0]) + c * (sy - centre[1])
            src_tree = cKDTree(np.column_stack([tx, ty]))
            pairs = src_tree.sparse_distance_matrix(ref_tree, max_offset * np.sqrt(2), output_type="ndarray")
            if pairs.size == 0:
                continue
            dx = rx[pairs["j"]] - tx[pairs["i"]]
            dy = ry[pairs["j"]] - ty[pairs["i"]]
            hist, _, _ = np.histogram2d(dy, dx, bins=[edges, edges])
            summed = ndimage.uniform_filter(hist, size=3, mode="constant") * 9.0
            peak_index = np.unravel_index(np.argmax(summed), summed.shape)
            peak = summed[peak_index]
            background = max(float(np.median(summed)), float(summed.mean()))
            significance = (peak - background) / np.sqrt(background + 1.0)
            if significance > best[0]:
                centre_dy = 0.5 * (edges[peak_index[0]] + edges[peak_index[0] + 1])
                centre_dx = 0.5 * (edges[peak_index[1]] + edges[peak_index[1] + 1])
                near = (np.abs(dx - centre_dx) <= 1.5 * config.vote_bin_pix) & (
                    np.abs(dy - centre_dy) <= 1.5 * config.vote_bin_pix
                )
                best = (
                    significance,
                    float(theta),
                    float(np.median(dx[near])),
                    float(np.median(dy[near])),
                    peak,
                )
        return best

    def run(
        self,
        sources: Table,
        refcat: Table,
        wcs_guess: WCS,
        shape: tuple[int, int],
        band: str | None = None,
    ) -> AstrometryResult:
        """Fit the WCS.

        Parameters
        ----------
        sources : `astropy.table.Table`
            `MeasurementTask` output (``x``, ``y``, ``snr``, ``psfInstFlux``, flags).
        refcat : `astropy.table.Table`
            Reference catalog: ``coord_ra``, ``coord_dec`` (degrees) and
            optionally ``{band}_flux`` to rank stars by brightness.
        wcs_guess : `astropy.wcs.WCS`
            Predicted WCS (from the pointing).
        shape : `tuple` [`int`, `int`]
            ``(height, width)`` of the exposure, pixels.
        band : `str`, optional
            Band of the exposure.

        Returns
        -------
        result : `AstrometryResult`
            The fitted WCS and its quality.

        Raises
        ------
        CalibrationFailure
            With step ``"astrometry"``: no reference stars on the detector, no
            significant match, too few matches, or too large a residual.
        """
        config = self.config
        height, width = shape
        centre = ((width - 1) / 2.0, (height - 1) / 2.0)
        scale = pixel_scale_arcsec(wcs_guess)
        max_offset = config.max_offset_arcsec / scale
        src_rows = self._select_sources(sources)
        if src_rows.size < config.min_matches:
            raise CalibrationFailure(
                "astrometry",
                f"{src_rows.size} sources with SNR >= {config.min_snr:g}; need {config.min_matches}",
            )
        ref_rows, ref_x_all, ref_y_all = self._select_refs(refcat, wcs_guess, shape, band, max_offset)
        if ref_rows.size < config.min_matches:
            raise CalibrationFailure(
                "astrometry", f"{ref_rows.size} reference stars on the detector; need {config.min_matches}"
            )
        sx = np.asarray(sources["x"], dtype=float)[src_rows]
        sy = np.asarray(sources["y"], dtype=float)[src_rows]
        rx, ry = ref_x_all[ref_rows], ref_y_all[ref_rows]
        significance, theta, off_x, off_y, peak = self._vote(sx, sy, rx, ry, centre, max_offset)
        if (
            not np.isfinite(significance)
            or significance < config.min_vote_significance
            or peak < config.min_matches
        ):
            raise CalibrationFailure(
                "astrometry",
                f"no significant source-reference offset within {config.max_offset_arcsec:g} arcsec "
                f"(best vote {peak:g} pairs, {significance:.1f} sigma; "
                f"need {config.min_vote_significance:g})",
            )
        c, s = np.cos(np.radians(theta)), np.sin(np.radians(theta))
        tx = centre[0] + c * (sx - centre[0]) - s * (sy - centre[1]) + off_x
        ty = centre[1] + s * (sx - centre[0]) + c * (sy - centre[1]) + off_y
        ref_ra = np.asarray(refcat["coord_ra"], dtype=float)[ref_rows]
        ref_dec = np.asarray(refcat["coord_dec"], dtype=float)[ref_rows]
        i_src, i_ref = _match_unique(
            np.column_stack([tx, ty]), np.column_stack([rx, ry]), 2.0 * config.vote_bin_pix
        )
        crval = wcs_guess.all_pix2world([[centre[0], centre[1]]], 0)[0]
        wcs = wcs_guess
        keep = np.ones(i_src.size, dtype=bool)
        for _ in range(max(config.iterations, 1)):
            if keep.sum() < max(config.min_matches, 3):
                break
            wcs = fit_tan_sip(
                sx[i_src[keep]],
                sy[i_src[keep]],
                ref_ra[i_ref[keep]],
                ref_dec[i_ref[keep]],
                centre,
                crval,
                config.sip_order,
            )
            crval = wcs.wcs.crval
            # Re-match with the new WCS, then clip.
            with np.errstate(all="ignore"):
                px, py = wcs.all_world2pix(ref_ra, ref_dec, 0)
            i_src, i_ref = _match_unique(
                np.column_stack([sx, sy]), np.column_stack([px, py]), config.match_radius_arcsec / scale
            )
            if i_src.size == 0:
                break
            dra, ddec = _sky_residuals(wcs, sx[i_src], sy[i_src], ref_ra[i_ref], ref_dec[i_ref])
            sig_ra = max(
                MAD_TO_SIGMA * float(np.median(np.abs(dra - np.median(dra)))), config.min_sigma_arcsec
            )
            sig_dec = max(
                MAD_TO_SIGMA * float(np.median(np.abs(ddec - np.median(ddec)))), config.min_sigma_arcsec
            )
            keep = (np.abs(dra - np.median(dra)) <= config.clip_nsigma * sig_ra) & (
                np.abs(ddec - np.median(ddec)) <= config.clip_nsigma * sig_dec
            )
        n_matched = int(keep.sum()) if i_src.size else 0
        if n_matched < config.min_matches:
            raise CalibrationFailure(
                "astrometry", f"{n_matched} sources matched to reference stars; need {config.min_matches}"
            )
        # Final fit on the kept matches, and its residuals.
        i_src, i_ref = i_src[keep], i_ref[keep]
        wcs = fit_tan_sip(
            sx[i_src], sy[i_src], ref_ra[i_ref], ref_dec[i_ref], centre, crval, config.sip_order
        )
        dra, ddec = _sky_residuals(wcs, sx[i_src], sy[i_src], ref_ra[i_ref], ref_dec[i_ref])
        rms_ra = float(np.sqrt(np.mean(dra**2)))
        rms_dec = float(np.sqrt(np.mean(ddec**2)))
        rms = float(np.sqrt(np.mean(dra**2 + ddec**2)))
        if rms > config.max_rms_arcsec:
            raise CalibrationFailure(
                "astrometry",
                f"residual RMS {rms:.3f} arcsec exceeds {config.max_rms_arcsec:g} ({n_matched} matches)",
            )
        guess_ra, guess_dec = wcs_guess.all_pix2world([centre[0]], [centre[1]], 0)
        offset = _sky_residuals(wcs, np.array([centre[0]]), np.array([centre[1]]), guess_ra, guess_dec)
        matches = Table(
            {
                "source_row": src_rows[i_src].astype(np.int64),
                "ref_row": ref_rows[i_ref].astype(np.int64),
                "dra": dra,
                "ddec": ddec,
            }
        )
        matches["dra"].unit = matches["ddec"].unit = "arcsec"
        return AstrometryResult(
            wcs=wcs,
            rms_arcsec=rms,
            rms_ra_arcsec=rms_ra,
            rms_dec_arcsec=rms_dec,
            n_matched=n_matched,
            matches=matches,
            offset_arcsec=(float(offset[0][0]), float(offset[1][0])),
            rotation_deg=_position_angle(wcs, centre) - _position_angle(wcs_guess, centre),
            vote_significance=float(significance),
        )
