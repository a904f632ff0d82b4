"""Image cutouts for alert packets, as small FITS files in memory.

Each cutout is a FITS file laid out as `astropy.nddata.CCDData` writes one,
which is also what Rubin's alert packager sends (``CCDData.read`` opens it):

* primary HDU: the calibrated image in nJy (``BUNIT = 'nJy'``) with the
  exposure's WCS shifted to the cutout;
* ``UNCERT``: the variance in nJy**2 (``UTYPE = 'VarianceUncertainty'``);
* ``MASK``: the exposure's mask bits (``int32``; ``CCDData`` reads it as a
  boolean "any bit set");
* ``PSFIMAGE``: the exposure's PSF kernel, when it has one.

The cutout is square, ``clip(bboxSize, min_size, max_size)`` pixels on a side,
with the source's pixel (``round(x)``, ``round(y)``) at index ``size // 2``.
Pixels beyond the image edge are NaN (variance infinite) and flagged
``NO_DATA``; a source whose
centroid lies outside the image gets no cutout (``None``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from astropy.io import fits

from ..image import Exposure

__all__ = ["CutoutMaker", "cutout_fits"]


_BLOCK = 2880
_CARD = 80


@dataclass(frozen=True)
class _Prepared:
    """What every cutout of one exposure shares: scale, header cards, PSF HDU."""

    exposure: Exposure
    scale: float
    wcs_cards: tuple[str, ...]
    crpix: tuple[float, float] | None
    tail_cards: tuple[str, ...]
    psf_hdu: bytes


class CutoutMaker:
    """Makes the difference, science and template cutouts of DiaSources.

    Parameters
    ----------
    difference : `promptproc.image.Exposure`
        The difference image the sources were found on.
    science : `promptproc.image.Exposure`, optional
        The calibrated science image.
    template : `promptproc.image.Exposure`, optional
        The template warped to the science image; no template cutouts
        without it.
    min_size, max_size : `int`, optional
        Bounds of the cutout side in pixels (Rubin: 30 and 102).

    Notes
    -----
    An exposure with a ``photo_calib`` is calibrated to nJy; one without is
    written in its own units (``BUNIT = 'count'``).
    """

    def __init__(
        self,
        difference: Exposure,
        science: Exposure | None = None,
        template: Exposure | None = None,
        *,
        min_size: int = 30,
        max_size: int = 102,
    ) -> None:
        if not 0 < min_size <= max_size:
            raise ValueError(
                f"cutout sizes must satisfy 0 < min_size <= max_size, not {min_size}, {max_size}"
            )
        self.min_size = int(min_size)
        self.max_size = int(max_size)
        self._images = tuple(
            _prepare(exposure) if exposure is not None else None
            for exposure in (difference, science, template)
        )

    def size(self, bbox_size: Any) -> int:
        """Side of the cutout for a source footprint of ``bbox_size`` pixels."""
        try:
            side = int(bbox_size)
        except (TypeError, ValueError):
            side = 0
        return min(max(side, self.min_size), self.max_size)

    def __call__(self, record: dict[str, Any]) -> tuple[bytes | None, bytes | None, bytes | None]:
        """Return the ``(difference, science, template)`` cutouts of a DiaSource record.

        Parameters
        ----------
        record : `dict`
            A DiaSource with ``x``, ``y`` (0-based pixels) and optionally
            ``bboxSize`` and ``diaSourceId``.

        Returns
        -------
        cutouts : `tuple` [`bytes` or `None`, ...]
            FITS files, `None` where there is no image or the source is off it.
        """
        side = self.size(record.get("bboxSize"))
        x, y = record["x"], record["y"]
        source_id = record.get("diaSourceId")
        return tuple(  # type: ignore[return-value]
            None if prepared is None else _cutout(prepared, x, y, side, source_id)
            for prepared in self._images
        )


def cutout_fits(
    exposure: Exposure, x: float, y: float, size: int, source_id: int | None = None
) -> bytes | None:
    """Return one FITS cutout of an exposure centred on a pixel position.

    Parameters
    ----------
    exposure : `promptproc.image.Exposure`
        The image.
    x, y : `float`
        Centre, 0-based pixels.
    size : `int`
        Side in pixels.
    source_id : `int`, optional
        Written to the header as ``DIASRCID``.

    Returns
    -------
    data : `bytes` or `None`
        The FITS file, or `None` when ``(x, y)`` is off the image.
    """
    return _cutout(_prepare(exposure), x, y, size, source_id)


def _prepare(exposure: Exposure) -> _Prepared:
    if exposure.photo_calib is not None:
        scale, unit = float(exposure.photo_calib.njy_per_count), "nJy"
    else:
        scale, unit = 1.0, "count"
    wcs_cards: list[str] = []
    crpix = None
    if exposure.wcs is not None:
        header = exposure.wcs.to_header(relax=True)
        crpix = (float(header["CRPIX1"]), float(header["CRPIX2"]))
        # The CRPIX cards are rendered per cutout; their bare keywords mark where.
        wcs_cards = [
            card.image if card.keyword not in ("CRPIX1", "CRPIX2") else card.keyword for card in header.cards
        ]
    tail = [_card("BUNIT", unit, "pixel unit")]
    psf_hdu = b""
    if exposure.psf is not None:
        kernel = exposure.psf.kernel.astype(np.float32)
        fwhm = _card("FWHM", float(exposure.psf.fwhm), "[pixel] PSF FWHM")
        height, width = kernel.shape
        psf_hdu = _hdu([*_extension_cards("PSFIMAGE", width, height, -32), fwhm], kernel)
    return _Prepared(exposure, scale, tuple(wcs_cards), crpix, tuple(tail), psf_hdu)


def _cutout(prepared: _Prepared, x: float, y: float, size: int, source_id: int | None) -> bytes | None:
    exposure = prepared.exposure
    if not (np.isfinite(x) and np.isfinite(y)):
        return None
    if not (-0.5 <= x < exposure.width - 0.5 and -0.5 <= y < exposure.height - 0.5):
        return None
    x0 = int(np.floor(x + 0.5)) - size // 2
    y0 = int(np.floor(y + 0.5)) - size // 2
    piece = exposure.cutout(x0, y0, size, size)
    image = piece.image * np.float32(prepared.scale)
    variance = piece.variance * np.float32(prepared.scale * prepared.scale)

    cards = list(_primary_cards(size))
    for card in prepared.wcs_cards:
        if card == "CRPIX1" and prepared.crpix is not None:
            cards.append(_float_card("CRPIX1", prepared.crpix[0] - x0, "Pixel coordinate of reference point"))
        elif card == "CRPIX2" and prepared.crpix is not None:
            cards.append(_float_card("CRPIX2", prepared.crpix[1] - y0, "Pixel coordinate of reference point"))
        else:
            cards.append(card)
    cards += prepared.tail_cards
    cards += [
        _int_card("CUTMINX", x0, "[pixel] image column of cutout pixel 0"),
        _int_card("CUTMINY", y0, "[pixel] image row of cutout pixel 0"),
    ]
    if source_id is not None:
        cards.append(_int_card("DIASRCID", int(source_id), "diaSourceId of the central source"))
    return b"".join(
        (
            _hdu(cards, image),
            _hdu([*_extension_cards("UNCERT", size, size, -32), _UTYPE_CARD], variance),
            _hdu(list(_extension_cards("MASK", size, size, 32)), piece.mask),
            prepared.psf_hdu,
        )
    )


def _card(keyword: str, value: Any, comment: str | None = None) -> str:
    """One 80-character header card, formatted by astropy."""
    return fits.Card(keyword, value, comment).image


def _int_card(keyword: str, value: int, comment: str) -> str:
    """An integer card in the FITS fixed format (value right-aligned in column 30)."""
    return f"{keyword:<8}= {value:>20d} / {comment}".ljust(_CARD)[:_CARD]


def _float_card(keyword: str, value: float, comment: str) -> str:
    """A real-valued card in the FITS fixed format, as astropy writes it (shortest repr, <= 20 chars)."""
    text = repr(float(value)).upper()
    if "." not in text and "E" not in text:
        text += ".0"
    precision = 16
    while len(text) > 20:
        text = f"{float(value):.{precision}G}"
        precision -= 1
    return f"{keyword:<8}= {text:>20} / {comment}".ljust(_CARD)[:_CARD]


_UTYPE_CARD = "UTYPE   = 'VarianceUncertainty'".ljust(_CARD)


@functools.lru_cache(maxsize=128)
def _primary_cards(size: int) -> tuple[str, ...]:
    return (
        _card("SIMPLE", True, "conforms to FITS standard"),
        _card("BITPIX", -32, "32-bit floating point"),
        _card("NAXIS", 2, "number of array dimensions"),
        _card("NAXIS1", size),
        _card("NAXIS2", size),
        _card("EXTEND", True),
    )


@functools.lru_cache(maxsize=256)
def _extension_cards(name: str, width: int, height: int, bitpix: int) -> tuple[str, ...]:
    return (
        _card("XTENSION", "IMAGE", "image extension"),
        _card("BITPIX", bitpix),
        _card("NAXIS", 2),
        _card("NAXIS1", width),
        _card("NAXIS2", height),
        _card("PCOUNT", 0),
        _card("GCOUNT", 1),
        _card("EXTNAME", name),
    )


def _hdu(cards: list[str], array: np.ndarray) -> bytes:
    """A header and data unit: cards + END padded to 2880 bytes, then big-endian data, padded."""
    header = "".join(cards) + "END".ljust(_CARD)
    header += " " * (-len(header) % _BLOCK)
    big_endian = ">f4" if array.dtype.kind == "f" else ">i4"
    data = np.ascontiguousarray(array, dtype=big_endian).tobytes()
    return header.encode("ascii") + data + b"\0" * (-len(data) % _BLOCK)
