"""Raws: geometry, header, sidecar, FITS round trip, saturation and bleed trails."""

from __future__ import annotations

import json

import numpy as np
import pytest

from promptproc.errors import BadInputError
from promptproc.image import RAW_PRIMARY_KEYS, read_raw_fits
from promptproc.simulation import SimulatedObservatory


def test_raw_geometry(obs: SimulatedObservatory, raw_of) -> None:
    raw = raw_of(0, 4)
    det = obs.instrument.detector(4)
    assert raw.detector_shape == (512, 512)
    assert [a.name for a in raw.amplifiers] == [a.name for a in det.amplifiers]
    for amp, geom in zip(raw.amplifiers, det.amplifiers, strict=True):
        assert amp.data.dtype == np.int32
        assert amp.data.shape == geom.raw_shape == (256, 128 + 32)
        assert amp.data_box == geom.raw_data_box
        assert amp.overscan_box == geom.raw_overscan_box
        assert amp.detector_box == geom.data_box
        assert amp.flip_x == geom.flip_x
        assert amp.gain == geom.gain
        assert amp.data.min() >= 0
        assert amp.data.max() <= geom.saturation
        # The overscan is bias + read noise only: near the level, with the read noise in ADU.
        overscan = amp.overscan().astype(float)
        assert 10_000 - 200 < np.median(overscan) < 20_000 + 200
        row_level = overscan.mean(axis=1, keepdims=True)
        assert np.std(overscan - row_level) == pytest.approx(geom.read_noise / geom.gain, rel=0.1)
        # The imaging area sits above the overscan by the sky (electrons / gain).
        assert np.median(amp.imaging()) - np.median(overscan) > 100


def test_bias_levels_differ_between_amplifiers(raw_of) -> None:
    levels = [np.median(amp.overscan()) for amp in raw_of(0, 4).amplifiers]
    assert np.ptp(levels) > 500


def test_header(obs: SimulatedObservatory, raw_of) -> None:
    visit = obs.visits[0]
    raw = raw_of(0, 4)
    for key in RAW_PRIMARY_KEYS:
        assert key in raw.header
    for key in ("DATE-END", "AIRMASS", "TELESCOP", "MJD-END", "DARKTIME", "BAND", "EXPID", "TIMESYS"):
        assert key in raw.header
    assert raw.header["RA"] == visit.ra
    assert raw.header["DEC"] == visit.dec
    assert raw.header["ROTPA"] == visit.rotation
    assert raw.header["DATE-BEG"] == visit.date_begin
    assert raw.header["GROUPID"] == visit.group
    assert raw.header["OBSID"] == visit.obs_id
    assert raw.header["DETECTOR"] == "R22_S11"
    assert raw.header["DETNUM"] == 4
    assert raw.header["FILTER"] == visit.physical_filter
    assert raw.header["EXPTIME"] == 30.0
    assert raw.header["TIMESYS"] == "TAI"


def test_fits_round_trip_and_sidecar(obs: SimulatedObservatory, tmp_path) -> None:
    visit = obs.visits[1]
    fits_path, sidecar_path = obs.write_raw(visit, 7, tmp_path)
    key = obs.instrument.raw_key(visit.day_obs, visit.seq_num, 7)
    assert fits_path == tmp_path / key.key
    assert sidecar_path == tmp_path / key.sidecar_key
    assert obs.instrument.parse_raw_key(key.key).detector == 7
    back = read_raw_fits(fits_path)
    original = obs.raw(visit, 7)
    for a, b in zip(original.amplifiers, back.amplifiers, strict=True):
        np.testing.assert_array_equal(a.data, b.data)
        assert (a.data_box, a.overscan_box, a.detector_box, a.flip_x) == (
            b.data_box,
            b.overscan_box,
            b.detector_box,
            b.flip_x,
        )
        assert a.gain == pytest.approx(b.gain)
    sidecar = json.loads(sidecar_path.read_text())
    for key_name in (*RAW_PRIMARY_KEYS, "INSTRUME", "DETECTOR", "EXPTIME", "GROUPID", "DATE-BEG"):
        assert sidecar[key_name] == back.header[key_name]
    for key_name, value in sidecar.items():
        assert back.header[key_name] == value


def test_unknown_detector_raises(obs: SimulatedObservatory) -> None:
    with pytest.raises(BadInputError, match="no detector"):
        obs.raw(obs.visits[0], 9)
    with pytest.raises(BadInputError, match="no detector"):
        obs.truth(obs.visits[0], "R22_S33")


def test_saturated_star_clips_and_bleeds(obs: SimulatedObservatory) -> None:
    """A star well above the full well leaves a column of saturated pixels longer than it is wide."""
    best = None
    for index, visit in enumerate(obs.visits):
        for det in range(9):
            truth = obs.truth(visit, det)
            stars = truth[(truth["kind"] == "star")]
            if len(stars) and (best is None or stars["peak"].max() > best[0]):
                row = stars[int(np.argmax(stars["peak"]))]
                best = (float(row["peak"]), index, det, float(row["x"]), float(row["y"]))
    assert best is not None
    assert best[0] > 3 * obs.config.full_well, "the test sky needs a bright star"
    _, index, det, x, y = best
    raw = obs.raw(obs.visits[index], det)
    saturated = np.zeros(raw.detector_shape, dtype=bool)
    for amp in raw.amplifiers:
        saturated[amp.detector_box.slices] = amp.imaging() >= amp.saturation
    near = saturated[max(int(y) - 60, 0) : int(y) + 60, max(int(x) - 30, 0) : int(x) + 30]
    assert near.sum() > 5
    rows = np.flatnonzero(near.any(axis=1))
    cols = np.flatnonzero(near.any(axis=0))
    assert np.ptp(rows) > np.ptp(cols)  # bled along the column
