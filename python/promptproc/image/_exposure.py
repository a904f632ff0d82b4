"""An exposure: image, mask, variance and everything needed to interpret them."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from ._photocalib import PhotoCalib
from ._psf import ImagePsf

__all__ = ["Exposure", "VisitInfo"]


@dataclass(frozen=True)
class VisitInfo:
    """What the observatory knew about an observation.

    Parameters
    ----------
    exposure_id : `int`
        Exposure (= visit) ID, 0 for coadds and calibrations.
    exposure_time : `float`
        Open-shutter time, seconds.
    mjd_begin : `float`
        Start of the exposure, MJD (TAI).
    ra, dec : `float`
        Boresight, degrees (ICRS).
    rotation : `float`
        Sky position angle of the camera ``+y`` axis, degrees east of north.
    airmass : `float`
        Airmass at mid-exposure.
    physical_filter : `str`
        Physical filter name.
    band : `str`
        Abstract band.
    observation_type : `str`
        ``science``, ``bias``, ``dark``, ``flat`` or ``coadd``.
    """

    exposure_id: int = 0
    exposure_time: float = 0.0
    mjd_begin: float = 0.0
    ra: float = float("nan")
    dec: float = float("nan")
    rotation: float = 0.0
    airmass: float = 1.0
    physical_filter: str = ""
    band: str = ""
    observation_type: str = "science"

    _CARDS = (
        ("exposure_id", "EXPID", "exposure ID", int),
        ("exposure_time", "EXPTIME", "[s] open-shutter time", float),
        ("mjd_begin", "MJD-BEG", "[d] MJD (TAI) at start of exposure", float),
        ("ra", "RA", "[deg] boresight right ascension (ICRS)", float),
        ("dec", "DEC", "[deg] boresight declination (ICRS)", float),
        ("rotation", "ROTPA", "[deg] sky position angle of camera +y", float),
        ("airmass", "AIRMASS", "airmass at mid-exposure", float),
        ("physical_filter", "FILTER", "physical filter", str),
        ("band", "BAND", "abstract band", str),
        ("observation_type", "IMGTYPE", "observation type", str),
    )

    @property
    def mjd_mid(self) -> float:
        """Mid-exposure time, MJD (TAI)."""
        return self.mjd_begin + 0.5 * self.exposure_time / 86400.0

    def to_header(self, header: fits.Header) -> None:
        """Write the visit information into FITS header cards."""
        for attr, key, comment, _ in self._CARDS:
            value = getattr(self, attr)
            header[key] = (value if not (isinstance(value, float) and np.isnan(value)) else None, comment)

    @classmethod
    def from_header(cls, header: fits.Header) -> VisitInfo:
        """Read the visit information from header cards; missing cards take defaults."""
        values = {}
        for attr, key, _, kind in cls._CARDS:
            if key in header and header[key] is not None and header[key] != "":
                values[attr] = kind(header[key])
        return cls(**values)


@dataclass
class Exposure:
    """A calibrated image with its mask, variance and models.

    Pixel ``(x, y)`` is ``image[y, x]``, 0-based, centre at integer values.

    Parameters
    ----------
    image : `numpy.ndarray`
        ``float32`` pixel values (counts: electrons for ISR output).
    mask : `numpy.ndarray`, optional
        ``int32`` bit mask of `MaskPlane` values; zeros by default.
    variance : `numpy.ndarray`, optional
        ``float32`` per-pixel variance in image units squared; zeros by default.
    wcs : `astropy.wcs.WCS`, optional
        Pixel to sky transform (0-based pixels).
    psf : `ImagePsf`, optional
        PSF model.
    photo_calib : `PhotoCalib`, optional
        Photometric calibration of the image units.
    visit_info : `VisitInfo`, optional
        Observation metadata.
    metadata : `astropy.io.fits.Header`, optional
        Other header cards (provenance, measured quantities).
    """

    image: np.ndarray
    mask: np.ndarray | None = None
    variance: np.ndarray | None = None
    wcs: WCS | None = None
    psf: ImagePsf | None = None
    photo_calib: PhotoCalib | None = None
    visit_info: VisitInfo = field(default_factory=VisitInfo)
    metadata: fits.Header = field(default_factory=fits.Header)

    def __post_init__(self) -> None:
        self.image = np.asarray(self.image, dtype=np.float32)
        if self.image.ndim != 2:
            raise ValueError(f"an exposure image must be 2-d, not {self.image.ndim}-d")
        self.mask = (
            np.zeros(self.image.shape, dtype=np.int32)
            if self.mask is None
            else np.asarray(self.mask, dtype=np.int32)
        )
        self.variance = (
            np.zeros(self.image.shape, dtype=np.float32)
            if self.variance is None
            else np.asarray(self.variance, dtype=np.float32)
        )
        if self.mask.shape != self.image.shape or self.variance.shape != self.image.shape:
            raise ValueError(
                f"image {self.image.shape}, mask {self.mask.shape} and variance {self.variance.shape} differ"
            )

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` in pixels."""
        return self.image.shape  # type: ignore[return-value]

    @property
    def width(self) -> int:
        """Number of columns."""
        return self.image.shape[1]

    @property
    def height(self) -> int:
        """Number of rows."""
        return self.image.shape[0]

    def copy(self) -> Exposure:
        """A deep copy."""
        return Exposure(
            image=self.image.copy(),
            mask=self.mask.copy(),
            variance=self.variance.copy(),
            wcs=self.wcs.deepcopy() if self.wcs is not None else None,
            psf=copy.deepcopy(self.psf),
            photo_calib=self.photo_calib,
            visit_info=self.visit_info,
            metadata=self.metadata.copy(),
        )

    def cutout(self, x0: int, y0: int, width: int, height: int) -> Exposure:
        """A copy of a rectangular part; the WCS is shifted to match.

        Parameters
        ----------
        x0, y0 : `int`
            Lower-left pixel of the cutout in this exposure; may lie outside,
            in which case missing pixels are NaN and flagged ``NO_DATA``.
        width, height : `int`
            Size of the cutout in pixels.
        """
        from ._mask import MaskPlane

        image = np.full((height, width), np.nan, dtype=np.float32)
        mask = np.full((height, width), int(MaskPlane.NO_DATA), dtype=np.int32)
        variance = np.full((height, width), np.inf, dtype=np.float32)
        sx0, sy0 = max(x0, 0), max(y0, 0)
        sx1, sy1 = min(x0 + width, self.width), min(y0 + height, self.height)
        if sx1 > sx0 and sy1 > sy0:
            dst = (slice(sy0 - y0, sy1 - y0), slice(sx0 - x0, sx1 - x0))
            src = (slice(sy0, sy1), slice(sx0, sx1))
            image[dst] = self.image[src]
            mask[dst] = self.mask[src]
            variance[dst] = self.variance[src]
        wcs = None
        if self.wcs is not None:
            wcs = self.wcs.deepcopy()
            wcs.wcs.crpix = [wcs.wcs.crpix[0] - x0, wcs.wcs.crpix[1] - y0]
            wcs.wcs.set()
        return Exposure(
            image=image,
            mask=mask,
            variance=variance,
            wcs=wcs,
            psf=self.psf,
            photo_calib=self.photo_calib,
            visit_info=self.visit_info,
            metadata=self.metadata.copy(),
        )
