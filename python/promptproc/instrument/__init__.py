"""Instruments: camera geometry, filters, identifiers, raw keys and predicted WCS."""

from ._geometry import AmplifierGeometry, BoundingBox, DetectorGeometry
from ._instrument import FilterInfo, Instrument, RawKey
from ._registry import get_instrument, known_instruments
from ._simcam import SIMCAM_NAME, make_simcam
from ._wcs import make_tan_wcs, predict_detector_wcs, predict_footprint, sky_polygon, wcs_corners

__all__ = [
    "SIMCAM_NAME",
    "AmplifierGeometry",
    "BoundingBox",
    "DetectorGeometry",
    "FilterInfo",
    "Instrument",
    "RawKey",
    "get_instrument",
    "known_instruments",
    "make_simcam",
    "make_tan_wcs",
    "predict_detector_wcs",
    "predict_footprint",
    "sky_polygon",
    "wcs_corners",
]
