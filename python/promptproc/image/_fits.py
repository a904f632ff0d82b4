"""FITS reading and writing of exposures and raws.

Exposure files are multi-extension FITS: an empty primary HDU with the
metadata and visit information, then ``IMAGE`` (with the WCS), ``MASK`` (with
the plane of each bit as ``MP<bit>`` cards), ``VARIANCE`` and, when there is a PSF
model, ``PSF``.  Any FITS reader shows the image with a correct WCS.

Raw files hold the camera's primary header and one ``int32`` extension per
amplifier, named after it, with ``DATASEC``, ``BIASSEC``, ``DETSEC``,
``GAIN``, ``RDNOISE``, ``SATURATE`` and ``FLIPX`` cards.

Every reader turns a damaged or incomplete file into `BadInputError` naming
the file and what is wrong.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning
from astropy.wcs import WCS, FITSFixedWarning

from ..errors import BadInputError
from ..instrument import BoundingBox
from ._exposure import Exposure, VisitInfo
from ._mask import MaskPlane
from ._photocalib import PhotoCalib
from ._psf import ImagePsf
from ._raw import RAW_PRIMARY_KEYS, RawAmplifier, RawImage

__all__ = ["read_exposure_fits", "read_raw_fits", "write_exposure_fits", "write_raw_fits"]

_EXPOSURE_KIND = "EXPOSURE"
_RAW_AMP_KEYS = ("DATASEC", "BIASSEC", "DETSEC", "GAIN", "RDNOISE", "SATURATE")
# Cards the WCS writes; they are dropped from the metadata when reading back.
_WCS_PREFIXES = ("CTYPE", "CRVAL", "CRPIX", "CDELT", "CUNIT", "CD1_", "CD2_", "PC1_", "PC2_", "WCSAXES")


def write_exposure_fits(exposure: Exposure, path: str | os.PathLike[str]) -> None:
    """Write an exposure as multi-extension FITS, replacing any file at ``path``.

    Parameters
    ----------
    exposure : `Exposure`
        What to write.
    path : `str` or `os.PathLike`
        Destination file.
    """
    primary = fits.PrimaryHDU()
    primary.header["PPKIND"] = (_EXPOSURE_KIND, "promptproc file kind")
    for card in exposure.metadata.cards:
        if card.keyword not in ("SIMPLE", "BITPIX", "NAXIS", "EXTEND", "", "COMMENT", "HISTORY"):
            primary.header[card.keyword] = (card.value, card.comment)
    exposure.visit_info.to_header(primary.header)
    if exposure.photo_calib is not None:
        primary.header["PHOTCAL"] = (exposure.photo_calib.njy_per_count, "[nJy/count] photometric scale")
        primary.header["PHOTCERR"] = (exposure.photo_calib.error, "[nJy/count] its uncertainty")
    image_header = exposure.wcs.to_header(relax=True) if exposure.wcs is not None else fits.Header()
    mask_header = fits.Header()
    for key, plane in MaskPlane.header_cards().items():
        mask_header[key] = (plane, "mask plane of this bit")
    hdus = [
        primary,
        fits.ImageHDU(exposure.image, header=image_header, name="IMAGE"),
        fits.ImageHDU(exposure.mask, header=mask_header, name="MASK"),
        fits.ImageHDU(exposure.variance, header=image_header.copy(), name="VARIANCE"),
    ]
    if exposure.psf is not None:
        psf_hdu = fits.ImageHDU(exposure.psf.kernel.astype(np.float32), name="PSF")
        psf_hdu.header["FWHM"] = (exposure.psf.fwhm, "[pixel] PSF full width at half maximum")
        hdus.append(psf_hdu)
    fits.HDUList(hdus).writeto(os.fspath(path), overwrite=True)


def _open(path: str | os.PathLike[str]) -> fits.HDUList:
    name = os.fspath(path)
    if not Path(name).is_file():
        raise BadInputError(f"{name}: no such file")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AstropyUserWarning)
        try:
            hdus = fits.open(name, memmap=False, lazy_load_hdus=False)
        except (OSError, ValueError, TypeError, IndexError) as err:
            raise BadInputError(f"{name}: not a readable FITS file ({err})") from err
    for warning in caught:
        if "truncated" in str(warning.message):
            hdus.close()
            raise BadInputError(f"{name}: FITS file is truncated ({warning.message})")
    return hdus


def _data(hdus: fits.HDUList, name: str, path: str | os.PathLike[str], dtype: type) -> np.ndarray:
    try:
        data = hdus[name].data
    except KeyError as err:
        raise BadInputError(f"{os.fspath(path)}: missing extension {name}") from err
    except (OSError, ValueError, TypeError) as err:
        raise BadInputError(f"{os.fspath(path)}: extension {name} is damaged ({err})") from err
    if data is None or data.ndim != 2:
        raise BadInputError(f"{os.fspath(path)}: extension {name} holds no 2-d image")
    return np.ascontiguousarray(data, dtype=dtype)


def read_exposure_fits(path: str | os.PathLike[str]) -> Exposure:
    """Read an exposure written by `write_exposure_fits`.

    Raises
    ------
    BadInputError
        If the file is missing, not FITS, truncated, or lacks an extension.
    """
    with _open(path) as hdus:
        primary = hdus[0].header
        image = _data(hdus, "IMAGE", path, np.float32)
        mask = _data(hdus, "MASK", path, np.int32)
        variance = _data(hdus, "VARIANCE", path, np.float32)
        if mask.shape != image.shape or variance.shape != image.shape:
            raise BadInputError(f"{os.fspath(path)}: IMAGE, MASK and VARIANCE have different shapes")
        image_header = hdus["IMAGE"].header
        wcs = None
        if "CTYPE1" in image_header:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FITSFixedWarning)
                try:
                    wcs = WCS(image_header, naxis=2)
                except (ValueError, KeyError, MemoryError) as err:
                    raise BadInputError(f"{os.fspath(path)}: invalid WCS ({err})") from err
        psf = None
        if "PSF" in hdus:
            try:
                psf = ImagePsf(_data(hdus, "PSF", path, np.float64), float(hdus["PSF"].header["FWHM"]))
            except (KeyError, ValueError) as err:
                raise BadInputError(f"{os.fspath(path)}: invalid PSF extension ({err})") from err
        photo_calib = None
        if "PHOTCAL" in primary:
            photo_calib = PhotoCalib(float(primary["PHOTCAL"]), float(primary.get("PHOTCERR", 0.0)))
        metadata = fits.Header()
        skip = {"SIMPLE", "BITPIX", "NAXIS", "EXTEND", "PPKIND", "PHOTCAL", "PHOTCERR"}
        skip.update(key for _, key, _, _ in VisitInfo._CARDS)
        for card in primary.cards:
            if card.keyword not in skip and card.keyword:
                metadata[card.keyword] = (card.value, card.comment)
        return Exposure(
            image=image,
            mask=mask,
            variance=variance,
            wcs=wcs,
            psf=psf,
            photo_calib=photo_calib,
            visit_info=VisitInfo.from_header(primary),
            metadata=metadata,
        )


def write_raw_fits(raw: RawImage, path: str | os.PathLike[str]) -> None:
    """Write a raw as the camera does: primary header plus one HDU per amplifier.

    Parameters
    ----------
    raw : `RawImage`
        What to write.
    path : `str` or `os.PathLike`
        Destination file, replaced if present.
    """
    primary = fits.PrimaryHDU(header=raw.header.copy())
    hdus = [primary]
    for amp in raw.amplifiers:
        hdu = fits.ImageHDU(amp.data.astype(np.int32, copy=False), name=amp.name)
        hdu.header["DATASEC"] = (amp.data_box.to_iraf_section(), "imaging pixels in this HDU")
        hdu.header["BIASSEC"] = (amp.overscan_box.to_iraf_section(), "serial overscan in this HDU")
        hdu.header["DETSEC"] = (amp.detector_box.to_iraf_section(), "imaging pixels in the detector")
        hdu.header["FLIPX"] = (amp.flip_x, "raw columns run opposite to detector columns")
        hdu.header["GAIN"] = (amp.gain, "[e-/ADU] nominal gain")
        hdu.header["RDNOISE"] = (amp.read_noise, "[e-] nominal read noise")
        hdu.header["SATURATE"] = (amp.saturation, "[ADU] saturation level")
        hdus.append(hdu)
    fits.HDUList(hdus).writeto(os.fspath(path), overwrite=True)


def read_raw_fits(path: str | os.PathLike[str]) -> RawImage:
    """Read and check a raw file.

    Raises
    ------
    BadInputError
        If the file is missing, not FITS, truncated, lacks a primary card, or
        an amplifier extension is inconsistent with its section cards.
    """
    name = os.fspath(path)
    with _open(path) as hdus:
        header = hdus[0].header.copy()
        missing = [key for key in RAW_PRIMARY_KEYS if key not in header]
        if missing:
            raise BadInputError(f"{name}: raw header lacks {', '.join(missing)}")
        amplifiers = []
        for hdu in hdus[1:]:
            amp_name = hdu.name
            absent = [key for key in _RAW_AMP_KEYS if key not in hdu.header]
            if absent:
                raise BadInputError(f"{name}: amplifier {amp_name} lacks {', '.join(absent)}")
            data = _data(hdus, amp_name, path, np.int32)
            try:
                data_box = BoundingBox.from_iraf_section(hdu.header["DATASEC"])
                overscan_box = BoundingBox.from_iraf_section(hdu.header["BIASSEC"])
                detector_box = BoundingBox.from_iraf_section(hdu.header["DETSEC"])
                gain, noise = float(hdu.header["GAIN"]), float(hdu.header["RDNOISE"])
                saturation = float(hdu.header["SATURATE"])
            except ValueError as err:
                raise BadInputError(f"{name}: amplifier {amp_name}: {err}") from err
            height, width = data.shape
            for label, box in (("DATASEC", data_box), ("BIASSEC", overscan_box)):
                if box.x1 > width or box.y1 > height:
                    raise BadInputError(
                        f"{name}: amplifier {amp_name} {label} lies outside its {data.shape} data"
                    )
            if (data_box.width, data_box.height) != (detector_box.width, detector_box.height):
                raise BadInputError(f"{name}: amplifier {amp_name} DATASEC and DETSEC differ in size")
            if not gain > 0:
                raise BadInputError(f"{name}: amplifier {amp_name} has non-positive GAIN {gain}")
            amplifiers.append(
                RawAmplifier(
                    name=amp_name,
                    data=data,
                    data_box=data_box,
                    overscan_box=overscan_box,
                    detector_box=detector_box,
                    flip_x=bool(hdu.header.get("FLIPX", False)),
                    gain=gain,
                    read_noise=noise,
                    saturation=saturation,
                )
            )
        if not amplifiers:
            raise BadInputError(f"{name}: raw has no amplifier extensions")
        return RawImage(header=header, amplifiers=amplifiers)
