"""Instrument signature removal (ISR): a raw in ADU to an exposure in electrons.

Steps, in order, each switchable in `IsrConfig`:

1. per amplifier: a robust row-by-row overscan level (clipped mean of the
   serial overscan of each row) subtracted from the imaging pixels, which
   are multiplied by the gain (electrons) and placed in detector
   orientation; pixels at or above the amplifier's saturation level in the
   raw are flagged ``SAT`` (grown by `IsrConfig.saturated_grow` pixels, which
   covers the partly filled ends of bleed trails);
2. master bias (electrons) subtracted;
3. variance = the bias-subtracted signal (shot noise of sky, sources and
   dark current, floored at 0) + read noise squared, electrons squared;
4. master dark (electrons per second) times the dark time subtracted;
5. division by the master flat (mean 1), the variance by its square; flat
   values below `IsrConfig.flat_min` are flagged ``BAD``;
6. defects flagged ``BAD``; ``BAD`` (and, optionally, ``SAT``) pixels
   replaced by linear interpolation along their row and flagged ``INTRP``.

The result is in electrons with pixel ``(x, y)`` at ``image[y, x]``; it carries
the raw's visit information and header, and the WCS given (or predicted
from the instrument and the commanded pointing).  No Butler is involved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from ..errors import BadInputError, ConfigurationError
from ..image import Exposure, MaskPlane, RawAmplifier, RawImage, VisitInfo
from ..instrument import Instrument, predict_detector_wcs

__all__ = ["IsrConfig", "IsrTask", "assemble_electrons", "interpolate_rows", "overscan_levels", "run_isr"]

_STRUCTURAL = {"SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND", "COMMENT", "HISTORY", ""}


@dataclass(frozen=True)
class IsrConfig:
    """What ISR does.

    Parameters
    ----------
    do_overscan : `bool`
        Subtract the per-row overscan level (otherwise only the gain is applied).
    overscan_statistic : `str`
        ``clipped_mean`` (mean of the values within ``overscan_clip`` robust
        sigmas of the row's median), ``median`` or ``mean``.
    overscan_clip : `float`
        Clipping threshold, in sigmas estimated from the amplifier's overscan
        median absolute deviation.
    overscan_skip : `int`
        Overscan columns next to the imaging area that are ignored (they
        carry charge left behind by serial transfer).
    overscan_smooth_rows : `int`
        Rows in a running mean of the per-row levels (odd; 1 = no smoothing).
    do_saturation : `bool`
        Flag saturated pixels ``SAT``.
    saturated_grow : `int`
        Pixels by which the ``SAT`` mask is grown in every direction.
    do_bias, do_dark, do_flat, do_defects : `bool`
        Apply the master bias, dark, flat and the defect list.
    flat_min : `float`
        Flat values below this are flagged ``BAD`` and not divided by.
    do_interpolate : `bool`
        Interpolate over ``BAD`` pixels along rows, flagging them ``INTRP``.
    interpolate_saturated : `bool`
        Interpolate over ``SAT`` pixels as well.
    """

    do_overscan: bool = True
    overscan_statistic: Literal["clipped_mean", "median", "mean"] = "clipped_mean"
    overscan_clip: float = 3.0
    overscan_skip: int = 2
    overscan_smooth_rows: int = 1
    do_saturation: bool = True
    saturated_grow: int = 1
    do_bias: bool = True
    do_dark: bool = True
    do_flat: bool = True
    flat_min: float = 0.2
    do_defects: bool = True
    do_interpolate: bool = True
    interpolate_saturated: bool = True

    def __post_init__(self) -> None:
        problems = []
        if self.overscan_statistic not in ("clipped_mean", "median", "mean"):
            problems.append(
                f"overscan_statistic {self.overscan_statistic!r} is not clipped_mean, median or mean"
            )
        if self.overscan_clip <= 0:
            problems.append("overscan_clip must be > 0")
        if self.overscan_skip < 0:
            problems.append("overscan_skip must be >= 0")
        if self.overscan_smooth_rows < 1 or self.overscan_smooth_rows % 2 == 0:
            problems.append("overscan_smooth_rows must be a positive odd number")
        if self.saturated_grow < 0:
            problems.append("saturated_grow must be >= 0")
        if not 0 < self.flat_min < 1:
            problems.append("flat_min must be between 0 and 1")
        if problems:
            raise ConfigurationError("invalid ISR configuration: " + "; ".join(problems))


def overscan_levels(amp: RawAmplifier, config: IsrConfig) -> np.ndarray:
    """Robust bias level of each row of an amplifier from its serial overscan, ADU.

    Raises
    ------
    BadInputError
        If too few overscan columns remain after skipping.
    """
    overscan = amp.overscan()
    skip = config.overscan_skip
    # The columns read right after the imaging pixels sit next to the imaging area.
    overscan = overscan[:, : overscan.shape[1] - skip] if amp.flip_x else overscan[:, skip:]
    if overscan.shape[1] < 2:
        raise BadInputError(f"amplifier {amp.name} has too few overscan columns ({amp.overscan_box.width})")
    values = overscan.astype(np.float32)
    if config.overscan_statistic == "mean":
        level = values.mean(axis=1)
    else:
        median = np.median(values, axis=1)
        if config.overscan_statistic == "median":
            level = median
        else:
            residual = values - median[:, None]
            # Integer data with little noise can have a zero MAD: never clip tighter than 1 ADU.
            sigma = max(1.4826 * float(np.median(np.abs(residual))), 1.0)
            keep = np.abs(residual) <= config.overscan_clip * sigma
            level = np.where(keep, values, 0.0).sum(axis=1) / np.maximum(keep.sum(axis=1), 1)
    if config.overscan_smooth_rows > 1:
        width = config.overscan_smooth_rows
        padded = np.pad(level, width // 2, mode="edge")
        level = np.convolve(padded, np.full(width, 1.0 / width), mode="valid")
    return level.astype(np.float32)


def assemble_electrons(raw: RawImage, config: IsrConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Overscan-correct, gain-correct and assemble a raw.

    Returns
    -------
    image : `numpy.ndarray`
        Detector image, electrons (bias structure still in).
    saturated : `numpy.ndarray`
        Pixels at or above their amplifier's saturation in the raw.
    read_variance : `numpy.ndarray`
        Read noise squared of each pixel's amplifier, electrons squared.
    """
    height, width = raw.detector_shape
    image = np.empty((height, width), dtype=np.float32)
    saturated = np.zeros((height, width), dtype=bool)
    read_variance = np.empty((height, width), dtype=np.float32)
    for amp in raw.amplifiers:
        pixels = amp.imaging()
        box = amp.detector_box.slices
        target = image[box]
        np.subtract(pixels, overscan_levels(amp, config)[:, None] if config.do_overscan else 0.0, out=target)
        target *= np.float32(amp.gain)
        if config.do_saturation:
            saturated[box] = pixels >= amp.saturation
        read_variance[box] = amp.read_noise**2
    return image, saturated, read_variance


def _grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    grown = mask.copy()
    for step in range(1, pixels + 1):
        grown[step:, :] |= mask[:-step, :]
        grown[:-step, :] |= mask[step:, :]
    wide = grown.copy()
    for step in range(1, pixels + 1):
        wide[:, step:] |= grown[:, :-step]
        wide[:, :-step] |= grown[:, step:]
    return wide


def interpolate_rows(bad: np.ndarray, *arrays: np.ndarray) -> np.ndarray:
    """Replace bad pixels by linear interpolation between the nearest good pixels of their row, in place.

    Each horizontal run of bad pixels is bridged linearly between the good
    pixels just left and right of it; a run touching the image edge takes
    the value of its one good neighbour.  Only the bad pixels are touched, so
    the cost grows with their number, not with the image size.

    Parameters
    ----------
    bad : `numpy.ndarray`
        Boolean ``(height, width)`` array of the pixels to replace.
    *arrays : `numpy.ndarray`
        Arrays of the same shape to interpolate (e.g. image and variance).

    Returns
    -------
    unfilled : `numpy.ndarray`
        Bad pixels whose whole row is bad (left unchanged).
    """
    unfilled = np.zeros(bad.shape, dtype=bool)
    ys, xs = np.nonzero(bad)  # row-major order
    if not len(ys):
        return unfilled
    width = bad.shape[1]
    starts_run = np.ones(len(ys), dtype=bool)
    starts_run[1:] = (ys[1:] != ys[:-1]) | (xs[1:] != xs[:-1] + 1)
    run = np.cumsum(starts_run) - 1
    first = np.flatnonzero(starts_run)
    last = np.append(first[1:], len(ys)) - 1
    row = ys[first]
    left, right = xs[first] - 1, xs[last] + 1
    has_left, has_right = left >= 0, right < width
    left_index, right_index = np.clip(left, 0, width - 1), np.clip(right, 0, width - 1)
    weight = (xs - left[run]) / (right[run] - left[run])
    for values in arrays:
        left_value = values[row, left_index].astype(np.float64)
        right_value = values[row, right_index].astype(np.float64)
        left_value = np.where(has_left, left_value, right_value)
        right_value = np.where(has_right, right_value, left_value)
        values[ys, xs] = left_value[run] + (right_value[run] - left_value[run]) * weight
    empty = ~(has_left | has_right)
    if empty.any():
        unfilled[ys[empty[run]], xs[empty[run]]] = True
    return unfilled


def _check_calib(name: str, calib: Exposure | None, shape: tuple[int, int]) -> Exposure:
    if calib is None:
        raise BadInputError(f"ISR needs a master {name} (or do_{name}=False)")
    if calib.shape != shape:
        raise BadInputError(f"master {name} is {calib.shape}, the raw's detector is {shape}")
    return calib


def _metadata(raw: RawImage) -> fits.Header:
    header = fits.Header()
    visit_keys = {key for _, key, _, _ in VisitInfo._CARDS}
    for card in raw.header.cards:
        if card.keyword not in _STRUCTURAL and card.keyword not in visit_keys:
            header[card.keyword] = (card.value, card.comment)
    return header


def run_isr(
    raw: RawImage,
    bias: Exposure | None,
    dark: Exposure | None,
    flat: Exposure | None,
    defects: Table | None,
    config: IsrConfig | None = None,
    *,
    wcs: WCS | None = None,
    instrument: Instrument | None = None,
) -> Exposure:
    """Remove the instrument signature from a raw (see the module notes).

    Parameters
    ----------
    raw : `RawImage`
        The raw, ADU.
    bias : `Exposure` or `None`
        Master bias, electrons, detector geometry (unused if ``do_bias`` is off).
    dark : `Exposure` or `None`
        Master dark, electrons per second.
    flat : `Exposure` or `None`
        Master flat of the raw's filter, mean 1.
    defects : `astropy.table.Table` or `None`
        Boxes ``x0, y0, width, height`` (detector pixels, 0-based) of known defects.
    config : `IsrConfig`, optional
        What to do; the defaults do everything.
    wcs : `astropy.wcs.WCS`, optional
        WCS to attach.
    instrument : `Instrument`, optional
        Used to predict the WCS from the header's commanded pointing when
        ``wcs`` is not given.

    Returns
    -------
    exposure : `Exposure`
        Image and variance in electrons (squared), mask of ``SAT``, ``BAD``,
        ``INTRP`` (and ``NO_DATA`` for rows with nothing to interpolate from).

    Raises
    ------
    BadInputError
        If a master calibration is missing or does not match the raw (shape,
        filter), the defect table lacks box columns, or the raw's header
        lacks what is needed.
    """
    config = config if config is not None else IsrConfig()
    shape = raw.detector_shape
    image, saturated, read_variance = assemble_electrons(raw, config)
    mask = np.zeros(shape, dtype=np.int32)
    metadata = _metadata(raw)
    if config.do_saturation and saturated.any():
        if config.saturated_grow:
            saturated = _grow(saturated, config.saturated_grow)
        mask[saturated] |= int(MaskPlane.SAT)
    if config.do_bias:
        image -= _check_calib("bias", bias, shape).image
    variance = np.maximum(image, 0.0)
    variance += read_variance
    if config.do_dark:
        dark_time = float(raw.header.get("DARKTIME", raw.header.get("EXPTIME", float("nan"))))
        if not np.isfinite(dark_time):
            raise BadInputError("the raw header has neither DARKTIME nor EXPTIME")
        image -= _check_calib("dark", dark, shape).image * np.float32(dark_time)
    if config.do_flat:
        flat = _check_calib("flat", flat, shape)
        flat_filter = flat.visit_info.physical_filter
        if flat_filter and flat_filter != raw.physical_filter:
            raise BadInputError(
                f"master flat is for filter {flat_filter!r}, the raw for {raw.physical_filter!r}"
            )
        response = flat.image
        unusable = ~(response >= config.flat_min)  # also catches NaN
        response = np.where(unusable, np.float32(1.0), response)
        image /= response
        variance /= response * response
        mask[unusable] |= int(MaskPlane.BAD)
    if config.do_defects and defects is not None:
        missing = [c for c in ("x0", "y0", "width", "height") if c not in defects.colnames]
        if missing:
            raise BadInputError(f"defect table lacks column(s) {', '.join(missing)}")
        for x0, y0, w, h in zip(
            defects["x0"], defects["y0"], defects["width"], defects["height"], strict=True
        ):
            x0, y0, w, h = int(x0), int(y0), int(w), int(h)
            mask[max(y0, 0) : max(y0 + h, 0), max(x0, 0) : max(x0 + w, 0)] |= int(MaskPlane.BAD)
    if config.do_interpolate:
        planes = int(MaskPlane.BAD) | (int(MaskPlane.SAT) if config.interpolate_saturated else 0)
        bad = (mask & planes) != 0
        if bad.any():
            unfilled = interpolate_rows(bad, image, variance)
            mask[bad] |= int(MaskPlane.INTRP)
            mask[unfilled] |= int(MaskPlane.NO_DATA)
    metadata["ISROSCAN"] = (config.do_overscan, "overscan subtracted")
    for key, done, calib in (
        ("ISRBIAS", config.do_bias, bias),
        ("ISRDARK", config.do_dark, dark),
        ("ISRFLAT", config.do_flat, flat),
    ):
        metadata[key] = (done, f"master {key[3:].lower()} applied")
        if done and calib is not None and "CALIBEPO" in calib.metadata:
            metadata[key[3:7] + "EPO"] = (calib.metadata["CALIBEPO"], "epoch of the master applied")
    metadata["ISRNSAT"] = (int(np.count_nonzero(mask & int(MaskPlane.SAT))), "pixels flagged SAT")
    metadata["ISRNBAD"] = (int(np.count_nonzero(mask & int(MaskPlane.BAD))), "pixels flagged BAD")
    if wcs is None and instrument is not None:
        try:
            wcs = predict_detector_wcs(
                instrument,
                raw.detector,
                float(raw.header["RA"]),
                float(raw.header["DEC"]),
                float(raw.header["ROTPA"]),
            )
        except (KeyError, ValueError, TypeError) as err:
            raise BadInputError(f"cannot predict the WCS from the raw header: {err}") from err
    return Exposure(
        image=image,
        mask=mask,
        variance=variance,
        wcs=wcs,
        visit_info=VisitInfo.from_header(raw.header),
        metadata=metadata,
    )


class IsrTask:
    """ISR as a reusable object holding its configuration.

    Parameters
    ----------
    config : `IsrConfig`, optional
        What to do.
    """

    def __init__(self, config: IsrConfig | None = None) -> None:
        self.config = config if config is not None else IsrConfig()

    def run(
        self,
        raw: RawImage,
        *,
        bias: Exposure | None = None,
        dark: Exposure | None = None,
        flat: Exposure | None = None,
        defects: Table | None = None,
        wcs: WCS | None = None,
        instrument: Instrument | None = None,
    ) -> Exposure:
        """Run `run_isr` with this task's configuration."""
        return run_isr(raw, bias, dark, flat, defects, self.config, wcs=wcs, instrument=instrument)
