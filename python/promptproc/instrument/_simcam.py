"""SimCam: the simulated LSST-like camera promptproc is developed against.

Nine detectors in a 3x3 raft (``R22_S00`` .. ``R22_S22``), 0.2 arcsec per
pixel, eight amplifiers per detector (2 rows x 4 columns) each with its own
gain, read noise and serial overscan, and physical filters ``g``, ``r``, ``i``.
"""

from __future__ import annotations

import math

from ..errors import ConfigurationError
from ._geometry import AmplifierGeometry, BoundingBox, DetectorGeometry
from ._instrument import FilterInfo, Instrument

__all__ = ["SIMCAM_NAME", "make_simcam"]

SIMCAM_NAME = "SimCam"

_PIXEL_SCALE = 0.2  # arcsec per pixel, as LSSTCam
_GRID = 3  # detectors per side
_AMP_COLUMNS = 4
_AMP_ROWS = 2
_SATURATION_ADU = 95_000.0

# Zero points (AB mag for 1 e-/s) and extinction of an 8-m class telescope.
_FILTERS = (
    FilterInfo(name="g", band="g", zero_point=28.5, extinction=0.19),
    FilterInfo(name="r", band="r", zero_point=28.4, extinction=0.10),
    FilterInfo(name="i", band="i", zero_point=28.2, extinction=0.07),
)


def _amplifiers(detector_id: int, size: int, overscan: int) -> tuple[AmplifierGeometry, ...]:
    amp_w, amp_h = size // _AMP_COLUMNS, size // _AMP_ROWS
    amps = []
    for row in range(_AMP_ROWS):
        for col in range(_AMP_COLUMNS):
            index = row * _AMP_COLUMNS + col
            # Smooth, deterministic spread of amplifier properties, as measured in a lab.
            phase = 0.7 * detector_id + 1.3 * index
            amps.append(
                AmplifierGeometry(
                    name=f"C{row}{col}",
                    index=index,
                    data_box=BoundingBox(col * amp_w, row * amp_h, amp_w, amp_h),
                    overscan_columns=overscan,
                    gain=round(1.6 + 0.12 * math.sin(phase), 4),
                    read_noise=round(5.5 + 1.2 * math.cos(phase), 3),
                    saturation=_SATURATION_ADU,
                    flip_x=col >= _AMP_COLUMNS // 2,
                )
            )
    return tuple(amps)


def make_simcam(detector_size: int = 4096, gap: int = 50, overscan: int = 32) -> Instrument:
    """Build the SimCam instrument.

    Parameters
    ----------
    detector_size : `int`
        Width and height of a detector in pixels; a multiple of 8 from 64 up.
    gap : `int`
        Pixels between neighbouring detectors on the focal plane.
    overscan : `int`
        Serial-overscan columns per amplifier.

    Returns
    -------
    instrument : `Instrument`
        SimCam with 9 science detectors, IDs 0-8 in row-major order from the
        lower left, named ``R22_S{row}{column}``.

    Raises
    ------
    ConfigurationError
        If the detector size is not a multiple of 8 or is below 64 pixels.
    """
    if detector_size < 64 or detector_size % 8:
        raise ConfigurationError(
            f"SimCam detector size must be a multiple of 8 and >= 64, not {detector_size}"
        )
    if gap < 0 or overscan < 4:
        raise ConfigurationError("SimCam gap must be >= 0 and overscan >= 4 columns")
    span = _GRID * detector_size + (_GRID - 1) * gap
    detectors = []
    for row in range(_GRID):
        for col in range(_GRID):
            det_id = row * _GRID + col
            detectors.append(
                DetectorGeometry(
                    id=det_id,
                    name=f"R22_S{row}{col}",
                    width=detector_size,
                    height=detector_size,
                    origin=(col * (detector_size + gap) - span / 2, row * (detector_size + gap) - span / 2),
                    amplifiers=_amplifiers(det_id, detector_size, overscan),
                    serial=f"SIM-{det_id:03d}",
                )
            )
    return Instrument(
        name=SIMCAM_NAME,
        obs_id_prefix="SC",
        pixel_scale=_PIXEL_SCALE,
        detectors=tuple(detectors),
        filters=_FILTERS,
    )
