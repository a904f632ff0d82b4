"""Tests of DIA source filtering."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from astropy.table import Table
from science_scenes import make_pair, prepare, render_moffat

from promptproc.image import Exposure, ImagePsf, MaskPlane
from promptproc.tasks.dia import DiaConfig, DiaTask
from promptproc.tasks.filter import REJECTION_REASONS, DiaFilterConfig, DiaFilterTask
from promptproc.tasks.subtract import SubtractTask

SHAPE = (256, 256)
FWHM = 4.5
BETA = 3.5
SKY_VARIANCE = 1000.0
FULL_WELL = 140_000.0


def _difference(mask: np.ndarray | None = None) -> Exposure:
    return Exposure(
        image=np.zeros(SHAPE, dtype=np.float32),
        mask=mask,
        variance=np.full(SHAPE, 2 * SKY_VARIANCE, dtype=np.float32),
        psf=ImagePsf.gaussian(FWHM),
    )


def _sources(x, y, snr=None, negative=None) -> Table:
    x = np.asarray(x, dtype=float)
    return Table(
        {
            "x": x,
            "y": np.asarray(y, dtype=float),
            "snr": np.full(x.size, 10.0) if snr is None else np.asarray(snr, dtype=float),
            "isNegative": np.zeros(x.size, dtype=bool) if negative is None else np.asarray(negative),
        }
    )


def _saturated_science(stars: list[tuple[float, float, float]], bleed: int = 0) -> Exposure:
    """Noiseless background-subtracted stars clipped at the full well, saturated pixels flagged."""
    xs, ys, fluxes = (np.array(v, dtype=float) for v in zip(*stars, strict=True))
    image = render_moffat(SHAPE, xs, ys, fluxes, FWHM, BETA, radius=120)
    saturated = image >= FULL_WELL
    for x, y in zip(xs, ys, strict=True):
        # A bleed trail up and down the star's column.
        column = int(np.rint(x))
        saturated[max(int(y) - bleed, 0) : int(y) + bleed + 1, column] |= bleed > 0
    image = np.minimum(image, FULL_WELL)
    mask = np.where(saturated, int(MaskPlane.SAT), 0).astype(np.int32)
    return Exposure(
        image=image.astype(np.float32),
        mask=mask,
        variance=(SKY_VARIANCE + image).astype(np.float32),
        psf=ImagePsf.gaussian(FWHM),
    )


def _expected_radius(flux: float, nsigma: float) -> float:
    """Where a Moffat star's profile falls to ``nsigma`` sky sigmas."""
    alpha = FWHM / (2.0 * np.sqrt(2.0 ** (1.0 / BETA) - 1.0))
    peak = flux * (BETA - 1.0) / (np.pi * alpha**2)
    level = nsigma * np.sqrt(SKY_VARIANCE)
    return float(alpha * np.sqrt((peak / level) ** (1.0 / BETA) - 1.0))


def test_edge() -> None:
    sources = _sources([0.2, 255.0, 1.6, 254.1, 100.0, np.nan], [100.0, 50.0, 100.0, 60.0, 0.3, 10.0])
    result = DiaFilterTask().run(sources, _difference())
    assert list(result.sources["x"]) == [1.6, 254.1]
    assert list(result.rejected["reason"]) == ["edge"] * 4
    assert result.counts == {
        "edge": 4,
        "masked_center": 0,
        "bright_star": 0,
        "fragment": 0,
        "subtraction_residual": 0,
    }


def test_masked_center() -> None:
    mask = np.zeros(SHAPE, dtype=np.int32)
    planes = ("SAT", "CR", "NO_DATA", "BAD", "SUSPECT", "INTRP", "DETECTED")
    for k, name in enumerate(planes):
        mask[20 + 20 * k, 50] = int(MaskPlane[name])
    mask[200, 51] = int(MaskPlane.CR)  # next to, not at, the centre of the last source
    x = [50.3] * len(planes) + [50.0]
    y = [20.0 + 20 * k - 0.2 for k in range(len(planes))] + [200.0]
    result = DiaFilterTask().run(_sources(x, y), _difference(mask))
    assert list(result.rejected["reason"]) == ["masked_center"] * 5
    np.testing.assert_allclose(result.sources["y"], [119.8, 139.8, 200.0])
    assert result.counts["masked_center"] == 5


def test_bright_star_halos_scale_with_brightness() -> None:
    bright, faint = 5.0e7, 5.0e6
    science = _saturated_science([(70.0, 80.0, bright), (190.0, 170.0, faint)], bleed=25)
    config = DiaFilterConfig()
    result = DiaFilterTask(config).run(_sources([], []), _difference(), science)
    halos = result.halos
    assert len(halos) == 2
    halos.sort("x")
    radius_bright, radius_faint = halos["radius"]
    # Ten times the flux: the radius of a beta = 3.5 Moffat wing grows by 10^(1/7) = 1.39.
    assert radius_bright > 1.25 * radius_faint
    for radius, flux in ((radius_bright, bright), (radius_faint, faint)):
        assert radius == pytest.approx(_expected_radius(flux, config.halo_nsigma), abs=1.5)
    np.testing.assert_allclose(halos["x"], [70.0, 190.0], atol=0.5)
    np.testing.assert_allclose(halos["y"], [80.0, 170.0], atol=0.5)
    # Inside and outside each halo, and next to the bright star's bleed trail beyond its halo.
    x = [
        70.0 + radius_bright - 2,
        70.0 - radius_bright - 2,
        190.0 + radius_faint - 2,
        190.0 - radius_faint - 2,
    ]
    y = [80.0, 80.0, 170.0, 170.0]
    x, y = [*x, 71.5, 140.0], [*y, 80.0 + 25, 40.0]
    result = DiaFilterTask(config).run(_sources(x, y), _difference(science.mask.copy()), science)
    reasons = dict(zip(np.round(result.rejected["x"], 1), result.rejected["reason"], strict=True))
    assert set(reasons.values()) == {"bright_star"}
    assert len(result.sources) == 3
    assert 71.5 in reasons  # bleed trail
    assert round(70.0 + radius_bright - 2, 1) in reasons
    assert round(190.0 + radius_faint - 2, 1) in reasons


def test_halos_without_a_science_image_use_the_difference_mask() -> None:
    mask = np.zeros(SHAPE, dtype=np.int32)
    mask[98:103, 98:103] = int(MaskPlane.SAT)
    result = DiaFilterTask().run(_sources([100.0, 100.0], [106.5, 108.0]), _difference(mask))
    # Core radius 2.5 pixels, plus one FWHM: 7 pixels.
    assert result.halos["radius"][0] == pytest.approx(2.5 + FWHM)
    assert list(result.rejected["y"]) == [106.5]
    switched_off = DiaFilterTask(DiaFilterConfig(do_bright_star_halos=False))
    assert len(switched_off.run(_sources([100.0], [106.5]), _difference(mask)).rejected) == 0


def test_fragments_split_off_by_a_bad_column() -> None:
    mask = np.zeros(SHAPE, dtype=np.int32)
    mask[:, 105] = int(MaskPlane.BAD | MaskPlane.INTRP)
    sources = _sources(
        [104.0, 110.0, 104.0, 104.0, 150.0, 154.0],
        [50.0, 50.0, 120.0, 160.0, 160.0, 160.0],
        snr=[20.0, 60.0, 30.0, 30.0, 10.0, 30.0],
        negative=[False, False, True, False, False, False],
    )
    result = DiaFilterTask().run(sources, _difference(mask))
    # Only the fainter piece next to the bad column; alone, of the other sign, or unmasked pairs stay.
    assert list(zip(result.rejected["x"], result.rejected["y"], strict=True)) == [(104.0, 50.0)]
    assert result.counts["fragment"] == 1
    assert len(result.sources) == 5


def test_subtraction_residuals() -> None:
    # Around a bright template star: a positive and a negative lobe, each a few percent of its flux.
    # Elsewhere: a variable star changing by 5% (one lobe), a transient on a galaxy, a merged dipole.
    sources = _sources(
        [100.0, 108.0, 200.0, 60.0, 150.0, 30.0],
        [100.0, 103.0, 200.0, 60.0, 40.0, 220.0],
        negative=[False, True, True, False, False, False],
    )
    sources["psfFlux"] = [4.0e3, -3.0e3, -5.0e3, 3.0e3, 2.0e3, 2.0e3]
    sources["templateFlux"] = [1.0e5, 1.2e5, 1.0e5, 2.0e4, 5.0e5, 4.0e3]
    sources["isDipole"] = [False, False, False, False, True, True]
    result = DiaFilterTask().run(sources, _difference())
    assert list(zip(result.rejected["x"], result.rejected["reason"], strict=True)) == [
        (100.0, "subtraction_residual"),
        (108.0, "subtraction_residual"),
        (150.0, "subtraction_residual"),
    ]
    assert result.counts["subtraction_residual"] == 3
    # The dipole at (30, 220) is a large change of its template source: kept.
    np.testing.assert_array_equal(result.sources["x"], [200.0, 60.0, 30.0])
    switched_off = DiaFilterTask(DiaFilterConfig(do_residuals=False)).run(sources, _difference())
    assert len(switched_off.rejected) == 0
    # Without forced template fluxes the test is not made.
    assert len(DiaFilterTask().run(sources[["x", "y", "snr", "isNegative"]], _difference()).rejected) == 0


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="unknown mask plane"):
        DiaFilterConfig(center_planes=("SATURATED",))
    with pytest.raises(ValueError, match="edge_margin"):
        DiaFilterConfig(edge_margin=-1.0)


def test_dia_task_reports_what_it_filtered() -> None:
    pair = make_pair(np.random.default_rng(94), n_injected=10, injected_snr=20.0)
    science, template, sources = prepare(pair)
    # A saturated star's worth of SAT pixels where an injected source sits.
    x0, y0 = (int(np.rint(v)) for v in (pair.injected["x"][0], pair.injected["y"][0]))
    science.mask[y0 - 2 : y0 + 3, x0 - 2 : x0 + 3] |= int(MaskPlane.SAT)
    subtraction = SubtractTask().run(science, template, sources)
    kept = DiaTask().run(subtraction.difference, science=science)
    everything = DiaTask(dataclasses.replace(DiaConfig(), do_filter=False)).run(
        subtraction.difference, science=science
    )
    assert set(kept.rejections) == set(REJECTION_REASONS)
    assert sum(kept.rejections.values()) == len(kept.rejected) == len(everything.sources) - len(kept.sources)
    assert kept.rejections["masked_center"] + kept.rejections["bright_star"] >= 1
    assert set(kept.rejected.colnames) == {*everything.sources.colnames, "reason"}
    assert len(everything.rejected) == 0
    assert everything.rejections == dict.fromkeys(REJECTION_REASONS, 0)
    near = np.hypot(kept.sources["x"] - x0, kept.sources["y"] - y0) < 5
    assert not near.any()
