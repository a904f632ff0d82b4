"""A rings sky map: the sky cut into tracts, and tracts into patches, for templates.

Declination is cut into ``num_rings`` bands between two polar-cap tracts;
each band holds as many equal tracts in right ascension as fit its widest
circle.  A tract is a TAN projection at its centre with the sky map's plate
scale, large enough to hold its inner region plus ``tract_overlap``; its
pixels are cut into patches of ``patch_inner`` pixels, each grown by
``patch_border`` pixels on every side where the tract allows.

Pixel convention: 0-based, pixel centres at integer coordinates.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np
from astropy.wcs import WCS

from .errors import BadInputError
from .instrument import BoundingBox, make_tan_wcs, sky_polygon, wcs_corners

__all__ = ["PatchInfo", "SkyMap", "SkyMapConfig", "TractInfo"]


@dataclass(frozen=True)
class SkyMapConfig:
    """Parameters of a rings sky map.

    Parameters
    ----------
    name : `str`
        Name of the sky map (Butler ``skymap`` dimension).
    num_rings : `int`
        Declination bands between the polar caps.
    pixel_scale : `float`
        Arcseconds per pixel.
    patch_inner : `int`
        Side of a patch's inner region, pixels.
    patch_border : `int`
        Pixels added on every side of a patch's inner region.
    tract_overlap : `float`
        Degrees added on every side of a tract's inner region.
    """

    name: str = "sim_rings"
    num_rings: int = 120
    pixel_scale: float = 0.2
    patch_inner: int = 4000
    patch_border: int = 100
    tract_overlap: float = 1.0 / 60.0

    def __post_init__(self) -> None:
        if self.num_rings < 1 or self.patch_inner < 16 or self.patch_border < 0 or self.pixel_scale <= 0:
            raise BadInputError(f"invalid sky map parameters: {self}")

    @property
    def ring_width(self) -> float:
        """Declination width of a ring, degrees."""
        return 180.0 / (self.num_rings + 1)


@dataclass(frozen=True)
class PatchInfo:
    """A patch of a tract.

    Parameters
    ----------
    tract : `int`
        Tract ID.
    index : `tuple` [`int`, `int`]
        ``(x, y)`` position in the tract's patch grid.
    id : `int`
        Sequential ID within the tract, ``y * patches_x + x``.
    inner : `BoundingBox`
        Inner region in tract pixels (patches' inner regions tile the tract).
    outer : `BoundingBox`
        Inner region grown by the border, in tract pixels.
    wcs : `astropy.wcs.WCS`
        WCS of the outer box: pixel ``(0, 0)`` is tract pixel ``outer.x0, outer.y0``.
    """

    tract: int
    index: tuple[int, int]
    id: int
    inner: BoundingBox
    outer: BoundingBox
    wcs: WCS

    def sky_corners(self) -> np.ndarray:
        """``(4, 2)`` array of ``(ra, dec)`` degrees of the outer box."""
        return wcs_corners(self.wcs, self.outer.width, self.outer.height)

    def region(self):  # -> lsst.sphgeom.ConvexPolygon
        """The outer box on the sky."""
        return sky_polygon(self.sky_corners())


@dataclass(frozen=True)
class TractInfo:
    """A tract of the sky map.

    Parameters
    ----------
    id : `int`
        Tract ID.
    ra, dec : `float`
        Centre, degrees.
    wcs : `astropy.wcs.WCS`
        TAN WCS of the whole tract.
    width, height : `int`
        Tract size in pixels.
    patch_inner, patch_border : `int`
        Patch geometry, pixels.
    """

    id: int
    ra: float
    dec: float
    wcs: WCS
    width: int
    height: int
    patch_inner: int
    patch_border: int

    @property
    def patches_x(self) -> int:
        """Number of patch columns."""
        return math.ceil(self.width / self.patch_inner)

    @property
    def patches_y(self) -> int:
        """Number of patch rows."""
        return math.ceil(self.height / self.patch_inner)

    def patch(self, patch: int | tuple[int, int]) -> PatchInfo:
        """A patch by sequential ID or ``(x, y)`` index.

        Raises
        ------
        BadInputError
            If the tract has no such patch.
        """
        px, py = divmod(patch, self.patches_x)[::-1] if isinstance(patch, int) else patch
        if not (0 <= px < self.patches_x and 0 <= py < self.patches_y):
            raise BadInputError(f"tract {self.id} has no patch {patch}")
        x0, y0 = px * self.patch_inner, py * self.patch_inner
        inner = BoundingBox(
            x0, y0, min(self.patch_inner, self.width - x0), min(self.patch_inner, self.height - y0)
        )
        ox0, oy0 = max(inner.x0 - self.patch_border, 0), max(inner.y0 - self.patch_border, 0)
        ox1 = min(inner.x1 + self.patch_border, self.width)
        oy1 = min(inner.y1 + self.patch_border, self.height)
        outer = BoundingBox(ox0, oy0, ox1 - ox0, oy1 - oy0)
        wcs = self.wcs.deepcopy()
        wcs.wcs.crpix = [wcs.wcs.crpix[0] - ox0, wcs.wcs.crpix[1] - oy0]
        wcs.wcs.set()
        return PatchInfo(self.id, (px, py), py * self.patches_x + px, inner, outer, wcs)

    def sky_corners(self) -> np.ndarray:
        """``(4, 2)`` array of ``(ra, dec)`` degrees of the tract's pixel box."""
        return wcs_corners(self.wcs, self.width, self.height)

    def region(self):  # -> lsst.sphgeom.ConvexPolygon
        """The tract's pixel box on the sky."""
        return sky_polygon(self.sky_corners())

    def patches_overlapping(self, corners: np.ndarray) -> list[PatchInfo]:
        """Patches whose outer box overlaps a sky polygon.

        Parameters
        ----------
        corners : `numpy.ndarray`
            ``(N, 2)`` ``(ra, dec)`` degrees of a convex polygon's vertices,
            less than ~30 degrees from the tract centre.

        Returns
        -------
        patches : `list` [`PatchInfo`]
            In order of patch ID; empty when the polygon misses the tract.
        """
        corners = np.asarray(corners, dtype=float)
        # Vertices on the far hemisphere have no TAN pixel position.
        centre = _unit(self.ra, self.dec)
        if np.any(_unit(corners[:, 0], corners[:, 1]) @ centre < math.cos(math.radians(60))):
            return []
        xs, ys = self.wcs.all_world2pix(corners[:, 0], corners[:, 1], 0)
        region = sky_polygon(corners)
        found = []
        lo_x = max(math.floor((xs.min() + 0.5 - self.patch_border) / self.patch_inner), 0)
        hi_x = min(math.floor((xs.max() + 0.5 + self.patch_border) / self.patch_inner), self.patches_x - 1)
        lo_y = max(math.floor((ys.min() + 0.5 - self.patch_border) / self.patch_inner), 0)
        hi_y = min(math.floor((ys.max() + 0.5 + self.patch_border) / self.patch_inner), self.patches_y - 1)
        for py in range(lo_y, hi_y + 1):
            for px in range(lo_x, hi_x + 1):
                info = self.patch((px, py))
                if not info.region().isDisjointFrom(region):
                    found.append(info)
        return found


def _unit(ra: float | np.ndarray, dec: float | np.ndarray) -> np.ndarray:
    ra_r, dec_r = np.radians(ra), np.radians(dec)
    return np.stack([np.cos(dec_r) * np.cos(ra_r), np.cos(dec_r) * np.sin(ra_r), np.sin(dec_r)], axis=-1)


class SkyMap:
    """A rings sky map.

    Parameters
    ----------
    config : `SkyMapConfig`
        Its parameters.
    """

    def __init__(self, config: SkyMapConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        """Name of the sky map."""
        return self.config.name

    @cached_property
    def _ring_sizes(self) -> list[int]:
        width = self.config.ring_width
        sizes = []
        for ring in range(self.config.num_rings):
            lo = -90.0 + width * (ring + 0.5)
            hi = lo + width
            widest = max(math.cos(math.radians(lo)), math.cos(math.radians(hi)))
            if lo < 0 < hi:
                widest = 1.0
            sizes.append(max(1, math.ceil(360.0 * widest / width)))
        return sizes

    @cached_property
    def _ring_offsets(self) -> list[int]:
        # Tract 0 is the south cap; ring r's first tract follows ring r-1's last.
        offsets, start = [], 1
        for size in self._ring_sizes:
            offsets.append(start)
            start += size
        return offsets

    @property
    def num_tracts(self) -> int:
        """Number of tracts, both polar caps included."""
        return self._ring_offsets[-1] + self._ring_sizes[-1] + 1

    def _tract_centre(self, tract_id: int) -> tuple[float, float, float, float]:
        """Centre and half-extents ``(ra, dec, half_ra, half_dec)`` of a tract's inner region."""
        width = self.config.ring_width
        if tract_id == 0:
            return 0.0, -90.0, 180.0, width / 2
        if tract_id == self.num_tracts - 1:
            return 0.0, 90.0, 180.0, width / 2
        ring = int(np.searchsorted(self._ring_offsets, tract_id, side="right")) - 1
        index = tract_id - self._ring_offsets[ring]
        size = self._ring_sizes[ring]
        dec = -90.0 + width * (ring + 1)
        return 360.0 * index / size, dec, 180.0 / size, width / 2

    def tract(self, tract_id: int) -> TractInfo:
        """A tract by ID.

        Raises
        ------
        BadInputError
            If there is no such tract.
        """
        if not 0 <= tract_id < self.num_tracts:
            raise BadInputError(f"sky map {self.name} has no tract {tract_id}")
        ra, dec, half_ra, half_dec = self._tract_centre(tract_id)
        overlap = self.config.tract_overlap
        scale = self.config.pixel_scale / 3600.0
        if abs(dec) == 90.0:
            radius = math.tan(math.radians(half_dec + overlap))
            half_x = half_y = math.degrees(radius) / scale
        else:
            # Project the inner region's corners (grown by the overlap) to size the tract.
            probe = make_tan_wcs(ra, dec, (0.0, 0.0), self.config.pixel_scale)
            dras = np.array([-1, 1, 1, -1, 0, 0]) * (
                half_ra + overlap / max(math.cos(math.radians(dec)), 1e-3)
            )
            ddecs = np.array([-1, -1, 1, 1, -1, 1]) * (half_dec + overlap)
            decs = np.clip(dec + ddecs, -89.999, 89.999)
            xs, ys = probe.all_world2pix(ra + dras, decs, 0)
            half_x, half_y = float(np.abs(xs).max()), float(np.abs(ys).max())
        width, height = 2 * math.ceil(half_x) + 1, 2 * math.ceil(half_y) + 1
        wcs = make_tan_wcs(ra, dec, ((width - 1) / 2, (height - 1) / 2), self.config.pixel_scale)
        return TractInfo(
            tract_id, ra, dec, wcs, width, height, self.config.patch_inner, self.config.patch_border
        )

    def find_tract(self, ra: float, dec: float) -> int:
        """The tract whose inner region holds a position (degrees)."""
        width = self.config.ring_width
        if dec < -90.0 + width / 2:
            return 0
        if dec >= 90.0 - width / 2:
            return self.num_tracts - 1
        ring = min(int((dec + 90.0 - width / 2) // width), self.config.num_rings - 1)
        size = self._ring_sizes[ring]
        index = math.floor((ra % 360.0) / (360.0 / size) + 0.5) % size
        return self._ring_offsets[ring] + index

    def patches_overlapping(self, corners: np.ndarray) -> list[PatchInfo]:
        """Patches of all tracts whose outer boxes overlap a sky polygon.

        Parameters
        ----------
        corners : `numpy.ndarray`
            ``(N, 2)`` ``(ra, dec)`` degrees of a convex polygon's vertices,
            smaller than a tract.

        Returns
        -------
        patches : `list` [`PatchInfo`]
            Sorted by ``(tract, patch id)``.
        """
        corners = np.asarray(corners, dtype=float)
        tracts = {self.find_tract(float(ra), float(dec)) for ra, dec in corners}
        # A polygon may reach into neighbouring tracts between its vertices.
        centre_ra, centre_dec = _mean_position(corners)
        tracts.add(self.find_tract(centre_ra, centre_dec))
        for ra, dec in corners:
            for dra, ddec in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                step = self.config.ring_width / 2
                tracts.add(self.find_tract(ra + dra * step, float(np.clip(dec + ddec * step, -90, 90))))
        found = []
        for tract_id in sorted(tracts):
            found.extend(self.tract(tract_id).patches_overlapping(corners))
        return found

    @property
    def max_patches(self) -> tuple[int, int]:
        """Largest patch-grid size over all tracts, ``(x, y)``."""
        # The widest tracts sit at the equator and the caps; check them all once.
        widest = max(
            (self.tract(t) for t in {0, self.num_tracts - 1, self.find_tract(0.0, 0.0)}),
            key=lambda t: t.patches_x * t.patches_y,
        )
        return widest.patches_x, widest.patches_y

    def hash(self) -> bytes:
        """A digest of the parameters; the Butler stores it to detect redefinitions."""
        return hashlib.sha1(self.to_json().encode()).digest()

    def to_json(self) -> str:
        """JSON form of the parameters."""
        return json.dumps(asdict(self.config), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> SkyMap:
        """Rebuild from `to_json` output.

        Raises
        ------
        BadInputError
            If the text is not a valid description.
        """
        try:
            return cls(SkyMapConfig(**json.loads(text)))
        except (json.JSONDecodeError, TypeError) as err:
            raise BadInputError(f"invalid sky map description: {err}") from err

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SkyMap) and other.config == self.config

    def __hash__(self) -> int:
        return hash(self.config)


def _mean_position(corners: np.ndarray) -> tuple[float, float]:
    vec = _unit(corners[:, 0], corners[:, 1]).sum(axis=0)
    vec /= np.linalg.norm(vec)
    return float(np.degrees(np.arctan2(vec[1], vec[0])) % 360.0), float(np.degrees(np.arcsin(vec[2])))
