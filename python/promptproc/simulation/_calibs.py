"""Master calibrations, made from the signature as if combined from N frames.

Each master is the epoch's signature plus the noise left after averaging
``n_frames`` frames, in the detector's assembled, trimmed geometry and in the
units ISR uses:

* bias, electrons: what remains of a zero-second frame after per-row
  overscan subtraction and gain (read noise / sqrt(N));
* dark, electrons per second (frames of ``dark_time`` seconds: Poisson and
  read noise / (dark_time sqrt(N)));
* flat, normalised to mean 1 (frames of ``flat_level`` electrons: Poisson
  noise / sqrt(N)).

The variance plane holds the master's own noise, in its units squared.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from ..image import Exposure, VisitInfo
from ._signature import DetectorSignature

__all__ = ["CALIB_DARK_TIME", "CALIB_FLAT_LEVEL", "make_master_bias", "make_master_dark", "make_master_flat"]

CALIB_DARK_TIME = 300.0
"""Exposure time of each dark frame, seconds."""
CALIB_FLAT_LEVEL = 20_000.0
"""Mean electrons per pixel of each flat frame."""


def _metadata(
    signature: DetectorSignature, kind: str, n_frames: int, validity: tuple[str, str]
) -> fits.Header:
    header = fits.Header()
    header["INSTRUME"] = (signature.instrument.name, "instrument")
    header["DETECTOR"] = (signature.detector.name, "detector name")
    header["DETNUM"] = (signature.detector.id, "detector ID")
    header["CALIBTYP"] = (kind, "master calibration type")
    header["CALIBEPO"] = (signature.epoch_name, "calibration epoch")
    header["VALIDBEG"] = (validity[0], "start of validity (ISO, TAI)")
    header["VALIDEND"] = (validity[1], "end of validity (ISO, TAI)")
    header["NCOMBINE"] = (n_frames, "frames combined")
    header["SIMULATD"] = (True, "made by promptproc.simulation")
    return header


def make_master_bias(
    signature: DetectorSignature, n_frames: int, rng: np.random.Generator, validity: tuple[str, str]
) -> Exposure:
    """Master bias in electrons.

    Parameters
    ----------
    signature : `DetectorSignature`
        Detector and epoch.
    n_frames : `int`
        Frames combined.
    rng : `numpy.random.Generator`
        Random stream of this master.
    validity : `tuple` [`str`, `str`]
        ISO TAI begin and end of the epoch, recorded in the metadata.
    """
    noise = signature.read_noise_map() / np.float32(np.sqrt(n_frames))
    shape = noise.shape
    image = signature.bias_electrons() + noise * rng.standard_normal(shape, dtype=np.float32)
    return Exposure(
        image=image,
        variance=noise**2,
        visit_info=VisitInfo(observation_type="bias"),
        metadata=_metadata(signature, "bias", n_frames, validity),
    )


def make_master_dark(
    signature: DetectorSignature,
    n_frames: int,
    rng: np.random.Generator,
    validity: tuple[str, str],
    dark_time: float = CALIB_DARK_TIME,
) -> Exposure:
    """Master dark in electrons per second (see `make_master_bias` for the parameters)."""
    rate = signature.dark_rate()
    read = signature.read_noise_map()
    sigma = np.sqrt(rate * np.float32(dark_time) + read**2) / np.float32(dark_time * np.sqrt(n_frames))
    image = rate + sigma * rng.standard_normal(rate.shape, dtype=np.float32)
    metadata = _metadata(signature, "dark", n_frames, validity)
    metadata["DARKTIME"] = (dark_time, "[s] dark time of each frame")
    return Exposure(
        image=image,
        variance=sigma**2,
        visit_info=VisitInfo(observation_type="dark", exposure_time=1.0),
        metadata=metadata,
    )


def make_master_flat(
    signature: DetectorSignature,
    physical_filter: str,
    n_frames: int,
    rng: np.random.Generator,
    validity: tuple[str, str],
    flat_level: float = CALIB_FLAT_LEVEL,
) -> Exposure:
    """Master flat of a filter, normalised to mean 1 (see `make_master_bias` for the parameters)."""
    info = signature.instrument.filter(physical_filter)
    flat = signature.flat(physical_filter)
    sigma = np.sqrt(np.maximum(flat, 1e-3) / np.float32(flat_level * n_frames))
    image = flat + sigma * rng.standard_normal(flat.shape, dtype=np.float32)
    norm = np.float32(image.mean(dtype=np.float64))
    image /= norm
    metadata = _metadata(signature, "flat", n_frames, validity)
    metadata["FLATLEV"] = (flat_level, "[e-] mean level of each frame")
    return Exposure(
        image=image,
        variance=(sigma / norm) ** 2,
        visit_info=VisitInfo(observation_type="flat", physical_filter=info.name, band=info.band),
        metadata=metadata,
    )
