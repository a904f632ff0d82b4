"""The instrument signature of one detector in one calibration epoch.

What a raw carries besides the sky, and what master calibrations measure:

* bias: per-amplifier overscan level (ADU, ~1e4-2e4) and a small 2-d
  structure of the imaging area relative to the overscan (ADU): an offset,
  a start-of-row transient at the first columns read, a gradient along the
  rows, a low-order ripple and a fixed column pattern;
* dark current (e-/s): a low mean, amplifier glow near each amplifier's
  corner, hot pixels;
* flat field per filter, normalised to mean 1: vignetting across the focal
  plane, a per-detector quantum-efficiency tilt, ~1% pixel-response
  non-uniformity, dust donuts, dead defects;
* defects: bad columns (dead, or "hot": unstable extra charge), small dead
  clusters and the hottest pixels.

Later epochs keep most of an earlier epoch's signature and change some of
it: the imaging-area bias offset steps by ~6 ADU per epoch (a controller
change), the ramp, gradient and ripple are redrawn, new hot pixels, a new
dust donut and a new hot column appear.

Per-amplifier arrays are in raw orientation: column ``j`` of the imaging
area is the ``j``-th pixel read out of each row (`AmplifierGeometry.flip_x`
mirrors it onto the detector).  Detector arrays are ``[y, x]``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from astropy.table import Table

from ..instrument import DetectorGeometry, Instrument
from ._rng import derive_rng

__all__ = ["DetectorSignature", "to_detector_orientation"]

_VIGNETTING = {"g": 0.12, "r": 0.10, "i": 0.08}
_PRNU = {"g": 0.012, "r": 0.010, "i": 0.008}
_DONUT_DEPTH = {"g": 0.05, "r": 0.035, "i": 0.025}
_HOT_PIXEL_FRACTION = 2e-5
_NEW_HOT_PIXEL_FRACTION = 5e-6
_HOT_DEFECT_RATE = 5.0  # e-/s above which a hot pixel is listed as a defect
_EPOCH_BIAS_STEP = 6.0  # ADU by which the imaging-area bias offset steps per epoch


def to_detector_orientation(detector: DetectorGeometry, per_amp: list[np.ndarray]) -> np.ndarray:
    """Assemble per-amplifier imaging arrays (raw orientation) into a detector array."""
    out = np.empty((detector.height, detector.width), dtype=np.float32)
    for amp, pixels in zip(detector.amplifiers, per_amp, strict=True):
        out[amp.data_box.slices] = pixels[:, ::-1] if amp.flip_x else pixels
    return out


class DetectorSignature:
    """Fixed-pattern properties of one detector during one calibration epoch.

    Parameters
    ----------
    seed : `int`
        Simulation seed.
    instrument : `Instrument`
        The camera.
    detector : `int`
        Detector ID.
    epoch_index : `int`
        Position of the epoch in time (0 for the first).
    epoch_name : `str`
        Name of the epoch, part of the random-stream identity.
    dark_current : `float`
        Mean dark current, e-/s.
    """

    def __init__(
        self,
        seed: int,
        instrument: Instrument,
        detector: int,
        epoch_index: int,
        epoch_name: str,
        dark_current: float,
    ) -> None:
        self.seed = seed
        self.instrument = instrument
        self.detector = instrument.detector(detector)
        self.epoch_index = epoch_index
        self.epoch_name = epoch_name
        self.dark_current = dark_current

    def _rng(self, kind: str, per_epoch: bool) -> np.random.Generator:
        if per_epoch:
            return derive_rng(self.seed, "signature", kind, self.detector.id, self.epoch_name)
        return derive_rng(self.seed, "signature", kind, self.detector.id)

    # --- bias ---------------------------------------------------------------------------

    @functools.cached_property
    def bias_levels(self) -> np.ndarray:
        """Overscan bias level of each amplifier, ADU."""
        base = self._rng("bias-level", False).uniform(10_000.0, 20_000.0, len(self.detector.amplifiers))
        shift = self._rng("bias-level", True).normal(0.0, 20.0, len(base))
        return base + shift

    @functools.cached_property
    def bias_structure(self) -> list[np.ndarray]:
        """Imaging-area bias minus overscan level per amplifier, ADU, raw orientation."""
        fixed, epoch = self._rng("bias-structure", False), self._rng("bias-structure", True)
        out = []
        for amp in self.detector.amplifiers:
            height, width = amp.data_box.height, amp.data_box.width
            cols = np.arange(width, dtype=np.float32)
            rows = np.arange(height, dtype=np.float32)
            offset = fixed.uniform(-2.0, 4.0) + _EPOCH_BIAS_STEP * self.epoch_index + epoch.normal(0.0, 0.5)
            transient = epoch.uniform(5.0, 15.0) * np.exp(-cols / epoch.uniform(2.0, 6.0))
            column_pattern = fixed.normal(0.0, 0.3, width).astype(np.float32)
            gradient = epoch.uniform(-2.0, 2.0) * (rows / max(height - 1, 1) - 0.5)
            ripple = epoch.uniform(0.5, 1.5)
            ky, kx, py, px = epoch.uniform(0.5, 2.0), epoch.uniform(0.5, 2.0), *epoch.uniform(0, 2 * np.pi, 2)
            wave_y = np.sin(np.pi * ky * rows / height + py)
            wave_x = np.cos(np.pi * kx * cols / width + px)
            amp_structure = (offset + transient + column_pattern)[None, :] + gradient[:, None]
            amp_structure += ripple * wave_y[:, None] * wave_x[None, :]
            out.append(amp_structure.astype(np.float32))
        return out

    def bias_electrons(self) -> np.ndarray:
        """The bias structure in electrons (ADU times gain), detector orientation."""
        return to_detector_orientation(
            self.detector,
            [s * amp.gain for s, amp in zip(self.bias_structure, self.detector.amplifiers, strict=True)],
        )

    def read_noise_map(self) -> np.ndarray:
        """Read noise of each pixel's amplifier, electrons, detector orientation."""
        out = np.empty((self.detector.height, self.detector.width), dtype=np.float32)
        for amp in self.detector.amplifiers:
            out[amp.data_box.slices] = amp.read_noise
        return out

    # --- dark ---------------------------------------------------------------------------

    @functools.cached_property
    def hot_pixels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(x, y, rate)`` of the hot pixels, rate in e-/s."""
        det = self.detector
        parts = []
        for per_epoch, fraction in ((False, _HOT_PIXEL_FRACTION), (True, _NEW_HOT_PIXEL_FRACTION)):
            if per_epoch and self.epoch_index == 0:
                continue
            rng = self._rng("hot-pixels", per_epoch)
            count = int(
                rng.poisson(fraction * det.width * det.height * (self.epoch_index if per_epoch else 1))
            )
            xs = rng.integers(0, det.width, count)
            ys = rng.integers(0, det.height, count)
            rate = np.exp(rng.uniform(np.log(0.3), np.log(30.0), count))
            parts.append((xs, ys, rate))
        xs, ys, rate = (np.concatenate(p) for p in zip(*parts, strict=True))
        return xs, ys, rate

    def dark_rate(self) -> np.ndarray:
        """Dark current of each pixel, e-/s, detector orientation."""
        det = self.detector
        out = np.full((det.height, det.width), self.dark_current, dtype=np.float32)
        glow = self._rng("amp-glow", False).uniform(0.1, 0.4, len(det.amplifiers))
        scale = 40.0
        reach = int(min(8 * scale, det.width // 4, det.height // 2))
        for amp, level in zip(det.amplifiers, glow, strict=True):
            box = amp.data_box
            # The amplifier sits at the first-read column, on the serial register (outer edge).
            corner_x = box.x1 - 1 if amp.flip_x else box.x0
            corner_y = box.y0 if box.y0 == 0 else box.y1 - 1
            xs = np.arange(box.x0, box.x1)
            ys = np.arange(box.y0, box.y1)
            xs = xs[np.abs(xs - corner_x) < reach]
            ys = ys[np.abs(ys - corner_y) < reach]
            dist = np.hypot(xs[None, :] - corner_x, ys[:, None] - corner_y)
            out[ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1] += (level * np.exp(-dist / scale)).astype(np.float32)
        xs, ys, rate = self.hot_pixels
        np.add.at(out, (ys, xs), rate.astype(np.float32))
        return out

    # --- defects ------------------------------------------------------------------------

    @functools.cached_property
    def _defect_rows(self) -> list[tuple[int, int, int, int, str, float]]:
        det = self.detector
        rows: list[tuple[int, int, int, int, str, float]] = []

        def columns(rng: np.random.Generator, count: int, kinds: list[str]) -> None:
            for kind in kinds[:count]:
                width = 1 + int(rng.random() < 0.25)
                x0 = int(rng.integers(4, det.width - 4 - width))
                y0 = int(rng.integers(0, det.height // 2)) if rng.random() < 0.7 else 0
                level = float(rng.uniform(0.02, 0.3) if kind == "dead_column" else rng.uniform(5.0, 50.0))
                rows.append((x0, y0, width, det.height - y0, kind, level))

        fixed = self._rng("defects", False)
        n_columns = 2 + det.width // 2048
        columns(fixed, n_columns, [str(k) for k in fixed.choice(["dead_column", "hot_column"], n_columns)])
        for _ in range(1 + det.width // 2048):
            size = int(fixed.integers(2, 6))
            x0, y0 = int(fixed.integers(0, det.width - size)), int(fixed.integers(0, det.height - size))
            rows.append((x0, y0, size, size, "dead_cluster", float(fixed.uniform(0.05, 0.5))))
        for step in range(1, self.epoch_index + 1):
            columns(derive_rng(self.seed, "signature", "defects", det.id, "step", step), 1, ["hot_column"])
        xs, ys, rate = self.hot_pixels
        for x, y, r in zip(xs, ys, rate, strict=True):
            if r > _HOT_DEFECT_RATE:
                rows.append((int(x), int(y), 1, 1, "hot_pixel", float(r)))
        return rows

    def defects(self) -> Table:
        """Defects as boxes: ``x0, y0, width, height`` (pixels, 0-based, half-open) and ``kind``."""
        rows = self._defect_rows
        table = Table(
            rows=[r[:5] for r in rows] or None,
            names=("x0", "y0", "width", "height", "kind"),
            dtype=(np.int32, np.int32, np.int32, np.int32, "U16"),
        )
        table.meta["DETECTOR"] = self.detector.name
        table.meta["DETNUM"] = self.detector.id
        table.meta["EPOCH"] = self.epoch_name
        return table

    def hot_columns(self) -> list[tuple[slice, slice, float]]:
        """``(rows, columns, rate)`` of the hot columns: unstable extra charge, e-/s."""
        return [
            (slice(y0, y0 + h), slice(x0, x0 + w), level)
            for x0, y0, w, h, kind, level in self._defect_rows
            if kind == "hot_column"
        ]

    # --- flat ---------------------------------------------------------------------------

    @functools.cached_property
    def _prnu_field(self) -> np.ndarray:
        det = self.detector
        return self._rng("prnu", False).standard_normal((det.height, det.width), dtype=np.float32)

    def _donuts(self) -> list[tuple[float, float, float, float]]:
        det = self.detector
        found = []
        sources = [(self._rng("donuts", False), 1 + det.width // 1024)]
        if self.epoch_index:
            sources.append((self._rng("donuts", True), 1))
        for rng, count in sources:
            for _ in range(count):
                radius = float(rng.uniform(8.0, 25.0))
                found.append(
                    (
                        float(rng.uniform(0, det.width)),
                        float(rng.uniform(0, det.height)),
                        radius,
                        float(rng.uniform(0.5, 1.0)),
                    )
                )
        return found

    def flat(self, physical_filter: str) -> np.ndarray:
        """Relative response of each pixel in a filter, mean 1, detector orientation.

        Raises
        ------
        BadInputError
            If the instrument has no such filter.
        """
        band = self.instrument.filter(physical_filter).band
        det = self.detector
        span = max(abs(d.origin[0]) for d in self.instrument.detectors) * math.sqrt(2.0)
        fx = (det.origin[0] + 0.5 + np.arange(det.width, dtype=np.float32)) / np.float32(span)
        fy = (det.origin[1] + 0.5 + np.arange(det.height, dtype=np.float32)) / np.float32(span)
        vignetting = np.float32(_VIGNETTING.get(band, 0.1))
        flat = 1.0 - vignetting * (fy[:, None] ** 2 + fx[None, :] ** 2)
        tilt = self._rng("qe-tilt", False).uniform(-0.02, 0.02, 2)
        gx = (np.arange(det.width, dtype=np.float32) / det.width - 0.5) * np.float32(tilt[0])
        gy = (np.arange(det.height, dtype=np.float32) / det.height - 0.5) * np.float32(tilt[1])
        flat *= 1.0 + gy[:, None] + gx[None, :]
        flat *= 1.0 + np.float32(_PRNU.get(band, 0.01)) * self._prnu_field
        depth = _DONUT_DEPTH.get(band, 0.03)
        for cx, cy, radius, strength in self._donuts():
            reach = int(radius + 4)
            x0, x1 = max(int(cx) - reach, 0), min(int(cx) + reach + 1, det.width)
            y0, y1 = max(int(cy) - reach, 0), min(int(cy) + reach + 1, det.height)
            if x1 <= x0 or y1 <= y0:
                continue
            dist = np.hypot(np.arange(x0, x1)[None, :] - cx, np.arange(y0, y1)[:, None] - cy)
            ring = np.exp(-0.5 * ((dist - 0.75 * radius) / (0.15 * radius)) ** 2)
            flat[y0:y1, x0:x1] *= (1.0 - depth * strength * ring).astype(np.float32)
        for x0, y0, width, height, kind, level in self._defect_rows:
            if kind in ("dead_column", "dead_cluster"):
                flat[y0 : y0 + height, x0 : x0 + width] *= np.float32(level)
        flat /= flat.mean(dtype=np.float64)
        return flat.astype(np.float32, copy=False)
