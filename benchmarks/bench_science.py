"""Time the science steps on a synthetic detector: background to DIA.

Builds a simulated visit (``--size`` pixels square, 0.2 arcsec pixels,
Moffat stars, sky 1000 e-, science seeing 0.9", template 0.7" at twice the
depth in two overlapping rotated patches, injected point sources, cosmic
rays at ``--cosmic-ray-rate`` over a 30 s exposure, a reference catalog from
the truth and a predicted WCS 3" and 0.03 deg off),
then runs each step and prints its wall time and the peak of memory it
allocated (tracemalloc, a second pass).  Scene generation is not timed.

Usage::

    python benchmarks/bench_science.py            # 4096 x 4096
    python benchmarks/bench_science.py --size 1024 --stars 250 --injected 20
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
from scipy import fft as sfft

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "tasks"))

from science_scenes import make_refcat, make_scene, render_moffat

from promptproc.image import Exposure, ImagePsf, PhotoCalib, VisitInfo, moffat_kernel
from promptproc.instrument import make_tan_wcs
from promptproc.simulation._artifacts import add_cosmic_rays
from promptproc.tasks.astrometry import AstrometryTask
from promptproc.tasks.background import estimate_background
from promptproc.tasks.calibrate import CalibrateTask
from promptproc.tasks.cosmic_rays import CosmicRayTask
from promptproc.tasks.detection import DetectionTask
from promptproc.tasks.dia import DiaTask
from promptproc.tasks.measurement import MeasurementTask
from promptproc.tasks.photometry import PhotometryTask
from promptproc.tasks.psf import PsfEstimateTask
from promptproc.tasks.subtract import SubtractTask
from promptproc.tasks.warp import TemplateWarpTask

RA0, DEC0, SCALE = 150.0, 2.0, 0.2


def build_visit(size: int, n_stars: int, n_injected: int, seed: int, cosmic_ray_rate: float = 0.0):
    """Raw-like science exposure (sky included), template patches, refcat, truth."""
    rng = np.random.default_rng(seed)
    centre = (size - 1) / 2.0
    true_wcs = make_tan_wcs(RA0, DEC0, (centre, centre), SCALE, 0.0)
    xs = rng.uniform(5, size - 6, n_stars)
    ys = rng.uniform(5, size - 6, n_stars)
    fluxes = np.exp(rng.uniform(np.log(2e3), np.log(5e5), n_stars))
    sci_fwhm, tmpl_fwhm, sky = 4.5, 3.5, 1000.0
    neff = 1.0 / np.sum(moffat_kernel(sci_fwhm, 3.5) ** 2)
    snr = np.exp(rng.uniform(np.log(5.0), np.log(50.0), n_injected))
    inj_flux = snr * np.sqrt((sky + 25.0) * neff)
    ix = rng.uniform(30, size - 31, n_injected)
    iy = rng.uniform(30, size - 31, n_injected)
    scene = make_scene(
        rng,
        (size, size),
        fwhm=sci_fwhm,
        sky=sky,
        wcs=true_wcs,
        positions=(np.r_[xs, ix], np.r_[ys, iy]),
        fluxes=np.r_[fluxes, inj_flux],
        psf_model=False,
    )
    calib = PhotoCalib.from_zero_point(28.0)
    truth = scene.truth[:n_stars]
    refcat = make_refcat(truth, calib.njy_per_count)
    raw = scene.exposure
    if cosmic_ray_rate > 0:
        before = raw.image.copy()
        add_cosmic_rays(raw.image, np.random.default_rng([seed, 1]), cosmic_ray_rate, 30.0)
        raw.variance += np.maximum(raw.image - before, 0.0)  # their shot noise, as ISR would see it
        del before
    cos_dec = np.cos(np.radians(DEC0))
    raw.wcs = make_tan_wcs(RA0 + 3.0 / 3600.0 / cos_dec, DEC0 - 2.0 / 3600.0, (centre, centre), SCALE, 0.03)
    del scene
    # Template: one rotated tract-like image, cut into two overlapping patches, nJy.
    t_size = int(size * 1.15)
    t_centre = (t_size - 1) / 2.0
    tmpl_wcs = make_tan_wcs(RA0 + 5.0 / 3600.0, DEC0 - 4.0 / 3600.0, (t_centre, t_centre), SCALE, 2.0)
    ra, dec = true_wcs.all_pix2world(xs, ys, 0)
    tx, ty = tmpl_wcs.all_world2pix(ra, dec, 0)
    t_var = (sky + 25.0) / 2.0
    t_image = render_moffat((t_size, t_size), tx, ty, fluxes, tmpl_fwhm)
    t_image += rng.normal(size=(t_size, t_size)) * np.sqrt(t_var)
    whole = Exposure(
        image=(t_image * calib.njy_per_count).astype(np.float32),
        variance=np.full((t_size, t_size), t_var * calib.njy_per_count**2, dtype=np.float32),
        wcs=tmpl_wcs,
        psf=ImagePsf(moffat_kernel(tmpl_fwhm, 3.5), tmpl_fwhm),
        photo_calib=PhotoCalib(1.0),
        visit_info=VisitInfo(observation_type="coadd"),
    )
    del t_image
    half = t_size // 2
    border = 100
    patches = [
        whole.cutout(0, 0, half + border, t_size),
        whole.cutout(half - border, 0, t_size - half + border, t_size),
    ]
    return raw, patches, refcat, (ix, iy, inj_flux, snr), calib


def run_chain(raw, patches, refcat, timings: dict[str, float], memory: dict[str, float] | None):
    """Run every step, recording times (s) and, with ``memory``, tracemalloc peaks (MB)."""

    def step(name, function, *args, **kwargs):
        if memory is not None:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
        start = time.perf_counter()
        result = function(*args, **kwargs)
        timings[name] = time.perf_counter() - start
        if memory is not None:
            memory[name] = (tracemalloc.get_traced_memory()[1] - base) / 2**20
        return result

    # The calibration steps one by one, as CalibrateTask runs them.
    cal = CalibrateTask()
    config = cal.config
    psf0 = ImagePsf.gaussian(config.initial_fwhm_arcsec / SCALE)
    bg1 = step("background (pass 1)", estimate_background, raw.image, raw.mask, config.background)
    work = Exposure(image=raw.image - bg1.model, mask=raw.mask, variance=raw.variance, wcs=raw.wcs, psf=psf0)
    detection = step("detection", DetectionTask(config.detection).run, work, psf0)
    bg2 = step("background (pass 2)", estimate_background, raw.image, detection.mask, config.background)
    work.image = raw.image - bg2.model
    work.mask = detection.mask
    measure = MeasurementTask(config.measurement)
    first = step("measurement (guess PSF)", measure.run, work, detection.peaks, psf0)
    psf = step("PSF estimate", PsfEstimateTask(config.psf).run, work, first)
    work.variance = raw.variance.copy()  # repaired in place, as CalibrateTask does
    step("cosmic rays", CosmicRayTask(config.cosmic_rays).run, work, psf.psf, in_place=True)
    sources = step("measurement (final PSF)", measure.run, work, detection.peaks, psf.psf)
    astrometry = step(
        "astrometry", AstrometryTask(config.astrometry).run, sources, refcat, raw.wcs, raw.shape, "r"
    )
    step("photometry", PhotometryTask(config.photometry).run, sources, refcat, astrometry.matches, "r")
    calibrated = step("calibrate (whole task)", cal.run, raw, refcat, "r")
    science = calibrated.exposure
    warped = step("template warp", TemplateWarpTask().run, patches, science.wcs, science.shape)
    subtraction = step("subtract", SubtractTask().run, science, warped.exposure, calibrated.sources)
    dia = step(
        "DIA detect + measure", DiaTask().run, subtraction.difference, science, subtraction.matched_template
    )
    return calibrated, warped, subtraction, dia


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--stars", type=int, default=4000)
    parser.add_argument("--injected", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--cosmic-ray-rate", type=float, default=1.0e-6, help="cosmic-ray hits per pixel per second"
    )
    parser.add_argument("--workers", type=int, default=1, help="scipy.fft threads")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    args = parser.parse_args()

    start = time.perf_counter()
    raw, patches, refcat, injected, _ = build_visit(
        args.size, args.stars, args.injected, args.seed, args.cosmic_ray_rate
    )
    print(
        f"scene: {args.size}x{args.size}, {args.stars} stars, {args.injected} injected; "
        f"built in {time.perf_counter() - start:.1f} s"
    )

    timings: dict[str, float] = {}
    memory: dict[str, float] = {}
    with sfft.set_workers(args.workers):
        calibrated, warped, subtraction, dia = run_chain(raw, patches, refcat, timings, None)
        if not args.no_memory:
            tracemalloc.start()
            run_chain(raw, patches, refcat, {}, memory)
            tracemalloc.stop()

    print(f"\n{'step':<28}{'time [s]':>10}{'peak alloc [MB]':>18}")
    for name, seconds in timings.items():
        mem = f"{memory[name]:.0f}" if name in memory else "-"
        print(f"{name:<28}{seconds:>10.3f}{mem:>18}")
    chain = ("calibrate (whole task)", "template warp", "subtract", "DIA detect + measure")
    total = sum(timings[name] for name in chain)
    print(f"{'chain (calibrate..DIA)':<28}{total:>10.3f}")
    print(f"process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")

    s = calibrated.summary
    n_cosmic_rays = calibrated.cosmic_rays.n_cosmic_rays if calibrated.cosmic_rays is not None else 0
    print(
        f"\ncalibrate: {s.n_sources} sources, {n_cosmic_rays} cosmic rays repaired, "
        f'PSF FWHM {s.psf_fwhm_arcsec:.3f}" ({s.n_psf_stars} stars), '
        f"astrometric RMS {s.astrometric_rms * 1000:.1f} mas ({s.n_astrometric_matches} matches), "
        f"ZP {s.zero_point:.4f} (truth 28.0000, err {s.zero_point_err:.4f})"
    )
    print(
        f"warp: coverage {warped.coverage:.3f}, {warped.n_patches} patches, "
        f"mapping error {warped.max_mapping_error:.1e} px"
    )
    print(
        f"subtract: {subtraction.mode}, kernel {subtraction.kernel.shape[0]}^2 "
        f"sum {subtraction.kernel_sum:.4f}, {subtraction.n_stamps} stamps, "
        f"std/expected {subtraction.residual_std_ratio:.3f}"
    )
    ix, iy, _, snr = injected
    table = dia.sources
    if len(table):
        dist = np.hypot(
            np.asarray(table["x"])[:, None] - ix[None, :], np.asarray(table["y"])[:, None] - iy[None, :]
        )
        found = dist.min(axis=0) <= 2.5
        matched_rows = set(np.argmin(dist, axis=0)[found].tolist())
    else:
        found = np.zeros(ix.size, dtype=bool)
        matched_rows = set()
    n_unmatched = len(table) - len(matched_rows)
    bright = snr >= 10
    print(
        f"DIA: {len(table)} sources ({dia.n_dipoles} dipoles); injected recovered {found.mean():.1%} "
        f"(SNR >= 10: {found[bright].mean():.1%}, SNR 5-7: {found[snr < 7].mean():.1%}); "
        f"{n_unmatched} unmatched; filter dropped {len(dia.rejected)} ({dia.rejections})"
    )


if __name__ == "__main__":
    main()
