import numpy as np
import pytest

from promptproc.errors import BadInputError, ConfigurationError
from promptproc.instrument import (
    Instrument,
    get_instrument,
    make_simcam,
    predict_detector_wcs,
    predict_footprint,
    wcs_corners,
)


@pytest.fixture(scope="module")
def simcam() -> Instrument:
    return make_simcam(512)


def test_layout(simcam: Instrument) -> None:
    assert len(simcam.detectors) == 9
    assert [d.id for d in simcam.detectors] == list(range(9))
    assert simcam.detector(4).name == "R22_S11"
    assert simcam.detector("R22_S22").id == 8
    assert simcam.pixel_scale == 0.2
    assert [f.name for f in simcam.filters] == ["g", "r", "i"]
    for det in simcam.detectors:
        assert len(det.amplifiers) == 8
        # Amplifier data boxes tile the detector exactly once.
        cover = np.zeros((det.height, det.width), dtype=int)
        for amp in det.amplifiers:
            cover[amp.data_box.slices] += 1
            assert amp.raw_shape == (amp.data_box.height, amp.data_box.width + amp.overscan_columns)
            assert 1.3 < amp.gain < 1.9
            assert 3 < amp.read_noise < 8
        assert np.all(cover == 1)


def test_default_size_is_lsst_like() -> None:
    cam = make_simcam()
    assert cam.detector(0).width == cam.detector(0).height == 4096


def test_bad_size() -> None:
    with pytest.raises(ConfigurationError):
        make_simcam(100)


def test_unknown_instrument() -> None:
    with pytest.raises(ConfigurationError, match="unknown instrument 'LSSTCam'"):
        get_instrument("LSSTCam")
    assert get_instrument("SimCam", detector_size=256).detector(0).width == 256


def test_unknown_detector_and_filter(simcam: Instrument) -> None:
    with pytest.raises(BadInputError):
        simcam.detector(9)
    with pytest.raises(BadInputError):
        simcam.filter("z")


def test_raw_key_round_trip(simcam: Instrument) -> None:
    key = simcam.raw_key(20261122, 42, 4)
    assert key.key == "SimCam/20261122/SC_O_20261122_000042/SC_O_20261122_000042_R22_S11.fits"
    assert key.sidecar_key.endswith("_R22_S11.json")
    assert key.exposure_id == 2026112200042
    assert simcam.parse_raw_key(key.key) == key
    assert Instrument.split_exposure_id(key.exposure_id) == (20261122, 42)


@pytest.mark.parametrize(
    "bad",
    [
        "SimCam/20261122/SC_O_20261122_000042/SC_O_20261122_000042_R22_S11.json",
        "LSSTCam/20261122/SC_O_20261122_000042/SC_O_20261122_000042_R22_S11.fits",
        "SimCam/20261121/SC_O_20261122_000042/SC_O_20261122_000042_R22_S11.fits",
        "SimCam/20261122/SC_O_20261122_000042/SC_O_20261122_000043_R22_S11.fits",
        "SimCam/20261122/SC_O_20261122_000042/SC_O_20261122_000042_R22_S99.fits",
        "garbage",
    ],
)
def test_raw_key_rejects(simcam: Instrument, bad: str) -> None:
    with pytest.raises(BadInputError):
        simcam.parse_raw_key(bad)


def test_serialisation(simcam: Instrument) -> None:
    assert Instrument.from_json(simcam.to_json()) == simcam
    with pytest.raises(BadInputError):
        Instrument.from_json("{}")
    with pytest.raises(BadInputError):
        Instrument.from_json("not json")


def test_predicted_wcs_geometry(simcam: Instrument) -> None:
    # The central detector's centre is the boresight.
    wcs = predict_detector_wcs(simcam, 4, 150.0, 2.2, 0.0)
    ra, dec = wcs.all_pix2world([[255.5, 255.5]], 0)[0]
    assert ra == pytest.approx(150.0, abs=1e-9)
    assert dec == pytest.approx(2.2, abs=1e-9)
    # Pixel scale is 0.2"/px, +y to the north and +x to the west at rotation 0.
    (ra0, dec0), (ra1, _), (_, dec2) = wcs.all_pix2world([[100, 100], [110, 100], [100, 110]], 0)
    assert (dec2 - dec0) * 3600 == pytest.approx(2.0, rel=1e-4)
    assert (ra1 - ra0) * 3600 * np.cos(np.radians(dec0)) == pytest.approx(-2.0, rel=1e-3)
    # Rotation by 90 degrees turns +y towards the east.
    rot = predict_detector_wcs(simcam, 4, 150.0, 2.2, 90.0)
    (ra0, _), (ra2, _) = rot.all_pix2world([[100, 100], [100, 110]], 0)
    assert ra2 > ra0


def test_neighbouring_detectors_abut(simcam: Instrument) -> None:
    # Detector 5 is right of detector 4, with the gap between them.
    left = predict_detector_wcs(simcam, 4, 10.0, 0.0, 0.0)
    right = predict_detector_wcs(simcam, 5, 10.0, 0.0, 0.0)
    sky = right.all_pix2world([[0, 0]], 0)
    x, y = left.all_world2pix(sky, 0)[0]
    assert x == pytest.approx(512 + 50, abs=1e-6)
    assert y == pytest.approx(0, abs=1e-6)


def test_footprint_padding(simcam: Instrument) -> None:
    from lsst.sphgeom import LonLat, UnitVector3d

    wcs = predict_detector_wcs(simcam, 0, 150.0, 2.2, 30.0)
    corners = wcs_corners(wcs, 512, 512)
    tight = predict_footprint(simcam, 0, 150.0, 2.2, 30.0)
    padded = predict_footprint(simcam, 0, 150.0, 2.2, 30.0, padding_arcsec=30.0)
    centre = wcs.all_pix2world([[255.5, 255.5]], 0)[0]
    assert tight.contains(UnitVector3d(LonLat.fromDegrees(*centre)))
    # A point 10" outside a corner is in the padded footprint only.
    outside = wcs.all_pix2world([[-30.0, -30.0]], 0)[0]
    point = UnitVector3d(LonLat.fromDegrees(*outside))
    assert not tight.contains(point)
    assert padded.contains(point)
    assert corners.shape == (4, 2)
