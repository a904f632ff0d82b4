"""Reading a detector out: electrons to per-amplifier ADU, and the raw header.

For each amplifier the imaging pixels are divided by the gain and get the
bias (overscan level + the signature's 2-d structure + this exposure's
row-by-row drift) and read noise; the serial-overscan columns get the same
level and drift and read noise only.  Values are rounded and clipped to
``[0, saturation]`` as an ADC would, and stored as ``int32`` in raw
orientation (`AmplifierGeometry.flip_x`).
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from ..image import RawAmplifier
from ..instrument import DetectorGeometry, Instrument
from ._signature import DetectorSignature
from ._site import SITE_LATITUDE, SITE_LONGITUDE, altitude, iso_tai
from ._visits import SimVisit

__all__ = ["TELESCOPE", "raw_header", "read_out"]

TELESCOPE = "SimTel"
"""Telescope name written in raw headers."""


def read_out(
    electrons: np.ndarray, signature: DetectorSignature, rng: np.random.Generator
) -> list[RawAmplifier]:
    """Turn a detector image in electrons into raw amplifier arrays.

    Parameters
    ----------
    electrons : `numpy.ndarray`
        ``(height, width)`` charge collected in each pixel, electrons.
    signature : `DetectorSignature`
        Bias levels and structure of the detector in this epoch.
    rng : `numpy.random.Generator`
        Random stream of this readout (drift and read noise).

    Returns
    -------
    amplifiers : `list` [`RawAmplifier`]
        In readout order.
    """
    det: DetectorGeometry = signature.detector
    amp_rows = det.amplifiers[0].data_box.height
    # Common-mode pickup: a slow wave plus row-to-row jitter, seen by all amplifiers at once.
    rows = np.arange(amp_rows, dtype=np.float32)
    period = rng.uniform(0.3, 1.5) * amp_rows
    drift = 1.5 * np.sin(2 * np.pi * rows / period + rng.uniform(0, 2 * np.pi))
    drift = (drift + rng.normal(0.0, 0.7, amp_rows)).astype(np.float32)
    out = []
    for amp, level, structure in zip(
        det.amplifiers, signature.bias_levels, signature.bias_structure, strict=True
    ):
        pixels = electrons[amp.data_box.slices]
        if amp.flip_x:
            pixels = pixels[:, ::-1]
        offset = np.float32(level + rng.normal(0.0, 3.0))
        amp_drift = drift * np.float32(rng.uniform(0.8, 1.2))
        noise = np.float32(amp.read_noise / amp.gain)
        raw = np.empty(amp.raw_shape, dtype=np.float32)
        imaging = raw[amp.raw_data_box.slices]
        np.multiply(pixels, np.float32(1.0 / amp.gain), out=imaging)
        imaging += structure
        imaging += (offset + amp_drift)[:, None]
        overscan = raw[amp.raw_overscan_box.slices]
        overscan[...] = (offset + amp_drift)[:, None]
        raw += noise * rng.standard_normal(raw.shape, dtype=np.float32)
        np.rint(raw, out=raw)
        np.clip(raw, 0.0, amp.saturation, out=raw)
        out.append(
            RawAmplifier(
                name=amp.name,
                data=raw.astype(np.int32),
                data_box=amp.raw_data_box,
                overscan_box=amp.raw_overscan_box,
                detector_box=amp.data_box,
                flip_x=amp.flip_x,
                gain=amp.gain,
                read_noise=amp.read_noise,
                saturation=amp.saturation,
            )
        )
    return out


def raw_header(instrument: Instrument, visit: SimVisit, detector: int, seed: int) -> fits.Header:
    """The primary header a camera writes for one detector of a visit.

    It holds `promptproc.image.RAW_PRIMARY_KEYS` and the other cards of a
    real camera; the pointing is the commanded one.
    """
    det = instrument.detector(detector)
    header = fits.Header()
    cards = [
        ("INSTRUME", instrument.name, "instrument"),
        ("TELESCOP", TELESCOPE, "telescope"),
        ("OBSERVAT", "Cerro Pachon", "observatory (simulated)"),
        ("OBS-LAT", SITE_LATITUDE, "[deg] site latitude"),
        ("OBS-LONG", SITE_LONGITUDE, "[deg] site east longitude"),
        ("OBS-ELEV", 2663.0, "[m] site elevation"),
        ("ORIGIN", "promptproc.simulation", "software that wrote the file"),
        ("DETECTOR", det.name, "detector name"),
        ("DETNUM", det.id, "detector ID"),
        ("DETSER", det.serial, "sensor serial number"),
        ("RAFTBAY", det.raft, "raft"),
        ("CCDSLOT", det.sensor, "sensor slot in the raft"),
        ("OBSID", visit.obs_id, "observation ID"),
        ("GROUPID", visit.group, "observation group"),
        ("EXPID", visit.exposure_id, "exposure ID"),
        ("DAYOBS", visit.day_obs, "observing day"),
        ("SEQNUM", visit.seq_num, "sequence number"),
        ("IMGTYPE", "science", "observation type"),
        ("OBSTYPE", "science", "observation type"),
        ("FILTER", visit.physical_filter, "physical filter"),
        ("BAND", visit.band, "abstract band"),
        ("RA", visit.ra, "[deg] commanded boresight RA (ICRS)"),
        ("DEC", visit.dec, "[deg] commanded boresight Dec (ICRS)"),
        ("RADESYS", "ICRS", "celestial frame"),
        ("ROTPA", visit.rotation, "[deg] position angle of camera +y, E of N"),
        ("TIMESYS", "TAI", "time scale of the dates"),
        ("DATE-BEG", visit.date_begin, "start of exposure (TAI)"),
        ("DATE-END", visit.date_end, "end of exposure (TAI)"),
        ("DATE-OBS", visit.date_begin, "start of exposure (TAI)"),
        ("MJD-BEG", visit.mjd_begin, "[d] MJD (TAI) at start of exposure"),
        ("MJD-END", visit.mjd_end, "[d] MJD (TAI) at end of exposure"),
        ("MJD-OBS", visit.mjd_begin, "[d] MJD (TAI) at start of exposure"),
        ("EXPTIME", visit.exposure_time, "[s] open-shutter time"),
        ("DARKTIME", visit.exposure_time, "[s] time dark current accumulated"),
        ("AIRMASS", visit.airmass, "airmass at mid-exposure"),
        (
            "ELSTART",
            round(float(altitude(visit.ra, visit.dec, visit.mjd_begin)), 4),
            "[deg] altitude at start",
        ),
        ("ELEND", round(float(altitude(visit.ra, visit.dec, visit.mjd_end)), 4), "[deg] altitude at end"),
        ("CCDTEMP", -100.0, "[C] sensor temperature"),
        ("SIMSEED", seed, "simulation seed"),
    ]
    for key, value, comment in cards:
        header[key] = (value, comment)
    header["DATE"] = (iso_tai(visit.mjd_end), "file written (TAI)")
    return header
