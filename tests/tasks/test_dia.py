"""Tests of DIA detection and measurement, and of the whole single-visit chain."""

from __future__ import annotations

import importlib.resources

import numpy as np
import pytest
import yaml
from science_scenes import make_pair, make_refcat, prepare, render_moffat

from promptproc.image import Exposure, ImagePsf, PhotoCalib, VisitInfo, moffat_kernel
from promptproc.instrument import make_tan_wcs
from promptproc.tasks.calibrate import CalibrateTask
from promptproc.tasks.dia import DiaTask
from promptproc.tasks.subtract import SubtractTask
from promptproc.tasks.warp import TemplateWarpTask


def _match(sources, x, y, radius: float):
    """For each truth position, the nearest source row and whether it is within ``radius`` pixels."""
    if len(sources) == 0:
        return np.zeros(len(x), dtype=int), np.zeros(len(x), dtype=bool)
    dist = np.hypot(
        np.asarray(sources["x"])[:, None] - np.asarray(x)[None, :],
        np.asarray(sources["y"])[:, None] - np.asarray(y)[None, :],
    )
    return np.argmin(dist, axis=0), dist.min(axis=0) <= radius


def test_injected_sources_recovered_with_few_false_positives() -> None:
    pair = make_pair(np.random.default_rng(90), n_injected=10, injected_snr=20.0)
    science, template, sources = prepare(pair)
    subtraction = SubtractTask().run(science, template, sources)
    result = DiaTask().run(
        subtraction.difference, science=science, matched_template=subtraction.matched_template, detector=4
    )
    dia = result.sources
    rows, found = _match(dia, pair.injected["x"], pair.injected["y"], 2.5)  # 0.5 arcsec
    assert found.mean() >= 0.9
    unmatched = np.ones(len(dia), dtype=bool)
    unmatched[rows[found]] = False
    assert unmatched.sum() < 5
    hits = dia[rows[found]]
    # Fluxes in nJy, with errors that describe the scatter; positions to a fraction of a pixel.
    truth_njy = np.asarray(pair.injected["flux"])[found] * pair.njy_per_count
    pulls = (np.asarray(hits["psfFlux"]) - truth_njy) / np.asarray(hits["psfFluxErr"])
    assert abs(float(np.mean(pulls))) < 1.0
    assert float(np.std(pulls)) < 2.0
    assert np.all(
        np.hypot(hits["x"] - pair.injected["x"][found], hits["y"] - pair.injected["y"][found]) < 0.5
    )
    assert np.all(hits["snr"] > 10)
    assert not hits["isNegative"].any()
    assert not hits["isDipole"].any()
    # Forced fluxes: the science image sees the transient (plus any star under it) ...
    assert np.all(hits["scienceFlux"] > 0.7 * hits["psfFlux"])
    # ... and science minus matched template is the difference.
    np.testing.assert_allclose(hits["scienceFlux"] - hits["templateFlux"], hits["psfFlux"], rtol=0.05)
    ra, dec = science.wcs.all_pix2world(hits["x"], hits["y"], 0)
    np.testing.assert_allclose(hits["ra"], ra)
    np.testing.assert_allclose(hits["dec"], dec)
    assert (dia["detector"] == 4).all()
    assert (dia["band"] == "r").all()
    assert result.noise_scale == pytest.approx(1.0, abs=0.15)


def test_dipoles_and_negative_sources() -> None:
    rng = np.random.default_rng(91)
    shape = (256, 256)
    wcs = make_tan_wcs(150.0, 2.0, (127.5, 127.5), 0.2, 0.0)
    fwhm = 4.0
    psf = ImagePsf(moffat_kernel(fwhm, 3.5), fwhm)
    sky_var = 1025.0
    noise = rng.normal(size=shape) * np.sqrt(sky_var)
    # A star that moved by 2.5 px (dipole) and one that vanished (negative).
    science_img = render_moffat(shape, np.array([80.0 + 2.5]), np.array([100.0]), np.array([1e5]), fwhm)
    template_img = render_moffat(
        shape, np.array([80.0, 180.0]), np.array([100.0, 150.0]), np.array([1e5, 3e4]), fwhm
    )
    calib = PhotoCalib(2.0)
    difference = Exposure(
        image=(science_img - template_img + noise).astype(np.float32),
        variance=np.full(shape, sky_var, dtype=np.float32),
        wcs=wcs,
        psf=psf,
        photo_calib=calib,
        visit_info=VisitInfo(exposure_id=7, band="g", mjd_begin=60001.0, exposure_time=30.0),
    )
    sources = DiaTask().run(difference).sources
    dipoles = sources[sources["isDipole"]]
    assert len(dipoles) == 1
    dipole = dipoles[0]
    assert dipole["x"] == pytest.approx(81.25, abs=0.3)
    # Lobe separation: more than the 0.5-arcsec shift for a shift below the FWHM.
    assert 0.5 <= dipole["dipoleLength"] <= 1.5
    assert dipole["dipoleAngle"] == pytest.approx(270.0, abs=10.0)  # +x is west
    assert dipole["dipoleMeanFlux"] > 0
    assert not dipole["isNegative"]
    negatives = sources[sources["isNegative"]]
    assert len(negatives) == 1
    assert negatives["psfFlux"][0] == pytest.approx(-3e4 * 0.995 * 2.0, rel=0.05)
    assert negatives["x"][0] == pytest.approx(180.0, abs=0.2)
    assert (sources["visit"] == 7).all()
    assert (sources["band"] == "g").all()
    assert sources["midpointMjdTai"][0] == pytest.approx(60001.0 + 15.0 / 86400.0)
    assert len(sources) == 2


def test_columns_follow_the_apdb_schema() -> None:
    schema_file = importlib.resources.files("lsst.sdm.schemas").joinpath("apdb.yaml")
    schema = yaml.safe_load(schema_file.read_text())
    dia_columns = next(t for t in schema["tables"] if t["name"] == "DiaSource")["columns"]
    names = {c["name"] for c in dia_columns}
    pair = make_pair(np.random.default_rng(92), n_stars=40, n_injected=3)
    science, template, sources = prepare(pair)
    subtraction = SubtractTask().run(science, template, sources)
    table = DiaTask().run(subtraction.difference, science=science).sources
    ours = set(table.colnames) - {"blended"}
    assert ours <= names, sorted(ours - names)


def test_whole_chain_from_raw_visit() -> None:
    pair = make_pair(np.random.default_rng(93), n_injected=10, injected_snr=20.0)
    raw = pair.science.copy()
    raw.image += np.float32(1000.0)  # ISR output still holds the sky
    raw.psf = None
    raw.photo_calib = None
    truth = pair.stars.copy()
    truth["ra"], truth["dec"] = raw.wcs.all_pix2world(truth["x"], truth["y"], 0)
    refcat = make_refcat(truth, pair.njy_per_count)
    cos_dec = np.cos(np.radians(2.0))
    raw.wcs = make_tan_wcs(150.0 + 2.0 / 3600.0 / cos_dec, 2.0 + 1.0 / 3600.0, (255.5, 255.5), 0.2, 0.02)
    calibrated = CalibrateTask().run(raw, refcat, band="r")
    assert calibrated.summary.astrometric_rms < 0.05
    assert calibrated.summary.zero_point == pytest.approx(28.0, abs=0.02)
    science = calibrated.exposure
    warped = TemplateWarpTask().run([pair.template], science.wcs, science.shape)
    subtraction = SubtractTask().run(science, warped.exposure, calibrated.sources)
    assert 0.9 < subtraction.residual_std_ratio < 1.1
    dia = DiaTask().run(subtraction.difference, science=science).sources
    rows, found = _match(dia, pair.injected["x"], pair.injected["y"], 2.5)
    assert found.mean() >= 0.9
    assert len(dia) - found.sum() < 5
    flux_njy = np.asarray(pair.injected["flux"])[found] * pair.njy_per_count
    assert float(np.median(dia["psfFlux"][rows[found]] / flux_njy)) == pytest.approx(1.0, abs=0.1)
