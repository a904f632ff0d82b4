"""DIA source filtering: drop the detections a difference image cannot vouch for.

Rubin removes such sources after DIA measurement (``badSourceFlags`` of its
detect-and-measure task) and before association (``filterDiaSourceCatalog``);
here one task does both, and keeps every rejected source with its reason so
the rejections can be counted and inspected.  A source is rejected for the
first of these reasons that applies, in this order:

``edge``
    The centroid lies within `DiaFilterConfig.edge_margin` pixels of the
    image boundary (pixel edges at ``-0.5`` and ``width - 0.5``): most of
    the PSF is off the image, and the PSF-matched image there lacks what the
    matching kernel would have brought in from beyond the boundary.
``masked_center``
    The pixel holding the centroid has one of `DiaFilterConfig.center_planes`
    in the difference's mask, which is the OR of the science mask and of the
    matched template's mask grown by the kernel: no data, saturated, bad,
    cosmic ray or suspect in either image.
``bright_star``
    In the halo of a saturated star, where the residuals of the star's wings
    and bleed trail outshine real sources.  Each 8-connected group of
    saturated pixels of the science image is one star: its core radius is
    half the widest row of the group (bleed trails run along columns), its
    centre the group's mean position.  The halo is the disc out to where the
    star's light falls below `DiaFilterConfig.halo_nsigma` times the sky
    noise: the first radius beyond the core at which the median of the
    science image in a one-pixel ring drops below that level, so the halo
    scales with the star's brightness without a model of the saturation
    level or of the PSF wings; at least `DiaFilterConfig.halo_min_margin_fwhm`
    beyond the core and at most `DiaFilterConfig.halo_max_radius_fwhm`.
    Sources within `DiaFilterConfig.saturation_grow_fwhm` of any saturated
    pixel (along the bleed trails) are in the halo too.  Without a science
    image the saturated pixels of the difference's mask are used, with the
    smallest halo.
``fragment``
    A piece of a brighter source of the same sign, split off by masked
    pixels (a bad column through a source makes two footprints): a masked
    pixel (`DiaFilterConfig.fragment_planes`) among the 3x3 around the
    centroid, and a source of the same sign with a larger significance
    within `DiaFilterConfig.fragment_radius_fwhm`.
``subtraction_residual``
    A small change of a bright template source, with a detection of the
    opposite sign close by (or merged into a dipole): the signature of a
    star subtracted imperfectly (misregistration, PSF mismatch in the
    wings), which leaves positive and negative lobes around it.  The flux
    on the difference is less than `DiaFilterConfig.residual_max_fraction`
    of the forced template flux at the same place, and a source of the
    other sign that survived the tests above lies within
    `DiaFilterConfig.residual_radius_fwhm`.  A variable star or a transient
    on a galaxy leaves one lobe only and is kept, however small its change.

Pixel convention: ``image[y, x]``, 0-based, centres at integer coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.table import Table
from scipy.spatial import cKDTree

from ..image import Exposure, MaskPlane
from ._numerics import connected_groups, gather_stamps
from .detection import mask_bits

__all__ = [
    "REASON_DTYPE",
    "REJECTION_REASONS",
    "DiaFilterConfig",
    "DiaFilterResult",
    "DiaFilterTask",
    "saturated_star_halos",
]

REJECTION_REASONS = ("edge", "masked_center", "bright_star", "fragment", "subtraction_residual")
"""Reasons a DIA source is rejected, in the order they are tested."""

REASON_DTYPE = f"U{max(len(reason) for reason in REJECTION_REASONS)}"
"""NumPy dtype of the ``reason`` column."""


@dataclass(frozen=True)
class DiaFilterConfig:
    """Which DIA sources are rejected.

    Parameters
    ----------
    edge_margin : `float`
        Sources whose centroid is closer than this to the image boundary
        are rejected, pixels.
    center_planes : `tuple` [`str`, ...]
        Mask planes of the difference that reject a source at its centroid's pixel.
    do_bright_star_halos : `bool`
        Reject sources in the halos of saturated stars.
    halo_nsigma : `float`
        A saturated star's halo extends to where its light falls below this
        many sky-noise sigmas (per pixel).
    halo_min_margin_fwhm : `float`
        Smallest extent of a halo beyond the star's saturated core, PSF FWHM.
    halo_max_radius_fwhm : `float`
        Largest halo radius, PSF FWHM.
    saturation_grow_fwhm : `float`
        Sources closer than this to a saturated pixel (bleed trails) are in
        the halo, PSF FWHM.
    fragment_radius_fwhm : `float`
        Largest distance of a fragment from the brighter source it belongs
        to, PSF FWHM.
    fragment_planes : `tuple` [`str`, ...]
        Mask planes that, around a source's centroid, can have split it off.
    do_residuals : `bool`
        Reject the lobes of imperfectly subtracted template sources.
    residual_max_fraction : `float`
        Largest ``|psfFlux| / templateFlux`` of a subtraction residual.
    residual_radius_fwhm : `float`
        Largest distance of the opposite-sign lobe, PSF FWHM.
    """

    edge_margin: float = 1.0
    center_planes: tuple[str, ...] = ("NO_DATA", "SAT", "BAD", "CR", "SUSPECT")
    do_bright_star_halos: bool = True
    halo_nsigma: float = 2.0
    halo_min_margin_fwhm: float = 1.0
    halo_max_radius_fwhm: float = 30.0
    saturation_grow_fwhm: float = 0.5
    fragment_radius_fwhm: float = 1.5
    fragment_planes: tuple[str, ...] = ("NO_DATA", "SAT", "BAD", "CR", "INTRP")
    do_residuals: bool = True
    residual_max_fraction: float = 0.2
    residual_radius_fwhm: float = 3.0

    def __post_init__(self) -> None:
        problems = []
        if self.edge_margin < 0:
            problems.append("edge_margin must be >= 0")
        if self.halo_nsigma <= 0:
            problems.append("halo_nsigma must be > 0")
        if self.halo_min_margin_fwhm < 0 or self.halo_max_radius_fwhm <= 0:
            problems.append("halo_min_margin_fwhm must be >= 0 and halo_max_radius_fwhm > 0")
        if self.saturation_grow_fwhm < 0 or self.fragment_radius_fwhm < 0 or self.residual_radius_fwhm < 0:
            problems.append(
                "saturation_grow_fwhm, fragment_radius_fwhm and residual_radius_fwhm must be >= 0"
            )
        if not 0 <= self.residual_max_fraction <= 1:
            problems.append("residual_max_fraction must be in [0, 1]")
        for name in (*self.center_planes, *self.fragment_planes):
            if name not in MaskPlane.__members__:
                problems.append(f"unknown mask plane {name!r}")
        if problems:
            raise ValueError("invalid DIA filter configuration: " + "; ".join(problems))


@dataclass
class DiaFilterResult:
    """DIA sources kept and rejected.

    Attributes
    ----------
    sources : `astropy.table.Table`
        The sources kept, in their input order.
    rejected : `astropy.table.Table`
        The sources rejected, in their input order, with a ``reason`` column
        (one of `REJECTION_REASONS`).
    counts : `dict` [`str`, `int`]
        Sources rejected per reason; every reason of `REJECTION_REASONS` is
        a key.
    halos : `astropy.table.Table`
        The saturated stars' halos: ``x``, ``y`` (centre, pixels),
        ``core_radius`` and ``radius`` (pixels), ``n_saturated`` (pixels).
    """

    sources: Table
    rejected: Table
    counts: dict[str, int]
    halos: Table


def _empty_halos() -> Table:
    names = ("x", "y", "core_radius", "radius", "n_saturated")
    dtypes = (np.float64, np.float64, np.float64, np.float64, np.int64)
    return Table([np.zeros(0, dtype=d) for d in dtypes], names=names)


def _ring_offsets(reach: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(dy, dx)`` of the pixels at each rounded distance ``0 .. reach`` from a pixel."""
    dy, dx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    ring = np.rint(np.hypot(dx, dy)).astype(np.intp).ravel()
    order = np.argsort(ring, kind="stable")
    starts = np.searchsorted(ring[order], np.arange(reach + 2))
    dy, dx = dy.ravel()[order], dx.ravel()[order]
    return [(dy[starts[r] : starts[r + 1]], dx[starts[r] : starts[r + 1]]) for r in range(reach + 1)]


def _ring_radius(
    science: Exposure,
    x0: float,
    y0: float,
    r_min: float,
    r_max: float,
    level: float,
    bad_bits: int,
    rings: list[tuple[np.ndarray, np.ndarray]],
) -> float:
    """First radius in ``[r_min, r_max]`` at which the median of a one-pixel ring falls below ``level``.

    Rings are scanned outwards, so the cost grows with the area of the halo.
    """
    height, width = science.shape
    cx, cy = int(np.rint(x0)), int(np.rint(y0))
    for radius in range(int(np.ceil(r_min)), min(int(np.floor(r_max)), len(rings) - 1) + 1):
        dy, dx = rings[radius]
        ys, xs = cy + dy, cx + dx
        inside = (ys >= 0) & (ys < height) & (xs >= 0) & (xs < width)
        ys, xs = ys[inside], xs[inside]
        values = science.image[ys, xs]
        good = ((science.mask[ys, xs] & bad_bits) == 0) & np.isfinite(values)
        # A ring mostly lost to masks or the image edge says little; go on outwards.
        if np.count_nonzero(good) >= 8 and float(np.median(values[good])) < level:
            return float(radius)
    return r_max


def saturated_star_halos(
    saturated: np.ndarray, science: Exposure | None, fwhm: float, config: DiaFilterConfig
) -> Table:
    """The halos of the saturated stars of an exposure (see the module notes).

    Parameters
    ----------
    saturated : `numpy.ndarray`
        Boolean ``(height, width)`` image of saturated pixels.
    science : `Exposure` or `None`
        Background-subtracted science exposure whose light sets the halo
        radii; without it every halo has the smallest radius.
    fwhm : `float`
        PSF FWHM, pixels.
    config : `DiaFilterConfig`
        Halo parameters.

    Returns
    -------
    halos : `astropy.table.Table`
        ``x``, ``y`` (centre), ``core_radius``, ``radius`` (pixels) and
        ``n_saturated`` of each star, one row per 8-connected group of
        saturated pixels.
    """
    flat = np.flatnonzero(saturated)
    n_groups, labels = connected_groups(flat, saturated.shape)
    if n_groups == 0:
        return _empty_halos()
    width = saturated.shape[1]
    ys, xs = np.divmod(flat, width)
    count = np.bincount(labels, minlength=n_groups)
    cx = np.bincount(labels, weights=xs, minlength=n_groups) / count
    cy = np.bincount(labels, weights=ys, minlength=n_groups) / count
    # Widest row of each group: pixels per (group, row).
    key = labels.astype(np.int64) * saturated.shape[0] + ys
    row_groups, row_counts = np.unique(key, return_counts=True)
    widest = np.zeros(n_groups)
    np.maximum.at(widest, row_groups // saturated.shape[0], row_counts)
    core = 0.5 * widest
    r_min = core + config.halo_min_margin_fwhm * fwhm
    r_max = np.maximum(config.halo_max_radius_fwhm * fwhm, r_min)
    radius = r_min.copy()
    if science is not None:
        bad_bits = mask_bits(("SAT", "BAD", "NO_DATA", "CR", "INTRP"))
        var = science.variance[::4, ::4]
        sky = var[((science.mask[::4, ::4] & bad_bits) == 0) & np.isfinite(var) & (var > 0)]
        if sky.size:
            level = config.halo_nsigma * float(np.sqrt(np.median(sky)))
            rings = _ring_offsets(int(np.ceil(r_max.max())))
            for k in range(n_groups):
                radius[k] = _ring_radius(science, cx[k], cy[k], r_min[k], r_max[k], level, bad_bits, rings)
    return Table(
        {"x": cx, "y": cy, "core_radius": core, "radius": radius, "n_saturated": count.astype(np.int64)}
    )


class DiaFilterTask:
    """Reject DIA sources the difference image cannot vouch for (see the module notes).

    Parameters
    ----------
    config : `DiaFilterConfig`, optional
        Parameters; defaults if not given.
    """

    ConfigClass = DiaFilterConfig

    def __init__(self, config: DiaFilterConfig | None = None) -> None:
        self.config = config or DiaFilterConfig()

    def run(self, sources: Table, difference: Exposure, science: Exposure | None = None) -> DiaFilterResult:
        """Split DIA sources into kept and rejected ones.

        Parameters
        ----------
        sources : `astropy.table.Table`
            DIA sources with ``x``, ``y`` (pixels), ``snr`` (absolute
            significance) and ``isNegative``; the subtraction-residual test
            also needs ``isDipole``, ``psfFlux`` and ``templateFlux`` (it is
            skipped without them).
        difference : `Exposure`
            The difference image they were found on, with its mask and PSF.
        science : `Exposure`, optional
            The background-subtracted science exposure: its saturated pixels
            and light set the bright-star halos.

        Returns
        -------
        result : `DiaFilterResult`
            Kept and rejected sources, counts per reason, halos.
        """
        config = self.config
        n = len(sources)
        height, width = difference.shape
        fwhm = difference.psf.fwhm if difference.psf is not None else float("nan")
        x = np.asarray(sources["x"], dtype=float) if n else np.zeros(0)
        y = np.asarray(sources["y"], dtype=float) if n else np.zeros(0)
        reason = np.full(n, "", dtype=REASON_DTYPE)

        def reject(name: str, condition: np.ndarray) -> None:
            reason[(reason == "") & condition] = name

        finite = np.isfinite(x) & np.isfinite(y)
        margin = np.minimum.reduce([x + 0.5, y + 0.5, width - 0.5 - x, height - 0.5 - y]) if n else x
        reject("edge", ~finite | (np.where(finite, margin, 0.0) < config.edge_margin))
        # Centre pixels (clipped onto the image; off-image centroids are already rejected).
        cx = np.clip(np.rint(np.where(finite, x, 0.0)), 0, width - 1).astype(np.intp)
        cy = np.clip(np.rint(np.where(finite, y, 0.0)), 0, height - 1).astype(np.intp)
        centre_bits = difference.mask[cy, cx]
        reject("masked_center", (centre_bits & mask_bits(config.center_planes)) != 0)
        halos = _empty_halos()
        if config.do_bright_star_halos and np.isfinite(fwhm):
            source_mask = science.mask if science is not None else difference.mask
            saturated = (source_mask & int(MaskPlane.SAT)) != 0
            halos = saturated_star_halos(saturated, science, fwhm, config)
            if len(halos) and n:
                inside = np.zeros(n, dtype=bool)
                for hx, hy, hr in zip(halos["x"], halos["y"], halos["radius"], strict=True):
                    inside |= np.hypot(x - hx, y - hy) < hr
                grow = int(np.ceil(config.saturation_grow_fwhm * fwhm))
                near, _ = gather_stamps(saturated, cx, cy, grow, False)
                inside |= near.any(axis=(1, 2))
                reject("bright_star", inside)
        points = np.column_stack([np.where(finite, x, -1e9), np.where(finite, y, -1e9)])
        tree = cKDTree(points) if n else None
        negative = np.asarray(sources["isNegative"], dtype=bool) if n else np.zeros(0, dtype=bool)
        if n > 1 and np.isfinite(fwhm) and config.fragment_radius_fwhm > 0:
            stamps, _ = gather_stamps(difference.mask, cx, cy, 1, 0)
            touched = ((stamps & mask_bits(config.fragment_planes)) != 0).any(axis=(1, 2))
            snr = np.abs(np.asarray(sources["snr"], dtype=float))
            fragment = np.zeros(n, dtype=bool)
            for i in np.flatnonzero(touched & finite):
                for j in tree.query_ball_point(points[i], config.fragment_radius_fwhm * fwhm):
                    if j != i and negative[j] == negative[i] and snr[j] > snr[i]:
                        fragment[i] = True
                        break
            reject("fragment", fragment)
        columns = {"isDipole", "psfFlux", "templateFlux"}
        if config.do_residuals and n and np.isfinite(fwhm) and columns <= set(sources.colnames):
            with np.errstate(invalid="ignore", divide="ignore"):
                template = np.asarray(sources["templateFlux"], dtype=float)
                small = (template > 0) & (
                    np.abs(np.asarray(sources["psfFlux"], dtype=float))
                    < config.residual_max_fraction * template
                )
            # Lobes of the other sign among the sources no test above rejected.
            lobe = np.asarray(sources["isDipole"], dtype=bool).copy()
            alive = reason == ""
            for i in np.flatnonzero(small & alive & ~lobe):
                for j in tree.query_ball_point(points[i], config.residual_radius_fwhm * fwhm):
                    if alive[j] and negative[j] != negative[i]:
                        lobe[i] = True
                        break
            reject("subtraction_residual", small & lobe)
        rejected = reason != ""
        rejected_table = sources[rejected]
        rejected_table["reason"] = reason[rejected]
        counts = {name: int(np.count_nonzero(reason == name)) for name in REJECTION_REASONS}
        return DiaFilterResult(
            sources=sources[~rejected], rejected=rejected_table, counts=counts, halos=halos
        )
