"""Camera geometry: amplifiers, detectors and the focal plane.

Pixel convention: detector pixel ``(x, y)`` has its centre at integer
coordinates, 0-based, ``x`` along columns (FITS NAXIS1) and ``y`` along rows.
Focal-plane coordinates are in pixels of the nominal plate scale, with the
boresight at ``(0, 0)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["AmplifierGeometry", "BoundingBox", "DetectorGeometry"]


@dataclass(frozen=True)
class BoundingBox:
    """An integer pixel box, half-open: ``x0 <= x < x0 + width``.

    Parameters
    ----------
    x0, y0 : `int`
        Lower-left corner, 0-based pixels.
    width, height : `int`
        Size in pixels.
    """

    x0: int
    y0: int
    width: int
    height: int

    @property
    def x1(self) -> int:
        """One past the last column."""
        return self.x0 + self.width

    @property
    def y1(self) -> int:
        """One past the last row."""
        return self.y0 + self.height

    @property
    def slices(self) -> tuple[slice, slice]:
        """Numpy slices ``(rows, columns)`` selecting this box from a larger array."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def to_iraf_section(self) -> str:
        """Return the box as an IRAF/FITS section string, 1-based inclusive: ``[x1:x2,y1:y2]``."""
        return f"[{self.x0 + 1}:{self.x1},{self.y0 + 1}:{self.y1}]"

    @classmethod
    def from_iraf_section(cls, section: str) -> BoundingBox:
        """Parse an IRAF/FITS section string such as ``[1:512,1:2048]``.

        Raises
        ------
        ValueError
            If the string is not a two-axis section with increasing bounds.
        """
        text = section.strip()
        if not (text.startswith("[") and text.endswith("]")):
            raise ValueError(f"not a section: {section!r}")
        try:
            xpart, ypart = text[1:-1].split(",")
            xa, xb = (int(v) for v in xpart.split(":"))
            ya, yb = (int(v) for v in ypart.split(":"))
        except ValueError as err:
            raise ValueError(f"not a section: {section!r}") from err
        if xb < xa or yb < ya or xa < 1 or ya < 1:
            raise ValueError(f"section bounds must increase from 1: {section!r}")
        return cls(xa - 1, ya - 1, xb - xa + 1, yb - ya + 1)


@dataclass(frozen=True)
class AmplifierGeometry:
    """One amplifier (readout segment) of a detector.

    Parameters
    ----------
    name : `str`
        Amplifier name, e.g. ``C00``.
    index : `int`
        Readout order, 0-based; also the raw FITS extension order.
    data_box : `BoundingBox`
        The amplifier's imaging pixels in assembled detector coordinates.
    overscan_columns : `int`
        Serial-overscan columns appended to every raw row.
    gain : `float`
        Nominal gain, electrons per ADU.
    read_noise : `float`
        Nominal read noise, electrons.
    saturation : `float`
        Level (ADU, raw, before bias removal) above which pixels are saturated.
    flip_x : `bool`
        Whether the amplifier reads out towards higher ``x``: its raw columns
        run opposite to detector columns, and its overscan sits on the left.
    """

    name: str
    index: int
    data_box: BoundingBox
    overscan_columns: int
    gain: float
    read_noise: float
    saturation: float
    flip_x: bool = False

    @property
    def raw_shape(self) -> tuple[int, int]:
        """Shape ``(rows, columns)`` of the raw amplifier array, overscan included."""
        return self.data_box.height, self.data_box.width + self.overscan_columns

    @property
    def raw_data_box(self) -> BoundingBox:
        """Imaging pixels within the raw amplifier array."""
        x0 = self.overscan_columns if self.flip_x else 0
        return BoundingBox(x0, 0, self.data_box.width, self.data_box.height)

    @property
    def raw_overscan_box(self) -> BoundingBox:
        """Serial-overscan pixels within the raw amplifier array."""
        x0 = 0 if self.flip_x else self.data_box.width
        return BoundingBox(x0, 0, self.overscan_columns, self.data_box.height)


@dataclass(frozen=True)
class DetectorGeometry:
    """One detector (CCD) of a camera.

    Parameters
    ----------
    id : `int`
        Detector number, unique in the instrument.
    name : `str`
        Full name, ``{raft}_{sensor}`` (e.g. ``R22_S11``).
    width, height : `int`
        Assembled size in pixels.
    origin : `tuple` [`float`, `float`]
        Focal-plane position (pixels) of the lower-left *edge* of pixel
        ``(0, 0)``; pixel ``(x, y)`` has its centre at ``origin + (x + 0.5, y + 0.5)``.
    amplifiers : `tuple` [`AmplifierGeometry`, ...]
        Amplifiers in readout order.
    purpose : `str`
        ``SCIENCE``, ``WAVEFRONT`` or ``GUIDER``.
    serial : `str`
        Serial number of the sensor.
    """

    id: int
    name: str
    width: int
    height: int
    origin: tuple[float, float]
    amplifiers: tuple[AmplifierGeometry, ...] = field(default_factory=tuple)
    purpose: str = "SCIENCE"
    serial: str = ""

    @property
    def raft(self) -> str:
        """Raft part of the name (``R22``)."""
        return self.name.split("_", 1)[0]

    @property
    def sensor(self) -> str:
        """Sensor part of the name (``S11``)."""
        return self.name.split("_", 1)[-1]

    @property
    def bbox(self) -> BoundingBox:
        """The assembled detector box."""
        return BoundingBox(0, 0, self.width, self.height)

    def pixel_to_focal_plane(self, x: float, y: float) -> tuple[float, float]:
        """Focal-plane position (pixels from the boresight) of a detector pixel centre."""
        return self.origin[0] + x + 0.5, self.origin[1] + y + 0.5
