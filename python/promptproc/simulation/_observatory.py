"""`SimulatedObservatory`: every simulated product, made on demand.

Nothing is drawn until asked for, and every product has its own random
stream (`derive_rng`), so any raw, master calibration or template can be
made alone, in any order, in any process, and is always the same for the
same configuration.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from astropy.table import Table
from astropy.wcs import WCS

from ..errors import BadInputError
from ..image import Exposure, RawImage, write_raw_fits
from ..instrument import FilterInfo, Instrument, make_simcam, predict_detector_wcs, wcs_corners
from ..skymap import PatchInfo, SkyMap
from ._calibs import make_master_bias, make_master_dark, make_master_flat
from ._config import SimulationConfig
from ._electrons import STAMP_MARGIN, simulate_charge
from ._readout import raw_header, read_out
from ._refcat import make_reference_catalog
from ._rng import derive_rng
from ._scene import project_sky
from ._signature import DetectorSignature
from ._site import iso_tai
from ._skymodel import SkyModel, make_sky_model, sky_region
from ._spherical import SkyRegion
from ._template import render_template
from ._truth import truth_table
from ._visits import CalibrationEpoch, SimVisit, VisitTruth, plan_epochs, plan_visits

__all__ = ["SimulatedObservatory", "sidecar_dict"]

_T = TypeVar("_T")


class _Cache:
    """A small least-recently-used cache of expensive intermediate products."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable, make: Callable[[], _T]) -> _T:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = make()
        self._items[key] = value
        while len(self._items) > self._size:
            self._items.popitem(last=False)
        return value


def sidecar_dict(raw: RawImage) -> dict[str, Any]:
    """The JSON sidecar of a raw: every primary-header card with a plain value."""
    out: dict[str, Any] = {}
    for card in raw.header.cards:
        if card.keyword and isinstance(card.value, str | int | float | bool):
            value = card.value
            out[card.keyword] = value.item() if isinstance(value, np.generic) else value
    return out


class SimulatedObservatory:
    """A deterministic simulated observatory: sky, camera, night plan and products.

    Parameters
    ----------
    config : `SimulationConfig`, optional
        What to simulate; defaults throughout.

    Raises
    ------
    ConfigurationError
        If the configuration cannot be observed (e.g. the field is too low).
    """

    def __init__(self, config: SimulationConfig | None = None) -> None:
        self.config = config if config is not None else SimulationConfig()
        self.instrument: Instrument = make_simcam(self.config.detector_size)
        self.skymap = SkyMap(self.config.skymap)
        plan = plan_visits(self.config, self.instrument)
        self.visits: list[SimVisit] = [visit for visit, _ in plan]
        self._truths: dict[int, tuple[SimVisit, VisitTruth]] = {v.exposure_id: (v, t) for v, t in plan}
        self.calibration_epochs: list[CalibrationEpoch] = plan_epochs(self.visits, self.config.n_epochs)
        self.region: SkyRegion = sky_region(self.config, self.instrument)
        self._sky: SkyModel | None = None
        self._signatures = _Cache(4)
        self._flats = _Cache(2)
        self._patches: list[PatchInfo] | None = None

    # --- look-ups -------------------------------------------------------------------------

    @property
    def sky_model(self) -> SkyModel:
        """Every source of the simulated sky (drawn on first use)."""
        if self._sky is None:
            times = (self.visits[0].mjd_begin, self.visits[-1].mjd_end)
            self._sky = make_sky_model(self.config, self.region, times)
        return self._sky

    def visit(self, index: int) -> SimVisit:
        """The visit at a position of the plan (0-based).

        Raises
        ------
        BadInputError
            If there is no such visit.
        """
        if not 0 <= index < len(self.visits):
            raise BadInputError(f"visit index {index} is outside 0..{len(self.visits) - 1}")
        return self.visits[index]

    def _planned(self, visit: SimVisit) -> tuple[SimVisit, VisitTruth]:
        found = self._truths.get(visit.exposure_id)
        if found is None or found[0] != visit:
            raise BadInputError(f"visit {visit.obs_id} is not one this observatory planned")
        return found

    def visit_truth(self, visit: SimVisit) -> VisitTruth:
        """True pointing and conditions of a visit."""
        return self._planned(visit)[1]

    def _detector(self, detector: int | str) -> int:
        return self.instrument.detector(detector).id

    def _filter(self, physical_filter: str) -> FilterInfo:
        return self.instrument.filter(physical_filter)

    def _band_filter(self, band: str) -> FilterInfo:
        for info in self.instrument.filters:
            if info.band == band:
                return info
        known = ", ".join(sorted({f.band for f in self.instrument.filters}))
        raise BadInputError(f"{self.instrument.name} has no band {band!r} (known: {known})")

    def epoch_for(self, mjd: float) -> CalibrationEpoch:
        """The calibration epoch holding a TAI MJD.

        Raises
        ------
        BadInputError
            If no epoch covers the time.
        """
        for epoch in self.calibration_epochs:
            if epoch.contains(mjd):
                return epoch
        raise BadInputError(f"no calibration epoch covers MJD {mjd}")

    def _epoch(self, epoch: CalibrationEpoch) -> tuple[int, CalibrationEpoch]:
        for index, known in enumerate(self.calibration_epochs):
            if known.name == epoch.name:
                return index, known
        names = ", ".join(e.name for e in self.calibration_epochs)
        raise BadInputError(f"unknown calibration epoch {epoch.name!r} (known: {names})")

    def signature(self, detector: int | str, epoch: CalibrationEpoch) -> DetectorSignature:
        """The instrument signature of a detector in an epoch."""
        det = self._detector(detector)
        index, known = self._epoch(epoch)
        return self._signatures.get(
            (det, known.name),
            lambda: DetectorSignature(
                self.config.seed, self.instrument, det, index, known.name, self.config.dark_current
            ),
        )

    def _validity(self, epoch: CalibrationEpoch) -> tuple[str, str]:
        return iso_tai(epoch.begin.tai.mjd), iso_tai(epoch.end.tai.mjd)

    def true_wcs(self, visit: SimVisit, detector: int | str) -> WCS:
        """The WCS a detector really had during a visit (pointing error included)."""
        truth = self.visit_truth(visit)
        return predict_detector_wcs(
            self.instrument, self._detector(detector), truth.ra, truth.dec, truth.rotation
        )

    def predicted_wcs(self, visit: SimVisit, detector: int | str) -> WCS:
        """The WCS predicted from the commanded pointing."""
        self._planned(visit)
        return predict_detector_wcs(
            self.instrument, self._detector(detector), visit.ra, visit.dec, visit.rotation
        )

    # --- calibrations ---------------------------------------------------------------------

    def master_bias(self, detector: int | str, epoch: CalibrationEpoch) -> Exposure:
        """Master bias of a detector and epoch, electrons (after overscan and gain)."""
        sig = self.signature(detector, epoch)
        rng = derive_rng(self.config.seed, "master", "bias", sig.detector.id, sig.epoch_name)
        return make_master_bias(sig, self.config.n_calib_frames, rng, self._validity(epoch))

    def master_dark(self, detector: int | str, epoch: CalibrationEpoch) -> Exposure:
        """Master dark of a detector and epoch, electrons per second."""
        sig = self.signature(detector, epoch)
        rng = derive_rng(self.config.seed, "master", "dark", sig.detector.id, sig.epoch_name)
        return make_master_dark(sig, self.config.n_calib_frames, rng, self._validity(epoch))

    def master_flat(self, detector: int | str, physical_filter: str, epoch: CalibrationEpoch) -> Exposure:
        """Master flat of a detector, filter and epoch, mean 1.

        Raises
        ------
        BadInputError
            If the instrument has no such detector or filter, or the epoch is unknown.
        """
        info = self._filter(physical_filter)
        sig = self.signature(detector, epoch)
        rng = derive_rng(self.config.seed, "master", "flat", sig.detector.id, info.name, sig.epoch_name)
        return make_master_flat(sig, info.name, self.config.n_calib_frames, rng, self._validity(epoch))

    def defects(self, detector: int | str, epoch: CalibrationEpoch) -> Table:
        """Defects of a detector in an epoch: boxes ``x0, y0, width, height`` and ``kind``."""
        table = self.signature(detector, epoch).defects()
        begin, end = self._validity(epoch)
        table.meta["VALIDBEG"], table.meta["VALIDEND"] = begin, end
        return table

    def _true_flat(self, detector: int, physical_filter: str, epoch: CalibrationEpoch) -> np.ndarray:
        sig = self.signature(detector, epoch)
        return self._flats.get((detector, physical_filter, sig.epoch_name), lambda: sig.flat(physical_filter))

    # --- sky products ---------------------------------------------------------------------

    def reference_catalog(self) -> Table:
        """The synthetic reference catalog (stars to ``refcat_depth``, with catalog errors)."""
        rng = derive_rng(self.config.seed, "refcat")
        return make_reference_catalog(self.sky_model.stars, self.config.refcat_depth, rng)

    def template_patches(self) -> list[PatchInfo]:
        """Sky-map patches overlapping any visit's detector footprints, grown by half the sky padding.

        Sorted by ``(tract, patch)``.
        """
        if self._patches is None:
            pad = 0.5 * self.config.sky_padding / self.instrument.pixel_scale
            found: dict[tuple[int, int], PatchInfo] = {}
            for visit in self.visits:
                for det in self.instrument.detectors:
                    wcs = predict_detector_wcs(self.instrument, det.id, visit.ra, visit.dec, visit.rotation)
                    corners = wcs_corners(wcs, det.width, det.height, pad)
                    for patch in self.skymap.patches_overlapping(corners):
                        found.setdefault((patch.tract, patch.id), patch)
            self._patches = [found[key] for key in sorted(found)]
        return list(self._patches)

    def template(self, patch: PatchInfo, band: str) -> Exposure:
        """The template of a patch in a band: nJy image, nJy^2 variance, PSF, NO_DATA outside the sky.

        Raises
        ------
        BadInputError
            If the instrument has no such band.
        """
        info = self._band_filter(band)
        rng = derive_rng(self.config.seed, "template", patch.tract, patch.id, info.band)
        return render_template(
            self.sky_model,
            patch,
            info,
            self.config.template_seeing,
            self.config.template_depth,
            self.config.exposure_time,
            self.config.psf_beta,
            rng,
            self.skymap.name,
        )

    # --- raws -----------------------------------------------------------------------------

    def raw(self, visit: SimVisit, detector: int | str) -> RawImage:
        """The raw a detector records during a visit.

        Raises
        ------
        BadInputError
            If the visit was not planned here or the detector is unknown.
        """
        visit, truth = self._planned(visit)
        det = self.instrument.detector(detector)
        epoch = self.epoch_for(visit.mjd_begin)
        sig = self.signature(det.id, epoch)
        sources = project_sky(
            self.sky_model,
            self.true_wcs(visit, det.id),
            det.width,
            det.height,
            visit.band,
            visit.mjd_mid,
            margin=STAMP_MARGIN,
        )
        seed = self.config.seed
        charge = simulate_charge(
            visit,
            truth,
            sig,
            sources,
            self._true_flat(det.id, visit.physical_filter, epoch),
            self.config.psf_beta,
            self.config.full_well,
            self.config.cosmic_ray_rate,
            derive_rng(seed, "charge", visit.exposure_id, det.id),
            derive_rng(seed, "cosmic-rays", visit.exposure_id, det.id),
        )
        amplifiers = read_out(charge.electrons, sig, derive_rng(seed, "readout", visit.exposure_id, det.id))
        return RawImage(header=raw_header(self.instrument, visit, det.id, seed), amplifiers=amplifiers)

    def truth(self, visit: SimVisit, detector: int | str) -> Table:
        """Truth table of the sources on a detector during a visit (see `truth_table`)."""
        visit, truth = self._planned(visit)
        det = self.instrument.detector(detector)
        sources = project_sky(
            self.sky_model, self.true_wcs(visit, det.id), det.width, det.height, visit.band, visit.mjd_mid
        )
        table = truth_table(sources, visit, truth, det, self.config.psf_beta, self.config.dark_current)
        table.meta["EPOCH"] = self.epoch_for(visit.mjd_begin).name
        return table

    def raw_paths(
        self, visit: SimVisit, detector: int | str, root: str | os.PathLike[str]
    ) -> tuple[Path, Path]:
        """Where `write_raw` puts a raw and its sidecar below ``root`` (DESIGN section 3.2 keys)."""
        key = self.instrument.raw_key(visit.day_obs, visit.seq_num, detector)
        return Path(root) / key.key, Path(root) / key.sidecar_key

    def write_raw(
        self, visit: SimVisit, detector: int | str, root: str | os.PathLike[str]
    ) -> tuple[Path, Path]:
        """Simulate a raw and write it and its JSON sidecar below ``root``.

        Returns
        -------
        paths : `tuple` [`pathlib.Path`, `pathlib.Path`]
            The FITS file and the sidecar.
        """
        raw = self.raw(visit, detector)
        fits_path, sidecar_path = self.raw_paths(visit, detector, root)
        fits_path.parent.mkdir(parents=True, exist_ok=True)
        write_raw_fits(raw, fits_path)
        sidecar_path.write_text(json.dumps(sidecar_dict(raw), indent=1) + "\n")
        return fits_path, sidecar_path

    def write_products(self, root: str | os.PathLike[str], **options: Any) -> Any:
        """Write every product below ``root``; see `promptproc.simulation.write_products`."""
        from ._products import write_products

        return write_products(self, Path(root), **options)
