"""In-memory image types (exposures, raws, PSFs, calibrations) and their FITS form."""

from ._exposure import Exposure, VisitInfo
from ._fits import read_exposure_fits, read_raw_fits, write_exposure_fits, write_raw_fits
from ._mask import MaskPlane
from ._photocalib import NANOJANSKY_AB_ZERO_POINT, PhotoCalib
from ._psf import FWHM_PER_SIGMA, ImagePsf, gaussian_kernel, moffat_kernel
from ._raw import RAW_PRIMARY_KEYS, RawAmplifier, RawImage

__all__ = [
    "FWHM_PER_SIGMA",
    "NANOJANSKY_AB_ZERO_POINT",
    "RAW_PRIMARY_KEYS",
    "Exposure",
    "ImagePsf",
    "MaskPlane",
    "PhotoCalib",
    "RawAmplifier",
    "RawImage",
    "VisitInfo",
    "gaussian_kernel",
    "moffat_kernel",
    "read_exposure_fits",
    "read_raw_fits",
    "write_exposure_fits",
    "write_raw_fits",
]
